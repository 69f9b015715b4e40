using Google.OrTools.LinearSolver;
using QEquiv.Bounds;
using QEquiv.Networks;
using QEquiv.Quantization;
using QEquiv.Regions;

namespace QEquiv.Encoding;

/// <summary>
/// Encodes both networks over a shared input x ∈ B. Every step is exact or a sound over-approximation of the
/// runtime; binaries appear only where interval bounds leave a ReLU phase or a clamp undetermined.
/// </summary>
internal sealed class NetworkEncoder(ModelBuilder model, FloatNetworkBounds floatBounds, QuantizedNetworkBounds quantBounds)
{
    public int UnstableRelus { get; private set; }
    /// <summary>N's layer outputs h_k (k ≥ 1), set by <see cref="Float"/>; Δ constraints couple them with Q's.</summary>
    public List<LinearExpression[]> FloatLevels { get; } = [];
    /// <summary>Q's dequantized stage outputs ĥ_k = s·(q − z) (k ≥ 1), set by <see cref="Quantized"/>.</summary>
    public List<LinearExpression[]> QuantizedLevels { get; } = [];
    /// <summary>The input codes of Q as expressions, set by <see cref="Quantized"/>; used to repair candidates.</summary>
    public LinearExpression[] InputCodes { get; private set; } = [];
    /// <summary>Q's output codes (after the last stage), integer-valued in every solution.</summary>
    public LinearExpression[] OutputCodes { get; private set; } = [];
    public int ClampGadgets { get; private set; }

    public Variable[] Inputs(Box box)
    {
        var x = new Variable[box.Dimension];
        for (var i = 0; i < x.Length; i++) x[i] = model.Num(box.Lo[i], box.Hi[i], $"x{i}");
        return x;
    }

    /// <summary>N in real arithmetic: z = Wy + b as a bounded variable, ReLU by big-M from the pre-activation bounds.</summary>
    public LinearExpression[] Float(FloatNetwork network, Variable[] x)
    {
        var y = Array.ConvertAll(x, v => LinearExpression.Of(v));
        for (var l = 0; l < network.Layers.Count; l++)
        {
            var layer = network.Layers[l];
            var bounds = floatBounds.Layers[l].PreActivation;
            var next = new LinearExpression[layer.OutputSize];
            for (var o = 0; o < next.Length; o++)
            {
                var row = layer.Row(o);
                var expr = LinearExpression.Const(layer.Bias[o]);
                for (var i = 0; i < row.Length; i++) expr.AddScaled(y[i], row[i]);
                var b = bounds[o];
                if (layer.Activation == Activation.Relu && b.Hi <= 0)
                {
                    next[o] = LinearExpression.Const(0); // stably inactive: no variable at all
                    continue;
                }
                var z = model.Define(expr, b.Lo, b.Hi, $"n{l}_{o}");
                next[o] = layer.Activation == Activation.Relu && b.Lo < 0 ? Relu(z, b, $"n{l}_{o}") : z;
            }
            y = next;
            FloatLevels.Add(y);
        }
        return y;
    }

    /// <summary>Q: quantize the input, run every stage on integer codes, dequantize. Returns the real-valued outputs.</summary>
    public LinearExpression[] Quantized(QuantizedNetwork network, Variable[] x)
    {
        var p = network.InputQuantization;
        var ib = quantBounds.InputQuantization;
        var codes = new LinearExpression[x.Length];
        for (var i = 0; i < x.Length; i++)
        {
            var real = LinearExpression.Of(x[i], 1.0 / p.Scale);
            codes[i] = Quantize(real, ib, i, p, relu: false, $"qin{i}");
        }
        InputCodes = codes;
        for (var s = 0; s < network.Stages.Count; s++)
        {
            var stage = network.Stages[s];
            var sb = quantBounds.Stages[s];
            codes = stage switch
            {
                QuantizedDense d => Dense(d, sb, codes, s),
                Requantize r => RequantizeStage(r, sb, codes, s),
                _ => throw new NotSupportedException($"no MILP encoding for stage type {stage.GetType().Name}"),
            };
            var o = stage.Output;
            QuantizedLevels.Add(Array.ConvertAll(codes, c => c.Scaled(o.Scale).AddConstant(-(double)o.Scale * o.ZeroPoint)));
        }
        OutputCodes = codes;
        var po = network.OutputQuantization;
        var outputs = new LinearExpression[codes.Length];
        for (var j = 0; j < outputs.Length; j++)
        {
            var e = codes[j].Scaled(po.Scale).AddConstant(-(double)po.Scale * po.ZeroPoint);
            if (network.OutputBias is { } b) e.AddConstant(b[j]);
            outputs[j] = e;
        }
        return outputs;
    }

    private LinearExpression[] Dense(QuantizedDense d, QuantizedStageBounds sb, LinearExpression[] codes, int s)
    {
        var result = new LinearExpression[d.OutputSize];
        var zx = d.Input.ZeroPoint;
        for (var j = 0; j < result.Length; j++)
        {
            var row = d.Row(j);
            var zw = d.WeightZeroPoints[j];
            var acc = LinearExpression.Const(d.Bias[j]);
            for (var i = 0; i < row.Length; i++)
            {
                var w = row[i] - zw;
                if (w == 0) continue;
                acc.AddScaled(codes[i], w).AddConstant(-(double)w * zx);
            }
            var ab = sb.Accumulator![j];
            // The accumulator is an integer-valued expression of integer codes; a variable keeps the band row sparse.
            var accVar = model.Define(acc, ab.Lo, ab.Hi, $"acc{s}_{j}");
            var real = accVar.Scaled(d.Multipliers[j]);
            result[j] = Quantize(real, sb, j, d.Output, d.Relu, $"q{s}_{j}");
        }
        return result;
    }

    private LinearExpression[] RequantizeStage(Requantize r, QuantizedStageBounds sb, LinearExpression[] codes, int s)
    {
        var result = new LinearExpression[r.OutputSize];
        var bias = r.Bias;
        for (var j = 0; j < result.Length; j++)
        {
            var v = codes[j].Scaled(r.Input.Scale).AddConstant(-(double)r.Input.Scale * r.Input.ZeroPoint);
            if (r.HasBias) v.AddConstant(bias[j]);
            var vb = sb.Dequantized![j];
            if (r.Relu)
            {
                if (vb.Hi <= 0) v = LinearExpression.Const(0);
                else if (vb.Lo < 0) v = Relu(model.Define(v, vb.Lo, vb.Hi, $"rq{s}_{j}"), vb, $"rq{s}_{j}");
            }
            result[j] = Quantize(v.Scaled(1.0 / r.Output.Scale), sb, j, r.Output, r.Relu, $"q{s}_{j}");
        }
        return result;
    }

    /// <summary>
    /// round (widened band), + zero point, saturate, ReLU-with-zero-point. The rounded value is an integer
    /// variable r with real − 1/2 − e ≤ r ≤ real + 1/2 + e, where e bounds the float32 evaluation error of the
    /// runtime: every value the runtime can produce stays feasible (at exact ties both neighbours are).
    /// </summary>
    private LinearExpression Quantize(LinearExpression real, QuantizedStageBounds sb, int j, QuantParams p, bool relu, string name)
    {
        var rb = sb.Rounded[j];
        LinearExpression rounded;
        if (rb.IsPoint)
        {
            // The bounds prove the rounding result: no variable, no band needed.
            rounded = LinearExpression.Const(rb.Lo);
        }
        else
        {
            var r = model.Int(rb.Lo, rb.Hi, name);
            var e = sb.Widening[j];
            model.Range(LinearExpression.Of(r).AddScaled(real, -1), -0.5 - e, 0.5 + e);
            rounded = LinearExpression.Of(r);
        }
        var (lower, upper) = BoundPropagation.ClampLimits(p, relu);
        return Clamp(rounded.AddConstant(p.ZeroPoint), rb.Lo + p.ZeroPoint, rb.Hi + p.ZeroPoint, lower, upper, name);
    }

    /// <summary>min(max(t, lower), upper) on an integer expression t ∈ [tl, th]; a gadget only for a bound the range straddles.</summary>
    private LinearExpression Clamp(LinearExpression t, double tl, double th, int lower, int upper, string name)
    {
        if (th <= lower) return LinearExpression.Const(lower);
        if (tl >= upper) return LinearExpression.Const(upper);
        var m = t;
        double ml = tl, mh = th;
        if (tl < lower)
        {
            // m = max(t, lower): b = 1 selects the constant branch (t ≤ lower).
            ClampGadgets++;
            var mv = model.Num(lower, th, $"{name}_max");
            var b = model.Bool($"{name}_lo");
            var mExpr = LinearExpression.Of(mv);
            model.AtLeast(mExpr.Minus(t), 0);
            model.AtMost(mExpr.Minus(t).AddTerm(b, -(lower - tl)), 0);
            model.AtMost(LinearExpression.Of(mv).AddTerm(b, th - lower), th);
            m = mExpr;
            ml = lower;
        }
        if (mh > upper)
        {
            // c = min(m, upper): b = 1 selects the constant branch (m ≥ upper).
            ClampGadgets++;
            var cv = model.Num(ml, upper, $"{name}_min");
            var b = model.Bool($"{name}_hi");
            var cExpr = LinearExpression.Of(cv);
            model.AtMost(cExpr.Minus(m), 0);
            model.AtLeast(cExpr.Minus(m).AddTerm(b, mh - upper), 0);
            model.AtLeast(LinearExpression.Of(cv).AddTerm(b, -(upper - ml)), ml);
            return cExpr;
        }
        return m;
    }

    /// <summary>y = max(z, 0) for z ∈ [l, u] with l &lt; 0 &lt; u: the standard big-M formulation (a = 1 active).</summary>
    private LinearExpression Relu(LinearExpression z, Interval b, string name)
    {
        UnstableRelus++;
        var y = model.Num(0, b.Hi, $"{name}_relu");
        var a = model.Bool($"{name}_on");
        var ye = LinearExpression.Of(y);
        model.AtLeast(ye.Minus(z), 0);
        model.AtMost(ye.Minus(z).AddTerm(a, -b.Lo), -b.Lo);
        model.AtMost(LinearExpression.Of(y).AddTerm(a, -b.Hi), 0);
        return ye;
    }
}
