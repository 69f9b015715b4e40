using System.Diagnostics;
using QEquiv.Falsification;
using QEquiv.Networks;
using QEquiv.Onnx;
using QEquiv.Regions;
using QEquiv.Tests.Legacy;
using Xunit.Abstractions;

namespace QEquiv.Tests;

/// <summary>
/// transition: the falsifier on Networks against the layered-view falsifier it replaced (<see cref="LegacyFalsifier"/>),
/// in one run, interleaved, on MNIST 784-256-256-10 against its PyTorch QDQ twin. Throughput is written to the test
/// output, never asserted (the machine is shared); what is asserted is that both searched the same budget and agree on
/// the instance: the δ = 0.04 witness of prop_0 (<see cref="FalsifierBenchmarkTests"/>) is found by both.
/// </summary>
[Trait("Speed", "Slow")]
public class FalsifierThroughputTests(ITestOutputHelper output)
{
    [Fact]
    public void NewFalsifierKeepsTheOldThroughput()
    {
        var floatPath = TestData.Bench("mnistfc/mnist-net_256x2.onnx");
        var quantPath = TestData.Bench("pytorch/mnist-net_256x2.qnnpack-qdq.onnx");
        var n = OnnxImporter.LoadFloat(floatPath);
        var q = OnnxImporter.LoadQuantized(quantPath);
        var graphN = OnnxImporter.Load(floatPath);
        var graphQ = OnnxImporter.Load(quantPath);
        var box = VnnLib.ParseBox(TestData.Bench("mnistfc/prop_0_0.03.vnnlib")).Box;
        // δ out of reach, so both spend the whole budget on the same kind of moves.
        var options = new FalsifierOptions(Seed: 0) { MaxSearchEvaluations = 30_000 };

        // Warm-up (JIT tiers) before anything is measured.
        LegacyFalsifier.Search(n, q, box, 10, options);
        Falsifier.Search(graphN, graphQ, box, 10, options);
        var ratios = new List<double>();
        var cpuRatios = new List<double>();
        for (var round = 0; round < 8; round++)
        {
            var (oldRate, oldCpu, oldResult) = Rate(() => LegacyFalsifier.Search(n, q, box, 10, options));
            var (newRate, newCpu, newResult) = Rate(() => Falsifier.Search(graphN, graphQ, box, 10, options));
            ratios.Add(newRate / oldRate);
            cpuRatios.Add(newCpu / oldCpu);
            output.WriteLine($"round {round}: old {oldRate:F0}/s wall, {oldCpu:F0}/s CPU ({oldResult.Evaluations} evaluations); " +
                $"new {newRate:F0}/s wall, {newCpu:F0}/s CPU ({newResult.Evaluations}); new/old {newRate / oldRate:F3} wall, {newCpu / oldCpu:F3} CPU");
            Assert.Null(newResult.Witness);
            Assert.Equal(oldResult.PerOutput.Count, newResult.PerOutput.Count);
            Assert.InRange(newResult.Evaluations, 0.9 * oldResult.Evaluations, 1.1 * oldResult.Evaluations);
        }
        ratios.Sort();
        cpuRatios.Sort();
        output.WriteLine($"new/old throughput: wall median {ratios[ratios.Count / 2]:F3} (range {ratios[0]:F3}–{ratios[^1]:F3}), " +
            $"CPU median {cpuRatios[cpuRatios.Count / 2]:F3} (range {cpuRatios[0]:F3}–{cpuRatios[^1]:F3})");

        var legacy = LegacyFalsifier.Search(n, q, box, 0.04, new FalsifierOptions(TimeBudget: TimeSpan.FromSeconds(60)));
        var current = Falsifier.Search(graphN, graphQ, box, 0.04, new FalsifierOptions(TimeBudget: TimeSpan.FromSeconds(60)));
        output.WriteLine($"δ = 0.04: old {legacy.Stop} after {legacy.Evaluations}, new {current.Stop} after {current.Evaluations}");
        Assert.NotNull(legacy.Witness);
        Assert.NotNull(current.Witness);
    }

    /// <summary>Evaluations per second of wall time and of this process' CPU time (less sensitive to other processes' load).</summary>
    private static (double Wall, double Cpu, FalsificationResult Result) Rate(Func<FalsificationResult> search)
    {
        var process = Process.GetCurrentProcess();
        var cpu = process.TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        var r = search();
        var wall = clock.Elapsed.TotalSeconds;
        process.Refresh();
        return (r.Evaluations / wall, r.Evaluations / (process.TotalProcessorTime - cpu).TotalSeconds, r);
    }
}
