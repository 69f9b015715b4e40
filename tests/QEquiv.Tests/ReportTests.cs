using System.Globalization;
using System.Text.Json;
using QEquiv.Benchmarking;
using QEquiv.Data;
using QEquiv.Regions;
using QEquiv.Reporting;
using QEquiv.Verification;
using SkiaSharp;

namespace QEquiv.Tests;

/// <summary>
/// `bench --report`, `report` and `verify --report` on small real instances: the files exist, the PNGs decode to
/// non-blank images, and every number the Markdown shows is recomputed here from the CSV or JSON written beside it.
/// </summary>
[Collection("Console")]
public sealed class ReportTests : IDisposable
{
    private readonly TempFiles _files = new();
    private static readonly string Float = TestData.Bench("mnistfc/mnist-net_256x2.onnx");
    private static readonly string Quant = TestData.Bench("pytorch/mnist-net_256x2.qnnpack-qdq.onnx");
    private static readonly string Prop0 = TestData.Bench("mnistfc/prop_0_0.03.vnnlib");
    private static readonly CultureInfo C = CultureInfo.InvariantCulture;

    public void Dispose() => _files.Dispose();

    [Trait("Speed", "Slow")]
    [Fact]
    public void BenchReportNumbersAreTheCsvs()
    {
        var c0 = _files.Write("c0.csv", File.ReadLines(TestData.Bench("pytorch/inputs.csv")).First() + "\n");
        var c1 = _files.Write("c1.csv", File.ReadLines(TestData.Bench("pytorch/inputs.csv")).Skip(1).First() + "\n");
        var f = Path.GetRelativePath(_files.Dir, Float);
        var q = Path.GetRelativePath(_files.Dir, Quant);
        // Falsified (δ below the error at the centre), verified (tiny ball), and a box the MILPs cannot close in 1 s (timeout).
        var list = _files.Write("list.csv", string.Join("\n",
            $"{f},{q},ball:{Path.GetFileName(c1)}:0.002:0:1,0.01,5",
            $"{f},{q},ball:{Path.GetFileName(c0)}:0.001:0:1,0.5,5",
            $"{f},{q},vnnlib:{Path.GetRelativePath(_files.Dir, Prop0)},0.1,30") + "\n");
        var dir = Path.Combine(_files.Dir, "bench-report");
        var results = Path.Combine(_files.Dir, "results.csv");
        var (exit, output, err) = CliRunner.Run("bench", list, "--out", results, "--strategy", "output:nodiff",
            "--compare", "output:nodiff,output", "--timeout", "1", "--report", dir);
        Assert.True(exit == 0, output + err);

        Assert.Equal(File.ReadAllText(results), File.ReadAllText(Path.Combine(dir, "results.csv")));
        var rows = File.ReadAllLines(results).Skip(1).Select(l => l.Split(',')).ToList();
        Assert.Equal(["output:nodiff", "output"], rows.Select(r => r[1]).Distinct());
        Assert.Contains(rows, r => r[5] == "unknown");
        var md = File.ReadAllText(Path.Combine(dir, "report.md"));
        AssertBenchTable(md, rows);
        Assert.Contains("](results.csv)", md);
        Assert.Contains("![", md);
        AssertPng(Path.Combine(dir, "cactus.png"), Plots.Width, Plots.Height);
        AssertPng(Path.Combine(dir, "scatter.png"), Plots.Width, Plots.Height);
        Assert.Contains("](cactus.png)", md);
        Assert.Contains("](scatter.png)", md);
    }

    [Fact]
    public void ReportCommandRemakesTheDocsReportFromTheCommittedCsv()
    {
        var csv = Path.Combine(TestData.RepoRoot, "bench", "results-mnistfc-q-diffbounds.csv");
        var dir = Path.Combine(_files.Dir, "from-csv");
        var (exit, output, err) = CliRunner.Run("report", csv, "--out", dir, "--compare", "output:nodiff,output");
        Assert.True(exit == 0, output + err);
        var md = File.ReadAllText(Path.Combine(dir, "report.md"));
        AssertBenchTable(md, File.ReadAllLines(csv).Skip(1).Select(l => l.Split(',')).ToList());
        AssertPng(Path.Combine(dir, "cactus.png"), Plots.Width, Plots.Height);
        AssertPng(Path.Combine(dir, "scatter.png"), Plots.Width, Plots.Height);

        // The docs embed the cactus plot this command makes, and the plot is there.
        var docs = File.ReadAllText(Path.Combine(TestData.RepoRoot, "docs", "benchmarks.md"));
        Assert.Contains("](img/mnistfc-q/cactus.png)", docs);
        AssertPng(Path.Combine(TestData.RepoRoot, "docs", "img", "mnistfc-q", "cactus.png"), Plots.Width, Plots.Height);

        // Without --compare there is no scatter, and the one of the earlier report is removed.
        Assert.Equal(0, CliRunner.Run("report", csv, "--out", dir).Exit);
        Assert.False(File.Exists(Path.Combine(dir, "scatter.png")));

        var bad = CliRunner.Run("report", csv, "--out", dir, "--compare", "output,monolithic");
        Assert.Equal(2, bad.Exit);
        Assert.Contains("no results for configuration 'monolithic'", bad.Err);
        var notResults = CliRunner.Run("report", TestData.Bench("pytorch/inputs.csv"), "--out", dir);
        Assert.Equal(2, notResults.Exit);
        Assert.Contains("expected the header", notResults.Err);
        var noReport = CliRunner.Run("bench", TestData.Bench("pytorch/inputs.csv"), "--compare", "output,monolithic");
        Assert.Equal(2, noReport.Exit);
        Assert.Contains("give --report DIR too", noReport.Err);
    }

    [Fact]
    public void FalsifiedVerifyReportShowsTheWitnessAndTheVnnCompCounterexample()
    {
        var dir = Path.Combine(_files.Dir, "falsified");
        var witness = Path.Combine(_files.Dir, "witness.csv");
        var (exit, output, err) = CliRunner.Run("verify", "--float", Float, "--quant", Quant, "--vnnlib", Prop0, "--delta", "0.04",
            "--witness", witness, "--timeout", "120", "--report", dir);
        Assert.True(exit == 10, output + err);
        var md = File.ReadAllText(Path.Combine(dir, "report.md"));
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "report.json")));
        var json = doc.RootElement;
        AssertSummaryRows(md, json, "sat");

        // The witness table: every output's N, Q and N − Q as the JSON has them.
        var w = json.GetProperty("witness");
        var n = w.GetProperty("floatOutput").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        var qv = w.GetProperty("quantOutput").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        // N as a float32 runtime runs it: the sequential float32 value and the bound for any order, both in the JSON.
        var f32 = w.GetProperty("float32Output").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        var bound = w.GetProperty("float32Error").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        var violating = w.GetProperty("output").GetInt32();
        Assert.True(w.GetProperty("guaranteedAbsDifference").GetDouble() >= 0.04);
        Assert.Equal(w.GetProperty("maxAbsDifference").GetDouble() - bound[violating], w.GetProperty("guaranteedAbsDifference").GetDouble());
        for (var j = 0; j < n.Length; j++)
        {
            var cells = Row(md, j.ToString(C), afterHeading: "## Witness");
            Assert.Equal(G(n[j]), cells[1]);
            Assert.Equal(G((float)qv[j]), cells[2]);
            Assert.StartsWith(G(n[j] - (float)qv[j]), cells[3]);
            Assert.Equal(G((float)f32[j]), cells[4]);
            Assert.Equal(G(bound[j]), cells[5]);
            Assert.True(Math.Abs(f32[j] - n[j]) <= bound[j], $"output {j}: float32 {f32[j]} not within {bound[j]} of {n[j]}");
        }
        AssertPng(Path.Combine(dir, "witness.png"), null, null);
        Assert.Contains("](witness.png)", md);

        // result.txt: VNN-COMP's results file; its counterexample is the witness CSV's input and N's outputs, exactly.
        var result = File.ReadAllText(Path.Combine(dir, "result.txt"));
        Assert.StartsWith("sat\n((X_0 ", result);
        var (x, y) = VnnComp.ParseCounterexample(result["sat\n".Length..]);
        Assert.Equal(Csv.ReadRows(witness)[0].Select(v => (double)v), x.Select(v => (double)(float)v));
        Assert.Equal(n, y);
        Assert.Equal(784, x.Length);
    }

    [Trait("Speed", "Slow")]
    [Fact]
    public void UnknownVerifyReportHasATimelineAndThePartitionTreeOfItsJson()
    {
        var center = Path.Combine(_files.Dir, "center.csv");
        File.WriteAllText(center, string.Join(",", MnistVerificationTests.ImageOf(VnnLib.ParseBox(Prop0).Box, 0.03).Select(v => v.ToString("R", C))) + "\n");
        var dir = Path.Combine(_files.Dir, "unknown");
        // ±0.002 at δ = 0.06: the bounds leave a few pieces to the MILPs, which split (0.3 s limit) and run out of the 5 s
        // (falsifier and bounds take about 1 s of it; the rest leaves room for splits on a loaded machine).
        var (exit, output, err) = CliRunner.Run("verify", "--float", Float, "--quant", Quant, "--center", center, "--eps", "0.002",
            "--clip", "0,1", "--delta", "0.06", "--timeout", "5", "--split-timeout", "0.3", "--workers", "2", "--report", dir);
        Assert.True(exit == 20, output + err);
        var md = File.ReadAllText(Path.Combine(dir, "report.md"));
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "report.json")));
        var json = doc.RootElement;
        AssertSummaryRows(md, json, "timeout");
        Assert.Equal("timeout\n", File.ReadAllText(Path.Combine(dir, "result.txt")));
        Assert.False(File.Exists(Path.Combine(dir, "witness.png")));

        // Partition tree: leaves, splits, outcomes, depth and attempts, recounted from the JSON's sub-problem records.
        var subs = json.GetProperty("subProblems").EnumerateArray().ToList();
        var leaves = subs.Where(s => s.GetProperty("outcome").GetString() != "split").ToList();
        var attempted = subs.Where(s => s.GetProperty("worker").ValueKind == JsonValueKind.Number).ToList();
        var tree = Row(md, null, afterHeading: "## Partition tree", skipHeader: true);
        Assert.Equal(subs.Count(s => s.GetProperty("outcome").GetString() == "split"), int.Parse(tree[1], C));
        Assert.True(int.Parse(tree[1], C) > 0, "the test wants at least one split");
        Assert.Equal(leaves.Count, int.Parse(tree[2], C));
        Assert.Equal(leaves.Count(s => s.GetProperty("outcome").GetString() == "proved"), int.Parse(tree[3], C));
        Assert.Equal(leaves.Count(s => s.GetProperty("outcome").GetString() == "violated"), int.Parse(tree[4], C));
        Assert.Equal(leaves.Count(s => s.GetProperty("outcome").GetString() == "unknown"), int.Parse(tree[5], C));
        Assert.Equal(subs.Max(s => s.GetProperty("depth").GetInt32()), int.Parse(tree[6], C));
        Assert.Equal(attempted.Count, int.Parse(tree[7], C));

        // Timeline: calls and busy seconds per worker are the JSON's attempts.
        AssertPng(Path.Combine(dir, "timeline.png"), Plots.Width, Plots.Height);
        foreach (var g in attempted.GroupBy(s => s.GetProperty("worker").GetInt32()))
        {
            var cells = Row(md, g.Key.ToString(C), afterHeading: "## Solver calls per worker");
            Assert.Equal(g.Count(), int.Parse(cells[1], C));
            var busy = g.Sum(s => s.GetProperty("end").GetDouble() - s.GetProperty("start").GetDouble());
            Assert.Equal(busy, double.Parse(cells[2], C), 0.0015);
        }

        // Δ bounds: every method's interval per output, as in the JSON.
        foreach (var b in json.GetProperty("bounds").EnumerateArray())
        {
            var cells = Row(md, b.GetProperty("output").GetInt32().ToString(C), afterHeading: "## Bounds of N_j − Q_j per output");
            string I(string name) => b.GetProperty(name) is { ValueKind: JsonValueKind.Array } a
                ? $"[{G(a[0].GetDouble())}, {G(a[1].GetDouble())}]" : "-";
            Assert.Equal([I("naive"), I("intervalDifferential"), I("symbolicDifferential"), I("tightest")], cells[1..5]);
        }
    }

    [Theory]
    [InlineData(Verdict.Falsified, 0.5, 10.0, "sat")]
    [InlineData(Verdict.Verified, 9.9, 10.0, "unsat")]
    [InlineData(Verdict.Unknown, 10.05, 10.0, "timeout")]
    [InlineData(Verdict.Unknown, 9.95, 10.0, "timeout")]
    [InlineData(Verdict.Unknown, 2.0, 10.0, "unknown")]
    [InlineData(Verdict.Unknown, 2.0, null, "unknown")]
    public void VnnCompResultWords(Verdict verdict, double seconds, double? timeout, string word) =>
        Assert.Equal(word, VnnComp.ResultWord(verdict, seconds, timeout));

    [Fact]
    public void CounterexampleFormatIsVnnCompsAndReadsBack()
    {
        var text = VnnComp.Counterexample([0.1f, -2f], [1.5, 1e-20]);
        Assert.Equal("((X_0 0.1)\n (X_1 -2)\n (Y_0 1.5)\n (Y_1 1E-20))\n", text);
        var (x, y) = VnnComp.ParseCounterexample(text);
        Assert.Equal([(double)0.1f, -2.0], x.Select(v => (double)(float)v));
        Assert.Equal([1.5, 1e-20], y);
        Assert.Throws<FormatException>(() => VnnComp.ParseCounterexample("((X_0 1)\n (X_2 3))"));
        Assert.Throws<FormatException>(() => VnnComp.ParseCounterexample("(X_0 1)"));
        Assert.Equal("unsat\n", VnnComp.ResultsFile("unsat", null));
    }

    [Fact]
    public void Par2CountsUndecidedRunsAtTwiceTheirLimit()
    {
        BenchResult Row(Verdict v, double s, double? t) => new(0, "i", "c", "scip", 0.1, t, v, s, 1, 0, 0, 0, 0, 0, 0);
        Assert.Equal(1.5 + 2 * 60 + 0.25, BenchReportLine.Par2Of([Row(Verdict.Verified, 1.5, 60), Row(Verdict.Unknown, 60.2, 60), Row(Verdict.Falsified, 0.25, null)]));
        Assert.Null(BenchReportLine.Par2Of([Row(Verdict.Unknown, 3, null)]));
        var csv = BenchResult.ToCsv([Row(Verdict.Verified, 1.5, 60), Row(Verdict.Unknown, 60.2, 60)]);
        var back = BenchResults.Parse(csv.TrimEnd('\n').Split('\n'), "x.csv");
        Assert.Equal([Verdict.Verified, Verdict.Unknown], back.Select(r => r.Verdict));
        Assert.Equal([0, 1], back.Select(r => r.Index));
        Assert.Equal(csv, BenchResult.ToCsv(back));
    }

    /// <summary>Each configuration's row of the report's table, recomputed from the CSV rows.</summary>
    private static void AssertBenchTable(string md, IReadOnlyList<string[]> rows)
    {
        foreach (var name in rows.Select(r => r[1]).Distinct())
        {
            var mine = rows.Where(r => r[1] == name).ToList();
            double S(string[] r) => double.Parse(r[6], C);
            double? T(string[] r) => r[4].Length == 0 ? null : double.Parse(r[4], C);
            var decided = mine.Where(r => r[5] != "unknown").ToList();
            var unknown = mine.Where(r => r[5] == "unknown").ToList();
            var timeouts = unknown.Count(r => T(r) is { } t && S(r) >= 0.99 * t);
            var median = BenchSummary.Median(decided.Select(S));
            var par2 = unknown.All(r => T(r) is not null) ? decided.Sum(S) + unknown.Sum(r => 2 * T(r)!.Value) : (double?)null;
            string F(double? v) => v is { } x ? x.ToString("F3", C) : "-";
            var cells = Row(md, name, afterHeading: "# Benchmark report");
            Assert.Equal([name, I(mine.Count), I(mine.Count(r => r[5] == "verified")), I(mine.Count(r => r[5] == "falsified")),
                I(timeouts), I(unknown.Count - timeouts), I(decided.Count), F(mine.Sum(S)), F(median), F(par2)], cells);
        }
    }

    /// <summary>The key/value rows at the top of the verification page against the JSON report.</summary>
    private static void AssertSummaryRows(string md, JsonElement json, string vnnWord)
    {
        string V(string key) => Row(md, key, afterHeading: "# Verification report")[1];
        Assert.Equal($"**{json.GetProperty("verdict").GetString()}**", V("verdict"));
        Assert.Equal(vnnWord, V("VNN-COMP result"));
        Assert.Equal(G(json.GetProperty("delta").GetDouble()), V("δ"));
        Assert.Equal(json.GetProperty("strategy").GetString(), V("strategy"));
        Assert.Equal(json.GetProperty("solver").GetString(), V("solver"));
        foreach (var stage in new[] { "total", "falsify", "bounds", "milp" })
            Assert.Equal(json.GetProperty("timings").GetProperty(stage).GetDouble().ToString("F3", C), V($"{stage} s"));
        var leaves = json.GetProperty("subProblems").EnumerateArray().Where(s => s.GetProperty("outcome").GetString() != "split").ToList();
        Assert.Equal(I(leaves.Count), V("sub-problems"));
        foreach (var (key, by) in new[] { ("by bounds", "bounds"), ("by MILP", "milp"), ("by falsifier", "falsifier"), ("open", "open") })
            Assert.Equal(I(leaves.Count(s => s.GetProperty("decidedBy").GetString() == by)), V(key));
        Assert.Equal(I(json.GetProperty("milpCalls").GetInt32()), V("MILP calls"));
        Assert.Equal(json.GetProperty("provedShare").GetDouble().ToString("0.####", C), V("proved share"));
    }

    /// <summary>
    /// The cells of the first Markdown table row after <paramref name="afterHeading"/> whose first cell is
    /// <paramref name="first"/> (null: the first data row of the first table there).
    /// </summary>
    private static string[] Row(string md, string? first, string afterHeading, bool skipHeader = false)
    {
        var start = md.IndexOf(afterHeading, StringComparison.Ordinal);
        Assert.True(start >= 0, $"no '{afterHeading}' in the report");
        var lines = md[start..].Split('\n').Where(l => l.StartsWith('|')).ToList();
        var rows = lines.Where(l => !l.StartsWith("| ---", StringComparison.Ordinal) && !l.StartsWith("| :", StringComparison.Ordinal))
            .Select(l => l.Trim().Trim('|').Split('|').Select(c => c.Trim()).ToArray()).ToList();
        if (first is null) return rows[skipHeader ? 1 : 0];
        var row = rows.FirstOrDefault(r => r[0] == first);
        Assert.True(row is not null, $"no row '{first}' after '{afterHeading}'");
        return row;
    }

    /// <summary>A real PNG: the signature, an IHDR of the expected size, and pixels SkiaSharp decodes into a non-blank image.</summary>
    private static void AssertPng(string path, int? width, int? height)
    {
        Assert.True(File.Exists(path), $"{path} is missing");
        var bytes = File.ReadAllBytes(path);
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A }, bytes[..8]);
        Assert.Equal("IHDR", System.Text.Encoding.ASCII.GetString(bytes, 12, 4));
        var w = (bytes[16] << 24) | (bytes[17] << 16) | (bytes[18] << 8) | bytes[19];
        var h = (bytes[20] << 24) | (bytes[21] << 16) | (bytes[22] << 8) | bytes[23];
        using var bitmap = SKBitmap.Decode(bytes);
        Assert.NotNull(bitmap);
        Assert.Equal((w, h), (bitmap.Width, bitmap.Height));
        if (width is { } ew) Assert.Equal(ew, w);
        if (height is { } eh) Assert.Equal(eh, h);
        var colours = new HashSet<SKColor>();
        for (var y = 0; y < h; y += 7)
            for (var x = 0; x < w; x += 7) colours.Add(bitmap.GetPixel(x, y));
        Assert.True(colours.Count > 3, $"{path} looks blank ({colours.Count} colours)");
    }

    private static string I(int v) => v.ToString(C);
    private static string G(double v) => v.ToString("G6", C);
}
