using System.Globalization;
using System.IO.Compression;
using QEquiv.Benchmarking;
using QEquiv.Onnx;
using QEquiv.Regions;
using QEquiv.Reporting;

namespace QEquiv.Tests;

/// <summary>
/// VNN-COMP's two-network instance rows ("[('f', A), ('g', B)]", a VNN-LIB 2.0 spec, the timeout) in `qequiv bench`: read,
/// checked before anything runs, and run end to end into VNN-COMP results files.
/// </summary>
[Collection("Console")]
public sealed class VnnCompBenchTests : IDisposable
{
    private readonly TempFiles _files = new();
    public void Dispose() => _files.Dispose();

    private static readonly string Original = TestData.Bench("isomorphic/nets/ACASXU_run2a_1_2_batch_2000.onnx");
    private static readonly string Pruned = TestData.Bench("isomorphic/nets_pruned/ACASXU_run2a_1_2_batch_2000_pruned30.onnx");
    private static readonly string Spec = TestData.Bench("isomorphic/prop1-eps0.05.vnnlib");

    private string Rel(string path) => Path.GetRelativePath(_files.Dir, path);

    private string Gzip(string source, string name)
    {
        var path = Path.Combine(_files.Dir, name);
        using (var gz = new GZipStream(File.Create(path), CompressionLevel.Fastest)) gz.Write(File.ReadAllBytes(source));
        return path;
    }

    private string Row(string f, string g, string spec, string timeout = "100") =>
        $"\"[('f', '{Rel(f)}'), ('g', '{Rel(g)}')]\",{Rel(spec)},{timeout}";

    [Fact]
    public void ATwoNetworkRowIsReadWithTheSpecsNetworksBoxAndEpsilon()
    {
        var list = _files.Write("instances.csv", string.Join("\n",
            "networks,property,timeout",
            Row(Original, Pruned, Spec),
            // Names and paths unquoted, the pair in the other order, a compressed model: the spec decides which is N.
            $"\"[(g, {Rel(Gzip(Pruned, "pruned.onnx.gz"))}), (f, {Rel(Original)})]\",{Rel(Spec)},",
            Original + "," + Pruned + ",vnnlib:" + Spec + ",0.05,7") + "\n");
        var instances = BenchInstances.Read(list);
        Assert.Equal(3, instances.Count);
        var (a, b, c) = (instances[0], instances[1], instances[2]);
        Assert.Equal((Original, Pruned, 0.05, 100.0), (a.FloatModel, a.QuantModel, a.Delta, a.TimeoutSeconds!.Value));
        Assert.True(a.FromVnnComp);
        Assert.Equal(Original, b.FloatModel);
        Assert.EndsWith("pruned.onnx.gz", b.QuantModel);
        Assert.Null(b.TimeoutSeconds);
        Assert.False(c.FromVnnComp);
        Assert.Equal("ACASXU_run2a_1_2_batch_2000_pruned30/prop1-eps0.05/d=0.05", a.Name);
        Assert.Equal("pruned/prop1-eps0.05/d=0.05", b.Name);
        var prepared = BenchRunner.Prepare(instances, Quantization.Runtime.Onnx);
        var box = VnnLib.ParseBox(Spec).Box;
        Assert.All(prepared, p =>
        {
            Assert.Equal(box.Lo, p.Box.Lo);
            Assert.Equal(box.Hi, p.Box.Hi);
            Assert.Equal(0.05, p.Spec!.Delta);
            Assert.Equal("f", p.Spec.Reference.Name);
        });
        Assert.Equal(OnnxImporter.Load(Pruned).Fingerprint, prepared[1].Quantized.Fingerprint);
    }

    [Fact]
    public void BadTwoNetworkRowsAreRefusedNamingTheLine()
    {
        var oneZero = TestData.Bench("acasxu/props/prop_1.vnnlib");
        var cases = new (string Line, string Problem)[]
        {
            (Row(Original, Pruned, oneZero), "is VNN-LIB 1.0; a two-network row needs a VNN-LIB 2.0 spec"),
            ($"\"[('f', '{Rel(Original)}'), ('h', '{Rel(Pruned)}')]\",{Rel(Spec)},100", "network 'h' is not declared in"),
            ($"\"[('f', '{Rel(Original)}'), ('g', '{Rel(Pruned)}'), ('h', '{Rel(Pruned)}')]\",{Rel(Spec)},100", "name 3 networks; QEquiv compares two"),
            ($"\"[('f', '{Rel(Original)}')]\",{Rel(Spec)},100", "name 1 networks"),
            ($"\"[('f' '{Rel(Original)}')]\",{Rel(Spec)},100", "are not written [('f', A), ('g', B)]"),
            ($"\"[('f', '{Rel(Original)}'), ('f', '{Rel(Pruned)}')]\",{Rel(Spec)},100", "network 'f' is given twice"),
            ($"\"[('f', 'nowhere.onnx'), ('g', '{Rel(Pruned)}')]\",{Rel(Spec)},100", "network 'f' 'nowhere.onnx' does not exist"),
            (Row(Original, Pruned, Spec, "0"), "timeout must be a number of seconds > 0"),
            (Row(Original, Pruned, Spec) + ",extra", "has 3 columns (networks, VNN-LIB 2.0 property, timeout), found 4"),
            ($"{Rel(Original)},{Rel(Spec)},100", "a three-column row is VNN-COMP's, whose first column names two networks"),
            ($"\"[('f', '{Rel(Original)}'), ('g', '{Rel(Pruned)}')],{Rel(Spec)},100", "a double quote is opened but never closed"),
        };
        foreach (var (line, problem) in cases)
        {
            var list = _files.Write("bad.csv", Row(Original, Pruned, Spec) + "\n" + line + "\n");
            var e = Assert.Throws<BadInputException>(() => BenchInstances.Read(list));
            Assert.StartsWith($"{list} line 2: ", e.Message);
            Assert.Contains(problem, e.Message);
        }
        // A five-column row with a 2.0 spec: its δ column must be the spec's ε (the question the results file answers).
        var five = _files.Write("five.csv", $"{Original},{Pruned},vnnlib:{Spec},0.04,10\n");
        var error = Assert.Throws<BadInputException>(() => BenchRunner.Prepare(BenchInstances.Read(five), Quantization.Runtime.Onnx));
        Assert.StartsWith($"{five} line 1: delta 0.04 is not the tolerance ε = 0.05 that {Spec} states", error.Message);
    }

    [Fact]
    public void BenchRunsATwoNetworkListIntoVnnCompResultsFiles()
    {
        // Row 1: ε = 0.01 on a box where the pruned copy differs by more (X_f[4] given a range, see below): sat.
        // Row 2: the shipped spec, 2 s: its X_f[4] = −0.45 holds no float32 value, so no witness can exist (a note says
        // so) and the short run ends as VNN-COMP's timeout.
        var text = File.ReadAllText(Spec).Replace("0.05)", "0.01)").Replace("(>= X_f[4] -0.45)", "(>= X_f[4] -0.5)");
        var satSpec = Gzip(_files.Write("eps0.01.vnnlib", text), "eps0.01.vnnlib.gz");
        var list = _files.Write("pairs.csv", Row(Original, Pruned, satSpec, "60") + "\n" + Row(Original, Pruned, Spec, "2") + "\n");
        var dir = Path.Combine(_files.Dir, "vnncomp");
        var json = Path.Combine(_files.Dir, "bench.json");
        var (exit, _, err) = CliRunner.Run("bench", list, "--strategy", "output+input", "--out", Path.Combine(_files.Dir, "r.csv"), "--vnncomp", dir,
            "--json", json, "--quiet");
        Assert.True(exit == 0, err);
        var files = Directory.GetFiles(dir).Select(p => Path.GetFileName(p)).Order().ToArray();
        Assert.Equal(["001-ACASXU_run2a_1_2_batch_2000_pruned30_eps0.01_d=0.01.txt", "002-ACASXU_run2a_1_2_batch_2000_pruned30_prop1-eps0.05_d=0.05.txt"], files);
        Assert.Equal("timeout\n", File.ReadAllText(Path.Combine(dir, files[1])));

        var sat = File.ReadAllText(Path.Combine(dir, files[0]));
        Assert.StartsWith("sat\n", sat);
        var values = VnnComp.ParseAssignments(sat[4..]);
        string Name(string v, int i) => string.Create(CultureInfo.InvariantCulture, $"{v}[{i}]");
        Assert.Equal(Enumerable.Range(0, 20).Select(k => Name(new[] { "X_f", "Y_f", "X_g", "Y_g" }[k / 5], k % 5)), values.Select(v => v.Name));
        var x = values.Take(5).Select(v => (float)v.Value).ToArray();
        Assert.Equal(values.Take(5).Select(v => v.Value), values.Skip(10).Take(5).Select(v => v.Value)); // X_g = X_f
        var box = VnnLib.ParseBox(satSpec).Box;
        for (var i = 0; i < 5; i++) Assert.InRange(x[i], box.Lo[i], box.Hi[i]);
        // Re-executed: Y_f is f at x (exact), Y_g is g at x (float32), and some output breaks ε = 0.01 — in QEquiv's exact
        // evaluation and in ONNX Runtime's float32 one.
        var f = OnnxImporter.Load(Original).Evaluate(x);
        var g = OnnxImporter.Load(Pruned).Evaluate(x);
        Assert.Equal(f, values.Skip(5).Take(5).Select(v => v.Value));
        Assert.Equal(g.Select(v => (float)v), values.Skip(15).Take(5).Select(v => (float)v.Value));
        Assert.Contains(Enumerable.Range(0, 5), j => Math.Abs(g[j] - f[j]) > 0.01);
        using var ortF = new OrtOracle(Original);
        using var ortG = new OrtOracle(Pruned);
        var (of, og) = (ortF.Run(x), ortG.Run(x));
        Assert.Contains(Enumerable.Range(0, 5), j => Math.Abs((double)og[j] - of[j]) > 0.01);
        using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(json));
        Assert.Equal(["falsified", "unknown"], doc.RootElement.GetProperty("results").EnumerateArray().Select(r => r.GetProperty("verdict").GetString()));
    }
}
