using QEquiv.Evaluation;
using QEquiv.Onnx;
using QEquiv.Quantization;
using DataType = QEquiv.Onnx.Proto.TensorProto.Types.DataType;

namespace QEquiv.Tests;

/// <summary>Every benchmark model imports and evaluates like ONNX Runtime (optimizations off).</summary>
public class OnnxRuntimeAgreementTests
{
    public static TheoryData<string> FloatModels()
    {
        var data = new TheoryData<string>();
        foreach (var dir in new[] { "mnistfc", "acasxu", "pairs", "tiny" })
            foreach (var f in Directory.GetFiles(TestData.Bench(dir), "*.onnx").Order())
                data.Add(Path.GetRelativePath(TestData.Benchmarks, f));
        return data;
    }

    public static TheoryData<string> QuantizedModels()
    {
        var data = new TheoryData<string>();
        foreach (var f in Directory.GetFiles(TestData.Bench("pytorch"), "*.onnx").Order())
            data.Add(Path.GetRelativePath(TestData.Benchmarks, f));
        return data;
    }

    [Trait("Speed", "Slow")]
    [Theory]
    [MemberData(nameof(FloatModels))]
    public void FloatModelAgreesWithOnnxRuntime(string relative)
    {
        var path = TestData.Bench(relative);
        var n = OnnxImporter.LoadFloat(path);
        using var ort = new OrtOracle(path);
        var rng = new Random(17);
        var worst = 0.0;
        for (var k = 0; k < 100; k++)
        {
            var x = Enumerable.Range(0, n.InputSize).Select(_ => (float)rng.NextDouble()).ToArray(); // the inputs these networks were trained on are in [0,1]
            var expected = ort.Run(x);
            var actual = FloatEvaluator.Evaluate(n, x);
            Assert.Equal(expected.Length, actual.Length);
            for (var j = 0; j < actual.Length; j++)
                worst = Math.Max(worst, Math.Abs(actual[j] - expected[j]) / Math.Max(1, Math.Abs(expected[j])));
        }
        Assert.True(worst <= 1e-5, $"{relative}: largest (relative above 1) difference {worst}");
    }

    /// <summary>
    /// ORT executes a QDQ graph in float (DQ → float Gemm → Q) while QEquiv executes the integer pipeline
    /// the graph stands for. Both follow the ONNX spec; they can differ only where the float Gemm's
    /// rounding error moves a value across a rounding tie. docs/quantization-semantics.md records the rate.
    /// </summary>
    [Trait("Speed", "Slow")]
    [Theory]
    [MemberData(nameof(QuantizedModels))]
    public void QuantizedModelAgreesWithOnnxRuntime(string relative)
    {
        var path = TestData.Bench(relative);
        var q = OnnxImporter.LoadQuantized(path);
        using var ort = new OrtOracle(path);
        var rng = new Random(23);
        int outputs = 0, different = 0, maxCodes = 0;
        for (var k = 0; k < 200; k++)
        {
            var x = Enumerable.Range(0, q.InputSize).Select(_ => (float)rng.NextDouble()).ToArray();
            var expected = ort.Run(x);
            var actual = QuantizedEvaluator.Evaluate(q, x);
            for (var j = 0; j < actual.Length; j++, outputs++)
            {
                var codes = (int)MathF.Round(MathF.Abs(actual[j] - expected[j]) / q.OutputQuantization.Scale);
                if (codes != 0) different++;
                maxCodes = Math.Max(maxCodes, codes);
            }
        }
        Assert.True(different == 0, $"{relative}: {different} of {outputs} outputs differ, by up to {maxCodes} codes");
    }

    [Fact]
    public void QOperatorModelEvaluatesLikeOnnxRuntime()
    {
        var path = BuildQOperatorModel(Path.Combine(Path.GetTempPath(), $"qop-{Guid.NewGuid():N}.onnx"), new Random(5));
        try
        {
            var q = OnnxImporter.LoadQuantized(path);
            Assert.Equal(3, q.Stages.Count); // QLinearMatMul, DQ+Add+Relu+Q, QLinearMatMul
            Assert.NotNull(q.OutputBias);
            using var ort = new OrtOracle(path);
            var rng = new Random(9);
            for (var k = 0; k < 500; k++)
            {
                var x = Enumerable.Range(0, 6).Select(_ => (float)(rng.NextDouble() * 4 - 2)).ToArray();
                Assert.Equal(ort.Run(x), QuantizedEvaluator.Evaluate(q, x));
            }
        }
        finally { File.Delete(path); }
    }

    /// <summary>
    /// ONNX Runtime's QOperator form for two int8 linear layers: Q → QLinearMatMul → DQ → Add(bias) → Relu →
    /// Q → QLinearMatMul → DQ → Add(bias). int8 activations and weights (ORT's u8×s8 kernels saturate).
    /// </summary>
    internal static string BuildQOperatorModel(string path, Random rng)
    {
        var b = new OnnxModelBuilder("x", [1, 6], "y", 3);
        var s0 = b.Scalar(0.02f); var z0 = b.Zp(DataType.Int8, 3);
        var q0 = b.Node("QuantizeLinear", ["x", s0, z0]);
        var w1 = b.Constant(DataType.Int8, [6, 5], Enumerable.Range(0, 30).Select(_ => (double)rng.Next(-128, 128)));
        var ws1 = b.Scalar(0.01f); var wz1 = b.Zp(DataType.Int8, 0);
        var s1 = b.Scalar(0.05f); var z1 = b.Zp(DataType.Int8, -4);
        var m1 = b.Node("QLinearMatMul", [q0, s0, z0, w1, ws1, wz1, s1, z1]);
        var d1 = b.Node("DequantizeLinear", [m1, s1, z1]);
        var a1 = b.Node("Add", [d1, b.Constant(DataType.Float, [5], Enumerable.Range(0, 5).Select(_ => rng.NextDouble() - 0.5))]);
        var r1 = b.Node("Relu", [a1]);
        var s2 = b.Scalar(0.03f); var z2 = b.Zp(DataType.Int8, -128);
        var q2 = b.Node("QuantizeLinear", [r1, s2, z2]);
        var w2 = b.Constant(DataType.Int8, [5, 3], Enumerable.Range(0, 15).Select(_ => (double)rng.Next(-128, 128)));
        var ws2 = b.Constant(DataType.Float, [3], [0.01, 0.02, 0.015]); var wz2 = b.Constant(DataType.Int8, [3], [0, 0, 0]);
        var s3 = b.Scalar(0.04f); var z3 = b.Zp(DataType.Int8, 1);
        var m2 = b.Node("QLinearMatMul", [q2, s2, z2, w2, ws2, wz2, s3, z3]);
        var d2 = b.Node("DequantizeLinear", [m2, s3, z3]);
        b.Node("Add", [d2, b.Constant(DataType.Float, [3], [0.1, -0.2, 0.05])], "y");
        return b.Save(path);
    }
}

/// <summary>Float operators the benchmarks do not all use, checked against ONNX Runtime on a model built here.</summary>
public class FloatOperatorTests
{
    [Fact]
    public void NormalisationGemmVariantsAndNoOpsAgreeWithOnnxRuntime()
    {
        var rng = new Random(3);
        double[] R(int n) => Enumerable.Range(0, n).Select(_ => rng.NextDouble() * 2 - 1).ToArray();
        var b = new OnnxModelBuilder("x", [1, 4, 1], "y", 2);
        var flat = b.Node("Reshape", ["x", b.Constant(DataType.Int64, [2], [1, -1])]);
        var sub = b.Node("Sub", [flat, b.Constant(DataType.Float, [4], [0.1, 0.2, 0.3, 0.4])]);
        var div = b.Node("Div", [sub, b.Constant(DataType.Float, [1], [0.5])]);
        var g1 = b.Node("Gemm", [div, b.Constant(DataType.Float, [4, 3], R(12)), b.Constant(DataType.Float, [3], R(3))], null,
            OnnxModelBuilder.Int("transB", 0), new Onnx.Proto.AttributeProto { Name = "alpha", Type = Onnx.Proto.AttributeProto.Types.AttributeType.Float, F = 0.7f },
            new Onnx.Proto.AttributeProto { Name = "beta", Type = Onnx.Proto.AttributeProto.Types.AttributeType.Float, F = 1.5f });
        var drop = b.Node("Dropout", [g1]);
        var relu = b.Node("Relu", [drop]);
        var id = b.Node("Identity", [relu]);
        var mm = b.Node("MatMul", [id, b.Constant(DataType.Float, [3, 2], R(6))]);
        var mul = b.Node("Mul", [b.Constant(DataType.Float, [2], [2, -1]), mm]);
        b.Node("Add", [b.Constant(DataType.Float, [2], R(2)), mul], "y");
        var path = b.Save(Path.Combine(Path.GetTempPath(), $"float-ops-{Guid.NewGuid():N}.onnx"));
        try
        {
            var n = OnnxImporter.LoadFloat(path);
            Assert.Equal(2, n.Layers.Count); // normalisation folded into the first layer; Mul/Add into the second
            using var ort = new OrtOracle(path);
            for (var k = 0; k < 200; k++)
            {
                var x = Enumerable.Range(0, 4).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
                var expected = ort.Run(x);
                var actual = FloatEvaluator.Evaluate(n, x);
                for (var j = 0; j < 2; j++) Assert.Equal(expected[j], actual[j], 1e-5);
            }
        }
        finally { File.Delete(path); }
    }
}
