using QEquiv.Data;
using QEquiv.Regions;

namespace QEquiv.Tests;

public sealed class RegionInputTests : IDisposable
{
    private readonly TempFiles _tmp = new();
    public void Dispose() => _tmp.Dispose();

    [Fact]
    public void CsvReadsRowsAndSkipsBlankLines()
    {
        var rows = Csv.ReadRows(_tmp.Write("a.csv", "1, 2.5,-3e-1\n\n0,0,1E2\n"));
        Assert.Equal(2, rows.Count);
        Assert.Equal(new[] { 1f, 2.5f, -0.3f }, rows[0]);
        Assert.Equal(new[] { 0f, 0f, 100f }, rows[1]);
    }

    [Fact]
    public void CsvReadsTheSharedPyTorchInputs()
    {
        var rows = Csv.ReadRows(TestData.Bench("pytorch/inputs.csv"));
        Assert.Equal(300, rows.Count);
        Assert.All(rows, r => Assert.Equal(784, r.Length));
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("\n  \n", "empty")]
    [InlineData("1,2\n3,x\n", "line 2, column 2: 'x' is not a number")]
    [InlineData("1,2\n3\n", "line 2 has 1 values but line 1 has 2")]
    [InlineData("1,,2", "line 1, column 2")]
    [InlineData("1,NaN", "not a finite")]
    [InlineData("1e50", "not a finite")]
    public void CsvErrorsNameFileAndLine(string content, string problem)
    {
        var path = _tmp.Write("bad.csv", content);
        var e = Assert.Throws<BadInputException>(() => Csv.ReadRows(path));
        Assert.StartsWith(path + ": ", e.Message);
        Assert.Contains(problem, e.Message);
    }

    [Fact]
    public void SingleRowMustBeOneRow()
    {
        Assert.Equal(new[] { 0.5f }, Csv.ReadSingleRow(_tmp.Write("one.csv", "0.5\n")));
        var path = _tmp.Write("two.csv", "1\n2\n");
        var e = Assert.Throws<BadInputException>(() => Csv.ReadSingleRow(path));
        Assert.StartsWith(path + ": expected exactly one row", e.Message);
        var missing = Path.Combine(_tmp.Dir, "missing.csv");
        Assert.StartsWith(missing + ": cannot read", Assert.Throws<BadInputException>(() => Csv.ReadRows(missing)).Message);
    }

    [Fact]
    public void BallIsClipped()
    {
        var b = Region.BallAround([0.0, 0.5, 1.0], 0.25, (0, 1));
        Assert.Equal(new[] { 0.0, 0.25, 0.75 }, b.Lo);
        Assert.Equal(new[] { 0.25, 0.75, 1.0 }, b.Hi);
        var free = Region.BallAround([0.0], 0.25, null);
        Assert.Equal(-0.25, free.Lo[0]);
    }

    [Theory]
    [InlineData(0.0, "eps must be a finite number > 0")]
    [InlineData(-0.1, "eps must be a finite number > 0")]
    [InlineData(double.NaN, "eps must be a finite number > 0")]
    [InlineData(double.PositiveInfinity, "eps must be a finite number > 0")]
    public void BallRejectsBadEps(double eps, string problem)
    {
        var e = Assert.Throws<BadInputException>(() => Region.BallAround([0.5], eps, null, "c.csv"));
        Assert.StartsWith("c.csv: ", e.Message);
        Assert.Contains(problem, e.Message);
    }

    [Fact]
    public void BallRejectsBadClipAndCentreOutsideClip()
    {
        Assert.Contains("lo < hi", Assert.Throws<BadInputException>(() => Region.BallAround([0.5], 0.1, (1, 1), "c.csv")).Message);
        Assert.Contains("lo < hi", Assert.Throws<BadInputException>(() => Region.BallAround([0.5], 0.1, (1, 0), "c.csv")).Message);
        var far = Assert.Throws<BadInputException>(() => Region.BallAround([0.5, 3], 0.1, (0, 1), "c.csv"));
        Assert.StartsWith("c.csv: empty or inverted box at input 1", far.Message);
    }

    [Fact]
    public void BallFromCenterFile()
    {
        var path = _tmp.Write("c.csv", "0.5,0.0\n");
        var b = Region.BallAroundFile(path, 0.125, (0, 1));
        Assert.Equal(new[] { 0.375, 0.0 }, b.Lo);
        Assert.Equal(new[] { 0.625, 0.125 }, b.Hi);
        var bad = _tmp.Write("bad.csv", "0.5,zz\n");
        Assert.StartsWith(bad + ": line 1", Assert.Throws<BadInputException>(() => Region.BallAroundFile(bad, 0.1, null)).Message);
    }

    [Fact]
    public void ClipOptionParses()
    {
        Assert.Equal((0.0, 1.0), Region.ParseClip("0,1"));
        Assert.Contains("--clip", Assert.Throws<BadInputException>(() => Region.ParseClip("0;1")).Message);
        Assert.Contains("lo < hi", Assert.Throws<BadInputException>(() => Region.ParseClip("1,0")).Message);
    }

    [Fact]
    public void BoxFromFiles()
    {
        var lo = _tmp.Write("lo.csv", "0,-1");
        var hi = _tmp.Write("hi.csv", "1,1");
        var b = Region.FromBoxFiles(lo, hi);
        Assert.Equal(new[] { 0.0, -1.0 }, b.Lo);
        Assert.Equal(new[] { 1.0, 1.0 }, b.Hi);

        var shortHi = _tmp.Write("hi1.csv", "1");
        Assert.StartsWith(shortHi + ": has 1 upper bounds", Assert.Throws<BadInputException>(() => Region.FromBoxFiles(lo, shortHi)).Message);
        var inverted = _tmp.Write("hi2.csv", "1,-2");
        var e = Assert.Throws<BadInputException>(() => Region.FromBoxFiles(lo, inverted));
        Assert.Contains(inverted, e.Message);
        Assert.Contains("empty or inverted box at input 1: lo > hi", e.Message);
    }

    [Theory]
    [InlineData("vnnlib:mnistfc/prop_0_0.03.vnnlib", RegionKind.VnnLib, "mnistfc/prop_0_0.03.vnnlib", null, null, null, null)]
    [InlineData("ball:img.csv:0.03", RegionKind.Ball, "img.csv", null, 0.03, null, null)]
    [InlineData("BALL: img.csv : 1e-3 : -1 : 1", RegionKind.Ball, "img.csv", null, 1e-3, -1.0, 1.0)]
    [InlineData("ball:dir:x/img.csv:0.5:0:1", RegionKind.Ball, "dir:x/img.csv", null, 0.5, 0.0, 1.0)]
    [InlineData("box:lo.csv:hi.csv", RegionKind.Box, "lo.csv", "hi.csv", null, null, null)]
    public void SpecParses(string text, RegionKind kind, string path, string? second, double? eps, double? clipLo, double? clipHi)
    {
        var s = RegionSpec.Parse(text, "bench.csv line 2");
        Assert.Equal(kind, s.Kind);
        Assert.Equal(path, s.Path);
        Assert.Equal(second, s.SecondPath);
        Assert.Equal(eps, s.Eps);
        Assert.Equal(clipLo is null ? null : (clipLo.Value, clipHi!.Value), s.Clip);
        Assert.Equal(s, RegionSpec.Parse(s.ToString(), "roundtrip"));
    }

    [Theory]
    [InlineData("prop.vnnlib", "expected kind:arguments")]
    [InlineData("sphere:x.csv:1", "unknown region kind 'sphere'")]
    [InlineData("vnnlib:", "a path is empty")]
    [InlineData("box:lo.csv", "exactly two paths")]
    [InlineData("box:a:b:c", "exactly two paths")]
    [InlineData("ball:x.csv", "ball takes a path and eps")]
    [InlineData("ball:x.csv:0", "eps must be > 0")]
    [InlineData("ball:x.csv:abc", "'abc' is not a finite number")]
    [InlineData("ball:x.csv:0.1:1:0", "clip range needs lo < hi")]
    [InlineData("ball::0.1", "a path is empty")]
    public void SpecErrorsNameTheSource(string text, string problem)
    {
        var e = Assert.Throws<BadInputException>(() => RegionSpec.Parse(text, "bench.csv line 7"));
        Assert.StartsWith($"bench.csv line 7: region '{text}': ", e.Message);
        Assert.Contains(problem, e.Message);
    }

    [Fact]
    public void SpecResolvesRelativeToTheBaseDirectory()
    {
        var fromVnnLib = RegionSpec.Parse("vnnlib:tiny/test_tiny.vnnlib", "t").Resolve(TestData.Benchmarks);
        Assert.True(fromVnnLib.SameBounds(Box.Create([-1], [1], "t")));

        _tmp.Write("c.csv", "0.5,0.5");
        _tmp.Write("lo.csv", "0,0");
        _tmp.Write("hi.csv", "1,2");
        var ball = RegionSpec.Parse("ball:c.csv:0.25:0:0.6", "t").Resolve(_tmp.Dir);
        Assert.True(ball.SameBounds(Box.Create([0.25, 0.25], [0.6, 0.6], "t")));
        var box = RegionSpec.Parse("box:lo.csv:hi.csv", "t").Resolve(_tmp.Dir);
        Assert.True(box.SameBounds(Box.Create([0, 0], [1, 2], "t")));

        var missing = Path.Combine(_tmp.Dir, "none.csv");
        var e = Assert.Throws<BadInputException>(() => RegionSpec.Parse("ball:none.csv:0.1", "t").Resolve(_tmp.Dir));
        Assert.StartsWith(missing + ": cannot read", e.Message);
    }
}
