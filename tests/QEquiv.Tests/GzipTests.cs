using System.IO.Compression;
using QEquiv.Data;
using QEquiv.Onnx;
using QEquiv.Regions;

namespace QEquiv.Tests;

/// <summary>
/// gzip-compressed inputs (.onnx.gz, .nnet.gz, .vnnlib.gz, .csv.gz, instance lists), as VNN-COMP ships them, read as the
/// plain files everywhere — the model bytes a cluster worker receives included — and a truncated or corrupt one is one
/// line naming the file, exit 2.
/// </summary>
[Collection("Console")]
public sealed class GzipTests : IDisposable
{
    private readonly TempFiles _files = new();
    private static readonly string Float = TestData.Bench("mnistfc/mnist-net_256x2.onnx");
    private static readonly string Quant = TestData.Bench("pytorch/mnist-net_256x2.qnnpack-qdq.onnx");
    private static readonly string Prop0 = TestData.Bench("mnistfc/prop_0_0.03.vnnlib");
    private static readonly string Inputs = TestData.Bench("pytorch/inputs.csv");
    private static readonly string Spec2 = TestData.Bench("isomorphic/prop1-eps0.05.vnnlib");
    private static readonly string Nnet = TestData.Bench("neurodiff/nnet/ACASXU_run2a_1_1_batch_2000.nnet");

    public void Dispose() => _files.Dispose();

    private string Gzip(string source, string? name = null)
    {
        var path = Path.Combine(_files.Dir, name ?? Path.GetFileName(source) + ".gz");
        using (var gz = new GZipStream(File.Create(path), CompressionLevel.Fastest)) gz.Write(File.ReadAllBytes(source));
        Assert.True(Data.Gzip.IsCompressed(File.ReadAllBytes(path)));
        return path;
    }

    [Fact]
    public void CompressedModelsLoadAsThePlainOnes()
    {
        foreach (var model in new[] { Float, Quant, Nnet })
        {
            var plain = OnnxImporter.Load(model);
            var gz = Gzip(model);
            Assert.Equal(plain.Fingerprint, OnnxImporter.Load(gz).Fingerprint);
            // A cluster worker gets the file's bytes as they are on disk, compressed, under the file's name.
            Assert.Equal(plain.Fingerprint, OnnxImporter.Load(gz, File.ReadAllBytes(gz)).Fingerprint);
            if (model != Nnet) Assert.Equal(OnnxImporter.IsQuantized(model), OnnxImporter.IsQuantized(gz));
        }
        // By content, not by name: a compressed file called .onnx is read too.
        var misnamed = Gzip(Quant, "q.onnx");
        Assert.Equal(OnnxImporter.Load(Quant).Fingerprint, OnnxImporter.Load(misnamed).Fingerprint);
        var pair = OnnxImporter.LoadPair(Gzip(Float), Gzip(Quant), Quantization.Runtime.PyTorch);
        var plainPair = OnnxImporter.LoadPair(Float, Quant, Quantization.Runtime.PyTorch);
        Assert.Equal(plainPair.Other.Fingerprint, pair.Other.Fingerprint);
    }

    [Fact]
    public void CompressedTextInputsReadAsThePlainOnes()
    {
        var one = VnnLib.ParseBox(Prop0);
        var oneGz = VnnLib.ParseBox(Gzip(Prop0));
        Assert.Equal(one.Box.Lo, oneGz.Box.Lo);
        Assert.Equal(one.Box.Hi, oneGz.Box.Hi);
        var two = VnnLib.ParseBox(Spec2);
        var twoGz = VnnLib.ParseBox(Gzip(Spec2));
        Assert.Equal(two.Box.Lo, twoGz.Box.Lo);
        Assert.Equal(two.Box.Hi, twoGz.Box.Hi);
        Assert.Equal(two.Equivalence!.Plus, twoGz.Equivalence!.Plus);
        Assert.Equal(two.Equivalence.Minus, twoGz.Equivalence.Minus);
        var rows = Csv.ReadRows(Inputs);
        var rowsGz = Csv.ReadRows(Gzip(Inputs));
        Assert.Equal(rows.Count, rowsGz.Count);
        for (var r = 0; r < rows.Count; r++) Assert.Equal(rows[r], rowsGz[r]);
    }

    [Fact]
    public void TheCliReadsCompressedFilesAsThePlainOnes()
    {
        var rows = _files.Write("rows.csv", string.Join("\n", File.ReadLines(Inputs).Take(3)) + "\n");
        var plain = CliRunner.Run("eval", "--float", Float, "--quant", Quant, "--inputs", rows);
        Assert.Equal(0, plain.Exit);
        Assert.Contains("largest |N - Q| over 3 rows", plain.Out);
        var gz = CliRunner.Run("eval", "--float", Gzip(Float), "--quant", Gzip(Quant), "--inputs", Gzip(rows));
        Assert.True(gz.Exit == 0, gz.Err);
        Assert.Equal(plain.Out, gz.Out);
        var inspect = CliRunner.Run("inspect", Gzip(Quant, "q.onnx.gz"));
        Assert.True(inspect.Exit == 0, inspect.Err);
        Assert.Contains("q.onnx.gz", inspect.Out);
        Assert.Equal(CliRunner.Run("inspect", Quant).Out.Replace(Quant, "X"), inspect.Out.Replace(Path.Combine(_files.Dir, "q.onnx.gz"), "X"));
    }

    [Fact]
    public void ACompressedInstanceListWithCompressedFilesLoads()
    {
        var list = _files.Write("list.csv", $"{Gzip(Float)},{Gzip(Quant)},vnnlib:{Gzip(Prop0)},0.04,5\n");
        var instances = Benchmarking.BenchInstances.Read(Gzip(list));
        var prepared = Benchmarking.BenchRunner.Prepare(instances, Quantization.Runtime.Onnx);
        var p = Assert.Single(prepared);
        Assert.Equal(VnnLib.ParseBox(Prop0).Box.Lo, p.Box.Lo);
        Assert.Equal(OnnxImporter.Load(Quant).Fingerprint, p.Quantized.Fingerprint);
        Assert.Equal("mnist-net_256x2.qnnpack-qdq/prop_0_0.03/d=0.04", p.Instance.Name);
    }

    private string Truncated(string source)
    {
        var gz = File.ReadAllBytes(Gzip(source));
        var path = Path.Combine(_files.Dir, "cut-" + Path.GetFileName(source) + ".gz");
        File.WriteAllBytes(path, gz[..(gz.Length / 2)]);
        return path;
    }

    private string Corrupt(string source)
    {
        var gz = File.ReadAllBytes(Gzip(source));
        gz[^6] ^= 0xff; // the trailer's CRC-32: the data decompresses whole but is not what was compressed
        var path = Path.Combine(_files.Dir, "bad-" + Path.GetFileName(source) + ".gz");
        File.WriteAllBytes(path, gz);
        return path;
    }

    private static void AssertOneLine((int Exit, string Out, string Err) r, string file)
    {
        Assert.True(r.Exit == 2, $"exit {r.Exit}: {r.Err}");
        var line = r.Err.TrimEnd('\n', '\r');
        Assert.DoesNotContain('\n', line);
        Assert.StartsWith($"error: {file}: truncated or corrupt gzip data (", line);
        Assert.Equal("", r.Out);
    }

    [Fact]
    public void ATruncatedOrCorruptGzipIsOneLineAndExit2()
    {
        foreach (var bad in new Func<string, string>[] { Truncated, Corrupt })
        {
            var model = bad(Quant);
            AssertOneLine(CliRunner.Run("inspect", model), model);
            AssertOneLine(CliRunner.Run("verify", "--float", Float, "--quant", model, "--vnnlib", Prop0, "--delta", "0.04"), model);
            var vnnlib = bad(Prop0);
            AssertOneLine(CliRunner.Run("verify", "--float", Float, "--quant", Quant, "--vnnlib", vnnlib, "--delta", "0.04"), vnnlib);
            var spec = bad(Spec2);
            AssertOneLine(CliRunner.Run("max-error", "--float", Float, "--quant", Quant, "--vnnlib", spec), spec);
            var csv = bad(Inputs);
            AssertOneLine(CliRunner.Run("eval", "--float", Float, "--quant", Quant, "--inputs", csv), csv);
            var list = bad(Path.Combine(TestData.RepoRoot, "bench", "smoke.csv"));
            AssertOneLine(CliRunner.Run("bench", list, "--out", Path.Combine(_files.Dir, "r.csv")), list);
            // The bytes a cluster worker is given are checked the same way.
            var e = Assert.Throws<BadInputException>(() => OnnxImporter.Load("shipped.onnx.gz", File.ReadAllBytes(bad(Float))));
            Assert.StartsWith("shipped.onnx.gz: truncated or corrupt gzip data", e.Message);
        }
    }
}
