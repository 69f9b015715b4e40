using System.Diagnostics;
using QEquiv.Bounds;
using QEquiv.Data;
using QEquiv.Encoding;
using QEquiv.Evaluation;
using QEquiv.Falsification;
using QEquiv.Networks;
using QEquiv.Onnx;
using QEquiv.Quantization;
using QEquiv.Regions;
using Xunit.Abstractions;

namespace QEquiv.Tests;

public class DifferentialBoundsTests(ITestOutputHelper output)
{
    [Trait("Speed", "Slow")]
    [Theory]
    [InlineData(1, false, false, false)]
    [InlineData(2, true, false, true)]
    [InlineData(3, false, true, false)]
    [InlineData(4, true, true, true)]
    [InlineData(5, true, false, false)]
    public void RandomPairsEveryBoundContainsTheExactValues(int seed, bool requantize, bool signedInput, bool outputBias)
    {
        var rng = new Random(seed * 17);
        foreach (var sizes in new[] { new[] { 3, 6, 5, 2 }, [4, 10, 8, 8, 3] })
        {
            var pair = TestNetworks.Random(seed, sizes, requantize, signedInput, outputBias);
            for (var b = 0; b < 3; b++)
            {
                var box = TestNetworks.RandomBox(rng, sizes[0], maxRadius: b == 0 ? 0.02 : b == 1 ? 0.1 : 0.5);
                var everyNeuron = b % 2 == 1;
                var d = DifferentialBounds.Compute(pair.Float, pair.Quantized, box, new DifferentialOptions(EveryNeuron: everyNeuron));
                AssertNeverLooserThanNaive(d);
                for (var k = 0; k < 10_000; k++) CheckPoint(pair.Float, pair.Quantized, d, TestNetworks.SamplePoint(rng, box));
            }
        }
    }

    [Fact]
    public void DegenerateBoxGivesTheExactDifference()
    {
        var pair = TestNetworks.Random(7, [3, 6, 4, 2]);
        var x = new[] { 0.25, 0.5, 0.75 };
        var d = DifferentialBounds.Compute(pair.Float, pair.Quantized, new Box(x, x));
        var exact = RealDifferences(pair.Float, pair.Quantized, Array.ConvertAll(x, v => (float)v));
        for (var j = 0; j < exact.Length; j++)
        {
            Assert.True(d.Tightest[j].Contains(exact[j]));
            // Only the rounding bands (a code may sit on a tie) and the paddings are left.
            Assert.True(d.Tightest[j].Width < 0.05, $"output {j}: {d.Tightest[j]}");
        }
    }

    [Fact]
    public void JointReluRuleIsExactWhenBothPhasesAreKnown()
    {
        var dz = new Interval(-0.1, 0.2);
        Assert.Equal(LinearRelaxation.Identity, DifferentialBounds.PairTerm(true, new(1, 2), new(0.5, 2), dz, 0));
        Assert.Equal(LinearRelaxation.Constant(Interval.Point(0)), DifferentialBounds.PairTerm(true, new(-2, -1), new(-3, -1), dz, 0));
        var open = DifferentialBounds.PairTerm(true, new(-1, 1), new(-1, 1), dz, 0).Over(dz);
        Assert.True(open.Lo <= -0.1 + 1e-9 && open.Lo >= -0.1 - 1e-6 && open.Hi >= 0.2 && open.Hi <= 0.2 + 1e-6, open.ToString());
        Assert.Equal(new Interval(0, 0), DifferentialBounds.Saturation(new(0, 1), 0, 2));
        Assert.Equal(new Interval(0, 0.5), DifferentialBounds.Saturation(new(0, 2.5), 0, 2));
    }

    public static TheoryData<string> MnistNetworks => new() { "mnist-net_256x2", "mnist-net_256x4", "mnist-net_256x6" };

    [Trait("Speed", "Slow")]
    [Theory]
    [MemberData(nameof(MnistNetworks))]
    public void MnistTwinsAreBoundedSoundlyAndMuchTighterThanNaive(string name)
    {
        var n = OnnxImporter.LoadFloat(TestData.Bench($"mnistfc/{name}.onnx"));
        var q = OnnxImporter.LoadQuantized(TestData.Bench($"pytorch/{name}.qnnpack-qdq.onnx"));
        var rows = Csv.ReadRows(TestData.Bench("pytorch/inputs.csv"), n.InputSize);
        // The 0.03 box is dominated by rounding errors that really are independent per neuron (Q's hidden scale is
        // about 0.16, so each rounding is worth ±0.08 there): the gain is smaller than on small balls.
        var boxes = new List<(string Name, Box Box, double Ratio)>
        {
            ("prop_0_0.03", VnnLib.ParseBox(TestData.Bench("mnistfc/prop_0_0.03.vnnlib")).Box, 0.6),
            ("row0 ±0.002", Ball(rows[0], 0.002), 0.25),
            ("row1 ±0.01", Ball(rows[1], 0.01), 0.25),
        };
        var rng = new Random(name.Length);
        foreach (var (label, box, ratio) in boxes)
        {
            var clock = Stopwatch.StartNew();
            var d = DifferentialBounds.Compute(n, q, box);
            var seconds = clock.Elapsed.TotalSeconds;
            double naive = DifferenceBounds.AverageWidth(d.Naive), interval = DifferenceBounds.AverageWidth(d.IntervalDifferential),
                symbolic = DifferenceBounds.AverageWidth(d.SymbolicDifferential), tightest = DifferenceBounds.AverageWidth(d.Tightest);
            // Every intermediate value at 100 points, the outputs at 10 000 in all (the evaluators dominate the time).
            var observed = 0.0;
            for (var k = 0; k < 100; k++)
                observed = Math.Max(observed, CheckPoint(n, q, d, TestNetworks.SamplePoint(rng, box)));
            for (var k = 100; k < 10_000; k++)
                observed = Math.Max(observed, CheckOutputs(n, q, d, TestNetworks.SamplePoint(rng, box)));
            output.WriteLine($"{name} {label}: average width naive {naive:G4}, interval-differential {interval:G4}, " +
                $"symbolic-differential {symbolic:G4}, tightest {tightest:G4}; max |N−Q| seen {observed:G4}; {seconds:F2} s");
            AssertNeverLooserThanNaive(d);
            Assert.True(tightest < ratio * naive, $"{label}: tightest {tightest} vs naive {naive}");
        }
    }

    private static Box Ball(float[] center, double eps)
    {
        var ball = Box.LInfBall(Array.ConvertAll(center, v => (double)v), eps);
        return new Box(Array.ConvertAll(ball.Lo, v => Math.Max(v, 0)), Array.ConvertAll(ball.Hi, v => Math.Min(v, 1)));
    }

    private static void AssertNeverLooserThanNaive(DifferenceBounds d)
    {
        for (var j = 0; j < d.Naive.Length; j++)
            Assert.True(d.Tightest[j].Lo >= d.Naive[j].Lo && d.Tightest[j].Hi <= d.Naive[j].Hi, $"output {j}: {d.Tightest[j]} vs naive {d.Naive[j]}");
    }

    /// <summary>N − Q with Q dequantized in real arithmetic (the convention of the differential bounds).</summary>
    private static double[] RealDifferences(FloatNetwork n, QuantizedNetwork q, float[] x)
    {
        var y = FloatEvaluator.Evaluate(n, x);
        var codes = QuantizedEvaluator.Trace(q, x)[^1];
        var p = q.OutputQuantization;
        var d = new double[y.Length];
        for (var j = 0; j < d.Length; j++)
            d[j] = y[j] - ((double)p.Scale * (codes[j] - p.ZeroPoint) + (q.OutputBias is { } b ? b[j] : 0.0));
        return d;
    }

    /// <summary>Checks the output bounds at x; returns max_j |N_j − Q_j| there.</summary>
    private static double CheckOutputs(FloatNetwork n, QuantizedNetwork q, DifferenceBounds d, float[] x)
    {
        var real = RealDifferences(n, q, x);
        for (var j = 0; j < real.Length; j++)
        {
            Assert.True(d.IntervalDifferential[j].Contains(real[j]), $"output {j}: {real[j]} not in interval-differential {d.IntervalDifferential[j]}");
            Assert.True(d.SymbolicDifferential[j].Contains(real[j]), $"output {j}: {real[j]} not in symbolic-differential {d.SymbolicDifferential[j]}");
        }
        return real.Max(Math.Abs);
    }

    /// <summary>Checks every bound at x; returns max_j |N_j − Q_j| there.</summary>
    private static double CheckPoint(FloatNetwork n, QuantizedNetwork q, DifferenceBounds d, float[] x)
    {
        var real = RealDifferences(n, q, x);
        for (var j = 0; j < real.Length; j++)
        {
            Assert.True(d.IntervalDifferential[j].Contains(real[j]), $"output {j}: {real[j]} not in interval-differential {d.IntervalDifferential[j]}");
            Assert.True(d.SymbolicDifferential[j].Contains(real[j]), $"output {j}: {real[j]} not in symbolic-differential {d.SymbolicDifferential[j]}");
            Assert.True(d.Tightest[j].Contains(real[j]), $"output {j}: {real[j]} not in {d.Tightest[j]}");
        }
        // The runtime's float32 outputs are covered once the dequantization rounding is added (the layered bounds are of Q in
        // real arithmetic; the graph's bounds include it, see LegacyDifference).
        var runtime = WitnessChecker.Evaluate(G(n), G(q), x).Differences;
        var po = q.OutputQuantization;
        for (var j = 0; j < runtime.Length; j++)
            Assert.True(d.Tightest[j].Widen(0, EquivalenceMilp.SolverSlack + BoundPropagation.OutputRoundingError(
                    ((double)po.Scale * (d.Quantized.OutputCodes[j] + (-po.ZeroPoint))).MaxAbs + (q.OutputBias is { } ob ? Math.Abs(ob[j]) : 0),
                    ((double)po.Scale * (d.Quantized.OutputCodes[j] + (-po.ZeroPoint))).MaxAbs + (q.OutputBias is { } ob2 ? Math.Abs(ob2[j]) : 0))).Contains(runtime[j]),
                $"output {j}: runtime {runtime[j]} not in {d.Tightest[j]} ± margin");

        // Layer by layer: N, Q (codes and the values they come from) and Δh = h − ĥ.
        var h = Array.ConvertAll(x, v => (double)v);
        var trace = QuantizedEvaluator.Trace(q, x);
        var hq = Dequantize(trace[0], q.InputQuantization);
        var stage = 0;
        var level = 0;
        BoundsTests.CheckQuantized(q, d.Quantized, x);
        while (true)
        {
            while (stage < q.Stages.Count && q.Stages[stage] is Requantize)
                hq = Dequantize(trace[++stage], q.Stages[stage - 1].Output);
            for (var i = 0; i < h.Length; i++)
                Assert.True(d.Hidden[level][i].Contains(h[i] - hq[i]), $"level {level} Δh {i}: {h[i] - hq[i]} not in {d.Hidden[level][i]}");
            if (level == n.Layers.Count) break;
            var layer = n.Layers[level];
            var pre = FloatEvaluator.Apply(layer.WithActivation(Activation.None), h);
            h = FloatEvaluator.Apply(layer, h);
            for (var j = 0; j < h.Length; j++)
            {
                Assert.True(d.Float.Layers[level].PreActivation[j].Contains(pre[j]), $"layer {level} pre {j}");
                Assert.True(d.Float.Layers[level].Output[j].Contains(h[j]), $"layer {level} post {j}");
            }
            stage++;
            hq = Dequantize(trace[stage], q.Stages[stage - 1].Output);
            level++;
        }
        return real.Max(Math.Abs);
    }



    private static double[] Dequantize(int[] codes, QuantParams p) => Array.ConvertAll(codes, c => (double)p.Scale * (c - p.ZeroPoint));
}
