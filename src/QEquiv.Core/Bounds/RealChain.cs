using QEquiv.Model;
using QEquiv.Quantization;

namespace QEquiv.Bounds;

/// <summary>
/// One element-wise operator seen in real units (see <see cref="RealChain"/>): out = clamp(in + ρ, Lo, Hi) with
/// |ρ| ≤ Radius, per element, and the units of its output. Every element-wise operator has this form once its tensors
/// are read in real units: Dequantize, Elementwise and Reshape are the identity plus their float32 rounding, Relu and
/// Clamp are clamps, Quantize and Requantize a rounding (radius ½ + widening, times the scale) and a saturation.
/// </summary>
internal sealed record RealOp(double[] Alpha, double[] Beta, double[] Radius, double[] Lo, double[] Hi, bool HasLimits, bool Noisy, Interval[]? Rounded);

/// <summary>
/// Consecutive element-wise operators merged into one noisy clamp, out = clamp(in + ρ, Lo, Hi): noise-only operators
/// add their radius to the next clamp's (clamp is monotone and 1-Lipschitz, so noise before it can be moved into it),
/// and a noise-free clamp right after a clamp narrows its limits (clamp∘clamp is a clamp), as the runtime's
/// Requantize + Clamp(zero point) is one saturating ReLU. A group without limits is noise only (the run's last
/// float32 operators). <see cref="Noisy"/> bounds in + ρ, <see cref="Input"/> and <see cref="Output"/> the group's
/// input and output, all in real units.
/// </summary>
internal sealed record RealGroup(int LastNode, bool HasLimits, double[] Radius, double[] Lo, double[] Hi, Interval[] Input, Interval[] Noisy, Interval[] Output)
{
    public static RealGroup Identity(Interval[] values)
    {
        var n = values.Length;
        return new RealGroup(-2, false, new double[n], Fill(n, double.NegativeInfinity), Fill(n, double.PositiveInfinity), values, values, values);
    }

    private static double[] Fill(int n, double v)
    {
        var a = new double[n];
        Array.Fill(a, v);
        return a;
    }
}

/// <summary>
/// One level of a network: a linear operator (Affine, IntegerLinear; none for level 0) and the run of element-wise
/// operators after it, with the linear map rewritten in real units: pre_R = Weights·(previous level's output)_R + Bias.
/// </summary>
internal sealed class RealLevel
{
    public required int Linear { get; init; }
    public required int[] Run { get; init; }
    /// <summary>Tensor index of the level's output: −1 the input, k the output of node k.</summary>
    public required int Tensor { get; init; }
    public required int InputSize { get; init; }
    public required int Size { get; init; }
    /// <summary>Units of the linear operator's output (level 0: the input): pre_R = PreAlpha·pre + PreBeta.</summary>
    public required double[] PreAlpha { get; init; }
    public required double[] PreBeta { get; init; }
    /// <summary>Units of the level's output tensor (what the next linear operator reads).</summary>
    public required double[] OutAlpha { get; init; }
    public required double[] OutBeta { get; init; }
    public WeightMatrix? Weights { get; init; }
    public double[] Bias { get; init; } = [];
    /// <summary>Rounding allowance of the units' constants folded into the bias (added to the error budget).</summary>
    public double[] BiasError { get; init; } = [];
    public Interval[] Pre { get; set; } = [];
    public RealGroup[] Groups { get; set; } = [];
    public Interval[] Output { get; set; } = [];
    public RealGroup Head => Groups.Length > 0 ? Groups[0] : RealGroup.Identity(Pre);
    public ReadOnlySpan<RealGroup> Tail => Groups.Length > 0 ? Groups.AsSpan(1) : ReadOnlySpan<RealGroup>.Empty;

    /// <summary>The structure, units and linear map (shared, never written) without any bounds.</summary>
    public RealLevel Fresh() => new()
    {
        Linear = Linear, Run = Run, Tensor = Tensor, InputSize = InputSize, Size = Size, PreAlpha = PreAlpha, PreBeta = PreBeta,
        OutAlpha = OutAlpha, OutBeta = OutBeta, Weights = Weights, Bias = Bias, BiasError = BiasError,
    };
}

/// <summary>
/// A network in real units: every tensor v is read as v_R = α·v + β per element (the input as it is, a code tensor as
/// s·(q − z), an int32 accumulator as its dequantized value s_y·M·acc, a normalised tensor back in input units), so
/// that a float network and its quantized twin compute comparable quantities level by level. Each operator supplies
/// its piece through <see cref="IOperatorVisitor{TResult}"/>: its units (<see cref="UnitsRule"/>) and, given its
/// bounds, its noisy clamp (<see cref="NoiseRule"/>). Symbolic bounds back-substitute through one
/// <see cref="ChainStep"/> per level; the differential pass pairs the levels of two chains.
/// </summary>
internal sealed class RealChain
{
    private RealChain(Network network, GraphBounds bounds, IReadOnlyList<RealLevel> levels, IReadOnlyList<ChainStep> steps)
    {
        Network = network;
        Bounds = bounds;
        Levels = levels;
        Steps = steps;
    }

    public Network Network { get; }
    /// <summary>Bounds of every tensor: symbolic ∩ interval.</summary>
    public GraphBounds Bounds { get; }
    public IReadOnlyList<RealLevel> Levels { get; }
    /// <summary>One per level: the linear map in real units and the relaxation of the level's run.</summary>
    public IReadOnlyList<ChainStep> Steps { get; }

    private static bool IsLinear(Operator op) => op is Affine or IntegerLinear;

    // The levels depend only on the (immutable) network: computed once per network, as the verifier bounds many boxes.
    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<Network, List<RealLevel>?[]> Structures = new();

    private static List<RealLevel>? Structure(Network network)
    {
        var cell = Structures.GetValue(network, n => [Segment(n)]);
        return cell[0]?.ConvertAll(l => l.Fresh());
    }

    /// <summary>The levels' structure and units; null when some operator's units degenerate (a zero or infinite scale).</summary>
    public static List<RealLevel>? Segment(Network network)
    {
        var nodes = network.Nodes;
        var levels = new List<RealLevel>();
        var start = 0;
        var run0 = new List<int>();
        while (start < nodes.Count && !IsLinear(nodes[start].Operator)) run0.Add(start++);
        var n0 = network.InputSize;
        var alpha = Ones(n0);
        var beta = new double[n0];
        var (a0, b0) = Through(network, run0, alpha, beta);
        if (a0 is null) return null;
        levels.Add(new RealLevel
        {
            Linear = -1, Run = run0.ToArray(), Tensor = run0.Count > 0 ? run0[^1] : -1, InputSize = n0, Size = n0,
            PreAlpha = alpha, PreBeta = beta, OutAlpha = a0, OutBeta = b0!,
        });
        for (var k = start; k < nodes.Count;)
        {
            var linear = k;
            var run = new List<int>();
            k++;
            while (k < nodes.Count && !IsLinear(nodes[k].Operator)) run.Add(k++);
            var op = nodes[linear].Operator;
            var size = op.OutputSize;
            var preAlpha = new double[size];
            for (var j = 0; j < size; j++)
                preAlpha[j] = op switch
                {
                    // The accumulator in the units of the Requantize that rounds it: v = s_y·M·acc, so that the rounding is
                    // v + s_y·ρ exactly, with the runtime's float32 M (not the ideal s_x·s_w/s_y).
                    IntegerLinear when run.Count > 0 && nodes[run[0]].Operator is Model.Requantize r => (double)r.Output.Scale * r.Multipliers[j],
                    IntegerLinear il => (double)il.Input.Scale * il.WeightScales[j],
                    _ => 1,
                };
            // Choose the offset of the linear output's units so that the level's output is read as its own real value (a
            // float bias added after a DequantizeLinear moves into the linear map instead of shifting the run's kinks).
            var (endAlpha, endBeta) = Through(network, run, preAlpha, new double[size]);
            if (endAlpha is null || endBeta is null) return null;
            var natural = NaturalBeta(network, run, endAlpha);
            var preBeta = new double[size];
            if (natural is not null) for (var j = 0; j < size; j++) preBeta[j] = natural[j] - endBeta[j];
            var (outAlpha, outBeta) = Through(network, run, preAlpha, preBeta);
            if (outAlpha is null) return null;
            var previous = levels[^1];
            var (weights, bias, biasError) = LinearMap(op, previous.OutAlpha, previous.OutBeta, preAlpha, preBeta);
            if (!AllFinite(weights.Values) || !AllFinite(bias)) return null;
            levels.Add(new RealLevel
            {
                Linear = linear, Run = run.ToArray(), Tensor = run.Count > 0 ? run[^1] : linear, InputSize = op.InputSize, Size = size,
                PreAlpha = preAlpha, PreBeta = preBeta, OutAlpha = outAlpha, OutBeta = outBeta!, Weights = weights, Bias = bias, BiasError = biasError,
            });
        }
        return levels;
    }

    /// <summary>The offset that reads the run's last tensor as its real value: 0 for a float tensor, −α·z for codes.</summary>
    private static double[]? NaturalBeta(Network network, List<int> run, double[] alpha)
    {
        for (var r = run.Count - 1; r >= 0; r--)
        {
            switch (network.Nodes[run[r]].Operator)
            {
                case Quantize q: return Array.ConvertAll(alpha, a => -a * q.Output.ZeroPoint);
                case Model.Requantize rq: return Array.ConvertAll(alpha, a => -a * rq.Output.ZeroPoint);
                case Dequantize or Elementwise or FloatRound: return new double[alpha.Length];
            }
        }
        return null;
    }

    private static bool AllFinite(ReadOnlySpan<double> values)
    {
        foreach (var v in values)
            if (!double.IsFinite(v)) return false;
        return true;
    }

    private static double[] Ones(int n)
    {
        var a = new double[n];
        Array.Fill(a, 1.0);
        return a;
    }

    private static (double[]? Alpha, double[]? Beta) Through(Network network, List<int> run, double[] alpha, double[] beta)
    {
        foreach (var k in run)
        {
            (alpha, beta) = network.Nodes[k].Operator.Accept(new UnitsRule(alpha, beta));
            for (var i = 0; i < alpha.Length; i++)
                if (!double.IsFinite(alpha[i]) || alpha[i] == 0 || !double.IsFinite(beta[i])) return (null, null);
        }
        return (alpha, beta);
    }

    /// <summary>
    /// The linear operator in real units: with x_i = (x_R,i − β_i)/α_i and pre_R = α'·pre + β',
    /// Affine gives Ŵ_ji = α'_j·W_ji/α_i, b̂_j = α'_j·(b_j − Σ_i W_ji·β_i/α_i) + β'_j; IntegerLinear the same with
    /// W_ji = w_ji − zw_j and the input zero point: acc_j = Σ_i (w_ji − zw_j)(q_i − zx) + bias_j.
    /// </summary>
    private static (WeightMatrix Weights, double[] Bias, double[] BiasError) LinearMap(Operator op, double[] alpha, double[] beta, double[] preAlpha, double[] preBeta)
    {
        int m = op.InputSize, n = op.OutputSize;
        // An Affine keeps its pattern (a convolution stays sparse); the integer weights are dense.
        double[]? weights = op is Affine ? null : new double[m * n];
        var bias = new double[n];
        var error = new double[n];
        for (var j = 0; j < n; j++)
        {
            double constant, correction = 0, magnitude = 0;
            var a = preAlpha[j];
            if (op is Affine af)
            {
                var row = af.Row(j);
                constant = af.Bias[j];
                for (var t = 0; t < row.Length; t++)
                {
                    var i = row.Columns[t];
                    if (beta[i] != 0)
                    {
                        var v = row.Values[t] * (beta[i] / alpha[i]);
                        correction += v;
                        magnitude += Math.Abs(v);
                    }
                }
            }
            else
            {
                var il = (IntegerLinear)op;
                var row = il.Row(j);
                var zw = il.WeightZeroPoints[j];
                var zx = il.Input.ZeroPoint;
                constant = il.Bias[j];
                for (var i = 0; i < m; i++)
                {
                    double w = row[i] - zw;
                    weights![j * m + i] = a * w / alpha[i];
                    // For codes read as s·(q − zx), β/α = −zx exactly and the correction vanishes.
                    var shift = beta[i] / alpha[i] + zx;
                    if (shift != 0 && w != 0)
                    {
                        var t = w * shift;
                        correction += t;
                        magnitude += Math.Abs(t);
                    }
                }
            }
            bias[j] = a * (constant - correction) + preBeta[j];
            error[j] = BackSubstitution.Gamma * (Math.Abs(a) * (magnitude + Math.Abs(constant)) + Math.Abs(preBeta[j])) * (magnitude == 0 && preBeta[j] == 0 ? 0 : 1);
        }
        var matrix = op is Affine affine
            ? affine.Matrix.Select((j, i, w) => preAlpha[j] * w / alpha[i])
            : WeightMatrix.Dense(n, m, weights!);
        return (matrix, bias, error);
    }

    /// <summary>v_R = α·v + β over intervals, padded for the double rounding of the product and sum.</summary>
    public static Interval[] ToReal(Interval[] v, double[] alpha, double[] beta)
    {
        var r = new Interval[v.Length];
        for (var i = 0; i < r.Length; i++) r[i] = ToReal(v[i], alpha[i], beta[i]);
        return r;
    }

    public static Interval ToReal(Interval v, double alpha, double beta)
    {
        if (alpha == 1 && beta == 0) return v;
        return (alpha * v + beta).Widen(0, 1e-15 * (Math.Abs(alpha) * v.MaxAbs + Math.Abs(beta)) + 1e-300);
    }

    /// <summary>The native bounds of a tensor from real-unit ones: (v_R − β)/α, integers rounded inward for accumulators.</summary>
    public static Interval FromReal(Interval r, double alpha, double beta, bool integer)
    {
        Interval v;
        if (alpha == 1 && beta == 0) v = r;
        else
        {
            double a = (r.Lo - beta) / alpha, b = (r.Hi - beta) / alpha;
            v = new Interval(Math.Min(a, b), Math.Max(a, b)).Widen(1e-12, 1e-300);
        }
        if (!integer) return v;
        return new Interval(Math.Ceiling(v.Lo - 1e-9 * Math.Abs(v.Lo) - 1e-9), Math.Floor(v.Hi + 1e-9 * Math.Abs(v.Hi) + 1e-9));
    }

    /// <summary>
    /// Symbolic bounds of the network (DeepPoly/CROWN back-substitution in real units, intersected with the intervals).
    /// A neuron is back-substituted only when its run's relaxation depends on its bounds (some clamp limit inside its
    /// noisy range), unless <paramref name="everyNeuron"/>, and always at the last level; the first level's bounds are
    /// exact already when nothing comes before it.
    /// </summary>
    public static RealChain? Build(Network network, GraphBounds intervals, bool everyNeuron)
    {
        var levels = Structure(network);
        if (levels is null) return null;
        var nodes = intervals.Nodes.ToArray();
        var input = intervals.Input;
        var steps = new List<ChainStep>(levels.Count);
        Interval[] Tensor(int t) => t < 0 ? input : nodes[t].Output;

        for (var k = 0; k < levels.Count; k++)
        {
            var level = levels[k];
            var last = k == levels.Count - 1;
            ChainStep step;
            Interval[] pre;
            Interval[] preR;
            if (k == 0)
            {
                pre = input;
                preR = input;
                step = new ChainStep(level.Size, level.Size, null, new double[level.Size], new double[level.Size]);
            }
            else
            {
                var previous = levels[k - 1];
                var node = network.Nodes[level.Linear];
                var integer = node.Operator is IntegerLinear;
                var original = intervals.Nodes[level.Linear].Output;
                // Level 0 is never tightened (it is a function of the box alone), so the first linear output keeps its intervals.
                pre = k == 1 ? (Interval[])original.Clone() : IntervalBounds.Node(node, Tensor(previous.Tensor)).Output;
                if (k > 1) for (var j = 0; j < pre.Length; j++) pre[j] = BackSubstitution.Meet(pre[j], original[j]);
                var error = BackSubstitution.ErrorBudget(level.Weights, level.Bias, previous.Output);
                for (var j = 0; j < error.Length; j++) error[j] += level.BiasError[j];
                step = new ChainStep(level.InputSize, level.Size, level.Weights, level.Bias, error);
                preR = ToReal(pre, level.PreAlpha, level.PreBeta);
                var exactAlready = k == 1 && levels[0].Run.Length == 0;
                if (!exactAlready)
                {
                    var open = everyNeuron || last ? null : Open(network, level, preR, pre, Forward(network, level, pre, nodes, intervals));
                    for (var j = 0; j < pre.Length; j++)
                    {
                        if (open is not null && !open[j]) continue;
                        var s = BackSubstitution.Bound(steps, steps.Count - 1, step.Row(j), level.Bias[j], input).Widen(0, error[j]);
                        preR[j] = BackSubstitution.Meet(preR[j], s);
                        pre[j] = BackSubstitution.Meet(pre[j], FromReal(preR[j], level.PreAlpha[j], level.PreBeta[j], integer));
                        if (integer) preR[j] = BackSubstitution.Meet(preR[j], ToReal(pre[j], level.PreAlpha[j], level.PreBeta[j]));
                    }
                }
                nodes[level.Linear] = new NodeBounds(pre);
            }
            var opBounds = Forward(network, level, pre, nodes, intervals);
            foreach (var (index, b) in opBounds) nodes[index] = b;
            level.Pre = preR;
            level.Groups = Groups(network, level, preR, pre, nodes);
            level.Output = level.Groups.Length > 0 ? level.Groups[^1].Output : preR;
            if (level.Groups.Length > 0 && level.Groups[^1].LastNode != level.Tensor)
                level.Output = ToReal(Tensor(level.Tensor), level.OutAlpha, level.OutBeta);
            for (var j = 0; j < level.Size; j++) step.Relaxations[j] = Relaxation(level.Groups, j);
            steps.Add(step);
        }
        return new RealChain(network, new GraphBounds(network, input, nodes), levels, steps);
    }

    /// <summary>Interval bounds of the run's operators from the linear output's bounds, intersected with the first pass'.</summary>
    private static List<(int, NodeBounds)> Forward(Network network, RealLevel level, Interval[] pre, NodeBounds[] nodes, GraphBounds intervals)
    {
        var result = new List<(int, NodeBounds)>(level.Run.Length);
        // The run's nodes see the tightened linear output and earlier levels (nodes), their own fresh bounds in turn.
        var scratch = (NodeBounds?[])nodes.Clone();
        if (level.Linear >= 0) scratch[level.Linear] = new NodeBounds(pre);
        foreach (var k in level.Run)
        {
            var b = IntervalBounds.Node(network, k, intervals.Input, scratch);
            var first = intervals.Nodes[k];
            var output = new Interval[b.Output.Length];
            for (var i = 0; i < output.Length; i++) output[i] = BackSubstitution.Meet(b.Output[i], first.Output[i]);
            // The meet holds the runtime's values only when both do.
            var error = b.InputError is { } e1 && first.InputError is { } e2 ? e1.Zip(e2, Math.Max).ToArray() : null;
            var nb = new NodeBounds(output, b.Rounding, error);
            result.Add((k, nb));
            scratch[k] = nb;
        }
        return result;
    }

    /// <summary>Neurons whose run relaxation depends on their bounds: some clamp limit inside the unclipped noisy range.</summary>
    private static bool[] Open(Network network, RealLevel level, Interval[] preR, Interval[] pre, List<(int, NodeBounds)> forward)
    {
        var scratch = new NodeBounds[network.Nodes.Count];
        foreach (var (k, b) in forward) scratch[k] = b;
        var groups = Groups(network, level, preR, pre, scratch, clipNoisy: false);
        var open = new bool[level.Size];
        foreach (var g in groups)
        {
            if (!g.HasLimits) continue;
            for (var j = 0; j < open.Length; j++)
            {
                var y = g.Noisy[j];
                if (y.Lo < g.Lo[j] && y.Hi > g.Lo[j] || y.Lo < g.Hi[j] && y.Hi > g.Hi[j]) open[j] = true;
            }
        }
        return open;
    }

    /// <summary>The run as merged noisy clamps in real units (see <see cref="RealGroup"/>).</summary>
    public static RealGroup[] Groups(Network network, RealLevel level, Interval[] preR, Interval[] pre, NodeBounds[] nodes, bool clipNoisy = true)
    {
        var groups = new List<RealGroup>();
        var n = level.Size;
        var alpha = level.PreAlpha;
        var beta = level.PreBeta;
        var inR = preR;
        Interval[]? start = null;
        double[]? pending = null;
        for (var r = 0; r < level.Run.Length; r++)
        {
            var k = level.Run[r];
            var node = network.Nodes[k];
            var input = r == 0 ? pre : nodes[level.Run[r - 1]].Output;
            var op = node.Operator.Accept(new NoiseRule(input, nodes[k], alpha, beta));
            var outR = ToReal(nodes[k].Output, op.Alpha, op.Beta);
            if (!op.HasLimits)
            {
                if (op.Noisy)
                {
                    start ??= inR;
                    pending ??= new double[n];
                    for (var j = 0; j < n; j++) pending[j] += op.Radius[j];
                }
            }
            else if (!op.Noisy && groups.Count > 0 && groups[^1].HasLimits && pending is null)
            {
                var g = groups[^1];
                var lo = (double[])g.Lo.Clone();
                var hi = (double[])g.Hi.Clone();
                for (var j = 0; j < n; j++)
                {
                    // clamp(clamp(u, a, b), c, d): the constant c when b < c, d when a > d, else clamp(u, max(a, c), min(b, d)).
                    if (g.Hi[j] < op.Lo[j]) lo[j] = hi[j] = op.Lo[j];
                    else if (g.Lo[j] > op.Hi[j]) lo[j] = hi[j] = op.Hi[j];
                    else { lo[j] = Math.Max(g.Lo[j], op.Lo[j]); hi[j] = Math.Min(g.Hi[j], op.Hi[j]); }
                }
                groups[^1] = g with { LastNode = k, Lo = lo, Hi = hi, Output = outR };
            }
            else
            {
                var radius = (double[])op.Radius.Clone();
                if (pending is not null) for (var j = 0; j < n; j++) radius[j] += pending[j];
                var from = start ?? inR;
                var noisy = new Interval[n];
                for (var j = 0; j < n; j++)
                {
                    noisy[j] = from[j].Widen(0, radius[j]);
                    if (clipNoisy)
                    {
                        noisy[j] = BackSubstitution.Meet(noisy[j], inR[j].Widen(0, op.Radius[j]));
                        if (op.Rounded is { } rounded) noisy[j] = BackSubstitution.Meet(noisy[j], rounded[j]);
                    }
                }
                groups.Add(new RealGroup(k, true, radius, op.Lo, op.Hi, from, noisy, outR));
                start = null;
                pending = null;
            }
            alpha = op.Alpha;
            beta = op.Beta;
            inR = outR;
        }
        if (pending is not null)
        {
            var noisy = new Interval[n];
            for (var j = 0; j < n; j++) noisy[j] = start![j].Widen(0, pending[j]);
            var lo = new double[n];
            var hi = new double[n];
            Array.Fill(lo, double.NegativeInfinity);
            Array.Fill(hi, double.PositiveInfinity);
            groups.Add(new RealGroup(level.Run[^1], false, pending, lo, hi, start!, noisy, inR));
        }
        return groups.ToArray();
    }

    /// <summary>The run's relaxation in the linear output, composed group by group (all slopes non-negative).</summary>
    public static LinearRelaxation Relaxation(RealGroup[] groups, int j)
    {
        var rel = LinearRelaxation.Identity;
        var first = true;
        foreach (var g in groups)
        {
            var r = g.Radius[j];
            LinearRelaxation sigma;
            if (!g.HasLimits) sigma = new LinearRelaxation(1, -r, 1, r);
            else
            {
                var y = g.Noisy[j];
                // A missing lower limit (a clamp from above only) is put below the range, where it never acts.
                var lo = double.IsFinite(g.Lo[j]) ? g.Lo[j] : Math.Min(y.Lo, g.Hi[j]) - 1 - Math.Abs(y.Lo);
                sigma = LinearRelaxation.ClampWithNoise(y, r, lo, g.Hi[j]);
            }
            rel = first ? sigma : Compose(sigma, rel);
            first = false;
        }
        return rel;
    }

    /// <summary>σ∘rel for σ with non-negative slopes: σ ≥ Lσ(rel's lower line) and ≤ Uσ(rel's upper line).</summary>
    private static LinearRelaxation Compose(LinearRelaxation sigma, LinearRelaxation rel)
    {
        var lowI = sigma.LowSlope * rel.LowIntercept + sigma.LowIntercept;
        var upI = sigma.UpSlope * rel.UpIntercept + sigma.UpIntercept;
        var padLow = 1e-15 * (Math.Abs(sigma.LowSlope * rel.LowIntercept) + Math.Abs(sigma.LowIntercept)) + 1e-300;
        var padUp = 1e-15 * (Math.Abs(sigma.UpSlope * rel.UpIntercept) + Math.Abs(sigma.UpIntercept)) + 1e-300;
        return new LinearRelaxation(sigma.LowSlope * rel.LowSlope, lowI - padLow, sigma.UpSlope * rel.UpSlope, upI + padUp);
    }

    /// <summary>
    /// Range of t − G(t) over t ∈ <paramref name="t"/>, G the groups applied in turn (out = clamp(in + ρ, lo, hi)).
    /// Clamp is monotone, so all ρ at +r (−r) give G's largest (smallest) value; each G is piecewise linear with
    /// slopes 0 and 1 and kinks where some group's input meets a limit, so the extremes are at the ends or kinks.
    /// </summary>
    public static Interval Shift(Interval t, ReadOnlySpan<RealGroup> groups, int j)
    {
        if (groups.Length == 0) return Interval.Point(0);
        Span<double> points = stackalloc double[2 + 4 * groups.Length];
        var count = 0;
        points[count++] = t.Lo;
        points[count++] = t.Hi;
        foreach (var s in (ReadOnlySpan<double>)[1.0, -1.0])
        {
            var cumulative = 0.0;
            foreach (var g in groups)
            {
                cumulative += s * g.Radius[j];
                foreach (var limit in (ReadOnlySpan<double>)[g.Lo[j], g.Hi[j]])
                {
                    if (!double.IsFinite(limit)) continue;
                    var u = limit - cumulative;
                    if (u > t.Lo && u < t.Hi) points[count++] = u;
                }
            }
        }
        double min = double.PositiveInfinity, max = double.NegativeInfinity;
        for (var p = 0; p < count; p++)
        {
            var u = points[p];
            min = Math.Min(min, u - Apply(u, groups, j, 1));
            max = Math.Max(max, u - Apply(u, groups, j, -1));
        }
        return new Interval(min, max).Widen(1e-12, 1e-15);
    }

    private static double Apply(double u, ReadOnlySpan<RealGroup> groups, int j, double sign)
    {
        foreach (var g in groups) u = Math.Clamp(u + sign * g.Radius[j], g.Lo[j], g.Hi[j]);
        return u;
    }

    /// <summary>How an element-wise operator maps the units of its input to those of its output.</summary>
    internal sealed class UnitsRule(double[] alpha, double[] beta) : IOperatorVisitor<(double[] Alpha, double[] Beta)>
    {
        private (double[], double[]) Same => (alpha, beta);

        public (double[], double[]) Affine(Affine op) => throw new InvalidOperationException("a linear operator starts a level");
        public (double[], double[]) IntegerLinear(IntegerLinear op) => throw new InvalidOperationException("a linear operator starts a level");

        // y = a·x + b, so x_R = α·(y − b)/a + β.
        public (double[], double[]) Elementwise(Elementwise op)
        {
            var a = new double[alpha.Length];
            var b = new double[alpha.Length];
            for (var i = 0; i < a.Length; i++)
            {
                var (scale, shift) = op.AsAffine(i);
                a[i] = alpha[i] / scale;
                b[i] = beta[i] - a[i] * shift;
            }
            return (a, b);
        }

        public (double[], double[]) Relu(Relu op) => Same;
        public (double[], double[]) Clamp(Clamp op) => Same;
        public (double[], double[]) Reshape(Reshape op) => Same;
        public (double[], double[]) FloatRound(FloatRound op) => Same;

        // code = x/s + z + ρ, so the code's units are α·s (q − z) + β.
        public (double[], double[]) Quantize(Quantize op)
        {
            var s = (double)op.Output.Scale;
            var a = new double[alpha.Length];
            var b = new double[alpha.Length];
            for (var i = 0; i < a.Length; i++)
            {
                a[i] = alpha[i] * s;
                b[i] = beta[i] - a[i] * op.Output.ZeroPoint;
            }
            return (a, b);
        }

        // code = M·acc + z + ρ: α/M per code (s_y exactly when α = s_y·M).
        public (double[], double[]) Requantize(Requantize op)
        {
            var a = new double[alpha.Length];
            var b = new double[alpha.Length];
            for (var i = 0; i < a.Length; i++)
            {
                a[i] = alpha[i] / op.Multipliers[i];
                b[i] = beta[i] - a[i] * op.Output.ZeroPoint;
            }
            return (a, b);
        }

        // y = s·(q − z), so q_R = (α/s)·y + α·z + β.
        public (double[], double[]) Dequantize(Dequantize op)
        {
            var s = (double)op.Input.Scale;
            var a = new double[alpha.Length];
            var b = new double[alpha.Length];
            for (var i = 0; i < a.Length; i++)
            {
                a[i] = alpha[i] / s;
                b[i] = beta[i] + alpha[i] * op.Input.ZeroPoint;
            }
            return (a, b);
        }
    }

    /// <summary>
    /// An element-wise operator as a noisy clamp in real units, from its bounds. The radius also covers the double
    /// rounding of the units' constants (the identity x_R = y_R holds for the stored α, β only up to it).
    /// </summary>
    internal sealed class NoiseRule(Interval[] input, NodeBounds output, double[] alpha, double[] beta) : IOperatorVisitor<RealOp>
    {
        private int N => alpha.Length;

        private RealOp Make(double[] a, double[] b, double[] radius, double[]? lo, double[]? hi, bool noisy, Interval[]? rounded = null)
        {
            var limits = lo is not null;
            lo ??= Fill(double.NegativeInfinity);
            hi ??= Fill(double.PositiveInfinity);
            return new RealOp(a, b, radius, lo, hi, limits, noisy, rounded);
        }

        private double[] Fill(double v)
        {
            var x = new double[N];
            Array.Fill(x, v);
            return x;
        }

        private double UnitsError(int i, double a, double b) =>
            1e-15 * (Math.Abs(alpha[i]) * input[i].MaxAbs + Math.Abs(beta[i]) + Math.Abs(a) * output.Output[i].MaxAbs + Math.Abs(b)) + 1e-300;

        public RealOp Affine(Affine op) => throw new InvalidOperationException("a linear operator starts a level");
        public RealOp IntegerLinear(IntegerLinear op) => throw new InvalidOperationException("a linear operator starts a level");

        public RealOp Elementwise(Elementwise op)
        {
            var (a, b) = new UnitsRule(alpha, beta).Elementwise(op);
            var radius = new double[N];
            for (var i = 0; i < N; i++)
            {
                var (scale, shift) = op.AsAffine(i);
                var exact = scale * input[i] + shift;
                var e = op.Arithmetic == Arithmetic.Float32
                    ? IntervalBounds.Float32Error(input[i].MaxAbs, scale, exact.MaxAbs)
                    : 1e-15 * exact.MaxAbs + 1e-300;
                radius[i] = Math.Abs(a[i]) * e + UnitsError(i, a[i], b[i]);
            }
            return Make(a, b, radius, null, null, noisy: true);
        }

        public RealOp Relu(Relu op)
        {
            var lo = new double[N];
            var hi = new double[N];
            for (var i = 0; i < N; i++)
            {
                // The kink at x = 0 is x_R = β; read in units with α < 0 the ReLU clamps from above.
                if (alpha[i] > 0) { lo[i] = beta[i]; hi[i] = double.PositiveInfinity; }
                else { lo[i] = double.NegativeInfinity; hi[i] = beta[i]; }
            }
            return Make(alpha, beta, new double[N], lo, hi, noisy: false);
        }

        public RealOp Clamp(Clamp op)
        {
            var lo = new double[N];
            var hi = new double[N];
            for (var i = 0; i < N; i++)
            {
                double l = alpha[i] * op.Lower + beta[i], u = alpha[i] * op.Upper + beta[i];
                lo[i] = Math.Min(l, u);
                hi[i] = Math.Max(l, u);
            }
            return Make(alpha, beta, new double[N], lo, hi, noisy: false);
        }

        public RealOp Quantize(Quantize op)
        {
            var (a, b) = new UnitsRule(alpha, beta).Quantize(op);
            return Rounding(a, b, op.Output, output.Rounding!);
        }

        public RealOp Requantize(Requantize op)
        {
            var (a, b) = new UnitsRule(alpha, beta).Requantize(op);
            return Rounding(a, b, op.Output, output.Rounding!);
        }

        /// <summary>code = clamp(v + z + ρ, min, max), |ρ| ≤ ½ + e: in units a·(code − z) + β_in the limits are a·(min − z) + β_in.</summary>
        private RealOp Rounding(double[] a, double[] b, Quantization.QuantParams p, Rounding rounding)
        {
            var radius = new double[N];
            var lo = new double[N];
            var hi = new double[N];
            var rounded = new Interval[N];
            for (var i = 0; i < N; i++)
            {
                radius[i] = Math.Abs(a[i]) * (0.5 + rounding.Widening[i]) * (1 + 1e-12) + UnitsError(i, a[i], b[i]);
                double l = a[i] * (p.Min - p.ZeroPoint) + beta[i], u = a[i] * (p.Max - p.ZeroPoint) + beta[i];
                lo[i] = Math.Min(l, u);
                hi[i] = Math.Max(l, u);
                // The unsaturated rounded value rounded + z in these units: a·rounded + β_in.
                rounded[i] = (a[i] * rounding.Rounded[i] + beta[i]).Widen(1e-12, 1e-300);
            }
            return Make(a, b, radius, lo, hi, noisy: true, rounded);
        }

        public RealOp Dequantize(Dequantize op)
        {
            var (a, b) = new UnitsRule(alpha, beta).Dequantize(op);
            var radius = new double[N];
            for (var i = 0; i < N; i++)
                radius[i] = Math.Abs(a[i]) * IntervalBounds.Float32Error(0, 0, output.Output[i].MaxAbs) + UnitsError(i, a[i], b[i]);
            return Make(a, b, radius, null, null, noisy: true);
        }

        public RealOp Reshape(Reshape op) => Make(alpha, beta, new double[N], null, null, noisy: false);

        /// <summary>The identity plus its rounding: |round(x) − x| ≤ u·|x| + ½·subnormal step over the input's range (native
        /// units, times |α| in real ones), of the saturated rounding where the range reaches the overflow threshold (as the
        /// interval rule), plus the runtime's input error where the bounds carry one (<see cref="NodeBounds.InputError"/>).</summary>
        public RealOp FloatRound(FloatRound op)
        {
            var radius = new double[N];
            for (var i = 0; i < N; i++)
            {
                // With the runtime's input error e: |round(x + e') − x| ≤ RoundingError(|x| + e) + e.
                var e = output.InputError?[i] ?? 0;
                radius[i] = Math.Abs(alpha[i]) * (op.Format.RoundingError(input[i].MaxAbs + e) + e) + UnitsError(i, alpha[i], beta[i]);
            }
            return Make(alpha, beta, radius, null, null, noisy: true);
        }
    }
}
