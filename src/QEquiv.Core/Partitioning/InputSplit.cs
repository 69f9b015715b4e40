using QEquiv.Equivalence;
using QEquiv.Falsification;
using QEquiv.Model;
using QEquiv.Scheduling;

namespace QEquiv.Partitioning;

/// <summary>
/// width_i × |sensitivity_i|, largest first. The sensitivity function is called once per split and must be thread-safe;
/// inputs of zero width are never chosen. The engine hands over its work item; the sub-problem is read out of it.
/// </summary>
public sealed class SensitivityWeighted(Func<SubProblem, double[]> sensitivity) : ISplitHeuristic
{
    public int Dimension(WorkItem item) => Dimension(SubProblem.Of(item));

    public int Dimension(SubProblem problem)
    {
        var s = sensitivity(problem);
        var box = problem.Box;
        if (s.Length != box.Dimension) throw new ArgumentException($"sensitivity has {s.Length} entries for {box.Dimension} inputs");
        int best = -1;
        var bestScore = double.NegativeInfinity;
        for (var i = 0; i < box.Dimension; i++)
        {
            if (!(box.Width(i) > 0)) continue;
            var score = box.Width(i) * Math.Abs(s[i]);
            if (score > bestScore) { best = i; bestScore = score; }
        }
        // No input with a non-zero score says nothing about where the difference changes: fall back to the widest.
        return best < 0 || !(bestScore > 0) ? box.WidestDimension() : best;
    }
}

/// <summary>
/// The default input split: width_i × |∂ s·(N_j − Q_j)/∂x_i| at the box centre (ReluVal's "smear" with a point gradient
/// instead of a gradient interval), the gradient being the falsifier's straight-through one: it names the inputs
/// along which the sub-problem's own difference changes most over the box, which are the ones whose halving tightens
/// its bounds most. Inputs with a zero gradient at the centre are still split once the others have shrunk, through
/// the widest-input fallback of <see cref="SensitivityWeighted"/>.
/// </summary>
public sealed class GradientSmear(Network reference, Network other) : ISplitHeuristic
{
    private readonly SensitivityWeighted _weighted = new(p =>
    {
        var centre = Float32Points.RoundInto(p.Box, p.Box.Center());
        return centre is null ? new double[p.Box.Dimension] : Falsifier.DifferenceGradient(reference, other, centre, p.Output, p.Sign);
    });

    public int Dimension(WorkItem item) => _weighted.Dimension(item);
}
