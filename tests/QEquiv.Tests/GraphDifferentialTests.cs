using System.Diagnostics;
using QEquiv.Bounds;
using QEquiv.Data;
using QEquiv.Model;
using QEquiv.Networks;
using QEquiv.Onnx;
using QEquiv.Quantization;
using QEquiv.Regions;
using Xunit.Abstractions;

namespace QEquiv.Tests;

/// <summary>
/// Symbolic and differential bounds of any two <see cref="Network"/>s (<see cref="SymbolicBounds.Of"/>,
/// <see cref="DifferentialBounds.Of"/>): every tensor and every output difference that <see cref="Network.Evaluate(ReadOnlySpan{double})"/>
/// computes at float32 points of the box lies in its bounds, on real pairs and on small graphs with every operator; and
/// on float-vs-quantized pairs the new pass is never looser than the old layered one.
/// </summary>
public class GraphDifferentialTests(ITestOutputHelper output)
{
    private static readonly List<float[]> MnistRows = Csv.ReadRows(TestData.Bench("pytorch/inputs.csv"), 784);

    private static Network Load(string relative) => OnnxImporter.Load(TestData.Bench(relative));

    private static Box Ball(float[] center, double eps, double lo = 0, double hi = 1)
    {
        var ball = Box.LInfBall(Array.ConvertAll(center, v => (double)v), eps);
        return new Box(Array.ConvertAll(ball.Lo, v => Math.Max(v, lo)), Array.ConvertAll(ball.Hi, v => Math.Min(v, hi)));
    }

    // ---- small graphs: every operator rule, fast ----

    [Theory]
    [InlineData(1, false, false, false)]
    [InlineData(2, true, false, true)]
    [InlineData(3, false, true, false)]
    [InlineData(4, true, true, true)]
    public void RandomPairsEveryTensorAndDifferenceIsInItsBounds(int seed, bool requantize, bool signedInput, bool outputBias)
    {
        var rng = new Random(seed * 31);
        foreach (var sizes in new[] { new[] { 3, 6, 5, 2 }, [4, 10, 8, 8, 3] })
        {
            var pair = TestNetworks.Random(seed, sizes, requantize, signedInput, outputBias);
            var n = Layering.ToGraph(pair.Float);
            var q = Layering.ToGraph(pair.Quantized);
            for (var b = 0; b < 3; b++)
            {
                var box = TestNetworks.RandomBox(rng, sizes[0], maxRadius: b == 0 ? 0.02 : b == 1 ? 0.1 : 0.5);
                var d = DifferentialBounds.Of(n, q, box, new DifferentialOptions(EveryNeuron: b == 1));
                Assert.Null(d.Notice);
                Assert.Equal(sizes.Length - 1, d.Hidden.Count);
                AssertNeverLooserThanNaive(d);
                CheckSampled(n, q, d, box, rng, 3000, everyTensor: 3000);
                // The same pair the other way round: a quantized reference.
                var back = DifferentialBounds.Of(q, n, box);
                Assert.Null(back.Notice);
                CheckSampled(q, n, back, box, rng, 500, everyTensor: 500);
            }
        }
    }

    /// <summary>
    /// The symbolic pass's smear (what branch and bound ranks its cuts by): |coefficient| × width per input, so never
    /// negative, next to zero on an input of zero width, positive somewhere on a box whose bounds are not exact.
    /// </summary>
    [Fact]
    public void InputSensitivityIsTheBoundsShareOfEachInputsWidth()
    {
        var (n, q) = TestData.NeuroDiffPair("1_4");
        var (lo, hi) = TestData.NeuroDiffBox("p1");
        hi[2] = lo[2];
        var box = new Box(lo, hi);
        var d = DifferentialBounds.Of(n, q, box);
        for (var j = 0; j < n.OutputSize; j++)
            foreach (var sign in new[] { 1, -1 })
            {
                var s = d.InputSensitivity(j, sign);
                Assert.NotNull(s);
                Assert.Equal(box.Dimension, s.Length);
                Assert.All(s, v => Assert.True(v >= 0 && double.IsFinite(v)));
                // The input's own interval keeps a rounding allowance of the normalisation: next to nothing, not zero.
                Assert.True(s[2] <= 1e-6 * s.Max(), $"sensitivity {s[2]} on an input of zero width");
                Assert.Contains(s, v => v > 0);
            }
        Assert.Null(DifferentialBounds.Of(n, q, box, new DifferentialOptions(Symbolic: false)).InputSensitivity(0, 1));
    }

    [Fact]
    public void SymbolicBoundsOfEachOperatorContainTheEvaluatorAndAreNoLooserThanIntervals()
    {
        var rng = new Random(5);
        var pair = TestNetworks.Random(9, [4, 10, 8, 3], withRequantize: true, signedInput: true, outputBias: true);
        foreach (var net in new[] { Layering.ToGraph(pair.Float), Layering.ToGraph(pair.Quantized), QOperatorTwin().Quantized, NormalisedTwin().Quantized })
        {
            for (var b = 0; b < 3; b++)
            {
                var box = TestNetworks.RandomBox(rng, net.InputSize, maxRadius: 0.05 + 0.2 * b);
                var intervals = IntervalBounds.Of(net, box);
                foreach (var everyNeuron in new[] { false, true })
                {
                    var s = SymbolicBounds.Of(net, box, everyNeuron);
                    for (var k = 0; k < s.Nodes.Count; k++)
                        for (var i = 0; i < s.Nodes[k].Output.Length; i++)
                            Assert.True(s.Nodes[k].Output[i].Lo >= intervals.Nodes[k].Output[i].Lo && s.Nodes[k].Output[i].Hi <= intervals.Nodes[k].Output[i].Hi,
                                $"node {k} value {i}: symbolic {s.Nodes[k].Output[i]} looser than interval {intervals.Nodes[k].Output[i]}");
                    for (var p = 0; p < 2000; p++) CheckTrace(s, net, Sample(rng, box, p));
                }
            }
        }
    }

    [Fact]
    public void QOperatorTwinAndNormalisedGraphAreBoundedSoundly()
    {
        var rng = new Random(17);
        foreach (var (n, q, lo, hi) in new[] { QOperatorTwin(), NormalisedTwin() })
        {
            for (var b = 0; b < 4; b++)
            {
                var box = TestNetworks.RandomBox(rng, n.InputSize, maxRadius: 0.01 + 0.1 * b, lo, hi);
                var d = DifferentialBounds.Of(n, q, box, new DifferentialOptions(EveryNeuron: b % 2 == 1));
                Assert.Null(d.Notice);
                AssertNeverLooserThanNaive(d);
                CheckSampled(n, q, d, box, rng, 1500, everyTensor: 1500);
                var qq = DifferentialBounds.Of(q, q, box);
                Assert.Null(qq.Notice);
                CheckSampled(q, q, qq, box, rng, 1000, everyTensor: 1000);
                // A network against itself: the pass treats the two copies' roundings as independent, so Δ is not zero, but it holds 0.
                AssertNeverLooserThanNaive(qq);
                foreach (var t in qq.Tightest) Assert.True(t.Contains(0), t.ToString());
            }
        }
    }

    [Fact]
    public void StructuresThatDoNotCorrespondAreBoundedSeparatelyWithANotice()
    {
        var rng = new Random(3);
        var a = Layering.ToGraph(TestNetworks.Random(1, [4, 6, 5, 2]).Float);
        var b = Layering.ToGraph(TestNetworks.Random(2, [4, 7, 2]).Quantized);
        var box = TestNetworks.RandomBox(rng, 4, 0.1);
        var d = DifferentialBounds.Of(a, b, box);
        Assert.NotNull(d.Notice);
        Assert.DoesNotContain('\n', d.Notice);
        Assert.Empty(d.Hidden);
        Assert.Equal(d.Tightest, d.SymbolicDifferential);
        CheckSampled(a, b, d, box, rng, 2000, everyTensor: 2000);
    }

    // ---- real pairs from the benchmarks ----

    [Trait("Speed", "Slow")]
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void MnistFloatVersusPyTorchTwinIsSoundAndTighterThanNaive(int pixels)
    {
        var n = Load("mnistfc/mnist-net_256x2.onnx");
        var q = Load("pytorch/mnist-net_256x2.qnnpack-qdq.onnx");
        var rng = new Random(pixels);
        foreach (var row in new[] { 0, 1, 7 })
        {
            var box = Ball(MnistRows[row], pixels / 255.0);
            var d = DifferentialBounds.Of(n, q, box);
            Assert.Null(d.Notice);
            CheckSampled(n, q, d, box, rng, 2000, everyTensor: 200);
            AssertTighterThanNaive(d, $"256x2 row {row} ±{pixels}/255");
        }
    }

    [Trait("Speed", "Slow")]
    [Fact]
    public void MnistQuantizedVersusQuantizedAndFloatVersusFloatPairsAreSound()
    {
        var rng = new Random(4);
        var pairs = new (string Label, Network R, Network O)[]
        {
            ("qnnpack vs per-channel", Load("pytorch/mnist-net_256x2.qnnpack-qdq.onnx"), Load("pytorch/mnist-net_256x2.qnnpack-perchannel-qdq.onnx")),
            ("mnist_relu_3_100 vs rounded", Load("pairs/mnist_relu_3_100.onnx"), Load("pairs/mnist_relu_3_100-rounded.onnx")),
        };
        foreach (var (label, r, o) in pairs)
        {
            var box = Ball(MnistRows[2], 2 / 255.0);
            var d = DifferentialBounds.Of(r, o, box);
            Assert.Null(d.Notice);
            AssertNeverLooserThanNaive(d);
            CheckSampled(r, o, d, box, rng, 2000, everyTensor: 200);
            output.WriteLine($"{label}: average width naive {Average(d.Naive):G4}, tightest {Average(d.Tightest):G4}");
            Assert.True(Average(d.Tightest) < 0.5 * Average(d.Naive), label);
        }
    }

    public static TheoryData<string, string> AcasBoxes => new()
    {
        { "ACASXU_run2a_1_1_batch_2000", "acasxu/props/prop_3.vnnlib" },
        { "ACASXU_run2a_1_2_batch_2000", "acasxu/props/prop_4.vnnlib" },
        { "ACASXU_run2a_3_3_batch_2000", "acasxu/props/prop_1.vnnlib" },
    };

    [Trait("Speed", "Slow")]
    [Theory]
    [MemberData(nameof(AcasBoxes))]
    public void AcasFloatVersusQuantizedTwinIsSoundAndTighterThanNaive(string name, string property)
    {
        var n = Load($"acasxu/{name}.onnx");
        var q = OnnxImporter.Load(Path.Combine(TestData.RepoRoot, "bench", "acasxu-q", $"{name}.qnnpack-qdq.onnx"));
        var full = VnnLib.ParseBox(TestData.Bench(property)).Box;
        var rng = new Random(name.Length);
        // The whole property box, and a small box at its centre (where the pass is tight enough for the comparison to say something).
        var c = full.Center();
        var small = new Box(c.Select((v, i) => v - 0.02 * full.Width(i)).ToArray(), c.Select((v, i) => v + 0.02 * full.Width(i)).ToArray());
        foreach (var box in new[] { full, small })
        {
            var d = DifferentialBounds.Of(n, q, box);
            Assert.Null(d.Notice);
            CheckSampled(n, q, d, box, rng, 1500, everyTensor: 1500);
            AssertTighterThanNaive(d, $"{name} {(box == full ? "property" : "centre")}");
        }
        var rounded = DifferentialBounds.Of(Load("pairs/ACASXU_run2a_1_1.onnx"), Load("pairs/ACASXU_run2a_1_1-rounded.onnx"), small);
        Assert.Null(rounded.Notice);
        CheckSampled(Load("pairs/ACASXU_run2a_1_1.onnx"), Load("pairs/ACASXU_run2a_1_1-rounded.onnx"), rounded, small, rng, 1000, everyTensor: 1000);
    }

    // ---- helpers ----

    /// <summary>A float twin of the QOperator test model: dequantized weights, the float biases it adds after DequantizeLinear.</summary>
    internal static (Network Float, Network Quantized, double Lo, double Hi) QOperatorTwin()
    {
        var path = OnnxRuntimeAgreementTests.BuildQOperatorModel(Path.Combine(Path.GetTempPath(), $"qop-{Guid.NewGuid():N}.onnx"), new Random(5));
        try { var q = OnnxImporter.Load(path); return (FloatTwin(q), q, -1, 1); }
        finally { File.Delete(path); }
    }

    /// <summary>The (x − mean)/std → QuantizeLinear model of NetworkModelTests and a float twin with the normalisation as real Sub/Div.</summary>
    internal static (Network Float, Network Quantized, double Lo, double Hi) NormalisedTwin()
    {
        var path = NetworkModelTests.BuildNormalisedQdqModel(Path.Combine(Path.GetTempPath(), $"norm-{Guid.NewGuid():N}.onnx"), new Random(11));
        try { var q = OnnxImporter.Load(path); return (FloatTwin(q), q, 0, 1); }
        finally { File.Delete(path); }
    }

    /// <summary>
    /// A float network computing what a quantized chain approximates: every IntegerLinear as Affine(s_w·(w − zw), s_x·s_w·bias),
    /// float Elementwise operators in real arithmetic, Relu kept, every Clamp at a zero point a Relu, the rest dropped.
    /// </summary>
    private static Network FloatTwin(Network q)
    {
        var ops = new List<Operator>();
        var ops0 = q.Operators.ToList();
        for (var k = 0; k < ops0.Count; k++)
        {
            switch (ops0[k])
            {
                case Elementwise e: ops.Add(new Elementwise(e.Kind, e.Constants.ToArray(), Arithmetic.Real)); break;
                case IntegerLinear il:
                    var w = new double[il.InputSize * il.OutputSize];
                    var b = new double[il.OutputSize];
                    for (var j = 0; j < il.OutputSize; j++)
                    {
                        var row = il.Row(j);
                        for (var i = 0; i < row.Length; i++) w[j * il.InputSize + i] = (double)il.WeightScales[j] * (row[i] - il.WeightZeroPoints[j]);
                        b[j] = (double)il.Input.Scale * il.WeightScales[j] * il.Bias[j];
                    }
                    ops.Add(new Affine(il.InputSize, il.OutputSize, w, b));
                    break;
                case Relu r: ops.Add(new Relu(r.OutputSize)); break;
                case Clamp c: ops.Add(new Relu(c.OutputSize)); break;
            }
        }
        return Network.Chain(q.Source + "-float", q.InputShape, q.InputName, ops);
    }

    private static double Average(Interval[] b) => b.Average(v => v.Width);

    private static void AssertNeverLooserThanNaive(GraphDifference d)
    {
        for (var j = 0; j < d.Naive.Length; j++)
            Assert.True(d.Tightest[j].Lo >= d.Naive[j].Lo && d.Tightest[j].Hi <= d.Naive[j].Hi, $"output {j}: {d.Tightest[j]} vs naive {d.Naive[j]}");
    }

    /// <summary>A float32 point of the box: the first 2^dim (at most 64) points are corners, then random corners and random points.</summary>
    internal static float[] Sample(Random rng, Box box, int index)
    {
        var n = box.Dimension;
        if (index < 64 && (n >= 6 || index < 1 << n))
        {
            var x = new float[n];
            for (var i = 0; i < n; i++)
            {
                var hi = n < 6 ? (index >> i & 1) == 1 : rng.Next(2) == 1;
                x[i] = (float)(hi ? box.Hi[i] : box.Lo[i]);
            }
            return x;
        }
        return TestNetworks.SamplePoint(rng, box);
    }

    internal static void CheckTrace(GraphBounds b, Network net, float[] x)
    {
        var trace = net.Trace(Array.ConvertAll(x, v => (double)v));
        for (var i = 0; i < x.Length; i++) Assert.True(b.Input[i].Contains(trace[0][i]), $"input {i}: {trace[0][i]} not in {b.Input[i]}");
        for (var k = 0; k < b.Nodes.Count; k++)
            for (var i = 0; i < trace[k + 1].Length; i++)
                Assert.True(b.Nodes[k].Output[i].Contains(trace[k + 1][i]),
                    $"{net.Source} node {k} ({net.Nodes[k].Operator.Describe()}) value {i}: {trace[k + 1][i]:R} not in {b.Nodes[k].Output[i]}");
    }

    /// <summary>Every output difference at every sampled point; every tensor of both networks and every hidden Δ at the first few.</summary>
    internal static void CheckSampled(Network r, Network o, GraphDifference d, Box box, Random rng, int points, int everyTensor)
    {
        for (var p = 0; p < points; p++)
        {
            var x = Sample(rng, box, p);
            var xs = Array.ConvertAll(x, v => (double)v);
            var rt = r.Trace(xs);
            var ot = o.Trace(xs);
            for (var j = 0; j < r.OutputSize; j++)
            {
                var diff = rt[^1][j] - ot[^1][j];
                Assert.True(d.Naive[j].Contains(diff), $"output {j}: {diff:R} not in naive {d.Naive[j]}");
                Assert.True(d.IntervalDifferential[j].Contains(diff), $"output {j}: {diff:R} not in interval-differential {d.IntervalDifferential[j]}");
                Assert.True(d.SymbolicDifferential[j].Contains(diff), $"output {j}: {diff:R} not in symbolic-differential {d.SymbolicDifferential[j]}");
                Assert.True(d.Tightest[j].Contains(diff), $"output {j}: {diff:R} not in tightest {d.Tightest[j]}");
            }
            if (p >= everyTensor) continue;
            CheckTrace(d.Reference, r, x);
            CheckTrace(d.Other, o, x);
            foreach (var h in d.Hidden)
            {
                var rv = rt[h.Reference + 1];
                var ov = ot[h.Other + 1];
                for (var i = 0; i < rv.Length; i++)
                {
                    var delta = rv[i] - (h.Scale[i] * ov[i] + h.Offset[i]);
                    Assert.True(h.Delta[i].Contains(delta), $"hidden tensors {h.Reference}/{h.Other} value {i}: {delta:R} not in {h.Delta[i]}");
                }
            }
        }
    }

    /// <summary>
    /// Tightest never looser than naive on any output and, on average, tighter. (Against the layered pass these bounds
    /// replaced, measured before it was deleted: never wider than its Tightest plus the dequantization margin its callers
    /// added, on every output of these boxes; docs/benchmarks.md.)
    /// </summary>
    private void AssertTighterThanNaive(GraphDifference d, string label)
    {
        for (var j = 0; j < d.Tightest.Length; j++)
            Assert.True(d.Tightest[j].Lo >= d.Naive[j].Lo && d.Tightest[j].Hi <= d.Naive[j].Hi, $"{label} output {j}: {d.Tightest[j]} looser than naive {d.Naive[j]}");
        Assert.True(Average(d.Tightest) < Average(d.Naive), $"{label}: no tighter than naive");
        output.WriteLine($"{label}: average width naive {Average(d.Naive):G4}, interval-differential {Average(d.IntervalDifferential):G6}, " +
            $"symbolic-differential {Average(d.SymbolicDifferential):G6}, tightest {Average(d.Tightest):G6}");
    }
}
