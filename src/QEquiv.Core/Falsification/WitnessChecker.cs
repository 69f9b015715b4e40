using QEquiv.Evaluation;
using QEquiv.Model;
using QEquiv.Networks;

namespace QEquiv.Falsification;

/// <summary>
/// Both networks' outputs at one float32 input and their per-output differences N_j − Q_j (N the reference network,
/// Q the other; the names are the float-vs-quantized case's).
/// </summary>
public sealed record PointEvaluation(float[] Input, double[] FloatOutput, double[] QuantOutput, double[] Differences)
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
    /// Both networks on the float32 input (exactly the values the runtime gets), each in its own exact arithmetic
    /// (<see cref="Network.Evaluate(ReadOnlySpan{float})"/>: N's real arithmetic in double, Q's codes bit-exactly).
    /// </summary>
    public static PointEvaluation Evaluate(Network reference, Network other, float[] x)
    {
        ArgumentNullException.ThrowIfNull(reference);
        ArgumentNullException.ThrowIfNull(other);
        ArgumentNullException.ThrowIfNull(x);
        CheckShapes(reference, other, x.Length);
        var n = reference.Evaluate((ReadOnlySpan<float>)x);
        var q = other.Evaluate((ReadOnlySpan<float>)x);
        var d = new double[n.Length];
        for (var j = 0; j < d.Length; j++) d[j] = n[j] - q[j];
        return new PointEvaluation((float[])x.Clone(), n, q, d);
    }

    /// <summary>
    /// A witness when some output breaks δ for N in real arithmetic AND in every float32 evaluation order a runtime
    /// may use: |N_j(x) − Q_j(x)| − err_j(x) ≥ <paramref name="delta"/>, N_j exact and err_j the sum of both networks'
    /// rigorous bounds of <see cref="Float32Error.AtPoint(Network, ReadOnlySpan{float}, bool[])"/> (0 for a network that is
    /// computed in the runtime's arithmetic already, such as a quantized one; ≥ because equivalence is the strict &lt; δ), otherwise
    /// null. NaN differences never count as a violation.
    /// </summary>
    public static Witness? Check(Network reference, Network other, float[] x, double delta)
    {
        if (!double.IsFinite(delta) || delta <= 0)
            throw new ArgumentOutOfRangeException(nameof(delta), delta, "delta must be finite and > 0");
        return ToWitness(reference, other, Evaluate(reference, other, x), delta);
    }

    /// <summary>
    /// The witness for an evaluation already made (by <see cref="Evaluate(Network, Network, float[])"/> with
    /// <paramref name="reference"/>), or null when no output reaches <paramref name="delta"/> by the rule of
    /// <see cref="Check(Network, Network, float[], double)"/>. The exact check comes first (it is implied by the float32
    /// one, and cheap), so only candidates that pass it pay for the error bound.
    /// </summary>
    public static Witness? ToWitness(Network reference, Network other, PointEvaluation e, double delta)
    {
        ArgumentNullException.ThrowIfNull(reference);
        ArgumentNullException.ThrowIfNull(other);
        ArgumentNullException.ThrowIfNull(e);
        if (!(e.MaxAbsDifference >= delta)) return null;
        // Only outputs that reach δ exactly can be witnesses; the refined bound is computed for them alone (the search
        // calls this on every candidate that reaches δ), and for every output once a witness is certain.
        var reaching = Array.ConvertAll(e.Differences, d => Math.Abs(d) >= delta);
        var error = Float32Errors(reference, other, e.Input, reaching);
        var best = -1;
        var bestMargin = double.NegativeInfinity;
        for (var j = 0; j < e.Differences.Length; j++)
        {
            var guaranteed = Math.Abs(e.Differences[j]) - error[j];
            if (guaranteed >= delta && guaranteed > bestMargin) (best, bestMargin) = (j, guaranteed);
        }
        if (best < 0) return null;
        error = Float32Errors(reference, other, e.Input, null);
        // Witness keeps Q's outputs as float32 (what a quantized network's are, exactly; the wire and job-log format);
        // the difference itself is the exact one.
        return new Witness((float[])e.Input.Clone(), (double[])e.FloatOutput.Clone(), Array.ConvertAll(e.QuantOutput, v => (float)v), best,
            e.Differences[best], Math.Abs(e.Differences[best]), Float32Sequential.Evaluate(reference, e.Input), error);
    }

    /// <summary>
    /// Whether the point breaks a non-strict two-network spec (VNN-LIB 2.0's |Y_g − Y_f| ≤ ε, <see cref="Regions.TwoNetworkSpec"/>)
    /// for both networks in real arithmetic and in every float32 evaluation order: some output and side exceeds its bound
    /// strictly once both networks' float32 error bounds are allowed for (the rule of <see cref="Check"/> with &gt; for ≥).
    /// Returns that output, or null: a witness of |N_j − Q_j| ≥ δ whose difference is exactly the bound is no
    /// counterexample of such a spec.
    /// </summary>
    public static int? ExceedsSpec(Network reference, Network other, float[] x, Regions.TwoNetworkSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var e = Evaluate(reference, other, x);
        if (spec.Plus.Length != e.Differences.Length)
            throw new ArgumentException($"the spec bounds {spec.Plus.Length} outputs, the networks have {e.Differences.Length}", nameof(spec));
        return spec.ExceededBy(e.Differences, Float32Errors(reference, other, e.Input, null));
    }

    /// <summary>Both networks' float32 error bounds at x, added: a float "other" (a pruned or float16-rounded twin) runs in
    /// float32 too, and a quantized one contributes 0 (it is computed in its runtime's arithmetic already).</summary>
    private static double[] Float32Errors(Network reference, Network other, float[] x, bool[]? refine)
    {
        var error = Float32Error.AtPoint(reference, x, refine);
        var second = Float32Error.AtPoint(other, x, refine);
        for (var j = 0; j < error.Length; j++) error[j] += second[j];
        return error;
    }

    private static void CheckShapes(Network reference, Network other, int inputLength)
    {
        if (reference.InputSize != other.InputSize || reference.OutputSize != other.OutputSize)
            throw new ArgumentException(
                $"the networks differ in shape: reference {reference.InputSize}→{reference.OutputSize}, other {other.InputSize}→{other.OutputSize}");
        if (inputLength != reference.InputSize)
            throw new ArgumentException($"input has {inputLength} values, the networks take {reference.InputSize}");
    }
}
