using QEquiv.Model;
using QEquiv.Regions;

namespace QEquiv.Bounds;

public static partial class DifferentialBounds
{
    /// <summary>
    /// Differential bounds of R_j − O_j for any two networks over a box. Both are read level by level in real units
    /// (<see cref="RealChain"/>: a linear operator and the element-wise run after it; level 0 the run before the first
    /// linear operator); where the levels correspond (same count and sizes) Δ = R − O is propagated as a quantity of its
    /// own, Δz = Ŵ Δh + (W − Ŵ) h + (b − b̂) − noise, through ReluDiff's pair terms, saturation terms and the shift of
    /// the rest of each run, as intervals and back-substituted to the input. Otherwise each network is bounded on its own
    /// and <see cref="GraphDifference.Notice"/> says so. O's float32 roundings, its final dequantization included, are in
    /// the bounds.
    /// </summary>
    public static GraphDifference Of(Network reference, Network other, Box box, DifferentialOptions? options = null)
    {
        options ??= new DifferentialOptions();
        if (reference.InputSize != other.InputSize || reference.OutputSize != other.OutputSize)
            throw new ArgumentException($"network shapes differ: {reference.InputSize}→{reference.OutputSize} and {other.InputSize}→{other.OutputSize}");
        if (box.Dimension != reference.InputSize)
            throw new ArgumentException($"box has {box.Dimension} dimensions, the networks take {reference.InputSize} inputs");

        var ri = IntervalBounds.Of(reference, box);
        var oi = IntervalBounds.Of(other, box);
        var naive = new Interval[reference.OutputSize];
        for (var j = 0; j < naive.Length; j++) naive[j] = ri.Outputs[j] - oi.Outputs[j];
        var rc = RealChain.Build(reference, ri, options.EveryNeuron);
        var oc = RealChain.Build(other, oi, options.EveryNeuron);
        var rb = rc?.Bounds ?? ri;
        var ob = oc?.Bounds ?? oi;
        var separate = new Interval[naive.Length];
        for (var j = 0; j < separate.Length; j++) separate[j] = BackSubstitution.Meet(naive[j], rb.Outputs[j] - ob.Outputs[j]);

        var notice = rc is null || oc is null ? "a network's scales degenerate" : Mismatch(rc, oc);
        if (notice is not null)
            return new GraphDifference(naive, separate, separate, separate, [], rb, ob,
                $"differential bounds off: {notice}; each network bounded on its own");

        var intervalPass = new GraphDeltaPass(rc!, oc!, symbolic: false, options.EveryNeuron).Run();
        var symbolicPass = options.Symbolic ? new GraphDeltaPass(rc!, oc!, symbolic: true, options.EveryNeuron).Run() : intervalPass;
        var tightest = new Interval[naive.Length];
        for (var j = 0; j < tightest.Length; j++)
            tightest[j] = BackSubstitution.Meet(BackSubstitution.Meet(separate[j], intervalPass.Outputs[j]), symbolicPass.Outputs[j]);

        var hidden = new List<AlignedDifference>();
        for (var k = 0; k + 1 < rc!.Levels.Count; k++)
        {
            var r = rc.Levels[k];
            var o = oc!.Levels[k];
            var n = r.Size;
            var scale = new double[n];
            var offset = new double[n];
            var delta = new Interval[n];
            var otherBounds = ob.Tensor(o.Tensor);
            for (var i = 0; i < n; i++)
            {
                var d = BackSubstitution.Meet(intervalPass.Hidden[k][i], symbolicPass.Hidden[k][i]);
                double a = r.OutAlpha[i], b = r.OutBeta[i];
                if (a == 1 && b == 0)
                {
                    scale[i] = o.OutAlpha[i];
                    offset[i] = o.OutBeta[i];
                    delta[i] = d;
                    continue;
                }
                // ref = (ref_R − β_R)/α_R: divide Δ_R by α_R and pad for the rounding of the rewritten constants.
                scale[i] = o.OutAlpha[i] / a;
                offset[i] = (o.OutBeta[i] - b) / a;
                var q = new Interval(d.Lo / a, d.Hi / a);
                if (a < 0) q = new Interval(q.Hi, q.Lo);
                delta[i] = q.Widen(1e-12, 1e-12 * (Math.Abs(scale[i]) * otherBounds[i].MaxAbs + Math.Abs(offset[i])) + 1e-300);
            }
            hidden.Add(new AlignedDifference(r.Tensor, o.Tensor, scale, offset, delta));
        }
        return new GraphDifference(naive, intervalPass.Outputs, symbolicPass.Outputs, tightest, hidden, rb, ob)
        {
            Sensitivity = options.Symbolic ? symbolicPass.Sensitivity : null,
        };
    }

    /// <summary>Why two chains cannot be paired level by level, or null when they can.</summary>
    private static string? Mismatch(RealChain r, RealChain o)
    {
        if (r.Levels.Count != o.Levels.Count)
            return $"{r.Levels.Count - 1} linear levels against {o.Levels.Count - 1}";
        for (var k = 0; k < r.Levels.Count; k++)
            if (r.Levels[k].Size != o.Levels[k].Size || r.Levels[k].InputSize != o.Levels[k].InputSize)
                return $"level {k} has {r.Levels[k].InputSize}→{r.Levels[k].Size} against {o.Levels[k].InputSize}→{o.Levels[k].Size}";
        var last = r.Levels.Count - 1;
        for (var j = 0; j < r.Levels[last].Size; j++)
            if (r.Levels[last].OutAlpha[j] != o.Levels[last].OutAlpha[j])
                return $"output {j} is read in different units";
        return null;
    }

    /// <summary>One forward pass of Δ through the aligned levels; symbolic adds back-substitution of Δz to the input.</summary>
    private sealed class GraphDeltaPass
    {
        private readonly RealChain _r;
        private readonly RealChain _o;
        private readonly Interval[] _input;
        private readonly bool _symbolic;
        private readonly bool _everyNeuron;
        // Per level k ≥ 1: W and Ŵ on one pattern, W − Ŵ, b − b̂, the slack of Δz (both heads' noise and the error budget),
        // Δh's relaxation in Δz.
        private readonly WeightMatrix[] _weights;
        private readonly WeightMatrix[] _otherWeights;
        private readonly WeightMatrix[] _weightGap;
        private readonly double[][] _biasGap;
        private readonly double[][] _slack;
        private readonly LinearRelaxation[][] _relaxations;
        private readonly Interval[][] _delta;
        // Per output j, [2j] the lower and [2j + 1] the upper bound's share from each input's width (symbolic pass only).
        private readonly double[][] _sensitivity;

        public GraphDeltaPass(RealChain r, RealChain o, bool symbolic, bool everyNeuron)
        {
            _r = r;
            _o = o;
            _input = r.Bounds.Input;
            _symbolic = symbolic;
            _everyNeuron = everyNeuron;
            var levels = r.Levels.Count;
            _weights = new WeightMatrix[levels];
            _otherWeights = new WeightMatrix[levels];
            _weightGap = new WeightMatrix[levels];
            _biasGap = new double[levels][];
            _slack = new double[levels][];
            _relaxations = new LinearRelaxation[levels][];
            _delta = new Interval[levels][];
            _sensitivity = new double[symbolic ? 2 * r.Levels[^1].Size : 0][];
        }

        public PassResult Run()
        {
            // Level 0: both runs act on the same input x, so Δ0 = (x − O0(x)) − (x − R0(x)), each a shift of x.
            var r0 = _r.Levels[0];
            var o0 = _o.Levels[0];
            var d0 = new Interval[_input.Length];
            for (var i = 0; i < d0.Length; i++)
            {
                var shift = RealChain.Shift(_input[i], o0.Groups, i) - RealChain.Shift(_input[i], r0.Groups, i);
                d0[i] = BackSubstitution.Meet(shift, r0.Output[i] - o0.Output[i]);
            }
            _delta[0] = d0;
            _relaxations[0] = Array.ConvertAll(d0, LinearRelaxation.Constant);

            for (var k = 1; k < _r.Levels.Count; k++) Level(k);

            var rl = _r.Levels[^1];
            var ol = _o.Levels[^1];
            var last = _delta[^1];
            var outputs = new Interval[last.Length];
            for (var j = 0; j < outputs.Length; j++)
            {
                // Both outputs in the same units α: R − O = (Δ_R − β_R + β_O)/α.
                var d = last[j] + (ol.OutBeta[j] - rl.OutBeta[j]);
                var a = rl.OutAlpha[j];
                if (a != 1)
                {
                    d = new Interval(d.Lo / a, d.Hi / a);
                    if (a < 0) d = new Interval(d.Hi, d.Lo);
                }
                outputs[j] = d.Widen(1e-12, 1e-15);
            }
            return new PassResult(outputs, _delta) { Sensitivity = _sensitivity };
        }

        private void Level(int k)
        {
            var rl = _r.Levels[k];
            var ol = _o.Levels[k];
            var (w, wq) = WeightMatrix.OnCommonPattern(rl.Weights!, ol.Weights!);
            var size = rl.Size;
            var h = _r.Levels[k - 1].Output;
            var hq = _o.Levels[k - 1].Output;
            var dPrev = _delta[k - 1];
            var rh = rl.Head;
            var oh = ol.Head;
            var rTail = rl.Tail;
            var oTail = ol.Tail;
            var gap = w.Minus(wq);
            var biasGap = new double[size];
            var slack = new double[size];
            var delta = new Interval[size];
            var relax = new LinearRelaxation[size];
            _weights[k] = w;
            _otherWeights[k] = wq;
            _weightGap[k] = gap;
            _biasGap[k] = biasGap;
            _slack[k] = slack;
            _relaxations[k] = relax;
            _delta[k] = delta;
            var lastLevel = k == _r.Levels.Count - 1;
            for (var j = 0; j < size; j++)
            {
                biasGap[j] = rl.Bias[j] - ol.Bias[j];
                double lo1 = biasGap[j], hi1 = biasGap[j], lo2 = biasGap[j], hi2 = biasGap[j];
                var magnitude = Math.Abs(rl.Bias[j]) + Math.Abs(ol.Bias[j]);
                var rw = w.Row(j);
                var rq = wq.Row(j);
                var rg = gap.Row(j);
                for (var t = 0; t < rw.Length; t++)
                {
                    var i = rw.Columns[t];
                    double wi = rw.Values[t], qi = rq.Values[t], gi = rg.Values[t];
                    Accumulate(qi, dPrev[i], ref lo1, ref hi1);
                    Accumulate(gi, h[i], ref lo1, ref hi1);
                    Accumulate(wi, dPrev[i], ref lo2, ref hi2);
                    Accumulate(gi, hq[i], ref lo2, ref hi2);
                    magnitude += Math.Abs(wi) * h[i].MaxAbs + Math.Abs(qi) * (hq[i].MaxAbs + dPrev[i].MaxAbs)
                        + Math.Abs(gi) * (h[i].MaxAbs + hq[i].MaxAbs) + Math.Abs(wi) * dPrev[i].MaxAbs;
                }
                // Covers both evaluations' rounding of the linear maps, ours of these sums and of W − Ŵ, and the rounding
                // of constants folded into either bias.
                var err = BackSubstitution.Gamma * magnitude + 1e-15 + rl.BiasError[j] + ol.BiasError[j];
                slack[j] = rh.Radius[j] + oh.Radius[j] + err;
                var dz = BackSubstitution.Meet(new Interval(lo1 - slack[j], hi1 + slack[j]), new Interval(lo2 - slack[j], hi2 + slack[j]));
                Interval z = rh.Noisy[j], y = oh.Noisy[j];
                dz = BackSubstitution.Meet(dz, z - y);

                // Pair the two heads around a common kink c: both ReLUs when their lower limits coincide.
                var refRelu = double.IsFinite(rh.Lo[j]);
                var c = refRelu ? rh.Lo[j] : 0;
                var otherRelu = double.IsFinite(oh.Lo[j]) && oh.Lo[j] == c;
                var otherLo = otherRelu ? 0 : double.NegativeInfinity;
                Interval zc = z + (-c), yc = y + (-c);
                if (_symbolic && (_everyNeuron || lastLevel || JointNeedsDeltaRange(refRelu, zc, yc, otherLo)))
                    dz = BackSubstitution.Meet(dz, Symbolic(k, j, lastLevel ? j : -1));
                var pair = PairTerm(refRelu, zc, yc, dz, otherLo);
                var saturation = HeadSaturation(oh, y, j, otherRelu) - HeadSaturation(rh, z, j, refRelu);
                var pairRange = BackSubstitution.Meet(pair.Over(dz), PairFromRanges(refRelu, zc, yc, otherLo));
                // Intersections with the separate ranges: the heads' outputs, then the levels' outputs.
                var unfolded = BackSubstitution.Meet((pairRange + saturation).Widen(1e-12, 0), rh.Output[j] - oh.Output[j]);
                var shift = RealChain.Shift(oh.Output[j], oTail, j) - RealChain.Shift(rh.Output[j], rTail, j);
                delta[j] = BackSubstitution.Meet(unfolded + shift, rl.Output[j] - ol.Output[j]);
                relax[j] = Tighter(pair.Plus(saturation.Widen(1e-12, 0)).Plus(shift), LinearRelaxation.Constant(delta[j]), dz);
            }
        }

        /// <summary>
        /// What clamp(y, lo, hi) takes away from its pair-term form g(y) (g = ReLU at lo, or the identity): relu(y − hi),
        /// and, for the identity form, −relu(lo − y); as a range over y. Zero unless y's range reaches a limit.
        /// </summary>
        private static Interval HeadSaturation(RealGroup g, Interval y, int j, bool relu)
        {
            var s = Interval.Point(0);
            if (double.IsFinite(g.Hi[j])) s += new Interval(Relu(y.Lo - g.Hi[j]), Relu(y.Hi - g.Hi[j]));
            if (!relu && double.IsFinite(g.Lo[j])) s += new Interval(-Relu(g.Lo[j] - y.Lo), -Relu(g.Lo[j] - y.Hi));
            return s;
        }

        private static void Accumulate(double c, Interval x, ref double lo, ref double hi)
        {
            if (c >= 0) { lo += c * x.Lo; hi += c * x.Hi; }
            else { lo += c * x.Hi; hi += c * x.Lo; }
        }

        /// <summary>Δz_j of level k back-substituted to the input: two passes (lower, upper); for output ≥ 0 each pass also
        /// records how much of its bound each input's width contributes.</summary>
        private Interval Symbolic(int k, int j, int output)
        {
            var m = _r.Levels[k].InputSize;
            var a = new double[m];
            var d = new double[m];
            _weightGap[k].Row(j).AddScaledTo(a, 1);
            _otherWeights[k].Row(j).AddScaledTo(d, 1);
            var slack = _slack[k][j];
            double[]? low = null, up = null;
            if (output >= 0)
            {
                low = _sensitivity[2 * output] = new double[_input.Length];
                up = _sensitivity[2 * output + 1] = new double[_input.Length];
            }
            return new Interval(Pass(k - 1, a, d, _biasGap[k][j] - slack, upper: false, low),
                Pass(k - 1, a, d, _biasGap[k][j] + slack, upper: true, up));
        }

        /// <summary>
        /// Bound of a·h_t + d·Δh_t + constant: h_t through R's relaxation into z_t, Δh_t through the joint relaxation
        /// into Δz_t, then z_t = W h + b and Δz_t = Ŵ Δh + (W − Ŵ) h + (b − b̂) ± slack, down to R's level 0 and the input.
        /// </summary>
        private double Pass(int top, ReadOnlySpan<double> a0, ReadOnlySpan<double> d0, double constant, bool upper, double[]? sensitivity = null)
        {
            var a = a0.ToArray();
            var d = d0.ToArray();
            var sign = upper ? 1.0 : -1.0;
            double k = constant, magnitude = Math.Abs(constant);
            for (var t = top; t >= 1; t--)
            {
                var step = _r.Steps[t];
                var n = step.OutputSize;
                var m = step.InputSize;
                var p = new double[n];
                var q = new double[n];
                var relax = _relaxations[t];
                var biasGap = _biasGap[t];
                var slack = _slack[t];
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
                        var r = relax[j];
                        var up = d[j] >= 0 == upper;
                        q[j] = d[j] * (up ? r.UpSlope : r.LowSlope);
                        term += d[j] * (up ? r.UpIntercept : r.LowIntercept);
                    }
                    if (p[j] != 0) { term += p[j] * step.Bias[j]; k += sign * Math.Abs(p[j]) * step.Error[j]; }
                    if (q[j] != 0) { term += q[j] * biasGap[j]; k += sign * Math.Abs(q[j]) * slack[j]; }
                    k += term;
                    magnitude += Math.Abs(term);
                }
                var na = new double[m];
                var nd = new double[m];
                var w = _weights[t];
                var wq = _otherWeights[t];
                for (var j = 0; j < n; j++)
                {
                    var s = p[j] + q[j];
                    if (s != 0) w.Row(j).AddScaledTo(na, s);
                    if (q[j] != 0) wq.Row(j).AddScaledTo(nd, q[j]);
                }
                for (var i = 0; i < m; i++) na[i] -= nd[i];
                a = na;
                d = nd;
            }
            // R's level 0 (the identity for a float network) to the input; Δ0 by its range.
            var step0 = _r.Steps[0];
            var d0Range = _delta[0];
            for (var i = 0; i < a.Length; i++)
            {
                double term = 0;
                if (a[i] != 0)
                {
                    var r = step0.Relaxations[i];
                    var up = a[i] >= 0 == upper;
                    var c = a[i] * (up ? r.UpSlope : r.LowSlope);
                    term += a[i] * (up ? r.UpIntercept : r.LowIntercept);
                    if (c != 0) term += c * (c >= 0 == upper ? _input[i].Hi : _input[i].Lo);
                    if (sensitivity is not null) sensitivity[i] += Math.Abs(c) * _input[i].Width;
                }
                if (d[i] != 0) term += d[i] * (d[i] >= 0 == upper ? d0Range[i].Hi : d0Range[i].Lo);
                if (sensitivity is not null && d[i] != 0) sensitivity[i] += Math.Abs(d[i]) * d0Range[i].Width;
                k += term;
                magnitude += Math.Abs(term);
            }
            return k + sign * (BackSubstitution.Gamma * magnitude + 1e-12);
        }
    }
}
