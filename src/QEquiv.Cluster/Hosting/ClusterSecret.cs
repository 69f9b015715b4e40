using System.Buffers;
using System.IO.Pipelines;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Connections;

namespace QEquiv.Cluster.Hosting;

/// <summary>
/// The cluster's shared secret and the check every connection passes before Orleans sees a byte of it: silo to silo
/// (both directions), client to gateway. Both ends send a magic and a fresh 32-byte random nonce, then
/// HMAC-SHA256(secret, role ‖ own nonce ‖ peer's nonce) with a role per direction (so a proof cannot be reflected back),
/// and each checks the other's proof. A peer without the secret learns nothing that lets it answer another challenge;
/// a peer with a wrong secret is refused at once, and the refused side knows why.
/// <para>
/// Authentication only: after the check, traffic is Orleans' plain protocol (docs/distributed.md: threat model).
/// </para>
/// </summary>
public sealed class ClusterSecret
{
    /// <summary>The environment variable that holds the secret when no --secret-file is given.</summary>
    public const string EnvironmentVariable = "QEQUIV_CLUSTER_SECRET";

    /// <summary>Shorter secrets are refused: a guessable secret would be a false sense of security.</summary>
    public const int MinLength = 16;

    private static readonly byte[] Magic = "QEQ1"u8.ToArray();
    private const int NonceLength = 32;
    private const int ProofLength = 32;
    private static readonly TimeSpan HandshakeTimeout = TimeSpan.FromSeconds(10);

    private readonly byte[] _key;
    private readonly TaskCompletionSource<string> _refused = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public ClusterSecret(string secret)
    {
        var trimmed = secret.Trim();
        if (trimmed.Length < MinLength)
            throw new BadInputException($"the cluster secret must be at least {MinLength} characters (e.g. `openssl rand -hex 32 > FILE`)");
        _key = System.Text.Encoding.UTF8.GetBytes(trimmed);
    }

    /// <summary>The secret from <paramref name="file"/>, else from <see cref="EnvironmentVariable"/>, else none.</summary>
    public static ClusterSecret? From(string? file)
    {
        if (file is not null)
        {
            try { return new ClusterSecret(File.ReadAllText(file)); }
            catch (IOException e) { throw new BadInputException($"--secret-file: cannot read '{file}' ({e.Message})"); }
            catch (UnauthorizedAccessException e) { throw new BadInputException($"--secret-file: cannot read '{file}' ({e.Message})"); }
        }
        return Environment.GetEnvironmentVariable(EnvironmentVariable) is { Length: > 0 } env ? new ClusterSecret(env) : null;
    }

    /// <summary>Where refusals are reported (a line per refused connection); none by default.</summary>
    public Action<string>? Log { get; set; }

    /// <summary>Completes with a message when a peer this process connected to refused its secret (or proved another).</summary>
    public Task<string> Refused => _refused.Task;

    /// <summary>Connection middleware: <paramref name="outbound"/> for connections this process opens.</summary>
    public Func<ConnectionDelegate, ConnectionDelegate> Middleware(bool outbound) => next => async context =>
    {
        bool ok;
        // Refused: the peer answered, with another magic or a wrong proof. A connection lost or timed out during the
        // check is only dropped (Orleans retries it), not reported as a refusal.
        var answered = true;
        try
        {
            using var timeout = new CancellationTokenSource(HandshakeTimeout);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, context.ConnectionClosed);
            ok = await Handshake(context.Transport, outbound, linked.Token);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or InvalidDataException or ConnectionResetException)
        {
            ok = false;
            answered = false;
        }
        if (ok)
        {
            await next(context);
            return;
        }
        var peer = context.RemoteEndPoint?.ToString() ?? "?";
        if (outbound && !answered) throw new ConnectionAbortedException($"the connection to {peer} was lost during the cluster secret check");
        if (outbound)
        {
            var message = $"the cluster at {peer} refused this process's secret (or has none): check --secret-file / {EnvironmentVariable} on both sides";
            _refused.TrySetResult(message);
            throw new ConnectionAbortedException(message);
        }
        Log?.Invoke($"refused a connection from {peer}: no or wrong cluster secret");
        context.Abort(new ConnectionAbortedException("cluster secret check failed"));
    };

    private async Task<bool> Handshake(IDuplexPipe transport, bool outbound, CancellationToken cancellation)
    {
        var mine = RandomNumberGenerator.GetBytes(NonceLength);
        await transport.Output.WriteAsync(Magic.Concat(mine).ToArray(), cancellation);
        var hello = await ReadExactly(transport.Input, Magic.Length + NonceLength, cancellation);
        if (!hello.AsSpan(0, Magic.Length).SequenceEqual(Magic)) return false;
        var theirs = hello[Magic.Length..];
        await transport.Output.WriteAsync(Proof(outbound ? "connect" : "accept", mine, theirs), cancellation);
        var proof = await ReadExactly(transport.Input, ProofLength, cancellation);
        return CryptographicOperations.FixedTimeEquals(proof, Proof(outbound ? "accept" : "connect", theirs, mine));
    }

    private byte[] Proof(string role, byte[] first, byte[] second) =>
        HMACSHA256.HashData(_key, System.Text.Encoding.ASCII.GetBytes($"qequiv-cluster/{role}/").Concat(first).Concat(second).ToArray());

    private static async Task<byte[]> ReadExactly(PipeReader input, int count, CancellationToken cancellation)
    {
        while (true)
        {
            var read = await input.ReadAsync(cancellation);
            var buffer = read.Buffer;
            if (buffer.Length >= count)
            {
                var bytes = buffer.Slice(0, count).ToArray();
                input.AdvanceTo(buffer.GetPosition(count));
                return bytes;
            }
            if (read.IsCompleted || read.IsCanceled)
            {
                input.AdvanceTo(buffer.End);
                throw new InvalidDataException("the peer closed the connection during the secret check");
            }
            input.AdvanceTo(buffer.Start, buffer.End);
        }
    }
}
