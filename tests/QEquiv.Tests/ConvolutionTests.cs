using QEquiv.Bounds;
using QEquiv.Data;
using QEquiv.Encoding;
using QEquiv.Evaluation;
using QEquiv.Model;
using QEquiv.Onnx;
using QEquiv.Onnx.Proto;
using QEquiv.Quantization;
using QEquiv.Regions;
using DataType = QEquiv.Onnx.Proto.TensorProto.Types.DataType;

namespace QEquiv.Tests;

/// <summary>
/// Convolutional float networks (issue 17, phase 1): Conv, AveragePool, Pad, Transpose and BatchNormalization imported
/// as sparse Affine maps. Evaluation agrees with PyTorch on the shared CNNs and with ONNX Runtime on small synthetic
/// models — within the rigorous float32 error bound at each point, so every disagreement beyond a float32 evaluation's
/// own freedom fails —, every bound rule holds at sampled points, and verify / max-error run end to end.
/// </summary>
[Collection("Console")]
public sealed class ConvolutionTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("qequiv-conv-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static AttributeProto Ints(string name, params long[] v)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(v);
        return a;
    }

    private static AttributeProto Text(string name, string v) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.String, S = Google.Protobuf.ByteString.CopyFromUtf8(v) };

    private static IEnumerable<double> Values(Random rng, int n, double scale = 1) => Enumerable.Range(0, n).Select(_ => scale * (2 * rng.NextDouble() - 1));

    /// <summary>The synthetic models: each exercises one part of the window arithmetic against ONNX Runtime.</summary>
    public enum Shape { StridedPaddedDilated, Grouped, AveragePoolExcludingPads, AveragePoolIncludingPads, PadThenConv, NhwcTransposeAndBatchNorm, TwoConvsSamePadding }

    /// <summary>
    /// A small CNN on a [1, 2, 7, 6] image (or its NHWC [1, 7, 6, 2] transpose): conv layers with the <paramref name="shape"/>'s
    /// geometry, ReLU, then Flatten and a Gemm to 3 outputs.
    /// </summary>
    internal static string Build(string path, Shape shape, int seed = 1)
    {
        var rng = new Random(seed);
        var nhwc = shape == Shape.NhwcTransposeAndBatchNorm;
        var b = new OnnxModelBuilder("x", nhwc ? [1, 7, 6, 2] : [1, 2, 7, 6], "y", 3);
        var x = nhwc ? b.Node("Transpose", ["x"], null, Ints("perm", 0, 3, 1, 2)) : "x";
        string Conv(string input, int cin, int cout, int kh, int kw, int group, params AttributeProto[] attrs) =>
            b.Node("Conv", [input, b.Constant(DataType.Float, [cout, cin / group, kh, kw], Values(rng, cout * cin / group * kh * kw)),
                b.Constant(DataType.Float, [cout], Values(rng, cout, 0.3))], null, attrs);
        string h;
        int channels, height, width;
        switch (shape)
        {
            case Shape.StridedPaddedDilated:
                h = Conv(x, 2, 3, 3, 2, 1, Ints("strides", 2, 1), Ints("pads", 1, 0, 2, 1), Ints("dilations", 1, 2));
                (channels, height, width) = (3, 4, 5);
                break;
            case Shape.Grouped:
                h = Conv(x, 2, 4, 2, 2, 2, OnnxModelBuilder.Int("group", 2));
                (channels, height, width) = (4, 6, 5);
                break;
            case Shape.AveragePoolExcludingPads or Shape.AveragePoolIncludingPads:
                h = b.Node("Relu", [Conv(x, 2, 3, 2, 2, 1)]);
                h = b.Node("AveragePool", [h], null, Ints("kernel_shape", 3, 2), Ints("strides", 2, 1), Ints("pads", 1, 1, 1, 0),
                    OnnxModelBuilder.Int("count_include_pad", shape == Shape.AveragePoolIncludingPads ? 1 : 0));
                (channels, height, width) = (3, 3, 5);
                break;
            case Shape.PadThenConv:
                var padded = b.Node("Pad", [x, b.Constant(DataType.Int64, [8], [0, 0, 1, 0, 0, 0, 0, 2])]);
                h = Conv(padded, 2, 3, 2, 3, 1);
                (channels, height, width) = (3, 7, 6);
                break;
            case Shape.NhwcTransposeAndBatchNorm:
                h = Conv(x, 2, 3, 2, 2, 1);
                h = b.Node("BatchNormalization", [h, b.Constant(DataType.Float, [3], Values(rng, 3)), b.Constant(DataType.Float, [3], Values(rng, 3)),
                    b.Constant(DataType.Float, [3], Values(rng, 3, 0.2)), b.Constant(DataType.Float, [3], Values(rng, 3).Select(v => 0.5 + Math.Abs(v)))]);
                (channels, height, width) = (3, 6, 5);
                break;
            default: // TwoConvsSamePadding
                h = b.Node("Relu", [Conv(x, 2, 3, 3, 3, 1, Text("auto_pad", "SAME_UPPER"), Ints("strides", 2, 2))]);
                h = Conv(h, 3, 2, 2, 2, 1, Text("auto_pad", "SAME_LOWER"));
                (channels, height, width) = (2, 4, 3);
                break;
        }
        var flat = b.Node("Flatten", [b.Node("Relu", [h])]);
        var features = channels * height * width;
        b.Node("Gemm", [flat, b.Constant(DataType.Float, [3, features], Values(rng, 3 * features, 0.5)), b.Constant(DataType.Float, [3], Values(rng, 3, 0.1))],
            "y", OnnxModelBuilder.Int("transB", 1));
        return b.Save(path);
    }

    private static float[] Point(Random rng, int n) => Enumerable.Range(0, n).Select(_ => (float)rng.NextDouble()).ToArray();

    /// <summary>
    /// |ours − runtime| within the bound on any float32 evaluation's distance from the real network at that point, plus
    /// the bound's own slack for constants the runtime computes itself (BatchNormalization's folded scale, a few ulps).
    /// </summary>
    private static void AssertWithinFloat32(Network n, float[] x, float[] runtime, double slack, string what)
    {
        var exact = n.Evaluate(x);
        var bound = Float32Error.AtPoint(n, x);
        for (var j = 0; j < exact.Length; j++)
            Assert.True(Math.Abs(exact[j] - runtime[j]) <= bound[j] + slack * Math.Abs(exact[j]),
                $"{what} output {j}: ours {exact[j]:R}, runtime {runtime[j]:R}, |diff| {Math.Abs(exact[j] - runtime[j]):G3} > float32 bound {bound[j]:G3}");
    }

    [Theory]
    [InlineData(Shape.StridedPaddedDilated)]
    [InlineData(Shape.Grouped)]
    [InlineData(Shape.AveragePoolExcludingPads)]
    [InlineData(Shape.AveragePoolIncludingPads)]
    [InlineData(Shape.PadThenConv)]
    [InlineData(Shape.NhwcTransposeAndBatchNorm)]
    [InlineData(Shape.TwoConvsSamePadding)]
    public void SyntheticConvNetsEvaluateAsOnnxRuntime(Shape shape)
    {
        var path = Build(Path.Combine(_dir, $"{shape}.onnx"), shape);
        var n = OnnxImporter.Load(path);
        Assert.False(n.IsQuantized);
        Assert.Contains(n.Operators, o => o is Affine { Matrix.IsDense: false });
        using var ort = new OrtOracle(path);
        var rng = new Random(3);
        // BatchNormalization's scale γ/√(σ² + ε) is computed by the runtime in float32, a few ulps the bound does not count.
        var slack = shape == Shape.NhwcTransposeAndBatchNorm ? 1e-6 : 0;
        for (var k = 0; k < 200; k++)
        {
            var x = Point(rng, n.InputSize);
            AssertWithinFloat32(n, x, ort.Run(x), slack, $"{shape} point {k}");
        }
    }

    private static readonly string Cnn = TestData.Bench("cnn");

    /// <summary>
    /// Every reference row of the shared CNNs: our real-arithmetic value within the float32 bound of PyTorch's float outputs
    /// (and so within 1e-4 absolute, the tolerance these rows are also held to).
    /// </summary>
    [Theory]
    [InlineData("Convnet_avgpool")]
    [InlineData("cifar_base_kw")]
    public void SharedCnnsEvaluateAsPyTorch(string model)
    {
        var n = OnnxImporter.Load(Path.Combine(Cnn, model + ".onnx"));
        var inputs = Csv.ReadRows(Path.Combine(Cnn, model + "-inputs.csv"));
        var expected = Csv.ReadRows(Path.Combine(Cnn, model + ".float-outputs.csv"));
        Assert.Equal(inputs.Count, expected.Count);
        Assert.True(inputs.Count >= 100, $"{inputs.Count} reference rows");
        for (var r = 0; r < inputs.Count; r++)
        {
            AssertWithinFloat32(n, inputs[r], expected[r], 0, $"{model} row {r}");
            var y = n.Evaluate(inputs[r]);
            for (var j = 0; j < y.Length; j++) Assert.True(Math.Abs(y[j] - expected[r][j]) < 1e-4, $"row {r} output {j}");
        }
    }

    [Fact]
    public void MaxPoolModelIsRefusedNamingTheNode()
    {
        var e = Assert.Throws<BadInputException>(() => OnnxImporter.Load(Path.Combine(Cnn, "Convnet_maxpool.onnx")));
        Assert.Contains("(MaxPool): MaxPool is not supported yet", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    /// <summary>A convolution is never densified: the MNIST conv stores its 4 taps per output, and bounds it cheaply.</summary>
    [Fact]
    public void MnistConvIsSparseAndItsBoundsHold()
    {
        var n = OnnxImporter.Load(Path.Combine(Cnn, "Convnet_avgpool.onnx"));
        var conv = (Affine)n.Nodes[0].Operator;
        Assert.Equal(27 * 27 * 32, conv.OutputSize);
        Assert.Equal(4 * conv.OutputSize, conv.Matrix.Count);
        var center = Csv.ReadRows(Path.Combine(Cnn, "Convnet_avgpool-inputs.csv"))[0];
        var box = new Box(center.Select(v => Math.Max(0, v - 0.02)).ToArray(), center.Select(v => Math.Min(1, v + 0.02)).ToArray());
        var s = SymbolicBounds.Of(n, box);
        var rng = new Random(2);
        for (var p = 0; p < 50; p++) GraphDifferentialTests.CheckTrace(s, n, GraphDifferentialTests.Sample(rng, box, p));
    }

    /// <summary>A network and its perturbed twin (every weight and bias moved by up to 1 %), as sparse as the original.</summary>
    private static Network Perturbed(Network n, int seed)
    {
        var rng = new Random(seed);
        double Move(double v) => v * (1 + 0.01 * (2 * rng.NextDouble() - 1));
        var nodes = n.Nodes.Select(node => node.Operator is Affine a
            ? node with { Operator = new Affine(a.Matrix.Select((_, _, v) => Move(v)), a.Bias.ToArray().Select(Move).ToArray()) }
            : node).ToList();
        return new Network(n.Source + " (perturbed)", n.InputShape, n.InputName, nodes);
    }

    [Theory]
    [InlineData(Shape.StridedPaddedDilated)]
    [InlineData(Shape.Grouped)]
    [InlineData(Shape.AveragePoolExcludingPads)]
    [InlineData(Shape.PadThenConv)]
    [InlineData(Shape.TwoConvsSamePadding)]
    public void IntervalSymbolicAndDifferentialBoundsHoldAtSampledPoints(Shape shape)
    {
        var n = OnnxImporter.Load(Build(Path.Combine(_dir, $"{shape}.onnx"), shape, seed: 5));
        var o = Perturbed(n, 7);
        var rng = new Random(11);
        for (var b = 0; b < 4; b++)
        {
            var box = TestNetworks.RandomBox(rng, n.InputSize, maxRadius: 0.02 + 0.1 * b, lo: 0, hi: 1);
            var intervals = IntervalBounds.Of(n, box);
            var symbolic = SymbolicBounds.Of(n, box, everyNeuron: b % 2 == 1);
            for (var p = 0; p < 500; p++)
            {
                var x = GraphDifferentialTests.Sample(rng, box, p);
                GraphDifferentialTests.CheckTrace(intervals, n, x);
                GraphDifferentialTests.CheckTrace(symbolic, n, x);
            }
            var d = DifferentialBounds.Of(n, o, box, new DifferentialOptions(EveryNeuron: b % 2 == 1));
            Assert.Null(d.Notice);
            GraphDifferentialTests.CheckSampled(n, o, d, box, rng, 1000, everyTensor: 300);
            // The differential pass is the point: on a 1 % perturbation it is much tighter than bounding each apart.
            if (b == 0)
                for (var j = 0; j < n.OutputSize; j++) Assert.True(d.Tightest[j].Width < d.Naive[j].Width, $"output {j}: {d.Tightest[j]} vs {d.Naive[j]}");
        }
    }

    /// <summary>The MILP gadget and its LP relaxation of a CNN contain every sampled point's outputs (as re-executed).</summary>
    [Fact]
    public void LpRelaxationOfAConvNetContainsSampledOutputs()
    {
        var n = OnnxImporter.Load(Build(Path.Combine(_dir, "lp.onnx"), Shape.AveragePoolExcludingPads, seed: 9));
        var rng = new Random(4);
        var box = TestNetworks.RandomBox(rng, n.InputSize, maxRadius: 0.05, lo: 0, hi: 1);
        var (bounds, stats) = LpTightening.TightenRelus(n, box, IntervalBounds.Of(n, box), TimeSpan.FromSeconds(60));
        Assert.True(stats.LinearPrograms > 0, "no LP was solved: the test would check nothing the intervals did not");
        for (var p = 0; p < 300; p++) GraphDifferentialTests.CheckTrace(bounds, n, GraphDifferentialTests.Sample(rng, box, p));
    }

    private string Csv1(float[] x)
    {
        var path = Path.Combine(_dir, $"center-{Guid.NewGuid():N}.csv");
        File.WriteAllText(path, string.Join(",", x.Select(v => v.ToString("R", System.Globalization.CultureInfo.InvariantCulture))) + "\n");
        return path;
    }

    /// <summary>
    /// verify and max-error on a tiny CNN against its perturbed twin: a δ well above the certified maximum is verified, one
    /// below the witnessed error is falsified with a witness that re-executes, and max-error's interval brackets both.
    /// </summary>
    [Fact]
    public void VerifyAndMaxErrorRunOnATinyCnnPair()
    {
        var path = Build(Path.Combine(_dir, "tiny.onnx"), Shape.AveragePoolExcludingPads, seed: 13);
        var n = OnnxImporter.Load(path);
        var twinPath = Path.Combine(_dir, "tiny-twin.onnx");
        // The twin as a file: the same graph with the Gemm's weights scaled by 1.02 (an exported "retrained" model).
        var model = Onnx.Proto.ModelProto.Parser.ParseFrom(File.ReadAllBytes(path));
        var gemm = model.Graph.Node.Single(x => x.OpType == "Gemm");
        var w = model.Graph.Initializer.Single(i => i.Name == gemm.Input[1]);
        for (var i = 0; i < w.FloatData.Count; i++) w.FloatData[i] *= 1.02f;
        File.WriteAllBytes(twinPath, Google.Protobuf.MessageExtensions.ToByteArray(model));
        var center = Csv1(Point(new Random(1), n.InputSize));
        var json = Path.Combine(_dir, "max.json");
        var max = CliRunner.Run("max-error", "--float", path, "--other", twinPath, "--center", center, "--eps", "0.02", "--clip", "0,1", "--json", json, "--timeout", "120");
        Assert.True(max.Exit == 0, max.Out + max.Err);
        using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(json));
        var certified = doc.RootElement.GetProperty("upper").GetDouble();
        var witnessed = doc.RootElement.GetProperty("lower").GetDouble();
        Assert.True(witnessed > 0 && witnessed <= certified, $"witnessed {witnessed}, certified {certified}");

        var verified = CliRunner.Run("verify", "--float", path, "--other", twinPath, "--center", center, "--eps", "0.02", "--clip", "0,1",
            "--delta", (certified * 1.5 + 1e-6).ToString("R", System.Globalization.CultureInfo.InvariantCulture), "--timeout", "120");
        Assert.True(verified.Exit == 0, verified.Out + verified.Err);
        Assert.Equal("verified", verified.Out.Split('\n')[0]);
        var witness = Path.Combine(_dir, "witness.csv");
        var delta = witnessed * 0.9;
        var falsified = CliRunner.Run("verify", "--float", path, "--other", twinPath, "--center", center, "--eps", "0.02", "--clip", "0,1",
            "--delta", delta.ToString("R", System.Globalization.CultureInfo.InvariantCulture), "--witness", witness, "--timeout", "120");
        Assert.True(falsified.Exit == 10, falsified.Out + falsified.Err);
        var x = Csv.ReadRows(witness)[0];
        var (a, b) = (n.Evaluate(x), OnnxImporter.Load(twinPath).Evaluate(x));
        Assert.True(a.Zip(b).Max(t => Math.Abs(t.First - t.Second)) >= delta);
    }

    public static TheoryData<string, string, string> BadConvs => new()
    {
        { "3d", "Conv", "only 2-D convolutions" },
        { "ceil", "AveragePool", "ceil_mode=1" },
        { "reflect", "Pad", "mode=reflect" },
        { "groups", "Conv", "group(s)" },
    };

    [Theory]
    [MemberData(nameof(BadConvs))]
    public void UnsupportedConvolutionsAreRefusedNamingTheNode(string kind, string op, string problem)
    {
        var b = new OnnxModelBuilder("x", kind == "3d" ? [1, 1, 4, 4, 4] : [1, 2, 6, 6], "y", 3);
        var rng = new Random(1);
        switch (kind)
        {
            case "3d": b.Node("Conv", ["x", b.Constant(DataType.Float, [3, 1, 2, 2, 2], Values(rng, 24))], "y"); break;
            case "ceil": b.Node("AveragePool", ["x"], "y", Ints("kernel_shape", 2, 2), Ints("strides", 2, 2), OnnxModelBuilder.Int("ceil_mode", 1)); break;
            case "reflect": b.Node("Pad", ["x", b.Constant(DataType.Int64, [8], [0, 0, 1, 1, 0, 0, 1, 1])], "y", Text("mode", "reflect")); break;
            default: b.Node("Conv", ["x", b.Constant(DataType.Float, [3, 1, 2, 2], Values(rng, 12))], "y", OnnxModelBuilder.Int("group", 3)); break;
        }
        var path = b.Save(Path.Combine(_dir, $"bad-{kind}.onnx"));
        var r = CliRunner.Run("inspect", path);
        Assert.Equal(2, r.Exit);
        var line = r.Err.TrimEnd('\n', '\r');
        Assert.DoesNotContain('\n', line);
        Assert.Contains(Path.GetFileName(path), line);
        Assert.Contains($"({op})", line);
        Assert.Contains(problem, line);
    }

    /// <summary>
    /// quantize --to float16 of a CNN rounds the graph's initializers: the written file evaluates in ONNX Runtime as we
    /// model it, every imported weight is a float16 value, and the pair's differential bounds hold at sampled points — with
    /// a kernel weight that underflows to zero, so that the two convolutions' patterns differ and are merged.
    /// </summary>
    [Fact]
    public void Float16TwinOfACnnIsWrittenReadAndBoundedSoundly()
    {
        var path = Build(Path.Combine(_dir, "f32.onnx"), Shape.PadThenConv, seed: 21);
        var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(path));
        var conv = model.Graph.Node.First(x => x.OpType == "Conv");
        model.Graph.Initializer.Single(i => i.Name == conv.Input[1]).FloatData[0] = 1e-9f;
        File.WriteAllBytes(path, Google.Protobuf.MessageExtensions.ToByteArray(model));
        var out16 = Path.Combine(_dir, "f16.onnx");
        var r = CliRunner.Run("quantize", path, "--to", "float16", "--out", out16);
        Assert.True(r.Exit == 0, r.Out + r.Err);
        Assert.Contains("became subnormal or zero", r.Out);
        var n = OnnxImporter.Load(path);
        var h = OnnxImporter.Load(out16);
        foreach (var a in h.Operators.OfType<Affine>())
            foreach (var w in a.Weights.ToArray().Concat(a.Bias.ToArray())) Assert.Equal(FloatFormat.Float16.Round(w), w);
        Assert.NotEqual(((Affine)n.Nodes[0].Operator).Matrix.Count, ((Affine)h.Nodes[0].Operator).Matrix.Count);
        using var ort = new OrtOracle(out16);
        var rng = new Random(8);
        for (var k = 0; k < 100; k++)
        {
            var x = Point(rng, h.InputSize);
            AssertWithinFloat32(h, x, ort.Run(x), 0, $"float16 point {k}");
        }
        var box = TestNetworks.RandomBox(rng, n.InputSize, maxRadius: 0.05, lo: 0, hi: 1);
        var d = DifferentialBounds.Of(n, h, box);
        Assert.Null(d.Notice);
        GraphDifferentialTests.CheckSampled(n, h, d, box, rng, 1000, everyTensor: 300);
        var int8 = CliRunner.Run("quantize", path, "--calibration", Csv1(Point(rng, n.InputSize)), "--out", Path.Combine(_dir, "q.onnx"));
        Assert.Equal(2, int8.Exit);
        Assert.Contains("convolutional", int8.Err);
    }

    /// <summary>The sparse matrix algebra the importer and the differential pass rest on, against dense arithmetic.</summary>
    [Fact]
    public void SparseProductsTransposesAndCommonPatternsMatchDenseArithmetic()
    {
        var rng = new Random(6);
        WeightMatrix Random(int rows, int cols, double density) => WeightMatrix.FromRows(rows, cols, Enumerable.Range(0, rows)
            .Select(_ => (IReadOnlyList<(int, double)>)Enumerable.Range(0, cols).Where(_ => rng.NextDouble() < density).Select(c => (c, rng.NextDouble() - 0.5)).ToList()).ToList());
        for (var t = 0; t < 20; t++)
        {
            var (m, k, n) = (rng.Next(1, 9), rng.Next(1, 9), rng.Next(1, 9));
            var a = Random(m, k, 0.3);
            var b = t % 3 == 0 ? WeightMatrix.Dense(k, n, Values(rng, k * n).ToArray()) : Random(k, n, 0.3);
            var (da, db) = (a.ToDense(), b.ToDense());
            var product = a.Times(b).ToDense();
            for (var i = 0; i < m; i++)
                for (var j = 0; j < n; j++)
                    Assert.Equal(Enumerable.Range(0, k).Sum(q => da[i * k + q] * db[q * n + j]), product[i * n + j], 12);
            var transposed = a.Transpose().ToDense();
            for (var i = 0; i < m; i++) for (var j = 0; j < k; j++) Assert.Equal(da[i * k + j], transposed[j * m + i]);
            var c = Random(m, k, 0.3);
            var (pa, pc) = WeightMatrix.OnCommonPattern(a, c);
            Assert.Equal(pa.Count, pc.Count);
            Assert.Equal(da, pa.ToDense());
            Assert.Equal(c.ToDense(), pc.ToDense());
            var gap = pa.Minus(pc).ToDense();
            var dc = c.ToDense();
            for (var i = 0; i < gap.Length; i++) Assert.Equal(da[i] - dc[i], gap[i]);
        }
    }
}
