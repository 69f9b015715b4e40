using QEquiv.Bounds;
using QEquiv.Evaluation;
using QEquiv.Networks;
using QEquiv.Regions;

namespace QEquiv.Tests;

public class BoundsTests
{
    [Trait("Speed", "Slow")]
    [Theory]
    [InlineData(1, false, false, false)]
    [InlineData(2, true, false, true)]
    [InlineData(3, false, true, false)]
    [InlineData(4, true, true, true)]
    public void EveryIntermediateValueOfTheEvaluatorsLiesInItsBounds(int seed, bool requantize, bool signedInput, bool outputBias)
    {
        var pair = TestNetworks.Random(seed, [3, 6, 5, 2], requantize, signedInput, outputBias);
        var rng = new Random(seed * 31);
        var checkedPoints = 0;
        for (var b = 0; b < 20; b++)
        {
            var box = TestNetworks.RandomBox(rng, 3, maxRadius: b % 2 == 0 ? 0.05 : 0.5);
            var fb = BoundPropagation.Float(pair.Float, box);
            var qb = BoundPropagation.Quantized(pair.Quantized, box);
            for (var k = 0; k < 100; k++)
            {
                var x = TestNetworks.SamplePoint(rng, box);
                CheckFloat(pair.Float, fb, x);
                CheckQuantized(pair.Quantized, qb, x);
                checkedPoints++;
            }
        }
        Assert.Equal(2000, checkedPoints);
    }

    [Fact]
    public void DegenerateBoxGivesTightBoundsContainingThePoint()
    {
        var pair = TestNetworks.Random(7, [3, 4, 2]);
        var x = new[] { 0.25, 0.5, 0.75 };
        var box = new Box(x, x);
        var fb = BoundPropagation.Float(pair.Float, box);
        var y = FloatEvaluator.Evaluate(pair.Float, x);
        for (var j = 0; j < y.Length; j++)
        {
            Assert.True(fb.Outputs[j].Contains(y[j]));
            Assert.True(fb.Outputs[j].Width < 1e-6, $"width {fb.Outputs[j].Width}");
        }
    }

    [Fact]
    public void BoxRejectsInvertedBoundsAndComparesByValue()
    {
        Assert.Throws<BadInputException>(() => Box.Create([1.0], [0.0], "test"));
        Assert.Throws<BadInputException>(() => Box.Create([double.NaN], [0.0], "test"));
        Assert.Equal(new Box([0.0, 1], [1.0, 2]), new Box([0.0, 1], [1.0, 2]));
        var box = Box.LInfBall([0.5, 0.5], 0.1);
        Assert.True(box.Contains([0.45, 0.6]));
        Assert.False(box.Contains([0.45, 0.61]));
        Assert.Equal([0.5, 0.5], box.Center());
    }

    private static void CheckFloat(FloatNetwork net, FloatNetworkBounds fb, float[] xf)
    {
        var x = Array.ConvertAll(xf, v => (double)v);
        for (var l = 0; l < net.Layers.Count; l++)
        {
            var layer = net.Layers[l];
            var pre = FloatEvaluator.Apply(layer.WithActivation(Activation.None), x);
            var post = FloatEvaluator.Apply(layer, x);
            for (var j = 0; j < pre.Length; j++)
            {
                Assert.True(fb.Layers[l].PreActivation[j].Contains(pre[j]), $"layer {l} pre {j}: {pre[j]} not in {fb.Layers[l].PreActivation[j]}");
                Assert.True(fb.Layers[l].Output[j].Contains(post[j]), $"layer {l} post {j}");
            }
            x = post;
        }
        var y = FloatEvaluator.Evaluate(net, xf);
        for (var j = 0; j < y.Length; j++) Assert.True(fb.Outputs[j].Contains(y[j]));
    }

    internal static void CheckQuantized(QuantizedNetwork net, QuantizedNetworkBounds qb, float[] x)
    {
        var trace = ExactTrace.Quantized(net, x);
        var reference = QuantizedEvaluator.Trace(net, x);
        for (var s = 0; s < trace.Count; s++)
        {
            var t = trace[s];
            var b = s == 0 ? qb.InputQuantization : qb.Stages[s - 1];
            Assert.Equal(reference[s], t.Codes);
            for (var j = 0; j < t.Codes.Length; j++)
            {
                if (t.Accumulator is { } acc)
                    Assert.True(b.Accumulator![j].Contains(acc[j]), $"stage {s} acc {j}: {acc[j]} not in {b.Accumulator[j]}");
                var e = b.Widening[j];
                Assert.True(t.PreRounding[j] >= b.PreRounding[j].Lo - e && t.PreRounding[j] <= b.PreRounding[j].Hi + e,
                    $"stage {s} pre-rounding {j}: {t.PreRounding[j]} not in {b.PreRounding[j]} ± {e}");
                Assert.True(b.Rounded[j].Contains(t.Rounded[j]), $"stage {s} rounded {j}: {t.Rounded[j]} not in {b.Rounded[j]}");
                Assert.True(b.Codes[j].Contains(t.Codes[j]), $"stage {s} code {j}: {t.Codes[j]} not in {b.Codes[j]}");
            }
        }
        var y = QuantizedEvaluator.Evaluate(net, x);
        for (var j = 0; j < y.Length; j++) Assert.True(qb.Outputs[j].Contains(y[j]), $"output {j}: {y[j]} not in {qb.Outputs[j]}");
    }
}
