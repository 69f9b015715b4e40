using QEquiv.Bounds;
using QEquiv.Encoding;
using QEquiv.Evaluation;
using QEquiv.Falsification;
using QEquiv.Networks;
using QEquiv.Onnx;
using QEquiv.Quantization;
using QEquiv.Quantizer;
using QEquiv.Regions;
using QEquiv.Verification;
using Xunit.Abstractions;

namespace QEquiv.Tests;

/// <summary>
/// N as the runtimes run it: in float32, in an order of their own. The error bound must contain ONNX Runtime's float32
/// outputs (and every other order we can produce), a "falsified" must hold in float32 as well as in real arithmetic,
/// and the margin that "verified" now carries must stay small enough to verify what verified before.
/// </summary>
public class Float32ErrorTests(ITestOutputHelper output)
{
    private static readonly FloatNetwork N = OnnxImporter.LoadFloat(TestData.Bench("mnistfc/mnist-net_256x2.onnx"));
    private static readonly QuantizedNetwork Q = OnnxImporter.LoadQuantized(TestData.Bench("pytorch/mnist-net_256x2.qnnpack-qdq.onnx"));

    public static TheoryData<string> FloatModels() => OnnxRuntimeAgreementTests.FloatModels();

    /// <summary>
    /// (b) For random inputs on every benchmark float model, ONNX Runtime's float32 outputs, the sequential float32
    /// evaluator's and three other float32 orders (reversed, pairwise, FMA) all lie within the bound of the double value.
    /// </summary>
    [Trait("Speed", "Slow")]
    [Theory]
    [MemberData(nameof(FloatModels))]
    public void ErrorBoundContainsOnnxRuntimesAndOtherFloat32Orders(string relative)
    {
        var path = TestData.Bench(relative);
        var n = OnnxImporter.LoadFloat(path);
        using var ort = new OrtOracle(path);
        var rng = new Random(23);
        double worstShare = 0, largestBound = 0, largestSeen = 0;
        for (var k = 0; k < 200; k++)
        {
            // Inputs in [0,1] (what these networks take), and for the last quarter wider ones that exercise more magnitude.
            var scale = k < 150 ? 1.0 : 4.0;
            var x = Enumerable.Range(0, n.InputSize).Select(_ => (float)(scale * (k < 150 ? rng.NextDouble() : 2 * rng.NextDouble() - 1))).ToArray();
            var exact = FloatEvaluator.Evaluate(n, x);
            var bound = Float32Error.AtPoint(n, x);
            var runs = new (string Name, float[] Values)[]
            {
                ("onnxruntime", ort.Run(x)),
                ("sequential", FloatEvaluator.EvaluateFloat32(n, x)),
                ("reversed", Float32In(n, x, Order.Reversed)),
                ("pairwise", Float32In(n, x, Order.Pairwise)),
                ("fma", Float32In(n, x, Order.Fma)),
            };
            foreach (var (name, values) in runs)
                for (var j = 0; j < exact.Length; j++)
                {
                    var seen = Math.Abs(values[j] - exact[j]);
                    Assert.True(seen <= bound[j], $"{relative}, input {k}, output {j}: {name} float32 {values[j]:R} is {seen:G4} from the double {exact[j]:R}, beyond the bound {bound[j]:G4}");
                    if (bound[j] > 0) worstShare = Math.Max(worstShare, seen / bound[j]);
                    largestSeen = Math.Max(largestSeen, seen);
                }
            largestBound = Math.Max(largestBound, bound.Max());
        }
        output.WriteLine($"{relative}: largest bound {largestBound:G3}, largest float32 deviation seen {largestSeen:G3}, at most {worstShare:P1} of its bound");
    }

    private enum Order { Reversed, Pairwise, Fma }

    /// <summary>N in float32 in another summation order: the bound is for every order, not just the sequential one.</summary>
    private static float[] Float32In(FloatNetwork n, float[] input, Order order)
    {
        var x = input;
        foreach (var layer in n.Layers)
        {
            var y = new float[layer.OutputSize];
            for (var o = 0; o < y.Length; o++)
            {
                var row = layer.Row(o);
                var products = new float[row.Length];
                for (var i = 0; i < row.Length; i++) products[i] = (float)row[i] * x[i];
                float s;
                switch (order)
                {
                    case Order.Reversed:
                        s = (float)layer.Bias[o];
                        for (var i = row.Length - 1; i >= 0; i--) s += products[i];
                        break;
                    case Order.Pairwise:
                        s = Pairwise(products, 0, products.Length) + (float)layer.Bias[o];
                        break;
                    default:
                        s = 0f;
                        for (var i = 0; i < row.Length; i++) s = MathF.FusedMultiplyAdd((float)row[i], x[i], s);
                        s += (float)layer.Bias[o];
                        break;
                }
                y[o] = layer.Activation == Activation.Relu && s < 0 ? 0 : s;
            }
            x = y;
        }
        return x;
    }

    private static float Pairwise(float[] v, int from, int to) =>
        to - from == 0 ? 0f : to - from == 1 ? v[from] : Pairwise(v, from, (from + to) / 2) + Pairwise(v, (from + to) / 2, to);

    public static TheoryData<string, string> Boxes() => new()
    {
        { "mnistfc/mnist-net_256x2.onnx", "mnistfc/prop_0_0.03.vnnlib" },
        { "mnistfc/mnist-net_256x4.onnx", "mnistfc/prop_0_0.03.vnnlib" },
        { "mnistfc/mnist-net_256x6.onnx", "mnistfc/prop_0_0.03.vnnlib" },
        { "mnistfc/mnist-net_256x2.onnx", "ball:0.0005" },
        { "pairs/mnist_relu_3_100.onnx", "ball:0.03" },
        { "acasxu/ACASXU_run2a_1_1_batch_2000.onnx", "acasxu/props/prop_1.vnnlib" },
        { "acasxu/ACASXU_run2a_1_1_batch_2000.onnx", "acasxu/props/prop_3.vnnlib" },
        { "pairs/ACASXU_run2a_1_1.onnx", "acasxu/props/prop_2.vnnlib" },
    };

    /// <summary>
    /// The margin over a box is the same bound maximised over it: it dominates the bound at every sampled point, and
    /// ONNX Runtime's float32 outputs in the box stay within it of the double ones. Logs the margin's size.
    /// </summary>
    [Trait("Speed", "Slow")]
    [Theory]
    [MemberData(nameof(Boxes))]
    public void MarginOverABoxCoversEveryPointOfIt(string model, string region)
    {
        var path = TestData.Bench(model);
        var n = OnnxImporter.LoadFloat(path);
        var box = BoxOf(region);
        var margin = Float32Error.OverBox(IntervalBounds.Of(QEquiv.Networks.Layering.ToGraph(n), box));
        using var ort = new OrtOracle(path);
        var rng = new Random(5);
        var largestAtPoint = 0.0;
        for (var k = 0; k < 100; k++)
        {
            var x = TestNetworks.SamplePoint(rng, box);
            var atPoint = Float32Error.AtPoint(n, x);
            var exact = FloatEvaluator.Evaluate(n, x);
            var runtime = ort.Run(x);
            for (var j = 0; j < margin.Length; j++)
            {
                Assert.True(atPoint[j] <= margin[j], $"output {j}: the bound at a point {atPoint[j]:G4} exceeds the box's {margin[j]:G4}");
                Assert.True(Math.Abs(runtime[j] - exact[j]) <= margin[j], $"output {j}: onnxruntime {runtime[j]:R} vs double {exact[j]:R} beyond the margin {margin[j]:G4}");
                largestAtPoint = Math.Max(largestAtPoint, atPoint[j]);
            }
        }
        output.WriteLine($"{model} on {region}: N's float32 margin over the box (interval bounds) max {margin.Max():G3}, mean {margin.Average():G3}; at sampled points at most {largestAtPoint:G3}");
    }

    private static Box BoxOf(string region)
    {
        if (!region.StartsWith("ball:", StringComparison.Ordinal)) return VnnLib.ParseBox(TestData.Bench(region)).Box;
        var image = QuantizerTests.Calibration()[0].Select(v => (double)v).ToArray();
        return Region.BallAround(image, double.Parse(region[5..], System.Globalization.CultureInfo.InvariantCulture), (0, 1));
    }

    /// <summary>The margin the verifier adds on mnist-net_256x2 vs its PyTorch twin, with the bounds it really uses (differential, tightened).</summary>
    [Fact]
    public void MarginWithTheVerifiersBoundsIsSmallOnMnist()
    {
        foreach (var region in new[] { "mnistfc/prop_0_0.03.vnnlib", "ball:0.0005" })
        {
            var box = BoxOf(region);
            var diff = Verifier.Bound(G(N), G(Q), box, true, []).Difference!;
            var withN = Enumerable.Range(0, N.OutputSize).Select(j => EquivalenceMilp.MarginFor(diff.Reference, diff.Other, j)).ToArray();
            var nOnly = Float32Error.OverBox(diff.Reference);
            Assert.All(Float32Error.OverBox(diff.Other), e => Assert.Equal(0, e)); // Q's float32 roundings are in its bounds
            for (var j = 0; j < withN.Length; j++)
                Assert.True(withN[j] > nOnly[j] && nOnly[j] > 0, $"output {j}: the margin {withN[j]} must include N's float32 error {nOnly[j]}");
            // Small against the δ this network is verified at (0.016 on the small ball: below 1 %), and on the large box
            // against the width of its Δ bounds (about 1.7).
            var limit = region.StartsWith("ball", StringComparison.Ordinal) ? 1.6e-4 : 1e-2;
            Assert.True(nOnly.Max() < limit, $"{region}: N's float32 margin {nOnly.Max():G4}");
            output.WriteLine($"mnist-net_256x2 on {region}: whole margin max {withN.Max():G3}, of it N's float32 error max {nOnly.Max():G3}, mean {nOnly.Average():G3}");
        }
    }

    public static TheoryData<string> WitnessPairs() => new() { "mnist-net_256x2+pytorch", "mnist_relu_3_100+quantize" };

    private static (FloatNetwork N, QuantizedNetwork Q, string Path, Box Box) Pair(string name)
    {
        if (name == "mnist-net_256x2+pytorch")
            return (N, Q, TestData.Bench("mnistfc/mnist-net_256x2.onnx"), VnnLib.ParseBox(TestData.Bench("mnistfc/prop_0_0.03.vnnlib")).Box);
        var path = TestData.Bench("pairs/mnist_relu_3_100.onnx");
        var n = OnnxImporter.LoadFloat(path);
        // What `qequiv quantize` does by default: PyTorch's eager post-training static quantization, calibrated on the 100 images.
        var q = PostTrainingQuantizer.Quantize(n, QuantizerTests.Calibration(), new QuantizerOptions(ObserverKind.Histogram)).Network;
        return (n, q, path, BoxOf("ball:0.03"));
    }

    /// <summary>
    /// (a) The reported case: δ set to the witnessed maximum |N − Q| (in double) of the falsifier's best points. The old
    /// rule reported such a point as falsified although ONNX Runtime's float32 N may stay below δ there; now a point is
    /// a witness only when it breaks δ by more than N's float32 error bound, which every float32 order (ONNX Runtime's
    /// included) then confirms; and a verify run at that δ says falsified only with such a witness.
    /// </summary>
    [Trait("Speed", "Slow")]
    [Theory]
    [MemberData(nameof(WitnessPairs))]
    public void FalsifiedOnlyWhenOnnxRuntimesFloat32NConfirmsIt(string pairName)
    {
        var (n, q, path, box) = Pair(pairName);
        using var ort = new OrtOracle(path);
        // An evaluation cap, not a time budget, ends the search: the same points on a loaded machine.
        var search = Falsifier.Search(G(n), G(q), box, 1e6, new FalsifierOptions(Seed: 3) { MaxSearchEvaluations = 20_000 });
        Assert.NotEmpty(search.PerOutput);
        var unconfirmedByOrt = 0;
        var confirmable = 0;
        foreach (var o in search.PerOutput)
        {
            var x = o.MaxAbsInput;
            var j = o.Output;
            var e = WitnessChecker.Evaluate(G(n), G(q), x);
            var delta = Math.Abs(e.Differences[j]);
            output.WriteLine($"output {j}: witnessed |N − Q| = {delta:G6}, N = {e.FloatOutput[j]:G6}, Q = {e.QuantOutput[j]:G6}, float32 error bound {Float32Error.AtPoint(n, x)[j]:G3}");
            if (!(delta > 0)) continue;
            var ortDifference = Math.Abs((double)ort.Run(x)[j] - e.QuantOutput[j]);
            if (ortDifference < delta) unconfirmedByOrt++;
            var error = Float32Error.AtPoint(n, x);
            // In double the point reaches δ (the old rule's witness), but not by more than N's float32 error.
            var w = WitnessChecker.Check(G(n), G(q), x, delta);
            if (w is not null)
            {
                // Another output breaks δ by more than its error bound: then ORT must confirm that output.
                Assert.NotEqual(j, w.Output);
                Assert.True(Math.Abs((double)ort.Run(x)[w.Output] - w.QuantOutput[w.Output]) >= delta);
            }
            // δ lowered below the guaranteed difference: a witness, with both values reported, and ORT confirms it.
            var guaranteed = delta - error[j];
            if (!(guaranteed > 0)) continue;
            confirmable++;
            var lower = WitnessChecker.Check(G(n), G(q), x, guaranteed);
            Assert.NotNull(lower);
            Assert.True(lower.GuaranteedAbsDifference >= guaranteed);
            Assert.NotNull(lower.Float32Output);
            Assert.NotNull(lower.Float32Error);
            var o2 = lower.Output;
            Assert.True(Math.Abs((double)ort.Run(x)[o2] - lower.QuantOutput[o2]) >= guaranteed, $"output {o2}: ORT's float32 N does not break δ = {guaranteed:R}");
            Assert.True(Math.Abs((double)lower.Float32Output[o2] - lower.QuantOutput[o2]) >= guaranteed);
        }
        Assert.True(confirmable > 0, "no output's witnessed error exceeds N's float32 error bound");
        output.WriteLine($"{pairName}: at δ = each output's witnessed maximum, ORT's float32 N stayed below δ on {unconfirmedByOrt} of {search.PerOutput.Count} outputs; {confirmable} outputs' maxima exceed their float32 error bound");

        var best = search.PerOutput.MaxBy(o => o.MaxAbsDifference)!;
        var delta0 = Math.Abs(WitnessChecker.Evaluate(G(n), G(q), best.MaxAbsInput).Differences[best.Output]);
        Assert.Null(WitnessChecker.Check(G(n), G(q), best.MaxAbsInput, delta0));
        var r = Verifier.Verify(G(n), G(q), box, new VerifyOptions(delta0, Timeout: TimeSpan.FromSeconds(30))
        {
            Workers = 1,
            FalsifierCap = TimeSpan.FromSeconds(10),
        });
        output.WriteLine($"{pairName}: verify at δ = {delta0:R}: {r.Verdict}");
        if (r.Verdict == Verdict.Falsified) AssertOrtConfirms(r, delta0);

        // Well below the witnessed maximum (found by a longer search than verify's) the run is falsified, and ONNX
        // Runtime agrees with its witness.
        var clear = 0.5 * delta0;
        var below = Verifier.Verify(G(n), G(q), box, new VerifyOptions(clear, Timeout: TimeSpan.FromSeconds(30))
        {
            Workers = 1,
            FalsifierCap = TimeSpan.FromSeconds(10),
        });
        Assert.True(below.Verdict == Verdict.Falsified, $"{below.Verdict} at δ = {clear:R}: {string.Join("; ", below.Notes)}");
        AssertOrtConfirms(below, clear);

        void AssertOrtConfirms(VerificationReport report, double delta)
        {
            var w = report.Witness!;
            Assert.True(box.Contains(w.Input));
            Assert.True(w.GuaranteedAbsDifference >= delta);
            var ortDifference = Math.Abs((double)ort.Run(w.Input)[w.Output] - w.QuantOutput[w.Output]);
            Assert.True(ortDifference >= delta, $"falsified, but ONNX Runtime's float32 N gives |N − Q| = {ortDifference:R} < δ = {delta:R}");
        }
    }

    /// <summary>A double-precision violation inside N's float32 error is not a witness; one beyond it is, with both values.</summary>
    [Fact]
    public void CheckerRequiresTheViolationBeyondTheFloat32Error()
    {
        var x = QuantizerTests.Calibration()[0];
        var e = WitnessChecker.Evaluate(G(N), G(Q), x);
        var j = e.WorstOutput;
        var error = Float32Error.AtPoint(N, x);
        Assert.True(error[j] > 0);
        var d = Math.Abs(e.Differences[j]);
        Assert.Null(WitnessChecker.Check(G(N), G(Q), x, d));
        Assert.Null(WitnessChecker.Check(G(N), G(Q), x, d - error[j] / 2));
        var w = WitnessChecker.Check(G(N), G(Q), x, d - error[j]);
        Assert.NotNull(w);
        Assert.Equal(j, w.Output);
        Assert.Equal(d, w.MaxAbsDifference);
        Assert.Equal(d - error[j], w.GuaranteedAbsDifference);
        Assert.Equal(FloatEvaluator.EvaluateFloat32(N, x), w.Float32Output);
        Assert.True(Math.Abs(w.Float32Difference!.Value - w.Difference) <= error[j]);
    }
}
