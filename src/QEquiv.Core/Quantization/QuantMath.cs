namespace QEquiv.Quantization;

public enum QuantType { UInt8, Int8, Int32 }

/// <summary>Scale, zero point and integer type of a quantized tensor.</summary>
public readonly record struct QuantParams(float Scale, int ZeroPoint, QuantType Type)
{
    public int Min => QuantMath.Min(Type);
    public int Max => QuantMath.Max(Type);
    public override string ToString() => $"scale {Scale:R}, zero point {ZeroPoint}, {Type.ToString().ToLowerInvariant()}";
}

/// <summary>
/// The runtime's arithmetic, to the bit (see docs/quantization-semantics.md). All float operations
/// here are float32 on purpose: the deployed runtimes compute in float32 and the result differs from
/// a double computation near rounding ties.
/// </summary>
public static class QuantMath
{
    public static int Min(QuantType t) => t switch { QuantType.UInt8 => 0, QuantType.Int8 => -128, _ => int.MinValue };
    public static int Max(QuantType t) => t switch { QuantType.UInt8 => 255, QuantType.Int8 => 127, _ => int.MaxValue };

    public static int Saturate(long v, int min, int max) => v < min ? min : v > max ? max : (int)v;

    /// <summary>Round half to even of a float32, as an integer (saturating at the long range).</summary>
    public static long RoundHalfEven(float v) => (long)MathF.Round(v, MidpointRounding.ToEven);

    /// <summary>QuantizeLinear: saturate(roundHalfEven(float32(x / scale)) + zeroPoint).</summary>
    public static int Quantize(float x, QuantParams p)
    {
        var scaled = x / p.Scale;
        if (float.IsNaN(scaled)) return Saturate(p.ZeroPoint, p.Min, p.Max);
        if (float.IsInfinity(scaled)) return scaled > 0 ? p.Max : p.Min;
        return Saturate(RoundHalfEven(scaled) + p.ZeroPoint, p.Min, p.Max);
    }

    /// <summary>DequantizeLinear: (q − zeroPoint) · scale in float32.</summary>
    public static float Dequantize(int q, QuantParams p) => (q - p.ZeroPoint) * p.Scale;

    /// <summary>
    /// Requantization multiplier M = (s_in · s_w) / s_out with each operation rounded to float32,
    /// as PyTorch's qnnpack computes it in C++ float arithmetic.
    /// </summary>
    public static float Multiplier(float inputScale, float weightScale, float outputScale)
    {
        var product = inputScale * weightScale;
        return product / outputScale;
    }

    /// <summary>saturate(roundHalfEven(float32(acc) · M) + zeroPoint).</summary>
    public static int Requantize(int acc, float multiplier, QuantParams output)
    {
        var scaled = (float)acc * multiplier;
        return Saturate(RoundHalfEven(scaled) + output.ZeroPoint, output.Min, output.Max);
    }

    /// <summary>
    /// PyTorch's int32 bias: round_half_even(b · float32(1 / float32(s_in · s_w))), as ATen's quantize_val
    /// computes it when a quantized Linear runs (the product is taken in double, then rounded to float32).
    /// Saturates at the int32 range.
    /// </summary>
    public static int QuantizeBias(float bias, float inputScale, float weightScale)
    {
        var inverse = 1f / (float)((double)inputScale * weightScale);
        return (int)Math.Clamp(RoundHalfEven(bias * inverse), int.MinValue, int.MaxValue);
    }

    /// <summary>True when a scale can be used: finite and strictly positive.</summary>
    public static bool IsValidScale(float s) => float.IsFinite(s) && s > 0;
}
