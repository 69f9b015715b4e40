using System.Text.Json;

namespace QEquiv.Tests;

/// <summary>
/// Outputs and exit codes as a new user meets them: every output path and flag is checked before any work (a model
/// that does not exist is never reached), errors are one line without .NET type names, outputs are whole or absent,
/// every computing command takes --json PATH|- and --quiet, and the help lists the exit codes.
/// </summary>
[Collection("Console")]
public sealed class OutputsAndExitCodesTests : IDisposable
{
    private readonly TempFiles _files = new();
    private static readonly string Float = TestData.Bench("mnistfc/mnist-net_256x2.onnx");
    private static readonly string Quant = TestData.Bench("pytorch/mnist-net_256x2.qnnpack-qdq.onnx");
    private static readonly string Prop0 = TestData.Bench("mnistfc/prop_0_0.03.vnnlib");
    private static readonly string Inputs = TestData.Bench("pytorch/inputs.csv");

    public void Dispose() => _files.Dispose();

    /// <summary>Exit 2, one line `error: ...` naming <paramref name="names"/> and the problem, and nothing on stdout (no work was done).</summary>
    private static void AssertRefusedBeforeWork((int Exit, string Out, string Err) r, string names, string problem)
    {
        Assert.True(r.Exit == 2, $"exit {r.Exit}: {r.Out} {r.Err}");
        var line = r.Err.TrimEnd('\n', '\r');
        Assert.DoesNotContain('\n', line);
        Assert.StartsWith("error: ", line);
        Assert.Contains(names, line);
        Assert.Contains(problem, line);
        Assert.Equal("", r.Out);
    }

    private string Missing => Path.Combine(_files.Dir, "no-such-model.onnx");

    /// <summary>Arguments of a command whose model does not exist: a check that ran after loading would report the model.</summary>
    private string[] Verify(params string[] extra) => ["verify", "--float", Missing, "--quant", Missing, "--vnnlib", Prop0, "--delta", "0.04", .. extra];

    [Fact]
    public void EveryOutputPathIsCheckedBeforeTheModelsLoad()
    {
        var folder = Directory.CreateDirectory(Path.Combine(_files.Dir, "a-folder")).FullName;
        var file = _files.Write("a-file.txt", "x");
        var gone = Path.Combine(_files.Dir, "gone", "out.json");
        var list = _files.Write("list.csv", $"{Missing},{Missing},ball:x.csv:0.1,0.5,10\n");
        var results = _files.Write("results.csv", "instance,configuration,solver,delta,timeout,verdict,seconds,sub_problems,by_falsifier,by_bounds,by_milp,open,proved_share,milp_calls\n");
        var cases = new (string[] Args, string Names, string Problem)[]
        {
            (Verify("--json", gone), "gone", "does not exist (--json)"),
            (Verify("--json", folder), "a-folder", "is a folder; --json needs a file path"),
            (Verify("--witness", folder), "a-folder", "is a folder; --witness needs a file path"),
            (Verify("--witness", Path.Combine(file, "w.csv")), "a-file.txt", "is a file, not a folder"),
            (Verify("--report", file), "a-file.txt", "is a file; --report needs a folder"),
            (Verify("--report", Path.Combine(_files.Dir, "gone", "report")), "gone", "the report folder's parent"),
            (Verify("--resume", folder), "a-folder", "is a folder; --resume needs a file path"),
            (Verify("--json", "/proc/qequiv.json"), "/proc/qequiv.json", "cannot write into the folder /proc (--json)"),
            (Verify("--json", Path.Combine(_files.Dir, "same"), "--witness", Path.Combine(_files.Dir, "same")), "same", "given to both --json and --witness"),
            (Verify("--witness", "-"), "--witness", "'-' (standard output) is not possible here"),
            (["max-error", "--float", Missing, "--quant", Missing, "--vnnlib", Prop0, "--json", gone], "gone", "does not exist (--json)"),
            (["eval", "--float", Missing, "--quant", Missing, "--inputs", Inputs, "--json", folder], "a-folder", "is a folder"),
            (["inspect", Missing, "--json", gone], "gone", "does not exist"),
            (["quantize", Missing, "--calibration", Inputs, "--out", gone], "gone", "does not exist (--out)"),
            (["quantize", Missing, "--calibration", Inputs, "--out", Path.Combine(_files.Dir, "q.onnx"), "--json", "/proc/q.json"], "/proc/q.json", "cannot write"),
            (["bench", list, "--out", gone], "gone", "does not exist (--out)"),
            (["bench", list, "--out", Path.Combine(_files.Dir, "r.csv"), "--report", file], "a-file.txt", "is a file; --report needs a folder"),
            (["bench", list, "--out", Path.Combine(_files.Dir, "r.csv"), "--json", "/proc/b.json"], "/proc/b.json", "cannot write"),
            (["report", results, "--out", "/proc/report"], "/proc/report", "cannot write into the folder /proc (--out)"),
        };
        foreach (var (args, names, problem) in cases)
            AssertRefusedBeforeWork(CliRunner.Run(args), names, problem);
        // Nothing was made: no folder, no file, no temporary file.
        Assert.Equal<string>(["a-file.txt", "a-folder", "list.csv", "results.csv"], Directory.GetFileSystemEntries(_files.Dir).Select(p => Path.GetFileName(p)!).Order().ToArray());
    }

    [Fact]
    public void FlagsAreCheckedBeforeTheModelsLoadInTheUsersWords()
    {
        var center = _files.Write("c.csv", string.Join(",", Enumerable.Repeat("0.5", 784)) + "\n");
        var cases = new (string[] Args, string Names, string Problem)[]
        {
            (Verify("--timeout", "abc"), "--timeout", "'abc' is not a number"),
            (Verify("--workers", "1.5"), "--workers", "'1.5' is not a whole number"),
            (Verify("--solver", "gurobi"), "--solver", "'gurobi' is not one of scip, highs, cbc"),
            (Verify("--timeout", "-5"), "--timeout", "must be a number of seconds > 0"),
            (Verify("--timeout", "NaN"), "--timeout", "must be a number of seconds > 0"),
            (Verify("--lp-budget", "-1"), "--lp-budget", "≥ 0"),
            (Verify("--output-pieces", "0"), "--output-pieces", "must be ≥ 1"),
            (Verify("--strategy", "fast"), "--strategy", "unknown strategy 'fast'"),
            (["verify", "--float", Missing, "--quant", Missing, "--center", center, "--eps", "NaN", "--delta", "0.04"], "--eps", "eps must be a finite number > 0"),
            (["verify", "--float", Missing, "--quant", Missing, "--center", center, "--eps", "-1", "--delta", "0.04"], "c.csv", "eps must be a finite number > 0"),
            (["verify", "--float", Missing, "--quant", Missing, "--center", center, "--eps", "0.1", "--clip", "1,0", "--delta", "0.04"], "--clip", "lo < hi"),
            (["max-error", "--float", Missing, "--quant", Missing, "--vnnlib", Prop0, "--gap", "-1"], "--gap", "≥ 0"),
            (["max-error", "--float", Missing, "--quant", Missing, "--vnnlib", Prop0, "--search-time", "-1"], "--search-time", "≥ 0"),
            (Verify("--workers", "-1"), "--workers", "must be ≥ 0 (0: all cores)"),
            (Verify("--strategy", "monolithic", "--workers", "2"), "--workers", "the monolithic strategy is one MILP"),
            (Verify("--strategy", "monolithic", "--portfolio"), "--portfolio", "the monolithic strategy is one MILP on one solver"),
            (["max-error", "--float", Missing, "--quant", Missing, "--vnnlib", Prop0, "--timeout", "x"], "--timeout", "'x' is not a number"),
            (["bench", Missing, "--timeout", "0", "--out", Path.Combine(_files.Dir, "r.csv")], "--timeout", "> 0"),
            (["bench", Missing, "--strategy", "output:cluster", "--out", Path.Combine(_files.Dir, "r.csv")], "--strategy", "need --cluster HOST:PORT"),
            (["quantize", Missing, "--calibration", Missing, "--out", Path.Combine(_files.Dir, "q.onnx"), "--observer", "kl"], "--observer", "'kl' not recognized"),
        };
        foreach (var (args, names, problem) in cases)
        {
            var r = CliRunner.Run(args);
            AssertRefusedBeforeWork(r, names, problem);
            Assert.DoesNotContain("System.", r.Err);
            Assert.DoesNotContain("Exception", r.Err);
            Assert.DoesNotContain("Nullable", r.Err);
        }
    }

    [Fact]
    public void BareQequivPrintsTheUsageAndHelpListsTheExitCodes()
    {
        var bare = CliRunner.Run();
        Assert.Equal(2, bare.Exit);
        Assert.Equal("", bare.Out);
        Assert.Contains("Usage:", bare.Err);
        Assert.Contains("verify", bare.Err);
        Assert.Contains("Exit codes:", bare.Err);
        foreach (var command in new[] { "verify", "max-error", "bench", "eval", "inspect", "quantize", "report" })
        {
            var (exit, output, _) = CliRunner.Run(command, "--help");
            Assert.Equal(0, exit);
            foreach (var code in new[] { "Exit codes:", "0 ok", "10 falsified", "20 unknown", "2 bad input", "130 interrupted", "1 internal error" })
                Assert.Contains(code, output);
        }
    }

    [Fact]
    public void EveryComputingCommandTakesJsonAndQuietAndOneTimeoutEach()
    {
        foreach (var command in new[] { "eval", "max-error", "bench", "inspect", "quantize", "verify" })
        {
            var (exit, output, _) = CliRunner.Run(command, "--help");
            Assert.Equal(0, exit);
            Assert.Contains("--json <PATH>", output);
            Assert.Contains("'-': to standard output", output);
            Assert.Contains("--quiet", output);
        }
        Assert.Contains("time limit of the whole run", CliRunner.Run("verify", "--help").Out);
        Assert.Contains("time limit of the whole run", CliRunner.Run("max-error", "--help").Out);
        Assert.Contains("time limit of each instance run", CliRunner.Run("bench", "--help").Out);
    }

    [Fact]
    public void AnEpsBallLargerThanTheClippedDomainGetsANotice()
    {
        var center = _files.Write("c.csv", File.ReadLines(Inputs).First() + "\n");
        var json = Path.Combine(_files.Dir, "whole.json");
        var (exit, output, err) = CliRunner.Run("verify", "--float", Float, "--quant", Quant, "--center", center, "--eps", "2", "--clip", "0,1",
            "--delta", "0.04", "--timeout", "120", "--json", json);
        Assert.Contains("note: --eps 2 is at least the width of the whole input domain --clip 0,1", err);
        Assert.True(exit == 10, $"exit {exit}: {output} {err}");
        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        Assert.False(doc.RootElement.GetProperty("interrupted").GetBoolean());
        // A sensible radius gets no such notice.
        var small = CliRunner.Run("verify", "--float", Float, "--quant", Quant, "--center", center, "--eps", "0.0005", "--clip", "0,1", "--delta", "0.5");
        Assert.Equal(0, small.Exit);
        Assert.DoesNotContain("whole input domain", small.Err);
    }

    [Fact]
    public void JsonDashPutsOnlyTheJsonOnStdout()
    {
        var eval = CliRunner.Run("eval", "--float", Float, "--quant", Quant, "--inputs", Inputs, "--summary", "--json", "-");
        Assert.True(eval.Exit == 0, eval.Err);
        using (var doc = JsonDocument.Parse(eval.Out))
        {
            Assert.Equal(300, doc.RootElement.GetProperty("rows").GetInt32());
            Assert.Equal(0.15834712982177734, doc.RootElement.GetProperty("maxAbsDifference").GetDouble(), 1e-6);
        }
        Assert.Contains("largest |N - Q| over 300 rows", eval.Err);

        var inspect = CliRunner.Run("inspect", Quant, "--json", "-");
        Assert.True(inspect.Exit == 0, inspect.Err);
        using (var doc = JsonDocument.Parse(inspect.Out))
        {
            Assert.Equal("quantized", doc.RootElement.GetProperty("kind").GetString());
            Assert.Equal(784, doc.RootElement.GetProperty("inputSize").GetInt32());
        }
        Assert.Contains("784→256", inspect.Err);
        // The graph's operators are in the JSON, and --quiet leaves standard error to errors.
        using (var doc = JsonDocument.Parse(inspect.Out))
            Assert.Contains(doc.RootElement.GetProperty("operators").EnumerateArray(), o => o.GetProperty("op").GetString() == "IntegerLinear");
        var quietInspect = CliRunner.Run("inspect", Quant, "--json", "-", "--quiet");
        Assert.Equal(0, quietInspect.Exit);
        Assert.Equal("", quietInspect.Err.Trim());
    }

    [Fact]
    public void AReportFolderThatCannotTakeItsFilesIsLeftAsItWas()
    {
        // report.md is a folder in an existing report folder: refused before a file is written, no temporary file left.
        var csv = Path.Combine(TestData.RepoRoot, "bench", "results-mnistfc-q-diffbounds.csv");
        var dir = Directory.CreateDirectory(Path.Combine(_files.Dir, "rep")).FullName;
        Directory.CreateDirectory(Path.Combine(dir, "report.md"));
        var (exit, _, err) = CliRunner.Run("report", csv, "--out", dir);
        Assert.True(exit == 2, err);
        Assert.Contains("report.md: is a folder", err);
        Assert.Equal<string>(["report.md"], Directory.GetFileSystemEntries(dir).Select(p => Path.GetFileName(p)!).ToArray());
        Assert.Empty(Directory.GetFiles(_files.Dir, "*.tmp", SearchOption.AllDirectories));

        // A new folder appears whole: report.md beside its plot, nothing staged left over.
        var fresh = Path.Combine(_files.Dir, "fresh");
        Assert.Equal(0, CliRunner.Run("report", csv, "--out", fresh).Exit);
        Assert.True(File.Exists(Path.Combine(fresh, "report.md")) && File.Exists(Path.Combine(fresh, "cactus.png")));
        Assert.Empty(Directory.GetFileSystemEntries(_files.Dir, ".*"));
    }
}
