using QEquiv.Data;
using QEquiv.Evaluation;
using QEquiv.Onnx;
using QEquiv.Quantization;

namespace QEquiv.Tests;

/// <summary>`qequiv quantize` end to end, and its bad inputs: one line naming the file, exit 2, no output file.</summary>
[Collection("Console")]
public sealed class QuantizeCliTests : IDisposable
{
    private readonly TempFiles _temp = new();
    public void Dispose() => _temp.Dispose();

    private static readonly string Float = TestData.Bench("mnistfc/mnist-net_256x2.onnx");
    private static readonly string Mnist100 = TestData.Bench("mnist/mnist_test_100.csv");

    private string Out => Path.Combine(_temp.Dir, "q.onnx");

    private (int Exit, string Out, string Err) Quantize(params string[] extra) =>
        CliRunner.Run(["quantize", .. extra, "--out", Out]);

    private void AssertBadInput((int Exit, string Out, string Err) r, string file, string problem)
    {
        Assert.Equal(2, r.Exit);
        var line = r.Err.TrimEnd('\n', '\r');
        Assert.DoesNotContain('\n', line);
        Assert.Contains(file, line);
        Assert.Contains(problem, line);
        Assert.False(File.Exists(Out), "nothing may be written on bad input");
        Assert.Empty(Directory.GetFiles(_temp.Dir, "*.tmp"));
    }

    [Fact]
    public void QuantizesTheMnistNetworkFromTheRawMnistCsvLikePyTorch()
    {
        var r = Quantize(Float, "--calibration", Mnist100, "--skip-columns", "1", "--divide-by", "255", "--observer", "minmax");
        Assert.True(r.Exit == 0, r.Err);
        Assert.Contains("layer 2", r.Out);
        Assert.Contains("largest |N - Q| on the 100 calibration rows", r.Out);
        // Same file as the library path gives, and PyTorch's MinMax outputs bit for bit.
        var q = OnnxImporter.LoadQuantized(Out);
        var inputs = Csv.ReadRows(TestData.Bench("pytorch/inputs.csv"));
        var expected = Csv.ReadRows(TestData.Bench("pytorch/mnist-net_256x2.qnnpack-minmax-outputs.csv"));
        for (var row = 0; row < inputs.Count; row += 7)
            Assert.Equal(expected[row], QuantizedEvaluator.Evaluate(q, inputs[row]));
    }

    private static readonly string Acas = TestData.Bench("isomorphic/nets/ACASXU_run2a_1_1_batch_2000.onnx");

    /// <summary>
    /// `quantize --to float16 --round-activations` on ACAS Xu 1_1, then every command on (N, its twin): eval, inspect,
    /// max-error — whose certified bound is at least every |N − N16| sampled on the box, by ONNX Runtime on both files
    /// and by QEquiv's exact evaluation — and verify, which proves δ above that bound and never below a sampled difference;
    /// a bfloat16 twin is falsified below its sampled difference. (Its MILPs also crashed SCIP before multi-aggregation was
    /// switched off for them.)
    /// </summary>
    [Trait("Speed", "Slow")]
    [Fact]
    public void Float16TwinOfAcasXuIsAcceptedByEveryCommandAndVerifiedConsistentlyWithSampling()
    {
        var json = Path.Combine(_temp.Dir, "q.json");
        var r = Quantize(Acas, "--to", "float16", "--round-activations", "--json", json);
        Assert.True(r.Exit == 0, r.Err);
        Assert.Contains("to float16 (nearest, ties to even)", r.Out);
        using (var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(json)))
        {
            Assert.Equal("float16", doc.RootElement.GetProperty("format").GetString());
            Assert.True(doc.RootElement.GetProperty("roundActivations").GetBoolean());
            Assert.Equal(13305, doc.RootElement.GetProperty("parameters").GetInt32());
        }
        var center = new[] { -0.30353115, 0.0095492966, 0.49, 0.40, 0.40 };
        var centerCsv = _temp.Write("c.csv", string.Join(",", center.Select(v => v.ToString("R", System.Globalization.CultureInfo.InvariantCulture))) + "\n");
        const double eps = 0.001;
        var box = Regions.Box.LInfBall(center, eps);
        var rng = new Random(12);
        var points = Enumerable.Range(0, 2000).Select(_ => TestNetworks.SamplePoint(rng, box)).ToList();
        var inputs = _temp.Write("x.csv", string.Join("\n", points.Take(20).Select(p => string.Join(",", p.Select(v => v.ToString("R", System.Globalization.CultureInfo.InvariantCulture))))) + "\n");

        var eval = CliRunner.Run("eval", "--float", Acas, "--quant", Out, "--inputs", inputs, "--summary");
        Assert.True(eval.Exit == 0, eval.Err);
        var inspect = CliRunner.Run("inspect", Out);
        Assert.True(inspect.Exit == 0, inspect.Err);
        Assert.Contains("FloatRound", inspect.Out);
        Assert.Contains("float network", inspect.Out);

        // Sampled |N − N16|: ONNX Runtime on both files, and the exact evaluation of both graphs.
        var (n, twin) = OnnxImporter.LoadPair(Acas, Out, Runtime.Onnx);
        using var ortN = new OrtOracle(Acas);
        using var ortTwin = new OrtOracle(Out);
        var sampled = new double[5];
        foreach (var x in points)
        {
            var (a, b) = (ortN.Run(x), ortTwin.Run(x));
            var (ea, eb) = (n.Evaluate(x), twin.Evaluate(x));
            for (var j = 0; j < 5; j++) sampled[j] = Math.Max(sampled[j], Math.Max(Math.Abs(a[j] - (double)b[j]), Math.Abs(ea[j] - eb[j])));
        }

        var maxError = CliRunner.Run("max-error", "--float", Acas, "--quant", Out, "--center", centerCsv, "--eps", "0.001",
            "--timeout", "8", "--lp-budget", "0", "--json", "-", "--quiet");
        Assert.True(maxError.Exit == 0, maxError.Err);
        double lowest = double.PositiveInfinity, highest = 0;
        using (var doc = System.Text.Json.JsonDocument.Parse(maxError.Out))
        {
            foreach (var o in doc.RootElement.GetProperty("perOutput").EnumerateArray())
            {
                var (j, lower, upper) = (o.GetProperty("output").GetInt32(), o.GetProperty("lower").GetDouble(), o.GetProperty("upper").GetDouble());
                Assert.True(upper >= sampled[j], $"output {j}: certified {upper} below the sampled {sampled[j]}");
                Assert.True(lower <= upper && lower > 0, $"output {j}: witnessed {lower}, certified {upper}");
                Assert.True(upper < 0.05, $"output {j}: certified {upper} is useless on this box");
                (lowest, highest) = (Math.Min(lowest, lower), Math.Max(highest, upper));
            }
            Assert.True(doc.RootElement.GetProperty("upper").GetDouble() >= sampled.Max());
        }
        var verified = CliRunner.Run("verify", "--float", Acas, "--quant", Out, "--center", centerCsv, "--eps", "0.001",
            "--delta", (2 * highest).ToString("R", System.Globalization.CultureInfo.InvariantCulture), "--timeout", "60", "--quiet");
        Assert.True(verified.Exit == 0, verified.Out + verified.Err);
        Assert.StartsWith("verified", verified.Out);
        // Below a sampled difference it is never verified. (No witness either: at such a point a float32 runtime can round a
        // float16 activation the other way, and a witness must break δ in every evaluation, by more than both float32
        // error bounds, here ~10⁻² against differences of ~10⁻³.)
        var below = CliRunner.Run("verify", "--float", Acas, "--quant", Out, "--center", centerCsv, "--eps", "0.001",
            "--delta", (sampled.Max() / 2).ToString("R", System.Globalization.CultureInfo.InvariantCulture), "--timeout", "8", "--quiet");
        Assert.True(below.Exit is 10 or 20, below.Out + below.Err);

        // A bfloat16 twin (weights only) differs by more than the float32 errors: falsified below its sampled difference.
        Assert.Equal(0, Quantize(Acas, "--to", "bfloat16", "--quiet").Exit);
        using var ortB = new OrtOracle(Out);
        var sampledB = points.Max(x => ortN.Run(x).Zip(ortB.Run(x), (a, b) => Math.Abs(a - (double)b)).Max());
        var witnessed = CliRunner.Run("verify", "--float", Acas, "--quant", Out, "--center", centerCsv, "--eps", "0.001",
            "--delta", (sampledB / 2).ToString("R", System.Globalization.CultureInfo.InvariantCulture), "--timeout", "60", "--quiet");
        Assert.True(witnessed.Exit == 10, witnessed.Out + witnessed.Err);
        Assert.StartsWith("falsified", witnessed.Out);
    }

    [Fact]
    public void Bfloat16WeightsOnlyReportsTheLargestDifferenceOnCalibrationRows()
    {
        var rows = _temp.Write("rows.csv", "0.6,0,0,0.45,-0.45\n-0.3,0.01,0.49,0.4,0.4\n0.1,-0.2,0.3,0.2,0.1\n");
        var r = Quantize(Acas, "--to", "bfloat16", "--calibration", rows);
        Assert.True(r.Exit == 0, r.Err);
        Assert.Contains("rounded weights and biases to bfloat16", r.Out);
        Assert.Contains("largest |N - N_bfloat16| on the 3 calibration rows", r.Out);
        var twin = OnnxImporter.Load(Out);
        Assert.DoesNotContain(twin.Operators, o => o is Model.FloatRound);
        foreach (var a in twin.Operators.OfType<Model.Affine>())
            foreach (var w in a.Weights) Assert.Equal(FloatFormat.BFloat16.Round(w), w);
    }

    [Fact]
    public void BadHalfPrecisionOptions()
    {
        AssertBadInput(Quantize(Acas, "--to", "fp8"), "fp8", "float16");
        AssertBadInput(Quantize(Acas, "--to", "float16", "--per-channel"), "--per-channel", "int8");
        AssertBadInput(Quantize(Acas, "--to", "bfloat16", "--observer", "minmax"), "--observer", "int8");
        AssertBadInput(Quantize(Acas, "--round-activations", "--calibration", Mnist100), "--round-activations", "float16");
        AssertBadInput(Quantize(Acas), "--calibration", "int8");
        // A weight beyond float16's range would become ±∞.
        var b = new OnnxModelBuilder("x", [1, 2], "y", 1);
        b.Node("Gemm", ["x", b.Constant(Onnx.Proto.TensorProto.Types.DataType.Float, [1, 2], [1e5, 1]), b.Constant(Onnx.Proto.TensorProto.Types.DataType.Float, [1], [0])], "y",
            OnnxModelBuilder.Int("transB", 1));
        var big = b.Save(Path.Combine(_temp.Dir, "big.onnx"));
        AssertBadInput(Quantize(big, "--to", "float16"), "big.onnx", "beyond float16's range");
        Assert.Equal(0, Quantize(big, "--to", "bfloat16").Exit);
    }

    [Fact]
    public void MissingFloatModel() =>
        AssertBadInput(Quantize(Path.Combine(_temp.Dir, "absent.onnx"), "--calibration", Mnist100), "absent.onnx", "cannot read");

    [Fact]
    public void QuantizedModelGivenAsFloat() =>
        AssertBadInput(Quantize(TestData.Bench("pytorch/mnist-net_256x2.qnnpack-qdq.onnx"), "--calibration", Mnist100),
            "qnnpack-qdq.onnx", "quantized graph");

    [Fact]
    public void CalibrationRowsOfTheWrongLength() =>
        AssertBadInput(Quantize(Float, "--calibration", Mnist100), "mnist_test_100.csv", "rows have 785 values; the model takes 784");

    [Fact]
    public void EmptyCalibration()
    {
        var path = _temp.Write("empty.csv", "\n# nothing\n");
        AssertBadInput(Quantize(Float, "--calibration", path), "empty.csv", "empty");
    }

    [Fact]
    public void BadOptionValues()
    {
        AssertBadInput(Quantize(Float, "--calibration", Mnist100, "--observer", "percentile"), "percentile", "histogram");
        AssertBadInput(Quantize(Float, "--calibration", Mnist100, "--skip-columns", "1", "--divide-by", "0"), "--divide-by", "> 0");
        AssertBadInput(Quantize(Float, "--calibration", Mnist100, "--activations", "int4"), "int4", "uint8");
    }
}
