namespace QEquiv.Bounds;

/// <summary>Bounds of one dense layer of the real-valued network.</summary>
public sealed record FloatLayerBounds(Interval[] PreActivation, Interval[] Output);

/// <summary>Bounds of every layer of the real-valued network over a box.</summary>
public sealed record FloatNetworkBounds(Interval[] Input, IReadOnlyList<FloatLayerBounds> Layers)
{
    public Interval[] Outputs => Layers[^1].Output;
}

/// <summary>
/// Bounds of one quantization step (the input quantization or one stage).
/// <see cref="PreRounding"/> bounds the REAL value the step rounds (x/s, acc·M, or relu(v)/s_out); the
/// runtime's float32 value lies within ±<see cref="Widening"/> of it. <see cref="Rounded"/> is the integer
/// range before the zero point is added; <see cref="Codes"/> is after zero point, saturation and ReLU.
/// </summary>
public sealed record QuantizedStageBounds(
    Interval[]? Accumulator,
    Interval[]? Dequantized,
    Interval[] PreRounding,
    double[] Widening,
    Interval[] Rounded,
    Interval[] Codes);

/// <summary>Bounds of the quantized network: input quantization, each stage, dequantized outputs.</summary>
public sealed record QuantizedNetworkBounds(
    QuantizedStageBounds InputQuantization,
    IReadOnlyList<QuantizedStageBounds> Stages,
    Interval[] Outputs)
{
    public Interval[] OutputCodes => Stages[^1].Codes;
}
