namespace QEquiv.Falsification;

/// <summary>
/// A concrete input on which the networks differ by at least δ, with both outputs as re-executed exactly
/// (N the reference network, Q the other; <see cref="QuantOutput"/> is Q's outputs in float32, exact for a quantized
/// Q). <see cref="Output"/> is the output that breaks δ by the most once N's float32 error is allowed for (the first on
/// ties), <see cref="Difference"/> its signed N_j − Q_j with N in double and
/// <see cref="MaxAbsDifference"/> its |N_j − Q_j|.
/// </summary>
/// <param name="Float32Output">N in float32 with sequential summation (<see cref="Evaluation.Float32Sequential.Evaluate"/>):
/// what a straightforward float32 runtime gives; ONNX Runtime's or PyTorch's kernels may differ in the last bits.</param>
/// <param name="Float32Error">Per output, the rigorous bound on |N_f32 − N| for ANY float32 evaluation order
/// (<see cref="Evaluation.Float32Error.AtPoint(Model.Network, ReadOnlySpan{float}, bool[])"/>), plus Q's own where Q is
/// a float network too (0 for a quantized Q); it covers N in real arithmetic too. Null only in witnesses made
/// before these fields existed (a job log): <see cref="WitnessChecker.Check"/> fills them in again.</param>
public sealed record Witness(float[] Input, double[] FloatOutput, float[] QuantOutput, int Output, double Difference, double MaxAbsDifference,
    float[]? Float32Output = null, double[]? Float32Error = null)
{
    /// <summary>
    /// The least |N_j − Q_j| at the violating output over every float32 evaluation order of N and over real arithmetic:
    /// |N_j − Q_j| − Float32Error_j. A witness is reported only when this is ≥ δ.
    /// </summary>
    public double GuaranteedAbsDifference => MaxAbsDifference - (Float32Error is { } e ? e[Output] : 0);

    /// <summary>N_j − Q_j at the violating output with N in sequential float32; null when <see cref="Float32Output"/> is.</summary>
    public double? Float32Difference => Float32Output is { } f ? (double)f[Output] - QuantOutput[Output] : null;
}
