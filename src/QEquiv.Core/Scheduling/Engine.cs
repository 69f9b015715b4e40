using System.Diagnostics;
using System.Runtime.ExceptionServices;
using QEquiv.Falsification;
using QEquiv.Partitioning;
using QEquiv.Regions;
using QEquiv.Verification;

namespace QEquiv.Scheduling;

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

/// <param name="Workers">Threads pulling from the queue; 0 means <see cref="Environment.ProcessorCount"/>.</param>
/// <param name="InitialTimeout">Time limit of a depth-0 sub-problem (Marabou's split-and-conquer default, 5 s).</param>
/// <param name="TimeoutFactor">Children get their parent's limit × this factor (Marabou: 1.5): they are smaller but
/// were hard enough to split once, and a growing limit guarantees that a deep sub-problem eventually gets a real try.</param>
/// <param name="Bisections">Bisections per split: 1 gives 2 children, 2 gives 4 (Marabou's default), each halving a
/// dimension chosen afresh on the half-box.</param>
/// <param name="MaxDepth">Splits along one branch at most; a sub-problem at this depth that is not decided stays open.</param>
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
    /// Whether bisecting an undecided sub-problem into these boxes is worth it (thread-safe; null: always). When not, the
    /// sub-problem is queued again on its own box as a single child with its limit × factor × <see cref="RetryFactor"/>:
    /// a solver restarted on a box no easier than before needs more time, not a smaller box.
    /// </summary>
    public Func<SubProblem, IReadOnlyList<Box>, bool>? SplitPays { get; init; }
    public double RetryFactor { get; init; } = 3;

    internal int WorkerCount => Workers > 0 ? Workers : Environment.ProcessorCount;
    internal TimeSpan Initial => InitialTimeout ?? DefaultInitialTimeout;
    internal TimeSpan Grace => StopGrace ?? TimeSpan.FromSeconds(1);
}

public enum EngineStatus { Proved, Violated, Unknown }

/// <summary>
/// One solver call. Times are offsets from the engine's start (monotonic clock). Children is the number of
/// sub-problems the attempt was split into (0 when decided, cancelled, at the depth limit or unsplittable).
/// <see cref="Result"/> is what the solver returned; the sub-problem's identity is read from it.
/// </summary>
public sealed record Attempt(int Worker, TimeSpan Timeout, TimeSpan Start, TimeSpan End, bool Cancelled, int Children, SubProblemResult Result)
{
    public int SubProblemId => Result.SubProblem.Id;
    public int? Parent => Result.SubProblem.Parent;
    public int Output => Result.SubProblem.Output;
    public int Sign => Result.SubProblem.Sign;
    public int Depth => Result.SubProblem.Depth;
    public SubProblemOutcome Outcome => Result.Outcome;
    public DecidedBy DecidedBy => Result.DecidedBy;
}

/// <summary>A running engine's state, as handed to <see cref="EngineOptions.Progress"/> after every attempt.</summary>
/// <param name="Proved">Leaves proved so far.</param>
/// <param name="Waiting">Sub-problems queued, not yet taken.</param>
/// <param name="Running">Sub-problems being solved right now.</param>
/// <param name="Open">Leaves given up on (depth limit, unsplittable).</param>
/// <param name="ProvedVolume">Mean over roots of the proved share of the root's box.</param>
public sealed record EngineSnapshot(int Attempts, int Proved, int Waiting, int Running, int Open, double ProvedVolume, bool Violated, TimeSpan Elapsed);

/// <summary>Progress on one root sub-problem (one (output, sign) pair over the whole box).</summary>
/// <param name="ProvedVolume">Share of the root box's volume covered by proved leaves, in [0, 1].</param>
public sealed record RootProgress(int RootId, int Output, int Sign, Box Box, double ProvedVolume, int ProvedLeaves, int OpenLeaves);

/// <param name="Proved">Leaves proved (their boxes tile the proved volume).</param>
/// <param name="Open">Leaves never decided: attempted in vain at the depth limit, interrupted by a stop, or never attempted.</param>
/// <param name="WorkersStopped">False when some solver call did not return within the grace period after a stop.</param>
public sealed record EngineResult(
    EngineStatus Status,
    Witness? Witness,
    SubProblemResult? Violation,
    IReadOnlyList<SubProblemResult> Proved,
    IReadOnlyList<SubProblemResult> Open,
    IReadOnlyList<RootProgress> Roots,
    IReadOnlyList<Attempt> Attempts,
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
}

/// <summary>
/// Split-and-conquer over input boxes (Marabou's S&amp;C, Wu et al. 2020): N workers pull sub-problems from one priority
/// queue; a sub-problem not decided within its time limit is bisected and its children are queued with limit ×
/// factor. The first witness stops everything; the engine knows nothing of how a sub-problem is solved.
/// Soundness rests on two facts only: children's boxes cover the parent's (<see cref="Box.Bisect"/>), so proving all
/// leaves proves the root; and a verdict of Violated comes only from the solver's checked witness.
/// </summary>
public sealed class Engine(ISubProblemSolver solver, EngineOptions? options = null)
{
    private readonly ISubProblemSolver _solver = solver ?? throw new ArgumentNullException(nameof(solver));
    private readonly EngineOptions _options = Validate(options ?? new EngineOptions());

    private static EngineOptions Validate(EngineOptions o)
    {
        if (o.Workers < 0) throw new ArgumentException($"workers must be ≥ 0 (0: all cores), got {o.Workers}");
        if (o.Initial <= TimeSpan.Zero) throw new ArgumentException($"initial timeout must be > 0, got {o.Initial}");
        if (!(o.TimeoutFactor >= 1) || !double.IsFinite(o.TimeoutFactor)) throw new ArgumentException($"timeout factor must be ≥ 1, got {o.TimeoutFactor}");
        if (o.Bisections < 1) throw new ArgumentException($"bisections per split must be ≥ 1, got {o.Bisections}");
        if (o.MaxDepth < 0) throw new ArgumentException($"max depth must be ≥ 0, got {o.MaxDepth}");
        return o;
    }

    /// <summary>Runs the roots to a verdict. Root ids must be distinct; children get ids above the largest root id.</summary>
    public EngineResult Run(IReadOnlyList<SubProblem> roots)
    {
        ArgumentNullException.ThrowIfNull(roots);
        if (roots.Select(r => r.Id).Distinct().Count() != roots.Count) throw new ArgumentException("root sub-problem ids must be distinct");
        var run = new RunState(this, roots);
        return run.Execute();
    }

    /// <summary>Mutable state of one <see cref="Run"/>; kept out of <see cref="Engine"/> so an engine can run twice, even concurrently.</summary>
    private sealed class RunState
    {
        private readonly Engine _engine;
        private readonly IReadOnlyList<SubProblem> _roots;
        private readonly WorkQueue _queue;
        private readonly CancellationTokenSource _stop;
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private readonly object _results = new();
        private readonly List<SubProblemResult> _proved = [];
        private readonly List<SubProblemResult> _open = [];
        private readonly List<Attempt> _attempts = [];
        private readonly Dictionary<int, int> _rootOf = [];
        private readonly Dictionary<int, double> _provedVolume = [];
        private readonly Dictionary<int, Box> _rootBox = [];
        private SubProblemResult? _violation;
        private ExceptionDispatchInfo? _failure;
        private int _nextId;

        public RunState(Engine engine, IReadOnlyList<SubProblem> roots)
        {
            _engine = engine;
            _roots = roots;
            var o = engine._options;
            _stop = CancellationTokenSource.CreateLinkedTokenSource(o.Cancellation);
            if (o.GlobalTimeout is { } g) _stop.CancelAfter(g);
            _nextId = roots.Count == 0 ? 0 : roots.Max(r => r.Id) + 1;
            foreach (var r in roots)
            {
                _rootOf[r.Id] = r.Id;
                _rootBox[r.Id] = r.Box;
                _provedVolume[r.Id] = 0;
            }
            _queue = new WorkQueue(roots.Select(r => r with { Timeout = r.Timeout ?? o.Initial }));
        }

        private EngineOptions Options => _engine._options;

        public EngineResult Execute()
        {
            var n = Options.WorkerCount;
            // Not disposed: a worker that outlives the grace period below still signals it when its call returns.
            var allDone = new CountdownEvent(n);
            var threads = new Thread[n];
            for (var w = 0; w < n; w++)
            {
                var index = w;
                // Dedicated threads, not pool tasks: each solver call blocks for seconds, and a starved pool would
                // delay the very workers that must notice a stop.
                threads[w] = new Thread(() => { try { Work(index); } finally { allDone.Signal(); } })
                {
                    IsBackground = true,
                    Name = $"qequiv-worker-{index}",
                };
                threads[w].Start();
            }
            WaitHandle.WaitAny([allDone.WaitHandle, _stop.Token.WaitHandle]);
            var stopped = allDone.Wait(Options.Grace);
            var elapsed = _clock.Elapsed;
            _failure?.Throw();

            // Decided by cause, not by comparing clocks: the CancelAfter timer and the stopwatch tick differently, and a
            // timer firing a millisecond "early" must still count as the deadline.
            var deadline = Options.GlobalTimeout is not null && _stop.IsCancellationRequested && _violation is null
                && _failure is null && !Options.Cancellation.IsCancellationRequested;
            lock (_results)
            {
                foreach (var p in _queue.Drain())
                    _open.Add(new SubProblemResult(p, DecidedBy.Open, SubProblemOutcome.Unknown, 0));
                var status = _violation is not null ? EngineStatus.Violated
                    : _open.Count == 0 && _queue.IsFinished ? EngineStatus.Proved
                    : EngineStatus.Unknown;
                // A worker that outlived the grace period still owns its sub-problem: report it as open.
                if (status == EngineStatus.Proved && !stopped) status = EngineStatus.Unknown;
                var proved = _proved.ToList();
                var open = _open.ToList();
                return new EngineResult(status, _violation?.Witness, _violation, proved, open, Progress(proved, open),
                    _attempts.OrderBy(a => a.Start).ThenBy(a => a.SubProblemId).ToList(), deadline, stopped, elapsed);
            }
        }

        /// <summary>The state right after an attempt; <paramref name="children"/> are about to be queued by the caller.</summary>
        private EngineSnapshot Snapshot(int children)
        {
            lock (_results)
            {
                var volume = _roots.Count == 0 ? 0 : _provedVolume.Values.Sum(v => Math.Min(1, v)) / _roots.Count;
                // The attempt just made still counts as busy in the queue until Complete; it is not running any more.
                return new EngineSnapshot(_attempts.Count, _proved.Count, _queue.Count + children, Math.Max(0, _queue.Busy - 1), _open.Count,
                    volume, _violation is not null, _clock.Elapsed);
            }
        }

        private List<RootProgress> Progress(List<SubProblemResult> proved, List<SubProblemResult> open) =>
            _roots.Select(root =>
            {
                var mine = proved.Where(r => _rootOf[r.SubProblem.Id] == root.Id).ToList();
                // Leaves of one root never overlap except on faces (measure zero), so their fractions add up.
                var volume = Math.Min(1, mine.Sum(r => r.SubProblem.Box.VolumeFractionOf(root.Box)));
                return new RootProgress(root.Id, root.Output, root.Sign, root.Box, volume, mine.Count,
                    open.Count(r => _rootOf[r.SubProblem.Id] == root.Id));
            }).ToList();

        private void Work(int worker)
        {
            var token = _stop.Token;
            while (_queue.TryTake(out var p, token))
            {
                IReadOnlyList<SubProblem> children = [];
                try
                {
                    children = Attempt(worker, p, token);
                }
                catch (Exception e)
                {
                    lock (_results)
                    {
                        _failure ??= ExceptionDispatchInfo.Capture(e);
                        _open.Add(new SubProblemResult(p, DecidedBy.Open, SubProblemOutcome.Unknown, 0));
                    }
                    _stop.Cancel();
                }
                finally
                {
                    _queue.Complete(children);
                }
            }
        }

        private IReadOnlyList<SubProblem> Attempt(int worker, SubProblem p, CancellationToken token)
        {
            var limit = p.Timeout ?? Options.Initial;
            if (Options.GlobalTimeout is { } g)
            {
                var left = g - _clock.Elapsed;
                if (left < limit) limit = left > TimeSpan.Zero ? left : TimeSpan.Zero;
                // Our clock may pass the deadline a moment before the CancelAfter timer fires; stop now, as the deadline.
                if (limit == TimeSpan.Zero) _stop.Cancel();
            }
            var start = _clock.Elapsed;
            var r = limit > TimeSpan.Zero && !token.IsCancellationRequested
                ? _engine._solver.Solve(p, limit, token)
                : new SubProblemResult(p, DecidedBy.Open, SubProblemOutcome.Unknown, 0);
            var end = _clock.Elapsed;
            var cancelled = token.IsCancellationRequested;
            if (r.SubProblem.Id != p.Id)
                throw new InvalidOperationException($"the solver answered sub-problem {r.SubProblem.Id} when asked about {p.Id}");
            if (r.Outcome == SubProblemOutcome.Violated && r.Witness is null)
                throw new InvalidOperationException($"the solver reported sub-problem {p.Id} violated without a witness");

            // Bisection and the split-or-retry judgement run outside the lock: the judgement may bound the halves.
            // A call given no time (the global deadline is here) says nothing about the sub-problem: it stays open.
            var plan = r.Outcome == SubProblemOutcome.Unknown && !cancelled && limit > TimeSpan.Zero && p.Depth < Options.MaxDepth ? Plan(p) : null;
            IReadOnlyList<SubProblem> children = [];
            lock (_results)
            {
                switch (r.Outcome)
                {
                    // A proof or a witness found after a stop is still valid, so it is kept.
                    case SubProblemOutcome.Proved:
                        _proved.Add(r);
                        break;
                    case SubProblemOutcome.Violated:
                        _violation ??= r;
                        break;
                    default:
                        if (plan is { } pl) children = Children(p, pl);
                        if (children.Count == 0) _open.Add(r);
                        break;
                }
                _attempts.Add(new Attempt(worker, limit, start, end, cancelled, children.Count, r));
                if (r.Outcome == SubProblemOutcome.Proved)
                    _provedVolume[_rootOf[p.Id]] += p.Box.VolumeFractionOf(_rootBox[_rootOf[p.Id]]);
            }
            if (Options.Progress is { } report) report(Snapshot(children.Count));
            if (r.Outcome == SubProblemOutcome.Violated) _stop.Cancel();
            return children;
        }

        /// <summary>What to queue for an undecided sub-problem: its bisected boxes, or (when the split would not pay) its own
        /// box again with a longer limit; null when nothing can be bisected.</summary>
        private sealed record SplitPlan(IReadOnlyList<Box> Boxes, TimeSpan Timeout);

        private SplitPlan? Plan(SubProblem p)
        {
            var boxes = new List<Box> { p.Box };
            for (var k = 0; k < Options.Bisections; k++)
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
            var timeout = Grow(p.Timeout ?? Options.Initial, Options.TimeoutFactor);
            if (Options.SplitPays is { } pays && !pays(p, boxes))
                return new SplitPlan([p.Box], Grow(timeout, Options.RetryFactor));
            return new SplitPlan(boxes, timeout);
        }

        /// <summary>Limits grow geometrically with depth; capped at a day so that deep retries cannot overflow a TimeSpan.</summary>
        private static TimeSpan Grow(TimeSpan t, double factor) =>
            TimeSpan.FromTicks((long)Math.Min(t.Ticks * factor, TimeSpan.FromDays(1).Ticks));

        /// <summary>Children of a plan; called under the results lock (ids and root map).</summary>
        private List<SubProblem> Children(SubProblem p, SplitPlan plan)
        {
            var root = _rootOf[p.Id];
            var children = new List<SubProblem>(plan.Boxes.Count);
            foreach (var b in plan.Boxes)
            {
                // `with` keeps everything else the parent had (its output-code range in particular).
                var child = p with { Id = _nextId++, Box = b, Depth = p.Depth + 1, Parent = p.Id, Timeout = plan.Timeout };
                _rootOf[child.Id] = root;
                children.Add(child);
            }
            return children;
        }

        /// <summary>The heuristic's choice if it can be bisected, else the widest input that can, else −1.</summary>
        private int Choose(SubProblem p)
        {
            var dim = Options.Split.Dimension(p);
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
}
