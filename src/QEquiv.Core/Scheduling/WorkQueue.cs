using System.Diagnostics.CodeAnalysis;

namespace QEquiv.Scheduling;

/// <summary>
/// The shared queue of open items that every worker pulls from. Order: attempt round first, then larger box first (more
/// volume settled per solve), then lower id (deterministic for equal boxes). An item's round is its depth: a root is
/// in round 0, and every split or retry of an undecided item puts its children one round later, with a longer limit.
/// So no item gets a second, longer slice while another is still waiting for its first: every open piece is attempted
/// before any one of them can drill into its corner with growing limits and spend the budget there (a breadth-first
/// sweep over the split tree, fair across roots).
/// <para>
/// Termination: the queue is finished when it is empty and no worker holds an item, because only a busy worker
/// can add children. A taker therefore hands its item back through <see cref="Complete"/>, which adds the
/// children and releases it in one step, so no other worker can see "empty and idle" in between and quit early.
/// </para>
/// </summary>
public enum TakeStatus { Taken, Wait, Finished }

public sealed class WorkQueue
{
    // A plain object, not System.Threading.Lock: Monitor.Wait/PulseAll only work on monitor locks.
    private readonly object _gate = new();
    private readonly PriorityQueue<WorkItem, (int Round, double NegLogVolume, int Id)> _heap = new();
    private int _busy;
    private readonly Func<TimeSpan>? _clock;

    /// <param name="clock">Read under the queue's lock at every take (<see cref="TryTake(out WorkItem?, out TimeSpan, CancellationToken)"/>):
    /// the times then order the takes exactly as the queue handed items out, which a reading taken after the take returns
    /// (another worker may take and stamp in between) does not.</param>
    public WorkQueue(IEnumerable<WorkItem>? initial = null, Func<TimeSpan>? clock = null)
    {
        _clock = clock;
        if (initial is not null)
            foreach (var p in initial) Add(p);
    }

    /// <summary>Items waiting.</summary>
    public int Count { get { lock (_gate) return _heap.Count; } }

    /// <summary>Items taken and not yet completed.</summary>
    public int Busy { get { lock (_gate) return _busy; } }

    /// <summary>Nothing waiting and nobody working: nothing can be added any more.</summary>
    public bool IsFinished { get { lock (_gate) return _heap.Count == 0 && _busy == 0; } }

    public void Add(WorkItem p)
    {
        ArgumentNullException.ThrowIfNull(p);
        lock (_gate)
        {
            _heap.Enqueue(p, Key(p));
            Monitor.PulseAll(_gate);
        }
    }

    /// <summary>
    /// Blocks until an item is available (true; the caller must later call <see cref="Complete"/>), the queue is
    /// finished, or <paramref name="cancellation"/> fires (false for both).
    /// </summary>
    public bool TryTake([NotNullWhen(true)] out WorkItem? item, CancellationToken cancellation = default) =>
        TryTake(out item, out _, cancellation);

    /// <summary><see cref="TryTake(out WorkItem?, CancellationToken)"/>, with the clock's reading at the take.</summary>
    public bool TryTake([NotNullWhen(true)] out WorkItem? item, out TimeSpan takenAt, CancellationToken cancellation = default)
    {
        takenAt = default;
        // Waiters sleep on the monitor, so a cancellation has to pulse it to wake them; the callback runs outside
        // any lock held here (Register runs it inline only before we take the lock).
        using var registration = cancellation.Register(WakeAll);
        lock (_gate)
        {
            while (true)
            {
                if (cancellation.IsCancellationRequested) break;
                if (_heap.TryDequeue(out item, out _))
                {
                    _busy++;
                    takenAt = _clock?.Invoke() ?? default;
                    return true;
                }
                if (_busy == 0) break;
                Monitor.Wait(_gate);
            }
        }
        item = null;
        return false;
    }

    /// <summary>Non-blocking take for callers that cannot wait on a monitor (a grain): Taken, or Wait while someone is busy, or Finished.</summary>
    public TakeStatus TryTakeNow(out WorkItem? item) => TryTakeNow(out item, out _);

    /// <summary><see cref="TryTakeNow(out WorkItem?)"/>, with the clock's reading at the take.</summary>
    public TakeStatus TryTakeNow(out WorkItem? item, out TimeSpan takenAt)
    {
        takenAt = default;
        lock (_gate)
        {
            if (_heap.TryDequeue(out item, out _))
            {
                _busy++;
                takenAt = _clock?.Invoke() ?? default;
                return TakeStatus.Taken;
            }
            return _busy == 0 ? TakeStatus.Finished : TakeStatus.Wait;
        }
    }

    /// <summary>Returns a taken item, adding its children (if any) before it stops counting as busy.</summary>
    public void Complete(IEnumerable<WorkItem>? children = null)
    {
        lock (_gate)
        {
            if (_busy == 0) throw new InvalidOperationException("Complete called more often than TryTake succeeded");
            if (children is not null)
                foreach (var c in children) _heap.Enqueue(c, Key(c));
            _busy--;
            // Wake everyone: waiters need to see new work, or that the queue just finished.
            Monitor.PulseAll(_gate);
        }
    }

    /// <summary>Removes and returns everything still waiting (after a stop, these are the never-attempted ones).</summary>
    public IReadOnlyList<WorkItem> Drain()
    {
        lock (_gate)
        {
            var rest = new List<WorkItem>(_heap.Count);
            while (_heap.TryDequeue(out var p, out _)) rest.Add(p);
            return rest;
        }
    }

    private void WakeAll()
    {
        lock (_gate) Monitor.PulseAll(_gate);
    }

    /// <summary>The round is the depth: splits and retries both deepen an item by one, and both give it a longer limit.</summary>
    private static (int, double, int) Key(WorkItem p) => (Round(p), -LogVolume(p.Box), p.Id);

    /// <summary>The attempt round an item belongs to (0 for roots).</summary>
    public static int Round(WorkItem item) => item.Depth;

    /// <summary>Log of the box volume over its non-degenerate inputs (a plain product underflows with 784 inputs).</summary>
    private static double LogVolume(Regions.Box box)
    {
        var sum = 0.0;
        for (var i = 0; i < box.Dimension; i++)
        {
            var w = box.Width(i);
            if (w > 0) sum += Math.Log(w);
        }
        return sum;
    }
}
