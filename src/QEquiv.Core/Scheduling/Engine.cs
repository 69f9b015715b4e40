using QEquiv.Regions;

namespace QEquiv.Scheduling;

/// <param name="Workers">Threads pulling from the queue; 0 means <see cref="Environment.ProcessorCount"/>.</param>
/// <param name="InitialTimeout">Time limit of a depth-0 item (Marabou's split-and-conquer default, 5 s).</param>
/// <param name="TimeoutFactor">Children get their parent's limit × this factor (Marabou: 1.5): they are smaller but
/// were hard enough to split once, and a growing limit guarantees that a deep item eventually gets a real try.</param>
/// <param name="Bisections">Bisections per split: 1 gives 2 children, 2 gives 4 (Marabou's default), each halving a
/// dimension chosen afresh on the half-box.</param>
/// <param name="MaxDepth">Splits (or retries) along one branch at most; an item at this depth that is not decided stays open.</param>
/// <param name="GlobalTimeout">Wall time for the whole run; null: none.</param>
/// <param name="StopGrace">After a stop (witness, deadline, caller), how long to wait for in-flight solver calls to
/// return before giving up on them (they keep running on background threads; <see cref="EngineResult.WorkersStopped"/> says so).</param>
public sealed record EngineOptions(
    int Workers = 0,
    TimeSpan? InitialTimeout = null,
    double TimeoutFactor = 1.5,
    int Bisections = 1,
    int MaxDepth = 20,
    TimeSpan? GlobalTimeout = null,
    TimeSpan? StopGrace = null)
{
    public static readonly TimeSpan DefaultInitialTimeout = TimeSpan.FromSeconds(5);
    public ISplitHeuristic Split { get; init; } = new WidestDimension();
    public CancellationToken Cancellation { get; init; }
    /// <summary>Called after every attempt from the worker that made it (keep it cheap and thread-safe).</summary>
    public Action<EngineSnapshot>? Progress { get; init; }
    /// <summary>
    /// Whether bisecting an undecided item into these boxes is worth it (thread-safe; null: always); the owner of the
    /// question judges it. When not, the item is queued again on its own box as a single child with its limit × factor ×
    /// <see cref="RetryFactor"/>: a solver restarted on a box no easier than before needs more time, not a smaller box.
    /// </summary>
    public Func<WorkItem, IReadOnlyList<Box>, bool>? SplitPays { get; init; }
    public double RetryFactor { get; init; } = 3;
    /// <summary>
    /// With a <see cref="GlobalTimeout"/>, an item whose box has more than this many inputs of positive width gets at least
    /// its share of the time left as its limit: the time left × the workers / the items waiting or in work (null: never).
    /// Bisecting one of hundreds of inputs rarely makes a solve easier, so such an item cut off at a short first limit is
    /// only retried on the same box, from scratch: measured on an MNIST ball, 11 of 17 MILPs that SCIP decides in 1–8 s
    /// each were cut at 5 s and left open at the deadline (docs/benchmarks.md, "Fair shares").
    /// </summary>
    public int? ShareAboveDimension { get; init; }
    /// <summary>The process's cores, which workers hold while they solve and idle ones a solver may borrow; null: not counted.</summary>
    public CoreBudget? Cores { get; init; }
    /// <summary>Called with every finished attempt, in the order they finish (a job log appends them; thread-safe, may block briefly).</summary>
    public Action<LedgerEntry>? Journal { get; init; }

    internal static EngineOptions Validate(EngineOptions o)
    {
        if (o.Workers < 0) throw new ArgumentException($"workers must be ≥ 0 (0: all cores), got {o.Workers}");
        if (o.Initial <= TimeSpan.Zero) throw new ArgumentException($"initial timeout must be > 0, got {o.Initial}");
        if (!(o.TimeoutFactor >= 1) || !double.IsFinite(o.TimeoutFactor)) throw new ArgumentException($"timeout factor must be ≥ 1, got {o.TimeoutFactor}");
        if (o.Bisections < 1) throw new ArgumentException($"bisections per split must be ≥ 1, got {o.Bisections}");
        if (o.MaxDepth < 0) throw new ArgumentException($"max depth must be ≥ 0, got {o.MaxDepth}");
        return o;
    }

    internal int WorkerCount => WorkersFor(Workers);
    /// <summary>Threads a worker setting means (0: all cores).</summary>
    public static int WorkersFor(int workers) => workers > 0 ? workers : Environment.ProcessorCount;
    internal TimeSpan Initial => InitialTimeout ?? DefaultInitialTimeout;
    internal TimeSpan Grace => StopGrace ?? TimeSpan.FromSeconds(1);
}

public enum EngineStatus { Proved, Violated, Unknown }

/// <summary>
/// One solver call. Times are offsets from the engine's start (monotonic clock). Children is the number of
/// items the attempt was split into (0 when decided, cancelled, at the depth limit or unsplittable).
/// <see cref="Result"/> is what the solver returned; the item's identity is read from it.
/// </summary>
public sealed record Attempt(int Worker, TimeSpan Timeout, TimeSpan Start, TimeSpan End, bool Cancelled, int Children, WorkResult Result)
{
    public int ItemId => Result.Item.Id;
    public int? Parent => Result.Item.Parent;
    public int Depth => Result.Item.Depth;
    public WorkOutcome Outcome => Result.Outcome;
    /// <summary>Made by an earlier run and read back from its job log (its times are on that run's clock).</summary>
    public bool Resumed { get; init; }
}

/// <summary>A running engine's state, as handed to <see cref="EngineOptions.Progress"/> after every attempt.</summary>
/// <param name="Proved">Leaves proved so far.</param>
/// <param name="Waiting">Items queued, not yet taken.</param>
/// <param name="Running">Items being solved right now.</param>
/// <param name="Open">Leaves given up on (depth limit, unsplittable).</param>
/// <param name="ProvedVolume">Mean over roots of the proved share of the root's box.</param>
public sealed record EngineSnapshot(int Attempts, int Proved, int Waiting, int Running, int Open, double ProvedVolume, bool Violated, TimeSpan Elapsed);

/// <summary>Progress on one root item (what its payload asks, over the root's whole box).</summary>
/// <param name="ProvedVolume">Share of the root box's volume covered by proved leaves, in [0, 1].</param>
public sealed record RootProgress(WorkItem Root, double ProvedVolume, int ProvedLeaves, int OpenLeaves)
{
    public int RootId => Root.Id;
    public Box Box => Root.Box;
}

/// <param name="Proved">Leaves proved (their boxes tile the proved volume).</param>
/// <param name="Open">Leaves never decided: attempted in vain at the depth limit, interrupted by a stop, or never attempted.</param>
/// <param name="WorkersStopped">False when some solver call did not return within the grace period after a stop.</param>
public sealed record EngineResult(
    EngineStatus Status,
    WorkResult? Violation,
    IReadOnlyList<WorkResult> Proved,
    IReadOnlyList<WorkResult> Open,
    IReadOnlyList<RootProgress> Roots,
    IReadOnlyList<Attempt> Attempts,
    bool DeadlineReached,
    bool WorkersStopped,
    TimeSpan Elapsed)
{
    /// <summary>The owner's serialised witness of the violation, when there is one.</summary>
    public byte[]? Witness => Violation?.Witness;

    /// <summary>Share of leaf items proved (a violated leaf counts as not proved).</summary>
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

    /// <summary>Items handed out again because the worker holding them stopped renewing its lease (a cluster's dead worker).</summary>
    public int Reclaimed { get; init; }

    /// <summary>Names of the workers by <see cref="Attempt.Worker"/> number when they have any (a cluster's process/thread);
    /// empty for threads of this process.</summary>
    public IReadOnlyList<string> WorkerNames { get; init; } = [];
}

/// <summary>
/// Split-and-conquer over input boxes (Marabou's S&amp;C, Wu et al. 2020): N workers pull work items from one priority
/// queue, round by round (every item of a round gets its slice before any item of the next round gets a longer one);
/// an item not decided within its time limit is bisected and its children are queued with limit × factor. The first
/// witness stops everything. The engine knows nothing of what an item asks or how it is solved: the caller's
/// <see cref="IWorkSolver"/> solves it, and the caller's <see cref="ISplitHeuristic"/> and
/// <see cref="EngineOptions.SplitPays"/> say how to split it.
/// Soundness rests on two facts only: children's boxes cover the parent's (<see cref="Box.Bisect"/>), so proving all
/// leaves proves the root; and a verdict of Violated comes only from the solver's checked witness.
/// The book-keeping is the <see cref="Ledger"/>'s and the loop each worker runs is <see cref="WorkerLoop"/>'s, so a
/// cluster reuses both with workers elsewhere; this class runs them on threads of this process.
/// </summary>
public sealed class Engine(IWorkSolver solver, EngineOptions? options = null)
{
    private readonly IWorkSolver _solver = solver ?? throw new ArgumentNullException(nameof(solver));
    private readonly EngineOptions _options = EngineOptions.Validate(options ?? new EngineOptions());

    /// <summary>Runs the roots to a verdict. Root ids must be distinct; children get ids above the largest root id.</summary>
    /// <param name="replay">Attempts an earlier run of the same roots finished (its job log): they are not repeated.</param>
    public EngineResult Run(IReadOnlyList<WorkItem> roots, IReadOnlyList<LedgerEntry>? replay = null)
    {
        ArgumentNullException.ThrowIfNull(roots);
        var ledger = new Ledger(roots, _options, replay: replay);
        var planner = new SplitPlanner(_options);
        var n = _options.WorkerCount;
        // Not disposed: a worker that outlives the grace period below still signals it when its call returns.
        var allDone = new CountdownEvent(n);
        for (var w = 0; w < n; w++)
        {
            var index = w;
            // Dedicated threads, not pool tasks: each solver call blocks for seconds, and a starved pool would
            // delay the very workers that must notice a stop.
            var source = _options.Cores?.Around(ledger) ?? ledger;
            new Thread(() => { try { WorkerLoop.Run(index, source, _solver, planner); } finally { allDone.Signal(); } })
            {
                IsBackground = true,
                Name = $"qequiv-worker-{index}",
            }.Start();
        }
        WaitHandle.WaitAny([allDone.WaitHandle, ledger.Stopped.WaitHandle]);
        var stopped = allDone.Wait(_options.Grace);
        return ledger.Result(stopped);
    }
}

/// <summary>
/// What one worker does, wherever it runs: take a lease, solve, propose a split when undecided, hand the answer back;
/// until the source has nothing left. Thread-safe as long as the solver is.
/// </summary>
public static class WorkerLoop
{
    public static void Run(int worker, IWorkSource source, IWorkSolver solver, SplitPlanner planner)
    {
        while (source.TryTake(worker, out var lease))
        {
            AttemptReport report;
            try
            {
                report = Attempt(lease, source.Stopped, solver, planner);
            }
            catch (Exception e)
            {
                source.Fail(lease, e);
                continue;
            }
            source.Complete(lease, report);
        }
    }

    public static AttemptReport Attempt(Lease lease, CancellationToken stopped, IWorkSolver solver, SplitPlanner planner)
    {
        var p = lease.Item;
        var r = lease.Limit > TimeSpan.Zero && !stopped.IsCancellationRequested
            ? solver.Solve(p, lease.Limit, stopped)
            : WorkResult.Open(p);
        var cancelled = stopped.IsCancellationRequested;
        // Bisection and the split-or-retry judgement happen here, on the worker, because the judgement bounds the halves.
        var plan = r.Outcome == WorkOutcome.Unknown && !cancelled && lease.Limit > TimeSpan.Zero && r.Item.Id == p.Id
            ? planner.Plan(p) : null;
        return new AttemptReport(r, plan, cancelled);
    }
}

/// <summary>How an undecided item is split (the input heuristic, split-or-retry, growing limits, depth limit).</summary>
public sealed class SplitPlanner(EngineOptions options)
{
    private readonly EngineOptions _options = options ?? throw new ArgumentNullException(nameof(options));

    /// <summary>Its bisected boxes, or (when the split would not pay) its own box again with a longer limit; null at the
    /// depth limit or when nothing can be bisected.</summary>
    public SplitPlan? Plan(WorkItem p)
    {
        if (p.Depth >= _options.MaxDepth) return null;
        var boxes = new List<Box> { p.Box };
        for (var k = 0; k < _options.Bisections; k++)
        {
            var next = new List<Box>();
            foreach (var b in boxes)
            {
                var dim = Choose(p with { Box = b });
                if (dim < 0) { next.Add(b); continue; }
                var (lo, hi) = b.Bisect(dim);
                next.Add(lo);
                next.Add(hi);
            }
            boxes = next;
        }
        if (boxes.Count == 1) return null; // nothing could be bisected: the box is a point in float terms
        var timeout = Grow(p.Timeout ?? _options.Initial, _options.TimeoutFactor);
        if (_options.SplitPays is { } pays && !pays(p, boxes))
            return new SplitPlan([p.Box], Grow(timeout, _options.RetryFactor));
        return new SplitPlan(boxes, timeout);
    }

    /// <summary>Limits grow geometrically with depth; capped at a day so that deep retries cannot overflow a TimeSpan.</summary>
    private static TimeSpan Grow(TimeSpan t, double factor) =>
        TimeSpan.FromTicks((long)Math.Min(t.Ticks * factor, TimeSpan.FromDays(1).Ticks));

    /// <summary>The heuristic's choice if it can be bisected, else the widest input that can, else −1.</summary>
    private int Choose(WorkItem p)
    {
        var dim = _options.Split.Dimension(p);
        if (dim >= 0 && dim < p.Box.Dimension && CanBisect(p.Box, dim)) return dim;
        var best = -1;
        for (var i = 0; i < p.Box.Dimension; i++)
            if (CanBisect(p.Box, i) && (best < 0 || p.Box.Width(i) > p.Box.Width(best))) best = i;
        return best;
    }

    private static bool CanBisect(Box b, int i)
    {
        var mid = b.Lo[i] + (b.Hi[i] - b.Lo[i]) / 2;
        return mid > b.Lo[i] && mid < b.Hi[i];
    }
}
