using QEquiv.Falsification;
using QEquiv.Networks;
using QEquiv.Onnx;
using QEquiv.Quantization;
using QEquiv.Regions;

namespace QEquiv.Tests;

/// <summary>
/// The falsifier's incremental evaluator must agree with a fresh exact evaluation after any sequence of
/// single-coordinate moves: Q bit for bit, N up to double rounding.
/// </summary>
public class FalsifierIncrementalTests
{
    /// <summary>A small random pair with per-channel weights, an int32-wrapping-prone bias, a Requantize stage and ReLUs.</summary>
    private static (FloatNetwork, QuantizedNetwork) RandomPair(int seed)
    {
        var rng = new Random(seed);
        int[] sizes = [12, 9, 7, 3];
        var layers = new List<DenseLayer>();
        for (var l = 0; l + 1 < sizes.Length; l++)
        {
            var w = Enumerable.Range(0, sizes[l] * sizes[l + 1]).Select(_ => rng.NextDouble() * 2 - 1).ToArray();
            var b = Enumerable.Range(0, sizes[l + 1]).Select(_ => rng.NextDouble() - 0.5).ToArray();
            layers.Add(new DenseLayer(sizes[l], sizes[l + 1], w, b, l + 2 < sizes.Length ? Activation.Relu : Activation.None));
        }
        var input = new QuantParams(1f / 200, 3, QuantType.UInt8);
        var stages = new List<QuantizedStage>();
        var q = input;
        for (var l = 0; l + 1 < sizes.Length; l++)
        {
            var o = sizes[l + 1];
            var output = new QuantParams(0.03f + l * 0.011f, l == 2 ? 128 : 40, QuantType.UInt8);
            var w = Enumerable.Range(0, sizes[l] * o).Select(_ => rng.Next(-128, 128)).ToArray();
            var scales = Enumerable.Range(0, o).Select(_ => (float)(0.002 + rng.NextDouble() * 0.01)).ToArray();
            var zw = Enumerable.Range(0, o).Select(_ => rng.Next(-3, 4)).ToArray();
            var bias = Enumerable.Range(0, o).Select(_ => rng.Next(-2000, 2000)).ToArray();
            stages.Add(new QuantizedDense(sizes[l], o, q, w, QuantType.Int8, scales, zw, bias, output, relu: l + 2 < sizes.Length));
            q = output;
            if (l == 0)
            {
                var next = new QuantParams(0.037f, 30, QuantType.UInt8);
                stages.Add(new Requantize(o, q, Enumerable.Range(0, o).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray(), relu: true, next));
                q = next;
            }
        }
        return (new FloatNetwork("n", [sizes[0]], layers), new QuantizedNetwork("q", [sizes[0]], sizes[0], input, stages));
    }

    private static void AssertAgrees(FloatNetwork n, QuantizedNetwork q, IncrementalPair pair)
    {
        var x = pair.CopyInput();
        var e = WitnessChecker.Evaluate(n, q, x);
        Assert.Equal(e.QuantOutput, pair.QuantOutput.ToArray());
        var f = pair.FloatOutput;
        for (var j = 0; j < f.Length; j++)
            Assert.True(Math.Abs(f[j] - e.FloatOutput[j]) <= 1e-9, $"N_{j}: incremental {f[j]:R}, exact {e.FloatOutput[j]:R}");
    }

    /// <summary>
    /// Random moves mixing box-corner values (as the search makes), arbitrary values and no-op moves, checked
    /// at random times (the pair evaluates lazily, so several moves may accumulate between checks).
    /// </summary>
    private static void RandomWalk(FloatNetwork n, QuantizedNetwork q, float[] lo, float[] hi, int moves, int seed, int checkEvery)
    {
        var rng = new Random(seed);
        var x = new float[lo.Length];
        for (var i = 0; i < x.Length; i++) x[i] = lo[i] + (float)rng.NextDouble() * (hi[i] - lo[i]);
        var pair = new IncrementalPair(n, q, x);
        AssertAgrees(n, q, pair);
        for (var k = 0; k < moves; k++)
        {
            var i = rng.Next(x.Length);
            var v = rng.Next(3) switch
            {
                0 => lo[i],
                1 => hi[i],
                _ => lo[i] + (float)rng.NextDouble() * (hi[i] - lo[i]),
            };
            pair.Set(i, v);
            if (rng.Next(checkEvery) == 0) AssertAgrees(n, q, pair);
        }
        AssertAgrees(n, q, pair);
    }

    [Fact]
    public void SmallPairMatchesFreshEvaluationAfterLongRandomWalk()
    {
        for (var seed = 0; seed < 5; seed++)
        {
            var (n, q) = RandomPair(seed);
            RandomWalk(n, q, Enumerable.Repeat(-0.2f, 12).ToArray(), Enumerable.Repeat(1.2f, 12).ToArray(), 20_000, seed, 3);
        }
    }

    [Fact]
    public void MnistPairMatchesFreshEvaluationAfterLongRandomWalk()
    {
        var n = OnnxImporter.LoadFloat(TestData.Bench("mnistfc/mnist-net_256x2.onnx"));
        var q = OnnxImporter.LoadQuantized(TestData.Bench("pytorch/mnist-net_256x2.qnnpack-qdq.onnx"));
        var box = VnnLib.ParseBox(TestData.Bench("mnistfc/prop_0_0.03.vnnlib")).Box;
        var lo = Float32Points.RoundInto(box, box.Lo)!;
        var hi = Float32Points.RoundInto(box, box.Hi)!;
        // More moves than the refresh interval, so the float side's periodic recomputation is exercised.
        RandomWalk(n, q, lo, hi, 3 * IncrementalPair.RefreshInterval + 100, 42, 50);
    }

    [Fact]
    public void ResetMatchesFreshEvaluation()
    {
        var (n, q) = RandomPair(9);
        var rng = new Random(1);
        var pair = new IncrementalPair(n, q, new float[12]);
        for (var k = 0; k < 100; k++)
        {
            pair.Reset(Enumerable.Range(0, 12).Select(_ => (float)(rng.NextDouble() * 1.4 - 0.2)).ToArray());
            AssertAgrees(n, q, pair);
        }
    }
}
