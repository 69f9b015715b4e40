namespace QEquiv.Bounds;

/// <summary>
/// Linear lower and upper bounds of an element-wise function σ on a known input range:
/// LowSlope·t + LowIntercept ≤ σ(t) ≤ UpSlope·t + UpIntercept for every t of that range (DeepPoly's
/// per-neuron abstraction). Slopes are never negative here, which is what lets a noisy input t + ρ be
/// bounded by the relaxation evaluated at t ± |ρ|max.
/// </summary>
public readonly record struct LinearRelaxation(double LowSlope, double LowIntercept, double UpSlope, double UpIntercept)
{
    /// <summary>Relative padding of intercepts: slopes like u/(u − l) are rounded, so the line may miss a kink by an ulp.</summary>
    private const double Padding = 1e-12;

    public static LinearRelaxation Identity { get; } = new(1, 0, 1, 0);

    /// <summary>Only the range is known (slope 0): used where the function is not tracked symbolically.</summary>
    public static LinearRelaxation Constant(Interval range) => new(0, range.Lo, 0, range.Hi);

    /// <summary>Adds an unknown term bounded by <paramref name="offset"/> to σ.</summary>
    public LinearRelaxation Plus(Interval offset) => new(LowSlope, LowIntercept + offset.Lo, UpSlope, UpIntercept + offset.Hi);

    /// <summary>The range of σ implied by the relaxation over an input range.</summary>
    public Interval Over(Interval t) => new(
        LowSlope >= 0 ? LowSlope * t.Lo + LowIntercept : LowSlope * t.Hi + LowIntercept,
        UpSlope >= 0 ? UpSlope * t.Hi + UpIntercept : UpSlope * t.Lo + UpIntercept);

    /// <summary>
    /// clamp(t, lo, hi) for t ∈ [t.Lo, t.Hi], lo ≤ hi (hi may be +∞: ReLU is clamp(t, 0, ∞)). Where the range
    /// crosses one kink this is the DeepPoly ReLU relaxation (chord on the convex side, and on the other side
    /// the flat piece or the identity, whichever leaves the smaller area); across both kinks, the two lines
    /// through a kink and the far end of the other.
    /// </summary>
    public static LinearRelaxation Clamp(Interval t, double lo, double hi)
    {
        double l = t.Lo, u = t.Hi;
        LinearRelaxation r;
        if (u <= lo) return Constant(Interval.Point(lo));
        if (l >= hi) return Constant(Interval.Point(hi));
        if (l >= lo && u <= hi) return Identity;
        if (l < lo && u <= hi)
        {
            var a = (u - lo) / (u - l);
            r = u - lo >= lo - l ? new(1, 0, a, lo - a * l) : new(0, lo, a, lo - a * l);
        }
        else if (l >= lo && u > hi)
        {
            var a = (hi - l) / (u - l);
            r = hi - l >= u - hi ? new(a, l - a * l, 1, 0) : new(a, l - a * l, 0, hi);
        }
        else
        {
            var up = (hi - lo) / (hi - l);
            var low = (hi - lo) / (u - lo);
            r = new(low, lo - low * lo, up, lo - up * l);
        }
        var scale = Math.Abs(l) + Math.Abs(u) + Math.Abs(lo) + (double.IsFinite(hi) ? Math.Abs(hi) : 0);
        var pad = Padding * scale + 1e-15;
        return r with { LowIntercept = r.LowIntercept - pad, UpIntercept = r.UpIntercept + pad };
    }

    /// <summary>
    /// clamp(v + ρ, lo, hi) as a relaxation in v, for |ρ| ≤ radius and v + ρ ∈ <paramref name="noisy"/>: the
    /// relaxation L ≤ clamp ≤ U on that range has non-negative slopes, so clamp(v + ρ) ≤ U(v + radius) and
    /// ≥ L(v − radius). This is how a rounding (ρ = rounding error) enters the quantized network's relaxation.
    /// </summary>
    public static LinearRelaxation ClampWithNoise(Interval noisy, double radius, double lo, double hi)
    {
        var r = Clamp(noisy, lo, hi);
        return new(r.LowSlope, r.LowIntercept - r.LowSlope * radius, r.UpSlope, r.UpIntercept + r.UpSlope * radius);
    }
}
