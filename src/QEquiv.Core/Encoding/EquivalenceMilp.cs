using Google.OrTools.LinearSolver;
using QEquiv.Bounds;
using QEquiv.Evaluation;
using QEquiv.Networks;
using QEquiv.Regions;
using QEquiv.Solvers;
using QEquiv.Quantization;

namespace QEquiv.Encoding;

/// <summary>Size of a built encoding, for logs and scheduling heuristics.</summary>
public sealed record EncodingStatistics(int Continuous, int Integers, int Binaries, int Constraints, int UnstableRelus, int ClampGadgets);

/// <summary>
/// One MILP over a box B encoding N, Q and a question about their difference d_j = N_j − Q_j:
/// <list type="bullet">
/// <item><see cref="ForOutput"/> with δ: ∃x∈B: s·d_j(x) ≥ δ − margin_j, maximising s·d_j (a disjunction-free sub-problem);</item>
/// <item><see cref="ForOutput"/> without δ: max over B of s·d_j (incumbent = witnessed error, best bound = certified bound);</item>
/// <item><see cref="Monolithic"/>: the whole property, OR over (j, s) by one binary per pair, maximising the chosen s·d_j.</item>
/// </list>
/// The objective is always the modelled s·d_j, so Objective/BestBound read directly as error values.
/// Infeasible with δ means: for every x∈B the runtime's s·(N_j − Q_j) &lt; δ (see <see cref="SafetyMargin"/>).
/// </summary>
public sealed class EquivalenceMilp : IDisposable
{
    /// <summary>
    /// Absolute part of the safety margin: covers the solvers' primal feasibility and integrality tolerances
    /// (default 1e-6/1e-9 scale) acting on the difference row. The other parts are the float32 error of the
    /// runtime's dequantization (<see cref="BoundPropagation.OutputRoundingError"/>) and of N's float32 evaluation
    /// (<see cref="Float32Error.OverBox"/>), because the model computes both in real arithmetic but the runtimes do not
    /// (<see cref="MarginFor"/>).
    /// </summary>
    public const double SolverSlack = 1e-6;

    private readonly Solver _solver;
    private readonly Variable[] _inputs;
    private readonly LinearExpression[] _inputCodes;

    private EquivalenceMilp(Solver solver, MilpBackend backend, Variable[] inputs, LinearExpression[] inputCodes, Box box,
        FloatNetworkBounds floatBounds, QuantizedNetworkBounds quantBounds, EncodingStatistics statistics,
        double safetyMargin, Interval objectiveBounds)
    {
        _solver = solver;
        _inputs = inputs;
        _inputCodes = inputCodes;
        Backend = backend;
        Box = box;
        FloatBounds = floatBounds;
        QuantizedBounds = quantBounds;
        Statistics = statistics;
        SafetyMargin = safetyMargin;
        ObjectiveBounds = objectiveBounds;
    }

    public MilpBackend Backend { get; }
    public Box Box { get; }
    public FloatNetworkBounds FloatBounds { get; }
    public QuantizedNetworkBounds QuantizedBounds { get; }
    public EncodingStatistics Statistics { get; }
    /// <summary>The largest margin subtracted from δ in the constraint (0 in maximisation mode).</summary>
    public double SafetyMargin { get; }
    /// <summary>Interval-arithmetic bounds of the objective before any solving.</summary>
    public Interval ObjectiveBounds { get; }

    /// <summary>Solves; <see cref="MilpResult.Solution"/> is the candidate input x (re-execute it with <see cref="Candidates"/>).</summary>
    public MilpResult Solve(MilpOptions? options = null, CancellationToken cancellation = default)
    {
        var r = MilpRunner.Solve(_solver, Backend, _inputs, options, cancellation);
        LastInputCodes = r.HasSolution ? Array.ConvertAll(_inputCodes, Evaluate) : null;
        return r;
    }

    /// <summary>
    /// The input codes of Q in the last solution. The model may put x exactly on a rounding boundary and pick
    /// the code that suits it; <see cref="Candidates.Reexecute(FloatNetwork, QuantizedNetwork, ReadOnlySpan{double}, Box?, int[]?, QEquiv.Quantization.QuantParams?)"/>
    /// moves x into that code's cell so that the runtime computes the same codes.
    /// </summary>
    public int[]? LastInputCodes { get; private set; }

    private static int Evaluate(LinearExpression e)
    {
        var v = e.Constant;
        foreach (var (variable, c) in e.Terms) v += c * variable.SolutionValue();
        return (int)Math.Round(v);
    }

    /// <summary>Interrupts a running <see cref="Solve"/> from another thread, where the backend supports it.</summary>
    public bool Interrupt() => _solver.InterruptSolve();

    public string ExportLp() => _solver.ExportModelAsLpFormat(false);

    public void Dispose() => _solver.Dispose();

    /// <param name="sign">+1 asks about N_j − Q_j, −1 about Q_j − N_j.</param>
    /// <param name="delta">null: maximisation mode, no δ constraint.</param>
    /// <param name="difference">Differential bounds: their per-layer bounds of N and Q give the big-M constants and their
    /// Δ bounds enter as valid constraints h_k − ĥ_k ∈ Δh_k and N_j − Q_j ∈ Δ_j (they hold for every point of the model).</param>
    /// <param name="codes">Restricts Q_j's output code to this range (a stage-2 output piece); null: any code.</param>
    public static EquivalenceMilp ForOutput(FloatNetwork n, QuantizedNetwork q, Box box, int output, int sign, double? delta,
        MilpBackend backend = MilpBackends.Default, FloatNetworkBounds? floatBounds = null, QuantizedNetworkBounds? quantBounds = null,
        DifferenceBounds? difference = null, CodeRange? codes = null, string? scipParameters = null)
    {
        if (output < 0 || output >= n.OutputSize) throw new ArgumentOutOfRangeException(nameof(output));
        return Build(n, q, box, [(output, CheckSign(sign))], delta, backend, floatBounds, quantBounds, difference, codes, scipParameters);
    }

    /// <summary>The whole property in one model: ∃x∈B: OR over all outputs j and signs s of s·d_j ≥ δ (or max error when δ is null).</summary>
    public static EquivalenceMilp Monolithic(FloatNetwork n, QuantizedNetwork q, Box box, double? delta,
        MilpBackend backend = MilpBackends.Default, FloatNetworkBounds? floatBounds = null, QuantizedNetworkBounds? quantBounds = null,
        DifferenceBounds? difference = null)
    {
        var pairs = new List<(int, int)>();
        for (var j = 0; j < n.OutputSize; j++) { pairs.Add((j, 1)); pairs.Add((j, -1)); }
        return Build(n, q, box, pairs, delta, backend, floatBounds, quantBounds, difference);
    }

    /// <summary>Interval bound of s·(N_j − Q_j) from separate network bounds (loose, but sound).</summary>
    public static Interval DifferenceBounds(FloatNetworkBounds fb, QuantizedNetworkBounds qb, int output, int sign)
    {
        var d = fb.Outputs[output] - qb.Outputs[output];
        return sign > 0 ? d : -d;
    }

    /// <summary>
    /// Margin added to every upper bound of s·(N_j − Q_j) (subtracted from δ in the MILP constraint) before it is compared
    /// with δ — the one place where the model's real arithmetic is reconciled with the runtimes': solver slack, plus the
    /// runtime's float32 dequantization of Q's output, plus N's float32 evaluation error over the box (any summation
    /// order, <see cref="Float32Error.OverBox"/>). A bound below δ with this margin proves the sub-problem for N in real
    /// arithmetic and for N in float32 alike.
    /// </summary>
    /// <param name="fb">Bounds of N over the sub-problem's box (any sound ones; tighter ones give a smaller margin).</param>
    public static double MarginFor(FloatNetwork n, FloatNetworkBounds fb, QuantizedNetwork q, QuantizedNetworkBounds qb, int output)
    {
        var p = q.OutputQuantization;
        var product = (double)p.Scale * (qb.OutputCodes[output] + (-p.ZeroPoint));
        var value = q.OutputBias is { } b ? product + b[output] : product;
        return SolverSlack + BoundPropagation.OutputRoundingError(product.MaxAbs, value.MaxAbs) + Float32Error.OverBox(n, fb)[output];
    }

    private static int CheckSign(int sign) =>
        sign is 1 or -1 ? sign : throw new ArgumentOutOfRangeException(nameof(sign), sign, "sign must be +1 or −1");

    private static EquivalenceMilp Build(FloatNetwork n, QuantizedNetwork q, Box box, IReadOnlyList<(int Output, int Sign)> pairs,
        double? delta, MilpBackend backend, FloatNetworkBounds? fb, QuantizedNetworkBounds? qb, DifferenceBounds? difference, CodeRange? codes = null, string? scipParameters = null)
    {
        if (n.InputSize != q.InputSize || n.OutputSize != q.OutputSize)
            throw new ArgumentException($"network shapes differ: N {n.InputSize}→{n.OutputSize}, Q {q.InputSize}→{q.OutputSize}");
        if (delta is { } dv && !(dv > 0 && double.IsFinite(dv)))
            throw new ArgumentOutOfRangeException(nameof(delta), dv, "δ must be positive and finite");
        fb ??= difference?.Float ?? BoundPropagation.Float(n, box);
        qb ??= difference?.Quantized ?? BoundPropagation.Quantized(q, box);

        var solver = MilpBackends.Create(backend, scipParameters);
        try
        {
            var model = new ModelBuilder(solver);
            var encoder = new NetworkEncoder(model, fb, qb);
            var x = encoder.Inputs(box);
            var nOut = encoder.Float(n, x);
            var qOut = encoder.Quantized(q, x);

            if (difference is not null) AddDifferenceConstraints(model, encoder, nOut, qOut, difference);
            if (codes is not null) RestrictCodes(model, encoder, pairs[0].Output, codes);
            var diff = new LinearExpression[pairs.Count];
            var bounds = new Interval[pairs.Count];
            var margins = new double[pairs.Count];
            for (var k = 0; k < pairs.Count; k++)
            {
                var (j, s) = pairs[k];
                diff[k] = nOut[j].Minus(qOut[j]).Scaled(s);
                bounds[k] = DifferenceBounds(fb, qb, j, s);
                margins[k] = delta is null ? 0 : MarginFor(n, fb, q, qb, j);
            }

            Interval objectiveBounds;
            if (pairs.Count == 1)
            {
                objectiveBounds = bounds[0];
                if (delta is { } d) model.AtLeast(diff[0], d - margins[0]);
                model.SetObjective(diff[0], maximize: true);
            }
            else
            {
                objectiveBounds = Disjunction(model, diff, bounds, margins, delta);
            }
            var stats = new EncodingStatistics(model.Continuous, model.Integers, model.Binaries, model.Constraints,
                encoder.UnstableRelus, encoder.ClampGadgets);
            return new EquivalenceMilp(solver, backend, x, encoder.InputCodes, box, fb, qb, stats, margins.Max(), objectiveBounds);
        }
        catch
        {
            solver.Dispose();
            throw;
        }
    }

    /// <summary>Q_j's output code within <paramref name="codes"/>: the one constraint that makes a stage-2 piece.</summary>
    internal static void RestrictCodes(ModelBuilder model, NetworkEncoder encoder, int output, CodeRange codes) =>
        model.Range(encoder.OutputCodes[output].Scaled(1), codes.Lo, codes.Hi);

    /// <summary>
    /// Valid inequalities from differential bounds: they cut the relaxation where N and Q, bounded separately,
    /// look independent, which is what makes the equivalence MILPs small. Hidden levels are used only when the
    /// networks' layers correspond one to one (the bounds are then per matching neuron).
    /// </summary>
    internal static void AddDifferenceConstraints(ModelBuilder model, NetworkEncoder encoder, LinearExpression[] nOut, LinearExpression[] qOut,
        DifferenceBounds difference)
    {
        var levels = Math.Min(encoder.FloatLevels.Count, encoder.QuantizedLevels.Count) - 1; // the last level is the output
        if (encoder.FloatLevels.Count == encoder.QuantizedLevels.Count && difference.Hidden.Count == encoder.FloatLevels.Count + 1)
            for (var k = 0; k < levels; k++)
            {
                var h = encoder.FloatLevels[k];
                var hq = encoder.QuantizedLevels[k];
                var bounds = difference.Hidden[k + 1];
                for (var i = 0; i < h.Length; i++)
                    if (double.IsFinite(bounds[i].Lo) && double.IsFinite(bounds[i].Hi) && !(h[i].IsConstant && hq[i].IsConstant))
                        model.Range(h[i].Minus(hq[i]), bounds[i].Lo, bounds[i].Hi);
            }
        for (var j = 0; j < nOut.Length; j++)
        {
            var b = difference.Tightest[j];
            if (double.IsFinite(b.Lo) && double.IsFinite(b.Hi)) model.Range(nOut[j].Minus(qOut[j]), b.Lo, b.Hi);
        }
    }

    /// <summary>
    /// OR over pairs: one binary c_k per pair that can still reach δ (pairs whose interval bound already
    /// excludes δ get none), Σc = 1, the chosen pair must reach δ, and t ≤ chosen s·d_j is maximised.
    /// </summary>
    private static Interval Disjunction(ModelBuilder model, LinearExpression[] diff, Interval[] bounds, double[] margins, double? delta)
    {
        var candidates = Enumerable.Range(0, diff.Length)
            .Where(k => delta is not { } d || bounds[k].Hi >= d - margins[k]).ToArray();
        var one = new LinearExpression();
        if (candidates.Length == 0)
        {
            // No pair can reach δ by the bounds: emit an empty Σc = 1 row so every backend reports infeasible.
            model.Equal(one, 1);
            model.SetObjective(LinearExpression.Const(0), maximize: true);
            return new Interval(double.NegativeInfinity, double.NegativeInfinity);
        }
        var top = candidates.Max(k => bounds[k].Hi);
        var bottom = candidates.Min(k => bounds[k].Lo);
        var t = model.Num(bottom, top, "t");
        foreach (var k in candidates)
        {
            var c = model.Bool($"or{k}");
            one.AddTerm(c, 1);
            var lo = bounds[k].Lo;
            // c = 0 relaxes t ≤ s·d + (top − lo): always true since s·d ≥ lo and t ≤ top.
            model.AtMost(LinearExpression.Of(t).AddScaled(diff[k], -1).AddTerm(c, top - lo), top - lo);
            if (delta is { } d)
            {
                var target = d - margins[k];
                // s·d ≥ lo + (target − lo)·c: the pair's own bound when off, the target when chosen.
                if (target > lo) model.AtLeast(diff[k].Scaled(1).AddTerm(c, -(target - lo)), lo);
            }
        }
        model.Equal(one, 1);
        model.SetObjective(LinearExpression.Of(t), maximize: true);
        return new Interval(bottom, top);
    }
}
