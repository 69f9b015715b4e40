
namespace QEquiv.Bounds;

/// <summary>What <see cref="DifferentialBounds.Of"/> computes beyond the interval-differential pass.</summary>
/// <param name="Symbolic">Also back-substitute Δ to the input (the symbolic-differential bound).</param>
/// <param name="EveryNeuron">Back-substitute every neuron, not only those whose relaxation depends on its bounds
/// (tighter per-layer records for the encoder, slower).</param>
public sealed record DifferentialOptions(bool Symbolic = true, bool EveryNeuron = false);

/// <summary>
/// Differential bounds of Δ = N − Q (the ReluDiff → NeuroDiff → QEBVerif-DRA lineage): Δ is propagated as a
/// quantity of its own, so the large but shared parts of N and Q cancel instead of adding up.
/// Per layer k, with h, ĥ the two networks' layer outputs and v = Ŵĥ + b̂ the quantized pre-rounding value,
///   Δz_k = z_k − (v_k + ρ_k) = Ŵ_k Δh_{k−1} + (W_k − Ŵ_k) h_{k−1} + (b_k − b̂_k) − ρ_k
///        = W_k Δh_{k−1} + (W_k − Ŵ_k) ĥ_{k−1} + (b_k − b̂_k) − ρ_k,
/// and after the activations Δh = f(z) − clamp(y, lo, hi), y = v + ρ, written as the pair term f(z) − g(y)
/// (ReluDiff's rules: relu(z) − relu(y) ∈ [min(0, Δz), max(0, Δz)], = Δz when both are active, 0 when both are
/// inactive, one-sided when one phase is known) plus saturation terms relu(y − hi) (and −relu(lo − y) when Q has
/// no ReLU) that are non-zero only where y's bounds reach the clamp limits.
/// </summary>
public static partial class DifferentialBounds
{
    /// <summary>
    /// The joint relaxation of Δh = f(z) − clamp(y, lo, hi) in terms of Δz = z − y, f = ReLU or identity. A
    /// relaxation in Δz alone (the other variables enter only through their ranges) keeps back-substitution
    /// to two matrices per layer.
    /// </summary>
    internal static LinearRelaxation Joint(bool floatRelu, Interval z, Interval y, Interval dz, double lo, double hi) =>
        PairTerm(floatRelu, z, y, dz, lo).Plus(Saturation(y, lo, hi));

    /// <summary>
    /// clamp(y, lo, hi) = g(y) − relu(y − hi) [+ relu(lo − y) when g = identity], valid for any lo ≤ hi, with g = ReLU
    /// when lo = 0 (ReLU with the zero point) and the identity otherwise; this is the range of what the clamp adds to
    /// Δ beyond the pair term: zero unless y's bounds reach a limit.
    /// </summary>
    internal static Interval Saturation(Interval y, double lo, double hi)
    {
        var saturation = new Interval(Relu(y.Lo - hi), Relu(y.Hi - hi));
        if (lo != 0) saturation += new Interval(-Relu(lo - y.Lo), -Relu(lo - y.Hi));
        return saturation;
    }

    /// <summary>
    /// The pair term f(z) − g(y) as a relaxation in Δz = z − y. For two ReLUs ReluDiff's
    /// [min(0, Δz), max(0, Δz)] holds whatever the phases; where one phase is known a phase-specific form also
    /// holds (e.g. Δz + min(y, 0) when z ≥ 0), and each side takes whichever is tighter over Δz's range: the
    /// phase-specific offsets come from the separate bounds of z and y, which are loose exactly where N and Q
    /// disagree about a phase.
    /// </summary>
    internal static LinearRelaxation PairTerm(bool floatRelu, Interval z, Interval y, Interval dz, double lo)
    {
        var quantRelu = lo == 0;
        if (floatRelu && quantRelu)
        {
            if (z.Hi <= 0 && y.Hi <= 0) return LinearRelaxation.Constant(Interval.Point(0));
            if (z.Lo >= 0 && y.Lo >= 0) return LinearRelaxation.Identity;
            var chord = BetweenZeroAnd(dz);
            LinearRelaxation phase;
            if (z.Hi <= 0) phase = LinearRelaxation.Constant(new Interval(-Relu(y.Hi), 0));
            else if (y.Hi <= 0) phase = LinearRelaxation.Constant(new Interval(0, Relu(z.Hi)));
            // z ≥ 0: relu(z) − relu(y) = Δz + min(y, 0); y ≥ 0: = Δz + relu(−z).
            else if (z.Lo >= 0) phase = LinearRelaxation.Identity.Plus(new Interval(Math.Min(y.Lo, 0), 0));
            else if (y.Lo >= 0) phase = LinearRelaxation.Identity.Plus(new Interval(0, Relu(-z.Lo)));
            else return chord;
            return Tighter(phase, chord, dz);
        }
        if (floatRelu) return LinearRelaxation.Identity.Plus(new Interval(Relu(-z.Hi), Relu(-z.Lo)));   // relu(z) − y = Δz + relu(−z)
        if (quantRelu) return LinearRelaxation.Identity.Plus(new Interval(-Relu(-y.Lo), -Relu(-y.Hi))); // z − relu(y) = Δz − relu(−y)
        return LinearRelaxation.Identity;
    }

    /// <summary>Per side, the relaxation whose bound over dz is tighter (both are valid, so either side may be taken).</summary>
    private static LinearRelaxation Tighter(LinearRelaxation a, LinearRelaxation b, Interval dz)
    {
        Interval ra = a.Over(dz), rb = b.Over(dz);
        var low = ra.Lo >= rb.Lo ? (a.LowSlope, a.LowIntercept) : (b.LowSlope, b.LowIntercept);
        var up = ra.Hi <= rb.Hi ? (a.UpSlope, a.UpIntercept) : (b.UpSlope, b.UpIntercept);
        return new LinearRelaxation(low.Item1, low.Item2, up.Item1, up.Item2);
    }

    /// <summary>Whether <see cref="Joint"/> uses the range of Δz (two ReLUs not both stable in the same phase).</summary>
    internal static bool JointNeedsDeltaRange(bool floatRelu, Interval z, Interval y, double lo) =>
        floatRelu && lo == 0 && !(z.Hi <= 0 && y.Hi <= 0) && !(z.Lo >= 0 && y.Lo >= 0);

    /// <summary>
    /// The pair-term range from the two ranges alone (monotone f, g): a second bound to intersect with.
    /// </summary>
    internal static Interval PairFromRanges(bool floatRelu, Interval z, Interval y, double lo)
    {
        var f = floatRelu ? z.Relu() : z;
        var g = lo == 0 ? y.Relu() : y;
        return f - g;
    }

    /// <summary>[min(0, Δz), max(0, Δz)] over Δz ∈ dz: chords of the two kinked functions (the triangle relaxation).</summary>
    private static LinearRelaxation BetweenZeroAnd(Interval dz)
    {
        double l = dz.Lo, u = dz.Hi;
        if (l >= 0) return new LinearRelaxation(0, 0, 1, 0);
        if (u <= 0) return new LinearRelaxation(1, 0, 0, 0);
        var pad = 1e-12 * (u - l) + 1e-15;
        return new LinearRelaxation(-l / (u - l), l * u / (u - l) - pad, u / (u - l), -u * l / (u - l) + pad);
    }

    private static double Relu(double v) => Math.Max(v, 0);

    internal sealed record PassResult(Interval[] Outputs, IReadOnlyList<Interval[]> Hidden)
    {
        public IReadOnlyList<double[]?> Sensitivity { get; init; } = [];
    }
}
