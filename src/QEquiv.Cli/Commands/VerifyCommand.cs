using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
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
        var delta = new Option<double>("--delta") { Description = "tolerance δ > 0: verified means ‖N(x) − Q(x)‖∞ < δ on the whole region", Required = true };
        var solver = SolverOption();
        var timeout = TimeoutOption();
        var strategy = new Option<Strategy>("--strategy") { Description = "monolithic (one MILP, the paper's baseline) or output (one MILP per output and sign)", DefaultValueFactory = _ => Strategy.Output };
        var json = new Option<string>("--json") { Description = "write the full report (verdict, timings, every sub-problem) as JSON" };
        var witnessPath = new Option<string>("--witness") { Description = "where to write the witness CSV when falsified", DefaultValueFactory = _ => "witness.csv" };
        var seed = new Option<int>("--seed") { Description = "seed of the falsifier's random points", DefaultValueFactory = _ => 0 };
        var noDiff = new Option<bool>("--no-diff-bounds") { Description = "bound N and Q separately only (ablation of the differential bounds)" };
        var workers = new Option<int>("--workers")
        {
            Description = "1 (default): one MILP per sub-problem in turn; N > 1 (or 0 for all cores): N workers pull sub-problems and split a box on timeout (split-and-conquer over the input)",
            DefaultValueFactory = _ => 1,
        };
        var lpBudget = new Option<double>("--lp-budget") { Description = "seconds of LP tightening of unstable neurons before the MILPs (0: off)", DefaultValueFactory = _ => 2 };
        var command = new Command("verify", "Prove or refute ‖N(x) − Q(x)‖∞ < δ for every x in a region");
        models.AddTo(command);
        region.AddTo(command);
        foreach (var o in new Option[] { delta, solver, timeout, strategy, json, witnessPath, seed, noDiff, lpBudget, workers }) command.Options.Add(o);
        command.SetAction(parse =>
        {
            var d = parse.GetValue(delta);
            if (!(d > 0) || !double.IsFinite(d)) throw new BadInputException($"--delta: δ must be a finite number > 0, got {d.ToString(CultureInfo.InvariantCulture)}");
            var (n, q) = models.Load(parse);
            var (box, notice) = region.Resolve(parse, n.InputSize);
            if (notice is not null) Console.Error.WriteLine($"note: {notice}");
            var lp = parse.GetValue(lpBudget);
            if (!(lp >= 0) || !double.IsFinite(lp)) throw new BadInputException($"--lp-budget: must be a number of seconds ≥ 0, got {lp}");
            var w = parse.GetValue(workers);
            if (w < 0) throw new BadInputException($"--workers: must be ≥ 0, got {w}");
            if (w != 1 && parse.GetValue(strategy) == Strategy.Monolithic)
                throw new BadInputException("--workers: the monolithic strategy is one MILP; it runs on one worker");
            var report = w == 1
                ? Verifier.Verify(n, q, box, new VerifyOptions(d, parse.GetValue(strategy), parse.GetValue(solver),
                    Seconds(parse.GetValue(timeout)), parse.GetValue(seed))
                { DifferentialBounds = !parse.GetValue(noDiff), LpBudget = TimeSpan.FromSeconds(lp) })
                : ParallelVerifier.Verify(n, q, box, new ParallelVerifyOptions(d, w, Timeout: Seconds(parse.GetValue(timeout)),
                    Backend: parse.GetValue(solver), Seed: parse.GetValue(seed)) { DifferentialBounds = !parse.GetValue(noDiff) });
            Console.WriteLine(report.Verdict.ToString().ToLowerInvariant());
            PrintSummary(report);
            if (report.Witness is { } witness)
            {
                PrintWitness(witness);
                var path = parse.GetValue(witnessPath)!;
                AtomicFile.Write(path, WitnessCsv(witness));
                Console.WriteLine($"witness written to {path}");
            }
            if (parse.GetValue(json) is { } jsonPath) AtomicFile.Write(jsonPath, ToJson(report));
            return report.Verdict switch { Verdict.Verified => Verified, Verdict.Falsified => Falsified, _ => Unknown };
        });
        return command;
    }

    public static Option<MilpBackend> SolverOption() => new("--solver")
    {
        Description = "MILP backend: scip (default), highs or cbc",
        DefaultValueFactory = _ => MilpBackends.Default,
    };

    public static Option<double?> TimeoutOption() => new("--timeout") { Description = "overall time limit in seconds (default: none)" };

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
        Console.WriteLine(string.Create(c, $"δ = {r.Delta:G9}, strategy {r.Strategy.ToString().ToLowerInvariant()}, solver {r.Backend}, {r.Timings.Total:F2} s (falsify {r.Timings.Falsify:F2}, bounds {r.Timings.Bounds:F2}, milp {r.Timings.Milp:F2})"));
        Console.WriteLine(string.Create(c, $"sub-problems: {r.SubProblems.Count} ({r.Count(DecidedBy.Bounds)} by bounds, {r.Count(DecidedBy.Milp)} by MILP, {r.Count(DecidedBy.Falsifier)} by the falsifier, {r.Count(DecidedBy.Open)} open); proved {r.ProvedShare:P1}"));
        foreach (var note in r.Notes) Console.WriteLine($"note: {note}");
    }

    private static void PrintWitness(Witness w)
    {
        Console.WriteLine($"violating output {w.Output}: N - Q = {G(w.Difference)}, max |N - Q| = {G(w.MaxAbsDifference)}");
        Console.WriteLine($"float outputs:     [{string.Join(", ", w.FloatOutput.Select(G))}]");
        Console.WriteLine($"quantized outputs: [{string.Join(", ", w.QuantOutput.Select(v => G(v)))}]");
        var shown = w.Input.Length <= 16 ? string.Join(", ", w.Input.Select(v => G(v))) : string.Join(", ", w.Input.Take(8).Select(v => G(v))) + $", … ({w.Input.Length} values)";
        Console.WriteLine($"input: [{shown}]");
    }

    /// <summary>The witness as CSV: the input row first (so it can be fed back to `eval --inputs`), then commented facts.</summary>
    public static string WitnessCsv(Witness w) =>
        string.Join(",", w.Input.Select(v => v.ToString("R", CultureInfo.InvariantCulture))) + "\n"
        + $"# output {w.Output}: N - Q = {G(w.Difference)}, max |N - Q| = {G(w.MaxAbsDifference)}\n"
        + $"# float outputs: {string.Join(",", w.FloatOutput.Select(G))}\n"
        + $"# quantized outputs: {string.Join(",", w.QuantOutput.Select(v => G(v)))}\n";

    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
    };

    private static double[] Pair(Bounds.Interval i) => [i.Lo, i.Hi];

    public static string ToJson(VerificationReport r) => JsonSerializer.Serialize(new
    {
        verdict = r.Verdict,
        r.Delta,
        r.Strategy,
        solver = r.Backend,
        timings = r.Timings,
        provedShare = r.ProvedShare,
        witness = r.Witness,
        notes = r.Notes,
        milpCalls = r.MilpCalls,
        bounds = r.Bounds.Select(b => new
        {
            output = b.Output,
            naive = Pair(b.Naive),
            intervalDifferential = b.IntervalDifferential is { } i ? Pair(i) : null,
            symbolicDifferential = b.SymbolicDifferential is { } y ? Pair(y) : null,
            tightest = Pair(b.Tightest),
        }),
        subProblems = r.SubProblems.Select(s => new
        {
            id = s.SubProblem.Id,
            output = s.SubProblem.Output,
            sign = s.SubProblem.Sign,
            depth = s.SubProblem.Depth,
            parent = s.SubProblem.Parent,
            decidedBy = s.DecidedBy,
            outcome = s.Outcome,
            seconds = s.Seconds,
            solver = s.Solver,
            solverStatus = s.SolverStatus,
            objective = s.Objective,
            bound = s.Bound,
            nodes = s.Nodes,
        }),
    }, JsonOptions);
}
