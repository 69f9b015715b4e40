using System.Diagnostics.CodeAnalysis;
using QEquiv.Verification;

namespace QEquiv.Scheduling;

/// <summary>
/// The shared queue of open sub-problems that every worker pulls from. Order: shallower first (a breadth-first sweep
/// keeps the work spread over all (output, sign) pairs instead of one worker drilling into one corner), then larger
/// box first (more volume settled per solve), then lower id (deterministic for equal boxes).
/// <para>
/// Termination: the queue is finished when it is empty and no worker holds a sub-problem, because only a busy worker
/// can add children. A taker therefore hands its sub-problem back through <see cref="Complete"/>, which adds the
/// children and releases it in one step, so no other worker can see "empty and idle" in between and quit early.
/// </para>
/// </summary>
public enum TakeStatus { Taken, Wait, Finished }

public sealed class WorkQueue
{
    // A plain object, not System.Threading.Lock: Monitor.Wait/PulseAll only work on monitor locks.
    private readonly object _gate = new();
    private readonly PriorityQueue<SubProblem, (int Depth, double NegLogVolume, int Id)> _heap = new();
    private int _busy;

    public WorkQueue(IEnumerable<SubProblem>? initial = null)
    {
        if (initial is not null)
            foreach (var p in initial) Add(p);
    }

    /// <summary>Sub-problems waiting.</summary>
    public int Count { get { lock (_gate) return _heap.Count; } }

    /// <summary>Sub-problems taken and not yet completed.</summary>
    public int Busy { get { lock (_gate) return _busy; } }

    /// <summary>Nothing waiting and nobody working: nothing can be added any more.</summary>
    public bool IsFinished { get { lock (_gate) return _heap.Count == 0 && _busy == 0; } }

    public void Add(SubProblem p)
    {
        ArgumentNullException.ThrowIfNull(p);
        lock (_gate)
        {
            _heap.Enqueue(p, Key(p));
            Monitor.PulseAll(_gate);
        }
    }

    /// <summary>
    /// Blocks until a sub-problem is available (true; the caller must later call <see cref="Complete"/>), the queue is
    /// finished, or <paramref name="cancellation"/> fires (false for both).
    /// </summary>
    public bool TryTake([NotNullWhen(true)] out SubProblem? item, CancellationToken cancellation = default)
    {
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
    public TakeStatus TryTakeNow(out SubProblem? item)
    {
        lock (_gate)
        {
            if (_heap.TryDequeue(out item, out _))
            {
                _busy++;
                return TakeStatus.Taken;
            }
            return _busy == 0 ? TakeStatus.Finished : TakeStatus.Wait;
        }
    }

    /// <summary>Returns a taken sub-problem, adding its children (if any) before it stops counting as busy.</summary>
    public void Complete(IEnumerable<SubProblem>? children = null)
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
    public IReadOnlyList<SubProblem> Drain()
    {
        lock (_gate)
        {
            var rest = new List<SubProblem>(_heap.Count);
            while (_heap.TryDequeue(out var p, out _)) rest.Add(p);
            return rest;
        }
    }

    private void WakeAll()
    {
        lock (_gate) Monitor.PulseAll(_gate);
    }

    private static (int, double, int) Key(SubProblem p) => (p.Depth, -LogVolume(p.Box), p.Id);

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
