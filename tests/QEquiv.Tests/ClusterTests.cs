using System.Diagnostics;
using System.Text.Json;
using QEquiv.Equivalence;
using QEquiv.Falsification;
using QEquiv.Networks;
using QEquiv.Onnx;
using QEquiv.Regions;
using QEquiv.Scheduling;
using QEquiv.Verification;
using DataType = QEquiv.Onnx.Proto.TensorProto.Types.DataType;

namespace QEquiv.Tests;

/// <summary>
/// The distributed mode end to end on localhost: a coordinator process, two single-worker processes and a client in
/// the test. Verdicts must equal local mode's; a killed worker, a witness and a killed-and-resumed job are handled.
/// </summary>
[Trait("Speed", "Slow")]
[Collection(ClusterCollection.Name)]
public class ClusterTests(LocalCluster cluster)
{
    private static readonly string FloatPath = TestData.Bench("mnistfc/mnist-net_256x2.onnx");
    private static readonly string QuantPath = TestData.Bench("pytorch/mnist-net_256x2.qnnpack-qdq.onnx");
    private static readonly FloatNetwork N = OnnxImporter.LoadFloat(FloatPath);
    private static readonly QuantizedNetwork Q = OnnxImporter.LoadQuantized(QuantPath);

    /// <summary>A verifiable ball whose 8 output-code pieces need MILPs: five short ones and one of a few seconds.</summary>
    private static Box SlowBox() =>
        Region.BallAroundFile(Path.Combine(TestData.RepoRoot, "bench/centers/row1.csv"), 0.0015, (0, 1));

    private static VerifyOptions SlowOptions(IJobRunner? runner) => new(0.04, Strategy.OutputInput, Timeout: TimeSpan.FromSeconds(120))
    {
        OutputPieces = 8,
        Runner = runner,
        Workers = 2,
    };

    [Fact]
    public void ClusterAndLocalModeReachTheSameVerdictsOnTheCrossCheckSuite()
    {
        // The cross-check networks that the QDQ form can hold (no Requantize stage, no float output bias), written to
        // ONNX files because workers get the models as bytes; both modes verify the re-imported files.
        var dir = Directory.CreateTempSubdirectory("qequiv-cluster-").FullName;
        var engineRuns = 0;
        try
        {
            foreach (var net in new[] { 0, 1, 3, 5 })
            {
                var pair = VerificationTests.CrossCheckNetwork(net);
                var floatFile = Path.Combine(dir, $"net{net}.onnx");
                var quantFile = Path.Combine(dir, $"net{net}-q.onnx");
                File.WriteAllBytes(floatFile, FloatOnnx(pair.Float));
                File.WriteAllBytes(quantFile, QdqExporter.ToBytes(pair.Quantized));
                var n = OnnxImporter.LoadFloat(floatFile);
                var q = OnnxImporter.LoadQuantized(quantFile);
                for (var boxIndex = 0; boxIndex < 2; boxIndex++)
                {
                    var box = TestNetworks.RandomBox(new Random(net * 10 + boxIndex), n.InputSize, maxRadius: 0.08, lo: 0.1, hi: 0.9);
                    // A 1 % gap is enough: δ sits 40 % below the witnessed maximum or 20 % above the certified one.
                    var bounds = MaxError.Analyse(G(n), G(q), box, new MaxErrorOptions(1e-2, TimeSpan.FromSeconds(60)));
                    foreach (var (delta, expected) in new[] { (bounds.Lower * 0.6, Verdict.Falsified), (bounds.Upper * 1.2 + 1e-3, Verdict.Verified) })
                    {
                        // Falsifier, LP and branch and bound off and two code pieces per pair, so that the engine, not the front
                        // end, decides.
                        var options = new VerifyOptions(delta, Strategy.OutputInput, Timeout: TimeSpan.FromSeconds(60))
                        {
                            FalsifierCap = TimeSpan.Zero,
                            LpBudget = TimeSpan.Zero,
                            BranchBudget = TimeSpan.Zero,
                            OutputPieces = 2,
                            Workers = 2,
                        };
                        var local = Verifier.Verify(G(n), G(q), box, options);
                        var remote = Verifier.Verify(G(n), G(q), box, options with { Runner = cluster.Runner });
                        var what = $"net {net}, box {boxIndex}, δ {delta:G4}";
                        Assert.True(local.Verdict == expected, $"{what}: local {local.Verdict}, expected {expected}");
                        Assert.True(remote.Verdict == expected, $"{what}: cluster {remote.Verdict}, expected {expected}; notes: {string.Join("; ", remote.Notes)}");
                        if (remote.Witness is { } w) Assert.NotNull(WitnessChecker.Check(G(n), G(q), w.Input, delta));
                        if (remote.Engine is { Attempts.Count: > 0 }) engineRuns++;
                    }
                }
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
        Assert.True(engineRuns >= 8, $"only {engineRuns} of 16 runs reached the cluster's workers");
    }

    [Fact]
    public void AWorkerKilledMidRunLeavesTheVerdictUnchanged()
    {
        var box = SlowBox();
        var local = Verifier.Verify(G(N), G(Q), box, SlowOptions(null));
        Process? victim = null;
        var remote = Verifier.Verify(G(N), G(Q), box, SlowOptions(cluster.Runner) with
        {
            // SIGKILL a worker as soon as both hold a sub-problem: its lease must expire and the survivor take the work over.
            Progress = p =>
            {
                if (victim is null && p.Engine is { Running: >= 2 })
                {
                    victim = cluster.Workers[^1];
                    LocalCluster.Kill(victim);
                }
            },
        });
        try
        {
            Assert.NotNull(victim);
            Assert.Equal(Verdict.Verified, local.Verdict);
            Assert.Equal(local.Verdict, remote.Verdict);
            Assert.True(remote.Engine!.Reclaimed >= 1, $"no lease was reclaimed; notes: {string.Join("; ", remote.Notes)}");
            Assert.Contains(remote.Notes, n => n.Contains("went back to the queue"));
        }
        finally
        {
            cluster.AddWorker(); // the next test gets two workers again
        }
    }

    [Fact]
    public void AWitnessFoundByOneWorkerStopsEveryWorker()
    {
        // δ = 0.022 on the slow ball (its largest error is 0.0316): with the falsifier off, outputs 2 and 3 each need a
        // MILP of about five seconds to find a witness, so both workers are inside one when the first witness arrives.
        var r = Verifier.Verify(G(N), G(Q), SlowBox(), new VerifyOptions(0.022, Strategy.OutputInput, Timeout: TimeSpan.FromSeconds(120))
        {
            FalsifierCap = TimeSpan.Zero,
            LpBudget = TimeSpan.Zero,
            Runner = cluster.Runner,
        });
        Assert.Equal(Verdict.Falsified, r.Verdict);
        Assert.NotNull(WitnessChecker.Check(G(N), G(Q), r.Witness!.Input, 0.022));
        var run = r.Engine!;
        Assert.True(run.WorkersStopped, "some worker did not hand its lease back after the witness");
        var timeline = string.Join("; ", run.Attempts.Select(a => $"#{a.SubProblemId} w{a.Worker} {a.Start.TotalSeconds:F2}-{a.End.TotalSeconds:F2} {a.Outcome}{(a.Cancelled ? " (stopped)" : "")}"));
        Assert.True(run.Attempts.Select(a => a.Worker).Distinct().Count() == 2, $"only one worker took part: {timeline}");
        // Every worker number has a name saying which process (and thread) it was.
        Assert.All(run.Attempts, a => Assert.StartsWith("qequiv-worker-", run.WorkerNames[a.Worker]));
        Assert.Equal(2, run.Attempts.Select(a => run.WorkerNames[a.Worker].Split('/')[0]).Distinct().Count());
        var found = run.Attempts.Where(a => a.Outcome == SubProblemOutcome.Violated).Min(a => a.End);
        // Workers learn of the stop from their half-second heartbeat, so the bound is the local one plus that period.
        Assert.All(run.Attempts, a => Assert.True(a.End - found < TimeSpan.FromSeconds(1.5),
            $"sub-problem {a.SubProblemId} ended {(a.End - found).TotalMilliseconds:F0} ms after the witness: {timeline}"));
    }

    /// <summary>
    /// --runtime pytorch is part of the network itself (applied at import) and of the job: around input row 105 the file
    /// as written (onnx) is within 0.006 of N while PyTorch's kernels are 0.030 away, so at δ = 0.02 the two runtimes have
    /// opposite verdicts. Cluster workers load the files themselves and must verify PyTorch's arithmetic too (before,
    /// they re-read the file as written), and a job log of one runtime cannot be resumed as the other.
    /// </summary>
    [Fact]
    public void TheRuntimeGivesTheSameVerdictLocallyOnTheClusterAndResumed()
    {
        var (n, onnx) = OnnxImporter.LoadPair(FloatPath, QuantPath, Quantization.Runtime.Onnx);
        var (_, torch) = OnnxImporter.LoadPair(FloatPath, QuantPath, Quantization.Runtime.PyTorch);
        var center = Data.Csv.ReadRows(TestData.Bench("pytorch/inputs.csv"))[19].Select(v => (double)v).ToArray();
        // An MNIST image: its pixels sit on Q's input grid, so ±0.0001 changes no input code and N only a little.
        var box = Region.BallAround(center, 0.0001, (0, 1));
        // Falsifier, LP and branch and bound off: the pytorch pieces go to the engine's workers, which must find the witness.
        var options = new VerifyOptions(0.02, Strategy.OutputInput, Timeout: TimeSpan.FromSeconds(120))
        {
            FalsifierCap = TimeSpan.Zero,
            LpBudget = TimeSpan.Zero,
            BranchBudget = TimeSpan.Zero,
            Workers = 2,
        };
        Assert.Equal(Verdict.Verified, Verifier.Verify(n, onnx, box, options).Verdict);
        Assert.Equal(Verdict.Falsified, Verifier.Verify(n, torch, box, options).Verdict);
        var remote = Verifier.Verify(n, torch, box, options with { Runner = cluster.Runner });
        Assert.True(remote.Verdict == Verdict.Falsified, $"cluster: {remote.Verdict}; notes: {string.Join("; ", remote.Notes)}");
        Assert.True(remote.Engine is { Attempts.Count: > 0 }, "the cluster's workers never ran");
        Assert.True(WitnessChecker.Evaluate(n, torch, remote.Witness!.Input).MaxAbsDifference >= 0.02);
        Assert.Equal(Verdict.Verified, Verifier.Verify(n, onnx, box, options with { Runner = cluster.Runner }).Verdict);

        var log = Path.Combine(Path.GetTempPath(), $"qequiv-runtime-job-{Guid.NewGuid():N}.log");
        try
        {
            Assert.Equal(Verdict.Falsified, Verifier.Verify(n, torch, box, options with { Log = log }).Verdict);
            Assert.True(File.Exists(log), "the pytorch job wrote no log");
            // The pytorch job's log is not the onnx job's: refused in one line, never resumed as if it were.
            var e = Assert.Throws<BadInputException>(() => Verifier.Verify(n, onnx, box, options with { Log = log }));
            Assert.Contains(log, e.Message);
            Assert.Equal(Verdict.Falsified, Verifier.Verify(n, torch, box, options with { Log = log }).Verdict);
        }
        finally
        {
            File.Delete(log);
        }
    }

    [Fact]
    public void AJobKilledAndResumedFromItsLogReachesTheSameVerdictWithoutRedoingFinishedSubProblems()
    {
        var box = SlowBox();
        var log = Path.Combine(Path.GetTempPath(), $"qequiv-cluster-job-{Guid.NewGuid():N}.log");
        try
        {
            // The whole job dies: the verify process, the coordinator and the workers, once two attempts are logged.
            var client = LocalCluster.Launch($"verify --float {FloatPath} --quant {QuantPath} --center bench/centers/row1.csv --eps 0.0015 --clip 0,1 " +
                $"--delta 0.04 --output-pieces 8 --timeout 120 --quiet --cluster {cluster.Address} --resume {log}", "");
            var clock = Stopwatch.StartNew();
            while (EntryLines(log) < 2 && clock.Elapsed < TimeSpan.FromSeconds(90) && !client.HasExited) Thread.Sleep(50);
            Assert.False(client.HasExited, $"the job finished before it could be killed: {LocalCluster.Output(client)}");
            LocalCluster.Kill(client);
            cluster.KillAll();
            var logged = File.ReadAllLines(log).Skip(1).Where(l => l.Length > 0)
                .Select(l => JsonSerializer.Deserialize<LedgerEntry>(l, JobPlan.Json)!.Attempt.ItemId).ToHashSet();
            Assert.True(logged.Count >= 2);

            cluster.Start();
            var resumed = Verifier.Verify(G(N), G(Q), box, SlowOptions(cluster.Runner) with { Log = log });
            Assert.Equal(Verdict.Verified, resumed.Verdict);
            Assert.True(resumed.Engine!.Resumed >= logged.Count, $"resumed {resumed.Engine.Resumed} of {logged.Count} logged attempts");
            Assert.DoesNotContain(resumed.Engine.Attempts.Where(a => !a.Resumed), a => logged.Contains(a.SubProblemId));
            Assert.Contains(resumed.Notes, n => n.Contains("resumed the job"));
            Assert.Equal(Verifier.Verify(G(N), G(Q), box, SlowOptions(null)).Verdict, resumed.Verdict);
        }
        finally
        {
            File.Delete(log);
        }
    }

    [Fact]
    public void ClusterCommandsRefuseBadInputWithOneLineErrors()
    {
        var models = new[] { "--float", FloatPath, "--quant", QuantPath, "--center", Path.Combine(TestData.RepoRoot, "bench/centers/row1.csv"), "--eps", "0.0015", "--clip", "0,1", "--delta", "0.04", "--quiet" };
        string[] Verify(params string[] extra) => ["verify", .. models, .. extra];
        var cases = new (string[] Args, string Message)[]
        {
            (["worker"], "give --join HOST:PORT or --membership"),
            (["worker", "--join", "127.0.0.1:notaport"], "--join: '127.0.0.1:notaport' is not HOST:PORT"),
            (["worker", "--membership", "http://x:1"], "--membership: expected redis://HOST:PORT"),
            (["worker", "--join", $"127.0.0.1:{cluster.Port}", "--workers", "0"], "--workers: must be ≥ 1"),
            (["coordinator", "--port", cluster.Port.ToString()], $"port {cluster.Port} is in use"),
            (Verify("--cluster", cluster.Address, "--strategy", "monolithic"), "the monolithic strategy is one MILP"),
            (Verify("--cluster", cluster.Address, "--workers", "2"), "every worker process sets its own"),
        };
        foreach (var (args, message) in cases)
        {
            var (exit, _, err) = CliRunner.Run(args);
            Assert.True(exit == 2, $"`qequiv {string.Join(' ', args)}` exited {exit}: {err}");
            Assert.Contains(message, err);
            Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => l.StartsWith("error:"));
        }

        // A coordinator nobody runs: the client gives up within seconds, before the front end does any work.
        var clock = Stopwatch.StartNew();
        var (code, _, error) = CliRunner.Run(Verify("--cluster", "127.0.0.1:1"));
        Assert.Equal(2, code);
        Assert.Contains("cannot reach the coordinator at 127.0.0.1:1", error);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"took {clock.Elapsed.TotalSeconds:F0} s");
    }

    private static int EntryLines(string log)
    {
        try
        {
            using var s = new FileStream(log, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            using var r = new StreamReader(s);
            return r.ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries).Length - 1;
        }
        catch (IOException)
        {
            return 0;
        }
    }

    /// <summary>A float network as Gemm (+ Relu) nodes; weights become float32, which is why tests re-import the file.</summary>
    internal static byte[] FloatOnnx(FloatNetwork n)
    {
        var w = new OnnxWriter("qequiv_float", "input", [1, n.InputSize], "output", [1, n.OutputSize]);
        var x = "input";
        for (var k = 0; k < n.Layers.Count; k++)
        {
            var layer = n.Layers[k];
            var last = k == n.Layers.Count - 1;
            var weights = Enumerable.Range(0, layer.OutputSize).SelectMany(o => layer.Row(o).ToArray()).ToArray();
            var relu = layer.Activation == Activation.Relu;
            x = w.Node("Gemm", [x, w.Constant(DataType.Float, [layer.OutputSize, layer.InputSize], weights),
                w.Constant(DataType.Float, [layer.OutputSize], layer.Bias.ToArray())], last && !relu ? "output" : null, OnnxWriter.Int("transB", 1));
            if (relu) x = w.Node("Relu", [x], last ? "output" : null);
        }
        return w.ToBytes("qequiv-tests");
    }
}

/// <summary>One cluster for all cluster tests, which run one after another (they kill and restart its processes).</summary>
[CollectionDefinition(Name)]
public sealed class ClusterCollection : ICollectionFixture<LocalCluster>
{
    public const string Name = "cluster";
}
