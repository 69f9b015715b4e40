using QEquiv.Bounds;
using QEquiv.Encoding;
using QEquiv.Evaluation;
using QEquiv.Networks;

namespace QEquiv.Tests;

public class LpTighteningTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void TightenedBoundsAreSoundAndNeverLooser(int seed)
    {
        var pair = TestNetworks.Random(seed, [4, 8, 8, 6, 3]);
        var rng = new Random(seed);
        var box = TestNetworks.RandomBox(rng, 4, maxRadius: 0.3, lo: 0.1, hi: 0.9);
        var network = pair.Reference;
        var before = IntervalBounds.Of(network, box);
        var (after, stats) = LpTightening.TightenRelus(network, box, before, TimeSpan.FromSeconds(30));
        Assert.False(stats.BudgetExhausted);
        Assert.True(stats.UnstableAfter <= stats.UnstableBefore);
        var tighter = 0;
        for (var k = 0; k < before.Nodes.Count; k++)
            for (var o = 0; o < before.Nodes[k].Output.Length; o++)
            {
                var (b, a) = (before.Nodes[k].Output[o], after.Nodes[k].Output[o]);
                Assert.True(a.Lo >= b.Lo && a.Hi <= b.Hi, $"node {k} value {o}: {a} looser than {b}");
                if (a.Width < b.Width - 1e-9) tighter++;
            }
        Assert.True(tighter > 0 || stats.UnstableBefore == 0, "LP tightening changed nothing on a network with unstable neurons");
        for (var s = 0; s < 5000; s++)
        {
            var trace = network.Trace(TestNetworks.SamplePoint(rng, box).Select(v => (double)v).ToArray());
            for (var k = 0; k < network.Nodes.Count; k++)
                for (var o = 0; o < trace[k + 1].Length; o++)
                    Assert.True(after.Nodes[k].Output[o].Contains(trace[k + 1][o]), $"node {k} value {o}: {trace[k + 1][o]} outside {after.Nodes[k].Output[o]}");
        }
    }

    [Theory]
    [InlineData(4)]
    [InlineData(5)]
    public void LpUpperBoundsOfTheDifferenceContainEverySampledDifference(int seed)
    {
        var pair = TestNetworks.Random(seed, [4, 8, 6, 3]);
        var rng = new Random(seed);
        var box = TestNetworks.RandomBox(rng, 4, maxRadius: 0.2, lo: 0.1, hi: 0.9);
        var diff = DifferentialBounds.Of(pair.Reference, pair.Other, box);
        var pairs = Enumerable.Range(0, 3).SelectMany(j => new[] { (j, 1), (j, -1) }).ToList();
        var upper = LpTightening.DifferenceUpperBounds(pair.Reference, pair.Other, box, diff.Reference, diff.Other, diff, pairs, TimeSpan.FromSeconds(30));
        Assert.All(upper, u => Assert.NotNull(u));
        var seen = new double[pairs.Count];
        Array.Fill(seen, double.NegativeInfinity);
        for (var k = 0; k < 5000; k++)
        {
            var e = Falsification.WitnessChecker.Evaluate(G(pair.Float), G(pair.Quantized), TestNetworks.SamplePoint(rng, box));
            for (var p = 0; p < pairs.Count; p++) seen[p] = Math.Max(seen[p], e.SignedDifference(pairs[p].Item1, pairs[p].Item2));
        }
        for (var p = 0; p < pairs.Count; p++)
        {
            // N's float32 error on top of the bound (the runtime's dequantization is in the bound itself).
            var margin = EquivalenceMilp.MarginFor(diff.Reference, diff.Other, pairs[p].Item1);
            Assert.True(seen[p] <= upper[p]!.Value + margin, $"pair {pairs[p]}: sampled {seen[p]} above the LP bound {upper[p]}");
            // Up to the padding of GLOP's optimum (1e-5, relative plus absolute) and the output noise.
            var hi = diff.For(pairs[p].Item1, pairs[p].Item2).Hi;
            Assert.True(upper[p]!.Value <= hi + 3e-5 * (1 + Math.Abs(hi)), $"the LP with Δ constraints is never looser than the Δ bound: {upper[p]} against {hi}");
        }
    }
}
