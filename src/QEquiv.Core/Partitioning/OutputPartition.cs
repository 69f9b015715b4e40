using QEquiv.Bounds;
using QEquiv.Encoding;
using QEquiv.Model;
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
    public static Cut ByOutputCode(SubProblem p, GraphBounds rb, GraphBounds ob, GraphDifference? diff, int pieces, Func<int> nextId)
    {
        ArgumentNullException.ThrowIfNull(p);
        if (pieces < 1) throw new ArgumentOutOfRangeException(nameof(pieces), pieces, "at least one piece");
        var j = p.Output;
        if (OutputCodes(ob) is not { } codes || !Increasing(ob.Network)) return new Cut([p], null); // nothing to cut by
        var all = p.Codes ?? FullRange(codes[j]);
        if (all is null) return new Cut([p], null); // no integer code possible: leave it to the solver to say infeasible
        var margin = EquivalenceMilp.MarginFor(rb, ob, j);
        var n = rb.Outputs[j];
        Interval Value(int code) => TailValue(ob.Network, j, code);

        // The codes that could still reach δ: s = +1 needs R_j − O_j ≥ δ − margin, i.e. O_j(c) ≤ R^hi − δ + margin;
        // s = −1 needs O_j(c) ≥ R^lo + δ − margin. O_j is increasing in c, so they form one interval.
        var open = all;
        if (double.IsFinite(n.Hi) && double.IsFinite(n.Lo))
        {
            if (p.Sign > 0)
            {
                var top = all.Hi;
                while (top >= all.Lo && Value(top).Lo > n.Hi - p.Delta + margin) top--;
                open = top < all.Lo ? null : all with { Hi = top };
            }
            else
            {
                var bottom = all.Lo;
                while (bottom <= all.Hi && Value(bottom).Hi < n.Lo + p.Delta - margin) bottom++;
                open = bottom > all.Hi ? null : all with { Lo = bottom };
            }
        }
        SubProblemResult? discharged = null;
        if (open is null || open.Count < all.Count)
        {
            var proved = open is null ? all : p.Sign > 0 ? new CodeRange(open.Hi + 1, all.Hi) : new CodeRange(all.Lo, open.Lo - 1);
            var bound = p.Sign > 0 ? n.Hi - Value(proved.Lo).Lo : Value(proved.Hi).Hi - n.Lo;
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
    /// Upper bound of s·(R_j − O_j) on the sub-problem's box (before <see cref="EquivalenceMilp.MarginFor"/>): the
    /// tightest difference bound and, on a code piece, the piece's own bound; −∞ when the box's code range misses
    /// the piece (no input of this box has such a code, so nothing can violate).
    /// </summary>
    public static double Upper(SubProblem p, GraphBounds rb, GraphBounds ob, GraphDifference? diff)
    {
        var j = p.Output;
        var upper = (diff?.For(j, p.Sign) ?? EquivalenceMilp.DifferenceBounds(rb, ob, j, p.Sign)).Hi;
        if (p.Codes is not { } c || OutputCodes(ob) is not { } codes) return upper;
        var lo = Math.Max(c.Lo, Math.Ceiling(codes[j].Lo));
        var hi = Math.Min(c.Hi, Math.Floor(codes[j].Hi));
        if (lo > hi) return double.NegativeInfinity;
        var n = rb.Outputs[j];
        var piece = p.Sign > 0
            ? n.Hi - TailValue(ob.Network, j, (int)lo).Lo
            : TailValue(ob.Network, j, (int)hi).Hi - n.Lo;
        return Math.Min(upper, piece);
    }

    /// <summary>Bounds of the output codes of a quantized network (what the last Dequantize reads); null for a float one.</summary>
    public static Interval[]? OutputCodes(GraphBounds bounds) =>
        bounds.Network.OutputCodeNode is { } k ? bounds.Tensor(k) : null;

    /// <summary>
    /// Output j of the network when its output code j is <paramref name="code"/>, as an interval that includes the tail's
    /// float32 roundings (dequantization, a float bias): the tail after the codes is element-wise, so output j depends on
    /// code j alone.
    /// </summary>
    private static Interval TailValue(Network network, int j, int code)
    {
        var k = network.OutputCodeNode ?? throw new InvalidOperationException("no output codes");
        var x = new Interval[network.OutputSize];
        Array.Fill(x, Interval.Point(0));
        x[j] = Interval.Point(code);
        for (var m = k + 1; m < network.Nodes.Count; m++) x = IntervalBounds.Node(network.Nodes[m], x).Output;
        return x[j];
    }

    /// <summary>Whether every operator after the output codes is element-wise and increasing, so that the partition's
    /// "codes that can reach δ form one interval" holds.</summary>
    private static bool Increasing(Network network) =>
        network.OutputCodeNode is { } k && network.Nodes.Skip(k + 1).All(n => n.Operator switch
        {
            Dequantize d => d.Input.Scale > 0,
            Elementwise e => Enumerable.Range(0, e.OutputSize).All(i => e.AsAffine(i).Scale > 0),
            Reshape => true,
            _ => false,
        });

    private static SubProblem Child(SubProblem p, CodeRange codes, int id) =>
        p with { Id = id, Parent = p.Id, Codes = codes };

    internal static CodeRange? FullRange(Interval codes)
    {
        var lo = Math.Ceiling(codes.Lo);
        var hi = Math.Floor(codes.Hi);
        return lo > hi ? null : new CodeRange((int)lo, (int)hi);
    }
}
