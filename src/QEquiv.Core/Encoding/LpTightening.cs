using System.Diagnostics;
using Google.OrTools.LinearSolver;
using QEquiv.Bounds;
using QEquiv.Networks;
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
    /// relative-plus-absolute amount so that a slightly sub-optimal LP answer cannot cut off real values.
    /// </summary>
    private const double Padding = 1e-6;

    public static (FloatNetworkBounds Bounds, LpTighteningStats Stats) TightenFloat(FloatNetwork n, Box box,
        FloatNetworkBounds bounds, TimeSpan budget, CancellationToken cancellation = default)
    {
        var watch = Stopwatch.StartNew();
        var layers = bounds.Layers.ToList();
        int before = CountUnstable(n, layers), lps = 0;
        var exhausted = false;
        // Layer 0 is affine in the box: interval bounds are already exact there.
        for (var k = 1; k < n.Layers.Count && !exhausted; k++)
        {
            if (n.Layers[k].Activation != Activation.Relu) break; // only ReLU phases matter for the MILP
            var pre = (Interval[])layers[k].PreActivation.Clone();
            var unstable = Enumerable.Range(0, pre.Length).Where(o => pre[o].Lo < 0 && pre[o].Hi > 0).ToList();
            if (unstable.Count == 0) continue;
            var prefix = new FloatNetwork(n.Source, n.InputShape, [.. n.Layers.Take(k), n.Layers[k].WithActivation(Activation.None)]);
            using var solver = Solver.CreateSolver("GLOP") ?? throw new NotSupportedException("OR-Tools GLOP is not available");
            var model = new ModelBuilder(solver);
            var encoder = new NetworkEncoder(model, new FloatNetworkBounds(bounds.Input, layers), EmptyQuantized);
            var z = encoder.Float(prefix, encoder.Inputs(box));
            foreach (var o in unstable)
            {
                if (watch.Elapsed > budget || cancellation.IsCancellationRequested) { exhausted = true; break; }
                var lo = Optimise(model, z[o], maximize: false);
                var hi = lo is null ? null : Optimise(model, z[o], maximize: true);
                lps += 2;
                if (lo is { } l && hi is { } h)
                    pre[o] = new Interval(Math.Max(pre[o].Lo, l - Padding * (1 + Math.Abs(l))), Math.Min(pre[o].Hi, h + Padding * (1 + Math.Abs(h))));
            }
            layers[k] = new FloatLayerBounds(pre, Array.ConvertAll(pre, p => p.Relu()));
            // Later layers: re-propagate intervals from the tighter outputs, keeping whatever was tighter before.
            for (var m = k + 1; m < n.Layers.Count; m++)
            {
                var fresh = BoundPropagation.Affine(n.Layers[m], layers[m - 1].Output);
                var old = layers[m].PreActivation;
                var merged = fresh.Select((f, i) => new Interval(Math.Max(f.Lo, old[i].Lo), Math.Min(f.Hi, old[i].Hi))).ToArray();
                layers[m] = new FloatLayerBounds(merged, n.Layers[m].Activation == Activation.Relu ? Array.ConvertAll(merged, p => p.Relu()) : merged);
            }
        }
        return (new FloatNetworkBounds(bounds.Input, layers),
            new LpTighteningStats(lps, before, CountUnstable(n, layers), watch.Elapsed.TotalSeconds, exhausted));
    }

    /// <summary>
    /// Upper bounds of s·(N_j − Q_j) from the LP relaxation of the whole encoding (both networks, Δ constraints
    /// included), for the given (output, sign) pairs; null where the budget ran out or the LP failed. One model,
    /// re-solved per objective, so the encoding is built once.
    /// </summary>
    public static double?[] DifferenceUpperBounds(FloatNetwork n, QuantizedNetwork q, Box box, FloatNetworkBounds fb, QuantizedNetworkBounds qb,
        DifferenceBounds? difference, IReadOnlyList<(int Output, int Sign)> pairs, TimeSpan budget, CancellationToken cancellation = default,
        CodeRange? codes = null)
    {
        if (codes is not null && pairs.Select(p => p.Output).Distinct().Count() > 1)
            throw new ArgumentException("a code range restricts one output; give pairs of that output only", nameof(codes));
        var watch = Stopwatch.StartNew();
        var result = new double?[pairs.Count];
        using var solver = Solver.CreateSolver("GLOP") ?? throw new NotSupportedException("OR-Tools GLOP is not available");
        var model = new ModelBuilder(solver);
        var encoder = new NetworkEncoder(model, fb, qb);
        var x = encoder.Inputs(box);
        var nOut = encoder.Float(n, x);
        var qOut = encoder.Quantized(q, x);
        if (difference is not null) EquivalenceMilp.AddDifferenceConstraints(model, encoder, nOut, qOut, difference);
        if (codes is not null && pairs.Count > 0) EquivalenceMilp.RestrictCodes(model, encoder, pairs[0].Output, codes);
        // An interrupted LP ends NOT optimal and gives no bound, which is safe; the engine needs its workers back fast.
        using var stop = cancellation.Register(() => solver.InterruptSolve());
        for (var k = 0; k < pairs.Count; k++)
        {
            if (watch.Elapsed > budget || cancellation.IsCancellationRequested) break;
            var (j, s) = pairs[k];
            // A time-limited LP ends NOT optimal and gives no bound, which is safe.
            solver.SetTimeLimit(Math.Max(1, (long)(budget - watch.Elapsed).TotalMilliseconds));
            // After an interrupt even an "optimal" status is not trusted: the LP optimum is only a bound when it is the optimum.
            if (Optimise(model, nOut[j].Minus(qOut[j]).Scaled(s), maximize: true) is { } v && !cancellation.IsCancellationRequested)
                result[k] = v + Padding * (1 + Math.Abs(v));
        }
        return result;
    }

    private static readonly QuantizedNetworkBounds EmptyQuantized = new(new QuantizedStageBounds(null, null, [], [], [], []), [], []);

    private static double? Optimise(ModelBuilder model, LinearExpression objective, bool maximize)
    {
        model.SetObjective(objective, maximize);
        var status = model.Solver.Solve();
        return status == Solver.ResultStatus.OPTIMAL ? model.Solver.Objective().Value() : null;
    }

    private static int CountUnstable(FloatNetwork n, IReadOnlyList<FloatLayerBounds> layers) =>
        Enumerable.Range(0, n.Layers.Count).Where(k => n.Layers[k].Activation == Activation.Relu)
            .Sum(k => layers[k].PreActivation.Count(p => p.Lo < 0 && p.Hi > 0));
}
