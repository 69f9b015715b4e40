using QEquiv.Equivalence;
using QEquiv.Regions;
using QEquiv.Verification;

namespace QEquiv.Tests;

public class SubProblemTests
{
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
}
