using System.Diagnostics;
using System.Text.Json;
using QEquiv.Bounds;
using QEquiv.Cli.Commands;
using QEquiv.Equivalence;
using QEquiv.Evaluation;
using QEquiv.Falsification;
using QEquiv.Networks;
using QEquiv.Onnx;
using QEquiv.Partitioning;
using QEquiv.Quantization;
using QEquiv.Regions;
using QEquiv.Scheduling;
using QEquiv.Solvers;
using QEquiv.Verification;

namespace QEquiv.Tests;

/// <summary>The output-code partition (stage 2), the sub-problem as a wire value, and the engine-backed verifier on real data.</summary>
public class PartitioningTests
{
    private static readonly FloatNetwork N = OnnxImporter.LoadFloat(TestData.Bench("mnistfc/mnist-net_256x2.onnx"));
    private static readonly QuantizedNetwork Q = OnnxImporter.LoadQuantized(TestData.Bench("pytorch/mnist-net_256x2.qnnpack-qdq.onnx"));

    public static TheoryData<int> Pairs() => [0, 1, 2, 3, 4, 5];

    [Theory]
    [MemberData(nameof(Pairs))]
    public void CodePiecesTileTheCodesAndNoSampledPointViolatesADischargedPiece(int network)
    {
        var pair = VerificationTests.CrossCheckNetwork(network);
        var (n, q) = (pair.Float, pair.Quantized);
        var box = TestNetworks.RandomBox(new Random(network), n.InputSize, maxRadius: 0.3, lo: 0.0, hi: 1.0);
        var diff = DifferentialBounds.Of(pair.Reference, pair.Other, box);
        var (fb, qb) = (diff.Reference, diff.Other);
        var outputCodes = OutputPartition.OutputCodes(qb)!;
        var rng = new Random(network + 100);
        var points = Enumerable.Range(0, 2000).Select(_ => TestNetworks.SamplePoint(rng, box)).ToList();
        var evaluations = points.Select(x => (Codes: QuantizedEvaluator.Trace(q, x)[^1], Eval: WitnessChecker.Evaluate(G(n), G(q), x))).ToList();
        var discharges = 0;
        foreach (var root in OutputPartition.Roots(n.OutputSize, box, 1))
        {
            var j = root.Output;
            // δ at 40% of the pair's bound: large enough that some codes are out of reach, small enough that some are not.
            var upper = diff.For(j, root.Sign).Hi;
            if (!(upper > 0)) continue;
            var p = root with { Delta = 0.4 * upper };
            var id = 100;
            var cut = OutputPartition.ByOutputCode(p, fb, qb, diff, 4, () => id++);
            var all = new CodeRange((int)Math.Ceiling(outputCodes[j].Lo), (int)Math.Floor(outputCodes[j].Hi));
            var ranges = cut.Pieces.Select(x => x.Codes ?? all).Concat(cut.Discharged is { } d ? [d.SubProblem.Codes!] : []).OrderBy(r => r.Lo).ToList();
            Assert.Equal(all.Lo, ranges[0].Lo);
            Assert.Equal(all.Hi, ranges[^1].Hi);
            for (var k = 1; k < ranges.Count; k++) Assert.Equal(ranges[k - 1].Hi + 1, ranges[k].Lo);
            Assert.All(cut.Pieces, x => Assert.Equal(p.Id, x.Parent));
            Assert.True(cut.Pieces.Count <= 4);
            foreach (var (codes, e) in evaluations)
            {
                Assert.InRange(codes[j], all.Lo, all.Hi);
                var value = root.Sign * e.Differences[j];
                var holder = cut.Pieces.FirstOrDefault(x => x.Codes is not { } c || (codes[j] >= c.Lo && codes[j] <= c.Hi));
                if (holder is null)
                {
                    Assert.True(value < p.Delta, $"output {j} sign {root.Sign}: code {codes[j]} was discharged but s·Δ = {value} ≥ δ = {p.Delta}");
                    Assert.True(value <= cut.Discharged!.Bound, $"discharged bound {cut.Discharged.Bound} below {value}");
                }
                else
                {
                    var bound = OutputPartition.Upper(holder, fb, qb, diff) + Encoding.EquivalenceMilp.MarginFor(fb, qb, j);
                    Assert.True(value <= bound, $"piece {holder.Codes}: s·Δ = {value} above its bound {bound}");
                }
            }
            if (cut.Discharged is not null) discharges++;
        }
        Assert.True(discharges > 0, "no code range was discharged: the test did not exercise the discharge");
    }

    [Fact]
    public void ASubProblemCrossesAProcessBoundaryAsJson()
    {
        var box = Box.Create([0, -0.5], [1, 0.25], "t");
        var p = SubProblem.Create(7, 3, -1, box, 0.05, 2, 4) with { Timeout = TimeSpan.FromSeconds(7.5), Codes = new CodeRange(-3, 12) };
        var back = JsonSerializer.Deserialize<SubProblem>(JsonSerializer.Serialize(p))!;
        Assert.Equal((p.Id, p.Output, p.Sign, p.Delta, p.Depth, p.Parent, p.Timeout, p.Codes), (back.Id, back.Output, back.Sign, back.Delta, back.Depth, back.Parent, back.Timeout, back.Codes));
        Assert.Equal(p.Box, back.Box);
        Assert.Equal(p, back);
    }

    [Fact]
    public void AMilpWitnessStopsEveryWorkerWithinASecond()
    {
        // δ just below the ±0.0005 ball's true maximum error (0.01569): with the falsifier off only a MILP finds it,
        // while the other worker is inside another MILP that only the stop ends.
        var image = MnistVerificationTests.ImageOf(VnnLib.ParseBox(TestData.Bench("mnistfc/prop_0_0.03.vnnlib")).Box, 0.03);
        var box = Region.BallAround(image, 0.0005, (0, 1));
        var r = Verifier.Verify(G(N), G(Q), box, new VerifyOptions(0.0150, Strategy.OutputInput, Timeout: TimeSpan.FromSeconds(120))
        {
            FalsifierCap = TimeSpan.Zero,
            Workers = 2,
            LpBudget = TimeSpan.Zero,
        });
        Assert.Equal(Verdict.Falsified, r.Verdict);
        Assert.NotNull(WitnessChecker.Check(G(N), G(Q), r.Witness!.Input, 0.0150));
        var run = r.Engine!;
        Assert.True(run.WorkersStopped);
        var found = run.Attempts.First(a => a.Outcome == SubProblemOutcome.Violated).End;
        Assert.True(run.Elapsed - found < TimeSpan.FromSeconds(1), $"the engine returned {(run.Elapsed - found).TotalMilliseconds:F0} ms after the witness");
        Assert.All(run.Attempts, a => Assert.True(a.End - found < TimeSpan.FromSeconds(1), $"sub-problem {a.SubProblemId} ended {(a.End - found).TotalMilliseconds:F0} ms after the witness"));
    }

    private static Box BallAroundRow(int row, double radius) =>
        Region.BallAround(Array.ConvertAll(QEquiv.Data.Csv.ReadRows(TestData.Bench("pytorch/inputs.csv"))[row], v => (double)v), radius, (0, 1));

    [Trait("Speed", "Slow")]
    [Fact]
    public void ACoreFreedWhileAMilpRunsJoinsItsRaceAndIsGivenBack()
    {
        // 256x2 around MNIST row 1, ±0.0015, δ = 0.04: the bounds and the LP relaxation leave one (output, sign) pair whose
        // MILP takes SCIP without presolve a few seconds on this machine (with presolve it can be over before a core frees;
        // the test is about lending cores, not about the solver).
        var box = BallAroundRow(1, 0.0015);
        var (fb, qb, diff, _) = Verifier.Bound(G(N), G(Q), box, true, []);
        var (output, sign) = Enumerable.Range(0, N.OutputSize).SelectMany(j => new[] { (j, 1), (j, -1) })
            .MaxBy(p => Verifier.Upper(fb, qb, diff, p.Item1, p.Item2));
        var problem = SubProblem.Create(0, output, sign, box, 0.04);
        var cores = new CoreBudget(2);
        cores.Acquire(); // the worker solving it
        cores.Acquire(); // whatever else holds the second core (the counterexample search beside the proofs)
        var solver = new MilpSubProblemSolver(G(N), G(Q), [SolverConfiguration.ScipWithoutPresolve]) { Cores = cores };
        SubProblemResult? result = null;
        var solving = new Thread(() => result = solver.Solve(problem, TimeSpan.FromSeconds(60), CancellationToken.None));
        solving.Start();
        var before = 0;
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(0.5) && solving.IsAlive) { before = Math.Max(before, cores.Used); Thread.Sleep(5); }
        Assert.True(solving.IsAlive, "the sub-problem was solved before the second core was freed; the test needs a harder one");
        Assert.Equal(2, before); // nothing borrowed while every core is held
        cores.Release();
        var after = 0;
        while (solving.IsAlive) { after = Math.Max(after, cores.Used); Thread.Sleep(5); }
        Assert.Equal(2, after); // the freed core was borrowed by a joining solver
        Assert.Equal(SubProblemOutcome.Proved, result!.Outcome);
        Assert.Equal(1, cores.Used); // and given back when the race ended
    }

    [Trait("Speed", "Slow")]
    [Fact]
    public void TheSearchBesideTheProofsFindsTheWitnessAndStopsThem()
    {
        // 256x2 around MNIST row 0, ±0.0025, δ = 0.06: the quick search misses, the bounds leave pairs open, and the full
        // search finds a witness after a second or two (it needs the ends of the input-code cells: moving pixels to their
        // bounds only, it did not find one in 15 s), while the MILPs would need far longer (unknown after 15 s).
        const double delta = 0.06;
        var box = BallAroundRow(0, 0.0025);
        var r = Verifier.Verify(G(N), G(Q), box, new VerifyOptions(delta, Strategy.OutputInput, Timeout: TimeSpan.FromSeconds(60)) { Workers = 2 });
        Assert.Equal(Verdict.Falsified, r.Verdict);
        Assert.NotNull(WitnessChecker.Check(G(N), G(Q), r.Witness!.Input, delta));
        Assert.Contains(r.Notes, note => note.Contains("beside the proof stages", StringComparison.Ordinal));
        // Stopped by the witness, not by the 60 s deadline: the proofs alone need far longer. The margin is generous so that
        // a loaded machine (a worker's MILP noticing the stop late) cannot fail it; a proof stage that ignored the stop would.
        Assert.True(r.Timings.Total < r.Timings.Falsify + r.Timings.Bounds + 15,
            $"the run ended {r.Timings.Total - r.Timings.Falsify - r.Timings.Bounds:F2} s after the search's witness");
        // In line the search has its share of the time before any proof: all of it here, so that a loaded machine still
        // reaches the witness (the default 10 % share is a budget, and budgets shrink under load).
        var serial = Verifier.Verify(G(N), G(Q), box, new VerifyOptions(delta, Strategy.OutputInput, Timeout: TimeSpan.FromSeconds(120))
        {
            Workers = 2,
            SearchAlongside = false,
            FalsifierShare = 1,
            FalsifierCap = TimeSpan.FromSeconds(120),
        });
        Assert.Equal(Verdict.Falsified, serial.Verdict);
        Assert.DoesNotContain(serial.Notes, note => note.Contains("beside the proof stages", StringComparison.Ordinal));
    }

    [Trait("Speed", "Slow")]
    [Fact]
    public void BesideTheProofsTheSearchOverlapsThemWithTheSameVerdict()
    {
        // The pair of ACoreFreedWhileAMilpRunsJoinsItsRaceAndIsGivenBack: verified after a MILP. In line the stages add up
        // to at most the run's time; beside the proofs the search's time overlaps theirs.
        var box = BallAroundRow(1, 0.0015);
        // SCIP without presolve keeps the MILP at a few seconds (with presolve it can take a tenth of one, too short to see
        // an overlap); the test is about the stages' timing, not the solver.
        VerificationReport Run(bool alongside, int workers) => Verifier.Verify(G(N), G(Q), box,
            new VerifyOptions(0.04, Strategy.OutputInput, Timeout: TimeSpan.FromSeconds(120))
            {
                Workers = workers,
                SearchAlongside = alongside,
                Portfolio = true,
                PortfolioConfigurations = [SolverConfiguration.ScipWithoutPresolve],
            });
        double Stages(StageTimings t) => t.Falsify + t.Bounds + t.Milp;
        foreach (var (alongside, workers) in new[] { (true, 2), (false, 2), (true, 1) })
        {
            var r = Run(alongside, workers);
            Assert.Equal(Verdict.Verified, r.Verdict);
            if (alongside && workers > 1)
                Assert.True(Stages(r.Timings) > r.Timings.Total + 0.2, $"stages {Stages(r.Timings):F2} s in a run of {r.Timings.Total:F2} s: no overlap");
            else
                Assert.True(Stages(r.Timings) <= r.Timings.Total + 0.01, $"stages {Stages(r.Timings):F2} s in a run of {r.Timings.Total:F2} s: one worker must not overlap");
        }
    }

    [Trait("Speed", "Slow")]
    [Fact]
    public void AZeroLpBudgetSwitchesEveryLpOffIncludingThePieces()
    {
        // 256x2 around MNIST row 1, ±0.0015, δ = 0.06: the interval bounds leave pairs that the LP relaxation proves.
        var box = BallAroundRow(1, 0.0015);
        VerificationReport Run(TimeSpan lp) => Verifier.Verify(G(N), G(Q), box,
            // A deadline far beyond the run's few seconds: on a loaded machine a tight one would turn the verdict into unknown.
            new VerifyOptions(0.06, Strategy.OutputInput, Timeout: TimeSpan.FromSeconds(600)) { Workers = 1, DifferentialBounds = false, LpBudget = lp });
        var with = Run(VerifyOptions.DefaultLpBudget);
        var without = Run(TimeSpan.Zero);
        Assert.Equal(Verdict.Verified, with.Verdict);
        Assert.Equal(Verdict.Verified, without.Verdict);
        Assert.Contains(with.SubProblems, r => r.Solver == "lp");
        Assert.DoesNotContain(without.SubProblems, r => r.Solver == "lp");
        Assert.DoesNotContain(without.Notes, note => note.StartsWith("LP tightening", StringComparison.Ordinal));
        Assert.Contains(without.SubProblems, r => r.DecidedBy == DecidedBy.Milp); // what the LP proved, a MILP had to
    }

    [Fact]
    public void ProgressFollowsTheEngineAndTheJsonHasOneRecordPerSubProblem()
    {
        // Millisecond limits force real splits; every sub-problem that existed must appear once, split ones included.
        var pair = VerificationTests.CrossCheckNetwork(5);
        var box = TestNetworks.RandomBox(new Random(3), pair.Float.InputSize, maxRadius: 0.2, lo: 0.1, hi: 0.9);
        var snapshots = new List<VerificationProgress>();
        var r = Verifier.Verify(G(pair.Float), G(pair.Quantized), box, new VerifyOptions(1e-4, Strategy.OutputInput, Timeout: TimeSpan.FromSeconds(20))
        {
            FalsifierCap = TimeSpan.Zero,
            Workers = 2,
            InitialTimeout = TimeSpan.FromMilliseconds(1),
            MaxDepth = 4,
            BranchBudget = TimeSpan.Zero, // the engine's splits are under test, not the branch and bound before them
            Progress = p => { lock (snapshots) snapshots.Add(p); },
        });
        Assert.Equal("falsify", snapshots[0].Stage);
        var engine = snapshots.Where(s => s.Engine is not null).Select(s => s.Engine!).ToList();
        Assert.Equal(0, engine[0].Attempts); // the engine stage announces itself before its first attempt
        Assert.Equal(r.Engine!.Attempts.Count + 1, engine.Count);
        Assert.Equal(r.Engine.Attempts.Count, engine.Max(e => e.Attempts));
        Assert.Contains(r.Engine.Attempts, a => a.Children > 0);

        var records = VerifyCommand.SubProblemRecords(r).Select(o => JsonSerializer.SerializeToElement(o)).ToList();
        var ids = records.Select(e => e.GetProperty("id").GetInt32()).ToList();
        Assert.Equal(ids.Count, ids.Distinct().Count());
        var splits = records.Where(e => e.GetProperty("outcome").GetString() == "split").ToList();
        Assert.Equal(r.Engine.Attempts.Count(a => a.Children > 0), splits.Count);
        Assert.Equal(r.SubProblems.Count + splits.Count, records.Count);
        // Every parent named is itself a record (roots' parents are the (output, sign) pairs, which are records when decided
        // before the engine, or the ids 0 … 2m−1 that stage 2 cut).
        var known = ids.Concat(Enumerable.Range(0, 2 * pair.Float.OutputSize)).ToHashSet();
        Assert.All(records, e => Assert.True(e.GetProperty("parent").ValueKind == JsonValueKind.Null || known.Contains(e.GetProperty("parent").GetInt32())));
        Assert.All(splits, e => Assert.True(e.GetProperty("children").GetInt32() >= 1)); // 1: retried on its own box
    }

    [Fact]
    public void TheProgressLineSaysWhatIsDoneAndWhatIsOpen()
    {
        var line = Cli.ProgressDisplay.Describe(new VerificationProgress("engine", TimeSpan.FromSeconds(3.2), 0.0123,
            new EngineSnapshot(12, 9, 5, 2, 1, 0.634, false, TimeSpan.FromSeconds(2))));
        foreach (var part in new[] { "3.2 s", "engine", "12 done", "5 queued", "2 running", "9 proved", "1 open", "63.4", "0.0123" })
            Assert.Contains(part, line);
    }

    [Trait("Speed", "Slow")]
    [Fact]
    public void AJobResumedFromATruncatedLogReachesTheSameVerdictWithoutRedoingWhatItLists()
    {
        // A verifiable instance cut into output-code pieces that need real MILPs; the first run logs every attempt.
        var pair = VerificationTests.CrossCheckNetwork(5);
        var box = TestNetworks.RandomBox(new Random(3), pair.Float.InputSize, maxRadius: 0.2, lo: 0.1, hi: 0.9);
        var delta = MaxError.Analyse(G(pair.Float), G(pair.Quantized), box, new MaxErrorOptions(1e-6, TimeSpan.FromSeconds(60))).Upper * 1.2 + 1e-3;
        var log = Path.Combine(Path.GetTempPath(), $"qequiv-resume-{Guid.NewGuid():N}.jsonl");
        try
        {
            var options = new VerifyOptions(delta, Strategy.OutputInput, Timeout: TimeSpan.FromSeconds(60))
            {
                FalsifierCap = TimeSpan.Zero,
                Workers = 2,
                OutputPieces = 8,
                LpBudget = TimeSpan.Zero,
                Log = log,
            };
            var first = Verifier.Verify(G(pair.Float), G(pair.Quantized), box, options);
            var lines = File.ReadAllLines(log);
            Assert.Equal(first.Engine!.Attempts.Count + 1, lines.Length); // the plan, then one line per attempt
            Assert.True(first.Engine.Attempts.Count >= 4, $"only {first.Engine.Attempts.Count} attempts: the instance does not exercise resuming");

            // "Kill" the run halfway: keep the plan and half the attempts, and tear the next line as a crash mid-write would.
            var kept = (lines.Length - 1) / 2;
            File.WriteAllText(log, string.Join('\n', lines.Take(1 + kept)) + "\n" + lines[1 + kept][..(lines[1 + kept].Length / 2)]);
            var done = lines.Skip(1).Take(kept).Select(l => JsonSerializer.Deserialize<LedgerEntry>(l, JobPlan.Json)!.Attempt.ItemId).ToHashSet();
            var second = Verifier.Verify(G(pair.Float), G(pair.Quantized), box, options);
            Assert.Equal(first.Verdict, second.Verdict);
            Assert.Equal(kept, second.Engine!.Resumed);
            Assert.Contains(second.Notes, note => note.Contains("resumed the job"));
            var fresh = second.Engine.Attempts.Where(a => !a.Resumed).ToList();
            Assert.DoesNotContain(fresh, a => done.Contains(a.SubProblemId));
            Assert.Equal(Verdict.Verified, second.Verdict);
            Assert.Equal(1.0, second.Engine.ProvedVolume, 9);

            // A log is only resumed by its own job: another δ is refused, naming the log.
            var e = Assert.Throws<BadInputException>(() => Verifier.Verify(G(pair.Float), G(pair.Quantized), box, options with { Delta = delta * 2 }));
            Assert.Contains(log, e.Message);

            // A plan that lost a piece would leave codes of some (output, sign) unanswered: refused, not verified.
            var plan = JobPlan.FromJson(lines[0]);
            File.WriteAllText(log, (plan with { Pieces = plan.Pieces.Skip(1).ToList() }).ToJson() + "\n");
            var gap = Assert.Throws<BadInputException>(() => Verifier.Verify(G(pair.Float), G(pair.Quantized), box, options));
            Assert.Contains("partly unanswered", gap.Message);
        }
        finally
        {
            File.Delete(log);
        }
    }
}
