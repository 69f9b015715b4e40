using System.CommandLine;
using System.Globalization;
using QEquiv.Benchmarking;
using QEquiv.Quantization;
using QEquiv.Verification;
using Spectre.Console;

namespace QEquiv.Cli.Commands;

/// <summary>`qequiv bench`: every instance of a list under every strategy, a results CSV and a summary table.</summary>
internal static class BenchCommand
{
    public static Command Create()
    {
        var instances = new Argument<string>("INSTANCES.csv") { Description = "instance list: float model, quantized model, region spec, delta, timeout (paths relative to the list's folder)" };
        var timeout = new Option<double?>("--timeout") { Description = "cap on every instance's timeout in seconds (used alone where the list leaves it empty)" };
        var output = new Option<string>("--out") { Description = "results CSV, one row per instance and strategy (rewritten atomically after each instance)", DefaultValueFactory = _ => "results.csv" };
        var strategy = new Option<string[]>("--strategy")
        {
            Description = "configurations to compare in one run: monolithic, output or output+input, each optionally with :nodiff (differential bounds off), :wN (N workers; default all cores), :portfolio, :pK (K output-code pieces), :cluster (on the cluster of --cluster) and :norace (idle cores do not race other solver configurations); repeat or comma-separate; the first is the baseline of the speed-ups (default: monolithic,output+input)",
            AllowMultipleArgumentsPerToken = false,
        };
        var solver = VerifyCommand.SolverOption();
        var runtime = new ModelOptions().Runtime;
        var report = ReportCommand.ReportOption("results.csv, report.md (verdicts, total and median time, PAR-2 per configuration), cactus.png, and scatter.png with --compare");
        var compare = ReportCommand.CompareOption();
        var cluster = ClusterCommands.ClusterOption();
        var membership = ClusterCommands.MembershipOption();
        var secretFile = ClusterCommands.SecretFileOption();
        var command = new Command("bench", "Verify every instance of a list under each strategy; write a results CSV and summarise");
        command.Arguments.Add(instances);
        foreach (var o in new Option[] { timeout, output, strategy, solver, runtime, report, compare, cluster, membership, secretFile }) command.Options.Add(o);
        command.SetAction(parse =>
        {
            var pair = ReportCommand.Check(parse.GetValue(report), parse.GetValue(compare));
            var configurations = ParseConfigurations(parse.GetValue(strategy), pair);
            var cap = VerifyCommand.Seconds(parse.GetValue(timeout))?.TotalSeconds;
            var outPath = parse.GetValue(output)!;
            var outDir = Path.GetDirectoryName(Path.GetFullPath(outPath))!;
            if (!Directory.Exists(outDir)) throw BadInputException.For(outPath, "its folder does not exist");

            var list = BenchInstances.Read(parse.GetValue(instances)!);
            var prepared = BenchRunner.Prepare(list, parse.GetValue(runtime));
            var remote = ClusterCommands.Resolve(parse.GetValue(cluster), parse.GetValue(membership), "--cluster", parse.GetValue(secretFile));
            if (remote is null && configurations.Any(c => c.Cluster))
                throw new BadInputException("--strategy: :cluster configurations need --cluster HOST:PORT or --membership redis://HOST:PORT");
            // One client for the whole run, connected before the first instance: its start-up is not any instance's time.
            var connection = remote is null ? default : ClusterCommands.Connect(remote);
            using var host = connection.Host;
            var options = new BenchOptions(configurations, parse.GetValue(solver), parse.GetValue(runtime), cap) { Cluster = connection.Runner };
            var done = new List<BenchResult>();
            var results = BenchRunner.Run(prepared, options, (p, rows) =>
            {
                done.AddRange(rows);
                AtomicFile.Write(outPath, BenchResult.ToCsv(done));
                var c = CultureInfo.InvariantCulture;
                var parts = rows.Select(r => string.Create(c, $"{r.Configuration} {BenchResult.Word(r.Verdict)} {r.Seconds:F2} s"));
                Console.Error.WriteLine($"[{p.Index + 1}/{prepared.Count}] {p.Instance.Name} (line {p.Instance.Line}): {string.Join(", ", parts)}");
            });
            AtomicFile.Write(outPath, BenchResult.ToCsv(results));
            PrintSummary(BenchSummary.Of(results, configurations.Select(c => c.Name).ToList()), prepared.Count, outPath);
            if (parse.GetValue(report) is { } dir) ReportCommand.WriteBenchRun(dir, results, configurations, pair, parse.GetValue(instances)!);
            return Cli.Ok;
        });
        return command;
    }

    /// <summary>Repeated and comma-separated values, in order, without duplicates, then the two compared ones if missing;
    /// monolithic and the default output+input when none is given.</summary>
    public static IReadOnlyList<BenchConfiguration> ParseConfigurations(string[]? values, (string A, string B)? compare = null)
    {
        if ((values is null || values.Length == 0) && compare is null) return [new(Strategy.Monolithic), new(Strategy.OutputInput)];
        var result = new List<BenchConfiguration>();
        foreach (var word in (values ?? []).SelectMany(v => v.Split(',')).Concat(compare is { } pair ? [pair.A, pair.B] : []).Select(w => w.Trim()))
        {
            var c = BenchConfiguration.Parse(word);
            if (!result.Contains(c)) result.Add(c);
        }
        return result;
    }

    private static void PrintSummary(BenchSummary summary, int instances, string outPath)
    {
        var c = CultureInfo.InvariantCulture;
        var table = new Table().Title($"{instances} instances, results in {Markup.Escape(outPath)}");
        foreach (var h in new[] { "configuration", "runs", "verified", "falsified", "unknown", "decided", "median s (decided)", "MILP calls" })
            table.AddColumn(new TableColumn(h).RightAligned());
        foreach (var s in summary.Configurations)
            table.AddRow(s.Configuration, I(s.Runs), I(s.Verified), I(s.Falsified), I(s.Unknown), I(s.Decided),
                s.MedianDecidedSeconds is { } m ? m.ToString("F3", c) : "-", I(s.MilpCalls));
        Cli.Out.Write(table);
        foreach (var su in summary.SpeedUps)
        {
            var a = su.Baseline;
            var b = su.Candidate;
            Cli.Out.WriteLine(su.Median is { } m
                ? string.Create(c, $"median speed-up of {b} over {a}: {m:F2}x ({a} s / {b} s on the {su.BothDecided} instances both decided)")
                : $"median speed-up of {b} over {a}: - (no instance decided by both)");
        }
        static string I(int v) => v.ToString(CultureInfo.InvariantCulture);
    }
}
