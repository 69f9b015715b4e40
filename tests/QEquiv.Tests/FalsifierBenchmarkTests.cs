using System.Diagnostics;
using QEquiv.Falsification;
using QEquiv.Onnx;
using QEquiv.Regions;
using Xunit.Abstractions;

namespace QEquiv.Tests;

/// <summary>
/// The falsifier on a real instance: MNIST 784-256-256-10 against its qnnpack QDQ quantization on
/// prop_0 (ε = 0.03), where the largest observed |N − Q| is about 0.0426 on output 8, so δ = 0.04 is
/// falsifiable but only after a long coordinate-wise ascent. Not a strict timing test: the budget is
/// generous and only finding a (re-checked) witness is asserted; the time is written to the test output.
/// </summary>
public class FalsifierBenchmarkTests(ITestOutputHelper output)
{
    [Fact]
    public void FindsTheMnistPropZeroWitnessWithDefaultSettings()
    {
        var n = OnnxImporter.LoadFloat(TestData.Bench("mnistfc/mnist-net_256x2.onnx"));
        var q = OnnxImporter.LoadQuantized(TestData.Bench("pytorch/mnist-net_256x2.qnnpack-qdq.onnx"));
        var box = VnnLib.ParseBox(TestData.Bench("mnistfc/prop_0_0.03.vnnlib")).Box;
        const double delta = 0.04;

        var clock = Stopwatch.StartNew();
        var r = Falsifier.Search(G(n), G(q), box, delta, new FalsifierOptions(TimeBudget: TimeSpan.FromSeconds(20)));
        var seconds = clock.Elapsed.TotalSeconds;
        output.WriteLine($"{r.Stop} after {r.Evaluations} evaluations in {seconds:F2} s ({r.Evaluations / seconds:F0}/s), best |N−Q| {r.BestMaxAbsDifference:R}");

        Assert.Equal(FalsifierStop.WitnessFound, r.Stop);
        var w = Assert.IsType<Witness>(r.Witness);
        Assert.True(box.Contains(w.Input));
        Assert.True(w.MaxAbsDifference >= delta);
        Assert.NotNull(WitnessChecker.Check(G(n), G(q), w.Input, delta));
    }
}
