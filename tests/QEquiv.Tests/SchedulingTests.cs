using System.Collections.Concurrent;
using System.Diagnostics;
using QEquiv.Equivalence;
using QEquiv.Falsification;
using QEquiv.Partitioning;
using QEquiv.Regions;
using QEquiv.Scheduling;
using QEquiv.Benchmarking;
using QEquiv.Verification;

namespace QEquiv.Tests;

/// <summary>The work queue and the split-and-conquer engine, with fake solvers (rules on the box) and the real MILP adapter.</summary>
public class SchedulingTests
{
    private static readonly Box Unit2 = Box.Create([0, 0], [1, 1], "test");

    /// <summary>
    /// A root work item whose payload the engine never reads: two bytes that only these tests' fake solvers decode
    /// (<see cref="Output"/>, <see cref="Sign"/>), standing in for whatever question an owner puts there.
    /// </summary>
    private static WorkItem Root(int id, Box box, int output = 0, int sign = 1) => new(id, null, 0, box, [(byte)output, (byte)(sign > 0 ? 1 : 0)]);

    private static int Output(WorkItem item) => item.Payload[0];

    private static int Sign(WorkItem item) => item.Payload[1] == 1 ? 1 : -1;

    /// <summary>A solver driven by a rule; it records every call so tests can check what the engine asked.</summary>
    private sealed class FakeSolver(Func<WorkItem, TimeSpan, CancellationToken, WorkOutcome> rule) : IWorkSolver
    {
        public ConcurrentQueue<(WorkItem Problem, TimeSpan Timeout)> Calls { get; } = new();

        public WorkResult Solve(WorkItem problem, TimeSpan timeout, CancellationToken cancellation)
        {
            Calls.Enqueue((problem, timeout));
            var outcome = rule(problem, timeout, cancellation);
            // The witness is the owner's bytes too: the engine only checks that a violation has one.
            return new WorkResult(problem, outcome, 0, Witness: outcome == WorkOutcome.Violated ? [42] : null);
        }
    }

    /// <summary>A call on its own thread, so a test can watch it block without tying up the thread pool.</summary>
    private sealed class Blocking<T>
    {
        private readonly Thread _thread;
        public T Result { get; private set; } = default!;

        public Blocking(Func<T> call)
        {
            _thread = new Thread(() => Result = call()) { IsBackground = true };
            _thread.Start();
        }

        public bool Join(int milliseconds) => _thread.Join(milliseconds);
    }

    [Fact]
    public void QueueGivesShallowAndLargeFirstAndFinishesWhenEmptyAndIdle()
    {
        var small = Box.Create([0, 0], [0.5, 1], "t");
        var queue = new WorkQueue([Root(0, small) with { Depth = 1 }, Root(1, small), Root(2, Unit2)]);
        Assert.True(queue.TryTake(out var a));
        Assert.True(queue.TryTake(out var b));
        Assert.Equal((2, 1), (a.Id, b.Id)); // depth 0 before depth 1; the larger box first at equal depth
        Assert.Equal(2, queue.Busy);
        queue.Complete();
        queue.Complete([Root(7, small) with { Depth = 1 }]);
        Assert.True(queue.TryTake(out var c));
        Assert.True(queue.TryTake(out var d));
        Assert.Equal((0, 7), (c.Id, d.Id));
        Assert.False(queue.IsFinished);

        // A taker that finds the queue empty waits while someone is busy, and quits when the last one completes without children.
        var waiter = new Blocking<bool>(() => queue.TryTake(out _));
        Assert.False(waiter.Join(100));
        queue.Complete();
        Assert.False(waiter.Join(100));
        queue.Complete();
        Assert.True(waiter.Join(2000));
        Assert.False(waiter.Result);
        Assert.True(queue.IsFinished);
        Assert.Throws<InvalidOperationException>(() => queue.Complete());
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void EveryPieceGetsItsFirstSliceBeforeAnyPieceGetsASecond(int workers)
    {
        // Two hard pieces use their whole slice every time and are never decided within the depth limit (issue 15: pieces
        // like these could burn the budget while others waited); four easy ones are undecided at first and proved on their
        // second slice. The order is read from the ledger's records (an attempt's start is stamped when its item is handed
        // out, under the ledger's lock), not from how long anything took.
        var initial = TimeSpan.FromMilliseconds(20);
        var solver = new FakeSolver((p, timeout, ct) =>
        {
            if (Output(p) < 2)
            {
                ct.WaitHandle.WaitOne(timeout);
                return WorkOutcome.Unknown;
            }
            return p.Depth >= 1 ? WorkOutcome.Proved : WorkOutcome.Unknown;
        });
        var roots = Enumerable.Range(0, 6).Select(k => Root(k, Unit2, output: k)).ToList();
        var run = new Engine(solver, new EngineOptions(workers, initial, 1.5, MaxDepth: 3)).Run(roots);

        Assert.Equal(EngineStatus.Unknown, run.Status); // the hard pieces stay open at the depth limit
        var taken = run.Attempts.OrderBy(a => a.Start).ToList();
        // Every piece had its first slice before any piece started a second, longer one.
        var firstSlices = taken.Where(a => a.Depth == 0).ToList();
        Assert.Equal(Enumerable.Range(0, 6), firstSlices.Select(a => a.ItemId).Order());
        var lastFirst = firstSlices.Max(a => a.Start);
        Assert.All(taken.Where(a => a.Depth > 0), a =>
        {
            Assert.True(a.Start >= lastFirst, $"item {a.ItemId} (round {a.Depth}) was handed out before every piece had its first slice");
            Assert.True(a.Timeout > initial, $"item {a.ItemId} (round {a.Depth}) got no longer slice than a first one");
        });
        // With one worker nothing runs beside the taker, so the whole run is round by round.
        if (workers == 1) Assert.Equal(taken.Select(a => a.Depth).Order(), taken.Select(a => a.Depth));
        Assert.All(run.Roots.Where(r => r.RootId >= 2), r => Assert.Equal(1.0, r.ProvedVolume, 12));
        Assert.All(run.Roots.Where(r => r.RootId < 2), r => Assert.Equal(0, r.ProvedVolume));
        Assert.Contains(taken, a => Output(a.Result.Item) < 2 && a.Depth == 3);
    }

    [Fact]
    public void TheQueueNeverHandsOutALaterRoundWhileAnEarlierOneWaits()
    {
        // Items arrive out of round order (children of a slow early item land after later rounds began); every take must
        // still be of the earliest round waiting.
        var random = new Random(5);
        var queue = new WorkQueue();
        var waiting = new List<WorkItem>();
        var nextId = 0;
        WorkItem Item(int round) => Root(nextId++, Unit2) with { Depth = round };
        for (var k = 0; k < 5; k++) { var x = Item(random.Next(4)); queue.Add(x); waiting.Add(x); }
        for (var step = 0; step < 200 && waiting.Count > 0; step++)
        {
            Assert.True(queue.TryTake(out var taken));
            Assert.True(taken.Depth <= waiting.Min(w => w.Depth), $"round {taken.Depth} handed out while round {waiting.Min(w => w.Depth)} waited");
            waiting.Remove(taken);
            var children = Enumerable.Range(0, random.Next(2)).Select(_ => Item(random.Next(5))).ToList();
            waiting.AddRange(children);
            queue.Complete(children);
        }
        Assert.Empty(waiting);
        Assert.True(queue.IsFinished);
    }

    [Fact]
    public void QueueWaitersWakeOnNewWorkAndOnCancellation()
    {
        var queue = new WorkQueue([Root(0, Unit2)]);
        Assert.True(queue.TryTake(out _));
        var waiter = new Blocking<int>(() => queue.TryTake(out var p) ? p.Id : -1);
        Assert.False(waiter.Join(50));
        queue.Complete([Root(5, Unit2)]);
        Assert.True(waiter.Join(2000));
        Assert.Equal(5, waiter.Result);

        using var cts = new CancellationTokenSource();
        var blocked = new Blocking<bool>(() => queue.TryTake(out _, cts.Token));
        Assert.False(blocked.Join(50));
        var clock = Stopwatch.StartNew();
        cts.Cancel();
        Assert.True(blocked.Join(2000));
        Assert.False(blocked.Result);
        Assert.True(clock.ElapsedMilliseconds < 500);
    }

    [Fact]
    public void ATimeoutSplitsIntoHalvesWithALongerTimeoutUntilProved()
    {
        // Proved once the box is at most 0.25 wide in every input: needs two levels of 2-way splits (4 leaves of 1/4 each... per
        // input pair: widest-first alternates the inputs, so depth 2 gives 0.5 × 0.5 boxes and depth 4 gives 0.25 × 0.25).
        var solver = new FakeSolver((p, _, _) => p.Box.MaxWidth() <= 0.25 ? WorkOutcome.Proved : WorkOutcome.Unknown);
        var run = new Engine(solver, new EngineOptions(2, TimeSpan.FromMilliseconds(100), 1.5)).Run([Root(0, Unit2), Root(1, Unit2, 0, -1)]);
        Assert.Equal(EngineStatus.Proved, run.Status);
        Assert.Equal(1.0, run.ProvedShare);
        Assert.All(run.Roots, r => Assert.Equal(1.0, r.ProvedVolume, 12));
        Assert.Equal(2 * 16, run.Proved.Count);
        var byId = solver.Calls.ToDictionary(c => c.Problem.Id);
        foreach (var (p, timeout) in solver.Calls)
        {
            Assert.Equal(TimeSpan.FromMilliseconds(100) * Math.Pow(1.5, p.Depth), timeout);
            if (p.Parent is not { } parent) continue;
            var up = byId[parent].Problem;
            Assert.Equal(p.Depth, up.Depth + 1);
            Assert.Equal(up.Payload, p.Payload); // a child asks its parent's question
            Assert.True(up.Box.Contains(p.Box));
            Assert.Equal(0.5, p.Box.VolumeFractionOf(up.Box), 12);
        }
        Assert.Equal(solver.Calls.Count, run.Attempts.Count);
        Assert.Equal(2 * 15, run.Attempts.Count(a => a.Children == 2));
    }

    [Fact]
    public void FourChildrenPerSplitAndTheDepthLimitLeavesTheRestOpen()
    {
        var solver = new FakeSolver((_, _, _) => WorkOutcome.Unknown);
        var run = new Engine(solver, new EngineOptions(2, TimeSpan.FromMilliseconds(10), Bisections: 2, MaxDepth: 2)).Run([Root(0, Unit2)]);
        Assert.Equal(EngineStatus.Unknown, run.Status);
        Assert.Equal(1 + 4 + 16, solver.Calls.Count);
        Assert.Equal(16, run.Open.Count);
        Assert.All(run.Open, r => Assert.Equal(2, r.Item.Depth));
        Assert.All(run.Open, r => Assert.Equal(1.0 / 16, r.Item.Box.VolumeFractionOf(Unit2), 12));
        Assert.Equal(0, run.ProvedShare);
        Assert.False(run.DeadlineReached);
    }

    [Fact]
    public void TheGlobalTimeoutGivesUnknownWithTheProvedVolumePerRoot()
    {
        // Root 0 is proved on the half x0 ≥ 0.5 only; the other half times out at every depth (the fake honours its limit).
        // Root 1 is proved at once. So the proved volumes are exactly 1/2 and 1, whatever the timing.
        var solver = new FakeSolver((p, timeout, ct) =>
        {
            if (Output(p) == 1 || p.Box.Lo[0] >= 0.5) return WorkOutcome.Proved;
            ct.WaitHandle.WaitOne(timeout);
            return WorkOutcome.Unknown;
        });
        var clock = Stopwatch.StartNew();
        var run = new Engine(solver, new EngineOptions(2, TimeSpan.FromMilliseconds(20), 1.5, GlobalTimeout: TimeSpan.FromMilliseconds(600)))
            .Run([Root(0, Unit2), Root(1, Unit2, output: 1)]);
        var seconds = clock.Elapsed.TotalSeconds;
        Assert.Equal(EngineStatus.Unknown, run.Status);
        Assert.True(run.DeadlineReached);
        Assert.True(run.WorkersStopped);
        Assert.InRange(seconds, 0.55, 1.5);
        var r0 = run.Roots.Single(r => r.RootId == 0);
        var r1 = run.Roots.Single(r => r.RootId == 1);
        Assert.Equal(0.5, r0.ProvedVolume, 12);
        Assert.Equal(1.0, r1.ProvedVolume, 12);
        Assert.Equal(0.75, run.ProvedVolume, 12);
        Assert.True(r0.OpenLeaves > 0);
        Assert.Equal(0, r1.OpenLeaves);
        // Open leaves plus proved leaves of root 0 tile its box (faces aside).
        var tiled = run.Open.Concat(run.Proved).Where(r => Output(r.Item) == 0).Sum(r => r.Item.Box.VolumeFractionOf(Unit2));
        Assert.Equal(1.0, tiled, 12);
        Assert.Equal((double)run.Proved.Count / (run.Proved.Count + run.Open.Count), run.ProvedShare);
        Assert.All(run.Attempts, a => Assert.True(a.End.TotalSeconds <= 1.5));
    }

    [Trait("Speed", "Slow")]
    [Fact]
    public void AWitnessStopsEveryWorkerWithinASecond()
    {
        // Depth 0 and 1 "time out" at once; at depth 2 the sub-box holding the corner (0.9, 0.9) of output 0 finds a witness
        // once the other three calls are blocked; every other call blocks until cancelled (its limit is a minute, so only the stop ends it).
        var witnessAt = TimeSpan.Zero;
        var observed = new ConcurrentBag<TimeSpan>();
        var inFlight = 0;
        var clock = Stopwatch.StartNew();
        var solver = new FakeSolver((p, _, ct) =>
        {
            if (p.Depth < 2) return WorkOutcome.Unknown;
            if (Output(p) == 0 && Sign(p) == 1 && p.Box.Contains([0.9, 0.9]))
            {
                // The witness comes once the three other workers are inside their calls (on a loaded machine a thread
                // may take a while to get there), so the test measures the stop, not thread start-up.
                SpinWait.SpinUntil(() => Volatile.Read(ref inFlight) == 3, TimeSpan.FromSeconds(20));
                Thread.Sleep(50);
                witnessAt = clock.Elapsed;
                return WorkOutcome.Violated;
            }
            // Only three calls block, so that a worker is always free for the box with the witness whatever order the
            // threads take the queue in (with four blocked, nobody would reach it until their minute ran out).
            if (Interlocked.Increment(ref inFlight) > 3)
            {
                Interlocked.Decrement(ref inFlight);
                return WorkOutcome.Unknown;
            }
            ct.WaitHandle.WaitOne(TimeSpan.FromMinutes(1));
            observed.Add(clock.Elapsed);
            return WorkOutcome.Unknown;
        });
        var roots = Enumerable.Range(0, 4).Select(k => Root(k, Unit2, k / 2, k % 2 == 0 ? 1 : -1)).ToList();
        var run = new Engine(solver, new EngineOptions(4, TimeSpan.FromSeconds(60))).Run(roots);
        var returned = clock.Elapsed;

        Assert.Equal(EngineStatus.Violated, run.Status);
        Assert.NotNull(run.Witness);
        Assert.True(run.WorkersStopped);
        Assert.Equal(3, inFlight); // the three other workers were blocked in a solver call
        Assert.Equal(3, observed.Count);
        Assert.All(observed, t => Assert.True(t - witnessAt < TimeSpan.FromSeconds(1), $"a worker saw the stop {(t - witnessAt).TotalMilliseconds:F0} ms after the witness"));
        Assert.True(returned - witnessAt < TimeSpan.FromSeconds(1), $"the engine returned {(returned - witnessAt).TotalMilliseconds:F0} ms after the witness");
        Assert.Contains(run.Attempts, a => a.Outcome == WorkOutcome.Violated && a.Depth == 2);
        Assert.Equal(3, run.Attempts.Count(a => a.Cancelled && a.Outcome == WorkOutcome.Unknown && a.Children == 0));
        Assert.True(run.Open.Count > 3); // the interrupted ones and the never-attempted rest
    }

    [Fact]
    public void ASolverThatIgnoresTheStopIsReportedAndOutlivesTheRunSafely()
    {
        // The call ignores its token and returns 1.5 s after the deadline (which leaves a loaded machine time to start the worker first); the engine must give up on it after the grace
        // period, say so, and not crash when the straggler finishes later (it once signalled a disposed event).
        var returned = new ManualResetEventSlim();
        var solver = new FakeSolver((_, _, _) =>
        {
            Thread.Sleep(2000);
            returned.Set();
            return WorkOutcome.Unknown;
        });
        var run = new Engine(solver, new EngineOptions(1, TimeSpan.FromSeconds(60), GlobalTimeout: TimeSpan.FromMilliseconds(500),
            StopGrace: TimeSpan.FromMilliseconds(100))).Run([Root(0, Unit2)]);
        Assert.False(run.WorkersStopped);
        Assert.Equal(EngineStatus.Unknown, run.Status);
        Assert.True(run.DeadlineReached);
        Assert.True(returned.Wait(TimeSpan.FromSeconds(5)));
        Thread.Sleep(200); // the straggler's thread finishes its bookkeeping; an exception there would kill the test host
    }

    [Fact]
    public void WhenASplitDoesNotPayTheSubProblemIsRetriedOnItsOwnBoxWithMoreTime()
    {
        // Only the third attempt (depth 2) succeeds; the policy refuses every split, so each retry keeps the root's box.
        var solver = new FakeSolver((p, _, _) => p.Depth == 2 ? WorkOutcome.Proved : WorkOutcome.Unknown);
        var asked = 0;
        var run = new Engine(solver, new EngineOptions(1, TimeSpan.FromSeconds(2))
        {
            SplitPays = (_, halves) => { Interlocked.Increment(ref asked); Assert.Equal(2, halves.Count); return false; },
        }).Run([Root(0, Unit2)]);
        Assert.Equal(EngineStatus.Proved, run.Status);
        Assert.Equal(2, asked);
        var calls = solver.Calls.ToList();
        Assert.Equal(3, calls.Count);
        Assert.All(calls, c => Assert.Equal(Unit2, c.Problem.Box));
        Assert.Equal([2.0, 2 * 1.5 * 3, 2 * 1.5 * 3 * 1.5 * 3], calls.Select(c => c.Timeout.TotalSeconds));
        Assert.All(run.Attempts.Where(a => a.Depth < 2), a => Assert.Equal(1, a.Children));
        Assert.Equal(1.0, run.Roots[0].ProvedVolume, 12);
    }

    [Fact]
    public void ASolverExceptionStopsTheRunAndSurfaces()
    {
        var solver = new FakeSolver((p, _, ct) =>
        {
            if (p.Id == 1) throw new InvalidOperationException("boom");
            ct.WaitHandle.WaitOne(TimeSpan.FromMinutes(1));
            return WorkOutcome.Unknown;
        });
        var e = Assert.Throws<InvalidOperationException>(() => new Engine(solver, new EngineOptions(2)).Run([Root(0, Unit2), Root(1, Unit2, 0, -1)]));
        Assert.Equal("boom", e.Message);
    }

    [Trait("Speed", "Slow")]
    [Fact]
    public void TinyTimeoutsForceRealSplitsThatNeverContradictTheVerifier()
    {
        // With 1 ms per MILP the roots time out and are split and re-bounded; whatever is decided must agree.
        var pair = VerificationTests.CrossCheckNetwork(5);
        var box = TestNetworks.RandomBox(new Random(3), pair.Float.InputSize, maxRadius: 0.2, lo: 0.1, hi: 0.9);
        var bounds = MaxError.Analyse(G(pair.Float), G(pair.Quantized), box, new MaxErrorOptions(1e-6, TimeSpan.FromSeconds(60)));
        var delta = bounds.Upper * 1.2 + 1e-3;
        var r = Verifier.Verify(G(pair.Float), G(pair.Quantized), box, new VerifyOptions(delta, Strategy.OutputInput, Timeout: TimeSpan.FromSeconds(20))
        {
            FalsifierCap = TimeSpan.Zero,
            Workers = 2,
            InitialTimeout = TimeSpan.FromMilliseconds(1),
            MaxDepth = 6,
        });
        Assert.NotEqual(Verdict.Falsified, r.Verdict);
        Assert.Contains(r.Engine!.Attempts, a => a.Children > 0);
        if (r.Verdict == Verdict.Verified) Assert.All(r.Engine.Roots, root => Assert.Equal(1.0, root.ProvedVolume, 9));
    }

    [Fact]
    public void ItemsOnBoxesOfManyInputsGetTheirShareOfTheTimeLeftAndSmallBoxesTheFixedLimit()
    {
        // Four items on a 20-input box and one on a 2-input box, two workers, 100 s: a wide item's limit is the time left
        // × 2 / the items outstanding (5 at the first take, ≈ 40 s), the narrow one keeps 5 s; without the option all get 5 s.
        var wide = Box.Create(new double[20], Enumerable.Repeat(1.0, 20).ToArray(), "test");
        WorkItem[] roots = [Root(0, wide), Root(1, wide), Root(2, wide), Root(3, wide), Root(4, Unit2)];
        var options = new EngineOptions(2, TimeSpan.FromSeconds(5), GlobalTimeout: TimeSpan.FromSeconds(100)) { ShareAboveDimension = 16 };
        foreach (var share in new[] { true, false })
        {
            var ledger = new Ledger(roots, share ? options : options with { ShareAboveDimension = null });
            var limits = new Dictionary<int, TimeSpan>();
            for (var k = 0; k < roots.Length; k++)
            {
                Assert.Equal(TakeStatus.Taken, ledger.Poll(k % 2, out var lease));
                limits[lease!.Item.Id] = lease.Limit;
            }
            Assert.Equal(TimeSpan.FromSeconds(5), limits[4]);
            for (var id = 0; id < 4; id++)
            {
                if (share) Assert.InRange(limits[id].TotalSeconds, 39, 40.01); // 5 outstanding at every take: all still held
                else Assert.Equal(TimeSpan.FromSeconds(5), limits[id]);
            }
            ledger.Stop();
        }
    }

    [Fact]
    public void FairSharesReachTheEngineOnlyUnderOutputPlusInputAndTheBenchCanAblateThem()
    {
        var settings = new VerifyOptions(0.1, Strategy.OutputInput).JobSettings();
        Assert.Equal(EquivalenceBranching.SmallDimension, settings.ShareAboveDimension);
        Assert.Null((new VerifyOptions(0.1, Strategy.OutputInput) { FairShare = false }).JobSettings().ShareAboveDimension);
        Assert.Null(new VerifyOptions(0.1, Strategy.Output).JobSettings().ShareAboveDimension);
        var c = BenchConfiguration.Parse("output+input:noshare");
        Assert.False(c.FairShare);
        Assert.Equal("output+input:noshare", c.Name);
        Assert.True(BenchConfiguration.Parse("output+input").FairShare);
        Assert.Throws<BadInputException>(() => BenchConfiguration.Parse("output:noshare"));
    }

    [Fact]
    public void AnExpiredLeaseGoesBackToTheQueueAndTheFirstAnswerForASubProblemWins()
    {
        var ledger = new Ledger([Root(0, Unit2)], new EngineOptions(1, TimeSpan.FromSeconds(5)), leaseTime: TimeSpan.FromMilliseconds(100));
        Assert.Equal(TakeStatus.Taken, ledger.Poll(0, out var first));
        Assert.Equal(TakeStatus.Wait, ledger.Poll(1, out _)); // held by worker 0: others wait, the run is not over
        Thread.Sleep(250); // worker 0 "dies": no renewal
        Assert.Equal(TakeStatus.Taken, ledger.Poll(1, out var second));
        Assert.Equal(first!.Item.Id, second!.Item.Id);
        Assert.NotEqual(first.Id, second.Id);

        // The presumed-dead worker answers after all: its proof counts; the second answer is a duplicate and is ignored.
        var proof = new AttemptReport(new WorkResult(first.Item, WorkOutcome.Proved, 0), null, false);
        Assert.NotNull(ledger.Complete(first.Id, proof));
        var (left, right) = Unit2.Bisect(0);
        var unknown = new AttemptReport(new WorkResult(second.Item, WorkOutcome.Unknown, 0),
            new SplitPlan([left, right], TimeSpan.FromSeconds(1)), false);
        Assert.Null(ledger.Complete(second.Id, unknown));
        Assert.Equal(TakeStatus.Finished, ledger.Poll(0, out _));
        var result = ledger.Result();
        Assert.Equal(EngineStatus.Proved, result.Status);
        Assert.Single(result.Attempts);
        Assert.Equal(1.0, result.ProvedVolume, 12);
    }

    [Fact]
    public void RenewedLeasesStayWithTheirWorker()
    {
        var ledger = new Ledger([Root(0, Unit2)], new EngineOptions(1, TimeSpan.FromSeconds(5)), leaseTime: TimeSpan.FromMilliseconds(150));
        Assert.Equal(TakeStatus.Taken, ledger.Poll(0, out var lease));
        for (var i = 0; i < 5; i++)
        {
            Thread.Sleep(60);
            ledger.Renew([lease!.Id]);
            Assert.Equal(TakeStatus.Wait, ledger.Poll(1, out _));
        }
        Assert.Equal(0, ledger.Reclaim());
        Assert.Single(ledger.Held());
    }

    [Fact]
    public void AJournalReplayedIntoANewRunIsNotSolvedAgain()
    {
        // First run: everything is split twice, the right half of root 0 (and all of root 1) is proved, the left half stays
        // open at the depth limit. Second run from the journal: no solver call at all, the same proofs and open leaves.
        WorkOutcome Rule(WorkItem p, TimeSpan _, CancellationToken __) =>
            p.Depth >= 1 && (Output(p) == 1 || p.Box.Lo[0] >= 0.5) ? WorkOutcome.Proved : WorkOutcome.Unknown;
        var journal = new ConcurrentQueue<LedgerEntry>();
        var options = new EngineOptions(2, TimeSpan.FromSeconds(1), MaxDepth: 2) { Journal = journal.Enqueue };
        var roots = new[] { Root(0, Unit2), Root(1, Unit2, output: 1) };
        var first = new Engine(new FakeSolver(Rule), options).Run(roots);
        Assert.Equal(first.Attempts.Count, journal.Count);

        // A journal survives a process: through the job log's JSON.
        var entries = journal.Select(e => System.Text.Json.JsonSerializer.Deserialize<LedgerEntry>(
            System.Text.Json.JsonSerializer.Serialize(e, JobPlan.Json), JobPlan.Json)!).ToList();
        var again = new FakeSolver(Rule);
        var second = new Engine(again, options with { Journal = null }).Run(roots, entries);
        Assert.Empty(again.Calls);
        Assert.Equal(first.Status, second.Status);
        Assert.Equal(first.Attempts.Count, second.Resumed);
        Assert.Equal(first.Proved.Select(r => r.Item.Id).Order(), second.Proved.Select(r => r.Item.Id).Order());
        Assert.Equal(first.Open.Select(r => r.Item.Id).Order(), second.Open.Select(r => r.Item.Id).Order());
        Assert.Equal(first.ProvedVolume, second.ProvedVolume, 12);

        // Half the journal: only what it does not list is solved, and the new children do not reuse its ids.
        var half = entries.Take(entries.Count / 2).ToList();
        var third = new FakeSolver(Rule);
        var resumed = new Engine(third, options with { Journal = null }).Run(roots, half);
        var done = half.Select(e => e.Attempt.ItemId).ToHashSet();
        Assert.NotEmpty(third.Calls);
        Assert.DoesNotContain(third.Calls, c => done.Contains(c.Problem.Id));
        Assert.Equal(first.ProvedVolume, resumed.ProvedVolume, 12);
        var ids = resumed.Attempts.Select(a => a.ItemId).ToList();
        Assert.Equal(ids.Count, ids.Distinct().Count());
    }

    [Fact]
    public void TheJournalListsEveryItemAfterTheEntryThatCreatedIt()
    {
        // Four workers racing through a tree of instant answers: a child is handed out the moment its parent's answer is
        // applied, so an entry journaled after the lock was released could follow its child's (CI saw that once). A slow
        // log write for the roots' entries opens that window wide.
        for (var run = 0; run < 5; run++)
        {
            var journal = new ConcurrentQueue<LedgerEntry>();
            var options = new EngineOptions(4, TimeSpan.FromSeconds(1), MaxDepth: 4)
            {
                Journal = e =>
                {
                    if (e.Attempt.Result.Item.Depth == 0) Thread.Sleep(30);
                    journal.Enqueue(e);
                },
            };
            var roots = new[] { Root(0, Unit2), Root(1, Unit2, output: 1) };
            new Engine(new FakeSolver((_, _, _) => WorkOutcome.Unknown), options).Run(roots);
            var created = roots.Select(r => r.Id).ToHashSet();
            foreach (var e in journal)
            {
                Assert.Contains(e.Attempt.ItemId, created);
                foreach (var c in e.Children) created.Add(c.Id);
            }
            Assert.True(journal.Count > roots.Length);
        }
    }

    [Fact]
    public void IdleCoresCanBeBorrowedOnlyWhileTheirWorkersWait()
    {
        // Two workers, one sub-problem: while it is solved one core is idle and can be lent; with two sub-problems none is.
        var cores = new CoreBudget(2);
        var lent = new ConcurrentBag<(int Roots, int Borrowed)>();
        foreach (var roots in new[] { 1, 2 })
        {
            using var allBusy = new CountdownEvent(roots);
            using var allAsked = new CountdownEvent(roots);
            var solver = new FakeSolver((_, _, _) =>
            {
                allBusy.Signal();
                allBusy.Wait(TimeSpan.FromSeconds(10)); // every root is being solved before anyone borrows
                var k = cores.Borrow(2);
                lent.Add((roots, k));
                allAsked.Signal();
                allAsked.Wait(TimeSpan.FromSeconds(10)); // and nobody hands a core back before everyone asked
                cores.Release(k);
                return WorkOutcome.Proved;
            });
            var run = new Engine(solver, new EngineOptions(2, TimeSpan.FromSeconds(5)) { Cores = cores })
                .Run(Enumerable.Range(0, roots).Select(k => Root(k, Unit2, output: k)).ToList());
            Assert.Equal(EngineStatus.Proved, run.Status);
            Assert.Equal(0, cores.Used); // every worker gave its core back
        }
        Assert.Equal([1], lent.Where(l => l.Roots == 1).Select(l => l.Borrowed));
        Assert.Equal([0, 0], lent.Where(l => l.Roots == 2).Select(l => l.Borrowed));
    }

    [Fact]
    public void TheLedgerRefusesSplitsThatLeaveAGapAndAnswersAboutAnotherBox()
    {
        var (left, right) = Unit2.Bisect(0);
        var (leftLow, _) = left.Bisect(1);
        Assert.True(Unit2.IsCoveredBy([left, right]));
        Assert.True(Unit2.IsCoveredBy([right, .. new[] { leftLow, left.Bisect(1).Upper }]));
        Assert.False(Unit2.IsCoveredBy([leftLow, right])); // the upper half of the left half is missing
        Assert.False(Unit2.IsCoveredBy([]));

        var ledger = new Ledger([Root(0, Unit2)], new EngineOptions(1, TimeSpan.FromSeconds(5)));
        Assert.Equal(TakeStatus.Taken, ledger.Poll(0, out var lease));
        var unknown = new WorkResult(lease!.Item, WorkOutcome.Unknown, 0);
        var gap = Assert.Throws<InvalidOperationException>(() => ledger.Complete(lease.Id, new AttemptReport(unknown, new SplitPlan([leftLow, right], TimeSpan.FromSeconds(1)), false)));
        Assert.Contains("does not cover", gap.Message);
        var elsewhere = new WorkResult(lease.Item with { Box = left }, WorkOutcome.Proved, 0);
        Assert.Throws<InvalidOperationException>(() => ledger.Complete(lease.Id, new AttemptReport(elsewhere, null, false)));

        // A job log is held to the same rules: an entry about a box the run never had is refused.
        var entry = new LedgerEntry(new Attempt(0, TimeSpan.FromSeconds(1), TimeSpan.Zero, TimeSpan.Zero, false, 0, elsewhere), []);
        Assert.Throws<InvalidDataException>(() => new Ledger([Root(0, Unit2)], new EngineOptions(1, TimeSpan.FromSeconds(5)), replay: [entry]));
    }
}
