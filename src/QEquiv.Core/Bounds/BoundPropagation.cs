using QEquiv.Networks;
using QEquiv.Quantization;
using QEquiv.Regions;

namespace QEquiv.Bounds;

/// <summary>
/// Interval bound propagation through both networks. Every bound is sound with respect to the exact
/// evaluators (FloatEvaluator, QuantizedEvaluator) at any float32 point of the box: the MILP relies on
/// these bounds for big-M constants and for fixing stable neurons, so an unsound bound would cut off
/// real behaviour.
/// </summary>
public static class BoundPropagation
{
    /// <summary>float32 unit roundoff: re-execution feeds float32(x), which may sit that far outside the box.</summary>
    private const double Float32Roundoff = 1.0 / (1 << 24);

    public static FloatNetworkBounds Float(FloatNetwork network, Box box)
    {
        CheckBox(network.InputSize, box);
        var input = new Interval[box.Dimension];
        for (var i = 0; i < input.Length; i++)
            input[i] = new Interval(box.Lo[i], box.Hi[i]).Widen(Float32Roundoff, 0);
        var layers = new List<FloatLayerBounds>(network.Layers.Count);
        var x = input;
        foreach (var layer in network.Layers)
        {
            var pre = Affine(layer, x);
            var post = layer.Activation == Activation.Relu ? Array.ConvertAll(pre, p => p.Relu()) : pre;
            layers.Add(new FloatLayerBounds(pre, post));
            x = post;
        }
        return new FloatNetworkBounds(input, layers);
    }

    /// <summary>W·x + b over intervals, padded for the double rounding of both this sum and the evaluator's.</summary>
    public static Interval[] Affine(DenseLayer layer, ReadOnlySpan<Interval> x)
    {
        var result = new Interval[layer.OutputSize];
        var bias = layer.Bias;
        for (var o = 0; o < result.Length; o++)
        {
            var row = layer.Row(o);
            double lo = bias[o], hi = bias[o], magnitude = Math.Abs(bias[o]);
            for (var i = 0; i < row.Length; i++)
            {
                var w = row[i];
                if (w >= 0) { lo += w * x[i].Lo; hi += w * x[i].Hi; }
                else { lo += w * x[i].Hi; hi += w * x[i].Lo; }
                magnitude += Math.Abs(w) * x[i].MaxAbs;
            }
            // A sum of n products in double errs by at most ~n·2⁻⁵³·Σ|w·x|; 1e-9·Σ|w·x| covers n up to ~10⁷.
            var pad = 1e-9 * magnitude + 1e-12;
            result[o] = new Interval(lo - pad, hi + pad);
        }
        return result;
    }

    public static QuantizedNetworkBounds Quantized(QuantizedNetwork network, Box box)
    {
        CheckBox(network.InputSize, box);
        var input = InputQuantization(network.InputQuantization, box);
        var stages = new List<QuantizedStageBounds>(network.Stages.Count);
        var codes = input.Codes;
        foreach (var stage in network.Stages)
        {
            var b = stage switch
            {
                QuantizedDense d => Dense(d, codes),
                Requantize r => RequantizeStage(r, codes),
                _ => throw new NotSupportedException($"no bound propagation for stage type {stage.GetType().Name}"),
            };
            stages.Add(b);
            codes = b.Codes;
        }
        return new QuantizedNetworkBounds(input, stages, Dequantize(network, codes));
    }

    public static QuantizedStageBounds InputQuantization(QuantParams p, Box box)
    {
        var n = box.Dimension;
        var pre = new Interval[n];
        var e = new double[n];
        var rounded = new Interval[n];
        var codes = new Interval[n];
        for (var i = 0; i < n; i++)
        {
            pre[i] = new Interval(box.Lo[i] / p.Scale, box.Hi[i] / p.Scale);
            e[i] = RoundingModel.Widening(pre[i].MaxAbs);
            rounded[i] = RoundingModel.RoundedRange(pre[i], e[i]);
            codes[i] = CodeRange(rounded[i], p, relu: false);
        }
        return new QuantizedStageBounds(null, null, pre, e, rounded, codes);
    }

    public static QuantizedStageBounds Dense(QuantizedDense d, ReadOnlySpan<Interval> inputCodes)
    {
        var n = d.OutputSize;
        var acc = new Interval[n];
        var pre = new Interval[n];
        var e = new double[n];
        var rounded = new Interval[n];
        var codes = new Interval[n];
        var zx = d.Input.ZeroPoint;
        for (var j = 0; j < n; j++)
        {
            var row = d.Row(j);
            var zw = d.WeightZeroPoints[j];
            // Integer arithmetic in long is exact: these bounds are the true accumulator range.
            long lo = d.Bias[j], hi = d.Bias[j];
            for (var i = 0; i < row.Length; i++)
            {
                long w = row[i] - zw;
                var cl = (long)inputCodes[i].Lo - zx;
                var ch = (long)inputCodes[i].Hi - zx;
                if (w >= 0) { lo += w * cl; hi += w * ch; }
                else { lo += w * ch; hi += w * cl; }
            }
            if (lo < int.MinValue || hi > int.MaxValue)
                throw new NotSupportedException(
                    $"stage output {j}: the int32 accumulator may overflow (range [{lo}, {hi}]); wrapping arithmetic is not modelled");
            acc[j] = new Interval(lo, hi);
            pre[j] = (double)d.Multipliers[j] * acc[j];
            e[j] = RoundingModel.Widening(pre[j].MaxAbs);
            rounded[j] = RoundingModel.RoundedRange(pre[j], e[j]);
            codes[j] = CodeRange(rounded[j], d.Output, d.Relu);
        }
        return new QuantizedStageBounds(acc, null, pre, e, rounded, codes);
    }

    public static QuantizedStageBounds RequantizeStage(Requantize r, ReadOnlySpan<Interval> inputCodes)
    {
        var n = r.OutputSize;
        var deq = new Interval[n];
        var pre = new Interval[n];
        var e = new double[n];
        var rounded = new Interval[n];
        var codes = new Interval[n];
        var bias = r.Bias;
        for (var j = 0; j < n; j++)
        {
            var product = (double)r.Input.Scale * (inputCodes[j] + (-r.Input.ZeroPoint));
            deq[j] = r.HasBias ? product + bias[j] : product;
            var activated = r.Relu ? deq[j].Relu() : deq[j];
            pre[j] = new Interval(activated.Lo / r.Output.Scale, activated.Hi / r.Output.Scale);
            e[j] = RoundingModel.RequantizeWidening(product.MaxAbs, deq[j].MaxAbs, r.Output.Scale, pre[j].MaxAbs);
            rounded[j] = RoundingModel.RoundedRange(pre[j], e[j]);
            codes[j] = CodeRange(rounded[j], r.Output, r.Relu);
        }
        return new QuantizedStageBounds(null, deq, pre, e, rounded, codes);
    }

    /// <summary>
    /// Saturation then ReLU, max(clamp(t, min, max), zp), equals clamp(t, max(min, zp), max) because the
    /// zero point lies inside [min, max]; the MILP uses the same single clamp.
    /// </summary>
    public static (int Lower, int Upper) ClampLimits(QuantParams p, bool relu) =>
        (relu ? Math.Max(p.Min, p.ZeroPoint) : p.Min, p.Max);

    private static Interval CodeRange(Interval rounded, QuantParams p, bool relu)
    {
        var (lower, upper) = ClampLimits(p, relu);
        return (rounded + p.ZeroPoint).Clamp(lower, upper);
    }

    internal static Interval[] Dequantize(QuantizedNetwork network, Interval[] codes)
    {
        var p = network.OutputQuantization;
        var outputs = new Interval[codes.Length];
        for (var j = 0; j < outputs.Length; j++)
        {
            var product = (double)p.Scale * (codes[j] + (-p.ZeroPoint));
            var v = network.OutputBias is { } b ? product + b[j] : product;
            outputs[j] = v.Widen(0, OutputRoundingError(product.MaxAbs, v.MaxAbs));
        }
        return outputs;
    }

    /// <summary>
    /// The runtime dequantizes and adds the output bias in float32: the product errs by ≤ |p|·2⁻²⁴ and the
    /// sum by ≤ |p + b|·2⁻²⁴. Bounding by the product's magnitude too keeps this sound under cancellation.
    /// Doubled for margin.
    /// </summary>
    public static double OutputRoundingError(double maxAbsProduct, double maxAbsValue) =>
        (maxAbsProduct + maxAbsValue) * Math.Pow(2, -23) + 1e-9;

    private static void CheckBox(int inputSize, Box box)
    {
        if (box.Dimension != inputSize)
            throw new ArgumentException($"box has {box.Dimension} dimensions, the network takes {inputSize} inputs");
    }
}
