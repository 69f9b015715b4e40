using System.Diagnostics;
using QEquiv.Encoding;
using QEquiv.Regions;
using QEquiv.Solvers;
using Xunit.Abstractions;

namespace QEquiv.Tests;

public class LargeModelTimingTests(ITestOutputHelper output)
{
    /// <summary>
    /// MNIST-sized (784-256-256-10) random model, one max-error sub-problem with a 10 s limit. Opt-in
    /// (QEQUIV_LARGE=1) because it does not solve to optimality in a few seconds; it measures build and solve time.
    /// </summary>
    [Fact]
    public void MnistSizedSubproblemTiming()
    {
        if (Environment.GetEnvironmentVariable("QEQUIV_LARGE") != "1") return;
        var watch = Stopwatch.StartNew();
        var pair = TestNetworks.Random(5, [784, 256, 256, 10]);
        var rng = new Random(5);
        var center = Enumerable.Range(0, 784).Select(_ => rng.NextDouble()).ToArray();
        var box = Box.LInfBall(center, 0.01);
        var built = watch.Elapsed;
        using var milp = EquivalenceMilp.ForOutput(pair.Float, pair.Quantized, box, 0, 1, null);
        var encoded = watch.Elapsed;
        var r = milp.Solve(new MilpOptions(TimeSpan.FromSeconds(10)));
        output.WriteLine($"net {built.TotalSeconds:F1}s, encode {(encoded - built).TotalSeconds:F1}s, solve {r.WallTime.TotalSeconds:F1}s: " +
            $"{r.Status} obj={r.Objective} bound={r.BestBound} nodes={r.Nodes} stats={milp.Statistics} ibp={milp.ObjectiveBounds}");
        Assert.NotEqual(MilpStatus.Error, r.Status);
        if (r.Solution is { } x)
        {
            var re = Candidates.Reexecute(pair.Float, pair.Quantized, x, box);
            output.WriteLine($"re-executed s·d = {re.SignedDifference(0, 1)}");
        }
    }
}
