using System.Globalization;
using QEquiv.Benchmarking;
using QEquiv.Cli.Commands;
using QEquiv.Verification;

namespace QEquiv.Tests;

/// <summary>`qequiv bench`: the instance list is checked line by line before anything runs, and the summary is the CSV's.</summary>
[Collection("Console")]
public sealed class BenchTests : IDisposable
{
    private readonly TempFiles _files = new();
    private static readonly string Float = TestData.Bench("mnistfc/mnist-net_256x2.onnx");
    private static readonly string Quant = TestData.Bench("pytorch/mnist-net_256x2.qnnpack-qdq.onnx");

    public void Dispose() => _files.Dispose();

    /// <summary>A list in the temp folder whose model paths are relative to it, as users write them.</summary>
    private string List(params string[] lines)
    {
        var center = Path.Combine(_files.Dir, "c0.csv");
        if (!File.Exists(center)) File.WriteAllText(center, File.ReadLines(TestData.Bench("pytorch/inputs.csv")).First() + "\n");
        var center1 = Path.Combine(_files.Dir, "c1.csv");
        if (!File.Exists(center1)) File.WriteAllText(center1, File.ReadLines(TestData.Bench("pytorch/inputs.csv")).Skip(1).First() + "\n");
        var text = string.Join("\n", lines)
            .Replace("$F", Path.GetRelativePath(_files.Dir, Float))
            .Replace("$Q", Path.GetRelativePath(_files.Dir, Quant));
        return _files.Write("list.csv", text + "\n");
    }

    private (int Exit, string Out, string Err, string Results) Bench(string list, params string[] extra)
    {
        var results = Path.Combine(_files.Dir, "results.csv");
        File.Delete(results);
        var (exit, output, err) = CliRunner.Run(["bench", list, "--out", results, .. extra]);
        return (exit, output, err, results);
    }

    [Theory]
    [InlineData("$F,$Q,ball:c0.csv:0.001:0:1,0.5", 3, "expected 5 or 6 columns")]
    [InlineData("$F,$Q,ball:c0.csv:0.001:0:1,0.5,10,extra", 3, "column 6 (outputs)")]
    [InlineData("$F,$Q,ball:c0.csv:0.001:0:1,zero,10", 3, "delta 'zero' is not a finite number")]
    [InlineData("$F,$Q,ball:c0.csv:0.001:0:1,0,10", 3, "delta must be > 0")]
    [InlineData("$F,$Q,ball:c0.csv:0.001:0:1,-0.1,10", 3, "delta must be > 0")]
    [InlineData("$F,$Q,ball:c0.csv:0.001:0:1,0.5,ten", 3, "timeout 'ten' is not a finite number")]
    [InlineData("$F,$Q,ball:c0.csv:0.001:0:1,0.5,-1", 3, "timeout must be a number of seconds > 0")]
    [InlineData("$F,missing-q.onnx,ball:c0.csv:0.001:0:1,0.5,10", 3, "quantized model 'missing-q.onnx' does not exist")]
    [InlineData("$F,$Q,ball:nowhere.csv:0.001:0:1,0.5,10", 3, "region file 'nowhere.csv' does not exist")]
    [InlineData("$F,$Q,sphere:c0.csv:0.001,0.5,10", 3, "unknown region kind 'sphere'")]
    [InlineData(",$Q,ball:c0.csv:0.001:0:1,0.5,10", 3, "column 1 (float model) is empty")]
    public void BadLinesAreRejectedBeforeAnythingRuns(string badLine, int lineNo, string problem)
    {
        // A good line first: nothing may run (no results file) when a later line is bad.
        var list = List("# float, quantized, region, delta, timeout", "$F,$Q,ball:c0.csv:0.001:0:1,0.5,10", badLine);
        var (exit, _, err, results) = Bench(list);
        Assert.Equal(2, exit);
        var line = err.TrimEnd('\n', '\r');
        Assert.DoesNotContain('\n', line);
        Assert.StartsWith($"error: {list} line {lineNo}: ", line);
        Assert.Contains(problem, line);
        Assert.False(File.Exists(results));
    }

    [Fact]
    public void AModelThatDoesNotFitItsRegionNamesTheLine()
    {
        var small = _files.Write("small.csv", "0.5,0.5,0.5\n");
        var list = List("$F,$Q,ball:" + Path.GetFileName(small) + ":0.01,0.5,10");
        var (exit, _, err, _) = Bench(list);
        Assert.Equal(2, exit);
        Assert.StartsWith($"error: {list} line 1: the region", err);
        Assert.Contains("has 3 inputs but the models take 784", err);
    }

    [Fact]
    public void ListWithOnlyCommentsAndStrategyTyposAreBadInput()
    {
        var empty = _files.Write("empty.csv", "# nothing\nfloat,quantized,region,delta,timeout\n");
        var r = Bench(empty);
        Assert.Equal(2, r.Exit);
        Assert.Contains("no instances", r.Err);
        var list = List("$F,$Q,ball:c0.csv:0.001:0:1,0.5,10");
        r = Bench(list, "--strategy", "monolithic,outptu");
        Assert.Equal(2, r.Exit);
        Assert.Contains("unknown configuration 'outptu'", r.Err);
    }

    [Fact]
    public void StrategiesAreRepeatableAndCommaSeparated()
    {
        Assert.Equal([new BenchConfiguration(Strategy.Output), new BenchConfiguration(Strategy.Monolithic), new BenchConfiguration(Strategy.Output, false)],
            BenchCommand.ParseConfigurations(["output", "monolithic,output", "output:nodiff"]));
        Assert.Equal([new BenchConfiguration(Strategy.Monolithic), new BenchConfiguration(Strategy.OutputInput)], BenchCommand.ParseConfigurations(null));
        Assert.Throws<BadInputException>(() => BenchCommand.ParseConfigurations(["1"]));
        Assert.Throws<BadInputException>(() => BenchCommand.ParseConfigurations(["output:fast"]));
        Assert.Equal([new BenchConfiguration(Strategy.Output, Workers: 2), new BenchConfiguration(Strategy.Output, false, 2)],
            BenchCommand.ParseConfigurations(["output:w2", "output:nodiff:w2"]));
        Assert.Equal("output:nodiff:w2", new BenchConfiguration(Strategy.Output, false, 2).Name);
        Assert.Equal([new BenchConfiguration(Strategy.OutputInput, Workers: 1, Portfolio: true)], BenchCommand.ParseConfigurations(["output+input:w1:portfolio"]));
        Assert.Equal("output+input:w1:portfolio", new BenchConfiguration(Strategy.OutputInput, Workers: 1, Portfolio: true).Name);
        Assert.Throws<BadInputException>(() => BenchCommand.ParseConfigurations(["monolithic:w2"]));
        Assert.Throws<BadInputException>(() => BenchCommand.ParseConfigurations(["monolithic:portfolio"]));
        Assert.Throws<BadInputException>(() => BenchCommand.ParseConfigurations(["output:w0"]));
        Assert.Equal("output:p4", BenchCommand.ParseConfigurations(["output:p4"])[0].Name);
        Assert.Equal(4, BenchCommand.ParseConfigurations(["output:p4"])[0].OutputPieces);
        Assert.Throws<BadInputException>(() => BenchCommand.ParseConfigurations(["output:p0"]));
    }

    [Fact]
    public void HeaderCommentsAndRelativePathsParse()
    {
        var list = BenchInstances.Parse(
            ["# comment", "float,quantized,region,delta,timeout", "", "n.onnx, q.onnx ,vnnlib:p.vnnlib,0.05, # no timeout of its own"],
            "x.csv", TestData.Bench("mnistfc"), fileExists: _ => true);
        var inst = Assert.Single(list);
        Assert.Equal(4, inst.Line);
        Assert.Equal(Path.Combine(TestData.Bench("mnistfc"), "q.onnx"), inst.QuantModel);
        Assert.Null(inst.TimeoutSeconds);
        Assert.Equal(TimeSpan.FromSeconds(7), inst.EffectiveTimeout(7));
        Assert.Equal(TimeSpan.FromSeconds(3), (inst with { TimeoutSeconds = 3 }).EffectiveTimeout(7));
    }

    [Trait("Speed", "Slow")]
    [Fact]
    public void RunsBothStrategiesAndTheSummaryIsTheCsvs()
    {
        // Three quick instances on the real 256x2 pair: a δ below the error at the centre (falsified), a tiny ball
        // that bounds settle (verified), and a VNN-LIB box the MILPs cannot finish in 1 s (unknown).
        var prop0 = Path.GetRelativePath(_files.Dir, TestData.Bench("mnistfc/prop_0_0.03.vnnlib"));
        var list = List(
            "float,quantized,region,delta,timeout",
            "$F,$Q,ball:c1.csv:0.002:0:1,0.01,5",
            "# a comment between instances",
            "$F,$Q,ball:c0.csv:0.001:0:1,0.5,2",
            $"$F,$Q,vnnlib:{prop0},0.1,30");
        var (exit, output, err, results) = Bench(list, "--strategy", "monolithic", "--strategy", "output", "--timeout", "1");
        Assert.True(exit == 0, err);

        var lines = File.ReadAllLines(results);
        Assert.Equal(BenchResult.CsvHeader, lines[0]);
        var rows = lines.Skip(1).Select(l => l.Split(',')).ToList();
        Assert.Equal(6, rows.Count);
        Assert.Equal(["monolithic", "output", "monolithic", "output", "monolithic", "output"], rows.Select(r => r[1]));
        Assert.All(rows, r => Assert.Equal("scip", r[2]));
        Assert.All(rows, r => Assert.Equal("1", r[4])); // --timeout caps every instance's own limit
        Assert.Equal(["falsified", "falsified", "verified", "verified"], rows.Take(4).Select(r => r[5]));
        Assert.All(rows.Skip(4), r => Assert.Equal("unknown", r[5]));
        Assert.Equal("mnist-net_256x2.qnnpack-qdq/c1+-0.002/d=0.01", rows[0][0]);
        Assert.All(rows, r => Assert.Equal(14, r.Length));
        Assert.Equal(rows[0][0], rows[1][0]);
        // 20 (output, sign) pairs; the output strategy may cut open pairs into output-code pieces, so never fewer leaves.
        Assert.All(rows, r => Assert.True(int.Parse(r[7]) >= 20, $"{r[1]}: {r[7]} sub-problems"));
        Assert.All(rows, r => Assert.Equal(int.Parse(r[7]), int.Parse(r[8]) + int.Parse(r[9]) + int.Parse(r[10]) + int.Parse(r[11])));
        Assert.All(rows.Skip(2).Take(2), r => Assert.Equal("1", r[12])); // proved share of a verified run
        Assert.Contains("[3/3]", err);

        // The summary table: per strategy counts and the median over decided instances, exactly the CSV's.
        foreach (var strategy in new[] { "monolithic", "output" })
        {
            var mine = rows.Where(r => r[1] == strategy).ToList();
            int Count(string v) => mine.Count(r => r[5] == v);
            var decided = mine.Where(r => r[5] != "unknown").Select(r => double.Parse(r[6], CultureInfo.InvariantCulture)).ToList();
            var median = BenchSummary.Median(decided)!.Value;
            var tableRow = output.Split('\n').Single(l => l.TrimStart().StartsWith('│') || l.TrimStart().StartsWith('|') ? l.Contains($" {strategy} ") : false);
            var cells = tableRow.Split(['│', '|'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Where(c => c.Length > 0).ToArray();
            Assert.Equal([strategy, mine.Count.ToString(CultureInfo.InvariantCulture), Count("verified").ToString(CultureInfo.InvariantCulture),
                Count("falsified").ToString(CultureInfo.InvariantCulture), Count("unknown").ToString(CultureInfo.InvariantCulture),
                decided.Count.ToString(CultureInfo.InvariantCulture), median.ToString("F3", CultureInfo.InvariantCulture),
                mine.Sum(r => int.Parse(r[13], CultureInfo.InvariantCulture)).ToString(CultureInfo.InvariantCulture)], cells);
        }
        var ratios = Enumerable.Range(0, 2).Select(i => BenchSummary.Ratio(double.Parse(rows[2 * i][6], CultureInfo.InvariantCulture),
            double.Parse(rows[2 * i + 1][6], CultureInfo.InvariantCulture)));
        Assert.Contains(string.Create(CultureInfo.InvariantCulture,
            $"median speed-up of output over monolithic: {BenchSummary.Median(ratios):F2}x (monolithic s / output s on the 2 instances both decided)"), output);
    }
}

/// <summary>Every instance list in bench/ loads: its models, regions and δ, as `qequiv bench` would before any solving.</summary>
public class BenchListTests
{
    public static TheoryData<string> Lists()
    {
        var data = new TheoryData<string>();
        foreach (var f in Directory.GetFiles(Path.Combine(TestData.RepoRoot, "bench"), "*.csv").Where(f => !Path.GetFileName(f).StartsWith("results", StringComparison.Ordinal)).Order())
            data.Add(Path.GetFileName(f));
        return data;
    }

    [Theory]
    [MemberData(nameof(Lists))]
    public void EveryInstanceListLoads(string name)
    {
        var list = Benchmarking.BenchInstances.Read(Path.Combine(TestData.RepoRoot, "bench", name));
        Assert.NotEmpty(list);
        var prepared = Benchmarking.BenchRunner.Prepare(list, Quantization.Runtime.Onnx);
        Assert.Equal(list.Count, prepared.Count);
        Assert.All(prepared, p => Assert.True(p.Instance.Delta > 0 && p.Box.Dimension == p.Float.InputSize));
        if (name == "hard.csv")
        {
            // Issue 10's list: 24 boxes × two δ around each box's witnessed maximum.
            Assert.Equal(48, prepared.Count);
            Assert.Equal(24, prepared.Select(p => (p.Instance.FloatModel, p.Instance.QuantModel, p.Instance.Region.ToString())).Distinct().Count());
            Assert.Equal(4, prepared.Select(p => p.Instance.QuantModel).Distinct().Count());
        }
        if (name == "isomorphic.csv")
        {
            // VNN-COMP's two-network rows: 30 distinct (original, pruned copy) pairs, the one spec, δ = its ε, 100 s.
            Assert.Equal(30, prepared.Count);
            Assert.All(prepared, p =>
            {
                Assert.True(p.Instance.FromVnnComp);
                Assert.Equal(0.05, p.Instance.Delta);
                Assert.Equal(100, p.Instance.TimeoutSeconds);
                Assert.Equal("prop1-eps0.05.vnnlib", Path.GetFileName(p.Spec!.Source));
                Assert.StartsWith(Path.GetFileNameWithoutExtension(p.Instance.FloatModel) + "_pruned", Path.GetFileName(p.Instance.QuantModel));
                Assert.Equal(Path.Combine(TestData.Benchmarks, "isomorphic", "nets"), Path.GetDirectoryName(p.Instance.FloatModel));
            });
            Assert.Equal(30, prepared.Select(p => p.Instance.QuantModel).Distinct().Count());
            Assert.Equal(10, prepared.Select(p => p.Instance.FloatModel).Distinct().Count());
        }
    }
}
