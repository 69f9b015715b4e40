using QEquiv.Equivalence;
using QEquiv.Falsification;
using QEquiv.Model;
using QEquiv.Quantization;
using QEquiv.Regions;
using QEquiv.Reporting;
using QEquiv.Verification;

namespace QEquiv.Tests;

/// <summary>
/// A VNN-LIB 2.0 spec asks |Y_g − Y_f| ≤ ε, δ-equivalence proves &lt; δ: with δ = ε a proof answers the spec, but a
/// witness with a difference of exactly ε breaks &lt; δ without breaking the spec, and must not be reported as its
/// counterexample.
/// </summary>
public class SpecStrictnessTests
{
    private static TwoNetworkSpec Spec(double[] plus, double[] minus) => new("t.vnnlib",
        new DeclaredNetwork("f", "X_f", [plus.Length], "Y_f", [plus.Length]), new DeclaredNetwork("g", "X_g", [plus.Length], "Y_g", [plus.Length]), plus, minus);

    [Fact]
    public void ABoundIsExceededOnlyStrictlyAndOnlyBeyondTheFloat32Error()
    {
        var spec = Spec([0.25, 0.5], [0.25, 0.1]);
        Assert.Null(spec.ExceededBy([0.25, 0], [0, 0]));         // N − Q = ε exactly: allowed
        Assert.Null(spec.ExceededBy([-0.25, -0.1], [0, 0]));     // Q − N = ε on both outputs: allowed
        Assert.Equal(0, spec.ExceededBy([Math.BitIncrement(0.25), 0], [0, 0]));
        Assert.Equal(1, spec.ExceededBy([0, -0.11], [0, 0]));    // output 1's own bound on Q − N is 0.1
        Assert.Null(spec.ExceededBy([0, 0.45], [0, 0]));         // above δ = 0.1, within output 1's N − Q bound 0.5
        Assert.Null(spec.ExceededBy([0.3, 0], [0.06, 0]));       // 0.3 − 0.06 < 0.25: a float32 order may give ≤ ε
        Assert.Null(spec.ExceededBy([double.NaN, 0], [0, 0]));
        Assert.Equal(0.1, spec.Delta);
    }

    /// <summary>x ↦ s·round(x / s): two staircases whose difference on [0, 1] reaches 0.25 exactly and never more
    /// (x = 0.25: 0.25 against round-half-even(0.5)·0.5 = 0), both computed exactly (no float32 error).</summary>
    private static Network Staircase(float scale) => Network.Chain($"stairs{scale}", [1], "x",
        [new Quantize(1, new QuantParams(scale, 0, QuantType.Int8)), new Dequantize(1, new QuantParams(scale, 0, QuantType.Int8))]);

    private static readonly Box Unit = Box.Create([0.0], [1.0], "unit");

    private static VerifyOptions Options(double delta) => new(delta, Strategy.OutputInput, Timeout: TimeSpan.FromSeconds(60)) { Workers = 1 };

    [Fact]
    public void AWitnessAtExactlyEpsilonIsNoCounterexampleOfTheSpec()
    {
        var (n, q) = (Staircase(0.25f), Staircase(0.5f));
        // δ-equivalence, strict: |N − Q| = 0.25 at a point breaks < 0.25.
        var strict = Verifier.Verify(n, q, Unit, Options(0.25));
        Assert.Equal(Verdict.Falsified, strict.Verdict);
        Assert.Equal(0.25, strict.Witness!.MaxAbsDifference);
        Assert.Null(WitnessChecker.ExceedsSpec(n, q, strict.Witness.Input, Spec([0.25], [0.25])));

        // The spec |Y_g − Y_f| ≤ 0.25 holds everywhere: the same run must not answer sat.
        var spec = Spec([0.25], [0.25]);
        var report = Verifier.Verify(n, q, Unit, Options(0.25) with { Spec = spec });
        Assert.Equal(Verdict.Unknown, report.Verdict);
        Assert.Null(report.Witness);
        Assert.DoesNotContain(report.SubProblems, r => r.Outcome == SubProblemOutcome.Violated);
        Assert.DoesNotContain(report.Pairs, p => p.Status == PairStatus.Violated);
        Assert.Contains(report.Notes, note => note.Contains("exceeds no bound of the spec strictly", StringComparison.Ordinal));
        Assert.Contains(report.Notes, note => note.Contains("(non-strict)", StringComparison.Ordinal));
        Assert.Same(spec, report.Spec);
        var word = VnnComp.ResultWord(report.Verdict, report.Timings.Total, 60);
        Assert.Equal(VnnComp.Unknown, word);
        Assert.Equal("unknown\n", VnnComp.ResultsFile(word, report.Witness, spec));

        // A tighter spec is broken by the same difference: sat, the witness exceeding ε = 0.2 strictly.
        var tight = Spec([0.2], [0.2]);
        var sat = Verifier.Verify(n, q, Unit, Options(0.2) with { Spec = tight });
        Assert.Equal(Verdict.Falsified, sat.Verdict);
        Assert.NotNull(WitnessChecker.ExceedsSpec(n, q, sat.Witness!.Input, tight));
        Assert.StartsWith("sat\n((X_f[0] ", VnnComp.ResultsFile(VnnComp.Sat, sat.Witness, tight));
    }

    [Fact]
    public void DeltaMustBeTheSpecsSmallestBound()
    {
        var problems = (Options(0.3) with { Spec = Spec([0.25], [0.5]) }).Problems();
        var p = Assert.Single(problems);
        Assert.Equal(nameof(VerifyOptions.Delta), p.Setting);
        Assert.Contains("is not the tolerance ε = 0.25", p.Problem);
        Assert.Empty((Options(0.25) with { Spec = Spec([0.25], [0.5]) }).Problems());
    }

    [Fact]
    public void ABoxWithNoFloat32PointIsNamedInTheNotes()
    {
        // isomorphic_acasxu's spec fixes X_f[4] = −0.45, which no float32 equals: no witness can exist in its box.
        var box = VnnLib.ParseBox(TestData.Bench("isomorphic/prop1-eps0.05.vnnlib")).Box;
        Assert.Null(Float32Points.RoundInto(box, box.Center()));
        Assert.Contains("input 4's interval [-0.45, -0.45] holds no float32 value", Verifier.NoFloat32Point(box));
        Assert.Null(Verifier.NoFloat32Point(Box.Create([0.5, -0.5], [0.5, 0.5], "t"))); // 0.5 is a float32
        Assert.NotNull(Verifier.NoFloat32Point(Box.Create([0.6, -0.5], [0.6, 0.5], "t"))); // 0.6 is none
    }
}
