using QEquiv.Model;
using QEquiv.Quantization;
using QEquiv.Regions;

namespace QEquiv.Bounds;

/// <summary>
/// Interval bound propagation through any <see cref="Network"/>, one rule per operator. Every rule is sound for the
/// operator's exact evaluator: integer operators are bounded exactly (in long), float32 operators include their
/// rounding, real-arithmetic ones pad for the double rounding of both the bound and the evaluator.
/// </summary>
public static class IntervalBounds
{
    /// <summary>float32 unit roundoff (2⁻²⁴).</summary>
    public const double Float32Roundoff = 1.0 / (1 << 24);

    public static GraphBounds Of(Network network, Box box)
    {
        if (box.Dimension != network.InputSize)
            throw new ArgumentException($"box has {box.Dimension} dimensions, the network takes {network.InputSize} inputs");
        return Of(network, GraphBounds.Float32Input(box));
    }

    /// <summary>From bounds of the input as the network receives it.</summary>
    public static GraphBounds Of(Network network, Interval[] input)
    {
        var nodes = new NodeBounds[network.Nodes.Count];
        for (var k = 0; k < nodes.Length; k++) nodes[k] = Node(network, k, input, nodes);
        return new GraphBounds(network, input, nodes);
    }

    /// <summary>
    /// One node's bounds from bounds of the tensor it reads, taken on its own: a <see cref="FloatRound"/> bounds the
    /// exact rounding of its input (no <see cref="NodeBounds.InputError"/>).
    /// </summary>
    public static NodeBounds Node(Node node, Interval[] input) => Node(node, input, null);

    /// <summary>
    /// Node <paramref name="k"/>'s bounds from those of the nodes before it (<paramref name="nodes"/>[0..k−1]) and of the
    /// network's input: as <see cref="Node(Node, Interval[])"/>, and a <see cref="FloatRound"/> with its runtime input error
    /// (<see cref="RuntimeInputError"/>) where there is one.
    /// </summary>
    public static NodeBounds Node(Network network, int k, Interval[] input, IReadOnlyList<NodeBounds?> nodes)
    {
        var node = network.Nodes[k];
        var x = k == 0 ? input : nodes[k - 1]!.Output;
        var error = node.Operator is FloatRound ? RuntimeInputError(network, k, input, nodes) : null;
        return Node(node, x, error);
    }

    private static NodeBounds Node(Node node, Interval[] input, double[]? inputError)
    {
        try { return node.Operator.Accept(new Rule(input, inputError)); }
        catch (OverflowException e) { throw new NotSupportedException($"node '{node.Name}' ({node.Operator.Describe()}): {e.Message}"); }
    }

    /// <summary>
    /// For the <see cref="FloatRound"/> node <paramref name="k"/>: per element, a bound on |runtime − exact| of the value it
    /// rounds, when the runtime computes that value from values that the bounds hold: it reads the network's input or a
    /// rounding's output with such an error (through Relu and Reshape, which the runtime computes exactly), either directly
    /// (error 0) or through one real <see cref="Affine"/> (its float32 dot products' error in any order,
    /// <see cref="Float32DotError"/>, from the bounds of the Affine's input), possibly followed by Relu and Reshape (exact
    /// and 1-Lipschitz: they pass the error on, no larger). Null otherwise (a real-arithmetic chain of several operators
    /// before it): its bounds are then of the exact rounding only.
    /// </summary>
    public static double[]? RuntimeInputError(Network network, int k, Interval[] input, IReadOnlyList<NodeBounds?> nodes)
    {
        var size = network.Nodes[k].Operator.InputSize;
        if (Holds(network, k - 1, nodes)) return new double[size];
        var p = k - 1;
        while (p >= 0 && network.Nodes[p].Operator is Relu or Reshape) p--;
        if (p >= 0 && network.Nodes[p].Operator is Affine a && Holds(network, p - 1, nodes))
            return Float32DotError(a, p == 0 ? input : nodes[p - 1]!.Output);
        return null;
    }

    /// <summary>Whether tensor <paramref name="t"/>'s bounds hold the runtime's values (−1: the input, a float32 value).</summary>
    private static bool Holds(Network network, int t, IReadOnlyList<NodeBounds?> nodes)
    {
        while (t >= 0 && network.Nodes[t].Operator is Relu or Reshape) t--;
        return t < 0 || network.Nodes[t].Operator is FloatRound && nodes[t]?.InputError is not null;
    }

    /// <summary>
    /// Per output, a bound on |fl(W h + b) − (W h + b)| for every h in <paramref name="input"/> and any float32 evaluation
    /// order, with or without FMA: γ_{t+2}·(Σ|W||h| + |b|) for t nonzero products (as <c>Float32Error</c> bounds a
    /// neuron), 2u more of that when the weights are not float32 values, and (n + 2 + Σ|W|)·2⁻¹²⁶ for underflow.
    /// </summary>
    public static double[] Float32DotError(Affine op, ReadOnlySpan<Interval> input)
    {
        var weights32 = true;
        foreach (var w in op.Weights) weights32 &= (double)(float)w == w;
        foreach (var b in op.Bias) weights32 &= (double)(float)b == b;
        var error = new double[op.OutputSize];
        var bias = op.Bias;
        for (var o = 0; o < error.Length; o++)
        {
            var row = op.Row(o);
            double magnitude = Math.Abs(bias[o]), weights = 0;
            var terms = 0;
            for (var t = 0; t < row.Length; t++)
            {
                var w = Math.Abs(row.Values[t]);
                var m = input[row.Columns[t]].MaxAbs;
                if (w == 0 || m == 0) continue;
                terms++;
                weights += w;
                magnitude += w * m;
            }
            var ku = (terms + 2) * Float32Roundoff;
            var rel = ku / (1 - ku) + (weights32 ? 0 : 2 * Float32Roundoff);
            error[o] = (rel * magnitude + (row.Length + 2 + weights) * Math.Pow(2, -126)) * (1 + 1e-9);
        }
        return error;
    }

    /// <summary>W·x + b over intervals, padded for the double rounding of both this sum and the evaluator's.</summary>
    public static Interval[] Affine(Affine op, ReadOnlySpan<Interval> x)
    {
        var result = new Interval[op.OutputSize];
        var bias = op.Bias;
        for (var o = 0; o < result.Length; o++)
        {
            var row = op.Row(o);
            double lo = bias[o], hi = bias[o], magnitude = Math.Abs(bias[o]);
            for (var t = 0; t < row.Length; t++)
            {
                var w = row.Values[t];
                var xi = x[row.Columns[t]];
                if (w >= 0) { lo += w * xi.Lo; hi += w * xi.Hi; }
                else { lo += w * xi.Hi; hi += w * xi.Lo; }
                magnitude += Math.Abs(w) * xi.MaxAbs;
            }
            // A sum of n products in double errs by at most ~n·2⁻⁵³·Σ|w·x|; 1e-9·Σ|w·x| covers n up to ~10⁷.
            var pad = 1e-9 * magnitude + 1e-12;
            result[o] = new Interval(lo - pad, hi + pad);
        }
        return result;
    }

    /// <summary>The exact int32 accumulator range (long arithmetic); throws when int32 could wrap, which is not modelled.</summary>
    public static Interval Accumulator(IntegerLinear op, ReadOnlySpan<Interval> codes, int j)
    {
        var row = op.Row(j);
        var zw = op.WeightZeroPoints[j];
        var zx = op.Input.ZeroPoint;
        long lo = op.Bias[j], hi = op.Bias[j];
        for (var i = 0; i < row.Length; i++)
        {
            long w = row[i] - zw;
            if (w == 0) continue;
            var cl = (long)codes[i].Lo - zx;
            var ch = (long)codes[i].Hi - zx;
            if (w >= 0) { lo += w * cl; hi += w * ch; }
            else { lo += w * ch; hi += w * cl; }
        }
        if (lo < int.MinValue || hi > int.MaxValue)
            throw new OverflowException($"output {j}: the int32 accumulator may overflow (range [{lo}, {hi}]); wrapping arithmetic is not modelled");
        return new Interval(lo, hi);
    }

    /// <summary>Codes of a rounding: the rounded range plus the zero point, saturated.</summary>
    public static Interval Codes(Interval rounded, QuantParams p) => (rounded + p.ZeroPoint).Clamp(p.Min, p.Max);

    /// <summary>
    /// Error bound of one float32 operation y = float32(float32(x) ∘ c): the input's conversion errs by ≤ |x|·2⁻²⁴ and
    /// moves y by ≤ |∂y/∂x|·|x|·2⁻²⁴, the result's rounding by ≤ |y|·2⁻²⁴; doubled for margin, plus subnormal slack.
    /// </summary>
    public static double Float32Error(double maxAbsInput, double slope, double maxAbsResult) =>
        (maxAbsInput * Math.Abs(slope) + maxAbsResult) * Math.Pow(2, -23) + 1e-30;

    private sealed class Rule(Interval[] x, double[]? inputError) : IOperatorVisitor<NodeBounds>
    {
        public NodeBounds Affine(Affine op) => new(IntervalBounds.Affine(op, x));

        public NodeBounds Elementwise(Elementwise op)
        {
            var y = new Interval[op.OutputSize];
            for (var i = 0; i < y.Length; i++)
            {
                var (scale, shift) = op.AsAffine(i);
                if (op.Arithmetic == Arithmetic.Float32)
                {
                    // float32(float32(x) ∘ c) is monotone in x (each rounding is), so the ends map to the ends, exactly.
                    double a = op.Apply(x[i].Lo, i), b = op.Apply(x[i].Hi, i);
                    y[i] = new Interval(Math.Min(a, b), Math.Max(a, b));
                }
                else y[i] = (scale * x[i] + shift).Widen(1e-15, 1e-300);
            }
            return new NodeBounds(y);
        }

        public NodeBounds Relu(Relu op) => new(Array.ConvertAll(x, v => v.Relu()));

        public NodeBounds Clamp(Clamp op) => new(Array.ConvertAll(x, v => v.Clamp(op.Lower, op.Upper)));

        public NodeBounds Quantize(Quantize op)
        {
            var p = op.Output;
            var n = op.OutputSize;
            var pre = new Interval[n];
            var e = new double[n];
            var rounded = new Interval[n];
            var codes = new Interval[n];
            for (var i = 0; i < n; i++)
            {
                // float32(float32(x) / s): two roundings of a value of magnitude |x/s|, inside RoundingModel's band.
                pre[i] = new Interval(x[i].Lo / p.Scale, x[i].Hi / p.Scale);
                e[i] = RoundingModel.Widening(pre[i].MaxAbs);
                rounded[i] = RoundingModel.RoundedRange(pre[i], e[i]);
                codes[i] = Codes(rounded[i], p);
            }
            return new NodeBounds(codes, new Rounding(pre, e, rounded));
        }

        public NodeBounds Dequantize(Dequantize op)
        {
            var p = op.Input;
            var y = new Interval[op.OutputSize];
            for (var i = 0; i < y.Length; i++)
            {
                // Codes are integers and float32((q − z)·s) is increasing in q (s > 0): the end codes give the ends, exactly.
                double lo = Math.Ceiling(x[i].Lo), hi = Math.Floor(x[i].Hi);
                y[i] = lo > hi ? new Interval(QuantMath.Dequantize((int)hi, p), QuantMath.Dequantize((int)lo, p))
                    : new Interval(QuantMath.Dequantize((int)lo, p), QuantMath.Dequantize((int)hi, p));
            }
            return new NodeBounds(y);
        }

        public NodeBounds IntegerLinear(IntegerLinear op)
        {
            var acc = new Interval[op.OutputSize];
            for (var j = 0; j < acc.Length; j++) acc[j] = Accumulator(op, x, j);
            return new NodeBounds(acc);
        }

        public NodeBounds Requantize(Requantize op)
        {
            var n = op.OutputSize;
            var pre = new Interval[n];
            var e = new double[n];
            var rounded = new Interval[n];
            var codes = new Interval[n];
            for (var j = 0; j < n; j++)
            {
                // float32(float32(acc)·M), M float32: exact in the model up to the two roundings of the band.
                pre[j] = (double)op.Multipliers[j] * x[j];
                e[j] = RoundingModel.Widening(pre[j].MaxAbs);
                rounded[j] = RoundingModel.RoundedRange(pre[j], e[j]);
                codes[j] = Codes(rounded[j], op.Output);
            }
            return new NodeBounds(codes, new Rounding(pre, e, rounded));
        }

        public NodeBounds Reshape(Reshape op) => new(x);

        /// <summary>
        /// Rounding is monotone: the ends round to the ends, exactly, and with the runtime's input error e the ends of
        /// [lo − e, hi + e]. Where the range reaches the overflow threshold the bounds are of the saturated rounding
        /// (<see cref="FloatFormats.RoundSaturating"/>), which equals the network's wherever nothing overflows; a box where
        /// something may overflow has an infinite float32 error bound (<c>Float32Error</c>), so loose intervals cost
        /// precision, never soundness or a crash.
        /// </summary>
        public NodeBounds FloatRound(FloatRound op)
        {
            var f = op.Format;
            var y = new Interval[op.OutputSize];
            for (var i = 0; i < y.Length; i++)
            {
                var e = inputError?[i] ?? 0;
                y[i] = new Interval(f.RoundSaturating(x[i].Lo - e), f.RoundSaturating(x[i].Hi + e));
            }
            return new NodeBounds(y, null, inputError);
        }
    }
}
