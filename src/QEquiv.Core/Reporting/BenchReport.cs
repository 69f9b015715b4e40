using System.Globalization;
using System.Text;
using QEquiv.Benchmarking;

namespace QEquiv.Reporting;

/// <summary>One file of a report: its name inside the report folder and its bytes.</summary>
public sealed record ReportFile(string Name, byte[] Content)
{
    public static ReportFile Text(string name, string text) => new(name, System.Text.Encoding.UTF8.GetBytes(text));
}

/// <summary>
/// One configuration's line of the benchmark report. PAR-2 (penalised average runtime, as SAT competitions score): the sum
/// over its runs of the time when decided, else twice the run's time limit; null when an undecided run had no limit.
/// Timeouts and EarlyUnknowns split the unknown runs by VNN-COMP's words (timeout: used up its limit; unknown: gave up
/// before it).
/// </summary>
public sealed record BenchReportLine(ConfigurationSummary Summary, double TotalSeconds, double? Par2, int Timeouts, int EarlyUnknowns)
{
    public static BenchReportLine Of(ConfigurationSummary summary, IReadOnlyList<BenchResult> rows)
    {
        var mine = rows.Where(r => r.Configuration == summary.Configuration).ToList();
        var words = mine.Where(r => !r.Decided).Select(Word).ToList();
        return new BenchReportLine(summary, mine.Sum(r => r.Seconds), Par2Of(mine),
            words.Count(w => w == VnnComp.Timeout), words.Count(w => w == VnnComp.Unknown));
    }

    public static double? Par2Of(IEnumerable<BenchResult> rows)
    {
        double sum = 0;
        foreach (var r in rows)
        {
            if (r.Decided) sum += r.Seconds;
            else if (r.TimeoutSeconds is { } t) sum += 2 * t;
            else return null;
        }
        return sum;
    }

    public static string Word(BenchResult r) => VnnComp.ResultWord(r.Verdict, r.Seconds, r.TimeoutSeconds);
}

/// <summary>
/// The benchmark report of `qequiv bench --report` and `qequiv report`: a Markdown summary (per configuration: verdicts,
/// total and median time, PAR-2), a cactus plot of all configurations and, for a compared pair, a per-instance scatter.
/// Every number in the Markdown is computed from the rows given, which are exactly the results CSV's.
/// </summary>
public static class BenchReport
{
    public const string Markdown = "report.md", CactusPng = "cactus.png", ScatterPng = "scatter.png";

    /// <param name="rows">The results, as written to (or read back from) the results CSV.</param>
    /// <param name="configurations">In the order they ran; the first is the baseline of the speed-ups.</param>
    /// <param name="compare">Configurations A and B of the scatter plot (both must be among <paramref name="configurations"/>).</param>
    /// <param name="resultsLink">Where the Markdown links the raw rows (relative to the report folder).</param>
    /// <param name="title">The run's name, for the page and plot titles.</param>
    /// <exception cref="BadInputException">a compared configuration with no rows.</exception>
    public static IReadOnlyList<ReportFile> Build(IReadOnlyList<BenchResult> rows, IReadOnlyList<string> configurations,
        (string A, string B)? compare, string resultsLink, string title)
    {
        foreach (var name in compare is { } p ? new[] { p.A, p.B } : [])
            if (!configurations.Contains(name))
                throw new BadInputException($"--compare: no results for configuration '{name}' (the run has {string.Join(", ", configurations)})");
        var summary = BenchSummary.Of(rows, configurations);
        var lines = summary.Configurations.Select(s => BenchReportLine.Of(s, rows)).ToList();
        var instances = rows.Select(r => r.Index).Distinct().Count();
        var files = new List<ReportFile>();

        var c = CultureInfo.InvariantCulture;
        var md = new StringBuilder();
        md.Append(c, $"# Benchmark report: {title}\n\n");
        md.Append(c, $"{instances} instances × {configurations.Count} configurations; raw rows: [{Path.GetFileName(resultsLink)}]({resultsLink.Replace('\\', '/')}).\n\n");
        md.Append("| configuration | runs | verified (unsat) | falsified (sat) | unknown: timeout | unknown: gave up | decided | total s | median s (decided) | PAR-2 s |\n");
        md.Append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
        foreach (var l in lines)
        {
            var s = l.Summary;
            md.Append(c, $"| {s.Configuration} | {s.Runs} | {s.Verified} | {s.Falsified} | {l.Timeouts} | {l.EarlyUnknowns} | {s.Decided} | {l.TotalSeconds:F3} | {Seconds(s.MedianDecidedSeconds)} | {Seconds(l.Par2)} |\n");
        }
        md.Append("\nPAR-2: the sum over a configuration's runs of the time when it decided (verified or falsified), else twice the run's time limit; lower is better. ")
          .Append("Unknown runs are \"timeout\" when they used up their limit, \"gave up\" when they ended before it (VNN-COMP's `timeout` and `unknown`).\n\n");
        foreach (var su in summary.SpeedUps)
            md.Append(c, $"- Median speed-up of `{su.Candidate}` over `{su.Baseline}` ({su.Baseline} s / {su.Candidate} s) on the {su.BothDecided} instances both decided: {(su.Median is { } m ? m.ToString("F2", c) + "×" : "-")}\n");
        if (summary.SpeedUps.Count > 0) md.Append('\n');

        var cactus = configurations.Select(name => (name,
            (IReadOnlyList<double>)rows.Where(r => r.Configuration == name && r.Decided).Select(r => r.Seconds).ToList())).ToList();
        files.Add(new ReportFile(CactusPng, Plots.Cactus(cactus, instances, $"{title}: instances decided vs time")));
        md.Append(c, $"## Cactus plot\n\n![cactus plot: instances decided vs time, one line per configuration]({CactusPng})\n\n")
          .Append("A point (k, t) on a configuration's line: its k-th fastest decided instance took t seconds; the further right and the lower, the better.\n");

        if (compare is { } pair)
        {
            var (a, b) = pair;
            var points = Pairs(rows, a, b);
            files.Add(new ReportFile(ScatterPng, Plots.Scatter(a, b, points, $"{title}: {a} vs {b}")));
            var faster = points.Count(pt => pt.B < pt.A);
            md.Append(c, $"\n## {a} vs {b}\n\n![per-instance times of {a} (x) and {b} (y), log-log]({ScatterPng})\n\n")
              .Append(c, $"{points.Count} instances run by both; {b} faster on {faster}, {a} faster on {points.Count(pt => pt.A < pt.B)}. ")
              .Append("Undecided runs are drawn at their time limit; points below the diagonal are instances where ")
              .Append(c, $"{b} was faster.\n");
        }
        files.Insert(0, ReportFile.Text(Markdown, md.ToString()));
        return files;
    }

    /// <summary>Per instance run by both: (A's time, B's time), an undecided run counted at its time limit.</summary>
    public static IReadOnlyList<(double A, double B)> Pairs(IReadOnlyList<BenchResult> rows, string a, string b)
    {
        static double Time(BenchResult r) => r.Decided ? r.Seconds : r.TimeoutSeconds ?? r.Seconds;
        var byA = rows.Where(r => r.Configuration == a).ToDictionary(r => r.Index);
        return rows.Where(r => r.Configuration == b && byA.ContainsKey(r.Index)).Select(r => (Time(byA[r.Index]), Time(r))).ToList();
    }

    private static string Seconds(double? v) => v is { } x ? x.ToString("F3", CultureInfo.InvariantCulture) : "-";
}
