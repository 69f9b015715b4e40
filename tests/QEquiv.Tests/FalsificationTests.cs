using QEquiv.Falsification;
using QEquiv.Networks;
using QEquiv.Quantization;
using QEquiv.Regions;

namespace QEquiv.Tests;

/// <summary>
/// Hand-built pairs whose differences are known in closed form. Scales are powers of two so every
/// float32 step is exact and the expected values can be written down.
/// </summary>
public class FalsificationTests
{
    /// <summary>N(x) = x; Q(x) = roundHalfEven(x / 0.25)·0.25, so N − Q is a sawtooth with |·| ≤ 0.125, reached at ties.</summary>
    private static (FloatNetwork, QuantizedNetwork) Identity1D()
    {
        var n = new FloatNetwork("n", [1], [new DenseLayer(1, 1, [1.0], [0.0], Activation.None)]);
        var p = new QuantParams(0.25f, 0, QuantType.Int8);
        var d = new QuantizedDense(1, 1, p, [1], QuantType.Int8, [1f], [0], [0], p, relu: false);
        return (n, new QuantizedNetwork("q", [1], 1, p, [d]));
    }

    /// <summary>
    /// N(x) = Σ x_i over 20 inputs in [0,1]. Q has inputs at scale 1/64 (uint8), weight code w at scale 1/4,
    /// output scale 1/8, so M = 1/32 and Q(x) = round(Σ 64x_i·w/32)/8 ≈ (w/4)·Σ x_i. With w = 5, N − Q ≈ −0.25·Σ x_i
    /// reaching −5 only at the all-ones corner; with w = 4 only quantization error remains (≤ 20/128 + 1/16).
    /// </summary>
    private static (FloatNetwork, QuantizedNetwork) Sum20(int weightCode)
    {
        const int n = 20;
        var net = new FloatNetwork("n", [n], [new DenseLayer(n, 1, Enumerable.Repeat(1.0, n).ToArray(), [0.0], Activation.None)]);
        var input = new QuantParams(1f / 64, 0, QuantType.UInt8);
        var output = new QuantParams(1f / 8, 0, QuantType.UInt8);
        var d = new QuantizedDense(n, 1, input, Enumerable.Repeat(weightCode, n).ToArray(), QuantType.Int8, [0.25f], [0], [0], output, relu: false);
        return (net, new QuantizedNetwork("q", [n], n, input, [d]));
    }

    private static Box Unit(int n) => Box.Create(new double[n], Enumerable.Repeat(1.0, n).ToArray(), "test");

    [Fact]
    public void CheckerComputesTheHandValues()
    {
        var (n, q) = Identity1D();
        // 0.125/0.25 = 0.5 rounds to even 0: Q = 0, N − Q = +0.125.
        var w = WitnessChecker.Check(G(n), G(q), [0.125f], 0.1);
        Assert.NotNull(w);
        Assert.Equal(0, w.Output);
        Assert.Equal(0.125, w.Difference);
        Assert.Equal(0.125, w.MaxAbsDifference);
        Assert.Equal(new[] { 0.125 }, w.FloatOutput);
        Assert.Equal(new[] { 0f }, w.QuantOutput);
        Assert.Equal(new[] { 0.125f }, w.Input);
        // 1.5 rounds to 2: Q = 0.5, N − Q = −0.125.
        var neg = WitnessChecker.Check(G(n), G(q), [0.375f], 0.1);
        Assert.NotNull(neg);
        Assert.Equal(-0.125, neg.Difference);
        // N runs in double on the float32 input: 0.3f is 0.30000001192…, Q = 0.25.
        var e = WitnessChecker.Evaluate(G(n), G(q), [0.3f]);
        Assert.Equal((double)0.3f - 0.25, e.Differences[0]);
        Assert.Null(WitnessChecker.Check(G(n), G(q), [0.3f], 0.06));
    }

    [Fact]
    public void CheckerCountsEqualityAsAViolation()
    {
        var (n, q) = Identity1D();
        // ‖N − Q‖ < δ is the property, so a difference of exactly δ refutes it — the least difference over N's float32
        // evaluations and real arithmetic, |N − Q| minus N's float32 error bound (tiny here, but not zero).
        var guaranteed = WitnessChecker.Check(G(n), G(q), [0.125f], 0.1)!.GuaranteedAbsDifference;
        Assert.InRange(guaranteed, 0.125 - 1e-7, 0.125 - 1e-9);
        Assert.NotNull(WitnessChecker.Check(G(n), G(q), [0.125f], guaranteed));
        Assert.Null(WitnessChecker.Check(G(n), G(q), [0.125f], Math.BitIncrement(guaranteed)));
        // A difference of exactly δ in double is no longer enough: a float32 runtime's N might fall short of it.
        Assert.Null(WitnessChecker.Check(G(n), G(q), [0.125f], 0.125));
    }

    [Fact]
    public void CheckerRejectsBadArguments()
    {
        var (n, q) = Identity1D();
        Assert.Throws<ArgumentOutOfRangeException>(() => WitnessChecker.Check(G(n), G(q), [0f], 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => WitnessChecker.Check(G(n), G(q), [0f], double.NaN));
        Assert.Throws<ArgumentException>(() => WitnessChecker.Check(G(n), G(q), [0f, 1f], 0.1));
        var (n20, _) = Sum20(4);
        Assert.Throws<ArgumentException>(() => WitnessChecker.Check(G(n20), G(q), [0f], 0.1));
    }

    [Fact]
    public void FalsifierFindsTheSawtoothViolation()
    {
        var (n, q) = Identity1D();
        var box = Unit(1);
        var r = Falsifier.Search(G(n), G(q), box, 0.1, new FalsifierOptions(Seed: 1));
        Assert.Equal(FalsifierStop.WitnessFound, r.Stop);
        var w = Assert.IsType<Witness>(r.Witness);
        Assert.True(w.MaxAbsDifference >= 0.1);
        Assert.True(box.Contains(w.Input));
        // The reported witness must survive an independent re-check.
        Assert.NotNull(WitnessChecker.Check(G(n), G(q), w.Input, 0.1));
    }

    [Fact]
    public void FalsifierReportsNoneBelowDeltaButKeepsTheObservedMaximum()
    {
        var (n, q) = Identity1D();
        var r = Falsifier.Search(G(n), G(q), Unit(1), 0.2, new FalsifierOptions(Seed: 7));
        Assert.Null(r.Witness);
        Assert.Equal(FalsifierStop.Completed, r.Stop);
        Assert.InRange(r.BestMaxAbsDifference, 0.1, 0.125);
        var o = Assert.Single(r.PerOutput);
        Assert.Equal(r.BestMaxAbsDifference, o.MaxAbsDifference);
        Assert.True(o.MaxDifference > 0 && o.MinDifference < 0, "the sawtooth has both signs");
        Assert.Equal(o.MaxAbsDifference, Math.Abs(WitnessChecker.Evaluate(G(n), G(q), o.MaxAbsInput).Differences[0]));
        Assert.True(r.Evaluations >= 500);
    }

    [Fact]
    public void CoordinateSearchReachesTheViolatingCorner()
    {
        var (n, q) = Sum20(5);
        Assert.Equal(-5.0, WitnessChecker.Evaluate(G(n), G(q), Enumerable.Repeat(1f, 20).ToArray()).Differences[0]);

        // Sampling alone cannot reach it: a random corner hits all-ones with probability 2^-20.
        var sampled = Falsifier.Search(G(n), G(q), Unit(20), 4.9, new FalsifierOptions(Seed: 3) { MaxSearchEvaluations = 0, GradientSteps = 0 });
        Assert.Null(sampled.Witness);

        var r = Falsifier.Search(G(n), G(q), Unit(20), 4.9, new FalsifierOptions(Seed: 3) { GradientSteps = 0 });
        var w = Assert.IsType<Witness>(r.Witness);
        Assert.Equal(-5.0, w.Difference);
        Assert.All(w.Input, v => Assert.Equal(1f, v));
        Assert.True(r.Evaluations < 500 + 256 + 1 + 100, $"{r.Evaluations} evaluations: the ascent should need one pass");
    }

    [Fact]
    public void GradientAscentAloneReachesTheViolatingCorner()
    {
        var (n, q) = Sum20(5);
        // Only the centre is sampled and the coordinate-wise search is off: what finds −5 is gradient ascent.
        var only = new FalsifierOptions(Seed: 3, RandomPoints: 0) { RandomCorners = 0, MaxSearchEvaluations = 0 };
        Assert.Null(Falsifier.Search(G(n), G(q), Unit(20), 4.9, only with { GradientSteps = 0 }).Witness);

        var r = Falsifier.Search(G(n), G(q), Unit(20), 4.9, only);
        var w = Assert.IsType<Witness>(r.Witness);
        Assert.Equal(-5.0, w.Difference);
        Assert.All(w.Input, v => Assert.Equal(1f, v));
        Assert.NotNull(WitnessChecker.Check(G(n), G(q), w.Input, 4.9));
        // ∂(Q − N)/∂x_i = 0.25 everywhere, so the first sign step from the centre (½ width) lands on the corner.
        Assert.True(r.Evaluations <= 3, $"{r.Evaluations} evaluations");
    }

    [Fact]
    public void GradientIteratesAreFloat32PointsInsideTheBox()
    {
        for (var seed = 0; seed < 4; seed++)
        {
            var pair = TestNetworks.Random(seed, [6, 8, 5, 3], withRequantize: seed % 2 == 1, signedInput: seed >= 2);
            // Bounds that are not float32 values, so rounding an iterate could step outside; one input pinned.
            var lo = Enumerable.Range(0, 6).Select(i => 0.1 + 0.07 * i).ToArray();
            var hi = lo.Select((v, i) => i == 4 ? v : v + 0.3 + 0.01 * i).ToArray();
            lo[4] = hi[4] = 0.5; // a float32 value
            var box = Box.Create(lo, hi, "t");
            var iterates = new List<float[]>();
            var r = Falsifier.Search(G(pair.Float), G(pair.Quantized), box, 100, new FalsifierOptions(Seed: seed, RandomPoints: 20)
            {
                MaxSearchEvaluations = 0,
                GradientIterateObserver = x => iterates.Add((float[])x.Clone()),
            });
            Assert.Equal(FalsifierStop.Completed, r.Stop);
            Assert.NotEmpty(iterates);
            Assert.True(iterates.Count > 2 * 3 * 3, $"seed {seed}: only {iterates.Count} iterates for 3 outputs × 2 signs × 3 starts");
            foreach (var x in iterates)
            {
                Assert.True(box.Contains(x), $"seed {seed}: iterate [{string.Join(", ", x)}] outside the box");
                Assert.All(x, v => Assert.True(float.IsFinite(v)));
            }
            // Every iterate was evaluated: centre + 2^6 corners + 20 random points + the iterates.
            Assert.Equal(1 + 64 + 20 + iterates.Count, r.Evaluations);
        }
    }

    [Fact]
    public void FalsifierFindsNothingWhenNetworksAgreeWithinDelta()
    {
        var (n, q) = Sum20(4);
        var r = Falsifier.Search(G(n), G(q), Unit(20), 0.5, new FalsifierOptions(Seed: 5));
        Assert.Null(r.Witness);
        Assert.Equal(FalsifierStop.Completed, r.Stop);
        Assert.InRange(r.BestMaxAbsDifference, 1e-12, 20.0 / 128 + 1.0 / 16);
    }

    [Fact]
    public void KeepsSearchingForTheLargestErrorWhenAsked()
    {
        var (n, q) = Sum20(5);
        var r = Falsifier.Search(G(n), G(q), Unit(20), 0.1, new FalsifierOptions(Seed: 2) { StopAtFirstWitness = false });
        Assert.Equal(FalsifierStop.Completed, r.Stop);
        // The all-ones corner gives −5; interior points whose input codes round up do slightly worse
        // (N sees x, Q sees the rounded-up code), up to 20·(½/64) + 1/16 more. Gradient ascent visits them.
        Assert.InRange(r.BestMaxAbsDifference, 5.0, 5.0 + 20 * 0.5 / 64 + 1.0 / 16);
        Assert.Equal(r.BestMaxAbsDifference, r.Witness!.MaxAbsDifference);
        Assert.Equal(-r.BestMaxAbsDifference, r.PerOutput[0].MinDifference);
        Assert.Equal(r.Witness.Difference, WitnessChecker.Evaluate(G(n), G(q), r.Witness.Input).Differences[0]);
        // Coordinate ascent alone only visits bounds and stops at the corner.
        var corners = Falsifier.Search(G(n), G(q), Unit(20), 0.1, new FalsifierOptions(Seed: 2) { StopAtFirstWitness = false, GradientSteps = 0 });
        Assert.Equal(5.0, corners.BestMaxAbsDifference);
    }

    [Fact]
    public void StopsOnBudgetOrCancellation()
    {
        var (n, q) = Sum20(5);
        var timedOut = Falsifier.Search(G(n), G(q), Unit(20), 4.9, new FalsifierOptions(TimeBudget: TimeSpan.Zero));
        Assert.Equal(FalsifierStop.TimeBudget, timedOut.Stop);
        Assert.Equal(0, timedOut.Evaluations);
        Assert.Empty(timedOut.PerOutput);

        using var cts = new CancellationTokenSource();
        cts.Cancel();
        var cancelled = Falsifier.Search(G(n), G(q), Unit(20), 4.9, new FalsifierOptions(CancellationToken: cts.Token));
        Assert.Equal(FalsifierStop.Cancelled, cancelled.Stop);
        Assert.Null(cancelled.Witness);
    }

    [Fact]
    public void CandidatesStayInsideBoxesWithNonFloat32Bounds()
    {
        var (n, q) = Identity1D();
        // 0.1 and 0.3 are not float32 values; (float)0.1 > 0.1 and (float)0.3 > 0.3 would step outside.
        var box = Box.Create([0.1], [0.3], "t");
        var r = Falsifier.Search(G(n), G(q), box, 10, new FalsifierOptions(RandomPoints: 50));
        var o = Assert.Single(r.PerOutput);
        Assert.True(box.Contains(o.MaxDifferenceInput));
        Assert.True(box.Contains(o.MinDifferenceInput));

        var noFloat = Box.Create([0.1], [0.1], "t");
        Assert.Equal(FalsifierStop.NoFloat32Point, Falsifier.Search(G(n), G(q), noFloat, 1).Stop);
    }

    [Fact]
    public void Float32RoundingNeverLeavesTheInterval()
    {
        Assert.True(Float32Points.TryRound(0.3, 0.1, 0.3, out var f));
        Assert.True(f <= 0.3 && (double)MathF.BitIncrement(f) > 0.3);
        Assert.True(Float32Points.TryRound(0.1, 0.1, 0.3, out var g));
        Assert.True(g >= 0.1 && (double)MathF.BitDecrement(g) < 0.1);
        Assert.False(Float32Points.TryRound(0.1, 0.1, 0.1, out _));

        var rng = new Random(11);
        for (var k = 0; k < 10_000; k++)
        {
            var lo = rng.NextDouble() * 2 - 1;
            var hi = lo + rng.NextDouble() * 1e-7; // intervals a few float32 ulps wide or less
            var v = lo + rng.NextDouble() * (hi - lo);
            if (Float32Points.TryRound(v, lo, hi, out var r))
                Assert.InRange((double)r, lo, hi);
        }
    }
}
