using System.Globalization;
using System.Text.Json;
using QEquiv.Data;
using QEquiv.Falsification;
using QEquiv.Onnx;
using QEquiv.Regions;

namespace QEquiv.Tests;

/// <summary>`qequiv verify` and `max-error` end to end: first line, exit code, witness file, JSON report.</summary>
[Collection("Console")]
public sealed class VerifyCliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("qequiv-verify-").FullName;
    private static readonly string Float = TestData.Bench("mnistfc/mnist-net_256x2.onnx");
    private static readonly string Quant = TestData.Bench("pytorch/mnist-net_256x2.qnnpack-qdq.onnx");
    private static readonly string Prop0 = TestData.Bench("mnistfc/prop_0_0.03.vnnlib");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string CenterOfProp0()
    {
        var image = MnistVerificationTests.ImageOf(VnnLib.ParseBox(Prop0).Box, 0.03);
        var path = Path.Combine(_dir, "center.csv");
        File.WriteAllText(path, string.Join(",", image.Select(v => v.ToString("R", CultureInfo.InvariantCulture))) + "\n");
        return path;
    }

    [Fact]
    public void FalsifiedWritesAWitnessThatReexecutes()
    {
        var witness = Path.Combine(_dir, "witness.csv");
        var json = Path.Combine(_dir, "report.json");
        var (exit, output, err) = CliRunner.Run("verify", "--float", Float, "--quant", Quant, "--vnnlib", Prop0, "--delta", "0.04",
            "--witness", witness, "--json", json, "--timeout", "120");
        Assert.True(exit == 10, $"exit {exit}: {output} {err}");
        Assert.Equal("falsified", output.Split('\n')[0]);
        Assert.Contains("violating output", output);
        Assert.Contains("output constraints ignored", err);

        var x = Csv.ReadRows(witness)[0];
        var n = OnnxImporter.LoadFloat(Float);
        var q = OnnxImporter.LoadQuantized(Quant);
        Assert.True(VnnLib.ParseBox(Prop0).Box.Contains(x));
        var again = WitnessChecker.Check(G(n), G(q), x, 0.04);
        Assert.NotNull(again);

        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        Assert.Equal("falsified", doc.RootElement.GetProperty("verdict").GetString());
        Assert.Equal(20, doc.RootElement.GetProperty("subProblems").GetArrayLength());
        Assert.Equal(again.MaxAbsDifference, doc.RootElement.GetProperty("witness").GetProperty("maxAbsDifference").GetDouble());
        Assert.True(doc.RootElement.GetProperty("timings").GetProperty("total").GetDouble() > 0);
    }

    [Fact]
    public void VerifiedOnASmallBall()
    {
        var json = Path.Combine(_dir, "verified.json");
        var (exit, output, err) = CliRunner.Run("verify", "--float", Float, "--quant", Quant, "--center", CenterOfProp0(), "--eps", "0.0005",
            "--clip", "0,1", "--delta", "0.016", "--json", json);
        Assert.True(exit == 0, $"exit {exit}: {output} {err}");
        Assert.Equal("verified", output.Split('\n')[0]);
        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        foreach (var s in doc.RootElement.GetProperty("subProblems").EnumerateArray())
        {
            Assert.Equal("proved", s.GetProperty("outcome").GetString());
            Assert.Contains(s.GetProperty("decidedBy").GetString(), new[] { "bounds", "milp" });
        }
        Assert.False(File.Exists(Path.Combine(Environment.CurrentDirectory, "witness.csv.never")));
    }

    [Trait("Speed", "Slow")]
    [Fact]
    public void UnknownWhenTimeRunsOut()
    {
        // ±0.002: the falsifier sees at most ≈0.05, interval bounds are far too loose for δ = 0.06, and 3 s of MILP cannot close it.
        var json = Path.Combine(_dir, "unknown.json");
        var (exit, output, _) = CliRunner.Run("verify", "--float", Float, "--quant", Quant, "--center", CenterOfProp0(), "--eps", "0.002",
            "--clip", "0,1", "--delta", "0.06", "--timeout", "3", "--witness", Path.Combine(_dir, "none.csv"), "--json", json);
        Assert.Equal(20, exit);
        Assert.Equal("unknown", output.Split('\n')[0]);
        Assert.Contains("open", output);
        Assert.False(File.Exists(Path.Combine(_dir, "none.csv")));

        // What the run did prove, per (output, sign): every pair once, the open ones on a line of their own.
        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        var pairs = doc.RootElement.GetProperty("pairs").EnumerateArray().ToList();
        Assert.Equal(20, pairs.Count);
        Assert.Equal(20, pairs.Select(p => (p.GetProperty("output").GetInt32(), p.GetProperty("sign").GetInt32())).Distinct().Count());
        var open = pairs.Where(p => p.GetProperty("status").GetString() == "open").ToList();
        Assert.NotEmpty(open);
        Assert.All(pairs, p => Assert.Contains(p.GetProperty("status").GetString(), new[] { "proved", "open" }));
        Assert.All(pairs, p => Assert.InRange(p.GetProperty("provedVolume").GetDouble(), 0, 1));
        Assert.All(pairs.Where(p => p.GetProperty("status").GetString() == "proved"), p => Assert.Equal(1, p.GetProperty("provedVolume").GetDouble()));
        Assert.Contains($"(output, sign) pairs: {20 - open.Count} proved, {open.Count} open, 0 violated", output);
        foreach (var p in open)
            Assert.Contains($"  output {p.GetProperty("output").GetInt32()} {(p.GetProperty("sign").GetInt32() > 0 ? "+" : "-")}: open, ", output);
    }

    [Fact]
    public void MaxErrorBracketsTheErrorOnASmallBall()
    {
        var (exit, output, err) = CliRunner.Run("max-error", "--float", Float, "--quant", Quant, "--center", CenterOfProp0(), "--eps", "0.0005", "--clip", "0,1");
        Assert.True(exit == 0, err);
        var last = output.TrimEnd().Split('\n')[^1];
        Assert.StartsWith("max |N - Q| on the region is in [", last);
        var numbers = last[(last.IndexOf('[') + 1)..last.IndexOf(']')].Split(", ").Select(v => double.Parse(v, CultureInfo.InvariantCulture)).ToArray();
        Assert.True(numbers[0] <= numbers[1]);
        Assert.True(numbers[1] < 0.016, $"upper {numbers[1]}: the verify test above relies on δ* < 0.016");
        Assert.True(numbers[1] - numbers[0] < 1e-4, $"interval [{numbers[0]}, {numbers[1]}] is not tight");
    }

    [Fact]
    public void TwoWorkersReachTheSameVerdicts()
    {
        var verified = CliRunner.Run("verify", "--float", Float, "--quant", Quant, "--center", CenterOfProp0(), "--eps", "0.0005",
            "--clip", "0,1", "--delta", "0.016", "--workers", "2");
        Assert.True(verified.Exit == 0, verified.Out + verified.Err);
        Assert.Equal("verified", verified.Out.Split('\n')[0]);

        var witness = Path.Combine(_dir, "w2.csv");
        var falsified = CliRunner.Run("verify", "--float", Float, "--quant", Quant, "--vnnlib", Prop0, "--delta", "0.04",
            "--workers", "2", "--witness", witness, "--timeout", "120");
        Assert.Equal(10, falsified.Exit);
        Assert.NotNull(WitnessChecker.Check(G(OnnxImporter.LoadFloat(Float)), G(OnnxImporter.LoadQuantized(Quant)), Csv.ReadRows(witness)[0], 0.04));

        var monolithic = CliRunner.Run("verify", "--float", Float, "--quant", Quant, "--vnnlib", Prop0, "--delta", "0.04",
            "--workers", "2", "--strategy", "monolithic");
        Assert.Equal(2, monolithic.Exit);
        Assert.Contains("--workers", monolithic.Err);
    }
}
