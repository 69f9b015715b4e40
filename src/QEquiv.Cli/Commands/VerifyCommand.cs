using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using QEquiv.Equivalence;
using QEquiv.Falsification;
using QEquiv.Solvers;
using QEquiv.Verification;

namespace QEquiv.Cli.Commands;

/// <summary>`qequiv verify`: the δ-equivalence verdict with its evidence.</summary>
internal static class VerifyCommand
{
    public const int Verified = 0, Falsified = 10, Unknown = 20;

    public static Command Create()
    {
        var models = new ModelOptions();
        var region = new RegionOptions();
        var delta = new Option<double?>("--delta")
        {
            Description = "tolerance δ > 0: verified means ‖N(x) − Q(x)‖∞ < δ on the whole region (required, unless --vnnlib is a VNN-LIB 2.0 spec: δ is then its ε, and --delta if given must equal it)",
        };
        var solver = SolverOption();
        var timeout = TimeoutOption();
        var strategy = StrategyOption();
        var json = JsonOutput.Option("the full report (verdict, interrupted, timings, every sub-problem)");
        var witnessPath = new Option<string>("--witness") { Description = "write the witness CSV here when falsified (default: none is written; the witness is always printed)", HelpName = "PATH" };
        var seed = new Option<int>("--seed") { Description = "seed of the falsifier's random points", DefaultValueFactory = _ => 0 };
        var noDiff = new Option<bool>("--no-diff-bounds") { Description = "bound N and Q separately only (ablation of the differential bounds)" };
        var workers = WorkersOption();
        var portfolio = PortfolioOption();
        var pieces = new Option<int>("--output-pieces")
        {
            Description = "stage-2 output partition: cut each (output, sign) by Q's output code into this many pieces (1: no cut)",
            DefaultValueFactory = _ => VerifyOptions.DefaultOutputPieces,
        };
        var quiet = QuietOption();
        var initial = new Option<double?>("--split-timeout")
        {
            Description = "output+input: seconds a sub-problem may take before its box is bisected (children get 1.5x; default 5)",
        };
        var reportDir = ReportCommand.ReportOption("report.md (verdict, witness, Δ bounds per method, partition tree), report.json, result.txt (VNN-COMP), timeline.png, witness.png");
        var lpBudget = new Option<double>("--lp-budget") { Description = "seconds of LP tightening of unstable neurons and LP relaxation of N − Q before the MILPs (0: no LP at all, also none per sub-problem)", DefaultValueFactory = _ => 2 };
        var branchTime = new Option<double?>("--branch-time")
        {
            Description = "seconds of branch and bound on the differential bounds (input splits at Q's quantization boundaries) before the MILPs (default: half the time left with --timeout, at most 10; 0: off); not with --strategy monolithic",
        };
        var resume = new Option<string>("--resume")
        {
            Description = "job log: finished sub-problems are appended to it as they finish; if it already holds this job (same models, region, δ, settings), the run continues it instead of starting over",
        };
        var cluster = ClusterCommands.ClusterOption();
        var membership = ClusterCommands.MembershipOption();
        var secretFile = ClusterCommands.SecretFileOption();
        var noRace = new Option<bool>("--no-race")
        {
            Description = "idle cores do not race other solver configurations (HiGHS, SCIP with another seed) beside --solver (ablation)",
        };
        var command = new Command("verify", "Prove or refute ‖N(x) − Q(x)‖∞ < δ for every x in a region");
        models.AddTo(command);
        region.AddTo(command);
        foreach (var o in new Option[] { delta, solver, timeout, strategy, workers, portfolio, pieces, initial, json, witnessPath, seed, noDiff, lpBudget, branchTime, quiet, reportDir, resume, cluster, membership, secretFile, noRace })
            command.Options.Add(o);
        command.SetAction(parse =>
        {
            // Every flag and output path first: a mistake costs one line at once, not a run.
            var outputs = new OutputPaths();
            var jsonPath = outputs.File(parse.GetValue(json), "--json", stdoutAllowed: true);
            var witnessFile = outputs.File(parse.GetValue(witnessPath), "--witness");
            var reportFolder = outputs.Folder(parse.GetValue(reportDir), "--report");
            var logFile = outputs.File(parse.GetValue(resume), "--resume");
            var regionNotice = region.Check(parse);
            var d = region.Delta(parse, delta);
            var lp = parse.GetValue(lpBudget);
            if (!double.IsFinite(lp) || lp > 1e9) throw new BadInputException($"--lp-budget: must be a number of seconds ≥ 0, got {lp}");
            var branch = parse.GetValue(branchTime) is { } bt
                ? double.IsFinite(bt) && bt >= 0 && bt <= 1e9 ? TimeSpan.FromSeconds(bt) : throw new BadInputException($"--branch-time: must be a number of seconds ≥ 0, got {bt}")
                : (TimeSpan?)null;
            var s = ParseStrategy(parse.GetValue(strategy));
            var limit = Seconds(parse.GetValue(timeout));
            TimeSpan? splitAfter = parse.GetValue(initial) is { } st
                ? double.IsFinite(st) && st > 0 ? TimeSpan.FromSeconds(st) : throw new BadInputException($"--split-timeout: must be a number of seconds > 0, got {st}")
                : null;
            var remote = ClusterCommands.Resolve(parse.GetValue(cluster), parse.GetValue(membership), "--cluster", parse.GetValue(secretFile));
            if (remote is not null && s == Strategy.Monolithic)
                throw new BadInputException("--cluster: the monolithic strategy is one MILP; use output or output+input");
            if (remote is not null && parse.GetValue(workers) is not null)
                throw new BadInputException("--workers: with --cluster every worker process sets its own (qequiv worker --workers N)");
            // The settings' own rules are Core's (one place, VerifyOptions.Problems); checked here before any model loads.
            var options = new VerifyOptions(d, s, parse.GetValue(solver), limit, parse.GetValue(seed))
            {
                DifferentialBounds = !parse.GetValue(noDiff),
                LpBudget = TimeSpan.FromSeconds(Math.Max(lp, -1)),
                BranchBudget = branch,
                Workers = parse.GetValue(workers) ?? 0,
                Portfolio = parse.GetValue(portfolio),
                OutputPieces = parse.GetValue(pieces),
                InitialTimeout = splitAfter,
                Log = logFile,
                RaceSpareCores = !parse.GetValue(noRace),
                Spec = region.Spec(parse),
            }.Validated(Flag);
            var quietRun = parse.GetValue(quiet);
            using var jsonOut = new JsonOutput(jsonPath);
            var (n, q, box) = models.LoadWithRegion(parse, region, regionNotice, quietRun);
            var connection = remote is null ? default : ClusterCommands.Connect(remote);
            VerificationReport report;
            string? signal;
            // The first Ctrl+C or SIGTERM stops the run and still reports what was proved (and, on a cluster, cancels the
            // job on the workers); a second one ends the process at once.
            using (var interrupt = Interruption.Start($"verify, δ = {G(d)}, strategy {Strategies.Name(s)}", quietRun))
            {
                using (connection.Host)
                    report = ProgressDisplay.Run(quietRun, progress => Verifier.Verify(n, q, box,
                        options with { Progress = progress, Runner = connection.Runner, Cancellation = interrupt.Token }));
                if (interrupt.Requested && report.Verdict == Verdict.Unknown) report = report with { Interrupted = true };
                signal = interrupt.Signal;
            }
            Console.WriteLine(report.Verdict.ToString().ToLowerInvariant());
            if (report.Interrupted) Console.WriteLine($"interrupted ({signal}): stopped before a verdict; what was proved so far follows");
            PrintSummary(report);
            if (report.Witness is { } witness)
            {
                PrintWitness(witness);
                if (witnessFile is not null)
                {
                    AtomicFile.Write(witnessFile, WitnessCsv(witness));
                    Console.WriteLine($"witness written to {witnessFile}");
                }
            }
            jsonOut.Write(ToJson(report));
            if (reportFolder is not null) ReportCommand.WriteVerify(reportFolder, report, box, options.Timeout, ReportCommand.Facts(parse, models, region), ToJson(report));
            return report.Interrupted ? Interruption.ExitCode
                : report.Verdict switch { Verdict.Verified => Verified, Verdict.Falsified => Falsified, _ => Unknown };
        });
        return command;
    }

    public static Option<string> StrategyOption() => new("--strategy")
    {
        Description = "monolithic (one MILP, the paper's baseline), output (one MILP per output, sign and output-code piece, on all workers) or output+input (the same, splitting input boxes that outlive their time limit)",
        DefaultValueFactory = _ => Strategies.Name(Strategy.OutputInput),
    };

    public static Strategy ParseStrategy(string? text) => Strategies.TryParse(text, out var s) ? s
        : throw new BadInputException($"--strategy: unknown strategy '{text}' (expected monolithic, output or output+input)");

    public static Option<int?> WorkersOption() => new("--workers")
    {
        Description = "threads pulling sub-problems (default, or 0: all cores); the monolithic strategy runs on one",
    };

    /// <summary>The flag of each <see cref="VerifyOptions"/> setting, for Core's one-line setting errors.</summary>
    public static string Flag(string setting) => setting switch
    {
        nameof(VerifyOptions.Delta) => "--delta",
        nameof(VerifyOptions.Timeout) => "--timeout",
        nameof(VerifyOptions.Workers) => "--workers",
        nameof(VerifyOptions.OutputPieces) => "--output-pieces",
        nameof(VerifyOptions.LpBudget) => "--lp-budget",
        nameof(VerifyOptions.BranchBudget) => "--branch-time",
        nameof(VerifyOptions.InitialTimeout) => "--split-timeout",
        nameof(VerifyOptions.Portfolio) => "--portfolio",
        nameof(VerifyOptions.Log) => "--resume",
        nameof(VerifyOptions.Runner) => "--cluster",
        _ => setting,
    };

    /// <summary>The worker count for the engine (0: all cores); an explicit count with the monolithic strategy is an error.</summary>
    public static int Workers(ParseResult parse, Option<int?> option, Strategy strategy)
    {
        var w = parse.GetValue(option);
        if (w is < 0) throw new BadInputException($"--workers: must be ≥ 0 (0: all cores), got {w}");
        if (w is > 1 && strategy == Strategy.Monolithic)
            throw new BadInputException("--workers: the monolithic strategy is one MILP; it runs on one worker");
        return w ?? 0;
    }

    public static Option<bool> PortfolioOption() => new("--portfolio")
    {
        Description = "race several solver configurations (SCIP, SCIP with another seed, HiGHS) on every MILP; the first definitive answer wins",
    };

    public static Option<bool> QuietOption() => new("--quiet")
    {
        Description = "nothing on standard error but errors: no progress display (also off when standard error is not a terminal), no 'running' line, no notes",
    };

    public static Option<MilpBackend> SolverOption() => new("--solver")
    {
        Description = "MILP backend: scip (default), highs or cbc",
        DefaultValueFactory = _ => MilpBackends.Default,
    };

    /// <summary>--timeout of verify and max-error: one limit on the whole run, wall time, every stage included.</summary>
    public static Option<double?> TimeoutOption() => new("--timeout")
    {
        Description = "time limit of the whole run in seconds of wall time, every stage included; when it runs out the run stops and reports what it has (default: none)",
        HelpName = "SECONDS",
    };

    public static TimeSpan? Seconds(double? s) => s switch
    {
        null => null,
        > 0 and < 1e9 => TimeSpan.FromSeconds(s.Value),
        _ => throw new BadInputException($"--timeout: must be a number of seconds > 0, got {s}"),
    };

    private static string G(double v) => v.ToString("G9", CultureInfo.InvariantCulture);

    private static void PrintSummary(VerificationReport r)
    {
        var c = CultureInfo.InvariantCulture;
        Console.WriteLine(string.Create(c, $"δ = {r.Delta:G9}, strategy {Strategies.Name(r.Strategy)}, solver {r.Backend}, {r.Timings.Total:F2} s (falsify {r.Timings.Falsify:F2}, bounds {r.Timings.Bounds:F2}, milp {r.Timings.Milp:F2})"));
        Console.WriteLine(string.Create(c, $"sub-problems: {r.SubProblems.Count} ({r.Count(DecidedBy.Bounds)} by bounds, {r.Count(DecidedBy.Milp)} by MILP, {r.Count(DecidedBy.Falsifier)} by the falsifier, {r.Count(DecidedBy.Open)} open); proved {r.ProvedShare:P1}"));
        if (r.Verdict == Verdict.Unknown) PrintPairs(r.Pairs);
        foreach (var note in r.Notes) Console.WriteLine($"note: {note}");
    }

    /// <summary>What an unknown run did establish, per (output, sign): the proved pairs counted, the others one line each.</summary>
    private static void PrintPairs(IReadOnlyList<PairProgress> pairs)
    {
        if (pairs.Count == 0) return;
        var c = CultureInfo.InvariantCulture;
        Console.WriteLine($"(output, sign) pairs: {pairs.Count(p => p.Status == PairStatus.Proved)} proved, {pairs.Count(p => p.Status == PairStatus.Open)} open, {pairs.Count(p => p.Status == PairStatus.Violated)} violated");
        foreach (var p in pairs.Where(p => p.Status != PairStatus.Proved))
            Console.WriteLine(string.Create(c, $"  output {p.Output} {(p.Sign > 0 ? "+" : "-")}: {Status(p.Status)}, {p.ProvedVolume:P2} of the box proved"));
    }

    private static string Status(PairStatus s) => JsonNamingPolicy.CamelCase.ConvertName(s.ToString());

    private static void PrintWitness(Witness w)
    {
        Console.WriteLine($"violating output {w.Output}: N - Q = {G(w.Difference)}, max |N - Q| = {G(w.MaxAbsDifference)}");
        if (w.Float32Error is { } e)
            Console.WriteLine($"with N in float32 (any summation order) or real arithmetic: |N - Q| >= {G(w.GuaranteedAbsDifference)} (N's float32 error bound {G(e[w.Output])}; sequential float32 N - Q = {G(w.Float32Difference!.Value)})");
        Console.WriteLine($"float outputs:     [{string.Join(", ", w.FloatOutput.Select(G))}]");
        if (w.Float32Output is { } f) Console.WriteLine($"float32 outputs:   [{string.Join(", ", f.Select(v => G(v)))}]");
        Console.WriteLine($"quantized outputs: [{string.Join(", ", w.QuantOutput.Select(v => G(v)))}]");
        var shown = w.Input.Length <= 16 ? string.Join(", ", w.Input.Select(v => G(v))) : string.Join(", ", w.Input.Take(8).Select(v => G(v))) + $", … ({w.Input.Length} values)";
        Console.WriteLine($"input: [{shown}]");
    }

    /// <summary>The witness as CSV: the input row first (so it can be fed back to `eval --inputs`), then commented facts.</summary>
    public static string WitnessCsv(Witness w) =>
        string.Join(",", w.Input.Select(v => v.ToString("R", CultureInfo.InvariantCulture))) + "\n"
        + $"# output {w.Output}: N - Q = {G(w.Difference)}, max |N - Q| = {G(w.MaxAbsDifference)}\n"
        + $"# float outputs: {string.Join(",", w.FloatOutput.Select(G))}\n"
        + $"# quantized outputs: {string.Join(",", w.QuantOutput.Select(v => G(v)))}\n"
        + (w.Float32Output is { } f ? $"# float32 outputs (sequential): {string.Join(",", f.Select(v => G(v)))}\n" : "")
        + (w.Float32Error is { } e ? $"# float32 error bound (any order): {string.Join(",", e.Select(G))}; guaranteed |N - Q| >= {G(w.GuaranteedAbsDifference)}\n" : "");

    private static readonly JsonSerializerOptions JsonOptions = CliJson.Options;

    private static double[] Pair(Bounds.Interval i) => [i.Lo, i.Hi];

    public static string ToJson(VerificationReport r) => JsonSerializer.Serialize(new
    {
        verdict = r.Verdict,
        interrupted = r.Interrupted,
        r.Delta,
        strategy = Strategies.Name(r.Strategy),
        solver = r.Backend,
        timings = r.Timings,
        provedShare = r.ProvedShare,
        witness = r.Witness,
        notes = r.Notes,
        milpCalls = r.MilpCalls,
        // Per (output, sign): what an unknown run proved (every pair proved when verified).
        pairs = r.Pairs.Select(p => new { output = p.Output, sign = p.Sign, status = Status(p.Status), provedVolume = p.ProvedVolume }),
        bounds = r.Bounds.Select(b => new
        {
            output = b.Output,
            naive = Pair(b.Naive),
            intervalDifferential = b.IntervalDifferential is { } i ? Pair(i) : null,
            symbolicDifferential = b.SymbolicDifferential is { } y ? Pair(y) : null,
            tightest = Pair(b.Tightest),
        }),
        subProblems = SubProblemRecords(r),
    }, JsonOptions);

    /// <summary>
    /// One record per sub-problem that ever existed: leaves with their outcome, and pieces the engine split (outcome
    /// "split"), each with the worker, times and limit of its solver call when it had one. Leaves first by id.
    /// </summary>
    internal static IEnumerable<object> SubProblemRecords(VerificationReport r)
    {
        var attempts = r.Engine?.Attempts.ToDictionary(a => a.SubProblemId) ?? [];
        var byId = r.SubProblems.ToDictionary(s => s.SubProblem.Id, s => s);
        foreach (var a in attempts.Values.Where(a => a.Children > 0)) byId.TryAdd(a.SubProblemId, a.Result);
        foreach (var (id, s) in byId.OrderBy(kv => kv.Key))
        {
            var p = s.SubProblem;
            attempts.TryGetValue(id, out var a);
            var split = a is { Children: > 0 };
            yield return new
            {
                id,
                parent = p.Parent,
                output = p.Output,
                sign = p.Sign,
                codes = p.Codes is { } c ? new[] { c.Lo, c.Hi } : null,
                depth = p.Depth,
                decidedBy = split ? "split" : JsonNamingPolicy.CamelCase.ConvertName(s.DecidedBy.ToString()),
                outcome = split ? "split" : JsonNamingPolicy.CamelCase.ConvertName(s.Outcome.ToString()),
                seconds = s.Seconds,
                solver = s.Solver,
                solverStatus = s.SolverStatus,
                objective = s.Objective,
                bound = s.Bound,
                nodes = s.Nodes,
                worker = a?.Worker,
                // A cluster worker's name (machine, process, thread); a resumed attempt's worker belonged to the earlier run.
                workerName = a is { Resumed: false } && a.Worker < r.Engine!.WorkerNames.Count ? r.Engine.WorkerNames[a.Worker] : null,
                resumed = a?.Resumed,
                start = a?.Start.TotalSeconds,
                end = a?.End.TotalSeconds,
                timeLimit = a?.Timeout.TotalSeconds,
                children = a?.Children,
            };
        }
    }
}
