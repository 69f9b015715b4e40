using QEquiv.Regions;

namespace QEquiv.Falsification;

/// <summary>
/// Turns real-valued candidate points into the float32 inputs a runtime receives, without leaving the
/// box: rounding to float32 can step just over a bound (e.g. hi = 0.1 in double, (float)0.1 &gt; 0.1),
/// and a witness outside the box would be a false counterexample.
/// </summary>
public static class Float32Points
{
    /// <summary>
    /// The float32 nearest to <paramref name="v"/> that lies in [lo, hi] (v is first clamped to the interval).
    /// False when no float32 lies in [lo, hi] (a degenerate interval between two float32 values).
    /// </summary>
    public static bool TryRound(double v, double lo, double hi, out float value)
    {
        var c = Math.Clamp(v, lo, hi);
        var f = (float)c;
        // One ulp step suffices: (float)c is within half an ulp of c ∈ [lo, hi].
        if (f < lo) f = MathF.BitIncrement(f);
        else if (f > hi) f = MathF.BitDecrement(f);
        value = f;
        return f >= lo && f <= hi;
    }

    /// <summary>The float32 point nearest to <paramref name="x"/> inside <paramref name="box"/>, or null when the box holds no float32 point.</summary>
    public static float[]? RoundInto(Box box, ReadOnlySpan<double> x)
    {
        if (x.Length != box.Dimension)
            throw new ArgumentException($"point has {x.Length} values, the box {box.Dimension}");
        var f = new float[x.Length];
        for (var i = 0; i < x.Length; i++)
            if (!TryRound(x[i], box.Lo[i], box.Hi[i], out f[i])) return null;
        return f;
    }
}
