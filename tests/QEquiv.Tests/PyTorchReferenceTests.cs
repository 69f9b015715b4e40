using QEquiv.Model;
using QEquiv.Data;
using QEquiv.Networks;
using QEquiv.Evaluation;
using QEquiv.Onnx;
using QEquiv.Quantization;

namespace QEquiv.Tests;

/// <summary>The quantized evaluator against PyTorch's own outputs, bit for bit.</summary>
public class PyTorchReferenceTests
{
    public static TheoryData<string, string> Models => new()
    {
        { "mnist-net_256x2", "mnist-net_256x2.qnnpack" },
        { "mnist-net_256x4", "mnist-net_256x4.qnnpack" },
        { "mnist-net_256x6", "mnist-net_256x6.qnnpack" },
        { "mnist-net_256x2", "mnist-net_256x2.qnnpack-perchannel" },
        { "mnist-net_256x2", "mnist-net_256x2.qnnpack-minmax" },
    };

    private static readonly List<float[]> Inputs = Csv.ReadRows(TestData.Bench("pytorch/inputs.csv"));

    [Trait("Speed", "Slow")]
    [Theory]
    [MemberData(nameof(Models))]
    public void QuantizedEvaluatorReproducesPyTorchBitForBit(string floatModel, string quantized)
    {
        var (_, q) = OnnxImporter.LoadPair(TestData.Bench($"mnistfc/{floatModel}.onnx"), TestData.Bench($"pytorch/{quantized}-qdq.onnx"), Runtime.PyTorch);
        var expected = Csv.ReadRows(TestData.Bench($"pytorch/{quantized}-outputs.csv"));
        Assert.Equal(300, Inputs.Count);
        Assert.Equal(Inputs.Count, expected.Count);
        var mismatches = new List<string>();
        for (var r = 0; r < Inputs.Count; r++)
        {
            var y = q.Evaluate(Inputs[r]).Select(v => (float)v).ToArray();
            for (var j = 0; j < y.Length; j++)
                if (BitConverter.SingleToInt32Bits(y[j]) != BitConverter.SingleToInt32Bits(expected[r][j]))
                    mismatches.Add($"row {r} output {j}: {y[j]:R} vs PyTorch {expected[r][j]:R}");
        }
        Assert.True(mismatches.Count == 0, $"{mismatches.Count} mismatches, first: {string.Join("; ", mismatches.Take(5))}");
    }

    [Fact]
    public void ExportedBiasIsTruncatedWhilePyTorchRounds()
    {
        // Documents why Runtime.PyTorch exists: the file's int32 biases are trunc(b/s), PyTorch's are round(b/s).
        var n = OnnxImporter.Load(TestData.Bench("mnistfc/mnist-net_256x2.onnx"));
        var file = OnnxImporter.Load(TestData.Bench("pytorch/mnist-net_256x2.qnnpack-qdq.onnx"));
        var torch = RuntimeSemantics.WithPyTorchBias(file, n);
        Assert.Equal(Runtime.PyTorch, torch.Runtime);
        var affine = n.Operators.OfType<Affine>().ToList();
        var fileLayers = file.Operators.OfType<IntegerLinear>().ToList();
        var torchLayers = torch.Operators.OfType<IntegerLinear>().ToList();
        Assert.Equal(3, fileLayers.Count);
        var differing = 0;
        for (var k = 0; k < fileLayers.Count; k++)
        {
            var a = fileLayers[k];
            var b = torchLayers[k];
            for (var j = 0; j < a.OutputSize; j++)
            {
                var exact = affine[k].Bias[j] / ((double)a.Input.Scale * a.WeightScales[j]);
                Assert.Equal((int)Math.Truncate(exact), a.Bias[j]);
                Assert.True(Math.Abs(b.Bias[j] - exact) <= 0.5 + 1e-6);
                if (a.Bias[j] != b.Bias[j]) differing++;
            }
        }
        Assert.True(differing > 100, $"only {differing} biases differ");
    }

    [Theory]
    [InlineData("mnist-net_256x2")]
    [InlineData("mnist-net_256x4")]
    [InlineData("mnist-net_256x6")]
    public void FloatEvaluatorMatchesPyTorchWithin1e5(string name)
    {
        var n = OnnxImporter.Load(TestData.Bench($"mnistfc/{name}.onnx"));
        var expected = Csv.ReadRows(TestData.Bench($"pytorch/{name}.float-outputs.csv"));
        var worst = 0.0;
        for (var r = 0; r < Inputs.Count; r++)
        {
            var y = n.Evaluate(Inputs[r]);
            for (var j = 0; j < y.Length; j++) worst = Math.Max(worst, Math.Abs(y[j] - expected[r][j]));
        }
        Assert.True(worst <= 1e-5, $"largest difference {worst}");
    }
}
