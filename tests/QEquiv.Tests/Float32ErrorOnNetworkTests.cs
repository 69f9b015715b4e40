using QEquiv.Evaluation;
using QEquiv.Model;
using QEquiv.Networks;
using QEquiv.Onnx;
using QEquiv.Regions;

namespace QEquiv.Tests;

/// <summary>
/// N's float32 error bound at a point, operator by operator on a <see cref="Network"/>, is the layered view's bound to
/// the bit (so the witness rule is unchanged by the move), the sequential float32 evaluation likewise, and a quantized
/// network — computed in the runtime's arithmetic already — has no error to allow for.
/// </summary>
public class Float32ErrorOnNetworkTests
{
    [Theory]
    [InlineData("mnistfc/mnist-net_256x2.onnx", "mnistfc/prop_0_0.03.vnnlib")]
    [InlineData("acasxu/ACASXU_run2a_1_1_batch_2000.onnx", "acasxu/props/prop_1.vnnlib")]
    public void PointBoundOnTheGraphEqualsTheLayeredOne(string model, string region)
    {
        var graph = OnnxImporter.Load(TestData.Bench(model));
        var layered = Layering.ToFloat(graph);
        var box = VnnLib.ParseBox(TestData.Bench(region)).Box;
        var rng = new Random(1);
        for (var k = 0; k < 20; k++)
        {
            var x = TestNetworks.SamplePoint(rng, box);
            var refine = Enumerable.Range(0, graph.OutputSize).Select(_ => rng.Next(2) == 0).ToArray();
            Assert.Equal(Float32Error.AtPoint(layered, x), Float32Error.AtPoint(graph, x));
            Assert.Equal(Float32Error.AtPoint(layered, x, refine), Float32Error.AtPoint(graph, x, refine));
            Assert.Equal(FloatEvaluator.EvaluateFloat32(layered, x), Float32Sequential.Evaluate(graph, x));
        }
    }

    [Fact]
    public void QuantizedNetworkHasNoFloat32Error()
    {
        var q = OnnxImporter.Load(TestData.Bench("pytorch/mnist-net_256x2.qnnpack-qdq.onnx"));
        var x = new float[q.InputSize];
        Array.Fill(x, 0.5f);
        Assert.All(Float32Error.AtPoint(q, x), e => Assert.Equal(0, e));
        Assert.Equal(Array.ConvertAll(q.Evaluate(x), v => (float)v), Float32Sequential.Evaluate(q, x));
    }

    [Fact]
    public void ErrorReachingARoundingIsUnbounded()
    {
        // Affine then Quantize: N's float32 error could flip the rounding, which no finite bound covers.
        var n = Network.Chain("t", [2], "x", [new Affine(2, 1, [0.3, 0.7], [0.1]), new Quantize(1, new Quantization.QuantParams(0.1f, 0, Quantization.QuantType.Int8))]);
        Assert.Equal(double.PositiveInfinity, Float32Error.AtPoint(n, [0.25f, 0.5f])[0]);
    }
}
