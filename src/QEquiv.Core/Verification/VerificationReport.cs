using QEquiv.Bounds;
using QEquiv.Equivalence;
using QEquiv.Falsification;

namespace QEquiv.Verification;

/// <summary>The answer to the whole question ‖N(x) − Q(x)‖∞ &lt; δ on B.</summary>
public enum Verdict { Verified, Falsified, Unknown }

/// <summary>
/// How the property is cut into MILPs: Monolithic, the paper's baseline (one MILP with a disjunction over outputs);
/// Output, the output-based partition ((output, sign) pairs cut by Q_j's output code, one MILP each, on all
/// workers); OutputInput, the same plus split-and-conquer over the input box for pieces that outlive their limit.
/// </summary>
public enum Strategy { Monolithic, Output, OutputInput }

public static class Strategies
{
    /// <summary>The names users type: monolithic, output, output+input.</summary>
    public static string Name(Strategy s) => s switch
    {
        Strategy.Monolithic => "monolithic",
        Strategy.Output => "output",
        Strategy.OutputInput => "output+input",
        _ => throw new ArgumentOutOfRangeException(nameof(s), s, null),
    };

    public static bool TryParse(string? text, out Strategy strategy)
    {
        foreach (var s in Enum.GetValues<Strategy>())
            if (string.Equals(Name(s), text?.Trim(), StringComparison.OrdinalIgnoreCase)) { strategy = s; return true; }
        strategy = default;
        return false;
    }
}

/// <summary>
/// Bounds of N_j − Q_j (real arithmetic, before the dequantization margin) from each method, so a report shows
/// which method proved what: intervals of N and Q taken separately, differential intervals, differential
/// back-substitution, and their intersection. Null where a method did not run.
/// </summary>
public sealed record OutputBounds(int Output, Interval Naive, Interval? IntervalDifferential, Interval? SymbolicDifferential, Interval Tightest);

/// <summary>Wall time per stage of a run, in seconds.</summary>
public sealed record StageTimings(double Falsify, double Bounds, double Milp, double Total);

/// <summary>
/// The verdict with its evidence: the witness when falsified, every sub-problem and how it ended, and how much
/// was proved when the answer is unknown.
/// </summary>
public sealed record VerificationReport(
    Verdict Verdict,
    double Delta,
    Strategy Strategy,
    string Backend,
    Witness? Witness,
    IReadOnlyList<SubProblemResult> SubProblems,
    StageTimings Timings,
    IReadOnlyList<string> Notes,
    IReadOnlyList<OutputBounds> Bounds)
{
    /// <summary>Share of the sub-problems proved (1 when verified).</summary>
    public double ProvedShare => SubProblems.Count == 0 ? 0 : (double)SubProblems.Count(r => r.Outcome == SubProblemOutcome.Proved) / SubProblems.Count;

    /// <summary>The engine's record (every attempt, proved volume per piece); null for a monolithic run.</summary>
    public PartitionedRun? Engine { get; init; }

    /// <summary>The run was stopped by its caller (Ctrl+C, SIGTERM) before it reached a verdict: the verdict is
    /// <see cref="Verdict.Unknown"/> because of the stop, not because of the time limit or the method.</summary>
    public bool Interrupted { get; init; }

    /// <summary>The VNN-LIB 2.0 spec the verdict answers (<see cref="VerifyOptions.Spec"/>); null for δ-equivalence alone.
    /// Result files name the counterexample's variables by it.</summary>
    public Regions.TwoNetworkSpec? Spec { get; init; }

    public int Count(DecidedBy by) => SubProblems.Count(r => r.DecidedBy == by);

    /// <summary>Per (output, sign), what the run established: what an unknown verdict did prove, pair by pair.</summary>
    public IReadOnlyList<PairProgress> Pairs => PairProgress.Of(SubProblems, Engine);

    /// <summary>How many MILPs were solved (one for a monolithic run that reached the solver); a MILP result carries a solver status.</summary>
    public int MilpCalls => Strategy == Strategy.Monolithic ? (SubProblems.Any(r => r.SolverStatus is not null) ? 1 : 0)
        : Engine is { } e ? e.Attempts.Count(a => a.Result.SolverStatus is not null)
        : SubProblems.Count(r => r.SolverStatus is not null);
}

/// <summary>Where one (output, sign) pair of the property stands at the end of a run.</summary>
public enum PairStatus { Proved, Open, Violated }

/// <summary>
/// One (output, sign) pair: s·(N_j − Q_j) ≥ δ has no solution in the box (Proved), has a checked witness (Violated), or
/// neither yet (Open), with the share of the box where it is proved.
/// </summary>
/// <param name="ProvedVolume">A sound lower bound of the share of the box on which the pair is proved, in [0, 1]: 1 when
/// proved; otherwise 1 − Σ over the pair's pieces of their unproved share (pieces cover the same box for different
/// output codes, so a point is unproved only if it is unproved in some piece).</param>
public sealed record PairProgress(int Output, int Sign, PairStatus Status, double ProvedVolume)
{
    /// <summary>
    /// From a report's leaves and the engine's record. A pair is proved only when it has leaves and every one of them is
    /// proved, the same rule the verdict follows; a piece the engine worked on counts with its proved volume, any other
    /// leaf (settled by the bounds, or never given to the engine) counts whole or not at all.
    /// </summary>
    public static IReadOnlyList<PairProgress> Of(IReadOnlyList<SubProblemResult> leaves, PartitionedRun? engine)
    {
        var inEngine = new HashSet<int>();
        if (engine is not null)
        {
            foreach (var a in engine.Attempts) inEngine.Add(a.SubProblemId);
            foreach (var r in engine.Proved.Concat(engine.Open)) inEngine.Add(r.SubProblem.Id);
            if (engine.Violation is { } v) inEngine.Add(v.SubProblem.Id);
            foreach (var r in engine.Roots) inEngine.Add(r.RootId);
        }
        var pairs = leaves.Select(l => (l.SubProblem.Output, l.SubProblem.Sign))
            .Concat(engine?.Roots.Select(r => (r.Output, r.Sign)) ?? [])
            .Distinct().OrderBy(p => p.Output).ThenByDescending(p => p.Sign);
        var result = new List<PairProgress>();
        foreach (var (output, sign) in pairs)
        {
            var mine = leaves.Where(l => l.SubProblem.Output == output && l.SubProblem.Sign == sign).ToList();
            if (mine.Any(l => l.Outcome == SubProblemOutcome.Violated))
            {
                result.Add(new PairProgress(output, sign, PairStatus.Violated, Volume(output, sign, mine)));
                continue;
            }
            var proved = mine.Count > 0 && mine.All(l => l.Outcome == SubProblemOutcome.Proved);
            result.Add(proved ? new PairProgress(output, sign, PairStatus.Proved, 1) : new PairProgress(output, sign, PairStatus.Open, Volume(output, sign, mine)));
        }
        return result;

        double Volume(int output, int sign, List<SubProblemResult> mine)
        {
            var unproved = mine.Where(l => !inEngine.Contains(l.SubProblem.Id)).Sum(l => l.Outcome == SubProblemOutcome.Proved ? 0.0 : 1.0)
                + (engine?.Roots.Where(r => r.Output == output && r.Sign == sign).Sum(r => 1 - r.ProvedVolume) ?? 0);
            return Math.Clamp(1 - unproved, 0, 1);
        }
    }
}
