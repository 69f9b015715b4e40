using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Hosting;
using QEquiv.Cli.Commands;
using QEquiv.Cluster.Hosting;
using QEquiv.Verification;

namespace QEquiv.Tests;

/// <summary>
/// A real cluster on localhost for the integration tests: a coordinator process and worker processes started from the
/// built qequiv, exactly as a user starts them, and a client in the test process. Processes are killed on dispose.
/// </summary>
public sealed class LocalCluster : IDisposable
{
    private static readonly string Qequiv = Path.Combine(AppContext.BaseDirectory, "qequiv.dll");
    private readonly List<Process> _workers = [];
    private Process? _coordinator;
    private IHost? _client;

    public LocalCluster() : this(null)
    {
    }

    /// <param name="redis">host:port of a Redis server for membership; null: the coordinator is the primary silo.</param>
    internal LocalCluster(string? redis, int workers = 2)
    {
        Redis = redis;
        Port = FreePortPair();
        Start(workers);
    }

    public int Port { get; }
    public string? Redis { get; }
    public IReadOnlyList<Process> Workers => _workers;
    public Process Coordinator => _coordinator!;
    public string Address => $"127.0.0.1:{Port}";
    private string JoinArgs => Redis is { } r ? $"--membership redis://{r}" : $"--join {Address}";

    /// <summary>The job runner of a client connected to this cluster (one client for the fixture's lifetime).</summary>
    public IJobRunner Runner { get; private set; } = null!;

    /// <summary>Starts coordinator, workers and client; after a <see cref="KillAll"/> this is a restart on the same port.</summary>
    public void Start(int workers = 2)
    {
        _coordinator = Launch($"coordinator --port {Port} --host 127.0.0.1{(Redis is { } r ? $" --membership redis://{r}" : "")}", "coordinator at");
        for (var k = 0; k < workers; k++) AddWorker();
        var (host, runner) = ClusterCommands.Connect(Redis is { } redis ? Membership.FromRedis($"redis://{redis}") : Membership.FromCoordinator(Address, "--cluster"));
        _client = host;
        Runner = runner;
    }

    public Process AddWorker(int threads = 1)
    {
        var p = Launch($"worker {JoinArgs} --workers {threads} --host 127.0.0.1", "joined");
        _workers.Add(p);
        return p;
    }

    /// <summary>SIGKILL: no clean-up, no goodbye to the cluster, as when a node dies.</summary>
    public static void Kill(Process p)
    {
        try { if (!p.HasExited) p.Kill(entireProcessTree: true); }
        catch (InvalidOperationException) { }
        p.WaitForExit(10_000);
    }

    public void KillAll()
    {
        _client?.Dispose();
        _client = null;
        foreach (var w in _workers) Kill(w);
        _workers.Clear();
        if (_coordinator is { } c) Kill(c);
        _coordinator = null;
    }

    public void Dispose() => KillAll();

    /// <summary>Output lines a process printed so far (stdout and stderr), for assertion messages.</summary>
    public static string Output(Process p) => p.StartInfo.Environment.TryGetValue("QEQUIV_TEST_ID", out var id) && Logs.TryGetValue(id!, out var log)
        ? string.Join('\n', log) : "";

    private static readonly Dictionary<string, List<string>> Logs = [];

    /// <summary>Starts `qequiv ARGS` and waits for a line containing <paramref name="ready"/>.</summary>
    public static Process Launch(string args, string ready, string? workingDirectory = null, IReadOnlyDictionary<string, string>? environment = null)
    {
        var id = Guid.NewGuid().ToString("N");
        var info = new ProcessStartInfo("dotnet", $"\"{Qequiv}\" {args}")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? TestData.RepoRoot,
        };
        info.Environment["QEQUIV_TEST_ID"] = id;
        foreach (var (k, v) in environment ?? new Dictionary<string, string>()) info.Environment[k] = v;
        var log = new List<string>();
        lock (Logs) Logs[id] = log;
        var seen = new ManualResetEventSlim();
        void OnLine(object _, DataReceivedEventArgs e)
        {
            if (e.Data is null) return;
            lock (log) log.Add(e.Data);
            if (e.Data.Contains(ready)) seen.Set();
        }
        var p = new Process { StartInfo = info };
        p.OutputDataReceived += OnLine;
        p.ErrorDataReceived += OnLine;
        p.Start();
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        if (ready.Length > 0 && !seen.Wait(TimeSpan.FromSeconds(90)))
        {
            Kill(p);
            string text;
            lock (log) text = string.Join('\n', log);
            throw new InvalidOperationException($"`qequiv {args}` did not print '{ready}' within 90 s; it printed:\n{text}");
        }
        return p;
    }

    /// <summary>Two consecutive free ports (silo, gateway), found by binding.</summary>
    internal static int FreePortPair()
    {
        for (var attempt = 0; attempt < 50; attempt++)
        {
            using var a = new TcpListener(IPAddress.Loopback, 0);
            a.Start();
            var port = ((IPEndPoint)a.LocalEndpoint).Port;
            if (port >= 65534) continue;
            try
            {
                using var b = new TcpListener(IPAddress.Loopback, port + 1);
                b.Start();
                return port;
            }
            catch (SocketException)
            {
            }
        }
        throw new InvalidOperationException("no two consecutive free ports on localhost");
    }
}
