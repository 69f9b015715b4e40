using System.Diagnostics;
using Google.OrTools.LinearSolver;
using QEquiv.Bounds;
using QEquiv.Model;
using QEquiv.Regions;
using QEquiv.Quantization;

namespace QEquiv.Encoding;

/// <summary>What LP tightening achieved, for reports.</summary>
public sealed record LpTighteningStats(int LinearPrograms, int UnstableBefore, int UnstableAfter, double Seconds, bool BudgetExhausted);

/// <summary>
/// Tightens the pre-activation bounds of the float network's unstable neurons by linear programming over the
/// LP relaxation of the encoding (binaries and integer codes relaxed to continuous). The relaxation contains every
/// behaviour of the exact model, so its optimum bounds the neuron soundly; this is the one place an LP solver
/// (GLOP) is used, and only for bounds: it never decides a verdict on the exact encoding.
/// Layer by layer, because each layer's tighter bounds make the next layer's relaxation tighter.
/// </summary>
public static class LpTightening
{
    /// <summary>
    /// GLOP stops at primal/dual tolerances around 1e-7; an optimum reported for a bound is padded by this
    /// relative-plus-absolute amount so that a slightly sub-optimal LP answer cannot cut off real values. It was 1e-6 until
    /// a sampled ACAS Xu box (2 % of property 3) showed a tightened ReLU bound of the plain network cutting off real values
    /// by about 1e-6: GLOP's tolerances act on its scaled rows, not on the objective. Ten times that is a stopgap, not a
    /// proof; a certified bound needs the dual solution turned into a safe bound (Neumaier–Shcherbina).
    /// </summary>
    private const double Padding = 1e-5;

    /// <summary>
    /// Tightens the inputs of <paramref name="network"/>'s unstable ReLUs, node by node: each LP encodes the network up
    /// to the ReLU with the bounds learnt so far, and later nodes' intervals are re-propagated from the tighter ones
    /// (kept where they were tighter before). The first ReLU is skipped when only one linear operator precedes it: its
    /// input is an affine map of the box, whose interval is already exact.
    /// </summary>
    public static (GraphBounds Bounds, LpTighteningStats Stats) TightenRelus(Network network, Box box, GraphBounds bounds,
        TimeSpan budget, CancellationToken cancellation = default)
    {
        var watch = Stopwatch.StartNew();
        var nodes = bounds.Nodes.ToArray();
        var relus = Enumerable.Range(0, network.Nodes.Count).Where(k => network.Nodes[k].Operator is Relu).ToArray();
        int before = CountUnstable(network, bounds.Input, nodes), lps = 0;
        var exhausted = false;
        foreach (var k in relus)
        {
            if (exhausted) break;
            if (network.Nodes.Take(k).Count(n => n.Operator is Affine or IntegerLinear) <= 1) continue;
            var pre = (Interval[])(k == 0 ? bounds.Input : nodes[k - 1].Output).Clone();
            var unstable = Enumerable.Range(0, pre.Length).Where(o => pre[o].Lo < 0 && pre[o].Hi > 0).ToList();
            if (unstable.Count == 0) continue;
            using var solver = Solver.CreateSolver("GLOP") ?? throw new NotSupportedException("OR-Tools GLOP is not available");
            var model = new ModelBuilder(solver);
            var encoder = new NetworkEncoder(model);
            var current = new GraphBounds(network, bounds.Input, nodes);
            var encoded = encoder.Encode(network, current, encoder.Inputs(box), "n", nodes: k);
            // The encoded value is the modelled one; the network's lies within its noise (a float32 or float16 rounding).
            var (z, noise) = (encoded.Outputs, encoded.OutputNoise);
            foreach (var o in unstable)
            {
                if (watch.Elapsed > budget || cancellation.IsCancellationRequested) { exhausted = true; break; }
                var lo = Optimise(model, z[o], maximize: false);
                var hi = lo is null ? null : Optimise(model, z[o], maximize: true);
                lps += 2;
                if (lo is { } l && hi is { } h)
                    pre[o] = new Interval(Math.Max(pre[o].Lo, l - Padding * (1 + Math.Abs(l)) - noise[o]), Math.Min(pre[o].Hi, h + Padding * (1 + Math.Abs(h)) + noise[o]));
            }
            nodes[k - 1] = nodes[k - 1] with { Output = pre };
            // Later nodes: re-propagate intervals from the tighter ones, keeping whatever was tighter before.
            for (var m = k; m < nodes.Length; m++)
            {
                var fresh = IntervalBounds.Node(network, m, bounds.Input, nodes);
                nodes[m] = Meet(fresh, nodes[m]);
            }
        }
        return (new GraphBounds(network, bounds.Input, nodes),
            new LpTighteningStats(lps, before, CountUnstable(network, bounds.Input, nodes), watch.Elapsed.TotalSeconds, exhausted));
    }

    /// <summary>The tighter of two sound bounds of one node, element by element; the rounding record follows the output.</summary>
    private static NodeBounds Meet(NodeBounds a, NodeBounds b)
    {
        var output = new Interval[a.Output.Length];
        for (var i = 0; i < output.Length; i++) output[i] = BackSubstitution.Meet(a.Output[i], b.Output[i]);
        // A rounding's bounds hold the runtime's values only when both do.
        var error = a.InputError is { } ea && b.InputError is { } eb ? ea.Zip(eb, Math.Max).ToArray() : null;
        if (a.Rounding is not { } ra || b.Rounding is not { } rb) return new NodeBounds(output, a.Rounding ?? b.Rounding, error);
        var pre = new Interval[ra.PreRounding.Length];
        var e = new double[pre.Length];
        var rounded = new Interval[pre.Length];
        for (var i = 0; i < pre.Length; i++)
        {
            pre[i] = BackSubstitution.Meet(ra.PreRounding[i], rb.PreRounding[i]);
            e[i] = Math.Max(ra.Widening[i], rb.Widening[i]);
            rounded[i] = BackSubstitution.Meet(ra.Rounded[i], rb.Rounded[i]);
        }
        return new NodeBounds(output, new Rounding(pre, e, rounded));
    }

    /// <summary>
    /// Upper bounds of s·(R_j − O_j) from the LP relaxation of the whole encoding (both networks, Δ rows included),
    /// for the given (output, sign) pairs; null where the budget ran out or the LP failed. One model, re-solved per
    /// objective, so the encoding is built once.
    /// </summary>
    public static double?[] DifferenceUpperBounds(Network reference, Network other, Box box, GraphBounds referenceBounds, GraphBounds otherBounds,
        GraphDifference? difference, IReadOnlyList<(int Output, int Sign)> pairs, TimeSpan budget, CancellationToken cancellation = default,
        CodeRange? codes = null)
    {
        if (codes is not null && pairs.Select(p => p.Output).Distinct().Count() > 1)
            throw new ArgumentException("a code range restricts one output; give pairs of that output only", nameof(codes));
        var watch = Stopwatch.StartNew();
        var result = new double?[pairs.Count];
        using var solver = Solver.CreateSolver("GLOP") ?? throw new NotSupportedException("OR-Tools GLOP is not available");
        var model = new ModelBuilder(solver);
        var encoder = new NetworkEncoder(model);
        var x = encoder.Inputs(box);
        var r = encoder.Encode(reference, referenceBounds, x, "r");
        var o = encoder.Encode(other, otherBounds, x, "o");
        if (difference is not null) EquivalenceMilp.AddDifferenceConstraints(model, r, o, difference);
        if (codes is not null && pairs.Count > 0) EquivalenceMilp.RestrictCodes(model, o, pairs[0].Output, codes);
        // An interrupted LP ends NOT optimal and gives no bound, which is safe; the engine needs its workers back fast.
        using var stop = cancellation.Register(() => solver.InterruptSolve());
        for (var k = 0; k < pairs.Count; k++)
        {
            if (watch.Elapsed > budget || cancellation.IsCancellationRequested) break;
            var (j, s) = pairs[k];
            // A time-limited LP ends NOT optimal and gives no bound, which is safe.
            solver.SetTimeLimit(Math.Max(1, (long)(budget - watch.Elapsed).TotalMilliseconds));
            // After an interrupt even an "optimal" status is not trusted: the LP optimum is only a bound when it is the optimum.
            if (Optimise(model, r.Outputs[j].Minus(o.Outputs[j]).Scaled(s), maximize: true) is { } v && !cancellation.IsCancellationRequested)
                result[k] = v + Padding * (1 + Math.Abs(v)) + r.OutputNoise[j] + o.OutputNoise[j];
        }
        return result;
    }

    private static double? Optimise(ModelBuilder model, LinearExpression objective, bool maximize)
    {
        model.SetObjective(objective, maximize);
        var status = model.Solver.Solve();
        return status == Solver.ResultStatus.OPTIMAL ? model.Solver.Objective().Value() : null;
    }

    private static int CountUnstable(Network network, Interval[] input, IReadOnlyList<NodeBounds> nodes) =>
        Enumerable.Range(0, network.Nodes.Count).Where(k => network.Nodes[k].Operator is Relu)
            .Sum(k => (k == 0 ? input : nodes[k - 1].Output).Count(p => p.Lo < 0 && p.Hi > 0));
}
