namespace QEquiv.Bounds;

/// <summary>
/// How far the runtime's float32 value before a rounding can be from the real value the MILP models,
/// and the resulting integer ranges. Shared by bound propagation and the MILP so both use the same band.
/// </summary>
public static class RoundingModel
{
    /// <summary>2⁻²²: twice the float32 unit roundoff bound of two roundings (2·2⁻²⁴) — see <see cref="Widening"/>.</summary>
    public const double RelativeError = 1.0 / (1 << 22);

    /// <summary>
    /// Absolute slack. Covers float32 subnormals/underflow (absolute error ≤ 2⁻¹⁴⁹ per operation) and the
    /// double-precision error of computing acc·M and x/s in the model itself, with orders of magnitude to spare.
    /// </summary>
    public const double AbsoluteError = 1e-6;

    /// <summary>
    /// Bound on |float32 value − real value| before a rounding, for a real value of magnitude ≤ maxAbs.
    /// Input quantization computes float32(float32(x)/s): two roundings, each with relative error ≤ 2⁻²⁴,
    /// so |error| ≤ |x/s|·(2·2⁻²⁴ + 2⁻⁴⁸) &lt; |x/s|·2⁻²². Dense requantization computes float32(float32(acc)·M)
    /// with M already float32 (so exact in the model): the same two roundings, same bound. Using 2⁻²² rather
    /// than the tight 2⁻²³ leaves a factor-2 margin for the second-order terms.
    /// </summary>
    public static double Widening(double maxAbs) => maxAbs * RelativeError + AbsoluteError;

    /// <summary>
    /// Requantize stages compute float32((q − z)·s_in [+ b]) / s_out in float32: up to three roundings of
    /// differently sized quantities, so the error is bounded term by term (product, sum, quotient) and doubled.
    /// </summary>
    public static double RequantizeWidening(double maxAbsProduct, double maxAbsSum, double outputScale, double maxAbsQuotient) =>
        2 * ((maxAbsProduct + maxAbsSum) * Math.Pow(2, -24) / outputScale + maxAbsQuotient * Math.Pow(2, -24)) + AbsoluteError;

    /// <summary>
    /// The integers a rounding of any value in [v.Lo − e, v.Hi + e] can produce: the band
    /// v − 1/2 − e ≤ r ≤ v + 1/2 + e, which also admits both neighbours at an exact tie (half-to-even is
    /// over-approximated as "either").
    /// </summary>
    public static Interval RoundedRange(Interval v, double e) =>
        new(Math.Ceiling(v.Lo - 0.5 - e), Math.Floor(v.Hi + 0.5 + e));
}
