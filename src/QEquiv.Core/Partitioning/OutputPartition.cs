using QEquiv.Bounds;
using QEquiv.Encoding;
using QEquiv.Networks;
using QEquiv.Quantization;
using QEquiv.Equivalence;
using QEquiv.Regions;

namespace QEquiv.Partitioning;

/// <summary>
/// The paper's output-based partition. Stage 1: ‖N − Q‖∞ ≥ δ is the disjunction over outputs j and signs s of
/// s·(N_j − Q_j) ≥ δ, so it becomes 2m disjunction-free sub-problems. Stage 2: each (j, s) is cut by the range of
/// Q_j's output code c_j, which the bounds confine to [c_lo, c_hi]; on a code piece [a, b] Q_j is known to within
/// one piece's width, so s·(N_j − Q_j) ≤ N_j^hi − Q_j(a) (s = +1) or Q_j(b) − N_j^lo (s = −1) — codes too far
/// from N's range to reach δ are proved by the bounds at once, and the rest give k MILPs, each with one more
/// constraint than the whole.
/// </summary>
public static class OutputPartition
{
    /// <summary>Stage 1: ids 0 … 2m−1, output j with sign +1 at 2j and −1 at 2j + 1.</summary>
    public static List<SubProblem> Roots(int outputs, Box box, double delta)
    {
        var roots = new List<SubProblem>(2 * outputs);
        for (var j = 0; j < outputs; j++)
            foreach (var s in new[] { 1, -1 })
                roots.Add(SubProblem.Create(roots.Count, j, s, box, delta));
        return roots;
    }

    /// <summary>A stage-2 cut of one sub-problem: the pieces left for a solver, and the code range the bounds proved (if any).</summary>
    public sealed record Cut(IReadOnlyList<SubProblem> Pieces, SubProblemResult? Discharged);

    /// <summary>
    /// Stage 2: the codes the bounds cannot exclude are cut into at most <paramref name="pieces"/> ranges of equal
    /// length (equal code counts: each piece fixes Q_j to the same precision, the best difficulty estimate the bounds
    /// give), the excluded codes form one piece proved by bounds. Ids come from <paramref name="nextId"/>; pieces keep
    /// the parent's depth and name it as parent. With one piece or one code left, the sub-problem is returned as is.
    /// </summary>
    public static Cut ByOutputCode(SubProblem p, FloatNetwork network, QuantizedNetwork q, FloatNetworkBounds fb, QuantizedNetworkBounds qb,
        DifferenceBounds? diff, int pieces, Func<int> nextId)
    {
        ArgumentNullException.ThrowIfNull(p);
        if (pieces < 1) throw new ArgumentOutOfRangeException(nameof(pieces), pieces, "at least one piece");
        var j = p.Output;
        var all = p.Codes ?? FullRange(qb.OutputCodes[j]);
        if (all is null) return new Cut([p], null); // no integer code possible: leave it to the solver to say infeasible
        var margin = EquivalenceMilp.MarginFor(network, fb, q, qb, j);
        var n = fb.Outputs[j];
        var po = q.OutputQuantization;
        var bias = q.OutputBias is { } b ? b[j] : 0.0;
        double Value(int code) => (double)po.Scale * (code - po.ZeroPoint) + bias;

        // The codes that could still reach δ: s = +1 needs N_j − Q_j ≥ δ − margin, i.e. Q_j(c) ≤ N^hi − δ + margin;
        // s = −1 needs Q_j(c) ≥ N^lo + δ − margin. Q_j is increasing in c (scale > 0), so they form one interval.
        var open = all;
        if (double.IsFinite(n.Hi) && double.IsFinite(n.Lo))
        {
            if (p.Sign > 0)
            {
                var top = all.Hi;
                while (top >= all.Lo && Value(top) > n.Hi - p.Delta + margin) top--;
                open = top < all.Lo ? null : all with { Hi = top };
            }
            else
            {
                var bottom = all.Lo;
                while (bottom <= all.Hi && Value(bottom) < n.Lo + p.Delta - margin) bottom++;
                open = bottom > all.Hi ? null : all with { Lo = bottom };
            }
        }
        SubProblemResult? discharged = null;
        if (open is null || open.Count < all.Count)
        {
            var proved = open is null ? all : p.Sign > 0 ? new CodeRange(open.Hi + 1, all.Hi) : new CodeRange(all.Lo, open.Lo - 1);
            var bound = p.Sign > 0 ? n.Hi - Value(proved.Lo) : Value(proved.Hi) - n.Lo;
            var piece = Child(p, proved, nextId());
            discharged = new SubProblemResult(piece, DecidedBy.Bounds, SubProblemOutcome.Proved, 0, Bound: bound + margin);
        }
        if (open is null) return new Cut([], discharged);
        var k = Math.Min(pieces, open.Count);
        if (k == 1 && discharged is null) return new Cut([p], null);
        var result = new List<SubProblem>(k);
        for (var i = 0; i < k; i++)
        {
            // Integer arithmetic in long: Count × k cannot overflow int for any 32-bit code range.
            var lo = open.Lo + (int)((long)open.Count * i / k);
            var hi = open.Lo + (int)((long)open.Count * (i + 1) / k) - 1;
            result.Add(Child(p, new CodeRange(lo, hi), nextId()));
        }
        return new Cut(result, discharged);
    }

    /// <summary>
    /// Upper bound of s·(N_j − Q_j) on the sub-problem's box (real arithmetic, before the dequantization margin): the
    /// tightest difference bound and, on a code piece, the piece's own bound; −∞ when the box's code range misses
    /// the piece (no input of this box has such a code, so nothing can violate).
    /// </summary>
    public static double Upper(SubProblem p, QuantizedNetwork q, FloatNetworkBounds fb, QuantizedNetworkBounds qb, DifferenceBounds? diff)
    {
        var j = p.Output;
        var upper = (diff?.For(j, p.Sign) ?? EquivalenceMilp.DifferenceBounds(fb, qb, j, p.Sign)).Hi;
        if (p.Codes is not { } c) return upper;
        var box = qb.OutputCodes[j];
        var lo = Math.Max(c.Lo, Math.Ceiling(box.Lo));
        var hi = Math.Min(c.Hi, Math.Floor(box.Hi));
        if (lo > hi) return double.NegativeInfinity;
        var po = q.OutputQuantization;
        var bias = q.OutputBias is { } b ? b[j] : 0.0;
        var n = fb.Outputs[j];
        var piece = p.Sign > 0
            ? n.Hi - ((double)po.Scale * (lo - po.ZeroPoint) + bias)
            : (double)po.Scale * (hi - po.ZeroPoint) + bias - n.Lo;
        return Math.Min(upper, piece);
    }

    private static SubProblem Child(SubProblem p, CodeRange codes, int id) =>
        p with { Id = id, Parent = p.Id, Codes = codes };

    internal static CodeRange? FullRange(Interval codes)
    {
        var lo = Math.Ceiling(codes.Lo);
        var hi = Math.Floor(codes.Hi);
        return lo > hi ? null : new CodeRange((int)lo, (int)hi);
    }
}
