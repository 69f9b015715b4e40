using System.Diagnostics;
using QEquiv.Cluster.Wire;
using QEquiv.Scheduling;
using QEquiv.Verification;

namespace QEquiv.Cluster.Coordination;

/// <summary>
/// The cluster's single owner of every job's work queue. Workers poll it for leases, hand answers back and renew their
/// leases with a heartbeat; clients submit jobs and poll their status. All book-keeping is a <see cref="Ledger"/> per
/// job, the same one the single-machine engine uses: this grain only moves work items and answers (opaque bytes beyond
/// box and limit), and writes the job log.
/// </summary>
public interface ICoordinatorGrain : IGrainWithIntegerKey
{
    /// <summary>The plan in the job log at <paramref name="log"/> (a path on the coordinator's machine) when it holds this job.</summary>
    Task<ResumeAnswer> Resumable(string log, string fingerprint);

    /// <summary>Starts a job; returns its id.</summary>
    Task<string> Submit(JobTicket ticket);

    Task<JobModels> Models(string jobId);

    Task<Offer> Take(string jobId, string worker);

    Task Complete(string jobId, long leaseId, AttemptReport report);

    Task Fail(string jobId, long leaseId, string error);

    /// <summary>Renews the worker process's leases; answers which of <paramref name="jobs"/> are stopped or unknown (drop
    /// them) and which jobs still have work (oldest first). A worker process's only periodic call: idle, it is all it sends.</summary>
    Task<HeartbeatAnswer> Heartbeat(string worker, string[] jobs, HeldLease[] held);

    Task<JobStatus> Status(string jobId);

    /// <summary>The finished job's record; the job is forgotten afterwards.</summary>
    Task<EngineResult> Result(string jobId);

    Task Cancel(string jobId);
}

/// <summary>
/// The jobs of this coordinator process. They live in the process, not in the grain activation: Orleans keeps one
/// activation per grain only eventually, and after a silo dies a call can land on a fresh activation; with the state
/// here, any activation (always on the coordinator silo, by placement) sees the same jobs. Thread-safe.
/// </summary>
public sealed class JobBook
{
    internal object Gate { get; } = new();
    internal Dictionary<string, CoordinatorGrain.Job> Jobs { get; } = [];
    internal List<string> Order { get; } = [];
}

[CoordinatorPlacement]
[KeepAlive]
public sealed class CoordinatorGrain(JobBook book) : Grain, ICoordinatorGrain
{
    /// <summary>A worker that misses this many seconds of heartbeats (0.5 s apart) is presumed dead and its leases go back to the queue.</summary>
    public static readonly TimeSpan LeaseTime = TimeSpan.FromSeconds(5);
    /// <summary>
    /// After a stop, wait at most this long for workers to return their leases (the wait ends as soon as they have). Longer
    /// than the local engine's second: remote workers learn of a stop from their half-second heartbeat, then interrupt
    /// their solver, and on a loaded machine that took over a second.
    /// </summary>
    private static readonly TimeSpan StopGrace = TimeSpan.FromSeconds(5);
    /// <summary>A client polls its job's status five times a second; a job nobody asked about for this long lost its
    /// client (killed) and is stopped and forgotten, so that its workers move on.</summary>
    public static readonly TimeSpan AbandonedAfter = TimeSpan.FromSeconds(30);

    private Dictionary<string, Job> _jobs => book.Jobs;
    private List<string> _order => book.Order;

    internal sealed class Job(string id, JobTicket ticket, Ledger ledger, JobLog? log)
    {
        public string Id { get; } = id;
        public JobTicket Ticket { get; } = ticket;
        public Ledger Ledger { get; } = ledger;
        public JobLog? Log { get; } = log;
        public Dictionary<string, int> Workers { get; } = [];
        public Stopwatch? SinceStop { get; set; }
        public Stopwatch SincePoll { get; } = Stopwatch.StartNew();

        public int Number(string worker)
        {
            if (!Workers.TryGetValue(worker, out var k)) Workers[worker] = k = Workers.Count;
            return k;
        }

        public bool Finished
        {
            get
            {
                if (!Ledger.IsFinished) return false;
                if (Ledger.Held().Count == 0) return true;
                if (!Ledger.Stopped.IsCancellationRequested) return false;
                SinceStop ??= Stopwatch.StartNew();
                return SinceStop.Elapsed > StopGrace;
            }
        }
    }

    public Task<ResumeAnswer> Resumable(string log, string fingerprint)
    {
        lock (book.Gate)
        {
            try
            {
                return Task.FromResult(new ResumeAnswer { PlanJson = LocalJobRunner.CheckedPlan(log, JobLog.Read(log)?.Plan, fingerprint)?.ToJson() });
            }
            catch (BadInputException e)
            {
                return Task.FromResult(new ResumeAnswer { Error = e.Message });
            }
        }
    }

    public Task<string> Submit(JobTicket ticket)
    {
        lock (book.Gate)
        {
            var plan = JobPlan.FromJson(ticket.Job.PlanJson);
            var replay = ticket.Resume && ticket.Log is { } path ? JobLog.Read(path)?.Entries : null;
            var log = ticket.Log is { } p ? JobLog.Open(p, plan, ticket.Resume) : null;
            var ledger = new Ledger(plan.WorkItems(), plan.EngineOptions(null, 0, ticket.Timeout) with { Journal = log is null ? null : log.Append },
                LeaseTime, replay);
            var id = Guid.NewGuid().ToString("N");
            _jobs[id] = new Job(id, ticket, ledger, log);
            _order.Add(id);
            return Task.FromResult(id);
        }
    }

    public Task<JobModels> Models(string jobId)
    {
        lock (book.Gate)
        {
            return Task.FromResult(Find(jobId).Ticket.Job);
        }
    }

    public Task<Offer> Take(string jobId, string worker)
    {
        lock (book.Gate)
        {
            if (!_jobs.TryGetValue(jobId, out var job)) return Task.FromResult(new Offer { Status = TakeStatus.Finished });
            var status = job.Ledger.Poll(job.Number(worker), out var lease);
            return Task.FromResult(new Offer { Status = status, Lease = lease });
        }
    }

    public Task Complete(string jobId, long leaseId, AttemptReport report)
    {
        lock (book.Gate)
        {
            if (_jobs.TryGetValue(jobId, out var job))
            {
                // A malformed answer (another sub-problem, a violation without witness) fails the job, as it would locally.
                try { job.Ledger.Complete(leaseId, report); }
                catch (InvalidOperationException e) { job.Ledger.Fail(leaseId, e); }
            }
            return Task.CompletedTask;
        }
    }

    public Task Fail(string jobId, long leaseId, string error)
    {
        lock (book.Gate)
        {
            if (_jobs.TryGetValue(jobId, out var job)) job.Ledger.Fail(leaseId, new InvalidOperationException(error));
            return Task.CompletedTask;
        }
    }

    public Task<HeartbeatAnswer> Heartbeat(string worker, string[] jobs, HeldLease[] held)
    {
        lock (book.Gate)
        {
            foreach (var group in held.GroupBy(h => h.JobId))
                if (_jobs.TryGetValue(group.Key, out var job)) job.Ledger.Renew(group.Select(h => h.LeaseId));
            foreach (var job in _jobs.Values) job.Ledger.Reclaim();
            foreach (var abandoned in _jobs.Values.Where(j => j.SincePoll.Elapsed > AbandonedAfter).ToList())
            {
                abandoned.Ledger.Stop();
                abandoned.Log?.Dispose();
                _jobs.Remove(abandoned.Id);
                _order.Remove(abandoned.Id);
            }
            return Task.FromResult(new HeartbeatAnswer
            {
                Stopped = jobs.Where(id => !_jobs.TryGetValue(id, out var job) || job.Ledger.Stopped.IsCancellationRequested || job.Ledger.IsFinished).ToArray(),
                Active = _order.Where(id => !_jobs[id].Ledger.IsFinished).ToArray(),
            });
        }
    }

    public Task<JobStatus> Status(string jobId)
    {
        lock (book.Gate)
        {
            var job = Find(jobId);
            job.SincePoll.Restart();
            job.Ledger.Reclaim();
            return Task.FromResult(new JobStatus { Snapshot = job.Ledger.Snapshot(), Finished = job.Finished, Workers = job.Workers.Count });
        }
    }

    public Task<EngineResult> Result(string jobId)
    {
        lock (book.Gate)
        {
            var job = Find(jobId);
            if (!job.Finished) throw new InvalidOperationException($"job {jobId} is still running");
            try
            {
                var result = job.Ledger.Result(job.Ledger.Held().Count == 0);
                return Task.FromResult(result with { WorkerNames = job.Workers.OrderBy(w => w.Value).Select(w => w.Key).ToList() });
            }
            finally
            {
                job.Log?.Dispose();
                _jobs.Remove(jobId);
                _order.Remove(jobId);
            }
        }
    }

    public Task Cancel(string jobId)
    {
        lock (book.Gate)
        {
            if (_jobs.TryGetValue(jobId, out var job)) job.Ledger.Stop();
            return Task.CompletedTask;
        }
    }

    private Job Find(string jobId) =>
        _jobs.TryGetValue(jobId, out var job) ? job : throw new InvalidOperationException($"the coordinator has no job {jobId} (was it restarted?)");
}
