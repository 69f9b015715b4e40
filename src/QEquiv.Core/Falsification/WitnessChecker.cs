using QEquiv.Evaluation;
using QEquiv.Networks;

namespace QEquiv.Falsification;

/// <summary>Both networks' outputs at one float32 input and their per-output differences N_j − Q_j.</summary>
public sealed record PointEvaluation(float[] Input, double[] FloatOutput, float[] QuantOutput, double[] Differences)
{
    /// <summary>Index of the largest |N_j − Q_j| (first on ties).</summary>
    public int WorstOutput
    {
        get
        {
            var best = 0;
            for (var j = 1; j < Differences.Length; j++)
                if (Math.Abs(Differences[j]) > Math.Abs(Differences[best])) best = j;
            return best;
        }
    }

    public double MaxAbsDifference => Math.Abs(Differences[WorstOutput]);

    /// <summary>s·(N_j − Q_j).</summary>
    public double SignedDifference(int output, int sign) => sign * Differences[output];

    /// <summary>True when this point violates δ-equivalence: some |N_j − Q_j| ≥ δ.</summary>
    public bool Violates(double delta) => MaxAbsDifference >= delta;
}

/// <summary>
/// The single place that decides whether a point is a counterexample. Everything else (solvers,
/// search) only proposes points; a point is reported only after this re-execution, so a spurious
/// solver answer or a rounding slip can never become a false "falsified".
/// </summary>
public static class WitnessChecker
{
    /// <summary>
    /// Runs N in double on the float32 input (exactly the values the runtime gets) and Q bit-exactly.
    /// </summary>
    public static PointEvaluation Evaluate(FloatNetwork network, QuantizedNetwork quantized, float[] x)
    {
        ArgumentNullException.ThrowIfNull(x);
        CheckShapes(network, quantized, x.Length);
        var n = FloatEvaluator.Evaluate(network, (ReadOnlySpan<float>)x);
        var q = QuantizedEvaluator.Evaluate(quantized, (ReadOnlySpan<float>)x);
        var d = new double[n.Length];
        for (var j = 0; j < d.Length; j++) d[j] = n[j] - q[j];
        return new PointEvaluation((float[])x.Clone(), n, q, d);
    }

    /// <summary>
    /// A witness when some output breaks δ for N in real arithmetic AND in every float32 evaluation order a runtime
    /// may use: |N_j(x) − Q_j(x)| − err_j(x) ≥ <paramref name="delta"/>, N_j in double and err_j the rigorous bound of
    /// <see cref="Float32Error.AtPoint"/> (≥ because equivalence is the strict &lt; δ), otherwise null. NaN differences
    /// never count as a violation.
    /// </summary>
    public static Witness? Check(FloatNetwork network, QuantizedNetwork quantized, float[] x, double delta)
    {
        if (!double.IsFinite(delta) || delta <= 0)
            throw new ArgumentOutOfRangeException(nameof(delta), delta, "delta must be finite and > 0");
        return ToWitness(network, Evaluate(network, quantized, x), delta);
    }

    /// <summary>
    /// The witness for an evaluation already made (by <see cref="Evaluate"/> with <paramref name="network"/>), or null
    /// when no output reaches <paramref name="delta"/> by the rule of <see cref="Check"/>. The double check comes first
    /// (it is implied by the float32 one, and cheap), so only candidates that pass it pay for the error bound.
    /// </summary>
    public static Witness? ToWitness(FloatNetwork network, PointEvaluation e, double delta)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(e);
        if (!(e.MaxAbsDifference >= delta)) return null;
        // Only outputs that reach δ in double can be witnesses; the refined bound is computed for them alone (the search
        // calls this on every candidate that reaches δ in double), and for every output once a witness is certain.
        var reaching = Array.ConvertAll(e.Differences, d => Math.Abs(d) >= delta);
        var error = Float32Error.AtPoint(network, e.Input, reaching);
        var best = -1;
        var bestMargin = double.NegativeInfinity;
        for (var j = 0; j < e.Differences.Length; j++)
        {
            var guaranteed = Math.Abs(e.Differences[j]) - error[j];
            if (guaranteed >= delta && guaranteed > bestMargin) (best, bestMargin) = (j, guaranteed);
        }
        if (best < 0) return null;
        error = Float32Error.AtPoint(network, e.Input);
        return new Witness((float[])e.Input.Clone(), (double[])e.FloatOutput.Clone(), (float[])e.QuantOutput.Clone(), best,
            e.Differences[best], Math.Abs(e.Differences[best]), FloatEvaluator.EvaluateFloat32(network, e.Input), error);
    }

    private static void CheckShapes(FloatNetwork network, QuantizedNetwork quantized, int inputLength)
    {
        if (network.InputSize != quantized.InputSize || network.OutputSize != quantized.OutputSize)
            throw new ArgumentException(
                $"the networks differ in shape: float {network.InputSize}→{network.OutputSize}, quantized {quantized.InputSize}→{quantized.OutputSize}");
        if (inputLength != network.InputSize)
            throw new ArgumentException($"input has {inputLength} values, the networks take {network.InputSize}");
    }
}
