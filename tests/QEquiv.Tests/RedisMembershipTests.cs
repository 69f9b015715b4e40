using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using QEquiv.Networks;
using QEquiv.Onnx;
using QEquiv.Regions;
using QEquiv.Verification;

namespace QEquiv.Tests;

/// <summary>
/// The cloud set-up: no primary silo, membership in a real redis-server that this test starts on a free port
/// (the test project runs scripts/ensure-redis before it builds, which installs redis-server when missing). Coordinator, worker and client find each other through it.
/// </summary>
[Collection(ClusterCollection.Name)] // not beside the other cluster tests: both start processes on two cores
[Trait("Speed", "Slow")]
public class RedisMembershipTests
{
    [Fact]
    public void CoordinatorWorkerAndClientMeetThroughRedisAndReachTheLocalVerdict()
    {
        var server = FindOnPath("redis-server")
            ?? throw new InvalidOperationException("redis-server is not on PATH: scripts/ensure-redis installs it (apt-get install redis-server)");
        var port = FreePort();
        using var redis = Process.Start(new ProcessStartInfo(server, $"--port {port} --bind 127.0.0.1 --save \"\" --appendonly no")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        })!;
        try
        {
            WaitForPong(port);
            using var cluster = new LocalCluster($"127.0.0.1:{port}", workers: 1);
            var n = OnnxImporter.LoadFloat(TestData.Bench("mnistfc/mnist-net_256x2.onnx"));
            var q = OnnxImporter.LoadQuantized(TestData.Bench("pytorch/mnist-net_256x2.qnnpack-qdq.onnx"));
            var box = Region.BallAroundFile(Path.Combine(TestData.RepoRoot, "bench/centers/row1.csv"), 0.0015, (0, 1));
            var options = new VerifyOptions(0.04, Strategy.OutputInput, Timeout: TimeSpan.FromSeconds(120)) { OutputPieces = 4, Workers = 1 };
            var remote = Verifier.Verify(G(n), G(q), box, options with { Runner = cluster.Runner });
            var local = Verifier.Verify(G(n), G(q), box, options);
            Assert.Equal(Verdict.Verified, local.Verdict);
            Assert.Equal(local.Verdict, remote.Verdict);
            Assert.True(remote.Engine!.Attempts.Count > 0, "no sub-problem reached the worker");
            Assert.Contains(remote.Notes, note => note.Contains("workers took part"));

            // The membership table is in Redis (Orleans' key names the cluster id): proof that Redis, not a primary silo, joined them.
            var keys = Command(port, "KEYS", "*");
            Assert.Contains("qequiv", keys);
        }
        finally
        {
            LocalCluster.Kill(redis);
        }
    }

    private static string? FindOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists);

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    private static void WaitForPong(int port)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                if (Command(port, "PING").Contains("PONG")) return;
            }
            catch (SocketException) when (clock.Elapsed < TimeSpan.FromSeconds(20))
            {
            }
            Thread.Sleep(100);
        }
    }

    /// <summary>One command in Redis' wire protocol (RESP); returns the raw reply.</summary>
    private static string Command(int port, params string[] words)
    {
        using var client = new TcpClient();
        client.Connect(IPAddress.Loopback, port);
        var stream = client.GetStream();
        var request = new StringBuilder($"*{words.Length}\r\n");
        foreach (var w in words) request.Append($"${System.Text.Encoding.UTF8.GetByteCount(w)}\r\n{w}\r\n");
        var bytes = System.Text.Encoding.UTF8.GetBytes(request.ToString());
        stream.Write(bytes);
        stream.ReadTimeout = 5000;
        var buffer = new byte[65536];
        var read = stream.Read(buffer);
        return System.Text.Encoding.UTF8.GetString(buffer, 0, read);
    }
}
