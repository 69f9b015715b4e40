using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.ExceptionServices;
using QEquiv.Regions;

namespace QEquiv.Scheduling;

/// <summary>An item handed to one worker with the time it may use. A remote worker's lease expires unless renewed.</summary>
public sealed record Lease(long Id, WorkItem Item, TimeSpan Limit);

/// <summary>
/// An undecided item's next step, chosen by the worker that tried it (it holds what the owner's judgement needs):
/// its bisected boxes, or its own box again (a single box) with a longer limit.
/// </summary>
public sealed record SplitPlan(IReadOnlyList<Box> Boxes, TimeSpan Timeout);

/// <summary>What a worker hands back for a lease: the solver's answer, the split it proposes when undecided, and
/// whether the run had been stopped by the time the call returned.</summary>
public sealed record AttemptReport(WorkResult Result, SplitPlan? Plan, bool Cancelled);

/// <summary>A finished attempt as a job log stores it: the attempt and the items (with their ids) it created.</summary>
public sealed record LedgerEntry(Attempt Attempt, IReadOnlyList<WorkItem> Children);

/// <summary>
/// Where workers get work items and hand back answers. The engine's worker loop runs against this interface only, so
/// the same loop serves threads of this process (<see cref="Ledger"/>) and workers on other machines.
/// </summary>
public interface IWorkSource
{
    /// <summary>Blocks until there is a lease (true) or nothing is left for this worker to do (false).</summary>
    bool TryTake(int worker, [NotNullWhen(true)] out Lease? lease);

    void Complete(Lease lease, AttemptReport report);

    /// <summary>The attempt threw: the run stops and the error surfaces to whoever started it.</summary>
    void Fail(Lease lease, Exception error);

    /// <summary>Fires when every worker must drop what it is doing: a witness, the deadline, a failure, or the caller.</summary>
    CancellationToken Stopped { get; }
}

/// <summary>
/// The book-keeping of one split-and-conquer run, independent of where the workers are: the queue of open items,
/// leases on the taken ones, the answers, the split tree (ids, root of every item, proved volume), the stop and
/// the deadline. Thread-safe. In-process workers use it directly as their <see cref="IWorkSource"/>; a cluster
/// coordinator hosts one and lets remote workers poll it, with leases that expire so that a dead worker's item
/// goes back to the queue. It records outcomes and boxes only: payloads, witnesses and details are the owner's bytes.
/// <para>
/// Each item id is finished at most once: an answer for an item already answered (a lease that expired, was handed to
/// someone else, and both reported) is ignored, and a queued copy of a finished item is skipped.
/// </para>
/// </summary>
public sealed class Ledger : IWorkSource
{
    private readonly object _gate = new();
    private readonly EngineOptions _options;
    private readonly WorkQueue _queue;
    private readonly CancellationTokenSource _stop;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly TimeSpan? _leaseTime;
    private readonly IReadOnlyList<WorkItem> _roots;
    private readonly Dictionary<long, Holding> _held = [];
    private readonly Dictionary<long, Holding> _expired = [];
    private readonly HashSet<int> _finished = [];
    private readonly HashSet<int> _workersSeen = [];
    private readonly List<WorkResult> _proved = [];
    private readonly List<WorkResult> _open = [];
    private readonly List<Attempt> _attempts = [];
    private readonly Dictionary<int, int> _rootOf = [];
    /// <summary>Every item the run created, by id (answers and log entries are checked against it).</summary>
    private readonly Dictionary<int, WorkItem> _known = [];
    private readonly Dictionary<int, double> _provedVolume = [];
    private readonly Dictionary<int, Box> _rootBox = [];
    private WorkResult? _violation;
    private ExceptionDispatchInfo? _failure;
    private bool _deadline;
    private long _nextLease;
    private int _nextId;

    private sealed record Holding(Lease Lease, int Worker, TimeSpan Start, TimeSpan Expires);

    /// <param name="leaseTime">How long a lease lasts without renewal; null: forever (workers in this process cannot vanish).</param>
    /// <param name="replay">Attempts finished by an earlier run of the same roots (a job log): applied before anything is handed out.</param>
    public Ledger(IReadOnlyList<WorkItem> roots, EngineOptions options, TimeSpan? leaseTime = null, IReadOnlyList<LedgerEntry>? replay = null)
    {
        ArgumentNullException.ThrowIfNull(roots);
        ArgumentNullException.ThrowIfNull(options);
        if (roots.Select(r => r.Id).Distinct().Count() != roots.Count) throw new ArgumentException("root item ids must be distinct");
        _options = options;
        _leaseTime = leaseTime;
        _roots = roots;
        _stop = CancellationTokenSource.CreateLinkedTokenSource(options.Cancellation);
        _nextId = roots.Count == 0 ? 0 : roots.Max(r => r.Id) + 1;
        _queue = new WorkQueue(roots.Select(r => r with { Timeout = r.Timeout ?? options.Initial }), () => _clock.Elapsed);
        foreach (var r in roots)
        {
            _known[r.Id] = r with { Timeout = r.Timeout ?? options.Initial };
            _rootOf[r.Id] = r.Id;
            _rootBox[r.Id] = r.Box;
            _provedVolume[r.Id] = 0;
        }
        foreach (var e in replay ?? []) Replay(e);
        if (_violation is not null) _stop.Cancel();
        if (options.GlobalTimeout is { } g) _stop.CancelAfter(g);
    }

    public CancellationToken Stopped => _stop.Token;

    /// <summary>Attempts taken over from an earlier run's log.</summary>
    public int Resumed { get; private set; }

    /// <summary>Leases that expired (their worker presumed dead) and went back to the queue.</summary>
    public int Reclaimed { get; private set; }

    public TimeSpan Elapsed => _clock.Elapsed;

    /// <summary>Blocking take for workers in this process.</summary>
    public bool TryTake(int worker, [NotNullWhen(true)] out Lease? lease)
    {
        while (_queue.TryTake(out var p, out var takenAt, _stop.Token))
        {
            lease = Admit(worker, p, takenAt);
            if (lease is not null) return true;
        }
        lease = null;
        return false;
    }

    /// <summary>Non-blocking take for remote workers, who poll: Taken, Wait (others are busy and may add work), or Finished.</summary>
    public TakeStatus Poll(int worker, out Lease? lease)
    {
        lease = null;
        Reclaim();
        while (true)
        {
            if (_stop.IsCancellationRequested) return TakeStatus.Finished;
            var status = _queue.TryTakeNow(out var p, out var takenAt);
            if (status != TakeStatus.Taken) return status;
            lease = Admit(worker, p!, takenAt);
            if (lease is not null) return TakeStatus.Taken;
        }
    }

    /// <summary>A taken item becomes a lease, unless it was finished meanwhile or the deadline is here. The attempt starts
    /// when the queue handed the item out (<paramref name="takenAt"/>), so attempts order as the queue's takes did.</summary>
    private Lease? Admit(int worker, WorkItem p, TimeSpan takenAt)
    {
        lock (_gate)
        {
            if (_finished.Contains(p.Id))
            {
                _queue.Complete();
                return null;
            }
            var limit = p.Timeout ?? _options.Initial;
            var now = _clock.Elapsed;
            if (_options.GlobalTimeout is { } g)
            {
                var left = g - now;
                if (left <= TimeSpan.Zero)
                {
                    // Our clock may pass the deadline a moment before the CancelAfter timer fires: stop now, as the deadline.
                    // The item goes back unattempted and is reported open.
                    _queue.Complete([p]);
                    if (_violation is null && _failure is null && !_options.Cancellation.IsCancellationRequested) _deadline = true;
                    _stop.Cancel();
                    return null;
                }
                _workersSeen.Add(worker);
                if (_options.ShareAboveDimension is { } d && p.Box.OpenDimensions > d)
                {
                    // Workers known to the ledger: the configured threads, or on a cluster those that have taken work.
                    var workers = Math.Max(_options.Workers, _workersSeen.Count);
                    var share = left * workers / Math.Max(1, _queue.Count + _queue.Busy);
                    if (share > limit) limit = share;
                }
                if (left < limit) limit = left;
            }
            var lease = new Lease(++_nextLease, p, limit);
            _held[lease.Id] = new Holding(lease, worker, takenAt, _leaseTime is { } t ? now + t : TimeSpan.MaxValue);
            return lease;
        }
    }

    /// <summary>Extends the leases a live worker still holds.</summary>
    public void Renew(IEnumerable<long> leaseIds)
    {
        if (_leaseTime is not { } t) return;
        lock (_gate)
        {
            var expires = _clock.Elapsed + t;
            foreach (var id in leaseIds)
                if (_held.TryGetValue(id, out var h)) _held[id] = h with { Expires = expires };
        }
    }

    /// <summary>Leases past their expiry go back to the queue (their worker is presumed dead). Returns how many.</summary>
    public int Reclaim()
    {
        if (_leaseTime is null) return 0;
        lock (_gate)
        {
            var now = _clock.Elapsed;
            var expired = _held.Values.Where(h => h.Expires < now).ToList();
            foreach (var h in expired)
            {
                _held.Remove(h.Lease.Id);
                _expired[h.Lease.Id] = h;
                // Complete with itself as the child: the queue stops counting it as busy and hands it out again.
                _queue.Complete([h.Lease.Item]);
            }
            Reclaimed += expired.Count;
            return expired.Count;
        }
    }

    public void Complete(Lease lease, AttemptReport report) => Complete(lease.Id, report);

    /// <summary>
    /// Records a worker's answer and queues the children of its plan. An answer on an expired lease still counts when
    /// nobody answered that item yet. Returns the entry for the job log, or null when the answer was a duplicate.
    /// </summary>
    /// <exception cref="InvalidOperationException">the answer is for another item, or claims a violation without a witness.</exception>
    public LedgerEntry? Complete(long leaseId, AttemptReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        var r = report.Result;
        LedgerEntry? entry = null;
        lock (_gate)
        {
            var fresh = _held.TryGetValue(leaseId, out var h);
            if (!fresh && !_expired.TryGetValue(leaseId, out h)) return null;
            var p = h!.Lease.Item;
            if (r.Item.Id != p.Id)
                throw new InvalidOperationException($"the solver answered item {r.Item.Id} when asked about {p.Id}");
            // An answer from another machine carries its own copy of the question: it must be the one asked.
            if (!r.Item.Equals(p))
                throw new InvalidOperationException($"the answer for item {p.Id} is about another box or another question");
            if (r.Outcome == WorkOutcome.Violated && r.Witness is null)
                throw new InvalidOperationException($"the solver reported item {p.Id} violated without a witness");
            // Proving every leaf proves the root only if children cover their parent: checked here, not assumed of the
            // worker that proposed the split.
            if (report.Plan is { } proposed && !p.Box.IsCoveredBy(proposed.Boxes))
                throw new InvalidOperationException($"the split proposed for item {p.Id} does not cover its box");
            if (fresh) _held.Remove(leaseId);
            else _expired.Remove(leaseId);

            IReadOnlyList<WorkItem> children = [];
            if (_finished.Add(p.Id))
            {
                // A call given no time says nothing about the item; an undecided one without a plan stays open.
                if (r.Outcome == WorkOutcome.Unknown && !report.Cancelled && report.Plan is { Boxes.Count: > 0 } plan)
                    children = Children(p, plan);
                var attempt = new Attempt(h.Worker, h.Lease.Limit, h.Start, _clock.Elapsed, report.Cancelled, children.Count, r);
                Apply(attempt);
                entry = new LedgerEntry(attempt, children);
                // Journaled before the children can be handed out, under the lock: a log written in any other order can
                // list a child's answer before the entry that created it, and such a log cannot be resumed.
                _options.Journal?.Invoke(entry);
            }
            if (fresh) _queue.Complete(children);
            else foreach (var c in children) _queue.Add(c);
        }
        if (entry is not null) _options.Progress?.Invoke(Snapshot());
        if (r.Outcome == WorkOutcome.Violated) _stop.Cancel();
        return entry;
    }

    public void Fail(Lease lease, Exception error) => Fail(lease.Id, error);

    public void Fail(long leaseId, Exception error)
    {
        lock (_gate)
        {
            _failure ??= ExceptionDispatchInfo.Capture(error);
            if (_held.Remove(leaseId, out var h))
            {
                _open.Add(WorkResult.Open(h.Lease.Item));
                _finished.Add(h.Lease.Item.Id);
                _queue.Complete();
            }
        }
        _stop.Cancel();
    }

    /// <summary>Stops the run on the caller's behalf (the job was cancelled).</summary>
    public void Stop() => _stop.Cancel();

    /// <summary>The error a worker hit, if any (the run stopped because of it).</summary>
    public Exception? Failure => _failure?.SourceException;

    public bool IsFinished => _stop.IsCancellationRequested || _queue.IsFinished;

    /// <summary>Items handed out and not yet answered.</summary>
    public IReadOnlyList<Lease> Held()
    {
        lock (_gate) return _held.Values.Select(h => h.Lease).ToList();
    }

    /// <summary>Applies one finished attempt; called under the lock (or from the constructor).</summary>
    private void Apply(Attempt a)
    {
        var r = a.Result;
        var p = r.Item;
        switch (r.Outcome)
        {
            // A proof or a witness found after a stop is still valid, so it is kept.
            case WorkOutcome.Proved:
                _proved.Add(r);
                _provedVolume[_rootOf[p.Id]] += p.Box.VolumeFractionOf(_rootBox[_rootOf[p.Id]]);
                break;
            case WorkOutcome.Violated:
                _violation ??= r;
                break;
            default:
                if (a.Children == 0) _open.Add(r);
                break;
        }
        _attempts.Add(a);
    }

    private void Replay(LedgerEntry e)
    {
        var p = e.Attempt.Result.Item;
        if (!_known.TryGetValue(p.Id, out var asked) || !asked.Equals(p))
            throw new InvalidDataException($"the job log answers an item {p.Id} that neither the roots nor an earlier entry created");
        if (!_finished.Add(p.Id)) return;
        if (e.Children.Count > 0 && !p.Box.IsCoveredBy(e.Children.Select(c => c.Box).ToList()))
            throw new InvalidDataException($"the job log's children of item {p.Id} do not cover its box");
        foreach (var c in e.Children)
        {
            if (c.Parent != p.Id || _known.ContainsKey(c.Id) || !c.Equals(p with { Id = c.Id, Box = c.Box, Depth = p.Depth + 1, Parent = p.Id, Timeout = c.Timeout }))
                throw new InvalidDataException($"the job log's item {c.Id} is not a new child of {p.Id}");
            _known[c.Id] = c;
            _rootOf[c.Id] = _rootOf[p.Id];
            _nextId = Math.Max(_nextId, c.Id + 1);
            _queue.Add(c);
        }
        Apply(e.Attempt with { Children = e.Children.Count, Resumed = true });
        Resumed++;
    }

    /// <summary>Children of a plan; called under the lock (ids and root map).</summary>
    private List<WorkItem> Children(WorkItem p, SplitPlan plan)
    {
        var root = _rootOf[p.Id];
        var children = new List<WorkItem>(plan.Boxes.Count);
        foreach (var b in plan.Boxes)
        {
            // `with` keeps the parent's payload: a child asks its parent's question on a part of its box.
            var child = p with { Id = _nextId++, Box = b, Depth = p.Depth + 1, Parent = p.Id, Timeout = plan.Timeout };
            _known[child.Id] = child;
            _rootOf[child.Id] = root;
            children.Add(child);
        }
        return children;
    }

    /// <summary>The state right now, for a progress display.</summary>
    public EngineSnapshot Snapshot()
    {
        lock (_gate)
        {
            var volume = _roots.Count == 0 ? 0 : _provedVolume.Values.Sum(v => Math.Min(1, v)) / _roots.Count;
            return new EngineSnapshot(_attempts.Count, _proved.Count, _queue.Count, _held.Count, _open.Count,
                volume, _violation is not null, _clock.Elapsed);
        }
    }

    /// <summary>
    /// The run's outcome. Items still queued, and those whose workers never answered, are open.
    /// </summary>
    /// <param name="workersStopped">False when some worker did not return within the grace period after a stop.</param>
    /// <exception cref="Exception">the failure of a worker's attempt, rethrown.</exception>
    public EngineResult Result(bool workersStopped = true)
    {
        _failure?.Throw();
        lock (_gate)
        {
            var open = _open.ToList();
            foreach (var p in _queue.Drain())
                if (_finished.Add(p.Id)) open.Add(WorkResult.Open(p));
            _open.Clear();
            _open.AddRange(open);
            var unanswered = _held.Values.Select(h => h.Lease.Item).Concat(_expired.Values.Select(h => h.Lease.Item))
                .Where(p => !_finished.Contains(p.Id)).DistinctBy(p => p.Id).ToList();
            open.AddRange(unanswered.Select(WorkResult.Open));
            var status = _violation is not null ? EngineStatus.Violated
                : open.Count == 0 && _queue.IsFinished && _held.Count == 0 ? EngineStatus.Proved
                : EngineStatus.Unknown;
            if (status == EngineStatus.Proved && !workersStopped) status = EngineStatus.Unknown;
            // Decided by cause, not by comparing clocks: the CancelAfter timer and the stopwatch tick differently, and a
            // timer firing a millisecond "early" must still count as the deadline.
            var deadline = _deadline || (_options.GlobalTimeout is not null && _stop.IsCancellationRequested && _violation is null
                && _failure is null && !_options.Cancellation.IsCancellationRequested && status != EngineStatus.Proved);
            var proved = _proved.ToList();
            return new EngineResult(status, _violation, proved, open, Progress(proved, open),
                _attempts.OrderBy(a => a.Start).ThenBy(a => a.ItemId).ToList(), deadline, workersStopped, _clock.Elapsed)
            {
                Resumed = Resumed,
                Reclaimed = Reclaimed,
            };
        }
    }

    private List<RootProgress> Progress(List<WorkResult> proved, List<WorkResult> open) =>
        _roots.Select(root =>
        {
            var mine = proved.Where(r => _rootOf[r.Item.Id] == root.Id).ToList();
            // Leaves of one root never overlap except on faces (measure zero), so their fractions add up.
            var volume = Math.Min(1, mine.Sum(r => r.Item.Box.VolumeFractionOf(root.Box)));
            return new RootProgress(_known[root.Id], volume, mine.Count,
                open.Count(r => _rootOf.TryGetValue(r.Item.Id, out var k) && k == root.Id));
        }).ToList();
}
