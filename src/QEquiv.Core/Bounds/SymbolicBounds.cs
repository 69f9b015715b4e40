using QEquiv.Networks;
using QEquiv.Quantization;
using QEquiv.Regions;

namespace QEquiv.Bounds;

/// <summary>
/// DeepPoly/CROWN-style linear bounds for each network on its own, back-substituted to the input box and
/// intersected with <see cref="BoundPropagation"/>'s intervals, so never looser. Same records, same soundness
/// contract (every bound contains the exact evaluators' values at any float32 point of the box), so they can
/// replace the interval bounds anywhere (big-M constants, stable-neuron fixing).
/// </summary>
public static class SymbolicBounds
{
    /// <summary>
    /// Symbolic bounds of any <see cref="Network"/>: per level (a linear operator and the element-wise run after it) the
    /// linear map in real units and the run's relaxation, each operator supplying its piece (<see cref="RealChain"/>),
    /// back-substituted to the box and intersected with <see cref="IntervalBounds"/>, so never looser. Same contract as
    /// <see cref="GraphBounds"/>. A network whose units degenerate (a zero scale) gets its interval bounds.
    /// </summary>
    public static GraphBounds Of(Model.Network network, Box box, bool everyNeuron = false)
    {
        var intervals = IntervalBounds.Of(network, box);
        return RealChain.Build(network, intervals, everyNeuron)?.Bounds ?? intervals;
    }

    public static FloatNetworkBounds Float(FloatNetwork network, Box box, bool everyNeuron = false) =>
        FloatView(network, BoundPropagation.Float(network, box), everyNeuron).Bounds;

    public static QuantizedNetworkBounds Quantized(QuantizedNetwork network, Box box, bool everyNeuron = false)
    {
        if (box.Dimension != network.InputSize)
            throw new ArgumentException($"box has {box.Dimension} dimensions, the network takes {network.InputSize} inputs");
        return QuantizedView(network, box, Float32Input(box), everyNeuron).Bounds;
    }

    /// <summary>
    /// The box widened by the float32 unit roundoff, as <see cref="BoundPropagation.Float"/> does: the networks
    /// receive float32(x), which may sit that far outside a box whose bounds are not float32 numbers.
    /// </summary>
    internal static Interval[] Float32Input(Box box)
    {
        var input = new Interval[box.Dimension];
        for (var i = 0; i < input.Length; i++)
            input[i] = new Interval(box.Lo[i], box.Hi[i]).Widen(1.0 / (1 << 24), 0);
        return input;
    }

    /// <summary>
    /// The float network's pre-activations z_k = W_k h_{k−1} + b_k with h = relu(z) relaxed per neuron (triangle
    /// upper, DeepPoly's adaptive lower). Only neurons whose phase the intervals leave open get a back-substitution
    /// unless <paramref name="everyNeuron"/>: a stable neuron's relaxation is exact whatever its bounds, and the
    /// output layer is always bounded symbolically.
    /// </summary>
    internal static FloatView FloatView(FloatNetwork network, FloatNetworkBounds intervals, bool everyNeuron)
    {
        var steps = new List<ChainStep>(network.Layers.Count);
        var layers = new List<FloatLayerBounds>(network.Layers.Count);
        var previous = intervals.Input;
        for (var k = 0; k < network.Layers.Count; k++)
        {
            var layer = network.Layers[k];
            var relu = layer.Activation == Activation.Relu;
            var weights = layer.Weights.ToArray();
            var bias = layer.Bias.ToArray();
            var step = new ChainStep(layer.InputSize, layer.OutputSize, weights, bias,
                BackSubstitution.ErrorBudget(weights, bias, layer.InputSize, previous));
            var pre = BoundPropagation.Affine(layer, previous);
            var last = k == network.Layers.Count - 1;
            for (var j = 0; j < pre.Length; j++)
            {
                pre[j] = BackSubstitution.Meet(pre[j], intervals.Layers[k].PreActivation[j]);
                // The first layer's interval is already exact (one affine map of the box).
                var open = relu && pre[j].Lo < 0 && pre[j].Hi > 0;
                if (k > 0 && (everyNeuron || last || open))
                {
                    var s = BackSubstitution.Bound(steps, k - 1, step.Row(j), bias[j], intervals.Input);
                    pre[j] = BackSubstitution.Meet(pre[j], s.Widen(0, step.Error[j]));
                }
                step.Relaxations[j] = relu ? LinearRelaxation.Clamp(pre[j], 0, double.PositiveInfinity) : LinearRelaxation.Identity;
            }
            var post = relu ? Array.ConvertAll(pre, p => p.Relu()) : pre;
            layers.Add(new FloatLayerBounds(pre, post));
            steps.Add(step);
            previous = post;
        }
        return new FloatView(new FloatNetworkBounds(intervals.Input, layers), steps);
    }

    /// <summary>
    /// The quantized network in its dequantized real view. Level 0 is the input quantization, ĥ0 = clamp(x + ρ0,
    /// s0(min − z0), s0(max − z0)); level k is dense stage k: v = Ŵĥ + b̂ with Ŵ_ji = s_y·M_j·(w_ji − zw_j)/s_x and
    /// b̂_j = s_y·M_j·bias_j, so that v = s_y·M_j·acc_j exactly (M_j the runtime's float32 multiplier, not the ideal
    /// s_x·s_w/s_y); ĥ = clamp(v + ρ, lo, hi) with |ρ| ≤ s_y(½ + e), e the float32 widening of
    /// <see cref="RoundingModel"/>, and lo = 0 for ReLU-with-zero-point. Requantize stages are carried by intervals
    /// only (a slope-0 relaxation): they are rare and element-wise.
    /// </summary>
    internal static QuantizedView QuantizedView(QuantizedNetwork network, Box box, Interval[] input, bool everyNeuron)
    {
        var intervals = BoundPropagation.Quantized(network, box);
        var steps = new List<ChainStep>();
        var levels = new List<QuantizedLevel>();
        var stages = new List<QuantizedStageBounds>(network.Stages.Count);

        var p0 = network.InputQuantization;
        var iq = intervals.InputQuantization;
        var n0 = network.InputSize;
        var (min0, max0) = BoundPropagation.ClampLimits(p0, relu: false);
        double lo0 = (double)p0.Scale * (min0 - p0.ZeroPoint), hi0 = (double)p0.Scale * (max0 - p0.ZeroPoint);
        var radius0 = new double[n0];
        var y0 = new Interval[n0];
        var out0 = new Interval[n0];
        var inputStep = new ChainStep(n0, n0, null, new double[n0], new double[n0]);
        for (var i = 0; i < n0; i++)
        {
            // x here is float32(x) (the widened box); dividing it by s0 in float32 is one rounding, inside e.
            var e = RoundingModel.Widening(input[i].MaxAbs / p0.Scale);
            radius0[i] = p0.Scale * (0.5 + e) * (1 + 1e-12);
            y0[i] = BackSubstitution.Meet(input[i].Widen(0, radius0[i]), Scaled(p0.Scale, iq.Rounded[i]));
            out0[i] = Scaled(p0.Scale, iq.Codes[i] + (-p0.ZeroPoint));
            inputStep.Relaxations[i] = LinearRelaxation.ClampWithNoise(y0[i], radius0[i], lo0, hi0);
        }
        steps.Add(inputStep);
        var codes = iq.Codes;
        var level = new QuantizedLevel(-1, null, null, null, radius0, lo0, hi0, input, y0, out0);
        var s = 0;
        (level, codes, s) = FoldRequantize(network, level, codes, s, steps, stages);
        levels.Add(level);

        for (; s < network.Stages.Count;)
        {
            if (network.Stages[s] is not QuantizedDense d)
                throw new NotSupportedException($"stage {s} ({network.Stages[s].GetType().Name}) cannot start a layer");
            var n = d.OutputSize;
            var sy = (double)d.Output.Scale;
            var weights = new double[n * d.InputSize];
            var bias = new double[n];
            for (var j = 0; j < n; j++)
            {
                var m = sy * d.Multipliers[j];
                var zw = d.WeightZeroPoints[j];
                var row = d.Row(j);
                for (var i = 0; i < row.Length; i++) weights[j * d.InputSize + i] = m * (row[i] - zw) / d.Input.Scale;
                bias[j] = m * d.Bias[j];
            }
            var previous = level.Folded;
            var step = new ChainStep(d.InputSize, n, weights, bias, BackSubstitution.ErrorBudget(weights, bias, d.InputSize, previous));
            var b = BoundPropagation.Dense(d, codes);
            var (lower, upper) = BoundPropagation.ClampLimits(d.Output, d.Relu);
            double lo = sy * (lower - d.Output.ZeroPoint), hi = sy * (upper - d.Output.ZeroPoint);
            var acc = (Interval[])b.Accumulator!.Clone();
            var pre = (Interval[])b.PreRounding.Clone();
            var e = new double[n];
            var rounded = new Interval[n];
            var outCodes = new Interval[n];
            var radius = new double[n];
            var v = new Interval[n];
            var y = new Interval[n];
            var output = new Interval[n];
            var last = s == network.Stages.Count - 1;
            for (var j = 0; j < n; j++)
            {
                v[j] = Scaled(sy, pre[j]);
                var yInterval = v[j].Widen(0, sy * (0.5 + b.Widening[j]));
                var open = yInterval.Lo < lo && yInterval.Hi > lo || yInterval.Lo < hi && yInterval.Hi > hi;
                if (everyNeuron || last || open)
                {
                    var sym = BackSubstitution.Bound(steps, steps.Count - 1, step.Row(j), bias[j], input);
                    v[j] = BackSubstitution.Meet(v[j], sym.Widen(0, step.Error[j]));
                    // Back to code units and the int32 accumulator: v = s_y·pre, pre = M·acc.
                    pre[j] = BackSubstitution.Meet(pre[j], new Interval(v[j].Lo / sy, v[j].Hi / sy).Widen(1e-12, 0));
                    var m = (double)d.Multipliers[j];
                    var accFromPre = new Interval(Math.Ceiling(pre[j].Lo / m - 1e-9 * Math.Abs(pre[j].Lo / m) - 1e-9),
                        Math.Floor(pre[j].Hi / m + 1e-9 * Math.Abs(pre[j].Hi / m) + 1e-9));
                    acc[j] = BackSubstitution.Meet(acc[j], accFromPre);
                }
                e[j] = RoundingModel.Widening(pre[j].MaxAbs);
                rounded[j] = RoundingModel.RoundedRange(pre[j], e[j]);
                outCodes[j] = (rounded[j] + d.Output.ZeroPoint).Clamp(lower, upper);
                radius[j] = sy * (0.5 + e[j]) * (1 + 1e-12);
                y[j] = BackSubstitution.Meet(v[j].Widen(0, radius[j]), Scaled(sy, rounded[j]));
                output[j] = Scaled(sy, outCodes[j] + (-d.Output.ZeroPoint));
                step.Relaxations[j] = LinearRelaxation.ClampWithNoise(y[j], radius[j], lo, hi);
            }
            steps.Add(step);
            stages.Add(new QuantizedStageBounds(acc, null, pre, e, rounded, outCodes));
            codes = outCodes;
            level = new QuantizedLevel(s, weights, bias, step.Error, radius, lo, hi, v, y, output);
            s++;
            (level, codes, s) = FoldRequantize(network, level, codes, s, steps, stages);
            levels.Add(level);
        }
        var bounds = new QuantizedNetworkBounds(iq, stages, BoundPropagation.Dequantize(network, codes));
        return new QuantizedView(bounds, steps, levels);
    }

    /// <summary>
    /// Requantize stages after a level, by intervals: ĥ' = clamp(relu?(ĥ + b) + ρ', lo', hi'). Records the range of
    /// ĥ − ĥ' (what the differential bounds add to Δ) and the folded ĥ' the next dense stage reads.
    /// </summary>
    private static (QuantizedLevel, Interval[], int) FoldRequantize(QuantizedNetwork network, QuantizedLevel level, Interval[] codes,
        int s, List<ChainStep> steps, List<QuantizedStageBounds> stages)
    {
        while (s < network.Stages.Count && network.Stages[s] is Requantize r)
        {
            var b = BoundPropagation.RequantizeStage(r, codes);
            var n = r.OutputSize;
            var so = (double)r.Output.Scale;
            var (lower, upper) = BoundPropagation.ClampLimits(r.Output, r.Relu);
            double lo = so * (lower - r.Output.ZeroPoint), hi = so * (upper - r.Output.ZeroPoint);
            var folded = new Interval[n];
            var shift = new Interval[n];
            var step = new ChainStep(n, n, null, new double[n], new double[n]);
            for (var j = 0; j < n; j++)
            {
                folded[j] = Scaled(so, b.Codes[j] + (-r.Output.ZeroPoint));
                var radius = so * (0.5 + b.Widening[j]) * (1 + 1e-12);
                var bias = r.HasBias ? r.Bias[j] : 0.0;
                var t = level.Folded[j];
                shift[j] = level.Requantization[j] + RequantizeShift(t, bias, r.Relu, radius, lo, hi);
                step.Relaxations[j] = LinearRelaxation.Constant(folded[j]);
            }
            steps.Add(step);
            stages.Add(b);
            codes = b.Codes;
            level = level with { Folded = folded, Requantization = shift };
            s++;
        }
        return (level, codes, s);
    }

    /// <summary>
    /// Range of t − clamp(relu?(t + bias) + ρ, lo, hi) over t ∈ <paramref name="t"/>, |ρ| ≤ radius. clamp is monotone,
    /// so ρ = ±radius are the extremes; each side is piecewise linear in t, so its extremes are at the ends or kinks.
    /// </summary>
    internal static Interval RequantizeShift(Interval t, double bias, bool relu, double radius, double lo, double hi)
    {
        double F(double u, double rho) => u - Math.Clamp((relu ? Math.Max(u + bias, 0) : u + bias) + rho, lo, hi);
        var points = new List<double> { t.Lo, t.Hi };
        foreach (var k in new[] { -bias, lo - radius - bias, lo + radius - bias, hi - radius - bias, hi + radius - bias })
            if (k > t.Lo && k < t.Hi) points.Add(k);
        double min = double.PositiveInfinity, max = double.NegativeInfinity;
        foreach (var u in points)
        {
            min = Math.Min(min, F(u, radius));
            max = Math.Max(max, F(u, -radius));
        }
        return new Interval(min, max).Widen(1e-12, 1e-15);
    }

    /// <summary>scale·[lo, hi] padded for the double product (scale is float32, the interval holds small integers).</summary>
    private static Interval Scaled(double scale, Interval codes) => (scale * codes).Widen(1e-12, 0);
}

internal sealed record FloatView(FloatNetworkBounds Bounds, IReadOnlyList<ChainStep> Steps);

internal sealed record QuantizedView(QuantizedNetworkBounds Bounds, IReadOnlyList<ChainStep> Steps, IReadOnlyList<QuantizedLevel> Levels);

/// <summary>
/// One level of the quantized network's real view, aligned with a layer of the float network (level 0: the input).
/// <see cref="Y"/> bounds the dequantized value just before the clamp (v + ρ); <see cref="Output"/> the clamped ĥ;
/// <see cref="Folded"/> ĥ after any Requantize stages (what the next layer reads); <see cref="Requantization"/>
/// the range of Output − Folded, per neuron.
/// </summary>
internal sealed record QuantizedLevel(
    int Stage,
    double[]? Weights,
    double[]? Bias,
    double[]? Error,
    double[] Radius,
    double Lo,
    double Hi,
    Interval[] Value,
    Interval[] Y,
    Interval[] Output)
{
    public Interval[] Folded { get; init; } = Output;
    public Interval[] Requantization { get; init; } = Array.ConvertAll(Output, _ => Interval.Point(0));
}
