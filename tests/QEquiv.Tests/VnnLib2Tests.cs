using System.Globalization;
using QEquiv.Regions;

namespace QEquiv.Tests;

/// <summary>
/// VNN-LIB 2.0 two-network specs: read into the box of X_f and the tolerance per output and side (δ = the smallest), every
/// construct outside that form refused in one line naming the file and the construct, and --delta's precedence.
/// </summary>
[Collection("Console")]
public sealed class VnnLib2Tests : IDisposable
{
    private readonly TempFiles _files = new();
    public void Dispose() => _files.Dispose();

    private const string Networks =
        "(vnnlib-version <2.0>)\n"
        + "(declare-network f\n  (declare-input X_f real [2])\n  (declare-output Y_f real [2])\n)\n"
        + "(declare-network g\n  (isomorphic-to f)\n  (declare-input X_g real [2])\n  (declare-output Y_g real [2])\n)\n";

    private const string Inputs =
        "(assert (and (<= X_f[0] 1) (>= X_f[0] 0)))\n(assert (and (<= X_f[1] 2) (>= X_f[1] -1)))\n"
        + "(assert (== X_f[0] X_g[0]))\n(assert (== X_f[1] X_g[1]))\n";

    private static string Output(int j, string eps) =>
        $"(assert (and (<= Y_g[{j}] (+ Y_f[{j}] {eps})) (>= Y_g[{j}] (- Y_f[{j}] {eps}))))\n";

    private static readonly string Valid = Networks + Inputs + Output(0, "0.1") + Output(1, "0.1");

    private VnnLibRegion Parse(string text) => VnnLib.ParseBox(_files.Write("spec.vnnlib", text));

    [Fact]
    public void TheSharedIsomorphicSpecGivesItsBoxAndEpsilon()
    {
        var path = TestData.Bench("isomorphic/prop1-eps0.05.vnnlib");
        var r = VnnLib.ParseBox(path);
        Assert.Equal(new[] { 0.6, -0.5, -0.5, 0.45, -0.45 }, r.Box.Lo);
        Assert.Equal(new[] { 0.679857769, 0.5, 0.5, 0.5, -0.45 }, r.Box.Hi);
        Assert.Equal(5, r.OutputCount);
        Assert.False(r.OutputConstraintsIgnored);
        Assert.Null(r.Notice);
        var spec = Assert.IsType<TwoNetworkSpec>(r.Equivalence);
        Assert.Equal(("f", "X_f", "Y_f"), (spec.Reference.Name, spec.Reference.Input, spec.Reference.Output));
        Assert.Equal(("g", "X_g", "Y_g"), (spec.Other.Name, spec.Other.Input, spec.Other.Output));
        Assert.Equal(Enumerable.Repeat(0.05, 5), spec.Plus);
        Assert.Equal(Enumerable.Repeat(0.05, 5), spec.Minus);
        Assert.True(spec.Uniform);
        Assert.Equal(0.05, spec.Delta);
        Assert.Equal("|Y_g − Y_f| ≤ 0.05 on every output", spec.Statement);
        Assert.Contains("non-strict", spec.StrictnessNote);
    }

    [Theory]
    [InlineData("(assert (<= (- Y_g[0] Y_f[0]) 0.1))\n(assert (>= (- Y_g[0] Y_f[0]) (- 0.1)))\n")]
    [InlineData("(assert (>= (+ Y_f[0] 0.1) Y_g[0]))\n(assert (<= (- Y_f[0] 0.1) Y_g[0]))\n")]
    [InlineData("(assert (and (<= (- Y_f[0] Y_g[0]) 0.1) (<= (+ (* -1 Y_f[0]) Y_g[0]) 0.1)))\n")]
    [InlineData("(assert (or (and (<= Y_g[0] (+ Y_f[0] 0.1)) (>= Y_g[0] (- Y_f[0] 0.1)))))\n")]
    [InlineData("(assert (and (<= Y_g[0] (+ Y_f[0] 0.3)) (>= Y_g[0] (- Y_f[0] 0.1)) (<= Y_g[0] (+ Y_f[0] 0.1))))\n")]
    public void OtherWritingsOfTheSameToleranceGiveIt(string output0)
    {
        var spec = Parse(Networks + Inputs + output0 + Output(1, "0.1")).Equivalence!;
        Assert.Equal(new[] { 0.1, 0.1 }, spec.Plus);
        Assert.Equal(new[] { 0.1, 0.1 }, spec.Minus);
    }

    [Fact]
    public void BoundsOnTheOtherNetworksInputsIntersectAndEqualitiesMayBeSwapped()
    {
        var text = Valid.Replace("(== X_f[1] X_g[1])", "(= X_g[1] X_f[1])") + "(assert (<= X_g[1] 1.5))\n(assert (>= 0.25 X_f[0]))\n";
        var r = Parse(text);
        Assert.Equal(new[] { 0.0, -1 }, r.Box.Lo);
        Assert.Equal(new[] { 0.25, 1.5 }, r.Box.Hi);
    }

    [Fact]
    public void PerOutputAndOneSidedTolerancesKeepTheirOwnBoundsAndTheSmallestIsDelta()
    {
        var text = Networks + Inputs + "(assert (and (<= Y_g[0] (+ Y_f[0] 0.2)) (>= Y_g[0] (- Y_f[0] 0.1))))\n" + Output(1, "0.3");
        var spec = Parse(text).Equivalence!;
        // Y_g − Y_f ≤ 0.2 bounds Q − N (Minus); Y_g − Y_f ≥ −0.1 bounds N − Q (Plus).
        Assert.Equal(0.1, spec.Bound(0, +1));
        Assert.Equal(0.2, spec.Bound(0, -1));
        Assert.Equal(0.3, spec.Bound(1, +1));
        Assert.Equal(0.3, spec.Bound(1, -1));
        Assert.False(spec.Uniform);
        Assert.Equal(0.1, spec.Delta);
        Assert.Contains("bounds from 0.1 to 0.3", spec.Statement);
    }

    [Fact]
    public void ShapesOfHigherRankAreFlattenedRowMajor()
    {
        var text = Valid.Replace("real [2]", "real [1, 2]").Replace("[0]", "[0,0]").Replace("[1]", "[0,1]");
        var r = Parse(text);
        Assert.Equal(new[] { 0.0, -1 }, r.Box.Lo);
        Assert.Equal(new[] { 1.0, 2 }, r.Box.Hi);
        Assert.Equal(new[] { 1, 2 }, r.Equivalence!.Reference.InputShape);
        Assert.Equal("Y_g[0,1]", DeclaredNetwork.Element("Y_g", [1, 2], 1));
    }

    [Theory]
    [InlineData("", "(declare-network h (declare-input X_h real [2]) (declare-output Y_h real [2]))\n", "a third network 'h' is declared; QEquiv compares two networks")]
    [InlineData("(== X_f[1] X_g[1])", "(== X_f[1] X_g[0])", "unequal input equality X_f[1] = X_g[0]")]
    [InlineData("(assert (== X_f[1] X_g[1]))", "", "X_g[1] is not equated with X_f[1]")]
    [InlineData("(assert (and (<= Y_g[1] (+ Y_f[1] 0.1)) (>= Y_g[1] (- Y_f[1] 0.1))))", "", "output Y_g[1] is not constrained")]
    [InlineData("(>= Y_g[1] (- Y_f[1] 0.1))", "(<= Y_g[1] (+ Y_f[1] 0.2))", "output Y_g[1] has no lower bound against Y_f[1]")]
    [InlineData("(and (<= Y_g[1]", "(or (<= Y_g[1]", "a disjunction (or …) is not supported")]
    [InlineData("(<= Y_g[0] (+", "(< Y_g[0] (+", "strict comparison '<' is not supported")]
    [InlineData("(declare-output Y_g real [2])", "(declare-output Y_g real [2]) (declare-hidden H_g real [2] \"n\")", "hidden-node variables (declare-hidden) are not supported")]
    [InlineData("<2.0>", "<2.1>", "VNN-LIB version <2.1> is not supported")]
    [InlineData("X_f real", "X_f float16", "X_f has element type float16")]
    [InlineData("(isomorphic-to f)", "(equal-to f)", "equal-to (one network given twice) is not supported")]
    [InlineData("X_g real [2]", "X_g real [3]", "network 'g' takes 3 inputs but 'f' takes 2")]
    [InlineData("(+ Y_f[0] 0.1)", "(+ Y_f[1] 0.1)", "Y_g[0] is compared with Y_f[1]")]
    [InlineData("(and (<= X_f[1] 2) (>= X_f[1] -1))", "(<= X_f[1] 2)", "input X_f[1] has an upper bound but no lower bound")]
    [InlineData("", "(assert (not (<= X_f[0] 5)))\n", "a negation (not …) is not supported")]
    [InlineData("", "(assert (<= Y_f[0] 3))\n", "unsupported output constraint (<= Y_f[0] 3)")]
    [InlineData("", "(assert (<= X_f[0] Y_f[0]))\n", "a constraint relating inputs and outputs is not supported")]
    [InlineData("(<= Y_g[0] (+ Y_f[0] 0.1))", "(<= Y_g[0] (- Y_f[0] 0.1))", "a tolerance must be > 0")]
    [InlineData("(<= X_f[0] 1)", "(<= (+ X_f[0] 0.5) 1.5)", "the constant appears 2 times")]
    [InlineData("", "(declare-const X_0 Real)\n", "declare-const is VNN-LIB 1.0")]
    [InlineData("(assert (== X_f[0] X_g[0]))", "(assert (== X_f[0] X_g[0] X_g[1]))", "unsupported constraint")]
    public void EveryUnsupportedConstructIsOneErrorNamingTheFileAndIt(string find, string replace, string problem)
    {
        var text = find.Length == 0 ? Valid + replace : Valid.Replace(find, replace, StringComparison.Ordinal);
        Assert.NotEqual(Valid, text);
        var path = _files.Write("bad.vnnlib", text);
        var e = Assert.Throws<BadInputException>(() => VnnLib.ParseBox(path));
        Assert.StartsWith(path + ": ", e.Message);
        Assert.Contains(problem, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void ASpecDeclaringOneNetworkIsRefused()
    {
        var one = "(vnnlib-version <2.0>)\n(declare-network f (declare-input X_f real [2]) (declare-output Y_f real [2]))\n(assert (<= X_f[0] 1))\n";
        var e = Assert.Throws<BadInputException>(() => Parse(one));
        Assert.Contains("declares one network ('f')", e.Message);
    }

    private static readonly string Float = TestData.Bench("isomorphic/nets/ACASXU_run2a_1_2_batch_2000.onnx");
    private static readonly string Pruned = TestData.Bench("isomorphic/nets_pruned/ACASXU_run2a_1_2_batch_2000_pruned30.onnx");

    private static void AssertBadInput((int Exit, string Out, string Err) r, string problem)
    {
        Assert.True(r.Exit == 2, $"exit {r.Exit}: {r.Err}");
        var line = r.Err.TrimEnd('\n', '\r');
        Assert.DoesNotContain('\n', line);
        Assert.StartsWith("error: ", line);
        Assert.Contains(problem, line);
        Assert.Equal("", r.Out);
    }

    [Fact]
    public void TheCliRefusesAnUnsupportedSpecInOneLine()
    {
        var path = _files.Write("third.vnnlib", Valid + "(declare-network h (declare-input X_h real [2]) (declare-output Y_h real [2]))\n");
        foreach (var command in new[] { "verify", "max-error" })
            AssertBadInput(CliRunner.Run(command, "--float", Float, "--quant", Pruned, "--vnnlib", path), $"{path}: line 17: a third network 'h'");
    }

    [Fact]
    public void DeltaIsTheSpecsEpsilonAndAnotherDeltaIsRefused()
    {
        var spec = TestData.Bench("isomorphic/prop1-eps0.05.vnnlib");
        AssertBadInput(CliRunner.Run("verify", "--float", Float, "--quant", Pruned, "--vnnlib", spec, "--delta", "0.04"),
            "--delta: δ 0.04 is not the tolerance ε = 0.05 that prop1-eps0.05.vnnlib states (|Y_g − Y_f| ≤ 0.05 on every output); leave δ to the spec");
        // A VNN-LIB 1.0 box states no tolerance: --delta stays required.
        AssertBadInput(CliRunner.Run("verify", "--float", Float, "--quant", Pruned, "--vnnlib", TestData.Bench("acasxu/props/prop_1.vnnlib")),
            "--delta: give the tolerance δ > 0");
        // The spec's outputs must be the models' outputs.
        var lines = File.ReadAllLines(spec).Where(l => !l.StartsWith("(assert (and (<= Y_g[4]", StringComparison.Ordinal));
        var four = _files.Write("four.vnnlib", string.Join("\n", lines).Replace("real [5])\n)", "real [4])\n)"));
        Assert.Equal(4, VnnLib.ParseBox(four).OutputCount);
        AssertBadInput(CliRunner.Run("verify", "--float", Float, "--quant", Pruned, "--vnnlib", four), $"{four}: the spec bounds 4 outputs but the models have 5");
    }

    [Fact]
    public void VerifyTakesDeltaFromTheSpecAndSaysHowItReadsIt()
    {
        // A box where the networks differ by far more than 0.001 at float32 points: falsified, with the strictness note.
        var text = File.ReadAllText(TestData.Bench("isomorphic/prop1-eps0.05.vnnlib")).Replace("0.05)", "0.001)").Replace("(>= X_f[4] -0.45)", "(>= X_f[4] -0.5)");
        var path = _files.Write("p.vnnlib", text);
        var report = Path.Combine(_files.Dir, "report");
        var (exit, output, err) = CliRunner.Run("verify", "--float", Float, "--quant", Pruned, "--vnnlib", path, "--timeout", "60", "--quiet", "--report", report);
        Assert.True(exit == 10, $"exit {exit}: {output}{err}");
        Assert.StartsWith("falsified\nδ = 0.001,", output);
        Assert.Contains("note: p.vnnlib asks |Y_g − Y_f| ≤ 0.001 on every output (non-strict)", output);
        var result = File.ReadAllText(Path.Combine(report, "result.txt"));
        Assert.StartsWith("sat\n((X_f[0] ", result);
        var names = Reporting.VnnComp.ParseAssignments(result[4..]).Select(a => a.Name).ToList();
        string[] Of(string v) => [.. Enumerable.Range(0, 5).Select(i => string.Create(CultureInfo.InvariantCulture, $"{v}[{i}]"))];
        Assert.Equal([.. Of("X_f"), .. Of("Y_f"), .. Of("X_g"), .. Of("Y_g")], names);
        Assert.Contains("| property | |Y_g − Y_f| ≤ 0.001 on every output (non-strict; f is N, g is Q) |", File.ReadAllText(Path.Combine(report, "report.md")).Replace("\\|", "|"));
    }
}
