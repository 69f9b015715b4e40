namespace QEquiv.Quantization;

/// <summary>A 16-bit binary floating-point storage format.</summary>
public enum FloatFormat
{
    /// <summary>IEEE 754 binary16: 1 sign, 5 exponent, 10 fraction bits; 11 significant bits, normal from 2⁻¹⁴, largest 65504.</summary>
    Float16,
    /// <summary>bfloat16: the top 16 bits of a float32 (1 sign, 8 exponent, 7 fraction bits); 8 significant bits, float32's range.</summary>
    BFloat16,
}

/// <summary>
/// Rounding to a 16-bit format exactly as the runtimes round (IEEE round to nearest, ties to even; a result beyond the
/// largest finite value, i.e. |x| at or past the midpoint between it and the next power of two, overflows to ±∞; NaN
/// stays NaN; the sign of zero is kept; subnormals are kept, not flushed). Computed from the value's exponent and
/// the format's precision, on doubles: every float16 and bfloat16 value is a float32 (and a double) exactly, so
/// <see cref="Round"/>'s result is that value itself. The bit patterns (<see cref="ToBits"/>, <see cref="FromBits"/>)
/// are what an ONNX FLOAT16 / BFLOAT16 tensor stores.
/// </summary>
public static class FloatFormats
{
    public static string Name(this FloatFormat f) => f == FloatFormat.Float16 ? "float16" : "bfloat16";

    /// <summary>Significant bits p (the implicit one included).</summary>
    public static int Precision(this FloatFormat f) => f == FloatFormat.Float16 ? 11 : 8;

    /// <summary>The exponent of the smallest normal value, 2^MinExponent.</summary>
    public static int MinExponent(this FloatFormat f) => f == FloatFormat.Float16 ? -14 : -126;

    /// <summary>The exponent of the largest finite value's binade.</summary>
    public static int MaxExponent(this FloatFormat f) => f == FloatFormat.Float16 ? 15 : 127;

    /// <summary>The largest finite value: (2 − 2^(1−p))·2^MaxExponent (65504 for float16, ≈ 3.39·10³⁸ for bfloat16).</summary>
    public static double MaxFinite(this FloatFormat f) => (2 - Math.ScaleB(1, 1 - f.Precision())) * Math.ScaleB(1, f.MaxExponent());

    /// <summary>Unit roundoff u = 2^−p: |round(x) − x| ≤ u·|x| for x in the normal range.</summary>
    public static double UnitRoundoff(this FloatFormat f) => Math.ScaleB(1, -f.Precision());

    /// <summary>The subnormal step 2^(MinExponent − p + 1) (2⁻²⁴ for float16, 2⁻¹³³ for bfloat16): the spacing below 2^MinExponent.</summary>
    public static double SubnormalStep(this FloatFormat f) => Math.ScaleB(1, f.MinExponent() - f.Precision() + 1);

    /// <summary>
    /// A bound on |<see cref="RoundSaturating"/>(x) − x| for every x with |x| ≤ <paramref name="maxAbs"/>: u·maxAbs + ½·subnormal
    /// step (relative in the normal range, absolute below it), and at least maxAbs − the largest finite value where the
    /// range reaches the overflow threshold (there the saturated value stands in for ±∞).
    /// </summary>
    public static double RoundingError(this FloatFormat f, double maxAbs)
    {
        var e = f.UnitRoundoff() * maxAbs + 0.5 * f.SubnormalStep();
        if (!(maxAbs < f.OverflowThreshold())) e = Math.Max(e, maxAbs - f.MaxFinite());
        return e * (1 + 1e-12);
    }

    /// <summary>
    /// <see cref="Round"/> with ±∞ replaced by ±the largest finite value: what the analyses bound. It equals
    /// <see cref="Round"/> below the overflow threshold; a box on which some rounding's input may reach the threshold gets
    /// an infinite float32 error bound (<c>Float32Error</c>), so nothing is verified there.
    /// </summary>
    public static double RoundSaturating(this FloatFormat f, double x)
    {
        var r = f.Round(x);
        return double.IsInfinity(r) ? double.CopySign(f.MaxFinite(), r) : r;
    }

    /// <summary>The spacing of the format's values at magnitude <paramref name="maxAbs"/> (the subnormal step below the normal range):
    /// two values of magnitude ≤ maxAbs each round by at most half of it.</summary>
    public static double Ulp(this FloatFormat f, double maxAbs)
    {
        var min = f.MinExponent();
        if (!(maxAbs >= Math.ScaleB(1, min))) return f.SubnormalStep();
        return Math.ScaleB(1, Math.Max(Math.ILogB(maxAbs), min) - f.Precision() + 1);
    }

    /// <summary>The smallest magnitude that rounds to ±∞: the midpoint (2 − 2^−p)·2^MaxExponent (65520 for float16).</summary>
    public static double OverflowThreshold(this FloatFormat f) => (2 - Math.ScaleB(1, -f.Precision())) * Math.ScaleB(1, f.MaxExponent());

    /// <summary>x rounded to the nearest value of the format, ties to even; ±∞ past the overflow threshold.</summary>
    public static double Round(this FloatFormat f, double x)
    {
        if (double.IsNaN(x) || double.IsInfinity(x) || x == 0) return x;
        var a = Math.Abs(x);
        if (a >= f.OverflowThreshold()) return double.CopySign(double.PositiveInfinity, x);
        // The spacing of the format at x: 2^(e − p + 1) in x's binade, the subnormal step below the normal range. x / spacing
        // and the product back are exact (powers of two, far from double's limits), so one round-half-even on the scaled
        // value is the whole rounding; a result that reaches the next binade (or 2^MinExponent) is still a format value.
        var e = Math.Max(Math.ILogB(a), f.MinExponent());
        var step = Math.ScaleB(1, e - f.Precision() + 1);
        var r = Math.Round(a / step, MidpointRounding.ToEven) * step;
        return double.CopySign(r, x);
    }

    /// <summary>x rounded (<see cref="Round"/>) and encoded: FLOAT16 (IEEE binary16) or BFLOAT16 bits.</summary>
    public static ushort ToBits(this FloatFormat f, double x)
    {
        var r = f.Round(x);
        var sign = double.IsNegative(r) ? 1 : 0;
        int exponentBits = f == FloatFormat.Float16 ? 5 : 8, fractionBits = f.Precision() - 1;
        var allOnes = (1 << exponentBits) - 1;
        int biased, fraction;
        if (double.IsNaN(r)) (sign, biased, fraction) = (0, allOnes, 1 << (fractionBits - 1)); // the quiet NaN
        else if (double.IsInfinity(r)) (biased, fraction) = (allOnes, 0);
        else if (r == 0) (biased, fraction) = (0, 0);
        else
        {
            var a = Math.Abs(r);
            var e = Math.ILogB(a);
            if (e < f.MinExponent()) (biased, fraction) = (0, (int)(a / f.SubnormalStep()));
            else (biased, fraction) = (e - f.MinExponent() + 1, (int)(Math.ScaleB(a, fractionBits - e) - (1 << fractionBits)));
        }
        return (ushort)((sign << 15) | (biased << fractionBits) | fraction);
    }

    /// <summary>The value of a FLOAT16 or BFLOAT16 bit pattern (NaN for every NaN pattern).</summary>
    public static double FromBits(this FloatFormat f, ushort bits)
    {
        int exponentBits = f == FloatFormat.Float16 ? 5 : 8, fractionBits = f.Precision() - 1;
        var allOnes = (1 << exponentBits) - 1;
        var negative = (bits & 0x8000) != 0;
        var biased = (bits >> fractionBits) & allOnes;
        var fraction = bits & ((1 << fractionBits) - 1);
        double v = biased == allOnes ? (fraction == 0 ? double.PositiveInfinity : double.NaN)
            : biased == 0 ? fraction * f.SubnormalStep()
            : Math.ScaleB(1 + Math.ScaleB(fraction, -fractionBits), biased - 1 + f.MinExponent());
        return negative ? -v : v;
    }
}
