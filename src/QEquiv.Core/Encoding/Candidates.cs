using QEquiv.Falsification;
using QEquiv.Networks;
using QEquiv.Regions;

namespace QEquiv.Encoding;

/// <summary>
/// Turns solver output into runtime-checked evidence. A MILP solution is only a candidate: the model admits
/// both roundings near ties and works to solver tolerances, so nothing is reported without re-execution.
/// </summary>
public static class Candidates
{
    /// <summary>
    /// Rounds x to the float32 point a runtime would receive — inside the box when one is given (solvers
    /// return points up to their tolerance outside the bounds) — and evaluates both networks exactly.
    /// </summary>
    public static PointEvaluation Reexecute(FloatNetwork n, QuantizedNetwork q, ReadOnlySpan<double> x, Box? box = null)
    {
        var input = (box is null ? null : Float32Points.RoundInto(box, x)) ?? Plain(x);
        return WitnessChecker.Evaluate(n, q, input);
    }

    private static float[] Plain(ReadOnlySpan<double> x)
    {
        var f = new float[x.Length];
        for (var i = 0; i < f.Length; i++) f[i] = (float)x[i];
        return f;
    }
}
