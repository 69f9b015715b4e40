using QEquiv.Solvers;
using QEquiv.Equivalence;
using QEquiv.Partitioning;
using System.Diagnostics;
using QEquiv.Verification;
using Xunit;
using Xunit.Abstractions;
namespace QEquiv.Tests;
public sealed class TimeProbe2(ITestOutputHelper output)
{
    [Trait("Speed", "Probe")]
    [Fact]
    public void CrossRuns()
    {
        var runs = new (MilpBackend Backend, Strategy Strategy, int Workers, bool Portfolio, int Pieces)[] {
        (MilpBackend.Scip, Strategy.Monolithic, 1, false, 1),
        (MilpBackend.Scip, Strategy.Output, 1, false, 2),
        (MilpBackend.Highs, Strategy.Output, 2, false, 1),
        (MilpBackend.Cbc, Strategy.OutputInput, 1, false, 1),
        (MilpBackend.Scip, Strategy.OutputInput, 2, false, 3),
        (MilpBackend.Scip, Strategy.Output, 2, true, 2),
        (MilpBackend.Scip, Strategy.OutputInput, 1, true, 1)};
        foreach (var (net, boxIndex) in new[] { (1, 0), (1, 1), (2, 1) })
        {
            var pair = VerificationTests.CrossCheckNetwork(net);
            var (n, q) = (LayeredGraphs.G(pair.Float), LayeredGraphs.G(pair.Quantized));
            var box = TestNetworks.RandomBox(new Random(net * 10 + boxIndex), pair.Float.InputSize, maxRadius: 0.08, lo: 0.1, hi: 0.9);
            var bounds = MaxError.Analyse(n, q, box, new MaxErrorOptions(1e-2, TimeSpan.FromSeconds(60)));
            foreach (var delta in new[] { bounds.Lower * 0.6, bounds.Upper * 1.2 + 1e-3 })
                foreach (var (backend, strategy, workers, portfolio, pieces) in runs)
                {
                    var sw = Stopwatch.StartNew();
                    var r = Verifier.Verify(n, q, box, new VerifyOptions(delta, strategy, backend, TimeSpan.FromSeconds(60)) { FalsifierCap = TimeSpan.Zero, Workers = workers, Portfolio = portfolio, OutputPieces = pieces });
                    output.WriteLine($"net {net} box {boxIndex} δ {delta:G3} {backend}/{strategy}/w{workers}/p{pieces}/{portfolio}: {r.Verdict} {sw.Elapsed.TotalSeconds:F1} s");
                }
        }
    }
}
