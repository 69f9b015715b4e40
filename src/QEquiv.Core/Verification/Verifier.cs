using System.Diagnostics;
using QEquiv.Bounds;
using QEquiv.Encoding;
using QEquiv.Falsification;
using QEquiv.Networks;
using QEquiv.Regions;
using QEquiv.Solvers;

namespace QEquiv.Verification;

public sealed record VerifyOptions(
    double Delta,
    Strategy Strategy = Strategy.Output,
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
    /// <summary>Time for LP tightening of unstable neurons before the MILPs (zero: off).</summary>
    public TimeSpan LpBudget { get; init; } = TimeSpan.FromSeconds(2);
    public CancellationToken Cancellation { get; init; }
}

/// <summary>
/// δ-equivalence on one machine with one worker: falsify cheaply, discharge what interval bounds can,
/// then solve MILPs. The verdict rules are the product's contract:
/// verified only when every sub-problem is proved; falsified only with a witness re-executed by
/// <see cref="WitnessChecker"/>; anything else is unknown.
/// </summary>
public static class Verifier
{
    public static VerificationReport Verify(FloatNetwork n, QuantizedNetwork q, Box box, VerifyOptions options)
    {
        Validate(n, q, box, options.Delta);
        var total = Stopwatch.StartNew();
        var deadline = options.Timeout is { } t ? DateTime.UtcNow + t : DateTime.MaxValue;
        var delta = options.Delta;
        var notes = new List<string>();
        var subProblems = new List<SubProblem>();
        for (var j = 0; j < n.OutputSize; j++)
            foreach (var s in new[] { 1, -1 })
                subProblems.Add(SubProblem.Create(subProblems.Count, j, s, box, delta));

        var screen = Screen(n, q, box, subProblems, options.Seed, FalsifierBudget(options.Timeout, options.FalsifierShare, options.FalsifierCap),
            options.DifferentialBounds, options.Cancellation, notes);
        if (screen.Witness is { } found)
            return FalsifiedReport(subProblems, screen, found, options.Strategy, BackendName(options.Backend), total, notes);
        var (fb, qb, diff, outputBounds, outcome) = (screen.Float!, screen.Quantized!, screen.Difference, screen.Bounds, screen.Outcome);

        var clock = Stopwatch.StartNew();
        if (subProblems.Any(p => outcome[p.Id] is null) && options.LpBudget > TimeSpan.Zero)
        {
            // Half the budget tightens N's unstable neurons, the rest bounds Δ over the LP relaxation of the whole encoding.
            var (tightened, stats) = LpTightening.TightenFloat(n, box, fb, options.LpBudget / 2, options.Cancellation);
            fb = tightened;
            var undecided = subProblems.Where(p => outcome[p.Id] is null).ToList();
            var lp = LpTightening.DifferenceUpperBounds(n, q, box, fb, qb, diff, undecided.Select(p => (p.Output, p.Sign)).ToList(),
                options.LpBudget / 2, options.Cancellation);
            var byLp = 0;
            for (var k = 0; k < undecided.Count; k++)
                if (lp[k] is { } upper && upper + EquivalenceMilp.MarginFor(q, qb, undecided[k].Output) < delta)
                {
                    outcome[undecided[k].Id] = new SubProblemResult(undecided[k], DecidedBy.Bounds, SubProblemOutcome.Proved, 0, Solver: "lp", Bound: upper);
                    byLp++;
                }
            notes.Add($"LP tightening: {stats.LinearPrograms} LPs in {stats.Seconds:F2} s, unstable ReLUs of N {stats.UnstableBefore} → {stats.UnstableAfter}{(stats.BudgetExhausted ? " (budget used up)" : "")}; LP relaxation of Δ proved {byLp} of {undecided.Count} open sub-problems");
        }
        var boundsSeconds = screen.BoundsSeconds + clock.Elapsed.TotalSeconds;

        // Stage 3: MILPs for the rest.
        clock.Restart();
        Witness? witness = null;
        var open = subProblems.Where(p => outcome[p.Id] is null).ToList();
        if (open.Count > 0)
        {
            witness = options.Strategy == Strategy.Monolithic
                ? SolveMonolithic(n, q, box, open, outcome, fb, qb, diff, options, deadline, notes)
                : SolvePerOutput(n, q, box, open, outcome, fb, qb, diff, options, deadline, notes);
        }
        var milpSeconds = clock.Elapsed.TotalSeconds;

        var all = subProblems.Select(p => outcome[p.Id] ?? new SubProblemResult(p, DecidedBy.Open, SubProblemOutcome.Unknown, 0)).ToList();
        var verdict = witness is not null ? Verdict.Falsified
            : all.All(r => r.Outcome == SubProblemOutcome.Proved) ? Verdict.Verified
            : Verdict.Unknown;
        return new VerificationReport(verdict, delta, options.Strategy, BackendName(options.Backend), witness, all,
            new StageTimings(screen.FalsifySeconds, boundsSeconds, milpSeconds, total.Elapsed.TotalSeconds), notes, outputBounds);
    }

    /// <summary>What the cheap stages settled before any MILP: a witness, or per sub-problem a bound proof (null: open).</summary>
    /// <remarks>Float and Quantized are null only when the quick search already found a witness (bounds were not needed).</remarks>
    internal sealed record Screening(Witness? Witness, FloatNetworkBounds? Float, QuantizedNetworkBounds? Quantized, DifferenceBounds? Difference,
        IReadOnlyList<OutputBounds> Bounds, SubProblemResult?[] Outcome, double FalsifySeconds, double BoundsSeconds);

    internal static TimeSpan FalsifierBudget(TimeSpan? timeout, double share, TimeSpan cap) =>
        TimeSpan.FromSeconds(Math.Min(cap.TotalSeconds, timeout is { } t ? t.TotalSeconds * share : double.PositiveInfinity));

    /// <summary>
    /// The stages before any MILP, cheapest first: the box centre, corners and random points (most counterexamples
    /// show there); bounds, which discharge what they can; and only while sub-problems remain open, the full
    /// gradient and coordinate search — a region that bounds verify needs no search at all.
    /// </summary>
    internal static Screening Screen(FloatNetwork n, QuantizedNetwork q, Box box, IReadOnlyList<SubProblem> subProblems, int seed,
        TimeSpan falsifierBudget, bool differential, CancellationToken cancellation, List<string> notes)
    {
        var delta = subProblems[0].Delta;
        var clock = Stopwatch.StartNew();
        var quick = Falsifier.Search(n, q, box, delta, new FalsifierOptions(seed, RandomPoints: 64, TimeBudget: falsifierBudget, CancellationToken: cancellation)
        {
            RandomCorners = 64,
            MaxSearchEvaluations = 0,
            GradientSteps = 0,
        });
        var falsifySeconds = clock.Elapsed.TotalSeconds;
        var outcome = new SubProblemResult?[subProblems.Count];
        if (quick.Witness is { } w)
            return new Screening(Confirm(n, q, w, delta), null, null, null, [], outcome, falsifySeconds, 0);

        clock.Restart();
        var (fb, qb, diff, outputBounds) = Bound(n, q, box, differential, notes);
        foreach (var p in subProblems)
        {
            var bound = Upper(fb, qb, diff, p.Output, p.Sign) + EquivalenceMilp.MarginFor(q, qb, p.Output);
            if (bound < delta)
                outcome[p.Id] = new SubProblemResult(p, DecidedBy.Bounds, SubProblemOutcome.Proved, 0, Bound: bound);
        }
        var boundsSeconds = clock.Elapsed.TotalSeconds;

        Witness? witness = null;
        if (outcome.Any(o => o is null))
        {
            clock.Restart();
            var left = falsifierBudget - TimeSpan.FromSeconds(falsifySeconds);
            var full = Falsifier.Search(n, q, box, delta, new FalsifierOptions(seed,
                TimeBudget: left > TimeSpan.Zero ? left : TimeSpan.FromTicks(1), CancellationToken: cancellation));
            falsifySeconds += clock.Elapsed.TotalSeconds;
            if (full.Witness is { } w2) witness = Confirm(n, q, w2, delta);
        }
        return new Screening(witness, fb, qb, diff, outputBounds, outcome, falsifySeconds, boundsSeconds);
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
    /// Bounds of both networks and of their difference. Differential bounds need layers that correspond one to one;
    /// elsewhere the separate interval bounds remain (said in a note).
    /// </summary>
    internal static (FloatNetworkBounds Float, QuantizedNetworkBounds Quantized, DifferenceBounds? Difference, IReadOnlyList<OutputBounds> PerOutput)
        Bound(FloatNetwork n, QuantizedNetwork q, Box box, bool differential, List<string> notes)
    {
        DifferenceBounds? diff = null;
        if (differential)
        {
            try { diff = Bounds.DifferentialBounds.Compute(n, q, box); }
            catch (NotSupportedException e) { notes.Add($"differential bounds not used: {e.Message}"); }
        }
        if (diff is not null)
            return (diff.Float, diff.Quantized, diff, Enumerable.Range(0, n.OutputSize)
                .Select(j => new OutputBounds(j, diff.Naive[j], diff.IntervalDifferential[j], diff.SymbolicDifferential[j], diff.Tightest[j])).ToList());
        var fb = BoundPropagation.Float(n, box);
        var qb = BoundPropagation.Quantized(q, box);
        return (fb, qb, null, Enumerable.Range(0, n.OutputSize)
            .Select(j => { var naive = fb.Outputs[j] - qb.Outputs[j]; return new OutputBounds(j, naive, null, null, naive); }).ToList());
    }

    /// <summary>Upper bound of s·(N_j − Q_j) in real arithmetic, from the tightest bounds at hand.</summary>
    internal static double Upper(FloatNetworkBounds fb, QuantizedNetworkBounds qb, DifferenceBounds? diff, int output, int sign) =>
        (diff?.For(output, sign) ?? EquivalenceMilp.DifferenceBounds(fb, qb, output, sign)).Hi;

    public static string BackendName(MilpBackend b) => MilpBackends.SolverId(b).ToLowerInvariant();

    internal static void Validate(FloatNetwork n, QuantizedNetwork q, Box box, double delta)
    {
        if (!(delta > 0) || !double.IsFinite(delta))
            throw new BadInputException($"--delta: δ must be a finite number > 0, got {delta}");
        if (n.InputSize != q.InputSize)
            throw BadInputException.For(q.Source, $"takes {q.InputSize} inputs but the float model {n.Source} takes {n.InputSize}");
        if (n.OutputSize != q.OutputSize)
            throw BadInputException.For(q.Source, $"has {q.OutputSize} outputs but the float model {n.Source} has {n.OutputSize}");
        if (box.Dimension != n.InputSize)
            throw new BadInputException($"the region has {box.Dimension} inputs but the models take {n.InputSize}");
    }

    /// <summary>Re-checks a witness from any source; a verdict of falsified never rests on anything else.</summary>
    internal static Witness Confirm(FloatNetwork n, QuantizedNetwork q, Witness w, double delta) =>
        WitnessChecker.Check(n, q, w.Input, delta)
        ?? throw new InvalidOperationException("a witness did not re-execute to a violation; refusing to report it");

    private static TimeSpan? Remaining(DateTime deadline, int share)
    {
        if (deadline == DateTime.MaxValue) return null;
        var left = deadline - DateTime.UtcNow;
        return left <= TimeSpan.Zero ? TimeSpan.Zero : left / Math.Max(1, share);
    }

    private static Witness? SolvePerOutput(FloatNetwork n, QuantizedNetwork q, Box box, List<SubProblem> open, SubProblemResult?[] outcome,
        FloatNetworkBounds fb, QuantizedNetworkBounds qb, DifferenceBounds? diff, VerifyOptions options, DateTime deadline, List<string> notes)
    {
        for (var k = 0; k < open.Count; k++)
        {
            var p = open[k];
            if (options.Cancellation.IsCancellationRequested) break;
            var limit = Remaining(deadline, open.Count - k);
            if (limit == TimeSpan.Zero) break;
            using var milp = EquivalenceMilp.ForOutput(n, q, box, p.Output, p.Sign, p.Delta, options.Backend, fb, qb, diff);
            var r = milp.Solve(new MilpOptions(limit), options.Cancellation);
            var (result, witness) = Interpret(n, q, box, p, r, milp, notes);
            outcome[p.Id] = result;
            if (witness is not null) return witness;
        }
        return null;
    }

    private static Witness? SolveMonolithic(FloatNetwork n, QuantizedNetwork q, Box box, List<SubProblem> open, SubProblemResult?[] outcome,
        FloatNetworkBounds fb, QuantizedNetworkBounds qb, DifferenceBounds? diff, VerifyOptions options, DateTime deadline, List<string> notes)
    {
        using var milp = EquivalenceMilp.Monolithic(n, q, box, options.Delta, options.Backend, fb, qb, diff);
        var r = milp.Solve(new MilpOptions(Remaining(deadline, 1)), options.Cancellation);
        // One MILP answers for every open pair at once, so its verdict is interpreted once and shared.
        var (shared, witness) = Interpret(n, q, box, open[0], r, milp, notes, monolithic: true);
        foreach (var p in open)
        {
            var own = witness is not null && !(p.Output == witness.Output && Math.Sign(witness.Difference) == p.Sign)
                ? shared with { Outcome = SubProblemOutcome.Unknown, DecidedBy = DecidedBy.Open, Witness = null }
                : shared;
            outcome[p.Id] = own with { SubProblem = p };
        }
        return witness;
    }

    /// <summary>
    /// Maps a solver answer to a sub-problem outcome. Infeasible proves it; a best bound below δ − margin proves
    /// it too (no point can reach the constraint); a solution is re-executed and only a real violation counts.
    /// Shared with <see cref="MilpSubProblemSolver"/> so that both schedulers read solver answers the same way.
    /// </summary>
    internal static (SubProblemResult Result, Witness? Witness) Interpret(FloatNetwork n, QuantizedNetwork q, Box box, SubProblem p,
        MilpResult r, EquivalenceMilp milp, List<string> notes, bool monolithic = false)
    {
        var margin = milp.SafetyMargin;
        var seconds = r.WallTime.TotalSeconds;
        var solver = r.Backend.ToString().ToLowerInvariant();
        SubProblemResult Make(SubProblemOutcome o, DecidedBy by, Witness? w = null) =>
            new(p, by, o, seconds, solver, r.Status.ToString(), r.Objective, r.BestBound, r.Nodes, w);

        if (r.Status == MilpStatus.Infeasible) return (Make(SubProblemOutcome.Proved, DecidedBy.Milp), null);
        if (r.Solution is { } x)
        {
            var e = Candidates.Reexecute(n, q, x, box, milp.LastInputCodes,
                c => monolithic ? c.MaxAbsDifference : c.SignedDifference(p.Output, p.Sign));
            if (WitnessChecker.ToWitness(e, p.Delta) is { } w) return (Make(SubProblemOutcome.Violated, DecidedBy.Milp, w), w);
            notes.Add($"sub-problem {p.Id}: the solver's candidate re-executes to max |N − Q| = {e.MaxAbsDifference:G6} < δ (spurious, inside the rounding widening or solver tolerance); left unknown");
            return (Make(SubProblemOutcome.Unknown, DecidedBy.Open), null);
        }
        if (r.BestBound is { } bound && bound < p.Delta - margin)
            return (Make(SubProblemOutcome.Proved, DecidedBy.Milp), null);
        return (Make(SubProblemOutcome.Unknown, DecidedBy.Open), null);
    }
}
