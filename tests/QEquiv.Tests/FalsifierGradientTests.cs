using QEquiv.Falsification;
using QEquiv.Model;
using QEquiv.Networks;
using QEquiv.Onnx;
using QEquiv.Quantization;
using QEquiv.Regions;

namespace QEquiv.Tests;

/// <summary>
/// The falsifier's per-operator gradient of s·(N_j − Q_j) against central finite differences: on a float pair the exact
/// derivative (away from ReLU kinks), on a QDQ pair the derivative of its straight-through model (roundings as
/// identity, every saturation, clamp and ReLU held in the phase the network has at the point, so that the model has no
/// rounding jumps and is affine near the point) — computed here forward, by an independent evaluator of that model.
/// </summary>
public class FalsifierGradientTests
{
    private const double Step = 1e-4;

    /// <summary>Float pair: N against a copy with perturbed weights; every coordinate whose ReLU phases hold over ±h.</summary>
    [Fact]
    public void FloatPairGradientMatchesFiniteDifferences()
    {
        var a = TestNetworks.Random(3, [6, 9, 7, 4]).Float;
        var n = Layering.ToGraph(a);
        var m = Perturbed(n, 0.05, seed: 8);
        var rng = new Random(2);
        var checkedCoordinates = 0;
        for (var trial = 0; trial < 20; trial++)
        {
            var x = Enumerable.Range(0, 6).Select(_ => (float)rng.NextDouble()).ToArray();
            for (var j = 0; j < 4; j++)
                foreach (var s in new[] { 1, -1 })
                {
                    var g = Falsifier.DifferenceGradient(n, m, x, j, s);
                    for (var i = 0; i < x.Length; i++)
                    {
                        var (minus, plus) = (Shifted(x, i, -Step), Shifted(x, i, Step));
                        if (!SamePhases(n, minus, plus) || !SamePhases(m, minus, plus)) continue;
                        var fd = s * ((n.Evaluate(plus)[j] - m.Evaluate(plus)[j]) - (n.Evaluate(minus)[j] - m.Evaluate(minus)[j])) / (2 * Step);
                        Assert.True(Math.Abs(fd - g[i]) <= 1e-7 * (1 + Math.Abs(fd)), $"x_{i}, output {j}, sign {s}: gradient {g[i]:R}, finite difference {fd:R}");
                        checkedCoordinates++;
                    }
                }
        }
        Assert.True(checkedCoordinates > 500, $"only {checkedCoordinates} coordinates away from kinks");
    }

    /// <summary>
    /// QDQ pair: the MNIST network against its PyTorch QDQ twin (Quantize, IntegerLinear, Requantize, Clamp, Dequantize)
    /// and a random pair with a DequantizeLinear → Relu → QuantizeLinear stage and a float output bias (Elementwise).
    /// </summary>
    [Fact]
    public void QdqPairGradientMatchesFiniteDifferencesOfItsStraightThroughModel()
    {
        var n = OnnxImporter.Load(TestData.Bench("mnistfc/mnist-net_256x2.onnx"));
        var q = OnnxImporter.Load(TestData.Bench("pytorch/mnist-net_256x2.qnnpack-qdq.onnx"));
        var box = VnnLib.ParseBox(TestData.Bench("mnistfc/prop_0_0.03.vnnlib")).Box;
        var rng = new Random(4);
        CheckStraightThrough(n, q, TestNetworks.SamplePoint(rng, box), coordinates: Enumerable.Range(0, 40).Select(_ => rng.Next(784)).ToArray());

        var pair = TestNetworks.Random(11, [5, 8, 6, 3], withRequantize: true, signedInput: true, outputBias: true);
        var small = Layering.ToGraph(pair.Quantized);
        Assert.Contains(small.Operators, op => op is Relu);
        Assert.Contains(small.Operators, op => op is Elementwise);
        var reference = Layering.ToGraph(pair.Float);
        for (var trial = 0; trial < 10; trial++)
            CheckStraightThrough(reference, small, Enumerable.Range(0, 5).Select(_ => (float)(0.1 + 0.8 * rng.NextDouble())).ToArray(), [0, 1, 2, 3, 4]);
    }

    private static void CheckStraightThrough(Network n, Network q, float[] x, int[] coordinates)
    {
        var xd = Array.ConvertAll(x, v => (double)v);
        var trace = q.Trace(xd);
        var model = new StraightThroughModel(q, trace);
        // The model is the network's own value at the point up to its roundings (it is anchored at the point's codes).
        var atPoint = model.Evaluate(xd);
        for (var j = 0; j < q.OutputSize; j++)
            Assert.True(Math.Abs(atPoint[j] - trace[^1][j]) < 1, $"straight-through model {atPoint[j]:R} far from Q {trace[^1][j]:R}");
        for (var j = 0; j < q.OutputSize; j++)
        {
            var g = Falsifier.DifferenceGradient(n, q, x, j, 1);
            foreach (var i in coordinates)
            {
                var (minus, plus) = (Shifted(x, i, -Step), Shifted(x, i, Step));
                if (!SamePhases(n, minus, plus)) continue;
                var fd = ((n.Evaluate(plus)[j] - model.Evaluate(plus)[j]) - (n.Evaluate(minus)[j] - model.Evaluate(minus)[j])) / (2 * Step);
                Assert.True(Math.Abs(fd - g[i]) <= 1e-6 * (1 + Math.Abs(fd)), $"x_{i}, output {j}: gradient {g[i]:R}, finite difference {fd:R}");
            }
        }
    }

    private static double[] Shifted(float[] x, int i, double h)
    {
        var y = Array.ConvertAll(x, v => (double)v);
        y[i] += h;
        return y;
    }

    /// <summary>True when every ReLU input keeps its sign between the two points (the network is affine between them).</summary>
    private static bool SamePhases(Network n, double[] a, double[] b)
    {
        var (ta, tb) = (n.Trace(a), n.Trace(b));
        for (var k = 0; k < n.Nodes.Count; k++)
        {
            if (n.Nodes[k].Operator is not Relu) continue;
            for (var i = 0; i < ta[k].Length; i++)
                if (ta[k][i] <= 0 != tb[k][i] <= 0) return false;
        }
        return true;
    }

    private static Network Perturbed(Network n, double scale, int seed)
    {
        var rng = new Random(seed);
        var nodes = n.Nodes.Select(node => node.Operator is Affine a
            ? node with
            {
                Operator = new Affine(a.InputSize, a.OutputSize,
                    a.Weights.ToArray().Select(w => w * (1 + scale * (rng.NextDouble() - 0.5))).ToArray(), a.Bias.ToArray()),
            }
            : node).ToList();
        return n.WithNodes(nodes, n.Runtime);
    }

    /// <summary>
    /// The straight-through model of a network at a point, evaluated forward: each rounding replaced by the identity
    /// (Quantize: x/s + z; Requantize: acc·M + z), each saturation, clamp and ReLU frozen in the phase the network's
    /// trace has at the point (a saturated or clamped element keeps its value there).
    /// </summary>
    private sealed class StraightThroughModel(Network network, IReadOnlyList<double[]> trace)
    {
        public double[] Evaluate(double[] x)
        {
            var u = x;
            for (var k = 0; k < network.Nodes.Count; k++)
                u = network.Nodes[k].Operator.Accept(new Rule(u, trace[k], trace[k + 1]));
            return u;
        }

        private sealed class Rule(double[] u, double[] input, double[] output) : IOperatorVisitor<double[]>
        {
            public double[] Affine(Affine op)
            {
                var y = new double[op.OutputSize];
                op.Evaluate(u, y);
                return y;
            }

            public double[] Elementwise(Elementwise op) => Map(i => { var (a, b) = op.AsAffine(i); return a * u[i] + b; });
            public double[] Relu(Relu op) => Map(i => input[i] <= 0 ? 0 : u[i]);
            public double[] Clamp(Clamp op) => Map(i => output[i] <= op.Lower || output[i] >= op.Upper ? output[i] : u[i]);

            public double[] Quantize(Quantize op)
            {
                var p = op.Output;
                return Map(i =>
                {
                    var scaled = input[i] / p.Scale + p.ZeroPoint;
                    return scaled >= p.Min - 0.5 && scaled <= p.Max + 0.5 ? u[i] / p.Scale + p.ZeroPoint : output[i];
                });
            }

            public double[] Dequantize(Dequantize op) => Map(i => (u[i] - op.Input.ZeroPoint) * op.Input.Scale);

            public double[] IntegerLinear(IntegerLinear op)
            {
                var y = new double[op.OutputSize];
                for (var o = 0; o < y.Length; o++)
                {
                    var row = op.Row(o);
                    double s = op.Bias[o];
                    for (var i = 0; i < row.Length; i++) s += (u[i] - op.Input.ZeroPoint) * (row[i] - op.WeightZeroPoints[o]);
                    y[o] = s;
                }
                return y;
            }

            public double[] Requantize(Model.Requantize op)
            {
                var p = op.Output;
                return Map(j => output[j] >= p.Max || output[j] <= p.Min ? output[j] : u[j] * op.Multipliers[j] + p.ZeroPoint);
            }

            public double[] Reshape(Reshape op) => u;
            public double[] FloatRound(FloatRound op) => u;

            private double[] Map(Func<int, double> f) => Enumerable.Range(0, u.Length).Select(f).ToArray();
        }
    }
}
