using QEquiv.Evaluation;
using QEquiv.Networks;
using QEquiv.Regions;

namespace QEquiv.Encoding;

/// <summary>A candidate input re-executed exactly: N on the float32 input (in double), Q with the runtime semantics.</summary>
public sealed record CandidateEvaluation(float[] Input, double[] FloatOutputs, float[] QuantizedOutputs, double[] Differences)
{
    /// <summary>max_j |N_j − Q_j|.</summary>
    public double MaxAbsDifference => Differences.Max(Math.Abs);

    /// <summary>s·(N_j − Q_j).</summary>
    public double SignedDifference(int output, int sign) => sign * Differences[output];

    /// <summary>True when this point violates δ-equivalence: some |N_j − Q_j| ≥ δ.</summary>
    public bool Violates(double delta) => MaxAbsDifference >= delta;
}

/// <summary>
/// Turns solver output into runtime-checked evidence. A MILP solution is only a candidate: the model admits
/// both roundings near ties and works to solver tolerances, so nothing is reported without re-execution.
/// </summary>
public static class Candidates
{
    /// <summary>
    /// Rounds x to float32 (what a runtime receives), keeping each coordinate inside the box when the box
    /// allows it (solvers return points up to their tolerance outside the bounds, and float32 rounding can
    /// step outside too), then evaluates both networks.
    /// </summary>
    public static CandidateEvaluation Reexecute(FloatNetwork n, QuantizedNetwork q, ReadOnlySpan<double> x, Box? box = null)
    {
        var input = ToFloat32(x, box);
        var fy = FloatEvaluator.Evaluate(n, input);
        var qy = QuantizedEvaluator.Evaluate(q, input);
        var d = new double[fy.Length];
        for (var j = 0; j < d.Length; j++) d[j] = fy[j] - qy[j];
        return new CandidateEvaluation(input, fy, qy, d);
    }

    public static float[] ToFloat32(ReadOnlySpan<double> x, Box? box)
    {
        var f = new float[x.Length];
        for (var i = 0; i < f.Length; i++)
        {
            var v = x[i];
            if (box is not null) v = Math.Clamp(v, box.Lo[i], box.Hi[i]);
            var r = (float)v;
            if (box is not null)
            {
                if (r > box.Hi[i] && MathF.BitDecrement(r) >= box.Lo[i]) r = MathF.BitDecrement(r);
                else if (r < box.Lo[i] && MathF.BitIncrement(r) <= box.Hi[i]) r = MathF.BitIncrement(r);
            }
            f[i] = r;
        }
        return f;
    }
}
