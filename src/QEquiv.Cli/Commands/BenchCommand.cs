using System.CommandLine;
using System.Globalization;
using QEquiv.Benchmarking;
using QEquiv.Quantization;
using QEquiv.Reporting;
using QEquiv.Verification;
using Spectre.Console;

namespace QEquiv.Cli.Commands;

/// <summary>`qequiv bench`: every instance of a list under every strategy, a results CSV and a summary table.</summary>
internal static class BenchCommand
{
    public static Command Create()
    {
        var instances = new Argument<string>("INSTANCES.csv")
        {
            Description = "instance list: float model, quantized model, region spec, delta, timeout, and optionally the outputs compared (0 or 0;3); or VNN-COMP's two-network rows \"[('f', A), ('g', B)]\", VNN-LIB 2.0 spec, timeout (paths relative to the list's folder; files may be .gz)",
        };
        var timeout = new Option<double?>("--timeout")
        {
            Description = "time limit of each instance run (each instance under each configuration) in seconds: the smaller of this and the list's timeout column, this alone where the column is empty (default: the column's)",
            HelpName = "SECONDS",
        };
        var output = new Option<string>("--out") { Description = "results CSV, one row per instance and configuration (rewritten whole after each instance)", DefaultValueFactory = _ => "results.csv", HelpName = "PATH" };
        var json = JsonOutput.Option("every result row, the per-configuration summary and the speed-ups (with interrupted)");
        var quiet = VerifyCommand.QuietOption();
        var strategy = new Option<string[]>("--strategy")
        {
            Description = "configurations to compare in one run: monolithic, output or output+input, each optionally with :nodiff (differential bounds off), :nobranch (no branch and bound before the MILPs), :nostall (branch and bound without its stall window), :wN (N workers; default all cores), :portfolio, :pK (K output-code pieces), :cluster (on the cluster of --cluster) and :norace (idle cores do not race other solver configurations); repeat or comma-separate; the first is the baseline of the speed-ups (default: monolithic,output+input)",
            AllowMultipleArgumentsPerToken = false,
        };
        var solver = VerifyCommand.SolverOption();
        var runtime = new ModelOptions().Runtime;
        var report = ReportCommand.ReportOption("results.csv, report.md (verdicts, total and median time, PAR-2 per configuration), cactus.png, and scatter.png with --compare");
        var vnncomp = new Option<string>("--vnncomp")
        {
            Description = "write VNN-COMP's results file of every instance run into this folder (made if new; its parent must exist): LINE-NAME[~CONFIGURATION].txt, the word sat/unsat/timeout/unknown and after sat the counterexample",
            HelpName = "DIR",
        };
        var compare = ReportCommand.CompareOption();
        var cluster = ClusterCommands.ClusterOption();
        var membership = ClusterCommands.MembershipOption();
        var secretFile = ClusterCommands.SecretFileOption();
        var command = new Command("bench", "Verify every instance of a list under each strategy; write a results CSV and summarise");
        command.Arguments.Add(instances);
        foreach (var o in new Option[] { timeout, output, strategy, solver, runtime, report, vnncomp, compare, cluster, membership, secretFile, json, quiet }) command.Options.Add(o);
        command.SetAction(parse =>
        {
            var outputs = new OutputPaths();
            var outPath = outputs.File(parse.GetValue(output), "--out")!;
            var jsonPath = outputs.File(parse.GetValue(json), "--json", stdoutAllowed: true);
            var reportFolder = outputs.Folder(parse.GetValue(report), "--report");
            var vnncompFolder = outputs.Folder(parse.GetValue(vnncomp), "--vnncomp");
            var pair = ReportCommand.Check(reportFolder, parse.GetValue(compare));
            var configurations = ParseConfigurations(parse.GetValue(strategy), pair);
            var cap = VerifyCommand.Seconds(parse.GetValue(timeout))?.TotalSeconds;
            var quietRun = parse.GetValue(quiet);
            var remote = ClusterCommands.Resolve(parse.GetValue(cluster), parse.GetValue(membership), "--cluster", parse.GetValue(secretFile));
            if (remote is null && configurations.Any(c => c.Cluster))
                throw new BadInputException("--strategy: :cluster configurations need --cluster HOST:PORT or --membership redis://HOST:PORT");
            using var jsonOut = new JsonOutput(jsonPath);

            var list = BenchInstances.Read(parse.GetValue(instances)!);
            var prepared = BenchRunner.Prepare(list, parse.GetValue(runtime));
            // One client for the whole run, connected before the first instance: its start-up is not any instance's time.
            var connection = remote is null ? default : ClusterCommands.Connect(remote);
            using var host = connection.Host;
            var options = new BenchOptions(configurations, parse.GetValue(solver), parse.GetValue(runtime), cap) { Cluster = connection.Runner };
            var done = new List<BenchResult>();
            IReadOnlyList<BenchResult> results;
            bool interrupted;
            string? signal;
            // The first Ctrl+C or SIGTERM stops the instance that runs; the rows so far (that one marked interrupted)
            // are written, summarised and reported as usual. A second one ends the process at once; the CSV of the
            // instances finished before it is complete either way, since it is rewritten whole after each one.
            using (var interrupt = Interruption.Start($"bench, {prepared.Count} instances x {configurations.Count} configurations", quietRun))
            {
                results = BenchRunner.Run(prepared, options with { Cancellation = interrupt.Token }, (p, rows) =>
                {
                    done.AddRange(rows);
                    AtomicFile.Write(outPath, BenchResult.ToCsv(done));
                    if (vnncompFolder is not null) WriteVnnComp(vnncompFolder, p, rows, configurations.Count > 1);
                    var c = CultureInfo.InvariantCulture;
                    var parts = rows.Select(r => string.Create(c, $"{r.Configuration} {(r.Interrupted ? BenchResult.InterruptedWord : BenchResult.Word(r.Verdict))} {r.Seconds:F2} s"));
                    if (!quietRun) Console.Error.WriteLine($"[{p.Index + 1}/{prepared.Count}] {p.Instance.Name} (line {p.Instance.Line}): {string.Join(", ", parts)}");
                });
                (interrupted, signal) = (interrupt.Requested, interrupt.Signal);
            }
            AtomicFile.Write(outPath, BenchResult.ToCsv(results));
            var names = configurations.Select(c => c.Name).ToList();
            var summary = BenchSummary.Of(results, names);
            if (interrupted)
                Console.WriteLine($"interrupted ({signal}): {results.Select(r => r.Index).Distinct().Count()} of {prepared.Count} instances ran"
                    + (results.Any(r => r.Interrupted) ? $", {results.First(r => r.Interrupted).Instance} was stopped (its row says interrupted)" : ""));
            PrintSummary(summary, prepared.Count, outPath);
            jsonOut.Write(CliJson.Serialize(new
            {
                instances = prepared.Count,
                interrupted,
                results = results.Select(r => new
                {
                    instance = r.Instance, configuration = r.Configuration, solver = r.Solver, delta = r.Delta, timeout = r.TimeoutSeconds,
                    verdict = r.Interrupted ? BenchResult.InterruptedWord : BenchResult.Word(r.Verdict), interrupted = r.Interrupted,
                    seconds = r.Seconds, subProblems = r.SubProblems, byFalsifier = r.ByFalsifier, byBounds = r.ByBounds, byMilp = r.ByMilp,
                    open = r.Open, provedShare = r.ProvedShare, milpCalls = r.MilpCalls,
                }),
                summary = summary.Configurations,
                speedUps = summary.SpeedUps,
            }));
            if (reportFolder is not null) ReportCommand.WriteBenchRun(reportFolder, results, configurations, pair, parse.GetValue(instances)!);
            return interrupted ? Interruption.ExitCode : Cli.Ok;
        });
        return command;
    }

    /// <summary>
    /// VNN-COMP's results file of each run of one instance, written whole (<see cref="VnnComp.ResultsFile"/>: the same writer
    /// as verify's result.txt, the counterexample in the spec's variable names for a VNN-LIB 2.0 spec). The name holds the
    /// instance's line in the list, so that it is unique and sorts in list order; the configuration is added when there
    /// are several.
    /// </summary>
    internal static void WriteVnnComp(string folder, PreparedInstance p, IReadOnlyList<BenchResult> rows, bool severalConfigurations)
    {
        Directory.CreateDirectory(folder);
        foreach (var r in rows)
        {
            var word = VnnComp.ResultWord(r.Verdict, r.Seconds, r.TimeoutSeconds, r.Interrupted);
            var name = string.Create(CultureInfo.InvariantCulture, $"{p.Instance.Line:D3}-{Safe(p.Instance.Name)}{(severalConfigurations ? "~" + Safe(r.Configuration) : "")}.txt");
            AtomicFile.Write(Path.Combine(folder, name), VnnComp.ResultsFile(word, r.Witness, p.Spec));
        }
        static string Safe(string s) => new([.. s.Select(ch => char.IsAsciiLetterOrDigit(ch) || ch is '.' or '-' or '+' or '=' or '_' ? ch : '_')]);
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
