using QEquiv.Data;
using QEquiv.Evaluation;
using QEquiv.Onnx;

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
