namespace QEquiv.Scheduling;

/// <summary>
/// The cores of one process that its workers own: a worker holds one while it has a work item, and a solver may
/// borrow the idle ones for the duration of one MILP (a portfolio race on a core that would otherwise wait). A worker
/// that gets new work while cores are lent out takes it anyway; the race ends with its MILP, so the excess is brief.
/// Thread-safe.
/// </summary>
public sealed class CoreBudget(int cores)
{
    private readonly object _gate = new();
    private int _used;

    public int Cores { get; } = cores > 0 ? cores : throw new ArgumentOutOfRangeException(nameof(cores), cores, "a process has at least one core");

    /// <summary>Cores in use (held by workers or lent to races).</summary>
    public int Used { get { lock (_gate) return _used; } }

    public void Acquire()
    {
        lock (_gate) _used++;
    }

    public void Release(int count = 1)
    {
        lock (_gate) _used = Math.Max(0, _used - count);
    }

    /// <summary>Takes up to <paramref name="wanted"/> idle cores; returns how many it took (release them when done).</summary>
    public int Borrow(int wanted)
    {
        lock (_gate)
        {
            var k = Math.Clamp(Cores - _used, 0, Math.Max(0, wanted));
            _used += k;
            return k;
        }
    }

    /// <summary>Wraps a work source so that its workers hold a core of this budget while they hold a lease.</summary>
    public IWorkSource Around(IWorkSource source) => new Counting(source, this);

    private sealed class Counting(IWorkSource inner, CoreBudget budget) : IWorkSource
    {
        public CancellationToken Stopped => inner.Stopped;

        public bool TryTake(int worker, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out Lease? lease)
        {
            if (!inner.TryTake(worker, out lease)) return false;
            budget.Acquire();
            return true;
        }

        public void Complete(Lease lease, AttemptReport report)
        {
            budget.Release();
            inner.Complete(lease, report);
        }

        public void Fail(Lease lease, Exception error)
        {
            budget.Release();
            inner.Fail(lease, error);
        }
    }
}
