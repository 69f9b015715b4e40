using System.Diagnostics;
using Microsoft.Extensions.Hosting;
using QEquiv.Cli.Commands;
using QEquiv.Cluster.Hosting;
using QEquiv.Falsification;
using QEquiv.Onnx;
using QEquiv.Verification;

namespace QEquiv.Tests;

/// <summary>
/// The cluster secret: a coordinator with one (from the environment) takes a worker (from --secret-file) and a client
/// with the same secret, and refuses a worker or client with a wrong one, or none, with a one-line error (exit 2).
/// Without a secret, a coordinator refuses to listen beyond loopback.
/// </summary>
[Collection(ClusterCollection.Name)]
public class ClusterSecretTests
{
    [Trait("Speed", "Slow")]
    [Fact]
    public void OnlyWorkersAndClientsWithTheCoordinatorsSecretJoin()
    {
        var dir = Directory.CreateTempSubdirectory("qequiv-secret-").FullName;
        var good = Path.Combine(dir, "good");
        var bad = Path.Combine(dir, "bad");
        File.WriteAllText(good, "the-right-secret-0123456789abcdef\n");
        File.WriteAllText(bad, "a-wrong-secret-0123456789abcdef\n");
        var port = LocalCluster.FreePortPair();
        var coordinator = LocalCluster.Launch($"coordinator --port {port} --host 127.0.0.1", "coordinator at",
            environment: new Dictionary<string, string> { [ClusterSecret.EnvironmentVariable] = "the-right-secret-0123456789abcdef" });
        var processes = new List<Process> { coordinator };
        try
        {
            // A worker with a wrong secret is refused at once, not after the minute a join may take.
            var intruder = LocalCluster.Launch($"worker --join 127.0.0.1:{port} --workers 1 --host 127.0.0.1 --secret-file {bad}", "");
            processes.Add(intruder);
            Assert.True(intruder.WaitForExit(45_000), "a worker with a wrong secret was not refused within 45 s");
            intruder.WaitForExit();
            var said = LocalCluster.Output(intruder);
            Assert.True(intruder.ExitCode == 2, $"exit {intruder.ExitCode}: {said}");
            Assert.Single(said.Split('\n'), l => l.StartsWith("error:"));
            Assert.Contains("refused this process's secret", said);

            var worker = LocalCluster.Launch($"worker --join 127.0.0.1:{port} --workers 1 --host 127.0.0.1 --secret-file {good}", "joined");
            processes.Add(worker);

            // Clients: a wrong secret and no secret are refused before any work; the right one verifies on the cluster.
            var models = new[] { "--float", TestData.Bench("mnistfc/mnist-net_256x2.onnx"), "--quant", TestData.Bench("pytorch/mnist-net_256x2.qnnpack-qdq.onnx"), "--center", Path.Combine(TestData.RepoRoot, "bench/centers/row1.csv"),
                "--eps", "0.0015", "--clip", "0,1", "--delta", "0.04", "--quiet", "--cluster", $"127.0.0.1:{port}" };
            foreach (var (extra, message) in new[] { (new[] { "--secret-file", bad }, "refused this process's secret"), ([], "give the same with --secret-file") })
            {
                var (exit, _, err) = CliRunner.Run(["verify", .. models, .. extra]);
                Assert.True(exit == 2, $"exit {exit}: {err}");
                Assert.Contains(message, err);
                Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => l.StartsWith("error:"));
            }
            Assert.Contains(LocalCluster.Output(coordinator).Split('\n'), l => l.StartsWith("refused a connection from 127.0.0.1"));

            var m = ClusterCommands.Resolve($"127.0.0.1:{port}", null, "--cluster", good)!;
            var (host, runner) = ClusterCommands.Connect(m);
            using (host)
            {
                var pair = VerificationTests.CrossCheckNetwork(0);
                var floatFile = Path.Combine(dir, "n.onnx");
                var quantFile = Path.Combine(dir, "q.onnx");
                File.WriteAllBytes(floatFile, ClusterTests.FloatOnnx(pair.Float));
                File.WriteAllBytes(quantFile, QdqExporter.ToBytes(pair.Quantized));
                var n = OnnxImporter.LoadFloat(floatFile);
                var q = OnnxImporter.LoadQuantized(quantFile);
                var box = TestNetworks.RandomBox(new Random(3), n.InputSize, maxRadius: 0.08, lo: 0.1, hi: 0.9);
                var bounds = MaxError.Analyse(G(n), G(q), box, new MaxErrorOptions(1e-6, TimeSpan.FromSeconds(60)));
                var onCluster = 0;
                foreach (var (delta, expected) in new[] { (bounds.Lower * 0.6, Verdict.Falsified), (bounds.Upper * 1.2 + 1e-3, Verdict.Verified) })
                {
                    var options = new VerifyOptions(delta, Strategy.OutputInput, Timeout: TimeSpan.FromSeconds(60))
                    {
                        FalsifierCap = TimeSpan.Zero, LpBudget = TimeSpan.Zero, OutputPieces = 2, Workers = 2,
                    };
                    var remote = Verifier.Verify(G(n), G(q), box, options with { Runner = runner });
                    Assert.True(remote.Verdict == expected, $"δ {delta:G4}: {remote.Verdict}, expected {expected}; {string.Join("; ", remote.Notes)}");
                    if (remote.Notes.Any(note => note.Contains("solved on the cluster"))) onCluster++;
                }
                Assert.True(onCluster >= 1, "no run reached the cluster's worker");
            }
        }
        finally
        {
            foreach (var p in processes) LocalCluster.Kill(p);
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void WithoutASecretTheCoordinatorListensOnLoopbackOnly()
    {
        var saved = Environment.GetEnvironmentVariable(ClusterSecret.EnvironmentVariable);
        Environment.SetEnvironmentVariable(ClusterSecret.EnvironmentVariable, null);
        try
        {
            var (exit, _, err) = CliRunner.Run("coordinator", "--port", LocalCluster.FreePortPair().ToString(), "--host", "192.0.2.1");
            Assert.True(exit == 2, $"exit {exit}: {err}");
            Assert.Contains("without a cluster secret the coordinator listens on loopback only", err);
            var (exit2, _, err2) = CliRunner.Run("worker", "--join", "192.0.2.1:11111", "--host", "192.0.2.7");
            Assert.True(exit2 == 2, $"exit {exit2}: {err2}");
            Assert.Contains("without a cluster secret a worker joins a coordinator on this machine only", err2);
            var short_ = Path.GetTempFileName();
            File.WriteAllText(short_, "short");
            var (exit3, _, err3) = CliRunner.Run("worker", "--join", "127.0.0.1:11111", "--secret-file", short_);
            File.Delete(short_);
            Assert.True(exit3 == 2, $"exit {exit3}: {err3}");
            Assert.Contains($"at least {ClusterSecret.MinLength} characters", err3);
        }
        finally
        {
            Environment.SetEnvironmentVariable(ClusterSecret.EnvironmentVariable, saved);
        }
    }
}
