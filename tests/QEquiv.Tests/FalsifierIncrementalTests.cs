using QEquiv.Falsification;
using QEquiv.Model;
using QEquiv.Networks;
using QEquiv.Onnx;
using QEquiv.Quantization;
using QEquiv.Quantizer;
using QEquiv.Regions;

namespace QEquiv.Tests;

/// <summary>
/// The falsifier's incremental evaluator must agree with a fresh <see cref="Network.Evaluate(ReadOnlySpan{double})"/>
/// after any sequence of single-coordinate moves: networks without real-arithmetic operators bit for bit, the others up
/// to double rounding. Any two networks: float against quantized, two float ones, two quantized ones.
/// </summary>
public class FalsifierIncrementalTests
{
    /// <summary>A small random pair with per-channel weights, an int32-wrapping-prone bias, a Requantize stage and ReLUs.</summary>
    private static (Network, Network) RandomPair(int seed)
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
                stages.Add(new Networks.Requantize(o, q, Enumerable.Range(0, o).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray(), relu: true, next));
                q = next;
            }
        }
        return (Layering.ToGraph(new FloatNetwork("n", [sizes[0]], layers)),
            Layering.ToGraph(new QuantizedNetwork("q", [sizes[0]], sizes[0], input, stages)));
    }

    private static bool IsExact(Network n) => !n.Operators.Any(op => op is Affine or Elementwise { Arithmetic: Arithmetic.Real });

    private static void AssertAgrees(IncrementalNetwork incremental, ReadOnlySpan<float> x, string what)
    {
        var exact = incremental.Network.Evaluate(x);
        var live = incremental.Output.ToArray();
        if (IsExact(incremental.Network))
        {
            Assert.Equal(exact, live);
            return;
        }
        for (var j = 0; j < exact.Length; j++)
            Assert.True(Math.Abs(live[j] - exact[j]) <= 1e-9 * (1 + Math.Abs(exact[j])), $"{what} output {j}: incremental {live[j]:R}, exact {exact[j]:R}");
    }

    private static void AssertAgrees(IncrementalPair pair)
    {
        var x = pair.CopyInput();
        AssertAgrees(pair.Reference, x, "reference");
        AssertAgrees(pair.Other, x, "other");
        var e = WitnessChecker.Evaluate(pair.Reference.Network, pair.Other.Network, x);
        for (var j = 0; j < e.Differences.Length; j++)
            Assert.True(Math.Abs(pair.Difference(j) - e.Differences[j]) <= 1e-9 * (1 + Math.Abs(e.FloatOutput[j])));
    }

    /// <summary>
    /// Random moves mixing box-corner values (as the search makes), arbitrary values, undone moves (as the search
    /// makes when a move does not help) and no-op moves, checked at random times (the pair evaluates lazily, so several
    /// moves may accumulate between checks).
    /// </summary>
    private static void RandomWalk(Network n, Network q, float[] lo, float[] hi, int moves, int seed, int checkEvery)
    {
        var rng = new Random(seed);
        var x = new float[lo.Length];
        for (var i = 0; i < x.Length; i++) x[i] = lo[i] + (float)rng.NextDouble() * (hi[i] - lo[i]);
        var pair = new IncrementalPair(n, q, x);
        AssertAgrees(pair);
        for (var k = 0; k < moves; k++)
        {
            var i = rng.Next(x.Length);
            var old = pair.Input[i];
            var v = rng.Next(3) switch
            {
                0 => lo[i],
                1 => hi[i],
                _ => lo[i] + (float)rng.NextDouble() * (hi[i] - lo[i]),
            };
            pair.Set(i, v);
            if (rng.Next(checkEvery) == 0) AssertAgrees(pair);
            if (rng.Next(2) == 0)
            {
                _ = pair.Difference(0);
                pair.Set(i, old);
            }
        }
        AssertAgrees(pair);
    }

    private static (float[] Lo, float[] Hi) Float32Bounds(Box box) => (Float32Points.RoundInto(box, box.Lo)!, Float32Points.RoundInto(box, box.Hi)!);

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
    public void MnistFloatAgainstQdqMatchesFreshEvaluationAfterLongRandomWalk()
    {
        // The graphs as imported (Reshape, Affine, Relu; Quantize, IntegerLinear, Requantize, Clamp, Dequantize).
        var n = OnnxImporter.Load(TestData.Bench("mnistfc/mnist-net_256x2.onnx"));
        var q = OnnxImporter.Load(TestData.Bench("pytorch/mnist-net_256x2.qnnpack-qdq.onnx"));
        var (lo, hi) = Float32Bounds(VnnLib.ParseBox(TestData.Bench("mnistfc/prop_0_0.03.vnnlib")).Box);
        // More moves than the refresh interval, so the float side's periodic recomputation is exercised.
        RandomWalk(n, q, lo, hi, 3 * IncrementalPair.RefreshInterval + 100, 42, 50);
    }

    [Fact]
    public void TwoQuantizedMnistNetworksMatchFreshEvaluationBitForBit()
    {
        var q1 = OnnxImporter.Load(TestData.Bench("pytorch/mnist-net_256x2.qnnpack-qdq.onnx"));
        var q2 = OnnxImporter.Load(TestData.Bench("pytorch/mnist-net_256x2.qnnpack-perchannel-qdq.onnx"));
        Assert.True(IsExact(q1) && IsExact(q2));
        var (lo, hi) = Float32Bounds(VnnLib.ParseBox(TestData.Bench("mnistfc/prop_1_0.05.vnnlib")).Box);
        RandomWalk(q1, q2, lo, hi, 3000, 7, 20);
    }

    [Fact]
    public void AcasPairsMatchFreshEvaluationAfterLongRandomWalk()
    {
        var box = VnnLib.ParseBox(TestData.Bench("acasxu/props/prop_1.vnnlib")).Box;
        var (lo, hi) = Float32Bounds(box);
        // Two float networks: ACAS Xu 1_1 and its weight-rounded copy.
        var n = OnnxImporter.Load(TestData.Bench("pairs/ACASXU_run2a_1_1.onnx"));
        var rounded = OnnxImporter.Load(TestData.Bench("pairs/ACASXU_run2a_1_1-rounded.onnx"));
        RandomWalk(n, rounded, lo, hi, 3 * IncrementalPair.RefreshInterval + 100, 3, 10);
        // ACAS Xu against its post-training quantization on points of the box.
        var rng = new Random(5);
        var calibration = Enumerable.Range(0, 200).Select(_ => TestNetworks.SamplePoint(rng, box)).ToList();
        var q = Layering.ToGraph(PostTrainingQuantizer.Quantize(Layering.ToFloat(n), calibration, new QuantizerOptions()).Network);
        RandomWalk(n, q, lo, hi, 20_000, 4, 10);
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
            AssertAgrees(pair);
        }
    }
}
