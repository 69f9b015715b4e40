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
        var before = BoundPropagation.Float(pair.Float, box);
        var (after, stats) = LpTightening.TightenFloat(pair.Float, box, before, TimeSpan.FromSeconds(30));
        Assert.False(stats.BudgetExhausted);
        Assert.True(stats.UnstableAfter <= stats.UnstableBefore);
        var tighter = 0;
        for (var k = 0; k < before.Layers.Count; k++)
            for (var o = 0; o < before.Layers[k].PreActivation.Length; o++)
            {
                var (b, a) = (before.Layers[k].PreActivation[o], after.Layers[k].PreActivation[o]);
                Assert.True(a.Lo >= b.Lo && a.Hi <= b.Hi, $"layer {k} neuron {o}: {a} looser than {b}");
                if (a.Width < b.Width - 1e-9) tighter++;
            }
        Assert.True(tighter > 0 || stats.UnstableBefore == 0, "LP tightening changed nothing on a network with unstable neurons");
        for (var s = 0; s < 5000; s++)
        {
            var x = TestNetworks.SamplePoint(rng, box).Select(v => (double)v).ToArray();
            for (var k = 0; k < pair.Float.Layers.Count; k++)
            {
                var layer = pair.Float.Layers[k];
                var z = FloatEvaluator.Apply(layer.WithActivation(Activation.None), x);
                for (var o = 0; o < z.Length; o++)
                    Assert.True(after.Layers[k].PreActivation[o].Contains(z[o]), $"layer {k} neuron {o}: {z[o]} outside {after.Layers[k].PreActivation[o]}");
                x = FloatEvaluator.Apply(layer, x);
            }
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
        var diff = DifferentialBounds.Compute(pair.Float, pair.Quantized, box);
        var pairs = Enumerable.Range(0, 3).SelectMany(j => new[] { (j, 1), (j, -1) }).ToList();
        var upper = LpTightening.DifferenceUpperBounds(pair.Float, pair.Quantized, box, diff.Float, diff.Quantized, diff, pairs, TimeSpan.FromSeconds(30));
        Assert.All(upper, u => Assert.NotNull(u));
        var seen = new double[pairs.Count];
        Array.Fill(seen, double.NegativeInfinity);
        for (var k = 0; k < 5000; k++)
        {
            var e = Falsification.WitnessChecker.Evaluate(pair.Float, pair.Quantized, TestNetworks.SamplePoint(rng, box));
            for (var p = 0; p < pairs.Count; p++) seen[p] = Math.Max(seen[p], e.SignedDifference(pairs[p].Item1, pairs[p].Item2));
        }
        for (var p = 0; p < pairs.Count; p++)
        {
            // The runtime's dequantization may add its float32 error on top of the real-valued bound.
            var margin = EquivalenceMilp.MarginFor(pair.Float, diff.Float, pair.Quantized, diff.Quantized, pairs[p].Item1);
            Assert.True(seen[p] <= upper[p]!.Value + margin, $"pair {pairs[p]}: sampled {seen[p]} above the LP bound {upper[p]}");
            Assert.True(upper[p]!.Value <= diff.For(pairs[p].Item1, pairs[p].Item2).Hi + 1e-5, "the LP with Δ constraints is never looser than the Δ bound");
        }
    }
}
