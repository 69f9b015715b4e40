using Google.OrTools.LinearSolver;
using QEquiv.Bounds;
using QEquiv.Model;
using QEquiv.Quantization;
using QEquiv.Regions;

namespace QEquiv.Encoding;

/// <summary>
/// The MILP gadget of every operator: encodes one <see cref="Network"/> over input expressions, one rule per operator
/// (<see cref="IOperatorVisitor{TResult}"/>). Every rule is exact or a sound over-approximation of the operator's
/// evaluator; binaries appear only where the bounds leave a ReLU phase or a clamp limit open, integers only where they
/// leave a rounding open. A float32 rounding outside a rounding band (a dequantization, a float32 bias or normalisation)
/// is carried as a noise radius on the value — the runtime's value lies within the modelled one ± the radius — and is
/// absorbed by the next rounding's band (as the layered encoding's requantization widening did) or, at the outputs,
/// reported (<see cref="EncodedNetwork.Noise"/>) for the caller's margin: no variable of width 10⁻⁹ for a solver to choke on.
/// </summary>
internal sealed class NetworkEncoder(ModelBuilder model)
{
    private ModelBuilder Model => model;

    public int UnstableRelus { get; private set; }
    public int ClampGadgets { get; private set; }

    public Variable[] Inputs(Box box)
    {
        var x = new Variable[box.Dimension];
        for (var i = 0; i < x.Length; i++) x[i] = model.Num(box.Lo[i], box.Hi[i], $"x{i}");
        return x;
    }

    /// <summary>
    /// Encodes <paramref name="network"/> (its first <paramref name="nodes"/> nodes; null: all) on the input
    /// <paramref name="x"/>, with big-M constants from <paramref name="bounds"/>. <paramref name="prefix"/> names its
    /// variables, so that two networks can share one model.
    /// </summary>
    public EncodedNetwork Encode(Network network, GraphBounds bounds, IReadOnlyList<Variable> x, string prefix, int? nodes = null)
    {
        if (!ReferenceEquals(bounds.Network, network) && bounds.Network.Fingerprint != network.Fingerprint)
            throw new ArgumentException("the bounds are of another network");
        var count = nodes ?? network.Nodes.Count;
        var tensors = new LinearExpression[count][];
        var noise = new double[count][];
        var current = new Lane[x.Count];
        for (var i = 0; i < current.Length; i++) current[i] = Lane.Plain(LinearExpression.Of(x[i]), bounds.Input[i], 0);
        for (var k = 0; k < count; k++)
        {
            var node = network.Nodes[k];
            current = node.Operator.Accept(new Rule(this, current, bounds.InputOf(k), bounds.Nodes[k], $"{prefix}{k}_"));
            // A pending clamp is emitted only when a consumer needs the value: consecutive clamps (saturation, then a
            // ReLU on codes) merge into one gadget, as clamp(clamp(t, a, b), c, d) = clamp(t, max(a, c), min(b, d)).
            if (k + 1 < count && network.Nodes[k + 1].Operator is Clamp) { tensors[k] = []; noise[k] = []; continue; }
            for (var i = 0; i < current.Length; i++)
            {
                current[i] = Force(current[i], $"{prefix}{k}_{i}");
                // The outputs enter the objective and the Δ rows: one variable each keeps those rows short.
                if (k == count - 1) current[i] = current[i] with { Expression = Materialize(current[i], $"{prefix}out{i}") };
            }
            tensors[k] = Array.ConvertAll(current, l => l.Expression);
            noise[k] = Array.ConvertAll(current, l => l.Noise);
        }
        return new EncodedNetwork(network, tensors, noise);
    }

    /// <summary>
    /// One element of a tensor: clamp(<see cref="Expression"/>, <see cref="Lo"/>, <see cref="Hi"/>) with the expression
    /// ranging over <see cref="Range"/>; Lo = −∞, Hi = +∞ means no pending clamp. The runtime's value lies within
    /// ± <see cref="Noise"/> of the modelled one (float32 roundings not yet absorbed by a band).
    /// </summary>
    private readonly record struct Lane(LinearExpression Expression, Interval Range, double Lo, double Hi, double Noise)
    {
        /// <param name="value">Bounds of the runtime's value; the modelled expression ranges over them widened by the noise.</param>
        public static Lane Plain(LinearExpression e, Interval value, double noise) =>
            new(e, value.Widen(0, noise), double.NegativeInfinity, double.PositiveInfinity, noise);
        public bool Pending => Lo > double.NegativeInfinity || Hi < double.PositiveInfinity;
        /// <summary>The range of the clamped value.</summary>
        public Interval Value => Range.Clamp(Lo, Hi);
    }

    private Lane Force(Lane lane, string name) =>
        lane.Pending ? new Lane(Clamp(lane.Expression, lane.Range.Lo, lane.Range.Hi, lane.Lo, lane.Hi, name), lane.Value,
            double.NegativeInfinity, double.PositiveInfinity, lane.Noise) : lane;

    /// <summary>A defined variable for a multi-term expression (keeps the rows that read it sparse).</summary>
    private LinearExpression Materialize(Lane lane, string name) =>
        lane.Expression.Terms.Count <= 1 ? lane.Expression : model.Define(lane.Expression, lane.Range.Lo, lane.Range.Hi, name);

    private sealed class Rule(NetworkEncoder e, Lane[] input, Interval[] inputBounds, NodeBounds bounds, string name) : IOperatorVisitor<Lane[]>
    {
        private readonly ModelBuilder _model = e.Model;

        private LinearExpression[] Operands()
        {
            var x = new LinearExpression[input.Length];
            for (var i = 0; i < x.Length; i++) x[i] = e.Materialize(e.Force(input[i], $"{name}in{i}"), $"{name}v{i}");
            return x;
        }

        public Lane[] Affine(Affine op)
        {
            var x = Operands();
            var y = new Lane[op.OutputSize];
            for (var o = 0; o < y.Length; o++)
            {
                var row = op.Row(o);
                var expr = LinearExpression.Const(op.Bias[o]);
                double noise = 0;
                for (var t = 0; t < row.Length; t++)
                    if (row.Values[t] != 0)
                    {
                        var i = row.Columns[t];
                        expr.AddScaled(x[i], row.Values[t]);
                        noise += Math.Abs(row.Values[t]) * input[i].Noise;
                    }
                y[o] = Lane.Plain(expr, bounds.Output[o], noise * (1 + 1e-12));
            }
            return y;
        }

        public Lane[] Elementwise(Elementwise op)
        {
            var y = new Lane[op.OutputSize];
            for (var i = 0; i < y.Length; i++)
            {
                var (scale, shift) = op.AsAffine(i);
                var lane = e.Force(input[i], $"{name}in{i}");
                var expr = lane.Expression.Scaled(scale).AddConstant(shift);
                var noise = Math.Abs(scale) * lane.Noise;
                if (op.Arithmetic == Arithmetic.Float32)
                {
                    var exact = scale * inputBounds[i] + shift;
                    noise += IntervalBounds.Float32Error(inputBounds[i].MaxAbs, scale, exact.MaxAbs);
                }
                y[i] = Lane.Plain(expr, bounds.Output[i], noise);
            }
            return y;
        }

        public Lane[] Relu(Relu op)
        {
            var y = new Lane[op.OutputSize];
            for (var i = 0; i < y.Length; i++)
            {
                var lane = e.Force(input[i], $"{name}in{i}");
                // The phase is the runtime value's: ≤ 0 on the whole box gives exactly 0, noise and all; ≥ 0 passes the value on.
                if (inputBounds[i].Hi <= 0) { y[i] = Lane.Plain(LinearExpression.Const(0), Interval.Point(0), 0); continue; }
                // Otherwise relu is 1-Lipschitz: the noise passes through; the modelled pre-activation ranges over the widened bounds.
                var b = lane.Range;
                y[i] = Lane.Plain(inputBounds[i].Lo < 0
                        ? e.Relu(_model.Define(lane.Expression, b.Lo, b.Hi, $"{name}z{i}"), b, $"{name}{i}")
                        : e.Materialize(lane, $"{name}z{i}"),
                    bounds.Output[i], lane.Noise);
            }
            return y;
        }

        public Lane[] Clamp(Clamp op)
        {
            var y = new Lane[op.OutputSize];
            for (var i = 0; i < y.Length; i++)
            {
                var l = input[i];
                double lo = Math.Max(l.Lo, op.Lower), hi = Math.Min(l.Hi, op.Upper);
                // Disjoint limits cannot arise from a saturation followed by a clamp inside the code range; if they did,
                // the clamp of the clamp is a constant.
                y[i] = lo <= hi ? l with { Lo = lo, Hi = hi } : Lane.Plain(LinearExpression.Const(op.Upper < l.Lo ? op.Upper : op.Lower), l.Value.Clamp(op.Lower, op.Upper), 0);
            }
            return y;
        }

        public Lane[] Quantize(Quantize op)
        {
            var p = op.Output;
            var y = new Lane[op.OutputSize];
            for (var i = 0; i < y.Length; i++)
            {
                var lane = e.Force(input[i], $"{name}in{i}");
                // The band absorbs the input's noise: the runtime's x lies within ± noise of the modelled one.
                y[i] = e.Rounding(lane.Expression.Scaled(1.0 / p.Scale), bounds.Rounding!, i, p, $"{name}{i}", lane.Noise / p.Scale);
            }
            return y;
        }

        public Lane[] Dequantize(Dequantize op)
        {
            var p = op.Input;
            var y = new Lane[op.OutputSize];
            for (var i = 0; i < y.Length; i++)
            {
                var lane = e.Force(input[i], $"{name}in{i}");
                var expr = lane.Expression.Scaled(p.Scale).AddConstant(-(double)p.Scale * p.ZeroPoint);
                // One float32 rounding of the product, as IntervalBounds bounds it.
                var v = (double)p.Scale * (inputBounds[i] + (-p.ZeroPoint));
                var noise = (double)p.Scale * lane.Noise + IntervalBounds.Float32Error(0, 0, v.MaxAbs);
                y[i] = Lane.Plain(expr, bounds.Output[i], noise);
            }
            return y;
        }

        public Lane[] IntegerLinear(IntegerLinear op)
        {
            if (input.Any(l => l.Noise != 0)) throw new NotSupportedException($"{op.Describe()} reads values that are not exact integer codes");
            var codes = Operands();
            var zx = op.Input.ZeroPoint;
            var y = new Lane[op.OutputSize];
            for (var j = 0; j < y.Length; j++)
            {
                var row = op.Row(j);
                var zw = op.WeightZeroPoints[j];
                var acc = LinearExpression.Const(op.Bias[j]);
                for (var i = 0; i < row.Length; i++)
                {
                    var w = row[i] - zw;
                    if (w == 0) continue;
                    acc.AddScaled(codes[i], w).AddConstant(-(double)w * zx);
                }
                y[j] = Lane.Plain(acc, bounds.Output[j], 0);
            }
            return y;
        }

        public Lane[] Requantize(Requantize op)
        {
            var y = new Lane[op.OutputSize];
            for (var j = 0; j < y.Length; j++)
            {
                // The accumulator is an integer-valued expression of integer codes; a variable keeps the band row sparse.
                var lane = e.Force(input[j], $"{name}in{j}");
                if (lane.Noise != 0) throw new NotSupportedException($"{op.Describe()} reads a value that is not an exact accumulator");
                var acc = _model.Define(lane.Expression, inputBounds[j].Lo, inputBounds[j].Hi, $"{name}acc{j}");
                y[j] = e.Rounding(acc.Scaled(op.Multipliers[j]), bounds.Rounding!, j, op.Output, $"{name}{j}", 0);
            }
            return y;
        }

        public Lane[] Reshape(Reshape op) => input;

        /// <summary>
        /// The identity with a bounded noise, as the float32 roundings: the rounded value lies within
        /// u·|x| + ½·subnormal step of x (x bounded by the input bounds), plus the runtime's input error where the bounds
        /// carry one (<see cref="NodeBounds.InputError"/>), on top of x's own noise.
        /// </summary>
        public Lane[] FloatRound(FloatRound op)
        {
            var y = new Lane[op.OutputSize];
            for (var i = 0; i < y.Length; i++)
            {
                var lane = e.Force(input[i], $"{name}in{i}");
                var error = bounds.InputError?[i] ?? 0;
                var noise = lane.Noise + op.Format.RoundingError(inputBounds[i].MaxAbs + error) + error;
                y[i] = Lane.Plain(lane.Expression, bounds.Output[i], noise);
            }
            return y;
        }
    }

    /// <summary>
    /// round (widened band), + zero point, then a pending saturation to the code range. The rounded value is an integer
    /// variable r with real − ½ − e ≤ r ≤ real + ½ + e, where e bounds the float32 evaluation error of the runtime:
    /// every value the runtime can produce stays feasible (at exact ties both neighbours are).
    /// </summary>
    private Lane Rounding(LinearExpression real, Bounds.Rounding rounding, int j, QuantParams p, string name, double noise)
    {
        var rb = rounding.Rounded[j];
        LinearExpression rounded;
        if (rb.IsPoint) rounded = LinearExpression.Const(rb.Lo); // the bounds prove the rounding result: no variable
        else
        {
            var r = model.Int(rb.Lo, rb.Hi, $"{name}r");
            var e = rounding.Widening[j] + noise * (1 + 1e-12);
            model.Range(LinearExpression.Of(r).AddScaled(real, -1), -0.5 - e, 0.5 + e);
            rounded = LinearExpression.Of(r);
        }
        return new Lane(rounded.AddConstant(p.ZeroPoint), rb + p.ZeroPoint, p.Min, p.Max, 0);
    }

    /// <summary>min(max(t, lower), upper) on an expression t ∈ [tl, th]; a gadget only for a limit the range straddles.</summary>
    private LinearExpression Clamp(LinearExpression t, double tl, double th, double lower, double upper, string name)
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

/// <summary>
/// The expressions of every tensor of one encoded network (index k: the output of node k; empty where a clamp that
/// follows was merged into it).
/// </summary>
internal sealed class EncodedNetwork(Network network, LinearExpression[][] tensors, double[][] noise)
{
    public Network Network { get; } = network;
    public LinearExpression[] Outputs => tensors[^1];

    /// <summary>Per element of tensor k, how far the runtime's value can be from the modelled one (float32 roundings after
    /// the last rounding band: a dequantization, a float bias); <see cref="OutputNoise"/> for the outputs.</summary>
    public double[] Noise(int k) => Tensor(k) is { } ? noise[k] : [];
    public double[] OutputNoise => noise[^1];

    /// <summary>The expressions of tensor k (−1: none, the input is the caller's); throws for a tensor whose value was never
    /// formed because the clamp after it was merged into its gadget.</summary>
    public LinearExpression[] Tensor(int k) =>
        k >= 0 && k < tensors.Length && tensors[k].Length > 0 ? tensors[k]
            : throw new ArgumentException($"tensor {k} of {Network.Source} is not in the encoding (merged into the clamp after it, or out of range)");

    /// <summary>The codes the network's first Quantize writes (its input codes), when it quantizes its input first.</summary>
    public LinearExpression[]? InputCodes =>
        Network.Nodes[0].Operator is Quantize && tensors.Length > 0 && tensors[0].Length > 0 ? tensors[0] : null;

    /// <summary>The codes the last Dequantize reads (the output codes of a quantized network); null for a float one.</summary>
    public LinearExpression[]? OutputCodes => Network.OutputCodeNode is { } k && k >= 0 && k < tensors.Length ? Tensor(k) : null;
}
