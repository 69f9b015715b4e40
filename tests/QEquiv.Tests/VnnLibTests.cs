using System.Globalization;
using QEquiv.Regions;

namespace QEquiv.Tests;

public sealed class VnnLibTests : IDisposable
{
    private readonly TempFiles _tmp = new();
    public void Dispose() => _tmp.Dispose();

    public static TheoryData<string> SharedFiles()
    {
        var data = new TheoryData<string>();
        foreach (var f in Directory.EnumerateFiles(TestData.Benchmarks, "*.vnnlib", SearchOption.AllDirectories).Order())
            data.Add(Path.GetRelativePath(TestData.Benchmarks, f));
        return data;
    }

    [Fact]
    public void SharedBenchmarksAreFound()
    {
        // Guards against the theory below passing vacuously when the data folder moves.
        Assert.True(SharedFiles().Count >= 33, $"found only {SharedFiles().Count} .vnnlib files under {TestData.Benchmarks}");
    }

    [Trait("Speed", "Slow")]
    [Theory]
    [MemberData(nameof(SharedFiles))]
    public void EverySharedFileParses(string relative)
    {
        // Files beyond a single VNN-LIB 1.0 box are refused in one line naming what is not supported, never misread.
        var unsupported = relative switch
        {
            "acasxu/props/prop_6.vnnlib" => "only a single box is supported", // two input boxes
            _ => null,
        };
        if (unsupported is not null)
        {
            var e = Assert.Throws<BadInputException>(() => VnnLib.ParseBox(TestData.Bench(relative)));
            Assert.Contains(unsupported, e.Message);
            return;
        }
        var r = VnnLib.ParseBox(TestData.Bench(relative));
        if (relative == "isomorphic/prop1-eps0.05.vnnlib")
        {
            // The VNN-LIB 2.0 two-network spec: its output constraints are the tolerance (VnnLib2Tests), not ignored.
            Assert.False(r.OutputConstraintsIgnored);
            Assert.Equal(0.05, r.Equivalence!.Delta);
            return;
        }
        Assert.Null(r.Equivalence);
        Assert.True(r.OutputConstraintsIgnored);
        Assert.NotNull(r.Notice);
        for (var i = 0; i < r.Box.Dimension; i++) Assert.True(r.Box.Lo[i] <= r.Box.Hi[i]);
        if (relative.StartsWith("mnistfc", StringComparison.Ordinal))
        {
            Assert.Equal(784, r.Box.Dimension);
            Assert.Equal(10, r.OutputCount);
            // prop_<i>_<eps>.vnnlib: a clipped L∞ ball [max(0, c − eps), min(1, c + eps)]. The files hold
            // float32-rounded bounds, so a width may exceed 2·eps by a couple of float32 ulps (measured: 2.4e-8).
            const double float32Slack = 5e-8;
            var eps = double.Parse(Path.GetFileNameWithoutExtension(relative).Split('_')[2], CultureInfo.InvariantCulture);
            var full = 0;
            for (var i = 0; i < 784; i++)
            {
                Assert.InRange(r.Box.Lo[i], 0, 1);
                Assert.InRange(r.Box.Hi[i], 0, 1);
                Assert.InRange(r.Box.Width(i), 1e-9, 2 * eps + float32Slack);
                if (Math.Abs(r.Box.Width(i) - 2 * eps) < 1e-6) full++;
            }
            Assert.True(full > 0, "no input has the full width 2·eps: the bounds are not a ball of radius eps");
        }
        else if (relative.StartsWith("tiny", StringComparison.Ordinal))
        {
            Assert.Equal(1, r.Box.Dimension);
            Assert.Equal(-1, r.Box.Lo[0]);
            Assert.Equal(1, r.Box.Hi[0]);
        }
        else
        {
            // The folders added with the CNN, ACAS Xu and equivalence benchmarks: the input size of their networks.
            var expected = relative switch
            {
                _ when relative.StartsWith("cnn/vnnlib/cifar", StringComparison.Ordinal) => 3 * 32 * 32,
                _ when relative.StartsWith("cnn/", StringComparison.Ordinal) => 28 * 28,
                _ when relative.StartsWith("acasxu/", StringComparison.Ordinal) || relative.StartsWith("isomorphic/", StringComparison.Ordinal) => 5,
                _ => -1,
            };
            Assert.True(expected > 0, $"{relative}: a .vnnlib file in a folder this test does not know; say what its box should be");
            Assert.Equal(expected, r.Box.Dimension);
            Assert.True(Enumerable.Range(0, r.Box.Dimension).Any(i => r.Box.Width(i) > 0), "the box is a single point");
        }
    }

    [Fact]
    public void MnistFirstPixelMatchesTheFile()
    {
        var b = VnnLib.ParseBox(TestData.Bench("mnistfc/prop_0_0.03.vnnlib")).Box;
        Assert.Equal(0.0, b.Lo[0]);
        Assert.Equal(0.029999999329447746, b.Hi[0]);
    }

    private VnnLibRegion Parse(string text) => VnnLib.ParseBox(_tmp.Write("p.vnnlib", text));

    [Fact]
    public void AcceptsAllBoundFormsAndNumberSyntaxes()
    {
        var r = Parse("""
            ; comment (with a parenthesis
            (declare-const X_0 Real)
            (declare-const X_1 Real)
            (declare-const X_2 Real)
            (assert (<= X_0 0.029999999329447746)) (assert (>= X_0 -1))
            (assert (<= -2 X_1))
            (assert (>= 1e-3 X_1))
            (assert (and (>= X_2 (- 5)) (<= X_2 1E1)))
            (assert (<= X_2 7)) ; the tighter upper bound wins
            """);
        Assert.Equal(new[] { -1.0, -2.0, -5.0 }, r.Box.Lo);
        Assert.Equal(new[] { 0.029999999329447746, 1e-3, 7.0 }, r.Box.Hi);
        Assert.False(r.OutputConstraintsIgnored);
        Assert.Null(r.Notice);
        Assert.Equal(0, r.OutputCount);
    }

    [Fact]
    public void EqualityFixesAnInput()
    {
        var r = Parse("(declare-const X_0 Real)(assert (= X_0 0.5))");
        Assert.Equal(0.5, r.Box.Lo[0]);
        Assert.Equal(0.5, r.Box.Hi[0]);
    }

    [Fact]
    public void OutputConstraintsAreReportedAsIgnored()
    {
        var r = Parse("""
            (declare-const X_0 Real)
            (declare-const Y_0 Real)
            (declare-const Y_1 Real)
            (assert (>= X_0 0)) (assert (<= X_0 1))
            (assert (or (and (>= Y_0 Y_1)) (and (<= Y_0 3))))
            """);
        Assert.True(r.OutputConstraintsIgnored);
        Assert.Equal(2, r.OutputCount);
    }

    [Theory]
    [InlineData("(declare-const X_0 Real)", "no input bounds")]
    [InlineData("(declare-const Y_0 Real)(assert (<= Y_0 1))", "no input variables")]
    [InlineData("", "no input variables")]
    [InlineData("(declare-const X_0 Real)(declare-const X_1 Real)(assert (<= X_0 1))(assert (>= X_0 0))(assert (<= X_1 1))",
        "X_1 has an upper bound but no lower bound")]
    [InlineData("(declare-const X_0 Real)(assert (>= X_0 0))", "X_0 has a lower bound but no upper bound")]
    [InlineData("(declare-const X_0 Real)(declare-const X_1 Real)(assert (<= X_0 1))(assert (>= X_0 0))", "X_1 is not bounded")]
    [InlineData("(declare-const X_0 Real)(assert (<= X_0 1)", "unbalanced parentheses")]
    [InlineData("(declare-const X_0 Real))", "unbalanced ')'")]
    [InlineData("(declare-const X_0 Real)(assert (<= X_0 abc))(assert (>= X_0 0))", "unsupported input constraint")]
    [InlineData("(declare-const X_0 Real)(assert (<= X_0 X_0))", "unsupported input constraint")]
    [InlineData("(declare-const X_0 Real)(assert (< X_0 1))(assert (>= X_0 0))", "unsupported input constraint")]
    [InlineData("(declare-const X_0 Real)(assert (<= X_1 1))", "X_1 is used but not declared")]
    [InlineData("(declare-const X_1 Real)(assert (<= X_1 1))(assert (>= X_1 0))", "X_0 is not declared")]
    [InlineData("(declare-const X_0 Int)", "only Real is supported")]
    [InlineData("(declare-const Z_0 Real)", "neither X_i nor Y_i")]
    [InlineData("(declare-const X_0 Real)(declare-const X_0 Real)", "declared twice")]
    [InlineData("(declare-const X_0 Real)(assert (>= X_0 1))(assert (<= X_0 0))", "empty or inverted box at input 0: lo > hi")]
    [InlineData("(declare-const X_0 Real)(declare-const Y_0 Real)(assert (<= X_0 Y_0))", "relating inputs and outputs")]
    [InlineData("(declare-const X_0 Real)(assert (or (and (>= X_0 0) (<= X_0 1)) (and (>= X_0 2) (<= X_0 3))))", "disjunction")]
    [InlineData("(declare-const X_0 Real)(assert (<= X_0 1e999))(assert (>= X_0 0))", "not finite")]
    [InlineData("(declare-const X_0 Real)(frobnicate)", "unsupported command")]
    [InlineData("hello", "outside parentheses")]
    public void RejectsWithTheFileNamed(string text, string problem)
    {
        var path = _tmp.Write("bad.vnnlib", text);
        var e = Assert.Throws<BadInputException>(() => VnnLib.ParseBox(path));
        Assert.StartsWith(path + ": ", e.Message);
        Assert.Contains(problem, e.Message);
    }

    [Fact]
    public void MissingFileIsBadInput()
    {
        var path = Path.Combine(_tmp.Dir, "nope.vnnlib");
        var e = Assert.Throws<BadInputException>(() => VnnLib.ParseBox(path));
        Assert.StartsWith(path + ": cannot read", e.Message);
    }
}
