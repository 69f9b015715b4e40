using QEquiv.Falsification;
using QEquiv.Regions;
using QEquiv.Scheduling;

namespace QEquiv.Equivalence;

/// <summary>
/// Decides one sub-problem within a time limit. Contract: Proved only with a proof; Violated only with a
/// <see cref="SubProblemResult.Witness"/> already re-executed by <see cref="WitnessChecker"/>; Unknown otherwise
/// (time limit, cancellation, spurious candidate). It must return soon after <paramref name="cancellation"/> fires:
/// the engine promises to stop all workers within about a second of a witness.
/// </summary>
public interface ISubProblemSolver
{
    SubProblemResult Solve(SubProblem problem, TimeSpan timeout, CancellationToken cancellation);
}

/// <summary>
/// A sub-problem solver as the engine sees it: it reads the question out of the work item's payload, solves it, and
/// hands back the answer as the engine records it. The only place where the property meets the engine's items.
/// </summary>
public sealed class SubProblemWork(ISubProblemSolver solver) : IWorkSolver
{
    private readonly ISubProblemSolver _solver = solver ?? throw new ArgumentNullException(nameof(solver));

    public ISubProblemSolver Solver => _solver;

    public WorkResult Solve(WorkItem item, TimeSpan timeout, CancellationToken cancellation) =>
        _solver.Solve(SubProblem.Of(item), timeout, cancellation).ToWork(item);

    /// <summary>Runs sub-problems on an engine with this property's solver and reads its record back as sub-problems.</summary>
    public static PartitionedRun Run(ISubProblemSolver solver, EngineOptions options, IReadOnlyList<SubProblem> roots,
        IReadOnlyList<LedgerEntry>? replay = null)
    {
        ArgumentNullException.ThrowIfNull(roots);
        return PartitionedRun.Of(new Engine(new SubProblemWork(solver), options).Run(roots.Select(r => r.ToWorkItem()).ToList(), replay));
    }
}

/// <summary>One solver call on a sub-problem, in the property's terms (<see cref="Attempt"/> read back).</summary>
public sealed record SubProblemAttempt(int Worker, TimeSpan Timeout, TimeSpan Start, TimeSpan End, bool Cancelled, int Children, SubProblemResult Result)
{
    public int SubProblemId => Result.SubProblem.Id;
    public int? Parent => Result.SubProblem.Parent;
    public int Output => Result.SubProblem.Output;
    public int Sign => Result.SubProblem.Sign;
    public int Depth => Result.SubProblem.Depth;
    public SubProblemOutcome Outcome => Result.Outcome;
    public DecidedBy DecidedBy => Result.DecidedBy;
    /// <summary>Made by an earlier run and read back from its job log (its times are on that run's clock).</summary>
    public bool Resumed { get; init; }

    public static SubProblemAttempt Of(Attempt a) =>
        new(a.Worker, a.Timeout, a.Start, a.End, a.Cancelled, a.Children, SubProblemResult.Of(a.Result)) { Resumed = a.Resumed };
}

/// <summary>Progress on one piece the engine was given (an (output, sign) pair, or one of its output-code ranges, over the whole box).</summary>
/// <param name="ProvedVolume">Share of the piece's box covered by proved leaves, in [0, 1].</param>
public sealed record PieceProgress(int RootId, int Output, int Sign, Box Box, double ProvedVolume, int ProvedLeaves, int OpenLeaves);

/// <summary>
/// The engine's record of a partitioned run, read back as sub-problems: what <see cref="EngineResult"/> holds, with
/// every item's payload, witness and detail decoded. Wherever the run happened (threads here, a cluster), the verifier
/// and the reports read this.
/// </summary>
/// <param name="Proved">Leaves proved (their boxes tile the proved volume).</param>
/// <param name="Open">Leaves never decided: attempted in vain at the depth limit, interrupted by a stop, or never attempted.</param>
/// <param name="WorkersStopped">False when some solver call did not return within the grace period after a stop.</param>
public sealed record PartitionedRun(
    EngineStatus Status,
    Witness? Witness,
    SubProblemResult? Violation,
    IReadOnlyList<SubProblemResult> Proved,
    IReadOnlyList<SubProblemResult> Open,
    IReadOnlyList<PieceProgress> Roots,
    IReadOnlyList<SubProblemAttempt> Attempts,
    bool DeadlineReached,
    bool WorkersStopped,
    TimeSpan Elapsed)
{
    /// <summary>Share of leaf sub-problems proved (a violated leaf counts as not proved).</summary>
    public double ProvedShare
    {
        get
        {
            var leaves = Proved.Count + Open.Count + (Violation is null ? 0 : 1);
            return leaves == 0 ? 0 : (double)Proved.Count / leaves;
        }
    }

    /// <summary>Mean over roots of the proved volume share (1 when proved).</summary>
    public double ProvedVolume => Roots.Count == 0 ? 0 : Roots.Average(r => r.ProvedVolume);

    /// <summary>Attempts taken over from an earlier run's job log instead of being solved again.</summary>
    public int Resumed { get; init; }

    /// <summary>Sub-problems handed out again because the worker holding them stopped renewing its lease (a cluster's dead worker).</summary>
    public int Reclaimed { get; init; }

    /// <summary>Names of the workers by <see cref="SubProblemAttempt.Worker"/> number when they have any (a cluster's
    /// process/thread); empty for threads of this process.</summary>
    public IReadOnlyList<string> WorkerNames { get; init; } = [];

    public static PartitionedRun Of(EngineResult e)
    {
        ArgumentNullException.ThrowIfNull(e);
        var violation = e.Violation is { } v ? SubProblemResult.Of(v) : null;
        return new PartitionedRun(e.Status, violation?.Witness, violation,
            e.Proved.Select(SubProblemResult.Of).ToList(), e.Open.Select(SubProblemResult.Of).ToList(),
            e.Roots.Select(r =>
            {
                var p = SubProblem.Of(r.Root);
                return new PieceProgress(p.Id, p.Output, p.Sign, p.Box, r.ProvedVolume, r.ProvedLeaves, r.OpenLeaves);
            }).ToList(),
            e.Attempts.Select(SubProblemAttempt.Of).ToList(), e.DeadlineReached, e.WorkersStopped, e.Elapsed)
        {
            Resumed = e.Resumed,
            Reclaimed = e.Reclaimed,
            WorkerNames = e.WorkerNames,
        };
    }
}
