using QEquiv.Networks;
using QEquiv.Regions;

namespace QEquiv.Bounds;

/// <summary>What <see cref="DifferentialBounds.Compute"/> computes beyond the interval-differential pass.</summary>
/// <param name="Symbolic">Also back-substitute Δ to the input (the symbolic-differential bound).</param>
/// <param name="EveryNeuron">Back-substitute every neuron, not only those whose relaxation depends on its bounds
/// (tighter per-layer records for the encoder, slower).</param>
public sealed record DifferentialOptions(bool Symbolic = true, bool EveryNeuron = false);

/// <summary>
/// Bounds of N_j − Q_j per output j, where Q_j is the quantized network's output in real arithmetic
/// (s·(q_j − z) + output bias, exactly). The runtime computes that dequantization in float32: its error is NOT
/// included here and must be added by the caller (<c>EquivalenceMilp.MarginFor</c>), as for every other bound.
/// </summary>
/// <param name="Naive">Interval N minus interval Q (<see cref="BoundPropagation"/>), the old bound.</param>
/// <param name="IntervalDifferential">Δ propagated layer by layer as intervals.</param>
/// <param name="SymbolicDifferential">Δ also back-substituted to the input (equals the interval one when disabled).</param>
/// <param name="Tightest">The intersection of all three.</param>
/// <param name="Hidden">Per level (0 = input, k = after layer k) the tightest Δh = h − ĥ bounds, ĥ as the next layer reads it.</param>
/// <param name="Float">Per-layer bounds of N, symbolic ∩ interval.</param>
/// <param name="Quantized">Per-stage bounds of Q, symbolic ∩ interval.</param>
public sealed record DifferenceBounds(
    Interval[] Naive,
    Interval[] IntervalDifferential,
    Interval[] SymbolicDifferential,
    Interval[] Tightest,
    IReadOnlyList<Interval[]> Hidden,
    FloatNetworkBounds Float,
    QuantizedNetworkBounds Quantized)
{
    /// <summary>Bounds of s·(N_j − Q_j) (before the dequantization margin), the quantity a sub-problem asks about.</summary>
    public Interval For(int output, int sign) => sign > 0 ? Tightest[output] : -Tightest[output];

    public static double AverageWidth(IReadOnlyList<Interval> bounds) => bounds.Average(b => b.Width);
}

/// <summary>
/// Differential bounds of Δ = N − Q (the ReluDiff → NeuroDiff → QEBVerif-DRA lineage): Δ is propagated as a
/// quantity of its own, so the large but shared parts of N and Q cancel instead of adding up.
/// Per layer k, with h, ĥ the two networks' layer outputs and v = Ŵĥ + b̂ the quantized pre-rounding value,
///   Δz_k = z_k − (v_k + ρ_k) = Ŵ_k Δh_{k−1} + (W_k − Ŵ_k) h_{k−1} + (b_k − b̂_k) − ρ_k
///        = W_k Δh_{k−1} + (W_k − Ŵ_k) ĥ_{k−1} + (b_k − b̂_k) − ρ_k,
/// and after the activations Δh = f(z) − clamp(y, lo, hi), y = v + ρ, written as the pair term f(z) − g(y)
/// (ReluDiff's rules: relu(z) − relu(y) ∈ [min(0, Δz), max(0, Δz)], = Δz when both are active, 0 when both are
/// inactive, one-sided when one phase is known) plus saturation terms relu(y − hi) (and −relu(lo − y) when Q has
/// no ReLU) that are non-zero only where y's bounds reach the clamp limits.
/// </summary>
public static partial class DifferentialBounds
{
    public static DifferenceBounds Compute(FloatNetwork n, QuantizedNetwork q, Box box, DifferentialOptions? options = null)
    {
        options ??= new DifferentialOptions();
        if (n.InputSize != q.InputSize || n.OutputSize != q.OutputSize)
            throw new ArgumentException($"network shapes differ: N {n.InputSize}→{n.OutputSize}, Q {q.InputSize}→{q.OutputSize}");
        if (box.Dimension != n.InputSize)
            throw new ArgumentException($"box has {box.Dimension} dimensions, the networks take {n.InputSize} inputs");

        var floatIntervals = BoundPropagation.Float(n, box);
        var quantIntervals = BoundPropagation.Quantized(q, box);
        var naive = new Interval[n.OutputSize];
        for (var j = 0; j < naive.Length; j++) naive[j] = floatIntervals.Outputs[j] - quantIntervals.Outputs[j];

        var fv = SymbolicBounds.FloatView(n, floatIntervals, options.EveryNeuron);
        var qv = SymbolicBounds.QuantizedView(q, box, floatIntervals.Input, options.EveryNeuron);
        if (qv.Levels.Count != fv.Steps.Count + 1)
            throw new NotSupportedException(
                $"N has {fv.Steps.Count} dense layers but Q has {qv.Levels.Count - 1} dense stages: layers must correspond one to one");

        var intervalPass = new DeltaPass(n, q, fv, qv, floatIntervals.Input, symbolic: false, options.EveryNeuron).Run();
        var symbolicPass = options.Symbolic
            ? new DeltaPass(n, q, fv, qv, floatIntervals.Input, symbolic: true, options.EveryNeuron).Run()
            : intervalPass;

        var tightest = new Interval[naive.Length];
        for (var j = 0; j < tightest.Length; j++)
            tightest[j] = BackSubstitution.Meet(BackSubstitution.Meet(naive[j], intervalPass.Outputs[j]), symbolicPass.Outputs[j]);
        var hidden = new List<Interval[]>(symbolicPass.Hidden.Count);
        for (var k = 0; k < symbolicPass.Hidden.Count; k++)
        {
            var level = new Interval[symbolicPass.Hidden[k].Length];
            for (var i = 0; i < level.Length; i++) level[i] = BackSubstitution.Meet(intervalPass.Hidden[k][i], symbolicPass.Hidden[k][i]);
            hidden.Add(level);
        }
        return new DifferenceBounds(naive, intervalPass.Outputs, symbolicPass.Outputs, tightest, hidden, fv.Bounds, qv.Bounds);
    }

    /// <summary>
    /// The joint relaxation of Δh = f(z) − clamp(y, lo, hi) in terms of Δz = z − y, f = ReLU or identity. A
    /// relaxation in Δz alone (the other variables enter only through their ranges) keeps back-substitution
    /// to two matrices per layer.
    /// </summary>
    internal static LinearRelaxation Joint(bool floatRelu, Interval z, Interval y, Interval dz, double lo, double hi) =>
        PairTerm(floatRelu, z, y, dz, lo).Plus(Saturation(y, lo, hi));

    /// <summary>
    /// clamp(y, lo, hi) = g(y) − relu(y − hi) [+ relu(lo − y) when g = identity], valid for any lo ≤ hi, with g = ReLU
    /// when lo = 0 (ReLU with the zero point) and the identity otherwise; this is the range of what the clamp adds to
    /// Δ beyond the pair term: zero unless y's bounds reach a limit.
    /// </summary>
    internal static Interval Saturation(Interval y, double lo, double hi)
    {
        var saturation = new Interval(Relu(y.Lo - hi), Relu(y.Hi - hi));
        if (lo != 0) saturation += new Interval(-Relu(lo - y.Lo), -Relu(lo - y.Hi));
        return saturation;
    }

    /// <summary>
    /// The pair term f(z) − g(y) as a relaxation in Δz = z − y. For two ReLUs ReluDiff's
    /// [min(0, Δz), max(0, Δz)] holds whatever the phases; where one phase is known a phase-specific form also
    /// holds (e.g. Δz + min(y, 0) when z ≥ 0), and each side takes whichever is tighter over Δz's range: the
    /// phase-specific offsets come from the separate bounds of z and y, which are loose exactly where N and Q
    /// disagree about a phase.
    /// </summary>
    internal static LinearRelaxation PairTerm(bool floatRelu, Interval z, Interval y, Interval dz, double lo)
    {
        var quantRelu = lo == 0;
        if (floatRelu && quantRelu)
        {
            if (z.Hi <= 0 && y.Hi <= 0) return LinearRelaxation.Constant(Interval.Point(0));
            if (z.Lo >= 0 && y.Lo >= 0) return LinearRelaxation.Identity;
            var chord = BetweenZeroAnd(dz);
            LinearRelaxation phase;
            if (z.Hi <= 0) phase = LinearRelaxation.Constant(new Interval(-Relu(y.Hi), 0));
            else if (y.Hi <= 0) phase = LinearRelaxation.Constant(new Interval(0, Relu(z.Hi)));
            // z ≥ 0: relu(z) − relu(y) = Δz + min(y, 0); y ≥ 0: = Δz + relu(−z).
            else if (z.Lo >= 0) phase = LinearRelaxation.Identity.Plus(new Interval(Math.Min(y.Lo, 0), 0));
            else if (y.Lo >= 0) phase = LinearRelaxation.Identity.Plus(new Interval(0, Relu(-z.Lo)));
            else return chord;
            return Tighter(phase, chord, dz);
        }
        if (floatRelu) return LinearRelaxation.Identity.Plus(new Interval(Relu(-z.Hi), Relu(-z.Lo)));   // relu(z) − y = Δz + relu(−z)
        if (quantRelu) return LinearRelaxation.Identity.Plus(new Interval(-Relu(-y.Lo), -Relu(-y.Hi))); // z − relu(y) = Δz − relu(−y)
        return LinearRelaxation.Identity;
    }

    /// <summary>Per side, the relaxation whose bound over dz is tighter (both are valid, so either side may be taken).</summary>
    private static LinearRelaxation Tighter(LinearRelaxation a, LinearRelaxation b, Interval dz)
    {
        Interval ra = a.Over(dz), rb = b.Over(dz);
        var low = ra.Lo >= rb.Lo ? (a.LowSlope, a.LowIntercept) : (b.LowSlope, b.LowIntercept);
        var up = ra.Hi <= rb.Hi ? (a.UpSlope, a.UpIntercept) : (b.UpSlope, b.UpIntercept);
        return new LinearRelaxation(low.Item1, low.Item2, up.Item1, up.Item2);
    }

    /// <summary>Whether <see cref="Joint"/> uses the range of Δz (two ReLUs not both stable in the same phase).</summary>
    internal static bool JointNeedsDeltaRange(bool floatRelu, Interval z, Interval y, double lo) =>
        floatRelu && lo == 0 && !(z.Hi <= 0 && y.Hi <= 0) && !(z.Lo >= 0 && y.Lo >= 0);

    /// <summary>
    /// The pair-term range from the two ranges alone (monotone f, g): a second bound to intersect with.
    /// </summary>
    internal static Interval PairFromRanges(bool floatRelu, Interval z, Interval y, double lo)
    {
        var f = floatRelu ? z.Relu() : z;
        var g = lo == 0 ? y.Relu() : y;
        return f - g;
    }

    /// <summary>[min(0, Δz), max(0, Δz)] over Δz ∈ dz: chords of the two kinked functions (the triangle relaxation).</summary>
    private static LinearRelaxation BetweenZeroAnd(Interval dz)
    {
        double l = dz.Lo, u = dz.Hi;
        if (l >= 0) return new LinearRelaxation(0, 0, 1, 0);
        if (u <= 0) return new LinearRelaxation(1, 0, 0, 0);
        var pad = 1e-12 * (u - l) + 1e-15;
        return new LinearRelaxation(-l / (u - l), l * u / (u - l) - pad, u / (u - l), -u * l / (u - l) + pad);
    }

    private static double Relu(double v) => Math.Max(v, 0);

    internal sealed record PassResult(Interval[] Outputs, IReadOnlyList<Interval[]> Hidden);

    /// <summary>One forward pass of Δ through the layers; symbolic adds back-substitution of Δz to the input.</summary>
    private sealed class DeltaPass
    {
        private readonly FloatNetwork _n;
        private readonly QuantizedNetwork _q;
        private readonly FloatView _fv;
        private readonly QuantizedView _qv;
        private readonly Interval[] _input;
        private readonly bool _symbolic;
        private readonly bool _everyNeuron;
        // Per level k ≥ 1 (index k): W − Ŵ, b − b̂, the error budget of Δz, and the relaxation of Δh in Δz.
        private readonly double[][] _weightGap;
        private readonly double[][] _biasGap;
        private readonly double[][] _error;
        private readonly LinearRelaxation[][] _relaxations;
        private readonly Interval[][] _delta;

        public DeltaPass(FloatNetwork n, QuantizedNetwork q, FloatView fv, QuantizedView qv, Interval[] input, bool symbolic, bool everyNeuron)
        {
            _n = n;
            _q = q;
            _fv = fv;
            _qv = qv;
            _input = input;
            _symbolic = symbolic;
            _everyNeuron = everyNeuron;
            var levels = qv.Levels.Count;
            _weightGap = new double[levels][];
            _biasGap = new double[levels][];
            _error = new double[levels][];
            _relaxations = new LinearRelaxation[levels][];
            _delta = new Interval[levels][];
        }

        private Interval[] FloatOutput(int level) => level == 0 ? _input : _fv.Bounds.Layers[level - 1].Output;

        public PassResult Run()
        {
            var l0 = _qv.Levels[0];
            var d0 = new Interval[_input.Length];
            for (var i = 0; i < d0.Length; i++)
            {
                // x − clamp(x + ρ0, lo0, hi0) over x ∈ box, |ρ0| ≤ r0: the same piecewise-linear shape as a requantization.
                var shift = SymbolicBounds.RequantizeShift(_input[i], 0, false, l0.Radius[i], l0.Lo, l0.Hi);
                var folded = shift + l0.Requantization[i];
                d0[i] = BackSubstitution.Meet(folded, _input[i] - l0.Folded[i]);
            }
            _delta[0] = d0;
            _relaxations[0] = Array.ConvertAll(d0, LinearRelaxation.Constant);

            for (var k = 1; k < _qv.Levels.Count; k++) Layer(k);

            var last = _delta[^1];
            var outputs = new Interval[last.Length];
            for (var j = 0; j < outputs.Length; j++)
            {
                var bias = _q.OutputBias is { } b ? (double)b[j] : 0.0;
                outputs[j] = (last[j] + (-bias)).Widen(1e-12, 1e-15);
            }
            return new PassResult(outputs, _delta);
        }

        private void Layer(int k)
        {
            var layer = _n.Layers[k - 1];
            var step = _fv.Steps[k - 1];
            var ql = _qv.Levels[k];
            var w = step.Weights!;
            var wq = ql.Weights!;
            var m = layer.InputSize;
            var size = layer.OutputSize;
            var h = FloatOutput(k - 1);
            var hq = _qv.Levels[k - 1].Folded;
            var dPrev = _delta[k - 1];
            var z = _fv.Bounds.Layers[k - 1].PreActivation;
            var post = _fv.Bounds.Layers[k - 1].Output;
            var floatRelu = layer.Activation == Activation.Relu;
            var gap = new double[w.Length];
            for (var i = 0; i < gap.Length; i++) gap[i] = w[i] - wq[i];
            var biasGap = new double[size];
            var error = new double[size];
            var delta = new Interval[size];
            var relax = new LinearRelaxation[size];
            _weightGap[k] = gap;
            _biasGap[k] = biasGap;
            _error[k] = error;
            _relaxations[k] = relax;
            _delta[k] = delta;
            var lastLayer = k == _qv.Levels.Count - 1;
            for (var j = 0; j < size; j++)
            {
                biasGap[j] = step.Bias[j] - ql.Bias![j];
                double lo1 = biasGap[j], hi1 = biasGap[j], lo2 = biasGap[j], hi2 = biasGap[j];
                var magnitude = Math.Abs(step.Bias[j]) + Math.Abs(ql.Bias[j]);
                var row = j * m;
                for (var i = 0; i < m; i++)
                {
                    double wi = w[row + i], qi = wq[row + i], gi = gap[row + i];
                    Accumulate(qi, dPrev[i], ref lo1, ref hi1);
                    Accumulate(gi, h[i], ref lo1, ref hi1);
                    Accumulate(wi, dPrev[i], ref lo2, ref hi2);
                    Accumulate(gi, hq[i], ref lo2, ref hi2);
                    magnitude += Math.Abs(wi) * h[i].MaxAbs + Math.Abs(qi) * (hq[i].MaxAbs + dPrev[i].MaxAbs)
                        + Math.Abs(gi) * (h[i].MaxAbs + hq[i].MaxAbs) + Math.Abs(wi) * dPrev[i].MaxAbs;
                }
                // Covers the float evaluator's rounding of z, ours of these sums, and of W − Ŵ.
                error[j] = BackSubstitution.Gamma * magnitude + 1e-15;
                var pad = ql.Radius[j] + error[j];
                var dz = BackSubstitution.Meet(new Interval(lo1 - pad, hi1 + pad), new Interval(lo2 - pad, hi2 + pad));
                dz = BackSubstitution.Meet(dz, z[j] - ql.Y[j]);
                if (_symbolic && (_everyNeuron || lastLayer || JointNeedsDeltaRange(floatRelu, z[j], ql.Y[j], ql.Lo)))
                    dz = BackSubstitution.Meet(dz, Symbolic(k, j));
                var pair = PairTerm(floatRelu, z[j], ql.Y[j], dz, ql.Lo);
                var saturation = Saturation(ql.Y[j], ql.Lo, ql.Hi);
                var pairRange = BackSubstitution.Meet(pair.Over(dz), PairFromRanges(floatRelu, z[j], ql.Y[j], ql.Lo));
                // Intersections with the separate ranges: h − ĥ before and after the requantization stages.
                var unfolded = BackSubstitution.Meet(pairRange + saturation, post[j] - ql.Output[j]);
                delta[j] = BackSubstitution.Meet(unfolded + ql.Requantization[j], post[j] - ql.Folded[j]);
                // Where the separate ranges of h and ĥ bound Δh better than the relaxation does over Δz's range (deep
                // layers, where Δz's range is wide), that side of the relaxation becomes the constant.
                relax[j] = Tighter(pair.Plus(saturation).Plus(ql.Requantization[j]), LinearRelaxation.Constant(delta[j]), dz);
            }
        }

        private static void Accumulate(double c, Interval x, ref double lo, ref double hi)
        {
            if (c >= 0) { lo += c * x.Lo; hi += c * x.Hi; }
            else { lo += c * x.Hi; hi += c * x.Lo; }
        }

        /// <summary>Δz_j of level k back-substituted to the input: two passes (lower, upper).</summary>
        private Interval Symbolic(int k, int j)
        {
            var m = _n.Layers[k - 1].InputSize;
            var a = _weightGap[k].AsSpan(j * m, m);
            var d = _qv.Levels[k].Weights.AsSpan(j * m, m);
            var slack = _qv.Levels[k].Radius[j] + _error[k][j];
            return new Interval(Pass(k - 1, a, d, _biasGap[k][j] - slack, upper: false),
                Pass(k - 1, a, d, _biasGap[k][j] + slack, upper: true));
        }

        /// <summary>
        /// Bound of a·h_t + d·Δh_t + constant: h_t through N's relaxation into z_t, Δh_t through the joint relaxation
        /// into Δz_t, then z_t = W h + b and Δz_t = Ŵ Δh + (W − Ŵ) h + (b − b̂) − ρ, down to the input.
        /// </summary>
        private double Pass(int top, ReadOnlySpan<double> a0, ReadOnlySpan<double> d0, double constant, bool upper)
        {
            var a = a0.ToArray();
            var d = d0.ToArray();
            var sign = upper ? 1.0 : -1.0;
            double k = constant, magnitude = Math.Abs(constant);
            for (var t = top; t >= 1; t--)
            {
                var step = _fv.Steps[t - 1];
                var ql = _qv.Levels[t];
                var n = step.OutputSize;
                var m = step.InputSize;
                var p = new double[n];
                var q = new double[n];
                for (var j = 0; j < n; j++)
                {
                    double term = 0;
                    if (a[j] != 0)
                    {
                        var r = step.Relaxations[j];
                        var up = a[j] >= 0 == upper;
                        p[j] = a[j] * (up ? r.UpSlope : r.LowSlope);
                        term += a[j] * (up ? r.UpIntercept : r.LowIntercept);
                    }
                    if (d[j] != 0)
                    {
                        var r = _relaxations[t][j];
                        var up = d[j] >= 0 == upper;
                        q[j] = d[j] * (up ? r.UpSlope : r.LowSlope);
                        term += d[j] * (up ? r.UpIntercept : r.LowIntercept);
                    }
                    if (p[j] != 0) { term += p[j] * step.Bias[j]; k += sign * Math.Abs(p[j]) * step.Error[j]; }
                    if (q[j] != 0) { term += q[j] * _biasGap[t][j]; k += sign * Math.Abs(q[j]) * (ql.Radius[j] + _error[t][j]); }
                    k += term;
                    magnitude += Math.Abs(term);
                }
                var na = new double[m];
                var nd = new double[m];
                var w = step.Weights!;
                var wq = ql.Weights!;
                for (var j = 0; j < n; j++)
                {
                    var s = p[j] + q[j];
                    if (s != 0) BackSubstitution.Axpy(s, w.AsSpan(j * m, m), na);
                    if (q[j] != 0) BackSubstitution.Axpy(q[j], wq.AsSpan(j * m, m), nd);
                }
                for (var i = 0; i < m; i++) na[i] -= nd[i];
                a = na;
                d = nd;
            }
            var d0Range = _delta[0];
            for (var i = 0; i < a.Length; i++)
            {
                double term = 0;
                if (a[i] != 0) term += a[i] * (a[i] >= 0 == upper ? _input[i].Hi : _input[i].Lo);
                if (d[i] != 0) term += d[i] * (d[i] >= 0 == upper ? d0Range[i].Hi : d0Range[i].Lo);
                k += term;
                magnitude += Math.Abs(term);
            }
            return k + sign * (BackSubstitution.Gamma * magnitude + 1e-12);
        }
    }
}
