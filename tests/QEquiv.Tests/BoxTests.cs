using QEquiv.Regions;

namespace QEquiv.Tests;

public class BoxTests
{
    [Fact]
    public void CreateCopiesAndExposesGeometry()
    {
        var lo = new[] { 0.0, -1.0 };
        var hi = new[] { 1.0, 3.0 };
        var b = Box.Create(lo, hi, "t");
        lo[0] = 99; // the box must not see later edits of the caller's array
        Assert.Equal(2, b.Dimension);
        Assert.Equal(new[] { 0.5, 1.0 }, b.Center());
        Assert.Equal(new[] { 1.0, 4.0 }, b.Widths());
        Assert.Equal(1, b.WidestDimension());
        Assert.True(b.Contains(new[] { 0.0, 3.0 }));
        Assert.False(b.Contains(new[] { 0.0, 3.0000001 }));
        Assert.False(b.Contains(new[] { double.NaN, 0 }));
        Assert.False(b.Contains(new[] { 0.5 }));
        Assert.True(b.Contains(new[] { 0.5f, -1f }));
    }

    [Theory]
    [InlineData(new[] { 0.0 }, new[] { 1.0, 2.0 }, "1 lower bounds but 2 upper bounds")]
    [InlineData(new[] { 0.0, double.NaN }, new[] { 1.0, 2.0 }, "input 1 is NaN or infinite")]
    [InlineData(new[] { 0.0, 0.0 }, new[] { 1.0, double.PositiveInfinity }, "input 1 is NaN or infinite")]
    [InlineData(new[] { 0.0, 2.0 }, new[] { 1.0, 1.0 }, "empty or inverted box at input 1: lo > hi")]
    [InlineData(new double[0], new double[0], "no inputs")]
    public void CreateRejectsBadBoundsNamingTheSource(double[] lo, double[] hi, string problem)
    {
        var e = Assert.Throws<BadInputException>(() => Box.Create(lo, hi, "region.csv"));
        Assert.StartsWith("region.csv: ", e.Message);
        Assert.Contains(problem, e.Message);
    }

    [Fact]
    public void PointBoxIsAllowed()
    {
        var b = Box.Create([0.25], [0.25], "t");
        Assert.Equal(0, b.Width(0));
        Assert.Throws<InvalidOperationException>(() => b.Bisect(0));
    }

    [Fact]
    public void BisectSplitsOneDimensionAtTheMidpoint()
    {
        var b = Box.Create([0, 0], [1, 4], "t");
        var (lower, upper) = b.Bisect(1);
        Assert.Equal(new[] { 0.0, 0.0 }, lower.Lo);
        Assert.Equal(new[] { 1.0, 2.0 }, lower.Hi);
        Assert.Equal(new[] { 0.0, 2.0 }, upper.Lo);
        Assert.Equal(new[] { 1.0, 4.0 }, upper.Hi);
        Assert.True(b.Contains(lower) && b.Contains(upper));
        Assert.Equal(0.5, lower.VolumeFractionOf(b), 12);
        Assert.Equal(0.5, upper.VolumeFractionOf(b), 12);
        Assert.Equal(new[] { 4.0 - 0, 1.0 }.Max(), b.MaxWidth());
        // The parent must be untouched by the split.
        Assert.Equal(new[] { 1.0, 4.0 }, b.Hi);
        Assert.Throws<ArgumentOutOfRangeException>(() => b.Bisect(2));
    }

    [Fact]
    public void VolumeFractionWorksInHighDimensionAndIgnoresFixedInputs()
    {
        var n = 784;
        var parent = Box.Create(new double[n], Enumerable.Repeat(1.0, n).ToArray(), "t");
        var child = parent;
        for (var i = 0; i < n; i++) child = child.Bisect(i).Lower;
        // 2^-784 underflows a double; the log form must not.
        Assert.Equal(-n * Math.Log(2), child.LogVolumeFractionOf(parent), 6);
        var withFixed = Box.Create([0, 3], [1, 3], "t");
        Assert.Equal(0.5, withFixed.Bisect(0).Upper.VolumeFractionOf(withFixed), 12);
    }

    [Fact]
    public void SameBoundsComparesValues()
    {
        var a = Box.Create([0, 1], [2, 3], "t");
        var b = Box.Create([0, 1], [2, 3], "t");
        Assert.True(a.SameBounds(b));
        Assert.False(a.SameBounds(Box.Create([0, 1], [2, 4], "t")));
    }
}
