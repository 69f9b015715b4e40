using System.Runtime.CompilerServices;
using QEquiv.Bounds;
using QEquiv.Model;
using QEquiv.Networks;
using QEquiv.Quantization;

namespace QEquiv.Evaluation;

/// <summary>
/// A rigorous bound on how far a float32 evaluation of N — in ANY summation order, blocked or sequential, with or
/// without FMA, as ONNX Runtime's or PyTorch's GEMM kernels compute it — can lie from N in real arithmetic and from
/// <see cref="FloatEvaluator"/>'s double value. The runtimes' exact order is not reproducible, so the verdicts rest on
/// this bound rather than on one float32 evaluation.
/// <para>
/// Per neuron y = W h + b, the standard a-priori bound of a dot product of n nonzero terms plus the bias, in any
/// order (at most n + 1 roundings along any term's path: its product, unless fused, and one per addition that merges
/// it with a nonzero partial sum; counted as n + 2 for one more elementwise op such as Gemm's α or a folded Mul) is
/// |fl(W h̃ + b) − (W h̃ + b)| ≤ γ_{n+2}·(|W||h̃| + |b|), γ_k = k·u/(1 − k·u), u = 2⁻²⁴. Terms that are exactly zero in
/// every arithmetic (zero weights, zero inputs, neurons off in every arithmetic) are not counted: adding an exact
/// zero is exact.
/// The error a of the previous layer propagates through |W|, ReLU is exact and 1-Lipschitz (and a neuron whose
/// pre-activation is below −(a + c) is 0 in every arithmetic), so per neuron
/// a' = |W| a + γ_{n+2}(|W|(|h| + a + c) + |b|) + tiny, where tiny = (n + 2 + Σ|W|)·2⁻¹²⁶ covers underflow and
/// flush-to-zero of every operation. Weights that are not float32 values (a folded or double-precision model) add
/// 2u relative for the runtime's float32 copy of them. The double evaluation errs from real arithmetic by
/// c' = |W| c + γ⁶⁴_{n+2}(|W||h| + |b|), so a + c bounds |N_f32 − N_double| and covers |N_real − N_double| too.
/// Every sum here is computed in double (rounded to nearest) and scaled by 1 + 10⁻⁹, which covers those roundings.
/// </para>
/// <para>
/// Not covered: elementwise operators folded in front of a matrix product (an input normalisation Sub/Div in the
/// source graph, rounded by the runtime before the product), and non-IEEE modes (TF32, bf16, fast-math approximations).
/// </para>
/// </summary>
public static class Float32Error
{
    public const double UnitRoundoff = 1.0 / (1 << 24);
    private const double DoubleRoundoff = 1.0 / (1L << 53);
    private static readonly double Tiny = Math.Pow(2, -126);
    private const double SumPadding = 1 + 1e-9;

    /// <summary>γ_k = k·u/(1 − k·u).</summary>
    public static double Gamma(int k, double u)
    {
        var ku = k * u;
        if (!(ku < 0.5)) throw new NotSupportedException($"a dot product of {k} terms is too long for the float32 error bound");
        return ku / (1 - ku);
    }

    /// <summary>
    /// The one propagation behind both uses. <paramref name="magnitude"/>[k][i] bounds |h_i| of layer k's input (the
    /// double value at a point, or its largest magnitude over a box); <paramref name="preLower"/>[k][o] and
    /// <paramref name="preUpper"/>[k][o] bound layer k's pre-activation (at a point: both its double value). Returns, per
    /// output, a bound on |N_f32 − N_double| and |N_f32 − N_real| (and so on |N_real − N_double|) for any float32
    /// evaluation order. <paramref name="refine"/> (null: all) selects the outputs that get the backward refinement; the
    /// others keep the crude forward bound, which is sound too but looser.
    /// </summary>
    public static double[] Propagate(FloatNetwork network, IReadOnlyList<double[]> magnitude, IReadOnlyList<double[]> preLower,
        IReadOnlyList<double[]> preUpper, bool[]? refine = null)
    {
        ArgumentNullException.ThrowIfNull(network);
        var layers = network.Layers.Count;
        if (magnitude.Count != layers || preLower.Count != layers || preUpper.Count != layers)
            throw new ArgumentException("one magnitude and one pre-activation bound per layer");
        // Forward: the crude bounds a (float32 vs real) and c (double vs real) of every neuron, the bound ρ of the rounding
        // error each float32 neuron adds itself, and how each ReLU passes differences (slope 0, 1 or anything in [0, 1]).
        var a = new double[network.InputSize]; // the input is the float32 value itself in every arithmetic
        var c = new double[network.InputSize];
        var rho = new double[layers][];
        var slope = new Slope[layers][];
        for (var k = 0; k < layers; k++)
        {
            var layer = network.Layers[k];
            var m = magnitude[k];
            var n = layer.InputSize;
            var weightRounding = StoresFloat32(layer) ? 0 : 2 * UnitRoundoff;
            var na = new double[layer.OutputSize];
            var nc = new double[layer.OutputSize];
            rho[k] = new double[layer.OutputSize];
            slope[k] = new Slope[layer.OutputSize];
            var bias = layer.Bias;
            for (var o = 0; o < na.Length; o++)
            {
                var row = layer.Row(o);
                double propagatedA = 0, propagatedC = 0, reference = 0, computed = 0, weights = 0;
                var terms = 0;
                for (var i = 0; i < n; i++)
                {
                    var w = Math.Abs(row[i]);
                    // A product that is exactly 0 in every arithmetic (zero weight, or an input that is 0 in all of them:
                    // a zero pixel, a neuron off in every arithmetic) adds nothing and rounds nothing, whatever the order.
                    if (w == 0 || (m[i] == 0 && a[i] == 0 && c[i] == 0)) continue;
                    terms++;
                    weights += w;
                    propagatedA += w * a[i];
                    propagatedC += w * c[i];
                    reference += w * m[i];
                    computed += w * (m[i] + a[i] + c[i]);
                }
                var b = Math.Abs(bias[o]);
                var rel32 = Gamma(terms + 2, UnitRoundoff) + weightRounding;
                var rel64 = Gamma(terms + 2, DoubleRoundoff);
                rho[k][o] = (rel32 * (computed + b) + (n + 2 + weights) * Tiny) * SumPadding;
                var ea = (propagatedA + rho[k][o]) * SumPadding;
                var ec = (propagatedC + rel64 * (reference + b)) * SumPadding;
                slope[k][o] = layer.Activation != Activation.Relu ? Slope.One
                    // Below −(a + c) the real, the double and every float32 pre-activation are ≤ 0: all give 0.
                    : preUpper[k][o] + ea + ec <= 0 ? Slope.Zero
                    // Above a + c they are all ≥ 0: ReLU passes the difference unchanged.
                    : preLower[k][o] - ea - ec >= 0 ? Slope.One
                    : Slope.Unknown;
                if (slope[k][o] == Slope.Zero) ea = ec = 0;
                na[o] = ea;
                nc[o] = ec;
            }
            a = na;
            c = nc;
        }

        // Backward, per output j: with r_k = z̃_k − (W_k h̃_{k−1} + b_k) the rounding error float32 adds at layer k and θ
        // the ReLU slopes (relu(u) − relu(v) = θ·(u − v), θ ∈ [0, 1]), exactly N_f32 − N_real = Σ_k J_k r_k with
        // J_k = Θ_{L−1} W_{L−1} ⋯ W_{k+1} Θ_k. Interval rows of J_k (θ ∈ [0, 1] where the phase is not known) keep the
        // cancellation between weights that |W_{L−1}|⋯|W_{k+1}| throws away; |Σ J_k r_k| ≤ Σ_k |J_k| ρ_k.
        var total = new double[a.Length];
        for (var j = 0; j < total.Length; j++)
        {
            if (refine is not null && !refine[j])
            {
                total[j] = (a[j] + c[j]) * SumPadding;
                continue;
            }
            var lo = new double[a.Length];
            var hi = new double[a.Length];
            lo[j] = hi[j] = 1;
            var refined = 0.0;
            for (var k = layers - 1; k >= 0; k--)
            {
                var s = slope[k];
                for (var o = 0; o < lo.Length; o++)
                {
                    if (s[o] == Slope.Zero) lo[o] = hi[o] = 0;
                    else if (s[o] == Slope.Unknown) (lo[o], hi[o]) = (Math.Min(0, lo[o]), Math.Max(0, hi[o]));
                    refined += Math.Max(-lo[o], hi[o]) * rho[k][o];
                }
                if (k == 0) break;
                (lo, hi) = TimesWeights(network.Layers[k], lo, hi);
            }
            refined *= SumPadding;
            // Both are sound bounds of |N_f32 − N_real|; c adds the double's own distance from real arithmetic.
            total[j] = (Math.Min(refined, a[j]) + c[j]) * SumPadding;
        }
        return total;
    }

    private enum Slope : byte { Zero, One, Unknown }

    /// <summary>
    /// The interval row vector [lo, hi]·W over the layer's inputs, widened by the double rounding of its sums (at most
    /// (n + 1)·2⁻⁵³ of the magnitudes summed, counted as (n + 2)·2⁻⁵²).
    /// </summary>
    private static (double[] Lo, double[] Hi) TimesWeights(DenseLayer layer, double[] lo, double[] hi)
    {
        var n = layer.InputSize;
        var rlo = new double[n];
        var rhi = new double[n];
        var magnitude = new double[n];
        for (var o = 0; o < layer.OutputSize; o++)
        {
            if (lo[o] == 0 && hi[o] == 0) continue;
            var row = layer.Row(o);
            for (var i = 0; i < n; i++)
            {
                var w = row[i];
                if (w >= 0) { rlo[i] += lo[o] * w; rhi[i] += hi[o] * w; }
                else { rlo[i] += hi[o] * w; rhi[i] += lo[o] * w; }
                magnitude[i] += Math.Max(-lo[o], hi[o]) * Math.Abs(w);
            }
        }
        var pad = (layer.OutputSize + 2) * Math.Pow(2, -52);
        for (var i = 0; i < n; i++)
        {
            rlo[i] -= pad * magnitude[i];
            rhi[i] += pad * magnitude[i];
        }
        return (rlo, rhi);
    }

    /// <summary>
    /// Per output, the bound at one float32 input around <see cref="FloatEvaluator"/>'s double outputs there;
    /// <paramref name="refine"/> as in <see cref="Propagate"/>.
    /// </summary>
    public static double[] AtPoint(FloatNetwork network, ReadOnlySpan<float> input, bool[]? refine = null)
    {
        var trace = FloatEvaluator.Trace(network, input);
        var magnitude = new double[network.Layers.Count][];
        for (var k = 0; k < network.Layers.Count; k++) magnitude[k] = Array.ConvertAll(trace.Inputs[k], Math.Abs);
        return Propagate(network, magnitude, trace.PreActivations, trace.PreActivations, refine);
    }

    private static readonly ConditionalWeakTable<GraphBounds, double[]> BoxCache = new();

    /// <summary>
    /// Per output, what to add to the analyses' bounds of output j (and of differences with it) so that they hold for
    /// every float32 evaluation, at every point the bounds <paramref name="bounds"/> cover (a box of float32 inputs): for a
    /// real-arithmetic network the bound's largest value there, |N_f32(x) − N_real(x)| ≤ OverBox[j] in every evaluation
    /// order. Zero for a network without real-arithmetic operators (a quantized network: its float32 roundings are in its
    /// bounds), and zero past a float16 / bfloat16 rounding whose bounds include the float32 error of what it rounds
    /// (<see cref="NodeBounds.InputError"/>: the analyses bound the runtime's rounded values themselves), as a rounded
    /// output is. Cached per bounds object (they are immutable).
    /// </summary>
    public static double[] OverBox(GraphBounds bounds)
    {
        ArgumentNullException.ThrowIfNull(bounds);
        if (BoxCache.TryGetValue(bounds, out var hit)) return hit;
        var network = bounds.Network;
        var bound = network.Operators.Any(o => o is Affine or FloatRound)
            ? Over(network, k => bounds.InputOf(k), k => bounds.Nodes[k], null)
            : new double[network.OutputSize];
        BoxCache.AddOrUpdate(bounds, bound);
        return bound;
    }

    /// <summary>True when every weight and bias is a float32 value (what a float32 ONNX initializer holds).</summary>
    private static bool StoresFloat32(DenseLayer layer) => Float32Layers.GetValue(layer, l =>
    {
        foreach (var w in l.Weights) if ((double)(float)w != w) return False;
        foreach (var b in l.Bias) if ((double)(float)b != b) return False;
        return True;
    }) == True;

    private static readonly ConditionalWeakTable<DenseLayer, object> Float32Layers = new();
    private static readonly object True = new(), False = new();

    /// <summary>
    /// Per output, the bound at one float32 input of any <see cref="Network"/> around its exact outputs there
    /// (<see cref="Network.Evaluate(ReadOnlySpan{float})"/>), operator by operator (<see cref="PointRules"/>): the same
    /// forward and backward propagation as for a layered network (Affine is a layer's linear map, Relu its activation;
    /// the numbers are the same), with a real-arithmetic Elementwise as a diagonal linear map. Operators that
    /// <see cref="Network.Evaluate(ReadOnlySpan{double})"/> already computes in the runtime's own arithmetic (integer
    /// codes, float32 element-wise steps of a quantized graph) add no error, so a quantized network's bound is 0; an
    /// error reaching one of them could flip a rounding, which no bound here covers: the result is then +∞ (never a
    /// witness). <paramref name="refine"/> as in <see cref="Propagate"/>.
    /// </summary>
    public static double[] AtPoint(Network network, ReadOnlySpan<float> input, bool[]? refine = null)
    {
        ArgumentNullException.ThrowIfNull(network);
        var x = new double[input.Length];
        for (var i = 0; i < x.Length; i++) x[i] = input[i];
        var trace = network.Trace(x);
        var points = trace.Select(t => Array.ConvertAll(t, Interval.Point)).ToArray();
        return Over(network, k => points[k], k => new NodeBounds(points[k + 1]), refine, atPoint: true);
    }

    /// <summary>
    /// The per-operator propagation behind <see cref="AtPoint(Network, ReadOnlySpan{float}, bool[])"/> (point bounds)
    /// and <see cref="OverBox"/> (a box's bounds): <paramref name="input"/>(k) and <paramref name="output"/>(k) bound the
    /// tensors node k reads and writes, as the exact evaluator computes them.
    /// </summary>
    private static double[] Over(Network network, Func<int, Interval[]> input, Func<int, NodeBounds> output, bool[]? refine, bool atPoint = false)
    {
        var ops = network.Nodes.Select(n => n.Operator).ToArray();
        var steps = new PointStep[ops.Length];
        var a = new double[network.InputSize]; // the input is the float32 value itself in every arithmetic
        var c = new double[network.InputSize];
        for (var k = 0; k < ops.Length; k++)
        {
            steps[k] = ops[k].Accept(PointRules.Instance);
            var node = output(k);
            if (!steps[k].Forward(input(k), node.Output, atPoint ? null : node, ref a, ref c))
            {
                var unbounded = new double[network.OutputSize];
                Array.Fill(unbounded, double.PositiveInfinity);
                return unbounded;
            }
        }
        var total = new double[a.Length];
        for (var j = 0; j < total.Length; j++)
        {
            if (refine is not null && !refine[j])
            {
                total[j] = (a[j] + c[j]) * SumPadding;
                continue;
            }
            var lo = new double[a.Length];
            var hi = new double[a.Length];
            lo[j] = hi[j] = 1;
            var refined = 0.0;
            for (var k = ops.Length - 1; k >= 0 && lo.Length > 0; k--)
                (lo, hi) = steps[k].Backward(lo, hi, ref refined, needInput: k > 0);
            refined *= SumPadding;
            total[j] = (Math.Min(refined, a[j]) + c[j]) * SumPadding;
        }
        return total;
    }

    /// <summary>
    /// One operator of the point bound. Forward: from its input's values and crude bounds (a: float32 vs real, c: double
    /// vs real) to its output's, false when no bound holds. Backward: the interval row of J over its output to the one
    /// over its input, adding Σ |J| ρ for the rounding error ρ it adds itself; an empty row ends the pass (nothing before
    /// the operator erred).
    /// </summary>
    private abstract class PointStep
    {
        /// <param name="x">Bounds of the input tensor's exact values (a point: its value).</param>
        /// <param name="y">Bounds of the output tensor's exact values.</param>
        /// <param name="box">Over a box, the node's bounds (null at a point).</param>
        public abstract bool Forward(Interval[] x, Interval[] y, NodeBounds? box, ref double[] a, ref double[] c);
        public abstract (double[] Lo, double[] Hi) Backward(double[] lo, double[] hi, ref double refined, bool needInput);
    }

    private sealed class PointRules : IOperatorVisitor<PointStep>
    {
        public static readonly PointRules Instance = new();
        public PointStep Affine(Affine op) => new AffineStep(op);
        public PointStep Elementwise(Elementwise op) => op.Arithmetic == Arithmetic.Real ? new DiagonalStep(op) : new ExactStep();
        public PointStep Relu(Relu op) => new ReluStep();
        public PointStep Clamp(Clamp op) => new ExactStep();
        public PointStep Quantize(Quantize op) => new ExactStep();
        public PointStep Dequantize(Dequantize op) => new ExactStep();
        public PointStep IntegerLinear(IntegerLinear op) => new ExactStep();
        public PointStep Requantize(Model.Requantize op) => new ExactStep();
        public PointStep Reshape(Reshape op) => new IdentityStep();
        public PointStep FloatRound(FloatRound op) => new RoundStep(op.Format);
    }

    /// <summary>
    /// One neuron Σ w_t h_{column t} + b, as in <see cref="Propagate"/>: its crude bounds and own ρ. The underflow term
    /// counts the stored entries: a runtime that multiplies a convolution's padding too adds exact zeros there.
    /// </summary>
    private static (double A, double C, double Rho) Neuron(ReadOnlySpan<int> columns, ReadOnlySpan<double> row, ReadOnlySpan<double> x,
        ReadOnlySpan<double> a, ReadOnlySpan<double> c, double bias, double weightRounding)
    {
        double propagatedA = 0, propagatedC = 0, reference = 0, computed = 0, weights = 0;
        var terms = 0;
        var n = row.Length;
        for (var t = 0; t < row.Length; t++)
        {
            var i = columns[t];
            var w = Math.Abs(row[t]);
            var m = Math.Abs(x[i]);
            if (w == 0 || (m == 0 && a[i] == 0 && c[i] == 0)) continue;
            terms++;
            weights += w;
            propagatedA += w * a[i];
            propagatedC += w * c[i];
            reference += w * m;
            computed += w * (m + a[i] + c[i]);
        }
        var b = Math.Abs(bias);
        var rel32 = Gamma(terms + 2, UnitRoundoff) + weightRounding;
        var rel64 = Gamma(terms + 2, DoubleRoundoff);
        var rho = (rel32 * (computed + b) + (n + 2 + weights) * Tiny) * SumPadding;
        var ea = (propagatedA + rho) * SumPadding;
        var ec = (propagatedC + rel64 * (reference + b)) * SumPadding;
        return (ea, ec, rho);
    }

    private sealed class AffineStep(Affine op) : PointStep
    {
        private double[] _rho = [];

        public override bool Forward(Interval[] x, Interval[] y, NodeBounds? box, ref double[] a, ref double[] c)
        {
            var weightRounding = StoresFloat32(op) ? 0 : 2 * UnitRoundoff;
            var na = new double[op.OutputSize];
            var nc = new double[op.OutputSize];
            _rho = new double[op.OutputSize];
            var bias = op.Bias;
            var m = Magnitudes(x);
            for (var o = 0; o < na.Length; o++)
            {
                var row = op.Row(o);
                (na[o], nc[o], _rho[o]) = Neuron(row.Columns, row.Values, m, a, c, bias[o], weightRounding);
            }
            a = na;
            c = nc;
            return true;
        }

        public override (double[] Lo, double[] Hi) Backward(double[] lo, double[] hi, ref double refined, bool needInput)
        {
            for (var o = 0; o < lo.Length; o++) refined += Math.Max(-lo[o], hi[o]) * _rho[o];
            if (!needInput) return ([], []);
            var n = op.InputSize;
            var rlo = new double[n];
            var rhi = new double[n];
            var magnitude = new double[n];
            for (var o = 0; o < op.OutputSize; o++)
            {
                if (lo[o] == 0 && hi[o] == 0) continue;
                var row = op.Row(o);
                for (var t = 0; t < row.Length; t++)
                {
                    var i = row.Columns[t];
                    var w = row.Values[t];
                    if (w >= 0) { rlo[i] += lo[o] * w; rhi[i] += hi[o] * w; }
                    else { rlo[i] += hi[o] * w; rhi[i] += lo[o] * w; }
                    magnitude[i] += Math.Max(-lo[o], hi[o]) * Math.Abs(w);
                }
            }
            Widen(rlo, rhi, magnitude, op.OutputSize);
            return (rlo, rhi);
        }
    }

    /// <summary>
    /// A real-arithmetic x ∘ c as the diagonal map scale·x + shift: one product term per element. A runtime computes it
    /// in float32 with the constant rounded to float32 (one rounding for it, one for the operation).
    /// </summary>
    private sealed class DiagonalStep(Elementwise op) : PointStep
    {
        private double[] _rho = [];

        public override bool Forward(Interval[] x, Interval[] y, NodeBounds? box, ref double[] a, ref double[] c)
        {
            var constants = op.Constants;
            var float32 = true;
            foreach (var v in constants) float32 &= (double)(float)v == v;
            var weightRounding = float32 ? 0 : 2 * UnitRoundoff;
            var n = x.Length;
            var m = Magnitudes(x);
            var na = new double[n];
            var nc = new double[n];
            _rho = new double[n];
            for (var i = 0; i < n; i++)
            {
                var (scale, shift) = op.AsAffine(i);
                (na[i], nc[i], _rho[i]) = Neuron([0], [scale], m.AsSpan(i, 1), a.AsSpan(i, 1), c.AsSpan(i, 1), shift, weightRounding);
            }
            a = na;
            c = nc;
            return true;
        }

        public override (double[] Lo, double[] Hi) Backward(double[] lo, double[] hi, ref double refined, bool needInput)
        {
            for (var i = 0; i < lo.Length; i++) refined += Math.Max(-lo[i], hi[i]) * _rho[i];
            if (!needInput) return ([], []);
            var rlo = new double[lo.Length];
            var rhi = new double[lo.Length];
            var magnitude = new double[lo.Length];
            for (var i = 0; i < lo.Length; i++)
            {
                var w = op.AsAffine(i).Scale;
                (rlo[i], rhi[i]) = w >= 0 ? (lo[i] * w, hi[i] * w) : (hi[i] * w, lo[i] * w);
                magnitude[i] = Math.Max(-lo[i], hi[i]) * Math.Abs(w);
            }
            Widen(rlo, rhi, magnitude, 1);
            return (rlo, rhi);
        }
    }

    /// <summary>The double rounding of the row sums in the backward pass: at most (terms + 1)·2⁻⁵³ of the magnitudes, counted as (terms + 2)·2⁻⁵².</summary>
    private static void Widen(double[] lo, double[] hi, double[] magnitude, int terms)
    {
        var pad = (terms + 2) * Math.Pow(2, -52);
        for (var i = 0; i < lo.Length; i++)
        {
            lo[i] -= pad * magnitude[i];
            hi[i] += pad * magnitude[i];
        }
    }

    /// <summary>ReLU: exact and 1-Lipschitz; a neuron whose pre-activation lies beyond ±(a + c) has the same phase in every arithmetic.</summary>
    private sealed class ReluStep : PointStep
    {
        private Slope[] _slope = [];

        public override bool Forward(Interval[] x, Interval[] y, NodeBounds? box, ref double[] a, ref double[] c)
        {
            _slope = new Slope[x.Length];
            var na = new double[x.Length];
            var nc = new double[x.Length];
            for (var o = 0; o < x.Length; o++)
            {
                _slope[o] = x[o].Hi + a[o] + c[o] <= 0 ? Slope.Zero : x[o].Lo - a[o] - c[o] >= 0 ? Slope.One : Slope.Unknown;
                if (_slope[o] == Slope.Zero) continue;
                na[o] = a[o];
                nc[o] = c[o];
            }
            a = na;
            c = nc;
            return true;
        }

        public override (double[] Lo, double[] Hi) Backward(double[] lo, double[] hi, ref double refined, bool needInput)
        {
            for (var o = 0; o < lo.Length; o++)
            {
                if (_slope[o] == Slope.Zero) lo[o] = hi[o] = 0;
                else if (_slope[o] == Slope.Unknown) (lo[o], hi[o]) = (Math.Min(0, lo[o]), Math.Max(0, hi[o]));
            }
            return (lo, hi);
        }
    }

    private static double[] Magnitudes(Interval[] x) => Array.ConvertAll(x, v => v.MaxAbs);

    /// <summary>
    /// Rounding to float16 / bfloat16 (r, monotone). Over a box whose bounds of this node hold the runtime's value
    /// (<see cref="NodeBounds.InputError"/>: they include the float32 error of the value it rounds, and every analysis
    /// built on them does), nothing is left to add: the error before it is absorbed (slope 0), provided no input may
    /// reach the overflow threshold. Otherwise, and at a point (against the exact rounding of the exact value): its input's
    /// real, double and float32 values all lie in [x.Lo − a − c, x.Hi + a + c]. When r maps all of that to one value, the
    /// three outputs are equal: no error is left and none before it reaches the output (slope 0). Otherwise
    /// r(u) − r(v) = (u − v) + ε with |ε| ≤ the two half-spacings at the range's magnitude, one spacing ρ
    /// (<see cref="FloatFormats.Ulp"/>): slope 1 plus an error ρ of its own, and never more than the rounded range's width.
    /// A range that reaches the overflow threshold has no bound.
    /// </summary>
    private sealed class RoundStep(FloatFormat format) : PointStep
    {
        private double[] _rho = [];
        private bool[] _absorbed = [];

        public override bool Forward(Interval[] x, Interval[] y, NodeBounds? box, ref double[] a, ref double[] c)
        {
            var n = x.Length;
            var na = new double[n];
            var nc = new double[n];
            _rho = new double[n];
            _absorbed = new bool[n];
            for (var i = 0; i < n; i++)
            {
                if (box?.InputError is { } e)
                {
                    if (!(x[i].MaxAbs + e[i] < format.OverflowThreshold())) return false;
                    _absorbed[i] = true;
                    continue;
                }
                double lo = x[i].Lo - (a[i] + c[i]) * SumPadding, hi = x[i].Hi + (a[i] + c[i]) * SumPadding;
                if (!double.IsFinite(lo) || !double.IsFinite(hi)) return false;
                double rl = format.Round(lo), rh = format.Round(hi);
                if (!double.IsFinite(rl) || !double.IsFinite(rh)) return false;
                if (rl == rh) { _absorbed[i] = true; continue; }
                var rho = format.Ulp(Math.Max(-lo, hi)) * SumPadding;
                _rho[i] = rho;
                var width = (rh - rl) * SumPadding;
                na[i] = Math.Min((a[i] + rho) * SumPadding, width);
                nc[i] = Math.Min((c[i] + rho) * SumPadding, width);
            }
            a = na;
            c = nc;
            return true;
        }

        public override (double[] Lo, double[] Hi) Backward(double[] lo, double[] hi, ref double refined, bool needInput)
        {
            for (var i = 0; i < lo.Length; i++)
            {
                if (_absorbed[i]) { lo[i] = hi[i] = 0; continue; }
                refined += Math.Max(-lo[i], hi[i]) * _rho[i];
            }
            return (lo, hi);
        }
    }

    private sealed class IdentityStep : PointStep
    {
        public override bool Forward(Interval[] x, Interval[] y, NodeBounds? box, ref double[] a, ref double[] c) => true;
        public override (double[] Lo, double[] Hi) Backward(double[] lo, double[] hi, ref double refined, bool needInput) => (lo, hi);
    }

    /// <summary>An operator computed exactly as the runtime does: no error of its own, and none may reach it.</summary>
    private sealed class ExactStep : PointStep
    {
        public override bool Forward(Interval[] x, Interval[] y, NodeBounds? box, ref double[] a, ref double[] c)
        {
            foreach (var v in a) if (v != 0) return false;
            foreach (var v in c) if (v != 0) return false;
            a = new double[y.Length];
            c = new double[y.Length];
            return true;
        }

        // Nothing before it erred (Forward checked), so nothing before it adds to the bound.
        public override (double[] Lo, double[] Hi) Backward(double[] lo, double[] hi, ref double refined, bool needInput) => ([], []);
    }

    private static bool StoresFloat32(Affine op) => Float32Affines.GetValue(op, l =>
    {
        foreach (var w in l.Weights) if ((double)(float)w != w) return False;
        foreach (var b in l.Bias) if ((double)(float)b != b) return False;
        return True;
    }) == True;

    private static readonly ConditionalWeakTable<Affine, object> Float32Affines = new();
}
