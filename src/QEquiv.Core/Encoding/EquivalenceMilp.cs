using Google.OrTools.LinearSolver;
using QEquiv.Bounds;
using QEquiv.Evaluation;
using QEquiv.Model;
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

    /// <summary>
    /// CBC's claimed optimum can lie up to ~10⁻⁵ below the true one on these models (measured: 7·10⁻⁶ on a random pair with
    /// element-wise requantization stages, where SCIP and HiGHS agree to 10⁻¹⁵): its margin is wider by this much, so that
    /// an "infeasible" from CBC still proves the sub-problem.
    /// </summary>
    public const double CbcSlack = 5e-5;

    /// <summary>The solver part of the margin for a backend (<see cref="SolverSlack"/>, wider for CBC).</summary>
    public static double SlackFor(MilpBackend backend) => backend == MilpBackend.Cbc ? SolverSlack + CbcSlack : SolverSlack;

    private readonly Solver _solver;
    private readonly Variable[] _inputs;
    private readonly LinearExpression[]? _inputCodes;

    private EquivalenceMilp(Solver solver, MilpBackend backend, Variable[] inputs, LinearExpression[]? inputCodes, Box box,
        GraphBounds referenceBounds, GraphBounds otherBounds, EncodingStatistics statistics, double safetyMargin, Interval objectiveBounds)
    {
        _solver = solver;
        _inputs = inputs;
        _inputCodes = inputCodes;
        Backend = backend;
        Box = box;
        ReferenceBounds = referenceBounds;
        OtherBounds = otherBounds;
        Statistics = statistics;
        SafetyMargin = safetyMargin;
        ObjectiveBounds = objectiveBounds;
    }

    public MilpBackend Backend { get; }
    public Box Box { get; }
    public GraphBounds ReferenceBounds { get; }
    public GraphBounds OtherBounds { get; }
    public EncodingStatistics Statistics { get; }
    /// <summary>The largest margin subtracted from δ in the constraint (0 in maximisation mode).</summary>
    public double SafetyMargin { get; }
    /// <summary>Interval-arithmetic bounds of the objective before any solving.</summary>
    public Interval ObjectiveBounds { get; }
    /// <summary>Per output, how far the runtimes' difference can be from the modelled one (float32 roundings after the last
    /// rounding bands): a best bound of the modelled s·(R_j − O_j) bounds the runtimes' once this is added.</summary>
    public IReadOnlyList<double> OutputNoise { get; private init; } = [];

    /// <summary>Solves; <see cref="MilpResult.Solution"/> is the candidate input x (re-execute it with <see cref="Candidates"/>).</summary>
    public MilpResult Solve(MilpOptions? options = null, CancellationToken cancellation = default)
    {
        var r = MilpRunner.Solve(_solver, Backend, _inputs, options, cancellation);
        LastInputCodes = r.HasSolution && _inputCodes is not null ? Array.ConvertAll(_inputCodes, Evaluate) : null;
        return r;
    }

    /// <summary>
    /// The other network's input codes in the last solution (null when it does not quantize its input first). The model
    /// may put x exactly on a rounding boundary and pick the code that suits it; <c>Candidates.Reexecute</c> moves x into
    /// that code's cell so that the runtime computes the same codes.
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

    /// <param name="sign">+1 asks about R_j − O_j (reference minus other), −1 about O_j − R_j.</param>
    /// <param name="delta">null: maximisation mode, no δ constraint.</param>
    /// <param name="difference">Differential bounds: their bounds of both networks give the big-M constants and their
    /// Δ bounds enter as valid rows (aligned hidden tensors and the outputs: they hold for every point of the model).</param>
    /// <param name="codes">Restricts the other network's output code j to this range (a stage-2 output piece); null: any code.</param>
    public static EquivalenceMilp ForOutput(Network reference, Network other, Box box, int output, int sign, double? delta,
        MilpBackend backend = MilpBackends.Default, GraphBounds? referenceBounds = null, GraphBounds? otherBounds = null,
        GraphDifference? difference = null, CodeRange? codes = null, string? scipParameters = null)
    {
        if (output < 0 || output >= reference.OutputSize) throw new ArgumentOutOfRangeException(nameof(output));
        return Build(reference, other, box, [(output, CheckSign(sign))], delta, backend, referenceBounds, otherBounds, difference, codes, scipParameters);
    }

    /// <summary>The whole property in one model: ∃x∈B: OR over all outputs j and signs s of s·d_j ≥ δ (or max error when δ is null).</summary>
    public static EquivalenceMilp Monolithic(Network reference, Network other, Box box, double? delta,
        MilpBackend backend = MilpBackends.Default, GraphBounds? referenceBounds = null, GraphBounds? otherBounds = null,
        GraphDifference? difference = null)
    {
        var pairs = new List<(int, int)>();
        for (var j = 0; j < reference.OutputSize; j++) { pairs.Add((j, 1)); pairs.Add((j, -1)); }
        return Build(reference, other, box, pairs, delta, backend, referenceBounds, otherBounds, difference);
    }

    /// <summary>Interval bound of s·(R_j − O_j) from separate network bounds (loose, but sound).</summary>
    public static Interval DifferenceBounds(GraphBounds referenceBounds, GraphBounds otherBounds, int output, int sign)
    {
        var d = referenceBounds.Outputs[output] - otherBounds.Outputs[output];
        return sign > 0 ? d : -d;
    }

    /// <summary>
    /// Margin added to every upper bound of s·(R_j − O_j) (subtracted from δ in the MILP constraint) before it is compared
    /// with δ — the one place where the model's real arithmetic is reconciled with the runtimes': solver slack, plus, for
    /// each network bounded in real arithmetic (a float network's Affine operators), its float32 evaluation error over the
    /// box in any summation order (<see cref="Float32Error.OverBox"/>). A quantized network's float32 roundings are in its
    /// bounds and its encoding already. A bound below δ with this margin proves the sub-problem for float networks in real
    /// arithmetic and in float32 alike.
    /// </summary>
    /// <param name="referenceBounds">Bounds of R over the sub-problem's box (any sound ones; tighter ones give a smaller margin).</param>
    public static double MarginFor(GraphBounds referenceBounds, GraphBounds otherBounds, int output) =>
        SolverSlack + Float32Error.OverBox(referenceBounds)[output] + Float32Error.OverBox(otherBounds)[output];

    private static int CheckSign(int sign) =>
        sign is 1 or -1 ? sign : throw new ArgumentOutOfRangeException(nameof(sign), sign, "sign must be +1 or −1");

    internal const string NoMultiAggregation = "presolving/donotmultaggr = TRUE\n";

    private static EquivalenceMilp Build(Network reference, Network other, Box box, IReadOnlyList<(int Output, int Sign)> pairs,
        double? delta, MilpBackend backend, GraphBounds? rb, GraphBounds? ob, GraphDifference? difference, CodeRange? codes = null, string? scipParameters = null)
    {
        if (reference.InputSize != other.InputSize || reference.OutputSize != other.OutputSize)
            throw new ArgumentException($"network shapes differ: {reference.InputSize}→{reference.OutputSize} and {other.InputSize}→{other.OutputSize}");
        if (box.Dimension != reference.InputSize)
            throw new ArgumentException($"box has {box.Dimension} dimensions, the networks take {reference.InputSize} inputs");
        if (delta is { } dv && !(dv > 0 && double.IsFinite(dv)))
            throw new ArgumentOutOfRangeException(nameof(delta), dv, "δ must be positive and finite");
        rb ??= difference?.Reference ?? IntervalBounds.Of(reference, box);
        ob ??= difference?.Other ?? IntervalBounds.Of(other, box);

        // SCIP 10 crashed the process (segmentation fault after "cannot change bounds of multi-aggregated variable" in the
        // varbound handler's propagation) on most MILPs of ACAS Xu against its float16-activation twin, and never with
        // multi-aggregation off; it is switched off where a network has such roundings (their noise-only lanes end in many
        // equality-defined variables).
        if (reference.Operators.Concat(other.Operators).Any(op => op is FloatRound)) scipParameters += NoMultiAggregation;
        var solver = MilpBackends.Create(backend, scipParameters);
        try
        {
            var model = new ModelBuilder(solver);
            var encoder = new NetworkEncoder(model);
            var x = encoder.Inputs(box);
            var r = encoder.Encode(reference, rb, x, "r");
            var o = encoder.Encode(other, ob, x, "o");

            if (difference is not null) AddDifferenceConstraints(model, r, o, difference);
            if (codes is not null) RestrictCodes(model, o, pairs[0].Output, codes);
            var diff = new LinearExpression[pairs.Count];
            var bounds = new Interval[pairs.Count];
            var margins = new double[pairs.Count];
            for (var k = 0; k < pairs.Count; k++)
            {
                var (j, s) = pairs[k];
                diff[k] = r.Outputs[j].Minus(o.Outputs[j]).Scaled(s);
                // The model's difference is the runtimes' within ± the float32 roundings after the last bands (its noise).
                var noise = r.OutputNoise[j] + o.OutputNoise[j];
                bounds[k] = (difference?.For(j, s) is { } d ? BackSubstitution.Meet(d, DifferenceBounds(rb, ob, j, s)) : DifferenceBounds(rb, ob, j, s)).Widen(0, noise);
                margins[k] = delta is null ? 0 : MarginFor(rb, ob, j) + noise + SlackFor(backend) - SolverSlack;
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
            var outputNoise = Enumerable.Range(0, reference.OutputSize).Select(j => r.OutputNoise[j] + o.OutputNoise[j]).ToArray();
            return new EquivalenceMilp(solver, backend, x, o.InputCodes ?? r.InputCodes, box, rb, ob, stats, margins.Max(), objectiveBounds)
            {
                OutputNoise = outputNoise,
            };
        }
        catch
        {
            solver.Dispose();
            throw;
        }
    }

    /// <summary>The other network's output code j within <paramref name="codes"/>: the one constraint that makes a stage-2 piece.</summary>
    internal static void RestrictCodes(ModelBuilder model, EncodedNetwork other, int output, CodeRange codes) =>
        model.Range((other.OutputCodes ?? throw new ArgumentException($"{other.Network.Source} has no output codes to restrict"))[output].Scaled(1),
            codes.Lo, codes.Hi);

    /// <summary>
    /// Valid inequalities from differential bounds: they cut the relaxation where the two networks, bounded separately,
    /// look independent, which is what makes the equivalence MILPs small. One row per aligned hidden tensor element
    /// whose Δ bounds are finite, and one per output.
    /// </summary>
    internal static void AddDifferenceConstraints(ModelBuilder model, EncodedNetwork reference, EncodedNetwork other, GraphDifference difference)
    {
        // Level 0 (the input against the other's input codes) is implied by the input rounding bands already, and would
        // add a row per input (784 on MNIST) to every LP and MILP.
        foreach (var aligned in difference.Hidden.Where(a => a.Reference >= 0 && a.Other >= 0))
        {
            var h = reference.Tensor(aligned.Reference);
            var hq = other.Tensor(aligned.Other);
            var (nh, nq) = (reference.Noise(aligned.Reference), other.Noise(aligned.Other));
            for (var i = 0; i < h.Length; i++)
            {
                // Δ bounds the runtimes' values; the modelled ones are within their noise of them.
                var b = aligned.Delta[i].Widen(0, nh[i] + Math.Abs(aligned.Scale[i]) * nq[i]);
                if (!double.IsFinite(b.Lo) || !double.IsFinite(b.Hi) || h[i].IsConstant && hq[i].IsConstant) continue;
                model.Range(h[i].Minus(hq[i].Scaled(aligned.Scale[i]).AddConstant(aligned.Offset[i])), b.Lo, b.Hi);
            }
        }
        for (var j = 0; j < reference.Outputs.Length; j++)
        {
            var b = difference.Tightest[j].Widen(0, reference.OutputNoise[j] + other.OutputNoise[j]);
            if (double.IsFinite(b.Lo) && double.IsFinite(b.Hi)) model.Range(reference.Outputs[j].Minus(other.Outputs[j]), b.Lo, b.Hi);
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
