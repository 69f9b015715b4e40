using QEquiv.Falsification;
using QEquiv.Model;
using QEquiv.Networks;
using QEquiv.Quantization;
using QEquiv.Regions;

namespace QEquiv.Encoding;

/// <summary>
/// Turns solver output into runtime-checked evidence. A MILP solution is only a candidate: the model admits
/// both roundings near ties and works to solver tolerances, so nothing is reported without re-execution.
/// </summary>
public static class Candidates
{
    /// <summary>Rounds x to the float32 point a runtime would receive and evaluates both networks exactly.</summary>
    public static PointEvaluation Reexecute(Network n, Network q, ReadOnlySpan<double> x) => WitnessChecker.Evaluate(n, q, Plain(x));

    /// <summary>
    /// Rounds x to the float32 point nearest it inside the box (solvers return points up to their tolerance outside the
    /// bounds) and evaluates both networks exactly; null when the box holds no float32 point (an input fixed at a value
    /// float32 cannot hold): the nearest float32 then lies outside it, and a point outside is no witness of the box.
    /// </summary>
    public static PointEvaluation? Reexecute(Network n, Network q, ReadOnlySpan<double> x, Box box) =>
        Float32Points.RoundInto(box, x) is { } input ? WitnessChecker.Evaluate(n, q, input) : null;

    /// <summary>
    /// Re-executes a solution twice: as returned, and moved into the quantization cells of the input codes the
    /// solver chose. A solver maximising the error parks x on rounding boundaries, where the model lets it pick
    /// the better code; the runtime picks one, so x itself may show far less error than the model claimed, while
    /// a point a few ulps away shows all of it. Returns the evaluation with the larger <paramref name="score"/>. The codes
    /// are those of Q's input quantization (<see cref="Network.InputQuantization"/>); without one there is nothing to snap to.
    /// </summary>
    public static PointEvaluation? Reexecute(Network n, Network q, ReadOnlySpan<double> x, Box box, int[]? inputCodes,
        Func<PointEvaluation, double> score)
    {
        if (Reexecute(n, q, x, box) is not { } raw) return null;
        if (inputCodes is null || q.InputQuantization is not { } p || SnapToCodes(x, box, inputCodes, p) is not { } snapped) return raw;
        var repaired = WitnessChecker.Evaluate(n, q, snapped);
        return score(repaired) > score(raw) ? repaired : raw;
    }

    /// <summary>
    /// The float32 point nearest to x, inside the box, whose input quantization gives exactly <paramref name="codes"/>;
    /// null when some code's cell misses the box.
    /// </summary>
    public static float[]? SnapToCodes(ReadOnlySpan<double> x, Box box, int[] codes, QuantParams p)
    {
        var f = new float[x.Length];
        for (var i = 0; i < f.Length; i++)
        {
            var c = codes[i];
            // The cell of code c: x/s ∈ [c − zp − ½, c − zp + ½], open-ended at saturation.
            var lo = c <= p.Min ? double.NegativeInfinity : (c - p.ZeroPoint - 0.5) * (double)p.Scale;
            var hi = c >= p.Max ? double.PositiveInfinity : (c - p.ZeroPoint + 0.5) * (double)p.Scale;
            lo = Math.Max(lo, box.Lo[i]);
            hi = Math.Min(hi, box.Hi[i]);
            if (lo > hi || !Float32Points.TryRound(x[i], lo, hi, out var v)) return null;
            // Near the cell's edges float32 division may still round the other way: walk inward a few ulps.
            var inward = Math.Clamp(x[i], lo, hi) - (lo + hi) / 2 > 0 ? -1 : 1;
            for (var step = 0; QuantMath.Quantize(v, p) != c; step++)
            {
                if (step == 64) return null;
                v = inward < 0 ? MathF.BitDecrement(v) : MathF.BitIncrement(v);
                if (v < box.Lo[i] || v > box.Hi[i]) return null;
            }
            f[i] = v;
        }
        return f;
    }

    private static float[] Plain(ReadOnlySpan<double> x)
    {
        var f = new float[x.Length];
        for (var i = 0; i < f.Length; i++) f[i] = (float)x[i];
        return f;
    }
}
