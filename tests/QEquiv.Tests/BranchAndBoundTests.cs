using QEquiv.Branching;
using QEquiv.Falsification;
using QEquiv.Regions;
using QEquiv.Verification;
using Xunit.Abstractions;

namespace QEquiv.Tests;

public class BranchAndBoundTests(ITestOutputHelper output)
{
    private static List<Goal> AllGoals(int outputs) =>
        Enumerable.Range(0, outputs).SelectMany(j => new[] { new Goal(j, 1), new Goal(j, -1) }).ToList();

    /// <summary>
    /// Against brute force on many small random pairs and boxes: the branch and bound's verdict never contradicts the
    /// monolithic MILP's (a proof where the MILP re-executed a witness, or a witness where it proved the property), and
    /// every witness it returns re-executes to a violation. δ is set on both sides of each box's maximum error.
    /// </summary>
    [Trait("Speed", "Slow")]
    [Fact]
    public void NeverContradictsTheMonolithicMilpOnSmallRandomPairs()
    {
        int proved = 0, violated = 0, open = 0, compared = 0;
        for (var seed = 0; seed < 12; seed++)
        {
            var pair = TestNetworks.Random(300 + seed, seed % 3 == 0 ? [3, 6, 5, 2] : [2, 5, 4, 2], withRequantize: seed % 4 == 1, outputBias: seed % 2 == 0);
            var (n, q) = (pair.Reference, pair.Other);
            var rng = new Random(seed);
            var box = TestNetworks.RandomBox(rng, n.InputSize, maxRadius: 0.2, lo: 0.0, hi: 1.0);
            // Only a scale for δ (0.8× and 1.25× its certified side): a 5 % gap.
            var max = MaxError.Analyse(n, q, box, new MaxErrorOptions(RelativeGap: 0.05, Timeout: TimeSpan.FromSeconds(60)) { Workers = 1 });
            foreach (var factor in new[] { 0.8, 1.25 })
            {
                var delta = Math.Max(1e-3, factor * max.Upper);
                var problem = new EquivalenceBranching(n, q, differential: true);
                // A node cap rather than a time budget: the same tree on a loaded machine, and an open search ends in a second.
                var r = BranchAndBound.Run(problem, box, AllGoals(n.OutputSize), delta, new BranchOptions(TimeSpan.FromSeconds(60), MaxNodes: 20_000, Candidates: 16));
                var brute = Verifier.Verify(n, q, box, new VerifyOptions(delta, Strategy.Monolithic, Timeout: TimeSpan.FromSeconds(120)));
                switch (r.Outcome)
                {
                    case BranchOutcome.Proved:
                        proved++;
                        Assert.NotEqual(Verdict.Falsified, brute.Verdict);
                        break;
                    case BranchOutcome.Violated:
                        violated++;
                        Assert.NotNull(WitnessChecker.Check(n, q, r.Witness!, delta));
                        Assert.NotEqual(Verdict.Verified, brute.Verdict);
                        break;
                    default:
                        open++;
                        break;
                }
                if (brute.Verdict != Verdict.Unknown && r.Outcome != BranchOutcome.Open) compared++;
            }
        }
        output.WriteLine($"branch and bound: {proved} proved, {violated} violated, {open} open; {compared} compared with a decided MILP");
        Assert.True(proved > 0 && violated > 0, "the instances must exercise both outcomes");
        Assert.True(compared >= 12, $"only {compared} verdicts were compared");
    }

    /// <summary>
    /// Every (box, goal) the search prunes is checked by sampling: a hundred float32 points of each pruned box re-executed
    /// on both networks stay below δ and below the bound that pruned them.
    /// </summary>
    [Trait("Speed", "Slow")]
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    public void EveryPrunedNodeHoldsItsBoundAtSampledPoints(int network)
    {
        var pair = VerificationTests.CrossCheckNetwork(network);
        var (n, q) = (pair.Reference, pair.Other);
        var rng = new Random(network + 40);
        // A box whose bounds are well above its certified maximum error (a MILP's), and δ between the two: the property
        // holds, the root is not proved at once, so the search must cut and prune below it.
        Box box;
        double rootUpper, certified;
        do
        {
            box = TestNetworks.RandomBox(rng, n.InputSize, maxRadius: 0.25, lo: 0.0, hi: 1.0);
            rootUpper = new EquivalenceBranching(n, q, true).Upper(box, AllGoals(n.OutputSize)).Max();
            // Any certified upper bound will do (δ only has to lie between a sound bound and the root's): a 2 % gap, not 0.
            certified = MaxError.Analyse(n, q, box, new MaxErrorOptions(RelativeGap: 0.02, Timeout: TimeSpan.FromSeconds(60)) { Workers = 1 }).Upper;
        } while (!(rootUpper > 1.2 * certified));
        var delta = certified + 0.5 * (rootUpper - certified);
        var pruned = new List<(Box Box, Goal Goal, double Upper)>();
        var r = BranchAndBound.Run(new EquivalenceBranching(n, q, true), box, AllGoals(n.OutputSize), delta,
            new BranchOptions(TimeSpan.FromSeconds(10), MaxNodes: 400, Candidates: 16) { Pruned = (b, g, u) => pruned.Add((b, g, u)) });
        output.WriteLine($"network {network}: {r.Outcome}, {r.Nodes} bounds, depth {r.MaxDepth}, {pruned.Count} pruned (box, goal)");
        Assert.NotEmpty(pruned);
        Assert.Contains(pruned, p => p.Box.VolumeFractionOf(box) < 1); // some pruning happened below the root
        foreach (var (b, g, upper) in pruned)
        {
            Assert.True(upper < delta);
            for (var k = 0; k < 100; k++)
            {
                var x = TestNetworks.SamplePoint(rng, b);
                var d = g.Sign * WitnessChecker.Evaluate(n, q, x).Differences[g.Output];
                Assert.True(d <= upper, $"goal {g} on {b}: s·Δ = {d} above the bound {upper} that pruned it");
            }
        }
    }

    /// <summary>
    /// NeuroDiff's property 16 box on ACAS Xu 1_1 against its float16 copy, every output: a cut scored by its worse half
    /// alone kept cutting the box's one narrow input (59 deep, 42 % proved in 30 s); the product of both halves' gains
    /// proves it in about 540 bounds. A node cap, not a time: the same tree on a loaded machine.
    /// </summary>
    [Trait("Speed", "Slow")]
    [Fact]
    public void TheProductScoreProvesNeuroDiffsProperty16BoxOnAcasXuAgainstItsFloat16Copy()
    {
        var (n, q) = TestData.NeuroDiffPair("1_1");
        var (lo, hi) = TestData.NeuroDiffBox("p16");
        var box = new Box(lo, hi);
        var pruned = new List<(Box Box, Goal Goal, double Upper)>();
        var r = BranchAndBound.Run(new EquivalenceBranching(n, q, true), box, AllGoals(n.OutputSize), 0.05,
            new BranchOptions(TimeSpan.FromHours(1), MaxNodes: 1500, Candidates: EquivalenceBranching.SmallDimension) { Pruned = (b, g, u) => pruned.Add((b, g, u)) });
        output.WriteLine($"{r.Outcome}: {r.Nodes} bounds, depth {r.MaxDepth}");
        Assert.Equal(BranchOutcome.Proved, r.Outcome);
        var rng = new Random(16);
        foreach (var (b, g, upper) in pruned.Take(200))
        {
            var x = TestNetworks.SamplePoint(rng, b);
            Assert.True(g.Sign * WitnessChecker.Evaluate(n, q, x).Differences[g.Output] <= upper);
        }
    }

    /// <summary>
    /// The verifier's setting on small boxes: one cut per node, on the input whose width makes up most of the node's
    /// bounds (the symbolic pass's |coefficient| × width). On NeuroDiff's property 1 box of ACAS Xu 1_4 against its
    /// float16 copy it proves output 0 at ε = 0.05 in about 250 bounds, where strong branching over all five inputs had
    /// proved 78 % after 4000. A node cap, not a time.
    /// </summary>
    [Trait("Speed", "Slow")]
    [Fact]
    public void OneCutPerNodeProvesNeuroDiffsProperty1BoxOnAcasXu1_4()
    {
        var (n, q) = TestData.NeuroDiffPair("1_4");
        var (lo, hi) = TestData.NeuroDiffBox("p1");
        var box = new Box(lo, hi);
        var pruned = new List<(Box Box, Goal Goal, double Upper)>();
        var r = BranchAndBound.Run(new EquivalenceBranching(n, q, true), box, [new Goal(0, 1), new Goal(0, -1)], 0.05,
            new BranchOptions(TimeSpan.FromHours(1), MaxNodes: 1200, Candidates: 1) { Pruned = (b, g, u) => pruned.Add((b, g, u)) });
        output.WriteLine($"{r.Outcome}: {r.Nodes} bounds, depth {r.MaxDepth}");
        Assert.Equal(BranchOutcome.Proved, r.Outcome);
        var rng = new Random(1);
        foreach (var (b, g, upper) in pruned.OrderBy(_ => rng.Next()).Take(200))
        {
            var x = TestNetworks.SamplePoint(rng, b);
            Assert.True(g.Sign * WitnessChecker.Evaluate(n, q, x).Differences[g.Output] <= upper);
        }
    }

    /// <summary>On a box of a few inputs the search proves what the bounds of the whole box cannot.</summary>
    [Fact]
    public void SplittingProvesWhatTheWholeBoxBoundsCannot()
    {
        var pair = VerificationTests.CrossCheckNetwork(0);
        var (n, q) = (pair.Reference, pair.Other);
        var box = TestNetworks.RandomBox(new Random(3), n.InputSize, maxRadius: 0.2, lo: 0.1, hi: 0.9);
        var problem = new EquivalenceBranching(n, q, true);
        var goals = AllGoals(n.OutputSize);
        var rootUpper = problem.Upper(box, goals).Max();
        var sampled = Enumerable.Range(0, 3000).Select(_ => WitnessChecker.Evaluate(n, q, TestNetworks.SamplePoint(new Random(_), box)).MaxAbsDifference).Max();
        // Between the sampled maximum and the root's bound, nearer the former: true, and beyond the root's bounds.
        var delta = sampled + 0.3 * (rootUpper - sampled);
        var r = BranchAndBound.Run(problem, box, goals, delta, new BranchOptions(TimeSpan.FromSeconds(60), Candidates: 16));
        output.WriteLine($"root bound {rootUpper:G4}, sampled max {sampled:G4}, δ {delta:G4}: {r.Outcome} after {r.Nodes} bounds, depth {r.MaxDepth}");
        if (r.Outcome == BranchOutcome.Violated) Assert.NotNull(WitnessChecker.Check(n, q, r.Witness!, delta));
        Assert.True(r.Nodes > 1);
        Assert.All(r.ProvedVolume.Values, v => Assert.InRange(v, 0, 1 + 1e-9));
        if (r.Outcome == BranchOutcome.Proved) Assert.All(r.ProvedVolume.Values, v => Assert.True(v > 1 - 1e-6));
        Assert.True(r.ProvedVolume.Values.Average() > 0.5, "splitting proved less than half the volume");
    }

    /// <summary>A problem whose bounds are given as a function of the box, with no witness anywhere (the centres miss it).</summary>
    private sealed class Synthetic(Func<Box, double> upper) : IBranchingProblem
    {
        public double[] Upper(Box box, IReadOnlyList<Goal> goals) => goals.Select(_ => upper(box)).ToArray();
        public float[]? Witness(Box box, IReadOnlyList<Goal> goals, double delta) => null;
        public double SplitPoint(Box box, int dimension) => (box.Lo[dimension] + box.Hi[dimension]) / 2;
        public IReadOnlyList<int> Candidates(Box box, IReadOnlyList<Goal> goals, int count) => [.. Enumerable.Range(0, box.Dimension).Take(count)];
    }

    /// <summary>
    /// The stall window ends a search whose largest gap stops falling deep in the tree (bounds converged above δ: a violation
    /// the centres missed), long before its node cap, and lets a search whose gap only plateaus at a shallow level while it
    /// cuts many equal boxes run on to its proof.
    /// </summary>
    [Fact]
    public void TheStallWindowEndsOnlyASearchWhoseGapStopsFalling()
    {
        var box = new Box([0.0, 0.0], [1.0, 1.0]);
        Goal[] goals = [new(0, 1)];
        var options = new BranchOptions(TimeSpan.FromMinutes(1), MaxNodes: 100_000, Candidates: 2) { StallWindow = 200 };

        // f = 0.7 − x₀ − x₁ bounded by its value at the low corner plus half the widths: the bounds converge to max f = 0.7 > δ =
        // 0.5 at (0, 0), so the gap falls towards 0.2 and then barely moves.
        var stuck = BranchAndBound.Run(new Synthetic(b => 0.7 - b.Lo.Sum() + 0.5 * (b.Width(0) + b.Width(1))), box, goals, 0.5, options);
        Assert.Equal(BranchOutcome.Open, stuck.Outcome);
        Assert.True(stuck.Stalled);
        Assert.InRange(stuck.Nodes, 200, 5_000);
        Assert.True(stuck.MaxDepth >= 20, $"stopped at depth {stuck.MaxDepth}, before 10 cuts per input");

        // Proved once every box is narrower than 0.05: ~1 000 equal boxes per level, over which the head gap does not move.
        var proving = BranchAndBound.Run(new Synthetic(b => 0.45 + Math.Max(b.Width(0), b.Width(1))), box, goals, 0.5, options);
        Assert.Equal(BranchOutcome.Proved, proving.Outcome);
        Assert.False(proving.Stalled);

        // Without the window the stuck search runs to its node cap.
        var capped = BranchAndBound.Run(new Synthetic(b => 0.7 - b.Lo.Sum() + 0.5 * (b.Width(0) + b.Width(1))), box, goals, 0.5,
            options with { MaxNodes = 20_000, StallWindow = 0 });
        Assert.False(capped.Stalled);
        Assert.True(capped.Nodes >= 20_000);
    }
}
