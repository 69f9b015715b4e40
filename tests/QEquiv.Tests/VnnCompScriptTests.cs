using System.Diagnostics;
using System.Globalization;
using System.IO.Compression;
using System.Text;
using QEquiv.Falsification;
using QEquiv.Onnx;
using QEquiv.Regions;
using QEquiv.Reporting;

namespace QEquiv.Tests;

/// <summary>
/// vnncomp/prepare_instance.sh and run_instance.sh end to end with the qequiv this test project builds (its apphost in
/// the test output, given through QEQUIV): the results file is VNN-COMP's, the counterexample re-executes.
/// </summary>
public sealed class VnnCompScriptTests : IDisposable
{
    private static readonly string Float = TestData.Bench("mnistfc/mnist-net_256x2.onnx");
    private static readonly string Quant = TestData.Bench("pytorch/mnist-net_256x2.qnnpack-qdq.onnx");
    private static readonly string Prop0 = TestData.Bench("mnistfc/prop_0_0.03.vnnlib");
    private static readonly string Scripts = Path.Combine(TestData.RepoRoot, "vnncomp");
    private readonly TempFiles _tmp = new();

    public void Dispose() => _tmp.Dispose();

    private (int Exit, string Output) Script(string name, IReadOnlyDictionary<string, string>? env, params string[] args)
    {
        var psi = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = _tmp.Dir };
        psi.ArgumentList.Add(Path.Combine(Scripts, name));
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["QEQUIV"] = Path.Combine(AppContext.BaseDirectory, "qequiv");
        psi.Environment["QEQUIV_SCRATCH"] = Path.Combine(_tmp.Dir, "scratch");
        psi.Environment.Remove("QEQUIV_QUANT");
        psi.Environment.Remove("QEQUIV_DELTA");
        foreach (var (k, v) in env ?? new Dictionary<string, string>()) psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        var stdout = p.StandardOutput.ReadToEnd();
        if (!p.WaitForExit(TimeSpan.FromMinutes(5))) { p.Kill(entireProcessTree: true); Assert.Fail($"{name} did not end"); }
        return (p.ExitCode, stdout + stderr.Result);
    }

    private void Gzip(string source, string target)
    {
        using var input = File.OpenRead(source);
        using var output = new GZipStream(File.Create(Path.Combine(_tmp.Dir, target)), CompressionLevel.Fastest);
        input.CopyTo(output);
    }

    [Trait("Speed", "Slow")]
    [Fact]
    public void GzippedTwinByNamingConventionIsFalsifiedWithAReexecutedCounterexample()
    {
        // <net>.onnx.gz + <net>.q.onnx.gz, <prop>.vnnlib.gz + <prop>.delta: the single-network convention, compressed.
        Gzip(Float, "net.onnx.gz");
        Gzip(Quant, "net.q.onnx.gz");
        Gzip(Prop0, "prop.vnnlib.gz");
        _tmp.Write("prop.delta", "0.04\n");
        var (onnx, vnnlib, results) = (Path.Combine(_tmp.Dir, "net.onnx.gz"), Path.Combine(_tmp.Dir, "prop.vnnlib.gz"), Path.Combine(_tmp.Dir, "out.txt"));

        var prepared = Script("prepare_instance.sh", null, "v1", "mnistfc", onnx, vnnlib);
        Assert.True(prepared.Exit == 0, prepared.Output);
        var run = Script("run_instance.sh", null, "v1", "mnistfc", onnx, vnnlib, results, "120");
        Assert.True(run.Exit == 0, run.Output);

        var text = File.ReadAllText(results);
        Assert.StartsWith("sat\n", text);
        var (x, y) = VnnComp.ParseCounterexample(text["sat\n".Length..]);
        Assert.Equal(784, x.Length);
        var input = x.Select(v => (float)v).ToArray();
        Assert.True(VnnLib.ParseBox(Prop0).Box.Contains(input));
        var witness = WitnessChecker.Check(G(OnnxImporter.LoadFloat(Float)), G(OnnxImporter.LoadQuantized(Quant)), input, 0.04);
        Assert.NotNull(witness);
        Assert.Equal(witness.FloatOutput, y);
    }

    [Fact]
    public void TwinAndDeltaFromTheEnvironmentAreVerifiedAsUnsat()
    {
        // The ±0.0005 box (clipped to [0, 1]) around prop_0's image: δ = 0.016 holds (δ* ≈ 0.01569).
        var c = CultureInfo.InvariantCulture;
        var image = MnistVerificationTests.ImageOf(VnnLib.ParseBox(Prop0).Box, 0.03);
        var spec = new StringBuilder();
        for (var i = 0; i < image.Length; i++) spec.Append(c, $"(declare-const X_{i} Real)\n");
        for (var i = 0; i < image.Length; i++)
            spec.Append(c, $"(assert (>= X_{i} {Math.Max(0, image[i] - 0.0005):R}))\n(assert (<= X_{i} {Math.Min(1, image[i] + 0.0005):R}))\n");
        var vnnlib = _tmp.Write("ball.vnnlib", spec.ToString());
        var results = Path.Combine(_tmp.Dir, "out.txt");
        var env = new Dictionary<string, string> { ["QEQUIV_QUANT"] = Quant, ["QEQUIV_DELTA"] = "0.016" };

        // run_instance.sh prepares an instance that was not prepared.
        var run = Script("run_instance.sh", env, "v1", "mnistfc", Float, vnnlib, results, "120");
        Assert.True(run.Exit == 0, run.Output);
        Assert.Equal("unsat\n", File.ReadAllText(results));
    }

    [Fact]
    public void AnInstanceWithoutASecondNetworkIsSkippedAndAnsweredError()
    {
        var onnx = Path.Combine(_tmp.Dir, "alone.onnx");
        File.Copy(Float, onnx);
        var results = Path.Combine(_tmp.Dir, "out.txt");
        var env = new Dictionary<string, string> { ["QEQUIV_DELTA"] = "0.04" };

        var prepared = Script("prepare_instance.sh", env, "v1", "mnistfc", onnx, Prop0);
        Assert.NotEqual(0, prepared.Exit);
        Assert.Contains("no second network", prepared.Output);
        Assert.Equal(0, Script("run_instance.sh", env, "v1", "mnistfc", onnx, Prop0, results, "60").Exit);
        Assert.Equal("error\n", File.ReadAllText(results));
    }

    [Trait("Speed", "Slow")]
    [Fact]
    public void APairInTheOnnxArgumentWithAVnnLib2SpecTakesBoxAndDeltaFromTheSpec()
    {
        // The equivalence categories' form: "[('f', N), ('g', Q)]" and a VNN-LIB 2.0 spec with |Y_g - Y_f| <= 0.04.
        var c = CultureInfo.InvariantCulture;
        var box = VnnLib.ParseBox(Prop0).Box;
        var spec = new StringBuilder("(vnnlib-version <2.0>)\n(declare-network f\n    (declare-input X_f real [784])\n    (declare-output Y_f real [10])\n)\n")
            .Append("(declare-network g\n    (equal-to f)\n    (declare-input X_g real [784])\n    (declare-output Y_g real [10])\n)\n");
        for (var i = 0; i < box.Dimension; i++) spec.Append(c, $"(assert (and (<= X_f[{i}] {box.Hi[i]:R}) (>= X_f[{i}] {box.Lo[i]:R}))) ; input {i}\n");
        for (var i = 0; i < box.Dimension; i++) spec.Append(c, $"(assert (== X_f[{i}] X_g[{i}]))\n");
        for (var j = 0; j < 10; j++) spec.Append(c, $"(assert (and (<= Y_g[{j}] (+ Y_f[{j}] 0.04)) (>= Y_g[{j}] (- Y_f[{j}] 0.04))))\n");
        var vnnlib = _tmp.Write("equivalence.vnnlib", spec.ToString());
        var pair = $"[('f', '{Float}'), ('g', '{Quant}')]";
        var results = Path.Combine(_tmp.Dir, "out.txt");

        var prepared = Script("prepare_instance.sh", null, "v1", "equivalence", pair, vnnlib);
        Assert.True(prepared.Exit == 0, prepared.Output);
        Assert.Contains("delta 0.04", prepared.Output);
        var run = Script("run_instance.sh", null, "v1", "equivalence", pair, vnnlib, results, "120");
        Assert.True(run.Exit == 0, run.Output);
        var text = File.ReadAllText(results);
        Assert.StartsWith("sat\n", text);
        var (x, _) = VnnComp.ParseCounterexample(text["sat\n".Length..]);
        Assert.True(box.Contains(x.Select(v => (float)v).ToArray()));
    }

    [Fact]
    public void APairOfTwoFloatNetworksIsSkipped()
    {
        // isomorphic_acasxu's form: the pair in the ONNX argument, a VNN-LIB 2.0 equivalence spec.
        var pair = "[('f', 'nets/ACASXU_run2a_1_2_batch_2000.onnx'), ('g', 'nets_pruned/ACASXU_run2a_1_2_batch_2000_pruned5.onnx')]";
        var prepared = Script("prepare_instance.sh", null, "v1", "isomorphic_acasxu", pair, TestData.Bench("isomorphic/prop1-eps0.05.vnnlib"));
        Assert.NotEqual(0, prepared.Exit);
        Assert.Contains("is a float network", prepared.Output);
    }

    [Fact]
    public void AWrongVersionStringIsRefused()
    {
        var (exit, output) = Script("prepare_instance.sh", null, "v2", "mnistfc", Float, Prop0);
        Assert.Equal(1, exit);
        Assert.Contains("Expected first argument (version string) 'v1'", output);
    }
}
