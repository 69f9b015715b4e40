using System.Diagnostics;
using QEquiv.Verification;
using Xunit;
using Xunit.Abstractions;
namespace QEquiv.Tests;
public sealed class TimeProbe(ITestOutputHelper output)
{
    [Trait("Speed", "Probe")]
    [Fact]
    public void MaxErrorGaps()
    {
        foreach (var net in new[] { 0, 1, 2, 3, 5 })
            for (var boxIndex = 0; boxIndex < 2; boxIndex++)
            {
                var pair = VerificationTests.CrossCheckNetwork(net);
                var box = TestNetworks.RandomBox(new Random(net * 10 + boxIndex), pair.Float.InputSize, maxRadius: 0.08, lo: 0.1, hi: 0.9);
                foreach (var gap in new[] { 1e-6, 1e-2 })
                {
                    var sw = Stopwatch.StartNew();
                    var b = MaxError.Analyse(LayeredGraphs.G(pair.Float), LayeredGraphs.G(pair.Quantized), box, new MaxErrorOptions(gap, TimeSpan.FromSeconds(60)));
                    output.WriteLine($"net {net} box {boxIndex} gap {gap}: [{b.Lower:G5}, {b.Upper:G5}] {sw.Elapsed.TotalSeconds:F1} s");
                }
            }
    }
}
