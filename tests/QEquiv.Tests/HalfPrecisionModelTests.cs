using QEquiv.Bounds;
using QEquiv.Data;
using QEquiv.Encoding;
using QEquiv.Evaluation;
using QEquiv.Falsification;
using QEquiv.Model;
using QEquiv.Networks;
using QEquiv.Nnet;
using QEquiv.Onnx;
using QEquiv.Quantization;
using QEquiv.Quantizer;
using QEquiv.Regions;
using QEquiv.Solvers;
using Xunit.Abstractions;

namespace QEquiv.Tests;

/// <summary>
/// Float16 / bfloat16 twins of real networks (<see cref="HalfPrecision"/>, <see cref="HalfPrecisionExporter"/>): the written
/// file imports as the rounded graph, ONNX Runtime computes what QEquiv's evaluator does (within the float32 error bound
/// of the Gemms, and bit for bit wherever the roundings absorb that error), and every analysis of a graph with
/// <see cref="FloatRound"/> operators contains what it computes (interval, symbolic and differential bounds, the MILP, the
/// LP, the float32 error over a box, incremental evaluation), checked by sampling.
/// </summary>
public sealed class HalfPrecisionModelTests(ITestOutputHelper output) : IDisposable
{
    private readonly TempFiles _temp = new();
    public void Dispose() => _temp.Dispose();

    private static readonly string Acas = TestData.Bench("isomorphic/nets/ACASXU_run2a_1_1_batch_2000.onnx");
    private static readonly string Mnist = TestData.Bench("mnistfc/mnist-net_256x2.onnx");

    private static Box Property(int k) => VnnLib.ParseBox(TestData.Bench($"acasxu/props/prop_{k}.vnnlib")).Box;

    /// <summary>Writes the twin and reads it back as every command does.</summary>
    private (Network Reference, Network Twin, HalfPrecisionResult Result, string Path) Twin(string model, FloatFormat f, bool activations)
    {
        var n = OnnxImporter.Load(model);
        var r = HalfPrecision.Round(Layering.ToFloat(n), f, activations);
        var path = System.IO.Path.Combine(_temp.Dir, $"{System.IO.Path.GetFileNameWithoutExtension(model)}-{f}-{activations}.onnx");
        File.WriteAllBytes(path, HalfPrecisionExporter.ToBytes(r.Rounded.Layered, f, activations));
        var (reference, twin) = OnnxImporter.LoadPair(model, path, Runtime.Onnx);
        return (reference, twin, r, path);
    }

    public static TheoryData<FloatFormat, bool> Variants => new()
    {
        { FloatFormat.Float16, false }, { FloatFormat.Float16, true }, { FloatFormat.BFloat16, false }, { FloatFormat.BFloat16, true },
    };

    [Theory]
    [MemberData(nameof(Variants))]
    public void TheWrittenFileImportsAsTheRoundedGraph(FloatFormat f, bool activations)
    {
        var (reference, twin, r, path) = Twin(Acas, f, activations);
        Assert.Equal(r.Rounded.ToGraph(path).Fingerprint, twin.Fingerprint);
        Assert.False(twin.IsQuantized);
        // The input and each of the 7 layers' outputs.
        Assert.Equal(activations ? 8 : 0, twin.Operators.Count(o => o is FloatRound { } fr && fr.Format == f));
        // Same levels as the original: Affine, then element-wise operators only.
        Assert.Equal(reference.Operators.Count(o => o is Affine), twin.Operators.Count(o => o is Affine));
        var (original, rounded) = (reference.Operators.OfType<Affine>().ToList(), twin.Operators.OfType<Affine>().ToList());
        var changed = 0;
        for (var k = 0; k < original.Count; k++)
        {
            var (w, w16) = (original[k].Weights.ToArray(), rounded[k].Weights.ToArray());
            for (var i = 0; i < w.Length; i++)
            {
                Assert.Equal(f.Round(w[i]), w16[i]);
                if (w[i] != w16[i]) changed++;
            }
            var (b, b16) = (original[k].Bias.ToArray(), rounded[k].Bias.ToArray());
            for (var i = 0; i < b.Length; i++) Assert.Equal(f.Round(b[i]), b16[i]);
        }
        Assert.True(changed <= r.Changed && r.Changed > r.Parameters / 2, $"{changed} weights and {r.Changed} of {r.Parameters} parameters changed");
        // The parameters take 2 bytes each: the file is about half the float32 one.
        Assert.True(new FileInfo(path).Length < 0.6 * new FileInfo(Acas).Length, $"{new FileInfo(path).Length} bytes vs {new FileInfo(Acas).Length}");
        output.WriteLine($"{f} activations={activations}: {r.Changed}/{r.Parameters} parameters changed, largest change {r.MaxAbsChange:G4} (relative {r.MaxRelativeChange:G3}); {new FileInfo(path).Length} bytes");
    }

    /// <summary>
    /// ORT's outputs lie within <see cref="Float32Error.AtPoint(Network, ReadOnlySpan{float}, bool[])"/> of the exact ones
    /// (float32 Gemms in ORT's order against real arithmetic), and equal them bit for bit where that bound is 0 (every
    /// output rounding absorbed the float32 error). Points of the ACAS property boxes; MNIST's reference rows.
    /// </summary>
    [Theory]
    [MemberData(nameof(Variants))]
    public void OnnxRuntimeComputesWhatTheEvaluatorComputes(FloatFormat f, bool activations)
    {
        var rng = new Random(7);
        var acasPoints = Enumerable.Range(1, 4).SelectMany(p => Enumerable.Range(0, 250).Select(_ => TestNetworks.SamplePoint(rng, Property(p)))).ToList();
        var mnistRows = Csv.ReadRows(TestData.Bench("pytorch/inputs.csv"), 784).Take(100).ToList();
        foreach (var (model, points) in new[] { (Acas, acasPoints), (Mnist, mnistRows) })
        {
            var (_, twin, _, path) = Twin(model, f, activations);
            using var ort = new OrtOracle(path);
            int outputs = 0, exact = 0, zeroBound = 0;
            double worst = 0;
            foreach (var x in points)
            {
                var y = ort.Run(x);
                var e = twin.Evaluate(x);
                var bound = Float32Error.AtPoint(twin, x);
                for (var j = 0; j < y.Length; j++)
                {
                    outputs++;
                    var d = Math.Abs(y[j] - e[j]);
                    Assert.True(d <= bound[j], $"{model} output {j}: ORT {y[j]:R}, QEquiv {e[j]:R}, beyond the float32 bound {bound[j]:G3}");
                    if (d == 0) exact++;
                    if (bound[j] == 0) zeroBound++;
                    worst = Math.Max(worst, bound[j] > 0 ? d / bound[j] : 0);
                }
            }
            output.WriteLine($"{System.IO.Path.GetFileName(model)} {f} activations={activations}: {exact}/{outputs} outputs bit-equal, bound 0 on {zeroBound}; largest |ORT − QEquiv| / bound {worst:G3}");
            // Rounded outputs: the float32 error of the last Gemm rarely crosses a rounding boundary, and where the bound
            // proves it cannot, the outputs are equal (asserted above).
            if (activations) Assert.True(exact > 0.95 * outputs && zeroBound > 0, $"{exact}/{outputs} bit-equal, bound 0 on {zeroBound}");
        }
    }

    /// <summary>
    /// What the verifier relies on over a box, with ONNX Runtime's outputs of both networks: every sampled difference lies
    /// in the differential bounds widened by the margin (<see cref="EquivalenceMilp.MarginFor"/>: both networks'
    /// <see cref="Float32Error.OverBox"/>), and every output of the twin in its bounds widened by its own. With rounded
    /// outputs the twin's own margin is 0: its roundings' bounds include the float32 error of what they round.
    /// </summary>
    [Theory]
    [MemberData(nameof(Variants))]
    public void MarginsOverABoxCoverOnnxRuntime(FloatFormat f, bool activations)
    {
        var (reference, twin, _, path) = Twin(Acas, f, activations);
        using var ort = new OrtOracle(path);
        using var ortReference = new OrtOracle(Acas);
        var rng = new Random(8);
        foreach (var box in new[] { Property(1), Property(3), Small(Property(4), 0.01) })
        {
            var d = DifferentialBounds.Of(reference, twin, box);
            var own = Float32Error.OverBox(d.Other);
            if (activations) Assert.All(own, b => Assert.Equal(0, b));
            else Assert.All(own, b => Assert.True(b > 0 && double.IsFinite(b)));
            var margin = Enumerable.Range(0, 5).Select(j => EquivalenceMilp.MarginFor(d.Reference, d.Other, j)).ToArray();
            for (var p = 0; p < 500; p++)
            {
                var x = GraphDifferentialTests.Sample(rng, box, p);
                var (yr, y) = (ortReference.Run(x), ort.Run(x));
                for (var j = 0; j < y.Length; j++)
                {
                    Assert.True(d.Other.Outputs[j].Widen(0, own[j]).Contains(y[j]), $"output {j}: ORT {y[j]:R} outside {d.Other.Outputs[j]} ± {own[j]:G3}");
                    Assert.True(d.Tightest[j].Widen(0, margin[j]).Contains(yr[j] - (double)y[j]), $"output {j}: ORT difference {yr[j] - (double)y[j]:R} outside {d.Tightest[j]} ± {margin[j]:G3}");
                }
            }
            output.WriteLine($"{f} activations={activations}: twin's margin {string.Join(", ", own.Select(b => b.ToString("G3")))}; Δ {string.Join(", ", d.Tightest.Select(v => v.ToString()))}");
        }
    }

    private static Box Small(Box full, double share)
    {
        var c = full.Center();
        return new Box(c.Select((v, i) => v - share * full.Width(i)).ToArray(), c.Select((v, i) => v + share * full.Width(i)).ToArray());
    }

    /// <summary>Interval, symbolic and differential bounds of (ACAS Xu, its twin) contain every sampled tensor and difference.</summary>
    [Theory]
    [MemberData(nameof(Variants))]
    public void BoundsOfTheTwinContainEverySampledValue(FloatFormat f, bool activations)
    {
        var (reference, twin, _, _) = Twin(Acas, f, activations);
        var rng = new Random(9);
        foreach (var box in new[] { Property(1), Small(Property(3), 0.02) })
        {
            var intervals = IntervalBounds.Of(twin, box);
            for (var p = 0; p < 300; p++) GraphDifferentialTests.CheckTrace(intervals, twin, GraphDifferentialTests.Sample(rng, box, p));
            var symbolic = SymbolicBounds.Of(twin, box);
            for (var p = 0; p < 300; p++) GraphDifferentialTests.CheckTrace(symbolic, twin, GraphDifferentialTests.Sample(rng, box, p));
            var d = DifferentialBounds.Of(reference, twin, box);
            Assert.Null(d.Notice); // the levels align: a rounding is one more element-wise operator of its level
            GraphDifferentialTests.CheckSampled(reference, twin, d, box, rng, 1000, everyTensor: 300);
            // And the differential pass is worth it: tighter than subtracting the two networks' bounds.
            var (naive, tight) = (d.Naive.Average(v => v.Width), d.Tightest.Average(v => v.Width));
            Assert.True(tight < naive, $"tightest {tight} vs naive {naive}");
            output.WriteLine($"{f} activations={activations}: Δ width naive {naive:G3}, tightest {tight:G3}");
        }
    }

    /// <summary>
    /// LP tightening of the ReLUs after a rounding widens the LP's optimum by the rounding's noise: every sampled value
    /// stays in the tightened bounds. (Not checked on weights-only twins: on the small box LP tightening of the plain
    /// ACAS Xu network itself cuts off values by ~10⁻⁶, more than its 10⁻⁶ relative padding of GLOP's optimum, an issue
    /// of its own with no rounding involved.)
    /// </summary>
    [Trait("Speed", "Slow")]
    [Theory]
    [InlineData(FloatFormat.Float16)]
    [InlineData(FloatFormat.BFloat16)]
    public void LpTighteningOfARoundedTwinKeepsEverySampledValue(FloatFormat f)
    {
        var (_, twin, _, _) = Twin(Acas, f, activations: true);
        var rng = new Random(14);
        foreach (var box in new[] { Property(1), Small(Property(3), 0.02) })
        {
            var (tightened, stats) = LpTightening.TightenRelus(twin, box, SymbolicBounds.Of(twin, box), TimeSpan.FromSeconds(20));
            Assert.True(stats.LinearPrograms > 0, "LP tightening ran");
            for (var p = 0; p < 300; p++) GraphDifferentialTests.CheckTrace(tightened, twin, GraphDifferentialTests.Sample(rng, box, p));
        }
    }

    /// <summary>
    /// A small random network against its rounded-activation twins: the MILP's optimum plus its output noise, and the LP
    /// bound plus the margin, are at least every sampled difference (so the rounding's noise gadget keeps every value
    /// the twin computes), and a violated δ below the sampled maximum is not proved.
    /// </summary>
    [Theory]
    [InlineData(FloatFormat.Float16, 31)]
    [InlineData(FloatFormat.BFloat16, 32)]
    public void MilpAndLpCoverSampledDifferences(FloatFormat f, int seed)
    {
        var pair = TestNetworks.Random(seed, [3, 6, 5, 2]);
        var reference = pair.Reference;
        var twin = HalfPrecision.Round(pair.Float, f, activations: true).Rounded.ToGraph("twin");
        var rng = new Random(seed);
        var box = TestNetworks.RandomBox(rng, 3, maxRadius: 0.2, lo: 0.1, hi: 0.9);
        var sampled = new double[2, 2];
        for (var j = 0; j < 2; j++) sampled[j, 0] = sampled[j, 1] = double.NegativeInfinity;
        for (var k = 0; k < 5000; k++)
        {
            var e = WitnessChecker.Evaluate(reference, twin, TestNetworks.SamplePoint(rng, box));
            for (var j = 0; j < 2; j++) (sampled[j, 0], sampled[j, 1]) = (Math.Max(sampled[j, 0], e.Differences[j]), Math.Max(sampled[j, 1], -e.Differences[j]));
        }
        var diff = DifferentialBounds.Of(reference, twin, box);
        var pairs = Enumerable.Range(0, 2).SelectMany(j => new[] { (j, 1), (j, -1) }).ToList();
        var lp = LpTightening.DifferenceUpperBounds(reference, twin, box, diff.Reference, diff.Other, diff, pairs, TimeSpan.FromSeconds(30));
        for (var p = 0; p < pairs.Count; p++)
        {
            var (j, s) = pairs[p];
            var seen = sampled[j, s > 0 ? 0 : 1];
            using var milp = EquivalenceMilp.ForOutput(reference, twin, box, j, s, delta: null, MilpBackend.Highs);
            var r = milp.Solve(new MilpOptions(TimeSpan.FromSeconds(60), RelativeGap: 1e-9));
            Assert.Equal(MilpStatus.Optimal, r.Status);
            Assert.True(milp.OutputNoise[j] > 0, "the roundings reach the output as noise");
            Assert.True(seen <= r.BestBound!.Value + milp.OutputNoise[j] + 1e-9, $"({j}, {s}): sampled {seen} above the MILP's {r.BestBound} + noise {milp.OutputNoise[j]}");
            Assert.NotNull(lp[p]);
            var margin = EquivalenceMilp.MarginFor(diff.Reference, diff.Other, j);
            Assert.True(seen <= lp[p]!.Value + margin, $"({j}, {s}): sampled {seen} above the LP bound {lp[p]} + {margin}");
            Assert.True(seen <= diff.For(j, s).Hi, $"({j}, {s}): sampled {seen} above the Δ bound {diff.For(j, s)}");
            output.WriteLine($"{f} ({j}, {s}): sampled {seen:G4}, MILP {r.BestBound:G4} + noise {milp.OutputNoise[j]:G3}, LP {lp[p]:G4}, Δ {diff.For(j, s).Hi:G4}");
        }
    }

    /// <summary>
    /// Cast pairs wherever a graph puts them: before or after a Relu, on the input, on the output (a float16 output is read as
    /// its value), and a float16 initializer cast to float anywhere a constant goes; arithmetic on float16 data and other
    /// Casts are refused with the node named. The accepted graph computes what ONNX Runtime computes.
    /// </summary>
    [Fact]
    public void ImporterReadsCastPairsWhereverTheyStandAndRefusesFloat16Arithmetic()
    {
        var rng = new Random(13);
        double[] W(int n) => Enumerable.Range(0, n).Select(_ => rng.NextDouble() * 2 - 1).ToArray();
        var toHalf = OnnxModelBuilder.Int("to", (long)Onnx.Proto.TensorProto.Types.DataType.Float16);
        var toFloat = OnnxModelBuilder.Int("to", (long)Onnx.Proto.TensorProto.Types.DataType.Float);
        var b = new OnnxModelBuilder("x", [1, 4], "y", 3);
        var x = b.Node("Cast", [b.Node("Cast", ["x"], null, toHalf)], null, toFloat);
        var w1 = b.Node("Cast", [b.Constant(Onnx.Proto.TensorProto.Types.DataType.Float16, [6, 4], W(24))], null, toFloat);
        var h = b.Node("Relu", [b.Node("Gemm", [x, w1, b.Constant(Onnx.Proto.TensorProto.Types.DataType.Float, [6], W(6))], null, OnnxModelBuilder.Int("transB", 1))]);
        h = b.Node("Cast", [b.Node("Cast", [h], null, toHalf)], null, toFloat); // after the Relu
        var w2 = b.Node("Cast", [b.Constant(Onnx.Proto.TensorProto.Types.DataType.Bfloat16, [6, 3], W(18))], null, toFloat);
        b.Node("MatMul", [h, w2], "y");
        var path = b.Save(System.IO.Path.Combine(_temp.Dir, "pairs.onnx"));
        var net = OnnxImporter.Load(path);
        Assert.Equal(["FloatRound", "Affine", "Relu", "FloatRound", "Affine"], net.Operators.Select(o => o.GetType().Name));
        using var ort = new OrtOracle(path);
        // Over a box: the rounding after the ReLU holds the runtime's value too (the Gemm's float32 error, passed through
        // the ReLU), and the outputs' bounds widened by the float32 margin of the last Gemm hold ONNX Runtime's.
        var box = new Box([-2, -2, -2, -2], [2, 2, 2, 2]);
        var bounds = SymbolicBounds.Of(net, box);
        Assert.NotNull(bounds.Nodes[0].InputError);
        Assert.NotNull(bounds.Nodes[3].InputError);
        var margin = Float32Error.OverBox(bounds);
        for (var k = 0; k < 300; k++)
        {
            var p = Enumerable.Range(0, 4).Select(_ => (float)(rng.NextDouble() * 4 - 2)).ToArray();
            var (y, e, bound) = (ort.Run(p), net.Evaluate(p), Float32Error.AtPoint(net, p));
            for (var j = 0; j < 3; j++)
            {
                Assert.True(Math.Abs(y[j] - e[j]) <= bound[j], $"output {j}: ORT {y[j]:R}, QEquiv {e[j]:R}, bound {bound[j]:G3}");
                Assert.True(bounds.Outputs[j].Widen(0, margin[j]).Contains(y[j]), $"output {j}: ORT {y[j]:R} outside {bounds.Outputs[j]} ± {margin[j]:G3}");
            }
        }

        // Arithmetic on float16 data, and a Cast to an integer type, are refused with the node named.
        var bad = new OnnxModelBuilder("x", [1, 2], "y", 2);
        bad.Node("Relu", [bad.Node("Cast", ["x"], null, toHalf)], "y");
        var e1 = Assert.Throws<BadInputException>(() => OnnxImporter.Load(bad.Save(System.IO.Path.Combine(_temp.Dir, "bad1.onnx"))));
        Assert.Contains("computes on float16 data", e1.Message);
        Assert.Contains("Relu", e1.Message);
        var bad2 = new OnnxModelBuilder("x", [1, 2], "y", 2);
        bad2.Node("Cast", ["x"], "y", OnnxModelBuilder.Int("to", (long)Onnx.Proto.TensorProto.Types.DataType.Int8));
        Assert.Contains("Cast to element type Int8 is not supported on the data",
            Assert.Throws<BadInputException>(() => OnnxImporter.Load(bad2.Save(System.IO.Path.Combine(_temp.Dir, "bad2.onnx")))).Message);
        // A graph whose output stays float16 is read as the rounded value.
        var half = new OnnxModelBuilder("x", [1, 2], "y", 2);
        half.Node("Cast", ["x"], "y", toHalf);
        Assert.IsType<FloatRound>(Assert.Single(OnnxImporter.Load(half.Save(System.IO.Path.Combine(_temp.Dir, "half.onnx"))).Operators));
    }

    [Fact]
    public void IncrementalEvaluationOfATwinMatchesFreshEvaluation()
    {
        var (reference, twin, _, _) = Twin(Acas, FloatFormat.Float16, activations: true);
        var box = Property(1);
        var rng = new Random(10);
        var x = TestNetworks.SamplePoint(rng, box);
        var pair = new IncrementalPair(reference, twin, x);
        for (var k = 0; k < 3 * IncrementalPair.RefreshInterval + 100; k++)
        {
            var i = rng.Next(5);
            pair.Set(i, TestNetworks.SamplePoint(rng, box)[i]);
            if (k % 7 != 0) continue;
            var e = WitnessChecker.Evaluate(reference, twin, pair.CopyInput());
            for (var j = 0; j < 5; j++)
                Assert.True(Math.Abs(pair.Difference(j) - e.Differences[j]) <= 1e-9 * (1 + Math.Abs(e.FloatOutput[j])), $"move {k} output {j}");
        }
    }

    /// <summary>
    /// NeuroDiff's float16 copies of the 45 ACAS Xu NNet files: rounding the original files' weights and biases with
    /// <see cref="HalfPrecision"/> (from the text's double, directly) gives the copies' float16 values, every one of them.
    /// 7 copies hold those values exactly; the other 38 print each as its shortest decimal (−1.419 for −1.4189453125),
    /// which rounds back to it but, read as the decimal it is, is not quite it. Rounding through float32 first would differ
    /// on 18 parameters (a text value just beside a float16 tie), so the copies were rounded from the double directly.
    /// The headers (input bounds, normalisation) are unchanged.
    /// </summary>
    [Fact]
    public void RoundingTheAcasNnetFilesReproducesNeuroDiffsFloat16Copies()
    {
        var files = Directory.GetFiles(TestData.Bench("neurodiff/nnet"), "*.nnet").OrderBy(p => p).ToList();
        Assert.Equal(45, files.Count);
        long parameters = 0, denoted = 0, exact = 0, throughFloat32 = 0;
        var exactFiles = 0;
        foreach (var file in files)
        {
            var copy = TestData.Bench($"neurodiff/compressed_nnets/{System.IO.Path.GetFileNameWithoutExtension(file)}_16bit.nnet");
            var original = Layering.ToFloat(NnetReader.Read(file));
            var rounded = HalfPrecision.Round(original, FloatFormat.Float16, activations: false).Rounded.Layered;
            var theirs = Layering.ToFloat(NnetReader.Read(copy));
            Assert.Equal(original.Layers.Count, theirs.Layers.Count);
            var fileExact = true;
            for (var k = 0; k < theirs.Layers.Count; k++)
            {
                var (ours, their, raw) = (rounded.Layers[k], theirs.Layers[k], original.Layers[k]);
                foreach (var (o, t, w) in ours.Weights.ToArray().Zip(their.Weights.ToArray(), raw.Weights.ToArray())
                    .Concat(ours.Bias.ToArray().Zip(their.Bias.ToArray(), raw.Bias.ToArray())))
                {
                    parameters++;
                    if (FloatFormat.Float16.Round(t) == o) denoted++;
                    if (o == t) exact++;
                    else fileExact = false;
                    if (FloatFormat.Float16.Round((float)w) != o) throughFloat32++;
                }
            }
            if (fileExact) exactFiles++;
        }
        output.WriteLine($"{parameters} parameters: the copies denote our float16 value for {denoted}, hold it exactly for {exact} ({exactFiles} files); through float32 first {throughFloat32} would differ");
        Assert.Equal(parameters, denoted);
        Assert.Equal(7, exactFiles);
        Assert.Equal(18, throughFloat32);
    }
}
