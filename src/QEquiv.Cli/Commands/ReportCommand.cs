using System.CommandLine;
using QEquiv.Benchmarking;
using QEquiv.Regions;
using QEquiv.Reporting;
using QEquiv.Verification;

namespace QEquiv.Cli.Commands;

/// <summary>
/// `qequiv report RESULTS.csv --out DIR`: the benchmark report of a finished run, made again from its results CSV; and the
/// `--report DIR` / `--compare A,B` options that bench and verify share.
/// </summary>
internal static class ReportCommand
{
    public static Command Create()
    {
        var results = new Argument<string>("RESULTS.csv") { Description = "a results CSV written by `qequiv bench`" };
        var output = new Option<string>("--out") { Description = "report folder (made if missing): report.md, cactus.png and, with --compare, scatter.png", Required = true };
        var compare = CompareOption();
        var title = new Option<string>("--title") { Description = "name of the run in the page and plot titles (default: the CSV's file name)" };
        var command = new Command("report", "Make the benchmark report (Markdown, cactus plot, scatter plot) from an existing results CSV");
        command.Arguments.Add(results);
        foreach (var o in new Option[] { output, compare, title }) command.Options.Add(o);
        command.SetAction(parse =>
        {
            var dir = new OutputPaths().Folder(parse.GetValue(output), "--out")!;
            var pair = ParseCompare(parse.GetValue(compare));
            var csv = parse.GetValue(results)!;
            var rows = BenchResults.Read(csv);
            var link = Path.GetRelativePath(Path.GetFullPath(dir), Path.GetFullPath(csv));
            WriteBench(dir, rows, BenchResults.Configurations(rows), pair, link,
                parse.GetValue(title) ?? Path.GetFileNameWithoutExtension(csv));
            return Cli.Ok;
        });
        return command;
    }

    public static Option<string> ReportOption(string what) => new("--report")
    {
        Description = $"write a report to this folder when the run ends (made if missing; an existing one is reused and its report files replaced): {what}",
        HelpName = "DIR",
    };

    public static Option<string> CompareOption() => new("--compare")
    {
        Description = "A,B: two configurations to plot against each other per instance (scatter of A's time vs B's, log-log); bench runs both",
    };

    /// <summary>"A,B" → (A, B); null when not given.</summary>
    public static (string A, string B)? ParseCompare(string? text)
    {
        if (text is null) return null;
        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        if (parts.Length != 2 || parts.Any(p => p.Length == 0) || parts[0] == parts[1])
            throw new BadInputException($"--compare: expected two different configurations A,B, got '{text}'");
        return (parts[0], parts[1]);
    }

    /// <summary>Before a run: --compare needs --report (whose folder <see cref="OutputPaths.Folder"/> checks); the pair of --compare.</summary>
    public static (string A, string B)? Check(string? dir, string? compare)
    {
        var pair = ParseCompare(compare);
        if (pair is not null && dir is null) throw new BadInputException("--compare draws its scatter plot into the report: give --report DIR too");
        return pair;
    }

    /// <summary>After a bench run: results.csv (the same rows as --out) and the report into <paramref name="dir"/>.</summary>
    public static void WriteBenchRun(string dir, IReadOnlyList<BenchResult> results, IReadOnlyList<BenchConfiguration> configurations,
        (string A, string B)? compare, string instanceList)
    {
        const string csv = "results.csv";
        var names = configurations.Select(c => c.Name).ToList();
        var pair = compare is { } p ? (BenchConfiguration.Parse(p.A).Name, BenchConfiguration.Parse(p.B).Name) : ((string, string)?)null;
        var files = BenchReport.Build(results, names, pair, csv, Path.GetFileNameWithoutExtension(instanceList));
        WriteFolder(dir, files.Prepend(ReportFile.Text(csv, BenchResult.ToCsv(results))));
    }

    /// <summary>The benchmark report's files into <paramref name="dir"/>.</summary>
    public static void WriteBench(string dir, IReadOnlyList<BenchResult> rows, IReadOnlyList<string> configurations,
        (string A, string B)? compare, string resultsLink, string title) =>
        WriteFolder(dir, BenchReport.Build(rows, configurations, compare, resultsLink, title));

    /// <summary>The verification report's files into <paramref name="dir"/>, with the JSON report beside the page.</summary>
    public static void WriteVerify(string dir, VerificationReport report, Box box, TimeSpan? timeout,
        IReadOnlyList<(string Name, string Value)> facts, string json)
    {
        const string jsonName = "report.json";
        var files = VerificationReportPage.Build(report, box, timeout?.TotalSeconds, facts, jsonName).Append(ReportFile.Text(jsonName, json));
        WriteFolder(dir, files);
    }

    /// <summary>What a verification report names first: the models, their runtime semantics and the region, as given.</summary>
    public static IReadOnlyList<(string Name, string Value)> Facts(ParseResult parse, ModelOptions models, RegionOptions region)
    {
        var facts = new List<(string, string)>
        {
            ("float model", parse.GetValue(models.Float)!),
            ("quantized model", parse.GetValue(models.Quant)!),
            ("runtime", parse.GetValue(models.Runtime).ToString().ToLowerInvariant()),
        };
        if (parse.GetValue(region.VnnLib) is { } v)
        {
            if (region.Spec(parse) is { } spec)
            {
                facts.Add(("region", $"VNN-LIB 2.0 spec {v}: the box of {spec.Reference.Input}, {spec.Other.Input} = {spec.Reference.Input}"));
                facts.Add(("property", $"{spec.Statement} (non-strict; {spec.Reference.Name} is N, {spec.Other.Name} is Q)"));
            }
            else facts.Add(("region", $"VNN-LIB box of {v}"));
        }
        if (parse.GetValue(region.Center) is { } c)
            facts.Add(("region", $"L∞ ball of radius {parse.GetValue(region.Eps)?.ToString("G9", System.Globalization.CultureInfo.InvariantCulture)} around {c}"
                + (parse.GetValue(region.Clip) is { } clip ? $", clipped to [{clip}]" : "")));
        if (parse.GetValue(region.Box) is { Length: 2 } b) facts.Add(("region", $"box from {b[0]} to {b[1]}"));
        return facts;
    }

    /// <summary>Files a report may hold; those a new report does not write are removed, so a folder used twice never shows
    /// a plot of the earlier run (e.g. the witness of a falsified run beside a verified page).</summary>
    private static readonly string[] ReportFiles =
    [
        BenchReport.Markdown, BenchReport.CactusPng, BenchReport.ScatterPng,
        VerificationReportPage.ResultsTxt, VerificationReportPage.TimelinePng, VerificationReportPage.WitnessPng,
    ];

    /// <summary>
    /// Writes the report whole or not at all. A new folder is filled under a temporary name beside it and then renamed
    /// into place, so it appears complete or not at all. In an existing folder every file is first written under a
    /// temporary name; only when all are complete are they renamed over the old ones, and the report files of an earlier
    /// run that this one does not have are removed (so a folder used twice never shows a plot of the earlier run).
    /// </summary>
    public static void WriteFolder(string dir, IEnumerable<ReportFile> files)
    {
        var list = files.ToList();
        var full = Path.GetFullPath(dir).TrimEnd(Path.DirectorySeparatorChar);
        if (!Directory.Exists(full))
        {
            var parent = Path.GetDirectoryName(full)!;
            if (!Directory.Exists(parent)) throw BadInputException.For(dir, "the report folder's parent does not exist");
            var staging = Path.Combine(parent, $".{Path.GetFileName(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
            try
            {
                Directory.CreateDirectory(staging);
                foreach (var f in list) File.WriteAllBytes(Path.Combine(staging, f.Name), f.Content);
                Directory.Move(staging, full);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                try { Directory.Delete(staging, recursive: true); } catch (Exception x) when (x is IOException or UnauthorizedAccessException) { }
                throw BadInputException.For(dir, $"cannot write the report ({e.Message})");
            }
        }
        else
        {
            // A name taken by a folder would fail its move half-way through the report: refuse before writing anything.
            foreach (var f in list)
                if (Directory.Exists(Path.Combine(full, f.Name)))
                    throw BadInputException.For(Path.Combine(dir, f.Name), "is a folder; the report cannot write its file there");
            var staged = new List<(string Temp, string Path)>();
            try
            {
                foreach (var f in list)
                {
                    var path = Path.Combine(full, f.Name);
                    staged.Add((AtomicFile.Stage(path, f.Content), path));
                }
            }
            catch (BadInputException)
            {
                foreach (var (temp, _) in staged) AtomicFile.Discard(temp);
                throw;
            }
            for (var i = 0; i < staged.Count; i++)
            {
                try
                {
                    AtomicFile.Commit(staged[i].Temp, staged[i].Path);
                }
                catch (BadInputException)
                {
                    foreach (var (temp, _) in staged.Skip(i + 1)) AtomicFile.Discard(temp);
                    throw;
                }
            }
            foreach (var stale in ReportFiles.Except(list.Select(f => f.Name))) File.Delete(Path.Combine(full, stale));
        }
        Console.WriteLine($"report written to {Path.Combine(dir, list[0].Name)}");
    }
}
