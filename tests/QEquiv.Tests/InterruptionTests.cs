using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace QEquiv.Tests;

/// <summary>
/// The built qequiv as a user runs it, stopped by a real signal once it says it is running: it reports what it has,
/// marked interrupted, and exits 130. Also: verify writes a witness only when asked, so a read-only working folder is fine.
/// The instances take far longer than the test waits for the "running" line; the order of events is asserted, not time.
/// </summary>
[Collection("Processes")]
public sealed class InterruptionTests : IDisposable
{
    private readonly TempFiles _files = new();
    private static readonly string Qequiv = Path.Combine(AppContext.BaseDirectory, "qequiv.dll");
    private static readonly string Float = TestData.Bench("mnistfc/mnist-net_256x2.onnx");
    private static readonly string Quant = TestData.Bench("pytorch/mnist-net_256x2.qnnpack-qdq.onnx");
    private static readonly string Prop0 = TestData.Bench("mnistfc/prop_0_0.03.vnnlib");
    private const int SigInt = 2, SigTerm = 15;

    public void Dispose() => _files.Dispose();

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int sig);

    private sealed class Run(Process process, List<string> stdout, List<string> stderr, ManualResetEventSlim ready)
    {
        public Process Process { get; } = process;
        public string Out { get { lock (stdout) return string.Join('\n', stdout); } }
        public string Err { get { lock (stderr) return string.Join('\n', stderr); } }
        public ManualResetEventSlim Ready { get; } = ready;

        public int Finish()
        {
            if (!Process.WaitForExit(180_000))
            {
                Process.Kill(entireProcessTree: true);
                Assert.Fail($"did not end: {Out}\n{Err}");
            }
            Process.WaitForExit(); // the output readers drain
            return Process.ExitCode;
        }
    }

    /// <summary>Starts `qequiv ARGS`; <see cref="Run.Ready"/> is set when standard error shows a line holding <paramref name="ready"/>.</summary>
    private static Run Start(string ready, string workingDirectory, params string[] args)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = workingDirectory };
        info.ArgumentList.Add(Qequiv);
        foreach (var a in args) info.ArgumentList.Add(a);
        var (stdout, stderr, seen) = (new List<string>(), new List<string>(), new ManualResetEventSlim());
        var p = new Process { StartInfo = info };
        p.OutputDataReceived += (_, e) => { if (e.Data is { } d) lock (stdout) stdout.Add(d); };
        p.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not { } d) return;
            lock (stderr) stderr.Add(d);
            if (d.Contains(ready)) seen.Set();
        };
        p.Start();
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        return new Run(p, stdout, stderr, seen);
    }

    /// <summary>Waits for the ready line (failing if the process ends first), then sends the signal.</summary>
    private static void SignalWhenReady(Run run, int signal)
    {
        while (!run.Ready.Wait(100))
            if (run.Process.HasExited) Assert.Fail($"ended (exit {run.Process.ExitCode}) before it was ready: {run.Out}\n{run.Err}");
        if (run.Process.HasExited) Assert.Fail($"ended before the signal: {run.Out}\n{run.Err}");
        Assert.Equal(0, kill(run.Process.Id, signal));
    }

    /// <summary>A process started from a shell's background job inherits SIGINT ignored (POSIX); then Ctrl+C cannot reach
    /// it and SIGTERM, handled the same way, stands in.</summary>
    private static int SigIntUnlessIgnored(Process p)
    {
        var line = File.ReadLines($"/proc/{p.Id}/status").FirstOrDefault(l => l.StartsWith("SigIgn:"));
        var ignored = line is not null && (Convert.ToUInt64(line["SigIgn:".Length..].Trim(), 16) & (1UL << (SigInt - 1))) != 0;
        return ignored ? SigTerm : SigInt;
    }

    private string SlowCenter()
    {
        var path = Path.Combine(_files.Dir, "center.csv");
        File.Copy(Path.Combine(TestData.RepoRoot, "bench", "centers", "row1.csv"), path, overwrite: true);
        return path;
    }

    [Fact]
    public void VerifyStoppedByCtrlCSaysInterruptedInItsOutputJsonAndReport()
    {
        var json = Path.Combine(_files.Dir, "run.json");
        var report = Path.Combine(_files.Dir, "report");
        // ±0.002 around row 1 with δ = 0.06 stays open for minutes (the verify tests give it 3 s to end unknown).
        var run = Start("running: verify", _files.Dir, "verify", "--float", Float, "--quant", Quant, "--center", SlowCenter(), "--eps", "0.002",
            "--clip", "0,1", "--delta", "0.06", "--timeout", "600", "--json", json, "--report", report);
        var signal = SigIntUnlessIgnored(run.Process);
        SignalWhenReady(run, signal);
        var exit = run.Finish();
        var name = signal == SigInt ? "SIGINT" : "SIGTERM";
        Assert.True(exit == 130, $"exit {exit}: {run.Out}\n{run.Err}");
        var lines = run.Out.Split('\n');
        Assert.Equal("unknown", lines[0]);
        Assert.StartsWith($"interrupted ({name}): stopped before a verdict", lines[1]);
        Assert.Contains($"interrupted ({name}): stopping", run.Err);

        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        Assert.Equal("unknown", doc.RootElement.GetProperty("verdict").GetString());
        Assert.True(doc.RootElement.GetProperty("interrupted").GetBoolean());
        Assert.Contains("**unknown** (interrupted", File.ReadAllText(Path.Combine(report, "report.md")));
        // VNN-COMP: stopped by the user is "unknown", never "timeout".
        Assert.Equal("unknown", File.ReadLines(Path.Combine(report, "result.txt")).First());
        using var copy = JsonDocument.Parse(File.ReadAllText(Path.Combine(report, "report.json")));
        Assert.True(copy.RootElement.GetProperty("interrupted").GetBoolean());
    }

    [Fact]
    public void MaxErrorStoppedBySigtermPrintsTheSoundBoundsItHas()
    {
        var json = Path.Combine(_files.Dir, "max.json");
        var run = Start("running: max-error", _files.Dir, "max-error", "--float", Float, "--quant", Quant, "--center", SlowCenter(), "--eps", "0.01",
            "--clip", "0,1", "--gap", "0", "--timeout", "600", "--json", json);
        SignalWhenReady(run, SigTerm);
        var exit = run.Finish();
        Assert.True(exit == 130, $"exit {exit}: {run.Out}\n{run.Err}");
        Assert.Contains("max |N - Q| on the region is in [", run.Out);
        Assert.Contains("interrupted (SIGTERM): stopped early", run.Out);
        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        Assert.True(doc.RootElement.GetProperty("interrupted").GetBoolean());
        Assert.Equal(10, doc.RootElement.GetProperty("perOutput").GetArrayLength());
        Assert.True(doc.RootElement.GetProperty("lower").GetDouble() <= doc.RootElement.GetProperty("upper").GetDouble());
    }

    [Trait("Speed", "Slow")]
    [Fact]
    public void BenchStoppedBySigtermKeepsTheFinishedRowsAndMarksTheStoppedOne()
    {
        var center0 = Path.Combine(_files.Dir, "c0.csv");
        File.WriteAllText(center0, File.ReadLines(TestData.Bench("pytorch/inputs.csv")).First() + "\n");
        SlowCenter();
        var f = Path.GetRelativePath(_files.Dir, Float);
        var q = Path.GetRelativePath(_files.Dir, Quant);
        // The first instance is decided at once (δ far above any error); the second stays open for minutes.
        var list = _files.Write("list.csv", $"{f},{q},ball:c0.csv:0.0005:0:1,0.5,600\n{f},{q},ball:center.csv:0.002:0:1,0.06,600\n");
        var results = Path.Combine(_files.Dir, "results.csv");
        var json = Path.Combine(_files.Dir, "bench.json");
        var run = Start("[1/2]", _files.Dir, "bench", list, "--strategy", "output+input", "--out", results, "--json", json);
        SignalWhenReady(run, SigTerm);
        var exit = run.Finish();
        Assert.True(exit == 130, $"exit {exit}: {run.Out}\n{run.Err}");
        var rows = File.ReadAllLines(results).Skip(1).Select(l => l.Split(',')).ToList();
        Assert.Equal(2, rows.Count);
        Assert.Equal("verified", rows[0][5]);
        Assert.Equal("interrupted", rows[1][5]);
        Assert.Contains("[2/2]", run.Err);
        Assert.Contains("interrupted (SIGTERM): 2 of 2 instances ran", run.Out);
        // The CSV reads back (the report command takes it), the stopped run counted as not decided.
        var back = QEquiv.Benchmarking.BenchResults.Read(results);
        Assert.True(back[1].Interrupted);
        Assert.False(back[1].Decided);
        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        Assert.True(doc.RootElement.GetProperty("interrupted").GetBoolean());
        Assert.Equal("interrupted", doc.RootElement.GetProperty("results")[1].GetProperty("verdict").GetString());
    }

    [Trait("Speed", "Slow")]
    [Fact]
    public void VerifyWritesAWitnessOnlyWhenAskedAndRunsInAReadOnlyFolder()
    {
        var args = new[] { "verify", "--float", Float, "--quant", Quant, "--vnnlib", Prop0, "--delta", "0.04", "--timeout", "120", "--quiet" };
        var cwd = Directory.CreateDirectory(Path.Combine(_files.Dir, "cwd")).FullName;
        var plain = Start("never", cwd, args);
        Assert.True(plain.Finish() == 10, plain.Out + plain.Err);
        Assert.Equal("falsified", plain.Out.Split('\n')[0]);
        Assert.Contains("violating output", plain.Out);
        Assert.Empty(Directory.GetFileSystemEntries(cwd));

        // /proc takes no new file, not even from root: the old default ./witness.csv failed there after the whole run.
        var readOnly = Start("never", "/proc", args);
        Assert.True(readOnly.Finish() == 10, readOnly.Out + readOnly.Err);
        Assert.Equal("", readOnly.Err);

        var witness = Path.Combine(cwd, "w.csv");
        var asked = Start("never", cwd, [.. args, "--witness", witness]);
        Assert.True(asked.Finish() == 10, asked.Out + asked.Err);
        Assert.Contains($"witness written to {witness}", asked.Out);
        Assert.Equal(784, File.ReadLines(witness).First().Split(',').Length);
    }
}
