using System.Globalization;
using System.Text;
using QEquiv.Bounds;
using QEquiv.Equivalence;
using QEquiv.Falsification;
using QEquiv.Regions;
using QEquiv.Verification;

namespace QEquiv.Reporting;

/// <summary>Statistics of the partition tree of an engine run: pieces handed to the engine (roots), pieces split, leaves
/// (by outcome), and leaves per depth.</summary>
public sealed record PartitionStatistics(int Roots, int Splits, int Leaves, int Proved, int Violated, int Open, int MaxDepth,
    IReadOnlyList<(int Depth, int Leaves, int Proved)> ByDepth, int Attempts, int Workers)
{
    /// <summary>From the report's sub-problems (every leaf, including those the bounds settled before the engine) and the
    /// engine's attempts (the pieces it split).</summary>
    public static PartitionStatistics Of(VerificationReport r)
    {
        var attempts = r.Engine?.Attempts ?? [];
        var leaves = r.SubProblems;
        var splitIds = attempts.Where(a => a.Children > 0).Select(a => a.SubProblemId).ToHashSet();
        var depths = leaves.Select(l => l.SubProblem.Depth).Concat(attempts.Select(a => a.Depth)).DefaultIfEmpty(0);
        var byDepth = leaves.GroupBy(l => l.SubProblem.Depth).OrderBy(g => g.Key)
            .Select(g => (g.Key, g.Count(), g.Count(l => l.Outcome == SubProblemOutcome.Proved))).ToList();
        return new PartitionStatistics(r.Engine?.Roots.Count ?? 0, splitIds.Count, leaves.Count,
            leaves.Count(l => l.Outcome == SubProblemOutcome.Proved), leaves.Count(l => l.Outcome == SubProblemOutcome.Violated),
            leaves.Count(l => l.Outcome == SubProblemOutcome.Unknown), depths.Max(), byDepth,
            attempts.Count, attempts.Select(a => a.Worker).Distinct().Count());
    }
}

/// <summary>
/// The one page of `qequiv verify --report DIR`: verdict (with VNN-COMP's word), the witness (and, for square inputs such
/// as MNIST's 28×28, a picture of it next to the region's centre and their difference), the per-output Δ bounds of each
/// method, a timeline of solver calls per worker, and the partition tree's statistics. Files: report.md, result.txt
/// (VNN-COMP results file with the counterexample), timeline.png when the engine ran, witness.png when there is a witness
/// of a square input.
/// </summary>
public static class VerificationReportPage
{
    public const string Markdown = "report.md", ResultsTxt = "result.txt", TimelinePng = "timeline.png", WitnessPng = "witness.png";

    /// <param name="r">The verifier's report.</param>
    /// <param name="box">The region verified.</param>
    /// <param name="timeoutSeconds">The run's time limit (null: none), for the VNN-COMP word of an unknown verdict.</param>
    /// <param name="facts">What was verified, as (name, value) rows shown first: models, region, options.</param>
    /// <param name="jsonLink">The full JSON report beside the page, linked from it (null: none).</param>
    public static IReadOnlyList<ReportFile> Build(VerificationReport r, Box box, double? timeoutSeconds,
        IReadOnlyList<(string Name, string Value)> facts, string? jsonLink)
    {
        var c = CultureInfo.InvariantCulture;
        var files = new List<ReportFile>();
        var word = VnnComp.ResultWord(r.Verdict, r.Timings.Total, timeoutSeconds, r.Interrupted);
        var md = new StringBuilder("# Verification report\n\n");
        md.Append("| | |\n| --- | --- |\n");
        foreach (var (name, value) in facts) md.Append(c, $"| {name} | {Escape(value)} |\n");
        md.Append(c, $"| verdict | **{BenchResultWord(r.Verdict)}**{(r.Interrupted ? " (interrupted: the run was stopped before it reached a verdict)" : "")} |\n");
        md.Append(c, $"| VNN-COMP result | {word} |\n");
        md.Append(c, $"| δ | {G(r.Delta)} |\n");
        md.Append(c, $"| strategy | {Strategies.Name(r.Strategy)} |\n");
        md.Append(c, $"| solver | {r.Backend} |\n");
        md.Append(c, $"| total s | {r.Timings.Total:F3} |\n");
        md.Append(c, $"| falsify s | {r.Timings.Falsify:F3} |\n");
        md.Append(c, $"| bounds s | {r.Timings.Bounds:F3} |\n");
        md.Append(c, $"| milp s | {r.Timings.Milp:F3} |\n");
        md.Append(c, $"| sub-problems | {r.SubProblems.Count} |\n");
        md.Append(c, $"| by bounds | {r.Count(DecidedBy.Bounds)} |\n");
        md.Append(c, $"| by MILP | {r.Count(DecidedBy.Milp)} |\n");
        md.Append(c, $"| by falsifier | {r.Count(DecidedBy.Falsifier)} |\n");
        md.Append(c, $"| open | {r.Count(DecidedBy.Open)} |\n");
        md.Append(c, $"| MILP calls | {r.MilpCalls} |\n");
        md.Append(c, $"| proved share | {r.ProvedShare:0.####} |\n");
        if (jsonLink is not null) md.Append(c, $"\nEverything below, and one record per sub-problem, is in [{jsonLink}]({jsonLink}).\n");
        md.Append(c, $"VNN-COMP results file: [{ResultsTxt}]({ResultsTxt}) (first line the result word; after `sat` the counterexample, {(r.Spec is { } spec ? $"every variable of {Path.GetFileName(spec.Source)} in declaration order" : "inputs X_i and the float network's outputs Y_j")}).\n");
        files.Add(ReportFile.Text(ResultsTxt, VnnComp.ResultsFile(word, r.Witness, r.Spec)));

        if (r.Witness is { } w) AppendWitness(md, files, w, box);
        AppendBounds(md, r.Bounds);
        AppendEngine(md, files, r);

        if (r.Notes.Count > 0)
        {
            md.Append("\n## Notes\n\n");
            foreach (var note in r.Notes) md.Append("- ").Append(note).Append('\n');
        }
        files.Insert(0, ReportFile.Text(Markdown, md.ToString()));
        return files;
    }

    /// <summary>The side of a square image with this many values, for inputs shaped like small images (4×4 to 64×64, MNIST
    /// is 28×28); null otherwise.</summary>
    public static int? ImageSide(int inputs)
    {
        var side = (int)Math.Round(Math.Sqrt(inputs));
        return side is >= 4 and <= 64 && side * side == inputs ? side : null;
    }

    private static void AppendWitness(StringBuilder md, List<ReportFile> files, Witness w, Box box)
    {
        var c = CultureInfo.InvariantCulture;
        md.Append("\n## Witness\n\n");
        md.Append(c, $"Violating output {w.Output}: N − Q = {G(w.Difference)}; max |N − Q| = {G(w.MaxAbsDifference)}")
          .Append(w.Float32Error is not null
              ? string.Create(c, $"; at least {G(w.GuaranteedAbsDifference)} for N in real arithmetic and in every float32 evaluation order (N's float32 error bound ± {G(w.Float32Error[w.Output])}). ")
              : ". ")
          .Append("The input row is in the witness CSV and the counterexample file; it re-executes on both exact evaluators.\n\n");
        md.Append("| output | N | Q | N − Q | N in float32 (sequential) | ± float32 error bound |\n| ---: | ---: | ---: | ---: | ---: | ---: |\n");
        for (var j = 0; j < w.FloatOutput.Length; j++)
        {
            var mark = j == w.Output ? " **←**" : "";
            var f32 = w.Float32Output is { } f ? G(f[j]) : "-";
            var err = w.Float32Error is { } e ? G(e[j]) : "-";
            md.Append(c, $"| {j} | {G(w.FloatOutput[j])} | {G(w.QuantOutput[j])} | {G(w.FloatOutput[j] - w.QuantOutput[j])}{mark} | {f32} | {err} |\n");
        }
        md.Append("\nN is evaluated in double; a float32 runtime (ONNX Runtime, PyTorch) lies within the error bound of it whatever its summation order.\n");
        if (ImageSide(w.Input.Length) is { } side)
        {
            var centre = box.Center();
            var x = w.Input.Select(v => (double)v).ToArray();
            var diff = x.Select((v, i) => v - centre[i]).ToArray();
            files.Add(new ReportFile(WitnessPng, Plots.Images(
                [("region centre", centre, false), ("witness", x, false), ("witness − centre", diff, true)], side,
                $"witness of output {w.Output}: |N − Q| = {G(w.MaxAbsDifference)}")));
            md.Append(c, $"\n![the region's centre, the witness and their difference as {side}×{side} images]({WitnessPng})\n\n")
              .Append(c, $"Largest change from the centre: {G(diff.Select(Math.Abs).Max())}.\n");
        }
    }

    private static void AppendBounds(StringBuilder md, IReadOnlyList<OutputBounds> bounds)
    {
        if (bounds.Count == 0) return;
        md.Append("\n## Bounds of N_j − Q_j per output\n\n")
          .Append("Before the dequantization margin; `-` where a method did not run. A sub-problem s·(N_j − Q_j) ≥ δ is discharged when the tightest bound keeps it below δ.\n\n")
          .Append("| output | naive (N, Q apart) | interval differential | symbolic differential | tightest |\n| ---: | --- | --- | --- | --- |\n");
        foreach (var b in bounds)
            md.Append(CultureInfo.InvariantCulture, $"| {b.Output} | {I(b.Naive)} | {I(b.IntervalDifferential)} | {I(b.SymbolicDifferential)} | {I(b.Tightest)} |\n");
    }

    private static void AppendEngine(StringBuilder md, List<ReportFile> files, VerificationReport r)
    {
        var c = CultureInfo.InvariantCulture;
        var stats = PartitionStatistics.Of(r);
        md.Append("\n## Partition tree\n\n");
        md.Append("| roots (pieces for the engine) | splits | leaves | proved | violated | open | max depth | solver attempts | workers used |\n")
          .Append("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
          .Append(c, $"| {stats.Roots} | {stats.Splits} | {stats.Leaves} | {stats.Proved} | {stats.Violated} | {stats.Open} | {stats.MaxDepth} | {stats.Attempts} | {stats.Workers} |\n\n");
        md.Append("| depth | leaves | proved |\n| ---: | ---: | ---: |\n");
        foreach (var (depth, leaves, proved) in stats.ByDepth) md.Append(c, $"| {depth} | {leaves} | {proved} |\n");

        md.Append("\n## Solver calls per worker\n\n");
        if (r.Engine is not { } engine || engine.Attempts.Count == 0)
        {
            md.Append(r.Engine is null ? "No engine run (monolithic strategy, or decided before any solver call).\n"
                : "The engine made no solver call: everything was decided before.\n");
            return;
        }
        var bars = engine.Attempts.Select(a => new TimelineBar(a.Worker, a.Start.TotalSeconds, a.End.TotalSeconds, Kind(a))).ToList();
        var workers = engine.Attempts.Max(a => a.Worker) + 1;
        files.Add(new ReportFile(TimelinePng, Plots.Timeline(bars, workers, "sub-problems per worker")));
        md.Append(c, $"![timeline of solver calls, one row per worker]({TimelinePng})\n\n");
        md.Append("| worker | calls | busy s |\n| ---: | ---: | ---: |\n");
        foreach (var g in bars.GroupBy(b => b.Worker).OrderBy(g => g.Key))
            md.Append(c, $"| {g.Key} | {g.Count()} | {g.Sum(b => b.End - b.Start):F3} |\n");
    }

    /// <summary>How an attempt ended, as the timeline colours it: split, cancelled, proved, violated or unknown.</summary>
    public static string Kind(SubProblemAttempt a) => a.Children > 0 ? "split" : a.Cancelled ? "cancelled" : BenchResultWord(a.Outcome);

    private static string BenchResultWord<T>(T value) where T : Enum => Benchmarking.BenchResult.Word(value);

    private static string I(Interval? i) => i is { } v ? $"[{G(v.Lo)}, {G(v.Hi)}]" : "-";

    private static string G(double v) => v.ToString("G6", CultureInfo.InvariantCulture);

    private static string Escape(string s) => s.Replace("|", "\\|").ReplaceLineEndings(" ");
}
