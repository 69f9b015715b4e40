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
        var x = input;
        for (var k = 0; k < nodes.Length; k++)
        {
            nodes[k] = Node(network.Nodes[k], x);
            x = nodes[k].Output;
        }
        return new GraphBounds(network, input, nodes);
    }

    /// <summary>One node's bounds from bounds of the tensor it reads.</summary>
    public static NodeBounds Node(Node node, Interval[] input)
    {
        try { return node.Operator.Accept(new Rule(input)); }
        catch (OverflowException e) { throw new NotSupportedException($"node '{node.Name}' ({node.Operator.Describe()}): {e.Message}"); }
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

    private sealed class Rule(Interval[] x) : IOperatorVisitor<NodeBounds>
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

        /// <summary>Rounding is monotone: the ends round to the ends, exactly. A range that reaches the overflow threshold
        /// would hold ±∞ (and NaN after a product with a zero weight), which the analyses do not model.</summary>
        public NodeBounds FloatRound(FloatRound op)
        {
            var f = op.Format;
            var y = new Interval[op.OutputSize];
            for (var i = 0; i < y.Length; i++)
            {
                if (!(x[i].MaxAbs < f.OverflowThreshold()))
                    throw new OverflowException($"element {i}: values up to {x[i].MaxAbs:G6} may overflow {f.Name()} (largest finite {f.MaxFinite():G6}) to ±∞, which is not modelled");
                y[i] = new Interval(f.Round(x[i].Lo), f.Round(x[i].Hi));
            }
            return new NodeBounds(y);
        }
    }
}
