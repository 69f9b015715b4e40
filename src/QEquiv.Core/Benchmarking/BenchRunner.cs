using System.Globalization;
using System.Text;
using QEquiv.Equivalence;
using QEquiv.Falsification;
using QEquiv.Model;
using QEquiv.Onnx;
using QEquiv.Quantization;
using QEquiv.Regions;
using QEquiv.Solvers;
using QEquiv.Verification;

namespace QEquiv.Benchmarking;

/// <summary>
/// One way of running the verifier that a benchmark compares: a strategy, with or without differential bounds
/// (the ablation the bounds' benefit is measured by), on N workers (0: all cores), with or without the solver portfolio.
/// Written "monolithic", "output", "output+input", with modifiers ":nodiff", ":nolp" (no LP at all: neither tightening nor relaxation, before or in the engine),
/// ":nobranch" (no branch and bound on the differential bounds before the MILPs), ":nostall" (branch and bound without its
/// stall window, <see cref="VerifyOptions.BranchStallWindow"/>: only its budget ends it), ":wN", ":portfolio", ":pK" (K output-code pieces),
/// ":cluster", ":norace" (no idle-core race), ":serial" (the full counterexample search before the proofs, not beside them)
/// and ":nopresolve" (every MILP on SCIP with all presolve off, <see cref="SolverConfiguration.ScipWithoutPresolve"/>: the
/// presolve ablation; combine it with ":norace" to time SCIP alone) and ":noshare" (output+input with the fixed first limits only,
/// <see cref="VerifyOptions.FairShare"/> off), e.g. "output+input:w1".
/// </summary>
/// <param name="Cluster">Run the sub-problems on the cluster given to the run (<see cref="BenchOptions.Cluster"/>) instead of this process.</param>
public sealed record BenchConfiguration(Strategy Strategy, bool DifferentialBounds = true, int Workers = 0, bool Portfolio = false,
    int OutputPieces = VerifyOptions.DefaultOutputPieces, bool Cluster = false, bool RaceSpareCores = true, bool SearchAlongside = true,
    bool UseLp = true, bool ScipPresolve = true, bool Branch = true, bool BranchStall = true, bool FairShare = true)
{
    public string Name => Strategies.Name(Strategy) + (DifferentialBounds ? "" : ":nodiff") + (UseLp ? "" : ":nolp") + (Workers == 0 ? "" : $":w{Workers}")
        + (Portfolio ? ":portfolio" : "") + (OutputPieces == VerifyOptions.DefaultOutputPieces ? "" : $":p{OutputPieces}") + (Cluster ? ":cluster" : "") + (RaceSpareCores ? "" : ":norace")
        + (SearchAlongside ? "" : ":serial") + (ScipPresolve ? "" : ":nopresolve") + (Branch || Strategy == Strategy.Monolithic ? "" : ":nobranch")
        + (BranchStall || !Branch || Strategy == Strategy.Monolithic ? "" : ":nostall") + (FairShare || Strategy != Strategy.OutputInput ? "" : ":noshare");
    public override string ToString() => Name;

    public VerificationReport Verify(PreparedInstance p, MilpBackend backend, TimeSpan? timeout, int seed, CancellationToken cancellation,
        IJobRunner? cluster = null) =>
        Verifier.Verify(p.Float, p.Quantized, p.Box, new VerifyOptions(p.Instance.Delta, Strategy, backend, timeout, seed)
        {
            DifferentialBounds = DifferentialBounds,
            LpBudget = UseLp ? VerifyOptions.DefaultLpBudget : TimeSpan.Zero,
            BranchBudget = Branch ? null : TimeSpan.Zero,
            BranchStallWindow = BranchStall ? VerifyOptions.DefaultBranchStallWindow : 0,
            Workers = Workers,
            Portfolio = Portfolio || !ScipPresolve,
            PortfolioConfigurations = ScipPresolve ? null : [SolverConfiguration.ScipWithoutPresolve],
            OutputPieces = OutputPieces,
            RaceSpareCores = RaceSpareCores,
            SearchAlongside = SearchAlongside,
            FairShare = FairShare,
            Cancellation = cancellation,
            Spec = p.Spec,
            Runner = Cluster ? cluster ?? throw new BadInputException($"--strategy {Name}: a :cluster configuration needs --cluster HOST:PORT or --membership") : null,
        });

    /// <exception cref="BadInputException">an unknown strategy or modifier.</exception>
    public static BenchConfiguration Parse(string word)
    {
        BadInputException Bad() => new($"--strategy: unknown configuration '{word}' (expected monolithic, output or output+input, optionally with :nodiff, :nolp, :nobranch, :nostall, :wN, :portfolio, :pK, :cluster, :norace, :serial, :nopresolve and :noshare)");
        var parts = word.Split(':');
        if (!Strategies.TryParse(parts[0], out var s)) throw Bad();
        var configuration = new BenchConfiguration(s);
        foreach (var modifier in parts.Skip(1))
        {
            if (modifier == "nodiff") configuration = configuration with { DifferentialBounds = false };
            else if (modifier == "nolp") configuration = configuration with { UseLp = false };
            else if (modifier == "nobranch" && s != Strategy.Monolithic) configuration = configuration with { Branch = false };
            else if (modifier == "nostall" && s != Strategy.Monolithic) configuration = configuration with { BranchStall = false };
            else if (modifier == "norace" && s != Strategy.Monolithic) configuration = configuration with { RaceSpareCores = false };
            else if (modifier == "serial" && s != Strategy.Monolithic) configuration = configuration with { SearchAlongside = false };
            else if (modifier == "portfolio" && s != Strategy.Monolithic && configuration.ScipPresolve) configuration = configuration with { Portfolio = true };
            else if (modifier == "nopresolve" && s != Strategy.Monolithic && !configuration.Portfolio) configuration = configuration with { ScipPresolve = false };
            else if (modifier == "noshare" && s == Strategy.OutputInput) configuration = configuration with { FairShare = false };
            else if (modifier == "cluster" && s != Strategy.Monolithic && configuration.Workers == 0) configuration = configuration with { Cluster = true };
            else if (modifier.Length > 1 && modifier[0] == 'w' && !configuration.Cluster && int.TryParse(modifier[1..], NumberStyles.None, CultureInfo.InvariantCulture, out var w)
                     && w >= 1 && s != Strategy.Monolithic)
                configuration = configuration with { Workers = w };
            else if (modifier.Length > 1 && modifier[0] == 'p' && int.TryParse(modifier[1..], NumberStyles.None, CultureInfo.InvariantCulture, out var k)
                     && k >= 1 && s != Strategy.Monolithic)
                configuration = configuration with { OutputPieces = k };
            else throw Bad();
        }
        return configuration;
    }
}

/// <summary>How a benchmark run is configured; every instance runs under every configuration, in this order.</summary>
public sealed record BenchOptions(
    IReadOnlyList<BenchConfiguration> Configurations,
    MilpBackend Backend = MilpBackends.Default,
    Runtime Runtime = Runtime.Onnx,
    double? TimeoutCap = null,
    int Seed = 0)
{
    public CancellationToken Cancellation { get; init; }
    /// <summary>Where :cluster configurations run their sub-problems.</summary>
    public IJobRunner? Cluster { get; init; }
}

/// <summary>One (instance, strategy) run: the row of the results CSV. Seconds are rounded to milliseconds so the
/// CSV and the summary computed from these records agree to the digit.</summary>
public sealed record BenchResult(
    int Index,
    string Instance,
    string Configuration,
    string Solver,
    double Delta,
    double? TimeoutSeconds,
    Verdict Verdict,
    double Seconds,
    int SubProblems,
    int ByFalsifier,
    int ByBounds,
    int ByMilp,
    int Open,
    double ProvedShare,
    int MilpCalls)
{
    public bool Decided => Verdict != Verdict.Unknown;

    /// <summary>The run was stopped (Ctrl+C, SIGTERM) before it reached a verdict: <see cref="Verdict"/> is unknown, and
    /// the CSV's verdict column says "interrupted" instead.</summary>
    public bool Interrupted { get; init; }

    public const string InterruptedWord = "interrupted";

    /// <summary>The run's witness when falsified (for VNN-COMP results files; not a CSV column, and null in rows read back).</summary>
    public Witness? Witness { get; init; }

    public static BenchResult From(int index, BenchInstance instance, BenchConfiguration configuration, TimeSpan? timeout, VerificationReport r) => new(
        index, instance.Name, configuration.Name, r.Backend, r.Delta, timeout?.TotalSeconds, r.Verdict,
        Math.Round(r.Timings.Total, 3), r.SubProblems.Count,
        r.Count(DecidedBy.Falsifier), r.Count(DecidedBy.Bounds), r.Count(DecidedBy.Milp), r.Count(DecidedBy.Open),
        Math.Round(r.ProvedShare, 4), r.MilpCalls) { Witness = r.Witness };

    public const string CsvHeader = "instance,configuration,solver,delta,timeout,verdict,seconds,sub_problems,by_falsifier,by_bounds,by_milp,open,proved_share,milp_calls";

    public string ToCsv() => string.Join(",",
        Instance, Configuration, Solver, G(Delta), TimeoutSeconds is { } t ? G(t) : "", Interrupted ? InterruptedWord : Word(Verdict),
        Seconds.ToString("F3", CultureInfo.InvariantCulture), SubProblems, ByFalsifier, ByBounds, ByMilp, Open,
        ProvedShare.ToString("0.####", CultureInfo.InvariantCulture), MilpCalls);

    public static string ToCsv(IEnumerable<BenchResult> results)
    {
        var sb = new StringBuilder(CsvHeader).Append('\n');
        foreach (var r in results) sb.Append(r.ToCsv()).Append('\n');
        return sb.ToString();
    }

    public static string Word<T>(T value) where T : Enum => value.ToString().ToLowerInvariant();

    private static string G(double v) => v.ToString("R", CultureInfo.InvariantCulture);
}

/// <summary>An instance with its models loaded and its region resolved, ready to run; <see cref="Spec"/> is the property of
/// a VNN-LIB 2.0 two-network spec when the region is one (the verdict then answers it).</summary>
public sealed record PreparedInstance(int Index, BenchInstance Instance, Network Float, Network Quantized, Box Box)
{
    public TwoNetworkSpec? Spec { get; init; }
}

/// <summary>
/// Runs instance lists: <see cref="Prepare"/> loads every model and region first (so that a bad file fails the
/// run before any solving), then <see cref="Run"/> verifies each instance under each strategy, one after another
/// on one worker, so that the strategies' timings are comparable.
/// </summary>
public static class BenchRunner
{
    /// <exception cref="BadInputException">a model or region that does not load, or that does not fit the other
    /// files of its line; the message names the list and line, then the file's own problem.</exception>
    public static IReadOnlyList<PreparedInstance> Prepare(IReadOnlyList<BenchInstance> instances, Runtime runtime)
    {
        var pairs = new Dictionary<(string, string, Runtime, string), (Network, Network)>();
        var vnnlib = new Dictionary<string, VnnLibRegion>(StringComparer.Ordinal);
        var prepared = new List<PreparedInstance>();
        foreach (var inst in instances)
        {
            try
            {
                var key = (inst.FloatModel, inst.QuantModel, runtime, inst.Outputs is { } o ? string.Join(",", o) : "");
                if (!pairs.TryGetValue(key, out var pair))
                    pairs[key] = pair = OnnxImporter.LoadPair(inst.FloatModel, inst.QuantModel, runtime, inst.Outputs);
                var (n, q) = pair;
                Box box;
                TwoNetworkSpec? spec = null;
                if (inst.Region.Kind == RegionKind.VnnLib)
                {
                    var path = inst.Region.FullPath(inst.BaseDirectory);
                    if (!vnnlib.TryGetValue(path, out var region)) vnnlib[path] = region = VnnLib.ParseBox(path);
                    (box, spec) = (region.Box, region.Equivalence);
                    // The spec is the question its results file answers: a δ column that says otherwise would answer another.
                    if (spec is not null && spec.Delta != inst.Delta)
                        throw new BadInputException(string.Create(CultureInfo.InvariantCulture,
                            $"delta {inst.Delta:R} is not the tolerance ε = {spec.Delta:R} that {inst.Region.Path} states ({spec.Statement}); give the spec's ε or a VNN-LIB 1.0 box"));
                    if (spec is not null && spec.Plus.Length != n.OutputSize)
                        throw new BadInputException($"the spec {inst.Region.Path} bounds {spec.Plus.Length} outputs but the models have {n.OutputSize}");
                }
                else box = inst.Region.Resolve(inst.BaseDirectory);
                if (box.Dimension != n.InputSize)
                    throw new BadInputException($"the region {inst.Region} has {box.Dimension} inputs but the models take {n.InputSize}");
                prepared.Add(new PreparedInstance(prepared.Count, inst, n, q, box) { Spec = spec });
            }
            catch (BadInputException e) when (!e.Message.StartsWith(inst.Where, StringComparison.Ordinal))
            {
                throw BadInputException.For(inst.Where, e.Message);
            }
        }
        return prepared;
    }

    /// <param name="onInstance">Called after each instance with its results under every strategy (for progress and
    /// for saving partial results); when the run is cancelled, also for the instance it stopped in, with the rows it has
    /// (the stopped one marked <see cref="BenchResult.Interrupted"/>), and the run ends there.</param>
    public static IReadOnlyList<BenchResult> Run(IReadOnlyList<PreparedInstance> instances, BenchOptions options,
        Action<PreparedInstance, IReadOnlyList<BenchResult>>? onInstance = null)
    {
        if (options.Configurations.Count == 0) throw new ArgumentException("at least one configuration is needed", nameof(options));
        var all = new List<BenchResult>();
        foreach (var p in instances)
        {
            var mine = new List<BenchResult>();
            foreach (var configuration in options.Configurations)
            {
                if (options.Cancellation.IsCancellationRequested) return all;
                var timeout = p.Instance.EffectiveTimeout(options.TimeoutCap);
                var report = configuration.Verify(p, options.Backend, timeout, options.Seed, options.Cancellation, options.Cluster);
                var row = BenchResult.From(p.Index, p.Instance, configuration, timeout, report);
                if (options.Cancellation.IsCancellationRequested && report.Verdict == Verdict.Unknown)
                {
                    mine.Add(row with { Interrupted = true });
                    all.AddRange(mine);
                    onInstance?.Invoke(p, mine);
                    return all;
                }
                mine.Add(row);
            }
            all.AddRange(mine);
            onInstance?.Invoke(p, mine);
        }
        return all;
    }
}
