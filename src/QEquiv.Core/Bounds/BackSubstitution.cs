using QEquiv.Model;

namespace QEquiv.Bounds;

/// <summary>
/// One step of a chain of layers for back-substitution: pre = W·(previous output) + b (W null: the identity,
/// for element-wise steps), then an element-wise function whose output is bounded by <see cref="Relaxations"/>
/// in terms of pre.
/// </summary>
internal sealed class ChainStep
{
    public ChainStep(int inputSize, int outputSize, WeightMatrix? weights, double[] bias, double[] error)
    {
        InputSize = inputSize;
        OutputSize = outputSize;
        Weights = weights;
        Bias = bias;
        Error = error;
        Relaxations = new LinearRelaxation[outputSize];
    }

    public int InputSize { get; }
    public int OutputSize { get; }
    /// <summary>OutputSize × InputSize; null for an element-wise step.</summary>
    public WeightMatrix? Weights { get; }
    public double[] Bias { get; }
    /// <summary>
    /// Per neuron, a bound on |pre as the evaluator computes it − pre as the model computes it in real arithmetic|,
    /// which also absorbs the rounding of back-substituted coefficients through W (see <see cref="BackSubstitution.ErrorBudget"/>).
    /// </summary>
    public double[] Error { get; }
    public LinearRelaxation[] Relaxations { get; }
    public WeightRow Row(int j) => Weights!.Row(j);
}

/// <summary>
/// DeepPoly/CROWN back-substitution: a linear function of one layer's outputs is rewritten through the
/// relaxations and affine maps below it until it is a linear function of the input, then bounded over the
/// input box. Sound in real arithmetic; double rounding is covered by the per-step error budgets and a final
/// padding of 10⁻⁹ of the magnitude of everything summed.
/// </summary>
internal static class BackSubstitution
{
    /// <summary>Relative error allowance for sums of products in double (n·2⁻⁵³ ≈ 10⁻¹³ for n ≈ 1000, with ×10⁴ to spare).</summary>
    public const double Gamma = 1e-9;

    /// <summary>
    /// γ·(Σ_i |W_ji|·max|x_i| + |b_j|): bounds both the double evaluation error of pre_j and, for a coefficient c_j on
    /// pre_j, the effect of the rounding of c_j·W_j· on the back-substituted function (≤ γ·|c_j|·Σ_i|W_ji|·max|x_i|).
    /// </summary>
    public static double[] ErrorBudget(WeightMatrix? weights, ReadOnlySpan<double> bias, ReadOnlySpan<Interval> input)
    {
        var err = new double[bias.Length];
        for (var j = 0; j < err.Length; j++)
        {
            var s = Math.Abs(bias[j]);
            if (weights is null) s += input[j].MaxAbs;
            else
            {
                var row = weights.Row(j);
                for (var t = 0; t < row.Length; t++) s += Math.Abs(row.Values[t]) * input[row.Columns[t]].MaxAbs;
            }
            err[j] = Gamma * s + 1e-15;
        }
        return err;
    }

    /// <summary>
    /// Bounds of coeff·(output of step <paramref name="top"/>) + constant over the input box (top = −1: coeff is
    /// over the input itself).
    /// </summary>
    public static Interval Bound(IReadOnlyList<ChainStep> steps, int top, ReadOnlySpan<double> coeff, double constant, ReadOnlySpan<Interval> input) =>
        new(Pass(steps, top, coeff, constant, input, upper: false), Pass(steps, top, coeff, constant, input, upper: true));

    /// <summary>As above, for coeff one row of a linear map over step <paramref name="top"/>'s outputs (scattered once).</summary>
    public static Interval Bound(IReadOnlyList<ChainStep> steps, int top, WeightRow coeff, double constant, ReadOnlySpan<Interval> input)
    {
        var c = new double[top >= 0 ? steps[top].OutputSize : input.Length];
        coeff.AddScaledTo(c, 1);
        return Bound(steps, top, c, constant, input);
    }

    private static double Pass(IReadOnlyList<ChainStep> steps, int top, ReadOnlySpan<double> coeff, double constant,
        ReadOnlySpan<Interval> input, bool upper)
    {
        var c = coeff.ToArray();
        var sign = upper ? 1.0 : -1.0;
        double k = constant, magnitude = Math.Abs(constant);
        for (var t = top; t >= 0; t--)
        {
            var step = steps[t];
            var p = new double[step.OutputSize];
            for (var j = 0; j < p.Length; j++)
            {
                var cj = c[j];
                if (cj == 0) continue;
                var r = step.Relaxations[j];
                // c·σ ≤ c·U when c ≥ 0 and ≤ c·L when c < 0 (mirrored for the lower bound).
                var useUpper = cj >= 0 == upper;
                p[j] = cj * (useUpper ? r.UpSlope : r.LowSlope);
                var term = cj * (useUpper ? r.UpIntercept : r.LowIntercept);
                if (p[j] != 0)
                {
                    var b = p[j] * step.Bias[j];
                    term += b;
                    k += sign * Math.Abs(p[j]) * step.Error[j];
                }
                k += term;
                magnitude += Math.Abs(term);
            }
            if (step.Weights is null) { c = p; continue; }
            c = new double[step.InputSize];
            for (var j = 0; j < p.Length; j++)
                if (p[j] != 0) step.Row(j).AddScaledTo(c, p[j]);
        }
        for (var i = 0; i < c.Length; i++)
        {
            if (c[i] == 0) continue;
            var term = c[i] * (c[i] >= 0 == upper ? input[i].Hi : input[i].Lo);
            k += term;
            magnitude += Math.Abs(term);
        }
        return k + sign * (Gamma * magnitude + 1e-12);
    }

    /// <summary>The tighter of two sound bounds of the same quantity (they always overlap: both contain its values).</summary>
    public static Interval Meet(Interval a, Interval b)
    {
        double lo = Math.Max(a.Lo, b.Lo), hi = Math.Min(a.Hi, b.Hi);
        if (lo <= hi) return new Interval(lo, hi);
        // Disjoint sound bounds are impossible except by rounding at a shared endpoint; anything more is a bug.
        var scale = 1e-9 * (a.MaxAbs + b.MaxAbs) + 1e-12;
        if (lo - hi > scale) throw new InvalidOperationException($"bounds {a} and {b} of the same quantity are disjoint");
        return new Interval(hi, lo);
    }
}
