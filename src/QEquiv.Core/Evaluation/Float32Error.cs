using System.Runtime.CompilerServices;
using QEquiv.Bounds;
using QEquiv.Model;
using QEquiv.Networks;

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
    private static readonly ConditionalWeakTable<Network, FloatNetwork> Views = new();

    /// <summary>
    /// Per output, the bound's largest value over every point the bounds <paramref name="bounds"/> cover (a box of
    /// float32 inputs): |N_f32(x) − N_real(x)| ≤ OverBox[j] for every x there and every float32 evaluation order. Zero for
    /// a network without real-arithmetic operators (a quantized network: its float32 roundings are in its bounds).
    /// Cached per bounds object (they are immutable).
    /// </summary>
    public static double[] OverBox(GraphBounds bounds)
    {
        ArgumentNullException.ThrowIfNull(bounds);
        if (BoxCache.TryGetValue(bounds, out var hit)) return hit;
        var network = bounds.Network;
        double[] bound;
        if (!network.Operators.Any(o => o is Affine)) bound = new double[network.OutputSize];
        else
        {
            var view = Views.GetValue(network, Layering.ToFloat);
            var affine = Enumerable.Range(0, network.Nodes.Count).Where(k => network.Nodes[k].Operator is Affine).ToArray();
            if (affine.Length != view.Layers.Count) throw new NotSupportedException($"{network.Source}: a float32 error bound needs a network of Affine and Relu operators");
            var magnitude = new double[affine.Length][];
            var lower = new double[affine.Length][];
            var upper = new double[affine.Length][];
            for (var k = 0; k < affine.Length; k++)
            {
                magnitude[k] = Array.ConvertAll(bounds.InputOf(affine[k]), v => v.MaxAbs);
                lower[k] = Array.ConvertAll(bounds.Nodes[affine[k]].Output, v => v.Lo);
                upper[k] = Array.ConvertAll(bounds.Nodes[affine[k]].Output, v => v.Hi);
            }
            bound = Propagate(view, magnitude, lower, upper);
        }
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
}
