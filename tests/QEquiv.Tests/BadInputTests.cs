using DataType = QEquiv.Onnx.Proto.TensorProto.Types.DataType;

namespace QEquiv.Tests;

/// <summary>Every kind of bad input ends in one line naming the file and the problem, and exit code 2.</summary>
[Collection("Console")]
public sealed class BadInputTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("qequiv-bad-").FullName;
    private static readonly string Float = TestData.Bench("mnistfc/mnist-net_256x2.onnx");
    private static readonly string Quant = TestData.Bench("pytorch/mnist-net_256x2.qnnpack-qdq.onnx");
    private static readonly string Inputs = TestData.Bench("pytorch/inputs.csv");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static void AssertBadInput((int Exit, string Out, string Err) r, string file, string problem)
    {
        Assert.Equal(2, r.Exit);
        var line = r.Err.TrimEnd('\n', '\r');
        Assert.DoesNotContain('\n', line);
        Assert.Contains(Path.GetFileName(file), line);
        Assert.Contains(problem, line);
    }

    [Fact]
    public void TruncatedOnnx()
    {
        var path = Path.Combine(_dir, "truncated.onnx");
        File.WriteAllBytes(path, File.ReadAllBytes(Float)[..5000]);
        AssertBadInput(CliRunner.Run("inspect", path), path, "not a valid ONNX protobuf");
    }

    [Fact]
    public void NnetWithWrongSizes()
    {
        // The sizes line ends in 3 outputs where the counts say 5: caught before any model of the pair is used.
        var path = Path.Combine(_dir, "wrong.nnet");
        var lines = File.ReadAllLines(TestData.Bench("neurodiff/nnet/ACASXU_run2a_1_1_batch_2000.nnet"));
        var sizes = Array.FindIndex(lines, l => l.StartsWith("5,50,"));
        lines[sizes] = lines[sizes][..^2] + "3,";
        File.WriteAllLines(path, lines);
        AssertBadInput(CliRunner.Run("max-error", "--float", path, "--quant", Quant, "--center", Path.Combine(TestData.RepoRoot, "bench/centers/row0.csv"), "--eps", "0.01"),
            path, "the last layer size 3 is not the output count 5");
    }

    [Fact]
    public void GarbageOnnx()
    {
        var path = Path.Combine(_dir, "garbage.onnx");
        var bytes = new byte[4096];
        new Random(1).NextBytes(bytes);
        File.WriteAllBytes(path, bytes);
        AssertBadInput(CliRunner.Run("eval", "--float", path, "--quant", Quant, "--inputs", Inputs), path, "ONNX");
    }

    [Fact]
    public void MissingFile() =>
        AssertBadInput(CliRunner.Run("inspect", Path.Combine(_dir, "absent.onnx")), "absent.onnx", "cannot read");

    [Fact]
    public void UnsupportedOperator()
    {
        var b = new OnnxModelBuilder("x", [1, 3], "y", 2);
        var h = b.Node("MatMul", ["x", b.Constant(DataType.Float, [3, 2], [1, 2, 3, 4, 5, 6])]);
        b.Node("Sigmoid", [h], "y");
        var path = b.Save(Path.Combine(_dir, "sigmoid.onnx"));
        AssertBadInput(CliRunner.Run("inspect", path), path, "(Sigmoid): unsupported operator");
    }

    [Fact]
    public void QuantizedModelWithAnotherInputSize()
    {
        var other = TestData.Bench("pairs/ACASXU_run2a_1_1.onnx");
        AssertBadInput(CliRunner.Run("eval", "--float", other, "--quant", Quant, "--inputs", Inputs), Quant, "takes 784 inputs but the float model");
    }

    [Theory]
    [InlineData(0f, "scale 0 is invalid")]
    [InlineData(float.NaN, "scale NaN is invalid")]
    [InlineData(-0.5f, "scale -0.5 is invalid")]
    public void InvalidScale(float scale, string problem)
    {
        var b = new OnnxModelBuilder("x", [1, 2], "y", 2);
        var s = b.Scalar(scale);
        var z = b.Zp(DataType.Uint8, 0);
        var q = b.Node("QuantizeLinear", ["x", s, z]);
        var w = b.Node("DequantizeLinear", [b.Constant(DataType.Int8, [2, 2], [1, 2, 3, 4]), b.Scalar(0.1f), b.Zp(DataType.Int8, 0)]);
        var d = b.Node("DequantizeLinear", [q, s, z]);
        var m = b.Node("MatMul", [d, w]);
        var s2 = b.Scalar(0.1f);
        var q2 = b.Node("QuantizeLinear", [m, s2, z]);
        b.Node("DequantizeLinear", [q2, s2, z], "y");
        var path = b.Save(Path.Combine(_dir, "scale.onnx"));
        AssertBadInput(CliRunner.Run("inspect", path), path, problem);
    }

    [Fact]
    public void InputRowOfWrongLength()
    {
        var path = Path.Combine(_dir, "short.csv");
        File.WriteAllText(path, string.Join(",", Enumerable.Repeat("0.5", 784)) + "\n" + string.Join(",", Enumerable.Repeat("0.5", 783)) + "\n");
        AssertBadInput(CliRunner.Run("eval", "--float", Float, "--quant", Quant, "--inputs", path), path, "line 2 has 783 values");
    }

    [Fact]
    public void InputRowsOfAnotherModel()
    {
        var path = Path.Combine(_dir, "acas.csv");
        File.WriteAllText(path, "0.1,0.2,0.3,0.4,0.5\n");
        AssertBadInput(CliRunner.Run("eval", "--float", Float, "--quant", Quant, "--inputs", path), path, "rows have 5 values, the model takes 784");
    }

    [Fact]
    public void NonNumericInput()
    {
        var path = Path.Combine(_dir, "text.csv");
        File.WriteAllText(path, "0.1,abc\n");
        AssertBadInput(CliRunner.Run("eval", "--float", Float, "--quant", Quant, "--inputs", path), path, "'abc' is not a number");
    }

    [Fact]
    public void QuantizedModelGivenAsTheReferenceOfAFloatOne() =>
        AssertBadInput(CliRunner.Run("eval", "--float", Quant, "--quant", Float, "--inputs", Inputs), Quant, "swap them");

    [Fact]
    public void PyTorchRuntimeWithTwoFloatModels() =>
        AssertBadInput(CliRunner.Run("eval", "--float", Float, "--quant", Float, "--runtime", "pytorch", "--inputs", Inputs), Float,
            "--runtime pytorch applies to a quantized model");

    private string[] Verify(params string[] region) =>
        ["verify", "--float", Float, "--quant", Quant, "--delta", "0.05", "--witness", Path.Combine(_dir, "w.csv"), .. region];

    private string Row(string name, double value, int count = 784)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, string.Join(",", Enumerable.Repeat(value.ToString(System.Globalization.CultureInfo.InvariantCulture), count)) + "\n");
        return path;
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-0.1")]
    [InlineData("NaN")]
    public void NonPositiveDelta(string delta)
    {
        var args = Verify("--center", Row("c.csv", 0.5), "--eps", "0.01");
        args[Array.IndexOf(args, "0.05")] = delta;
        var r = CliRunner.Run(args);
        Assert.Equal(2, r.Exit);
        Assert.Contains("--delta", r.Err);
        Assert.Single(r.Err.TrimEnd().Split('\n'));
    }

    [Fact]
    public void InvertedBox()
    {
        var lo = Row("lo.csv", 0.6);
        var hi = Row("hi.csv", 0.4);
        AssertBadInput(CliRunner.Run(Verify("--box", lo, hi)), "lo.csv", "empty or inverted box at input 0");
    }

    [Fact]
    public void VnnLibWithoutInputBounds()
    {
        var path = Path.Combine(_dir, "outputs-only.vnnlib");
        File.WriteAllText(path, "(declare-const X_0 Real)\n(declare-const Y_0 Real)\n(assert (<= Y_0 1))\n");
        AssertBadInput(CliRunner.Run(Verify("--vnnlib", path)), path, "no input bounds");
    }

    [Fact]
    public void RegionOfAnotherDimension() =>
        AssertBadInput(CliRunner.Run(Verify("--center", Row("c5.csv", 0.5, 5), "--eps", "0.01")), "c5.csv", "the region has 5 inputs but the models take 784");

    [Fact]
    public void TwoRegionsAtOnce()
    {
        var r = CliRunner.Run(Verify("--center", Row("c.csv", 0.5), "--eps", "0.01", "--vnnlib", TestData.Bench("mnistfc/prop_0_0.03.vnnlib")));
        Assert.Equal(2, r.Exit);
        Assert.Contains("exactly one region", r.Err);
    }

    [Fact]
    public void NonPositiveEps() =>
        AssertBadInput(CliRunner.Run(Verify("--center", Row("c.csv", 0.5), "--eps", "0")), "c.csv", "eps must be a finite number > 0");
}
