using QEquiv.Evaluation;
using QEquiv.Model;
using QEquiv.Networks;
using QEquiv.Onnx;
using QEquiv.Quantization;
using QEquiv.Regions;
using QEquiv.Verification;
using DataType = QEquiv.Onnx.Proto.TensorProto.Types.DataType;

namespace QEquiv.Tests;

/// <summary>The operator-graph network model: import, exact evaluation, the layered views, fingerprints, runtimes.</summary>
public class NetworkModelTests
{
    public static TheoryData<string> AllModels()
    {
        var data = new TheoryData<string>();
        foreach (var dir in new[] { "mnistfc", "acasxu", "pairs", "tiny", "pytorch" })
            foreach (var f in Directory.GetFiles(TestData.Bench(dir), "*.onnx").Order())
                data.Add(Path.GetRelativePath(TestData.Benchmarks, f));
        return data;
    }

    /// <summary>
    /// The graph's evaluator and the layered evaluators the analyses use compute the same values to the bit, and the
    /// layered view turned back into a graph is the same arithmetic (same fingerprint): the views lose nothing.
    /// </summary>
    [Trait("Speed", "Slow")]
    [Theory]
    [MemberData(nameof(AllModels))]
    public void GraphEvaluationEqualsTheLayeredViewBitForBit(string relative)
    {
        var g = OnnxImporter.Load(TestData.Bench(relative));
        var rng = new Random(41);
        if (g.IsQuantized)
        {
            var q = Layering.ToQuantized(g);
            Assert.Equal(g.Fingerprint, Layering.ToGraph(q).Fingerprint);
            for (var k = 0; k < 50; k++)
            {
                var x = Enumerable.Range(0, g.InputSize).Select(_ => (float)(rng.NextDouble() * 1.2 - 0.1)).ToArray();
                var expected = QuantizedEvaluator.Evaluate(q, x);
                var actual = g.Evaluate(x);
                for (var j = 0; j < expected.Length; j++)
                    Assert.Equal(BitConverter.SingleToInt32Bits(expected[j]), BitConverter.SingleToInt32Bits((float)actual[j]));
            }
        }
        else
        {
            var n = Layering.ToFloat(g);
            Assert.Equal(g.Fingerprint, Layering.ToGraph(n).Fingerprint);
            for (var k = 0; k < 50; k++)
            {
                var x = Enumerable.Range(0, g.InputSize).Select(_ => rng.NextDouble() * 1.2 - 0.1).ToArray();
                Assert.Equal(FloatEvaluator.Evaluate(n, x), g.Evaluate(x));
            }
        }
    }

    [Fact]
    public void AQuantizedGraphIsQuantizeIntegerLinearRequantizeAndDequantize()
    {
        var g = OnnxImporter.Load(TestData.Bench("pytorch/mnist-net_256x2.qnnpack-qdq.onnx"));
        var kinds = g.Operators.Where(o => o is not Reshape).Select(o => o.GetType().Name).ToList();
        Assert.Equal(["Quantize", "IntegerLinear", "Requantize", "Clamp", "IntegerLinear", "Requantize", "Clamp", "IntegerLinear", "Requantize", "Dequantize"], kinds);
        var f = OnnxImporter.Load(TestData.Bench("mnistfc/mnist-net_256x2.onnx"));
        Assert.False(f.IsQuantized);
        Assert.Equal(["Affine", "Relu", "Affine", "Relu", "Affine"], f.Operators.Select(o => o.GetType().Name).ToList());
    }

    /// <summary>
    /// The runtime is applied into Q's operators at import: its biases (and so its fingerprint) differ between
    /// onnx and pytorch, and so do the job fingerprints — a log or a cluster worker can never mix them up.
    /// </summary>
    [Fact]
    public void TheRuntimeChangesTheNetworkAndTheJobFingerprint()
    {
        var f = TestData.Bench("mnistfc/mnist-net_256x2.onnx");
        var qf = TestData.Bench("pytorch/mnist-net_256x2.qnnpack-qdq.onnx");
        var (n, onnx) = OnnxImporter.LoadPair(f, qf, Runtime.Onnx);
        var (_, torch) = OnnxImporter.LoadPair(f, qf, Runtime.PyTorch);
        Assert.Equal(Runtime.Onnx, onnx.Runtime);
        Assert.Equal(Runtime.PyTorch, torch.Runtime);
        Assert.NotEqual(onnx.Fingerprint, torch.Fingerprint);
        Assert.Equal(onnx.Fingerprint, OnnxImporter.LoadPair(f, qf, Runtime.Onnx).Other.Fingerprint);

        var box = Box.LInfBall(new double[n.InputSize], 0.01);
        var options = new VerifyOptions(0.05);
        var settings = (options with { Runtime = Runtime.Onnx }).JobSettings();
        var fpOnnx = JobPlan.FingerprintOf(n.Fingerprint, onnx.Fingerprint, box, 0.05, settings);
        var plan = new JobPlan(fpOnnx, box, 0.05, [], [], Bounds.IntervalBounds.Of(n, box).Nodes, [], settings);
        Assert.True(plan.IsFor(n, onnx));
        Assert.False(plan.IsFor(n, torch));
        // The plan's settings carry the runtime, so a worker that reads it loads the same network.
        var reread = JobPlan.FromJson(plan.ToJson());
        Assert.Equal(Runtime.Onnx, reread.Settings.Runtime);
        var torchPlan = plan with
        {
            Settings = settings with { Runtime = Runtime.PyTorch },
            Fingerprint = JobPlan.FingerprintOf(n.Fingerprint, torch.Fingerprint, box, 0.05, settings with { Runtime = Runtime.PyTorch }),
        };
        Assert.Equal(Runtime.PyTorch, JobPlan.FromJson(torchPlan.ToJson()).Settings.Runtime);
        Assert.True(torchPlan.IsFor(n, OnnxImporter.LoadPair(f, qf, JobPlan.FromJson(torchPlan.ToJson()).Settings.Runtime).Other));
    }

    /// <summary>
    /// PyTorch-style export with (x − mean) / std inside the graph before the input's QuantizeLinear: the normalisation is
    /// float32 Sub and Div operators of Q's graph, and Q evaluates bit for bit as ONNX Runtime does.
    /// </summary>
    [Fact]
    public void NormalisationBeforeQuantizeLinearEvaluatesLikeOnnxRuntime()
    {
        var path = BuildNormalisedQdqModel(Path.Combine(Path.GetTempPath(), $"norm-qdq-{Guid.NewGuid():N}.onnx"), new Random(11));
        try
        {
            var q = OnnxImporter.Load(path);
            Assert.True(q.IsQuantized);
            var ops = q.Operators.ToList();
            Assert.IsType<Elementwise>(ops[0]);
            Assert.Equal(ElementwiseKind.Sub, ((Elementwise)ops[0]).Kind);
            Assert.Equal(Arithmetic.Float32, ((Elementwise)ops[0]).Arithmetic);
            Assert.Equal(ElementwiseKind.Div, ((Elementwise)ops[1]).Kind);
            Assert.IsType<Quantize>(ops[2]);
            using var ort = new OrtOracle(path);
            var rng = new Random(13);
            var checkedTies = 0;
            for (var k = 0; k < 2000; k++)
            {
                var x = Enumerable.Range(0, 4).Select(_ => (float)rng.NextDouble()).ToArray();
                // Points at the rounding ties of the normalised input's quantization put float32 Sub and Div to the test.
                if (k % 2 == 0) { x[0] = 0.485f + 0.229f / 64 * (rng.Next(-60, 60) + 0.5f); checkedTies++; }
                var expected = ort.Run(x);
                var actual = q.Evaluate(x);
                for (var j = 0; j < expected.Length; j++)
                    Assert.Equal(BitConverter.SingleToInt32Bits(expected[j]), BitConverter.SingleToInt32Bits((float)actual[j]));
            }
            Assert.True(checkedTies > 0);
            // The bound and MILP analyses do not take such a graph yet: a one-line refusal, not a wrong answer.
            var e = Assert.Throws<BadInputException>(() => Layering.ToQuantized(q));
            Assert.Contains("normalisation before QuantizeLinear", e.Message);
        }
        finally { File.Delete(path); }
    }

    /// <summary>
    /// x [1,4] → Sub(mean) → Div(std) → QuantizeLinear → DQ → Gemm(DQ int8 W, DQ int32 b) → Q → DQ → y. Scales are powers of
    /// two and weights small integers, so that ONNX Runtime's float Gemm over the dequantized values is exact and agrees
    /// with the integer pipeline everywhere: any difference is then the normalisation's or the input quantization's.
    /// </summary>
    internal static string BuildNormalisedQdqModel(string path, Random rng)
    {
        var b = new OnnxModelBuilder("x", [1, 4], "y", 3);
        var sub = b.Node("Sub", ["x", b.Constant(DataType.Float, [4], [0.485, 0.456, 0.406, 0.5])]);
        var div = b.Node("Div", [sub, b.Constant(DataType.Float, [4], [0.229, 0.224, 0.225, 0.25])]);
        var s0 = b.Scalar(1f / 64); var z0 = b.Zp(DataType.Uint8, 128);
        var q0 = b.Node("QuantizeLinear", [div, s0, z0]);
        var d0 = b.Node("DequantizeLinear", [q0, s0, z0]);
        var ws = b.Scalar(1f / 128); var wz = b.Zp(DataType.Int8, 0);
        var w = b.Node("DequantizeLinear", [b.Constant(DataType.Int8, [3, 4], Enumerable.Range(0, 12).Select(_ => (double)rng.Next(-127, 128))), ws, wz]);
        var bs = b.Constant(DataType.Float, [], [1.0 / 64 / 128]); var bz = b.Zp(DataType.Int32, 0);
        var bias = b.Node("DequantizeLinear", [b.Constant(DataType.Int32, [3], Enumerable.Range(0, 3).Select(_ => (double)rng.Next(-500, 500))), bs, bz]);
        var gemm = b.Node("Gemm", [d0, w, bias], null, OnnxModelBuilder.Int("transB", 1));
        var s1 = b.Scalar(1f / 16); var z1 = b.Zp(DataType.Uint8, 100);
        var q1 = b.Node("QuantizeLinear", [gemm, s1, z1]);
        b.Node("DequantizeLinear", [q1, s1, z1], "y");
        return b.Save(path);
    }
}
