using System.Diagnostics;
using QEquiv.Branching;
using QEquiv.Bounds;
using QEquiv.Encoding;
using QEquiv.Equivalence;
using QEquiv.Falsification;
using QEquiv.Model;
using QEquiv.Networks;
using QEquiv.Quantization;
using QEquiv.Partitioning;
using QEquiv.Regions;
using QEquiv.Scheduling;
using QEquiv.Solvers;

namespace QEquiv.Verification;

/// <param name="Strategy">How the property is cut (see <see cref="Verification.Strategy"/>); output+input by default.</param>
/// <param name="Timeout">Global wall time including the falsifier; null: none.</param>
public sealed record VerifyOptions(
    double Delta,
    Strategy Strategy = Strategy.OutputInput,
    MilpBackend Backend = MilpBackends.Default,
    TimeSpan? Timeout = null,
    int Seed = 0)
{
    /// <summary>Share of the timeout the falsifier may use before any proof is attempted.</summary>
    public double FalsifierShare { get; init; } = 0.1;
    /// <summary>Ceiling on the falsifier's time whatever the timeout.</summary>
    public TimeSpan FalsifierCap { get; init; } = TimeSpan.FromSeconds(5);
    /// <summary>Differential bounds of N − Q (off only for ablations: the interval bounds of N and Q taken separately remain).</summary>
    public bool DifferentialBounds { get; init; } = true;
    /// <summary>Time for LP tightening of unstable neurons and the LP relaxation of Δ before the MILPs; zero: no LP at all,
    /// neither there nor on the engine's pieces (ablations).</summary>
    public TimeSpan LpBudget { get; init; } = DefaultLpBudget;
    /// <summary>Time for branch and bound on the differential bounds (input splits) before any MILP; null: half of the time
    /// left with a timeout, at most <see cref="DefaultBranchBudget"/> unless the box is small and the networks large
    /// (<see cref="ManyRelus"/>); zero: off. The monolithic strategy (the paper's
    /// baseline) never branches.</summary>
    public TimeSpan? BranchBudget { get; init; }
    /// <remarks>At most this much by default: on a small network whose bounds cannot close a pair, splitting could
    /// otherwise hold back for half the run a MILP that answers in a second.</remarks>
    public static readonly TimeSpan DefaultBranchBudget = TimeSpan.FromSeconds(10);
    /// <summary>Networks with at least this many ReLUs each, on a box of at most <see cref="EquivalenceBranching.SmallDimension"/>
    /// open inputs, get half the time left for branch and bound, without <see cref="DefaultBranchBudget"/>'s cap.</summary>
    public const int ManyRelus = 100;
    /// <summary>Branch and bound stops when its largest gap fell by less than 0.1 % of the root's over this many bounds at
    /// a depth of 10 cuts per input (<see cref="BranchOptions.StallWindow"/>; 0: never): on a small network with a violation
    /// its centres miss, or one tight point, it would otherwise split for its whole budget in front of a MILP that answers
    /// in half a second.</summary>
    public int BranchStallWindow { get; init; } = DefaultBranchStallWindow;
    public const int DefaultBranchStallWindow = 1000;
    public static readonly TimeSpan DefaultLpBudget = TimeSpan.FromSeconds(2);
    public CancellationToken Cancellation { get; init; }

    /// <summary>Threads pulling sub-problems; 0: all cores. The monolithic strategy is one MILP and ignores it.</summary>
    public int Workers { get; init; }
    /// <summary>Race several solver configurations on every MILP (<see cref="SolverConfiguration.DefaultPortfolio"/>
    /// unless <see cref="PortfolioConfigurations"/> says otherwise) instead of <see cref="Backend"/> alone.</summary>
    public bool Portfolio { get; init; }
    public IReadOnlyList<SolverConfiguration>? PortfolioConfigurations { get; init; }
    /// <summary>Stage-2 pieces per (output, sign): the codes of Q_j the bounds leave possible are cut into this many ranges.</summary>
    public int OutputPieces { get; init; } = DefaultOutputPieces;
    public const int DefaultOutputPieces = 1;
    /// <summary>Limit of a depth-0 sub-problem under output+input (null: <see cref="EngineOptions.DefaultInitialTimeout"/>);
    /// under output nothing is split, so a sub-problem may use all the time left.</summary>
    public TimeSpan? InitialTimeout { get; init; }
    public double TimeoutFactor { get; init; } = 1.5;
    public int Bisections { get; init; } = 1;
    public int MaxDepth { get; init; } = 20;
    /// <summary>Bisect every sub-problem that outlives its limit, even when the halves' bounds are no better (tests, ablations);
    /// by default such a sub-problem is retried on its own box with a longer limit instead.</summary>
    public bool AlwaysSplit { get; init; }
    /// <summary>Under output+input with a timeout, a piece on a box of more than <see cref="EquivalenceBranching.SmallDimension"/>
    /// open inputs (an MNIST ball) gets at least its fair share of the time left as its first limit instead of the fixed
    /// initial one, since bisecting it would not make its MILP easier; off only for ablations.</summary>
    public bool FairShare { get; init; } = true;
    /// <summary>Input to bisect; null: <see cref="GradientSmear"/>.</summary>
    public ISplitHeuristic? Split { get; init; }
    /// <summary>With a single solver configuration, race the default portfolio's other members on idle cores (see
    /// <see cref="MilpSubProblemSolver.Cores"/>); off only for ablations.</summary>
    public bool RaceSpareCores { get; init; } = true;
    /// <summary>
    /// With a second core (two or more workers, or a cluster doing the solving), the full counterexample search runs on
    /// its own thread beside the LP and MILP stages instead of before them; the first witness stops the proofs, the proofs'
    /// end stops the search. Off: one after the other (ablations; a single worker always runs them one after the other).
    /// </summary>
    public bool SearchAlongside { get; init; } = true;
    /// <summary>Called from worker threads as the run advances (keep it cheap).</summary>
    public Action<VerificationProgress>? Progress { get; init; }
    /// <summary>Where the partitioned phase runs; null: this process (<see cref="LocalJobRunner"/>).</summary>
    public IJobRunner? Runner { get; init; }
    /// <summary>Job log: finished sub-problems are appended to it, and when it already holds this job the run resumes it
    /// (skipping the front end and every sub-problem it lists). With a cluster runner the path is on the coordinator.</summary>
    public string? Log { get; init; }

    /// <summary>
    /// The VNN-LIB 2.0 two-network spec this run answers (null: δ-equivalence alone). Its property is non-strict, |Y_g − Y_f|
    /// ≤ ε: <see cref="Delta"/> must be its smallest bound (<see cref="TwoNetworkSpec.Delta"/>); verified (‖N − Q‖∞ &lt; δ)
    /// implies it, and a witness is kept only when it exceeds a bound strictly (<see cref="WitnessChecker.ExceedsSpec"/>),
    /// otherwise the verdict is unknown. Only the verdict is read against it: workers and job logs solve δ-equivalence.
    /// </summary>
    public TwoNetworkSpec? Spec { get; init; }

    /// <summary>The runtime whose arithmetic the quantized network follows; <see cref="Verifier.Verify"/> takes it from the
    /// network (applied at import) so that it enters the job settings and fingerprint, and workers rebuild the same network.</summary>
    public Runtime Runtime { get; init; }
    /// <summary>The outputs the two networks were narrowed to (taken from Q, as <see cref="Runtime"/> is), for the job
    /// settings: workers narrow the files they load the same way.</summary>
    public IReadOnlyList<int>? Outputs { get; init; }

    /// <summary>
    /// The one place the settings' rules live. Each problem names the setting as this record does (Core knows no command-line
    /// flag); the CLI checks them before any model loads and the verifier again on entry, with the same rules.
    /// </summary>
    public IReadOnlyList<SettingProblem> Problems()
    {
        var problems = new List<SettingProblem>();
        void Check(bool ok, string setting, string problem) { if (!ok) problems.Add(new SettingProblem(setting, problem)); }
        Check(Delta > 0 && double.IsFinite(Delta), nameof(Delta), $"δ must be a finite number > 0, got {Delta.ToString(System.Globalization.CultureInfo.InvariantCulture)}");
        Check(Spec is null || Spec.Delta == Delta, nameof(Delta),
            $"δ {Delta.ToString("R", System.Globalization.CultureInfo.InvariantCulture)} is not the tolerance ε = {Spec?.Delta.ToString("R", System.Globalization.CultureInfo.InvariantCulture)} that {Path.GetFileName(Spec?.Source)} states ({Spec?.Statement}); leave δ to the spec");
        Check(Timeout is not { } t || t > TimeSpan.Zero, nameof(Timeout), $"must be a time > 0, got {Timeout?.TotalSeconds} s");
        Check(Workers >= 0, nameof(Workers), $"must be ≥ 0 (0: all cores), got {Workers}");
        Check(Workers <= 1 || Strategy != Strategy.Monolithic, nameof(Workers), "the monolithic strategy is one MILP; it runs on one worker");
        Check(OutputPieces >= 1, nameof(OutputPieces), $"must be ≥ 1, got {OutputPieces}");
        Check(LpBudget >= TimeSpan.Zero, nameof(LpBudget), $"must be a time ≥ 0, got {LpBudget.TotalSeconds} s");
        Check(BranchBudget is not { } bb || bb >= TimeSpan.Zero, nameof(BranchBudget), $"must be a time ≥ 0, got {BranchBudget?.TotalSeconds} s");
        Check(BranchBudget is not { } bm || bm == TimeSpan.Zero || Strategy != Strategy.Monolithic, nameof(BranchBudget), "the monolithic strategy (the paper's baseline) does not branch; use output or output+input");
        Check(BranchStallWindow >= 0, nameof(BranchStallWindow), $"must be ≥ 0 (0: never), got {BranchStallWindow}");
        Check(InitialTimeout is not { } it || it > TimeSpan.Zero, nameof(InitialTimeout), $"must be a time > 0, got {InitialTimeout?.TotalSeconds} s");
        Check(FalsifierShare is >= 0 and <= 1, nameof(FalsifierShare), $"must be a share between 0 and 1, got {FalsifierShare}");
        Check(FalsifierCap >= TimeSpan.Zero, nameof(FalsifierCap), $"must be a time ≥ 0, got {FalsifierCap.TotalSeconds} s");
        Check(TimeoutFactor >= 1 && double.IsFinite(TimeoutFactor), nameof(TimeoutFactor), $"must be a finite number ≥ 1, got {TimeoutFactor}");
        Check(Bisections >= 1, nameof(Bisections), $"must be ≥ 1, got {Bisections}");
        Check(MaxDepth >= 0, nameof(MaxDepth), $"must be ≥ 0, got {MaxDepth}");
        Check(!Portfolio || Strategy != Strategy.Monolithic, nameof(Portfolio), "the monolithic strategy is one MILP on one solver; use output or output+input");
        Check(Log is null || Strategy != Strategy.Monolithic, nameof(Log), "a job log records sub-problems of the partitioned strategies; the monolithic strategy has none");
        Check(Runner is null or LocalJobRunner || Strategy != Strategy.Monolithic, nameof(Runner), "the monolithic strategy is one MILP; use output or output+input");
        return problems;
    }

    /// <summary>These options when every rule of <see cref="Problems"/> holds; otherwise a one-line error about the first
    /// problem, the setting named by <paramref name="name"/> (the CLI maps settings to its flags).</summary>
    /// <exception cref="BadInputException">a setting breaks its rule.</exception>
    public VerifyOptions Validated(Func<string, string>? name = null)
    {
        if (Problems() is [var first, ..]) throw new BadInputException($"{(name ?? (s => s))(first.Setting)}: {first.Problem}");
        return this;
    }

    /// <summary>The plan settings these options give (what workers need to solve and split like this process).</summary>
    public JobSettings JobSettings()
    {
        var splitInputs = Strategy == Strategy.OutputInput;
        var split = Split switch
        {
            null or GradientSmear => Verification.JobSettings.GradientSmearSplit,
            WidestDimension => Verification.JobSettings.WidestSplit,
            _ => "custom",
        };
        var portfolio = Portfolio ? PortfolioConfigurations ?? SolverConfiguration.DefaultPortfolio : [SolverConfiguration.Plain(Backend)];
        // Without input splitting a piece gets one attempt, so its limit is whatever time is left (null here).
        return new JobSettings(portfolio, DifferentialBounds, split, AlwaysSplit,
            splitInputs ? InitialTimeout ?? EngineOptions.DefaultInitialTimeout : null, TimeoutFactor, Bisections,
            splitInputs ? MaxDepth : 0, new EngineOptions().RetryFactor)
        {
            RaceSpareCores = RaceSpareCores, LpRelaxation = LpBudget > TimeSpan.Zero, Runtime = Runtime, Outputs = Outputs,
            ShareAboveDimension = splitInputs && FairShare ? EquivalenceBranching.SmallDimension : null,
        };
    }
}

/// <summary>A setting of <see cref="VerifyOptions"/> that breaks its rule: the setting's name there, and why.</summary>
public sealed record SettingProblem(string Setting, string Problem);

/// <summary>Where a run is, for a progress display.</summary>
/// <param name="Stage">falsify, bounds, lp, milp (monolithic) or engine.</param>
/// <param name="BestDifference">Largest |N_j − Q_j| re-executed so far (the closest the run came to a witness).</param>
public sealed record VerificationProgress(string Stage, TimeSpan Elapsed, double BestDifference, EngineSnapshot? Engine);

/// <summary>
/// δ-equivalence: falsify cheaply, discharge what bounds and LP relaxations can, then solve MILPs — one for the whole
/// property (monolithic, the paper's baseline) or the paper's partition on the split-and-conquer <see cref="Engine"/>
/// (output; output+input). The verdict rules are the product's contract:
/// verified only when every sub-problem is proved; falsified only with a witness re-executed by
/// <see cref="WitnessChecker"/>; anything else is unknown.
/// </summary>
public static class Verifier
{
    /// <summary>Verifies the float network <paramref name="reference"/> against its quantized twin <paramref name="other"/>
    /// (or any two networks of the same shapes); with <see cref="VerifyOptions.Spec"/>, the verdict answers that spec.</summary>
    public static VerificationReport Verify(Network reference, Network other, Box box, VerifyOptions options)
    {
        var report = VerifyDelta(reference, other, box, options);
        return options.Spec is { } spec ? AgainstSpec(reference, other, report, spec) : report;
    }

    /// <summary>
    /// A δ-equivalence verdict read as the answer to a non-strict two-network spec (δ = its smallest bound): verified stays
    /// verified (&lt; δ implies ≤ every bound); a witness stays only when it exceeds some bound strictly, re-executed on both
    /// networks with their float32 error bounds; otherwise — a difference of exactly ε, or above δ on an output whose own
    /// bound is larger — the run found no counterexample of the spec and the verdict is unknown, the point named in a note.
    /// </summary>
    public static VerificationReport AgainstSpec(Network reference, Network other, VerificationReport report, TwoNetworkSpec spec)
    {
        ArgumentNullException.ThrowIfNull(report);
        ArgumentNullException.ThrowIfNull(spec);
        var notes = report.Notes.Append(spec.StrictnessNote).ToList();
        if (report.Verdict != Verdict.Falsified || report.Witness is not { } w || WitnessChecker.ExceedsSpec(reference, other, w.Input, spec) is not null)
            return report with { Notes = notes, Spec = spec };
        var c = System.Globalization.CultureInfo.InvariantCulture;
        notes.Add(string.Create(c, $"the witness (output {w.Output}, |N − Q| = {w.MaxAbsDifference:G9}, at least {w.GuaranteedAbsDifference:G9} in every float32 order) reaches δ = {report.Delta:G9} but exceeds no bound of the spec strictly, so it is no counterexample of {spec.Statement}; the run stopped on it: unknown"));
        static SubProblemResult Reopen(SubProblemResult r) => r.Outcome == SubProblemOutcome.Violated
            ? r with { Outcome = SubProblemOutcome.Unknown, DecidedBy = DecidedBy.Open, Witness = null }
            : r;
        return report with
        {
            Verdict = Verdict.Unknown,
            Witness = null,
            SubProblems = report.SubProblems.Select(Reopen).ToList(),
            Notes = notes,
            Spec = spec,
            Engine = report.Engine is { } e ? e with { Witness = null, Violation = null } : null,
        };
    }

    /// <summary>
    /// A note when some input's interval holds no float32 value (a bound fixed at a number float32 cannot represent, such as
    /// VNN-COMP isomorphic_acasxu's X_f[4] = −0.45): every witness is a float32 point of the box, so none can be found and
    /// the run can only prove or stay unknown. Proofs are unaffected (bounds cover float32(x) for every real x of the box).
    /// </summary>
    internal static string? NoFloat32Point(Box box)
    {
        for (var i = 0; i < box.Dimension; i++)
            if (!Float32Points.TryRound(box.Lo[i], box.Lo[i], box.Hi[i], out _))
                return string.Create(System.Globalization.CultureInfo.InvariantCulture,
                    $"input {i}'s interval [{box.Lo[i]:R}, {box.Hi[i]:R}] holds no float32 value: no float32 input lies in the box, so no counterexample can be reported (a run can prove, or stay unknown); a runtime given {box.Lo[i]:R} computes at float32 {(float)box.Lo[i]:R}, outside it");
        return null;
    }

    private static VerificationReport VerifyDelta(Network reference, Network other, Box box, VerifyOptions options)
    {
        options = options.Validated() with { Runtime = other.Runtime ?? Runtime.Onnx, Outputs = other.SelectedOutputs };
        Validate(reference, other, box, options.Delta);
        var settings = options.JobSettings();
        var total = Stopwatch.StartNew();
        var deadline = options.Timeout is { } t ? DateTime.UtcNow + t : DateTime.MaxValue;
        var delta = options.Delta;
        var notes = new List<string>();
        if (NoFloat32Point(box) is { } empty) notes.Add(empty);
        if (other.SelectedOutputs is { } selected)
            notes.Add($"only outputs {string.Join(",", selected)} of the models are compared; this report numbers them 0 to {selected.Count - 1}");
        var roots = OutputPartition.Roots(reference.OutputSize, box, delta);
        var runner = options.Runner ?? LocalJobRunner.Instance;
        var fingerprint = options.Strategy == Strategy.Monolithic ? ""
            : JobPlan.FingerprintOf(reference.Fingerprint, other.Fingerprint, box, delta, settings);
        var run = new Run(reference, other, box, roots, options, runner, fingerprint, deadline, total, notes);
        if (options.Log is { } log && runner.Resumable(log, fingerprint) is { } resumed) return run.Resume(resumed, log);

        run.Report("falsify", 0);
        var alongside = options.SearchAlongside && options.Strategy != Strategy.Monolithic
            && (runner is not LocalJobRunner || EngineOptions.WorkersFor(options.Workers) >= 2);
        var screen = Screen(reference, other, box, roots, options.Seed, FalsifierBudget(options.Timeout, options.FalsifierShare, options.FalsifierCap),
            options.DifferentialBounds, options.Cancellation, notes, deferSearch: alongside);
        if (screen.Witness is { } found)
            return FalsifiedReport(roots, screen, found, options.Strategy, BackendName(options), total, notes);
        if (screen.DeferredSearch is { } search) return run.ProveAlongsideSearch(screen, search);
        return run.Prove(screen);
    }

    /// <summary>
    /// One verification after its setup: the two networks' views, the box and its (output, sign) roots, the settings, where
    /// the partitioned phase runs, the job's fingerprint, the deadline and clock, and the run's notes. The proof stages are
    /// its methods, so that they share this state instead of passing it along.
    /// </summary>
    private sealed class Run(Network reference, Network other, Box box, List<SubProblem> roots, VerifyOptions options, IJobRunner runner,
        string fingerprint, DateTime deadline, Stopwatch total, List<string> notes)
    {
        public void Report(string stage, double best, EngineSnapshot? e = null) =>
            options.Progress?.Invoke(new VerificationProgress(stage, total.Elapsed, best, e));

        /// <summary>A run that differs only in its stop signal and its notes (the proof stages beside the search).</summary>
        private Run With(CancellationToken cancellation, List<string> otherNotes) =>
            new(reference, other, box, roots, options with { Cancellation = cancellation }, runner, fingerprint, deadline, total, otherNotes);

        /// <summary>Continues a job from its log: the front end's decisions are in the plan.</summary>
        public VerificationReport Resume(JobPlan resumed, string log)
        {
            // Repeating the front end could cut the pieces differently (LP budgets are wall-clock), and the log's
            // sub-problems are the plan's.
            notes.Add($"resumed the job in {log}: the falsifier, bounds and LP stages were not repeated");
            var (_, ob0, diff0, bounds) = Bound(reference, other, box, options.DifferentialBounds, notes);
            CheckCovers(resumed, roots, ob0, log);
            var resumedScreen = new Screening(null, null, ob0, diff0, bounds, new SubProblemResult?[roots.Count], 0, 0);
            return RunPlan(resumed, resumedScreen, 0, true, e => Report("engine", 0, e));
        }

        /// <summary>
        /// The full counterexample search on a thread of its own while the proof stages run: a witness cancels the proofs
        /// (the report is then falsified); the proofs' end, whatever they found, cancels the search.
        /// </summary>
        public VerificationReport ProveAlongsideSearch(Screening screen, FalsifierOptions search)
        {
            using var proofsStop = CancellationTokenSource.CreateLinkedTokenSource(options.Cancellation);
            using var searchStop = CancellationTokenSource.CreateLinkedTokenSource(options.Cancellation);
            var searchClock = Stopwatch.StartNew();
            if (Remaining(deadline, 1) is { } left) searchStop.CancelAfter(left);
            // On this machine the search holds a core like a worker, so solver races start on it only once the search is over.
            var cores = runner is LocalJobRunner && options.RaceSpareCores ? new CoreBudget(EngineOptions.WorkersFor(options.Workers)) : null;
            cores?.Acquire();
            var searching = Task.Run(() =>
            {
                try
                {
                    var r = Falsifier.Search(reference, other, box, options.Delta, search with { CancellationToken = searchStop.Token });
                    if (r.Witness is not null) proofsStop.Cancel();
                    return (Result: r, Seconds: searchClock.Elapsed.TotalSeconds);
                }
                finally
                {
                    cores?.Release();
                }
            });
            VerificationReport proved;
            // The proof stages' notes describe a run that a witness may cut short; they are kept only when it was not.
            var proofNotes = new List<string>(notes);
            try
            {
                proved = With(proofsStop.Token, proofNotes).Prove(screen, cores);
            }
            catch
            {
                searchStop.Cancel();
                throw;
            }
            // An unknown that is not a stop (a proof gave up before the deadline) leaves the search its chance to finish.
            if (proved.Verdict != Verdict.Unknown || proofsStop.IsCancellationRequested) searchStop.Cancel();
            var (found, seconds) = searching.GetAwaiter().GetResult();
            var best = Math.Max(screen.BestDifference, found.BestMaxAbsDifference);
            var searched = screen with { FalsifySeconds = screen.FalsifySeconds + seconds, BestDifference = best };
            if (found.Witness is not { } w)
                return proved with { Timings = proved.Timings with { Falsify = searched.FalsifySeconds } };
            var witness = Confirm(reference, other, w, options.Delta);
            if (proved.Verdict == Verdict.Verified)
                notes.Add("the proof stages reported every sub-problem proved, yet the counterexample search found a re-executed witness: a soundness defect in the proofs; please report it with this run's inputs");
            notes.Add($"the counterexample search ran beside the proof stages and found the witness after {seconds:F2} s");
            return FalsifiedReport(roots, searched, witness, options.Strategy, BackendName(options), total, notes);
        }

        /// <summary>The proof stages after the screen: LP tightening and relaxation, then the MILPs (one, or the engine's).</summary>
        public VerificationReport Prove(Screening screen, CoreBudget? cores = null)
        {
            var delta = options.Delta;
            var (rb, ob, diff, outputBounds, outcome) = (screen.Reference!, screen.Other!, screen.Difference, screen.Bounds, screen.Outcome);

            var clock = Stopwatch.StartNew();
            // LP bounds of the whole box that did not prove their pair: the engine need not solve the same LP again.
            var rootLp = new Dictionary<(int Output, int Sign), double>();
            if (roots.Any(p => outcome[p.Id] is null) && options.LpBudget > TimeSpan.Zero)
            {
                Report("lp", screen.BestDifference);
                // Half the budget tightens the reference's unstable ReLUs, the rest bounds Δ over the LP relaxation of the whole encoding.
                var (tightened, stats) = LpTightening.TightenRelus(reference, box, rb, options.LpBudget / 2, options.Cancellation);
                rb = tightened;
                var undecided = roots.Where(p => outcome[p.Id] is null).ToList();
                var lp = LpTightening.DifferenceUpperBounds(reference, other, box, rb, ob, diff, undecided.Select(p => (p.Output, p.Sign)).ToList(),
                    options.LpBudget / 2, options.Cancellation);
                var byLp = 0;
                for (var k = 0; k < undecided.Count; k++)
                    if (lp[k] is { } upper && upper + EquivalenceMilp.MarginFor(rb, ob, undecided[k].Output) < delta)
                    {
                        outcome[undecided[k].Id] = new SubProblemResult(undecided[k], DecidedBy.Bounds, SubProblemOutcome.Proved, 0, Solver: "lp", Bound: upper);
                        byLp++;
                    }
                    else if (lp[k] is { } failed) rootLp[(undecided[k].Output, undecided[k].Sign)] = failed;
                notes.Add($"LP tightening: {stats.LinearPrograms} LPs in {stats.Seconds:F2} s, unstable ReLUs of N {stats.UnstableBefore} → {stats.UnstableAfter}{(stats.BudgetExhausted ? " (budget used up)" : "")}; LP relaxation of Δ proved {byLp} of {undecided.Count} open sub-problems");
            }
            if (options.Strategy != Strategy.Monolithic && roots.Any(p => outcome[p.Id] is null)
                && Branch(outcome, screen) is { } falsified) return falsified;
            var boundsSeconds = screen.BoundsSeconds + clock.Elapsed.TotalSeconds;

            clock.Restart();
            var open = roots.Where(p => outcome[p.Id] is null).ToList();
            if (options.Strategy == Strategy.Monolithic)
            {
                Witness? witness = null;
                if (open.Count > 0)
                {
                    Report("milp", screen.BestDifference);
                    witness = SolveMonolithic(open, outcome, rb, ob, diff);
                }
                var all = roots.Select(p => outcome[p.Id] ?? new SubProblemResult(p, DecidedBy.Open, SubProblemOutcome.Unknown, 0)).ToList();
                var verdict = witness is not null ? Verdict.Falsified
                    : all.All(r => r.Outcome == SubProblemOutcome.Proved) ? Verdict.Verified
                    : Verdict.Unknown;
                return new VerificationReport(verdict, delta, options.Strategy, BackendName(options), witness, all,
                    new StageTimings(screen.FalsifySeconds, boundsSeconds, clock.Elapsed.TotalSeconds, total.Elapsed.TotalSeconds), notes, outputBounds);
            }
            return SolvePartitioned(open, outcome, new RootBounds(rb, ob, diff, rootLp), screen, boundsSeconds, cores,
                e => Report("engine", screen.BestDifference, e));
        }

        /// <summary>
        /// Branch and bound on input splits with the differential bounds (milliseconds each) before any MILP: an (output,
        /// sign) pair proved on every leaf is settled; a re-executed witness at a node's centre falsifies. Pairs left open
        /// go on to the MILPs on the whole box.
        /// </summary>
        private VerificationReport? Branch(SubProblemResult?[] outcome, Screening screen)
        {
            var small = box.OpenDimensions <= EquivalenceBranching.SmallDimension;
            // On a box of few inputs and networks of many ReLUs (ACAS Xu: 5 inputs, 300 ReLUs each) splitting is what decides,
            // and a MILP on the whole box rarely does: half the time left, uncapped. Elsewhere the cap keeps a search whose
            // bounds cannot close from holding back a MILP that answers in a second (small networks).
            var many = Math.Min(Relus(reference), Relus(other)) >= VerifyOptions.ManyRelus;
            var budget = options.BranchBudget ?? (Remaining(deadline, 2) is { } half && (small && many || half < VerifyOptions.DefaultBranchBudget)
                ? half : VerifyOptions.DefaultBranchBudget);
            if (budget <= TimeSpan.Zero) return null;
            Report("branch", screen.BestDifference);
            var undecided = roots.Where(p => outcome[p.Id] is null).ToList();
            var goals = undecided.Select(p => new Goal(p.Output, p.Sign)).ToList();
            var problem = new EquivalenceBranching(reference, other, options.DifferentialBounds);
            // Small boxes: one cut per node, on the input whose width makes up most of the node's bounds (the smear of the
            // symbolic pass's coefficients), not strong branching over all inputs: on NeuroDiff's ACAS boxes strong branching
            // spent 10 bounds per node and its product score chose no better cuts (docs/benchmarks.md, "One cut per node").
            var result = BranchAndBound.Run(problem, box, goals, options.Delta, new BranchOptions(budget, Candidates: small ? 1 : 2)
            {
                Cancellation = options.Cancellation,
                // Halving one of hundreds of inputs barely moves the bounds: stop at once where a cut does not pay.
                StallShrink = small ? null : 0.98,
                StallWindow = options.BranchStallWindow,
                Parallelism = EngineOptions.WorkersFor(options.Workers),
            });
            foreach (var note in problem.Notes.Distinct()) if (!notes.Contains(note)) notes.Add(note);
            if (result.Outcome == BranchOutcome.Violated)
            {
                var witness = Confirm(reference, other, WitnessChecker.Check(reference, other, result.Witness!, options.Delta)!, options.Delta);
                notes.Add($"branch and bound found the witness at a node's centre after {result.Nodes} bounds ({result.Seconds:F2} s)");
                return FalsifiedReport(roots, screen, witness, options.Strategy, BackendName(options), total, notes);
            }
            var settled = 0;
            foreach (var p in undecided)
                if (!result.Open.Any(o => o.Goals.Contains(new Goal(p.Output, p.Sign))))
                {
                    outcome[p.Id] = new SubProblemResult(p, DecidedBy.Bounds, SubProblemOutcome.Proved, result.Seconds, Solver: "bnb");
                    settled++;
                }
            var shares = undecided.Where(p => outcome[p.Id] is null).Select(p => result.ProvedVolume[new Goal(p.Output, p.Sign)]).ToList();
            notes.Add($"branch and bound: {result.Nodes} bounds in {result.Seconds:F2} s{(result.Stalled ? " (stopped: the largest gap stalled)" : "")}, depth {result.MaxDepth}, {result.Open.Count} open leaves; " +
                $"proved {settled} of {undecided.Count} open (output, sign) pairs" +
                (shares.Count > 0 ? $", the others on {shares.Min():P1}–{shares.Max():P1} of the volume (left to the MILPs on the whole box)" : ""));
            return null;
        }

        /// <summary>
        /// The paper's partition on the engine: the open (output, sign) roots are cut by Q_j's output code (stage 2), and
        /// under output+input every piece that outlives its time limit is bisected (split-and-conquer).
        /// </summary>
        private VerificationReport SolvePartitioned(List<SubProblem> open, SubProblemResult?[] outcome, RootBounds bounds, Screening screen,
            double boundsSeconds, CoreBudget? cores, Action<EngineSnapshot> progress)
        {
            var (rb, ob, diff, rootLp) = bounds;
            var nextId = roots.Count;
            var pieces = new List<SubProblem>();
            var cutByBounds = new List<SubProblemResult>();
            foreach (var root in open)
            {
                var cut = OutputPartition.ByOutputCode(root, rb, ob, diff, options.OutputPieces, () => nextId++);
                if (cut.Discharged is { } d) cutByBounds.Add(d);
                pieces.AddRange(cut.Pieces);
            }
            if (pieces.Count > open.Count || cutByBounds.Count > 0)
                notes.Add($"output-code partition: {open.Count} open (output, sign) pairs → {pieces.Count} pieces for the solver, {cutByBounds.Count} code ranges proved by the bounds");
            var settled = roots.Where(r => outcome[r.Id] is not null).Select(r => outcome[r.Id]!).Concat(cutByBounds).ToList();
            var plan = new JobPlan(fingerprint, box, options.Delta, pieces, settled, rb.Nodes,
                rootLp.Select(kv => new RootLpBound(kv.Key.Output, kv.Key.Sign, kv.Value)).ToList(), options.JobSettings());
            return RunPlan(plan, screen, boundsSeconds, false, progress, cores);
        }

        /// <summary>Runs a plan's pieces (fresh, or resumed from its log) and turns the engine's record into the report.</summary>
        private VerificationReport RunPlan(JobPlan plan, Screening screen, double boundsSeconds, bool resume,
            Action<EngineSnapshot> progress, CoreBudget? cores = null)
        {
            TimeSpan? left = options.Timeout is { } t ? t - total.Elapsed : null;
            if (left is { } l && l <= TimeSpan.Zero) left = TimeSpan.FromTicks(1);
            var clock = Stopwatch.StartNew();
            progress(new EngineSnapshot(0, 0, plan.Pieces.Count, 0, 0, 0, false, TimeSpan.Zero));
            var run = PartitionedRun.Of(runner.Run(plan, new JobRun(reference, other, options.Workers, left, options.Log, resume)
            {
                Progress = progress,
                Cancellation = options.Cancellation,
                Split = options.Split,
                RootBounds = screen.Other is { } ob ? (ob, screen.Difference) : null,
                Cores = cores,
            }, notes));
            var engineSeconds = clock.Elapsed.TotalSeconds;
            if (!run.WorkersStopped) notes.Add("some solver calls did not return within the grace period after the stop");
            if (run.Reclaimed > 0) notes.Add($"{run.Reclaimed} sub-problems went back to the queue after their worker stopped answering (lease expired)");
            if (run.Resumed > 0) notes.Add($"{run.Resumed} sub-problems finished by the earlier run were taken from the job log, not solved again");

            Witness? witness = run.Witness is { } found ? Confirm(reference, other, found, options.Delta) : null;
            var leaves = plan.Settled.Concat(run.Proved).Concat(run.Open).Concat(run.Violation is { } v ? [v] : [])
                .OrderBy(r => r.SubProblem.Id).ToList();
            var verdict = witness is not null ? Verdict.Falsified
                : run.Status == EngineStatus.Proved && run.Open.Count == 0 ? Verdict.Verified
                : Verdict.Unknown;
            if (verdict == Verdict.Unknown)
            {
                // Per (output, sign): pieces cover the same box for different codes, so a point is unproved only if it is
                // unproved in some piece; 1 − Σ unproved shares is a sound lower bound of the proved share.
                var unproved = new double[roots.Count];
                foreach (var r in run.Roots) unproved[RootOf(roots, r.Output, r.Sign)] += 1 - r.ProvedVolume;
                var settledRoots = plan.Settled.Where(r => r.SubProblem.Codes is null).Select(r => RootOf(roots, r.SubProblem.Output, r.SubProblem.Sign)).ToHashSet();
                var provedVolume = roots.Average(r => settledRoots.Contains(r.Id) ? 1 : Math.Max(0, 1 - unproved[r.Id]));
                var provedLeaves = leaves.Count(r => r.Outcome == SubProblemOutcome.Proved);
                notes.Add($"proved {provedLeaves} of {leaves.Count} leaf sub-problems ({(double)provedLeaves / leaves.Count:P1}), {provedVolume:P2} of the input volume averaged over (output, sign); {run.Open.Count} open{(run.DeadlineReached ? "; global timeout reached" : "")}");
            }
            return new VerificationReport(verdict, options.Delta, options.Strategy, BackendName(options), witness, leaves,
                new StageTimings(screen.FalsifySeconds, boundsSeconds, engineSeconds, total.Elapsed.TotalSeconds), notes, screen.Bounds)
            {
                Engine = run,
            };
        }

        private Witness? SolveMonolithic(List<SubProblem> open, SubProblemResult?[] outcome, GraphBounds rb, GraphBounds ob,
            GraphDifference? diff)
        {
            using var milp = EquivalenceMilp.Monolithic(reference, other, box, options.Delta, options.Backend, rb, ob, diff);
            var r = milp.Solve(new MilpOptions(Remaining(deadline, 1)), options.Cancellation);
            // One MILP answers for every open pair at once, so its verdict is interpreted once and shared.
            var (shared, witness) = Interpret(reference, other, box, open[0], r, milp, notes, monolithic: true);
            foreach (var p in open)
            {
                var own = witness is not null && !(p.Output == witness.Output && Math.Sign(witness.Difference) == p.Sign)
                    ? shared with { Outcome = SubProblemOutcome.Unknown, DecidedBy = DecidedBy.Open, Witness = null }
                    : shared;
                outcome[p.Id] = own with { SubProblem = p };
            }
            return witness;
        }
    }

    /// <summary>The whole box's bounds as the proof stages leave them: the reference's (LP-tightened), the other's, Δ's, and the LP bounds that did not prove their pair.</summary>
    private sealed record RootBounds(GraphBounds Reference, GraphBounds Other, GraphDifference? Difference,
        IReadOnlyDictionary<(int Output, int Sign), double> RootLp);

    /// <summary>
    /// A plan read from a job log must answer every (output, sign) of this question, as a fresh plan does by construction:
    /// settled or solved whole, or by code ranges (settled and pieces) covering every code the bounds leave Q_j, all on
    /// this box and δ. Otherwise "verified" could rest on a pair nobody looked at.
    /// </summary>
    private static void CheckCovers(JobPlan plan, List<SubProblem> roots, GraphBounds ob, string log)
    {
        BadInputException Bad(string why) => BadInputException.For(log, $"the job log's plan {why}; give a new log path to start afresh");
        if (plan.Settled.Any(r => r.Outcome != SubProblemOutcome.Proved)) throw Bad("lists a settled piece that was not proved");
        var entries = plan.Settled.Select(r => r.SubProblem).Concat(plan.Pieces).ToList();
        if (entries.Any(e => !e.Box.Equals(roots[0].Box) || e.Delta != roots[0].Delta)) throw Bad("is for another box or δ");
        foreach (var root in roots)
        {
            var mine = entries.Where(e => e.Output == root.Output && e.Sign == root.Sign).ToList();
            if (mine.Any(e => e.Codes is null)) continue;
            var codes = OutputPartition.OutputCodes(ob) is { } oc ? OutputPartition.FullRange(oc[root.Output]) : null;
            var next = codes?.Lo ?? int.MaxValue;
            foreach (var c in mine.Select(e => e.Codes!).OrderBy(c => c.Lo))
                if (c.Lo <= next) next = Math.Max(next, c.Hi + 1);
            if (codes is null ? mine.Count == 0 : next <= codes.Hi)
                throw Bad($"leaves output {root.Output}, sign {(root.Sign > 0 ? "+" : "−")} partly unanswered");
        }
    }

    private static int RootOf(List<SubProblem> roots, int output, int sign) => roots.First(r => r.Output == output && r.Sign == sign).Id;

    /// <summary>What the cheap stages settled before any MILP: a witness, or per sub-problem a bound proof (null: open).</summary>
    /// <remarks>Reference and Other are null only when the quick search already found a witness (bounds were not needed).</remarks>
    internal sealed record Screening(Witness? Witness, GraphBounds? Reference, GraphBounds? Other, GraphDifference? Difference,
        IReadOnlyList<OutputBounds> Bounds, SubProblemResult?[] Outcome, double FalsifySeconds, double BoundsSeconds)
    {
        /// <summary>Largest |N_j − Q_j| the searches re-executed.</summary>
        public double BestDifference { get; init; }
        /// <summary>The full search, when the caller runs it beside the proof stages instead of in the screen.</summary>
        public FalsifierOptions? DeferredSearch { get; init; }
    }

    internal static TimeSpan FalsifierBudget(TimeSpan? timeout, double share, TimeSpan cap) =>
        TimeSpan.FromSeconds(Math.Min(cap.TotalSeconds, timeout is { } t ? t.TotalSeconds * share : double.PositiveInfinity));

    /// <summary>
    /// The stages before any MILP, cheapest first: the box centre, corners and random points (most counterexamples
    /// show there); bounds, which discharge what they can; and only while sub-problems remain open, the full
    /// gradient and coordinate search — a region that bounds verify needs no search at all.
    /// </summary>
    internal static Screening Screen(Network reference, Network other, Box box, IReadOnlyList<SubProblem> subProblems, int seed,
        TimeSpan falsifierBudget, bool differential, CancellationToken cancellation, List<string> notes, bool deferSearch = false)
    {
        var delta = subProblems[0].Delta;
        var clock = Stopwatch.StartNew();
        var quick = Falsifier.Search(reference, other, box, delta, new FalsifierOptions(seed, RandomPoints: 64, TimeBudget: falsifierBudget, CancellationToken: cancellation)
        {
            RandomCorners = 64,
            MaxSearchEvaluations = 0,
            GradientSteps = 0,
        });
        var falsifySeconds = clock.Elapsed.TotalSeconds;
        var outcome = new SubProblemResult?[subProblems.Count];
        if (quick.Witness is { } w)
            return new Screening(Confirm(reference, other, w, delta), null, null, null, [], outcome, falsifySeconds, 0) { BestDifference = quick.BestMaxAbsDifference };

        clock.Restart();
        var (rb, ob, diff, outputBounds) = Bound(reference, other, box, differential, notes);
        foreach (var p in subProblems)
        {
            var bound = Upper(rb, ob, diff, p.Output, p.Sign) + EquivalenceMilp.MarginFor(rb, ob, p.Output);
            if (bound < delta)
                outcome[p.Id] = new SubProblemResult(p, DecidedBy.Bounds, SubProblemOutcome.Proved, 0, Bound: bound);
        }
        var boundsSeconds = clock.Elapsed.TotalSeconds;

        Witness? witness = null;
        var best = quick.BestMaxAbsDifference;
        if (outcome.Any(o => o is null))
        {
            var left = falsifierBudget - TimeSpan.FromSeconds(falsifySeconds);
            var search = new FalsifierOptions(seed, TimeBudget: left > TimeSpan.Zero ? left : TimeSpan.FromTicks(1), CancellationToken: cancellation);
            // Beside the proofs the search delays nothing, so it is bounded by its evaluation cap and the run's deadline
            // instead of the falsifier's share: it then makes at least the moves the search in line would have made (it
            // is deterministic), although it shares the cores with the solvers. A zero budget still means no search.
            if (deferSearch && falsifierBudget > TimeSpan.Zero)
                return new Screening(null, rb, ob, diff, outputBounds, outcome, falsifySeconds, boundsSeconds)
                {
                    BestDifference = best,
                    DeferredSearch = search with { TimeBudget = null },
                };
            clock.Restart();
            var full = Falsifier.Search(reference, other, box, delta, search);
            falsifySeconds += clock.Elapsed.TotalSeconds;
            if (full.Witness is { } w2) witness = Confirm(reference, other, w2, delta);
            best = Math.Max(best, full.BestMaxAbsDifference);
        }
        return new Screening(witness, rb, ob, diff, outputBounds, outcome, falsifySeconds, boundsSeconds) { BestDifference = best };
    }

    /// <summary>The report of a falsified run: the witness's (output, sign) violated, bound proofs kept, the rest open.</summary>
    internal static VerificationReport FalsifiedReport(IReadOnlyList<SubProblem> subProblems, Screening screen, Witness w, Strategy strategy,
        string backend, Stopwatch total, List<string> notes)
    {
        var results = subProblems.Select(p => p.Output == w.Output && Math.Sign(w.Difference) == p.Sign
            ? new SubProblemResult(p, DecidedBy.Falsifier, SubProblemOutcome.Violated, screen.FalsifySeconds, Witness: w)
            : screen.Outcome[p.Id] ?? new SubProblemResult(p, DecidedBy.Open, SubProblemOutcome.Unknown, 0)).ToList();
        return new VerificationReport(Verdict.Falsified, subProblems[0].Delta, strategy, backend, w, results,
            new StageTimings(screen.FalsifySeconds, screen.BoundsSeconds, 0, total.Elapsed.TotalSeconds), notes, screen.Bounds);
    }

    /// <summary>
    /// Bounds of both networks and of their difference. Where the two structures do not align, the differential pass
    /// bounds each network on its own (said in a note).
    /// </summary>
    internal static (GraphBounds Reference, GraphBounds Other, GraphDifference? Difference, IReadOnlyList<OutputBounds> PerOutput)
        Bound(Network reference, Network other, Box box, bool differential, List<string> notes)
    {
        GraphDifference? diff = null;
        if (differential)
        {
            try
            {
                diff = DifferentialBounds.Of(reference, other, box);
                if (diff.Notice is { } notice && !notes.Contains(notice)) notes.Add(notice);
            }
            catch (NotSupportedException e) { notes.Add($"differential bounds not used: {e.Message}"); }
        }
        if (diff is not null)
            return (diff.Reference, diff.Other, diff, Enumerable.Range(0, reference.OutputSize)
                .Select(j => new OutputBounds(j, diff.Naive[j], diff.IntervalDifferential[j], diff.SymbolicDifferential[j], diff.Tightest[j])).ToList());
        var rb = IntervalBounds.Of(reference, box);
        var ob = IntervalBounds.Of(other, box);
        return (rb, ob, null, Enumerable.Range(0, reference.OutputSize)
            .Select(j => { var naive = rb.Outputs[j] - ob.Outputs[j]; return new OutputBounds(j, naive, null, null, naive); }).ToList());
    }

    /// <summary>Upper bound of s·(R_j − O_j) from the tightest bounds at hand (before <see cref="EquivalenceMilp.MarginFor"/>).</summary>
    internal static double Upper(GraphBounds rb, GraphBounds ob, GraphDifference? diff, int output, int sign) =>
        (diff?.For(output, sign) ?? EquivalenceMilp.DifferenceBounds(rb, ob, output, sign)).Hi;

    public static string BackendName(MilpBackend b) => MilpBackends.SolverId(b).ToLowerInvariant();

    private static string BackendName(VerifyOptions o) =>
        o.Portfolio && o.Strategy != Strategy.Monolithic
            // '+' not ',': the name lands in CSV cells (bench results).
            ? "portfolio(" + string.Join("+", (o.PortfolioConfigurations ?? SolverConfiguration.DefaultPortfolio).Select(c => c.Name)) + ")"
            : BackendName(o.Backend);

    internal static void Validate(Network n, Network q, Box box, double delta)
    {
        if (!(delta > 0) || !double.IsFinite(delta))
            throw new BadInputException($"δ must be a finite number > 0, got {delta}");
        if (n.InputSize != q.InputSize)
            throw BadInputException.For(q.Source, $"takes {q.InputSize} inputs but the reference model {n.Source} takes {n.InputSize}");
        if (n.OutputSize != q.OutputSize)
            throw BadInputException.For(q.Source, $"has {q.OutputSize} outputs but the reference model {n.Source} has {n.OutputSize}");
        if (box.Dimension != n.InputSize)
            throw new BadInputException($"the region has {box.Dimension} inputs but the models take {n.InputSize}");
    }

    /// <summary>Re-checks a witness from any source; a verdict of falsified never rests on anything else.</summary>
    internal static Witness Confirm(Network reference, Network other, Witness w, double delta) =>
        WitnessChecker.Check(reference, other, w.Input, delta)
        ?? throw new InvalidOperationException("a witness did not re-execute to a violation; refusing to report it");

    /// <summary>ReLUs of a network: a float ReLU or a quantized one (the clamp of a fused ReLU).</summary>
    private static int Relus(Network n) => n.Operators.Where(op => op is Relu or Clamp).Sum(op => op.OutputSize);

    private static TimeSpan? Remaining(DateTime deadline, int share)
    {
        if (deadline == DateTime.MaxValue) return null;
        var left = deadline - DateTime.UtcNow;
        return left <= TimeSpan.Zero ? TimeSpan.Zero : left / Math.Max(1, share);
    }

    /// <summary>
    /// Maps a solver answer to a sub-problem outcome. Infeasible proves it; a best bound below δ − margin proves
    /// it too (no point can reach the constraint); a solution is re-executed and only a real violation counts.
    /// Shared with <see cref="MilpSubProblemSolver"/> so that both schedulers read solver answers the same way.
    /// </summary>
    internal static (SubProblemResult Result, Witness? Witness) Interpret(Network reference, Network other, Box box, SubProblem p,
        MilpResult r, EquivalenceMilp milp, List<string> notes, bool monolithic = false)
    {
        var margin = milp.SafetyMargin;
        // The model's bound of s·(R_j − O_j) plus its output noise bounds the runtimes' difference.
        var noise = milp.OutputNoise.Count == 0 ? 0 : monolithic ? milp.OutputNoise.Max() : milp.OutputNoise[p.Output];
        var seconds = r.WallTime.TotalSeconds;
        var solver = r.Backend.ToString().ToLowerInvariant();
        SubProblemResult Make(SubProblemOutcome o, DecidedBy by, Witness? w = null) =>
            new(p, by, o, seconds, solver, r.Status.ToString(), r.Objective, r.BestBound + noise, r.Nodes, w);

        if (r.Status == MilpStatus.Infeasible) return (Make(SubProblemOutcome.Proved, DecidedBy.Milp), null);
        if (r.Solution is { } x)
        {
            if (Candidates.Reexecute(reference, other, x, box, milp.LastInputCodes,
                    c => monolithic ? c.MaxAbsDifference : c.SignedDifference(p.Output, p.Sign)) is not { } e)
            {
                notes.Add($"sub-problem {p.Id}: the box holds no float32 point, so the solver's candidate is no witness of it; left unknown");
                return (Make(SubProblemOutcome.Unknown, DecidedBy.Open), null);
            }
            if (WitnessChecker.ToWitness(reference, other, e, p.Delta) is { } w) return (Make(SubProblemOutcome.Violated, DecidedBy.Milp, w), w);
            notes.Add(e.MaxAbsDifference >= p.Delta
                ? $"sub-problem {p.Id}: the solver's candidate re-executes to max |N − Q| = {e.MaxAbsDifference:G6} ≥ δ in double, but not by more than the networks' float32 error bounds (a runtime's float32 arithmetic may keep it below δ); left unknown"
                : $"sub-problem {p.Id}: the solver's candidate re-executes to max |N − Q| = {e.MaxAbsDifference:G6} < δ (spurious, inside the rounding widening or solver tolerance); left unknown");
            return (Make(SubProblemOutcome.Unknown, DecidedBy.Open), null);
        }
        if (r.BestBound is { } bound && bound < p.Delta - margin)
            return (Make(SubProblemOutcome.Proved, DecidedBy.Milp), null);
        return (Make(SubProblemOutcome.Unknown, DecidedBy.Open), null);
    }
}
