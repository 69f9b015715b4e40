using System.Collections.Concurrent;
using System.Diagnostics;
using QEquiv.Bounds;
using QEquiv.Cluster.Coordination;
using QEquiv.Cluster.Wire;
using QEquiv.Equivalence;
using QEquiv.Regions;
using QEquiv.Scheduling;
using QEquiv.Solvers;
using QEquiv.Verification;

namespace QEquiv.Cluster;

/// <param name="SubProblems">Root sub-problems of the job.</param>
/// <param name="Workers">Simulated worker threads, in processes of <paramref name="PerProcess"/> (one heartbeat each).</param>
/// <param name="MeanSolve">Mean of the fake solver's (exponentially distributed) solve time.</param>
/// <param name="SplitShare">Share of depth-0 answers that are undecided with a bisection (two children to solve).</param>
/// <param name="Vanishing">Processes that vanish mid-lease (no answer, no heartbeat); half of them answer late, as a
/// worker presumed dead whose answer arrives after its lease went to someone else.</param>
public sealed record LoadTestOptions(int SubProblems, int Workers, TimeSpan MeanSolve, int PerProcess = 4, double SplitShare = 0.1,
    int Vanishing = 5, int Seed = 1);

/// <summary>What a load test measured and checked.</summary>
public sealed record LoadTestReport(
    int Roots,
    int Leaves,
    int Attempts,
    int Reclaimed,
    int LeasesLost,
    int LateAnswers,
    int AnswersSent,
    EngineStatus Status,
    IReadOnlyList<string> Violations,
    TimeSpan Wall)
{
    public double Throughput => Attempts / Wall.TotalSeconds;
}

/// <summary>
/// Load test of the real coordinator grain and its <see cref="Ledger"/>: simulated workers (a fake solver that sleeps a
/// random time and proves, or splits a box in two) take leases, renew them with per-process heartbeats and answer, and
/// some processes vanish mid-lease. Checks that every sub-problem is finished exactly once, that lost leases were
/// handed to others, and that the job proves every leaf. The coordinator may be in this process or another; all
/// traffic goes through <paramref name="grains"/>.
/// </summary>
public static class LoadTest
{
    private static readonly TimeSpan HeartbeatPeriod = TimeSpan.FromMilliseconds(500);

    public static JobTicket Ticket(LoadTestOptions o)
    {
        var pieces = Enumerable.Range(0, o.SubProblems)
            .Select(i => SubProblem.Create(i, i % 10, i % 2 == 0 ? 1 : -1,
                Box.Create([(double)i / o.SubProblems, 0], [(double)(i + 1) / o.SubProblems, 1], "load-test"), 0.1))
            .ToList();
        var settings = new JobSettings([SolverConfiguration.Plain(MilpBackend.Highs)], false, JobSettings.WidestSplit, true,
            TimeSpan.FromSeconds(30), 2, 1, MaxDepth: 1, RetryFactor: 2);
        var plan = new JobPlan("load-test", Box.Create([0, 0], [1, 1], "load-test"), 0.1, pieces, [],
            [], [], settings);
        return new JobTicket
        {
            Job = new JobModels { PlanJson = plan.ToJson(), FloatModel = [], QuantizedModel = [], FloatName = "none", QuantizedName = "none" },
            Timeout = TimeSpan.FromMinutes(10),
        };
    }

    public static LoadTestReport Run(IGrainFactory grains, LoadTestOptions o, Action<string>? progress = null)
    {
        var coordinator = grains.GetGrain<ICoordinatorGrain>(0);
        var clock = Stopwatch.StartNew();
        var id = coordinator.Submit(Ticket(o)).GetAwaiter().GetResult();
        var processes = (o.Workers + o.PerProcess - 1) / o.PerProcess;
        var random = new Random(o.Seed);
        // Vanishing processes go at random moments of the first part of the run, each while holding leases.
        var vanishAfter = Enumerable.Range(0, processes).ToDictionary(p => p, p => p < o.Vanishing ? 20 + random.Next(o.SubProblems / Math.Max(1, processes)) : int.MaxValue);
        var sent = new ConcurrentDictionary<int, int>();
        var lost = 0;
        var late = 0;
        var answers = 0;
        using var done = new CancellationTokenSource();
        var tasks = new List<Task>();
        for (var p = 0; p < processes; p++)
        {
            var process = new SimulatedProcess(coordinator, id, $"load-{p}", vanishAfter[p], ComesBack: p % 2 == 0, o, new Random(o.Seed * 7919 + p));
            tasks.Add(process.Heartbeats(done.Token));
            for (var w = 0; w < o.PerProcess && p * o.PerProcess + w < o.Workers; w++)
                tasks.Add(process.Worker(w, done.Token, (subProblem, isLate) =>
                {
                    sent.AddOrUpdate(subProblem, 1, (_, n) => n + 1);
                    Interlocked.Increment(ref answers);
                    if (isLate) Interlocked.Increment(ref late);
                }, held => Interlocked.Add(ref lost, held)));
        }
        JobStatus status;
        var last = Stopwatch.StartNew();
        while (true)
        {
            status = coordinator.Status(id).GetAwaiter().GetResult();
            if (status.Finished) break;
            if (last.Elapsed > TimeSpan.FromSeconds(5))
            {
                progress?.Invoke($"{clock.Elapsed.TotalSeconds:F0} s: {status.Snapshot.Attempts} sub-problems finished, {status.Snapshot.Running} running");
                last.Restart();
            }
            Thread.Sleep(200);
        }
        var wall = clock.Elapsed;
        var result = coordinator.Result(id).GetAwaiter().GetResult();
        done.Cancel();
        Task.WaitAll(tasks.Where(t => !t.IsCompleted).ToArray(), TimeSpan.FromSeconds(30));

        var violations = new List<string>();
        var attempts = result.Attempts;
        foreach (var g in attempts.GroupBy(a => a.ItemId).Where(g => g.Count() > 1))
            violations.Add($"sub-problem {g.Key} was recorded {g.Count()} times");
        // Every root is proved or split, every split's children are recorded: nothing lost.
        var recorded = attempts.ToDictionary(a => a.ItemId, a => a, EqualityComparer<int>.Default);
        var leaves = 0;
        foreach (var a in attempts)
        {
            if (a.Children == 0)
            {
                leaves++;
                if (a.Result.Outcome != WorkOutcome.Proved) violations.Add($"leaf {a.ItemId} is {a.Result.Outcome}");
            }
        }
        var childrenExpected = attempts.Sum(a => a.Children);
        var roots = attempts.Count(a => a.Parent is null);
        if (roots != o.SubProblems) violations.Add($"{roots} of {o.SubProblems} roots were recorded");
        if (attempts.Count != o.SubProblems + childrenExpected)
            violations.Add($"{attempts.Count} attempts recorded, {o.SubProblems} roots + {childrenExpected} children created");
        if (result.Status != EngineStatus.Proved) violations.Add($"the job ended {result.Status}");
        if (result.Open.Count > 0) violations.Add($"{result.Open.Count} sub-problems open");
        if (result.Reclaimed < lost) violations.Add($"{lost} leases were lost with vanished workers, {result.Reclaimed} reclaimed");
        foreach (var (subProblem, n) in sent)
            if (!recorded.ContainsKey(subProblem)) violations.Add($"an answer for sub-problem {subProblem} was sent ({n}×) but not recorded");
        return new LoadTestReport(o.SubProblems, leaves, attempts.Count, result.Reclaimed, lost, late, answers, result.Status, violations, wall);
    }

    /// <summary>One simulated worker process: its threads share one heartbeat, as in <see cref="Workers.WorkerPool"/>.</summary>
    private sealed class SimulatedProcess(ICoordinatorGrain coordinator, string job, string name, int vanishAfter, bool ComesBack,
        LoadTestOptions o, Random random)
    {
        private readonly ConcurrentDictionary<long, byte> _held = new();
        private readonly CancellationTokenSource _vanished = new();
        private int _answered;

        public async Task Heartbeats(CancellationToken done)
        {
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(done, _vanished.Token);
            while (!stop.IsCancellationRequested)
            {
                try { await Task.Delay(HeartbeatPeriod, stop.Token); }
                catch (OperationCanceledException) { return; }
                var held = _held.Keys.Select(k => new HeldLease(job, k)).ToArray();
                await coordinator.Heartbeat(name, [job], held);
            }
        }

        public async Task Worker(int slot, CancellationToken done, Action<int, bool> answered, Action<int> lostLeases)
        {
            var wait = TimeSpan.FromMilliseconds(5);
            var worker = $"{name}/{slot}";
            while (!done.IsCancellationRequested && !_vanished.IsCancellationRequested)
            {
                var offer = await coordinator.Take(job, worker);
                if (offer.Status == TakeStatus.Finished) return;
                if (offer is not { Status: TakeStatus.Taken, Lease: { } lease })
                {
                    await Task.Delay(wait);
                    wait = TimeSpan.FromTicks(Math.Min(wait.Ticks * 2, TimeSpan.FromMilliseconds(200).Ticks));
                    continue;
                }
                wait = TimeSpan.FromMilliseconds(5);
                _held[lease.Id] = 0;
                double u;
                lock (random) u = random.NextDouble();
                await Task.Delay(TimeSpan.FromTicks((long)(-Math.Log(1 - u) * o.MeanSolve.Ticks)));
                if (Interlocked.Increment(ref _answered) == vanishAfter)
                {
                    // The process dies: every lease it holds is lost. Half the vanishing processes come back with this
                    // answer after their lease went to someone else (a worker presumed dead, but only slow).
                    lostLeases(_held.Count);
                    _vanished.Cancel();
                    if (ComesBack)
                    {
                        await Task.Delay(CoordinatorGrain.LeaseTime * 1.5);
                        await coordinator.Complete(job, lease.Id, Answer(lease, random));
                        answered(lease.Item.Id, true);
                    }
                    return;
                }
                if (_vanished.IsCancellationRequested) return; // another thread of this process died with it
                // Off the held list before the answer leaves, so a process vanishing meanwhile does not count it as lost.
                _held.TryRemove(lease.Id, out _);
                await coordinator.Complete(job, lease.Id, Answer(lease, random));
                answered(lease.Item.Id, false);
            }
        }

        private AttemptReport Answer(Lease lease, Random r)
        {
            // The simulated workers answer about the item without reading its payload, as the coordinator moves it.
            var p = lease.Item;
            bool split;
            lock (r) split = p.Depth == 0 && r.NextDouble() < o.SplitShare;
            if (!split) return new AttemptReport(new WorkResult(p, WorkOutcome.Proved, 0.001), null, false);
            var (lower, upper) = p.Box.Bisect(1);
            return new AttemptReport(new WorkResult(p, WorkOutcome.Unknown, 0.001),
                new SplitPlan([lower, upper], lease.Limit * 2), false);
        }
    }
}
