using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using QEquiv.Cluster.Coordination;
using QEquiv.Cluster.Wire;
using QEquiv.Networks;
using QEquiv.Onnx;
using QEquiv.Scheduling;
using QEquiv.Verification;

namespace QEquiv.Cluster.Workers;

/// <summary>
/// The worker threads of one worker process: each pulls leases of the coordinator's active jobs and runs the engine's own
/// <see cref="WorkerLoop"/> on them; one heartbeat thread renews the leases every half second, learns which jobs were
/// stopped (a witness elsewhere, the deadline, a cancel), so that a solver call in progress is interrupted within about
/// a second, and learns which jobs have work. The process needs no file of the job: models and plan arrive with it.
/// <para>
/// Idle, the heartbeat is the process's only call to the coordinator (two a second, however many threads): worker
/// threads without a job sleep until a heartbeat names one. They used to ask the coordinator for its active jobs five
/// times a second each, which with many threads and machines kept an idle coordinator and its workers busy.
/// </para>
/// </summary>
public sealed class WorkerPool : IDisposable
{
    private static readonly TimeSpan HeartbeatPeriod = TimeSpan.FromMilliseconds(500);
    private static readonly TimeSpan IdlePoll = TimeSpan.FromMilliseconds(200);

    private readonly IGrainFactory _grains;
    private readonly string _name;
    private readonly int _workers;
    private readonly Action<string> _log;
    private readonly CancellationTokenSource _shutdown = new();
    private readonly ConcurrentDictionary<string, Lazy<JobContext>> _jobs = new();
    private readonly CoreBudget _cores;
    private readonly object _beatGate = new();
    /// <summary>Jobs with work as of the last heartbeat, oldest first; guarded by <see cref="_beatGate"/>.</summary>
    private string[] _active = [];
    private long _beats;

    /// <param name="name">This process's name in the cluster (worker names are name/0, name/1, …).</param>
    public WorkerPool(IGrainFactory grains, string name, int workers, Action<string>? log = null)
    {
        if (workers < 1) throw new ArgumentOutOfRangeException(nameof(workers), workers, "a worker process needs at least one worker");
        _grains = grains;
        _name = name;
        _workers = workers;
        _log = log ?? (_ => { });
        _cores = new CoreBudget(workers);
    }

    private ICoordinatorGrain Coordinator => _grains.GetGrain<ICoordinatorGrain>(0);

    /// <summary>Heartbeats answered so far (for tests: the pool is in touch with its coordinator).</summary>
    public long Beats { get { lock (_beatGate) return _beats; } }

    public void Start()
    {
        for (var w = 0; w < _workers; w++)
        {
            var slot = w;
            // Background threads, never joined: a thread blocked in a grain call must not hold up the process's shutdown.
            new Thread(() => Pull(slot)) { IsBackground = true, Name = $"qequiv-cluster-worker-{slot}" }.Start();
        }
        new Thread(Heartbeat) { IsBackground = true, Name = "qequiv-cluster-heartbeat" }.Start();
    }

    private void Pull(int slot)
    {
        var seen = -1L;
        while (!_shutdown.IsCancellationRequested)
        {
            try
            {
                string[] active;
                lock (_beatGate)
                {
                    // Nothing new since this thread last found no job: sleep until the next heartbeat (or shutdown).
                    while (_beats == seen && !_shutdown.IsCancellationRequested) Monitor.Wait(_beatGate, HeartbeatPeriod * 2);
                    active = _active;
                    seen = _beats;
                }
                var job = active.Select(Context).FirstOrDefault(c => c is { Stopped.IsCancellationRequested: false });
                if (job is null) continue;
                WorkerLoop.Run(slot, _cores.Around(job), job.Setup.Work, job.Planner);
                seen = -1; // look again at once: another job may be waiting
            }
            catch (Exception e) when (!_shutdown.IsCancellationRequested)
            {
                // The coordinator unreachable or restarting, a job that could not be set up: report once, retry.
                _log($"worker {_name}/{slot}: {e.GetType().Name}: {e.Message}");
                _shutdown.Token.WaitHandle.WaitOne(TimeSpan.FromSeconds(1));
            }
            catch
            {
                return;
            }
        }
    }

    private JobContext? Context(string jobId)
    {
        var lazy = _jobs.GetOrAdd(jobId, id => new Lazy<JobContext>(() => JobContext.Load(this, id)));
        try { return lazy.Value; }
        catch
        {
            _jobs.TryRemove(jobId, out _);
            throw;
        }
    }

    private void Heartbeat()
    {
        // The first beat at once: a worker that just joined picks up a running job without waiting a period.
        var wait = TimeSpan.Zero;
        while (!_shutdown.Token.WaitHandle.WaitOne(wait))
        {
            wait = HeartbeatPeriod;
            try
            {
                var known = _jobs.Where(kv => kv.Value.IsValueCreated).Select(kv => kv.Value.Value).ToList();
                var held = known.SelectMany(j => j.HeldLeases).ToArray();
                var answer = Coordinator.Heartbeat(_name, known.Select(j => j.Id).ToArray(), held).GetAwaiter().GetResult();
                foreach (var id in answer.Stopped)
                    if (_jobs.TryRemove(id, out var job) && job.IsValueCreated) job.Value.Stop();
                lock (_beatGate)
                {
                    var changed = !answer.Active.SequenceEqual(_active);
                    _active = answer.Active;
                    _beats++;
                    // Threads that found nothing to do wake only when there is something new to look at.
                    if (changed || answer.Active.Length > 0) Monitor.PulseAll(_beatGate);
                }
            }
            catch (Exception e) when (!_shutdown.IsCancellationRequested)
            {
                _log($"worker {_name}: heartbeat failed: {e.GetType().Name}: {e.Message}");
            }
        }
    }

    public void Dispose()
    {
        _shutdown.Cancel();
        lock (_beatGate) Monitor.PulseAll(_beatGate);
        foreach (var job in _jobs.Values.Where(j => j.IsValueCreated)) job.Value.Stop();
    }

    /// <summary>One job as this process sees it: its solver (built once, shared by the threads) and the leases held here.</summary>
    private sealed class JobContext : IWorkSource
    {
        private readonly WorkerPool _pool;
        private readonly CancellationTokenSource _stop;
        private readonly ConcurrentDictionary<long, byte> _held = new();

        private JobContext(WorkerPool pool, string id, WorkerSetup setup, SplitPlanner planner)
        {
            _pool = pool;
            Id = id;
            Setup = setup;
            Planner = planner;
            _stop = CancellationTokenSource.CreateLinkedTokenSource(pool._shutdown.Token);
        }

        public string Id { get; }
        public WorkerSetup Setup { get; }
        public SplitPlanner Planner { get; }
        public CancellationToken Stopped => _stop.Token;
        public IEnumerable<HeldLease> HeldLeases => _held.Keys.Select(k => new HeldLease(Id, k));

        public static JobContext Load(WorkerPool pool, string id)
        {
            var m = pool.Coordinator.Models(id).GetAwaiter().GetResult();
            var plan = JobPlan.FromJson(m.PlanJson);
            var (reference, other) = OnnxImporter.LoadPair(m.FloatName, m.FloatModel, m.QuantizedName, m.QuantizedModel, plan.Settings.Runtime,
                plan.Settings.Outputs);
            if (!plan.IsFor(reference, other))
                throw new InvalidDataException($"job {id[..8]}: the models this worker loaded ({m.FloatName}, {m.QuantizedName}, runtime "
                    + $"{plan.Settings.Runtime.ToString().ToLowerInvariant()}) are not the ones the job was planned for");
            var setup = plan.CreateWorker(reference, other);
            // Idle threads of this process race on its MILPs, as in a local run; other machines' cores are theirs.
            if (plan.Settings.RaceSpareCores) setup.Solver.Cores = pool._cores;
            pool._log($"worker {pool._name}: joined job {id[..8]} ({plan.Pieces.Count} pieces, δ {plan.Delta:G6})");
            return new JobContext(pool, id, setup, new SplitPlanner(plan.EngineOptions(setup)));
        }

        public void Stop() => _stop.Cancel();

        public bool TryTake(int worker, [NotNullWhen(true)] out Lease? lease)
        {
            // Short sleeps while others hold the last sub-problems (they may split them): a new child is picked up within
            // a few milliseconds when work is flowing, and idle polling backs off to a fifth of a second.
            var wait = TimeSpan.FromMilliseconds(5);
            while (!_stop.IsCancellationRequested)
            {
                var offer = _pool.Coordinator.Take(Id, $"{_pool._name}/{worker}").GetAwaiter().GetResult();
                if (offer.Status == TakeStatus.Taken && offer.Lease is { } l)
                {
                    _held[l.Id] = 0;
                    lease = l;
                    return true;
                }
                if (offer.Status == TakeStatus.Finished)
                {
                    // Nothing left for anyone (or the job stopped): this process is done with it, without waiting for
                    // the heartbeat to say so; its threads go back to sleep instead of asking again.
                    Stop();
                    break;
                }
                _stop.Token.WaitHandle.WaitOne(wait);
                wait = TimeSpan.FromTicks(Math.Min(wait.Ticks * 2, IdlePoll.Ticks));
            }
            lease = null;
            return false;
        }

        public void Complete(Lease lease, AttemptReport report)
        {
            _pool.Coordinator.Complete(Id, lease.Id, report).GetAwaiter().GetResult();
            _held.TryRemove(lease.Id, out _);
        }

        public void Fail(Lease lease, Exception error)
        {
            _pool.Coordinator.Fail(Id, lease.Id, $"{_pool._name}: {error.Message}").GetAwaiter().GetResult();
            _held.TryRemove(lease.Id, out _);
        }
    }
}
