using QEquiv.Equivalence;
using QEquiv.Falsification;
using QEquiv.Quantization;
using QEquiv.Regions;
using QEquiv.Scheduling;
using QEquiv.Solvers;
using QEquiv.Verification;

namespace QEquiv.Tests;

public class SubProblemTests
{
    private static readonly Box Unit2 = Box.Create([0, 0], [1, 1], "t");

    [Fact]
    public void CreateValidatesTheQuestion()
    {
        var box = Box.Create([0], [1], "t");
        var s = SubProblem.Create(3, 1, -1, box, 0.05, 2, 1);
        Assert.Equal((3, 1, -1, 0.05, 2, (int?)1), (s.Id, s.Output, s.Sign, s.Delta, s.Depth, s.Parent));
        Assert.Throws<ArgumentException>(() => SubProblem.Create(0, 0, 0, box, 0.05));
        Assert.Throws<ArgumentException>(() => SubProblem.Create(0, -1, 1, box, 0.05));
        Assert.Throws<ArgumentException>(() => SubProblem.Create(0, 0, 1, box, 0));
        Assert.Throws<ArgumentException>(() => SubProblem.Create(0, 0, 1, box, double.PositiveInfinity));

        var r = new SubProblemResult(s, DecidedBy.Bounds, SubProblemOutcome.Proved, 0.01);
        Assert.Null(r.Solver);
        Assert.Null(r.Witness);
    }

    [Fact]
    public void APieceCrossesTheEngineAsAnOpaqueItemAndComesBackUnchanged()
    {
        var p = SubProblem.Create(7, 3, -1, Unit2, 0.0125, 2, 4) with { Timeout = TimeSpan.FromSeconds(7.5), Codes = new CodeRange(-3, 12) };
        var item = p.ToWorkItem();
        Assert.Equal((7, (int?)4, 2, Unit2, (TimeSpan?)TimeSpan.FromSeconds(7.5)), (item.Id, item.Parent, item.Depth, item.Box, item.Timeout));
        Assert.Equal(p, SubProblem.Of(item));
        // A child the engine makes keeps the payload on its half box: the same question there.
        var (half, _) = Unit2.Bisect(0);
        var child = SubProblem.Of(item with { Id = 9, Parent = 7, Depth = 3, Box = half });
        Assert.Equal(p with { Id = 9, Parent = 7, Depth = 3, Box = half }, child);
        // Equal items are equal byte for byte, which is how the ledger matches an answer to its question.
        Assert.Equal(item, p.ToWorkItem());
        Assert.NotEqual(item, (p with { Codes = new CodeRange(-3, 11) }).ToWorkItem());

        var witness = new Witness([0.25f, 0.5f], [1.0, 2.0], [0.5f, 2.5f], 1, -0.5, 0.5, [1f, 2f], [1e-6, double.PositiveInfinity]);
        var answer = new SubProblemResult(p, DecidedBy.Milp, SubProblemOutcome.Violated, 1.5, "scip", "Feasible", 0.7, double.PositiveInfinity, 12, witness);
        var work = answer.ToWork(item);
        Assert.Same(item, work.Item);
        Assert.Equal(WorkOutcome.Violated, work.Outcome);
        Assert.NotNull(work.Witness);
        var back = SubProblemResult.Of(work);
        Assert.Equal(answer with { Witness = null }, back with { Witness = null });
        Assert.Equal(witness.Input, back.Witness!.Input);
        Assert.Equal(witness.Float32Error, back.Witness.Float32Error);
        Assert.Equal(witness.MaxAbsDifference, back.Witness.MaxAbsDifference);

        // What the engine makes of an item it never gave a solver reads back as open.
        var never = SubProblemResult.Of(WorkResult.Open(item));
        Assert.Equal((DecidedBy.Open, SubProblemOutcome.Unknown, (string?)null), (never.DecidedBy, never.Outcome, never.Solver));
        Assert.Throws<InvalidDataException>(() => SubProblem.Of(item with { Payload = [1, 2, 3] }));
    }

    private sealed class RuleSolver(Func<SubProblem, SubProblemOutcome> rule) : ISubProblemSolver
    {
        public SubProblemResult Solve(SubProblem problem, TimeSpan timeout, CancellationToken cancellation)
        {
            var outcome = rule(problem);
            var witness = outcome == SubProblemOutcome.Violated ? new Witness([0.9f, 0.9f], [1.0], [0f], problem.Output, problem.Sign, 1.0) : null;
            return new SubProblemResult(problem, outcome == SubProblemOutcome.Unknown ? DecidedBy.Open : DecidedBy.Milp, outcome, 0, Witness: witness);
        }
    }

    [Fact]
    public void AnUnknownRunReportsPerOutputAndSignWhatItProved()
    {
        // (0, +) proved at once; (0, −) proved on the half x0 ≥ 0.5 only, the rest open at the depth limit; (1, +) is cut into
        // two code pieces, one settled by the bounds before the engine and one the engine proves on a quarter of the box;
        // (1, −) was never handed to the engine and is open.
        var roots = new List<SubProblem>
        {
            SubProblem.Create(0, 0, 1, Unit2, 0.1),
            SubProblem.Create(1, 0, -1, Unit2, 0.1),
            SubProblem.Create(6, 1, 1, Unit2, 0.1, parent: 2) with { Codes = new CodeRange(0, 9) },
        };
        var run = SubProblemWork.Run(new RuleSolver(p =>
                p.Output == 0 && p.Sign > 0 ? SubProblemOutcome.Proved
                : p.Output == 0 && p.Box.Lo[0] >= 0.5 ? SubProblemOutcome.Proved
                : p.Output == 1 && p.Box.Lo[0] >= 0.5 && p.Box.Lo[1] >= 0.5 ? SubProblemOutcome.Proved
                : SubProblemOutcome.Unknown),
            new EngineOptions(2, TimeSpan.FromSeconds(5), MaxDepth: 2), roots);
        var settled = new SubProblemResult(SubProblem.Create(4, 1, 1, Unit2, 0.1, parent: 2) with { Codes = new CodeRange(10, 20) },
            DecidedBy.Bounds, SubProblemOutcome.Proved, 0);
        var never = new SubProblemResult(SubProblem.Create(3, 1, -1, Unit2, 0.1), DecidedBy.Open, SubProblemOutcome.Unknown, 0);
        var leaves = new[] { settled, never }.Concat(run.Proved).Concat(run.Open).ToList();
        var report = new VerificationReport(Verdict.Unknown, 0.1, Strategy.OutputInput, "scip", null, leaves, new StageTimings(0, 0, 0, 0), [], [])
        {
            Engine = run,
        };

        var pairs = report.Pairs.ToDictionary(p => (p.Output, p.Sign));
        Assert.Equal(4, pairs.Count);
        Assert.Equal(new PairProgress(0, 1, PairStatus.Proved, 1), pairs[(0, 1)]);
        Assert.Equal(PairStatus.Open, pairs[(0, -1)].Status);
        Assert.Equal(0.5, pairs[(0, -1)].ProvedVolume, 12);
        Assert.Equal(PairStatus.Open, pairs[(1, 1)].Status);
        Assert.Equal(0.25, pairs[(1, 1)].ProvedVolume, 12); // the settled code range leaves nothing unproved of its own
        Assert.Equal(new PairProgress(1, -1, PairStatus.Open, 0), pairs[(1, -1)]);
        Assert.Equal([(0, 1), (0, -1), (1, 1), (1, -1)], report.Pairs.Select(p => (p.Output, p.Sign)));

        // A witness marks its pair violated; the verdict then is falsified, but the pairs still say what was proved.
        var violated = SubProblemWork.Run(new RuleSolver(p => p.Output == 0 && p.Sign < 0 ? SubProblemOutcome.Violated : SubProblemOutcome.Proved),
            new EngineOptions(1, TimeSpan.FromSeconds(5)), roots.Take(2).ToList());
        var falsified = report with
        {
            Verdict = Verdict.Falsified,
            SubProblems = violated.Proved.Concat(violated.Open).Append(violated.Violation!).ToList(),
            Engine = violated,
        };
        Assert.Equal(PairStatus.Violated, falsified.Pairs.Single(p => p.Output == 0 && p.Sign < 0).Status);
        Assert.Equal(PairStatus.Proved, falsified.Pairs.Single(p => p.Output == 0 && p.Sign > 0).Status);
    }

    [Fact]
    public void AJobLogOfTheEarlierFormatIsRefusedInOneLine()
    {
        var settings = new JobSettings([SolverConfiguration.Plain(MilpBackend.Highs)], false, JobSettings.WidestSplit, true,
            TimeSpan.FromSeconds(5), 1.5, 1, MaxDepth: 2, RetryFactor: 3);
        var plan = new JobPlan("job", Unit2, 0.1, [SubProblem.Create(0, 0, 1, Unit2, 0.1)], [], [], [], settings);
        Assert.Equal(JobPlan.CurrentLogFormat, JobPlan.FromJson(plan.ToJson()).LogFormat);

        var path = Path.Combine(Path.GetTempPath(), $"qequiv-old-log-{Guid.NewGuid():N}.jsonl");
        try
        {
            // Format 1 had no number on its plan line.
            var old = System.Text.Json.Nodes.JsonNode.Parse(plan.ToJson())!.AsObject();
            Assert.True(old.Remove("LogFormat"));
            File.WriteAllText(path, old.ToJsonString() + "\n");
            var e = Assert.Throws<BadInputException>(() => JobLog.Read(path));
            Assert.StartsWith(path, e.Message);
            Assert.Contains("job log format 1", e.Message);
            Assert.Contains("give a new log path", e.Message);
            Assert.DoesNotContain('\n', e.Message);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
