using System.Diagnostics;
using QEquiv.Falsification;
using QEquiv.Networks;
using QEquiv.Regions;

namespace QEquiv.Tests.Legacy;

// transition: the falsifier on the layered views as it was before it moved onto Network (commit e1de770), kept only
// so that FalsifierThroughputTests can measure old against new in one run; delete with the layered views.
/// <summary>
/// Cheap counterexample search run before any proof: the box centre, its corners, seeded random
/// points, projected gradient ascent of ±(N_j − Q_j) (Q's gradient straight through its roundings; off with
/// <see cref="FalsifierOptions.GradientSteps"/> = 0), then a greedy coordinate-wise ascent from the best point.
/// Gradient ascent moves all coordinates at once and also visits interior points, where an input code
/// rounded the unfavourable way adds to the error; on the MNIST boxes it reaches witnesses the
/// coordinate ascent needs 10⁴–10⁵ moves for, or does not find at all. The coordinate ascent
/// matters on MNIST boxes, where random points concentrate near the centre and the largest errors sit
/// at corners chosen coordinate by coordinate. Each pass tries coordinates in order of a first-order gain
/// estimate; converged ascents restart from perturbed best points while budget remains. Moves are
/// evaluated incrementally (<see cref="LegacyIncrementalPair"/>). Every candidate is a float32 vector inside the box and
/// every reported witness is exactly re-executed.
/// </summary>
internal static class LegacyFalsifier
{
    public static FalsificationResult Search(FloatNetwork network, QuantizedNetwork quantized, Box box, double delta, FalsifierOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(quantized);
        ArgumentNullException.ThrowIfNull(box);
        options ??= new FalsifierOptions();
        if (!double.IsFinite(delta) || delta <= 0)
            throw new ArgumentOutOfRangeException(nameof(delta), delta, "delta must be finite and > 0");
        if (box.Dimension != network.InputSize)
            throw new ArgumentException($"box has {box.Dimension} inputs, the networks take {network.InputSize}");

        var run = new Run(network, quantized, delta, options);
        var n = box.Dimension;
        var loF = new float[n];
        var hiF = new float[n];
        for (var i = 0; i < n; i++)
            if (!Float32Points.TryRound(box.Lo[i], box.Lo[i], box.Hi[i], out loF[i])
                || !Float32Points.TryRound(box.Hi[i], box.Lo[i], box.Hi[i], out hiF[i]))
                return run.Result(FalsifierStop.NoFloat32Point);

        var rng = new Random(options.Seed);

        var centre = Float32Points.RoundInto(box, box.Center())!;
        var pair = new LegacyIncrementalPair(network, quantized, centre);
        if (!run.Try(pair)) return run.Result();

        if (n <= options.MaxExhaustiveCornerDimension)
        {
            for (var mask = 0L; mask < 1L << n; mask++)
                if (!run.Try(pair, Corner(loF, hiF, i => (mask >> i & 1) != 0))) return run.Result();
        }
        else
        {
            for (var k = 0; k < options.RandomCorners; k++)
                if (!run.Try(pair, Corner(loF, hiF, _ => rng.Next(2) != 0))) return run.Result();
        }

        var p = new double[n];
        for (var k = 0; k < options.RandomPoints; k++)
        {
            for (var i = 0; i < n; i++) p[i] = box.Lo[i] + rng.NextDouble() * box.Width(i);
            if (!run.Try(pair, Float32Points.RoundInto(box, p)!)) return run.Result();
        }

        // An output that only ever gave NaN has no start point for the ascent.
        if (!run.AllOutputsObserved) return run.Result();
        // Most promising (output, sign) pairs first, so a small budget goes where a witness is likeliest.
        var pairs = Enumerable.Range(0, network.OutputSize)
            .SelectMany(j => new[] { (Output: j, Sign: 1), (Output: j, Sign: -1) })
            .OrderByDescending(t => run.Observation(t.Output).Best(t.Sign))
            .ToArray();
        // Gradient ascent for every pair first (measured faster on the MNIST boxes than per pair before its
        // coordinate ascent: a witness found by one pair's gradient spares the other pairs' long ascents).
        var gradient = options.GradientSteps > 0;
        if (gradient && options.GradientFirst)
        {
            for (var k = 0; k < pairs.Length; k++)
                if (!GradientAscent(run, pair, pairs[k].Output, pairs[k].Sign, box, centre, rng)) return run.Result();
            pairs = pairs.OrderByDescending(t => run.Observation(t.Output).Best(t.Sign)).ToArray();
        }
        // Budget left by a pair that converged early rolls over to the pairs after it.
        var remaining = Math.Max(0, options.MaxSearchEvaluations);
        for (var k = 0; k < pairs.Length; k++)
        {
            var (j, s) = pairs[k];
            if (gradient && !options.GradientFirst && !GradientAscent(run, pair, j, s, box, centre, rng)) return run.Result();
            var cap = remaining / (pairs.Length - k);
            if (cap == 0) continue;
            if (!CoordinateAscent(run, pair, j, s, loF, hiF, cap, 0, rng, out var used)) return run.Result();
            remaining -= used;
        }
        // Every ascent stopped in a local optimum with budget left: restart each pair from its best point
        // with some coordinates thrown to random bounds, most promising pairs first, until the budget is spent.
        while (remaining > 0 && options.RestartPerturbation > 0)
        {
            pairs = pairs.OrderByDescending(t => run.Observation(t.Output).Best(t.Sign)).ToArray();
            var spent = 0;
            for (var k = 0; k < pairs.Length && remaining > 0; k++)
            {
                var cap = Math.Max(1, remaining / (pairs.Length - k));
                var (j, s) = pairs[k];
                if (!CoordinateAscent(run, pair, j, s, loF, hiF, cap, options.RestartPerturbation, rng, out var used)) return run.Result();
                remaining -= used;
                spent += used;
            }
            if (spent == 0) break; // nothing left to move (e.g. a box with one float32 point per coordinate)
        }
        return run.Result();
    }

    /// <summary>
    /// Greedy ascent of s·(N_j − Q_j): move one coordinate at a time to lo or hi and keep the move if it
    /// improves; repeat passes until no move helps or the cap is spent. False when the search must stop.
    /// </summary>
    private static bool CoordinateAscent(Run run, LegacyIncrementalPair pair, int j, int s, float[] loF, float[] hiF, int cap, double perturbation, Random rng, out int used)
    {
        var obs = run.Observation(j);
        pair.Reset(s > 0 ? obs.MaxDifferenceInput : obs.MinDifferenceInput);
        if (perturbation > 0)
            for (var i = 0; i < pair.InputSize; i++)
                if (rng.NextDouble() < perturbation) pair.Set(i, rng.Next(2) == 0 ? loF[i] : hiF[i]);
        var best = s * pair.Difference(j);
        var order = Enumerable.Range(0, pair.InputSize).ToArray();
        Span<float> values = stackalloc float[2];
        used = 0;
        var improved = true;
        var score = new double[order.Length];
        while (improved && used < cap)
        {
            improved = false;
            rng.Shuffle(order);
            if (run.GradientOrder)
            {
                // Most promising coordinates first: first-order gain of s·(N_j − Q_j) from moving x_i to its
                // better bound, with Q's gradient estimated straight through its roundings.
                var g = DifferenceGradient(pair, run.Network, run.Quantized, j, s);
                for (var i = 0; i < order.Length; i++)
                {
                    var x = pair.Input[i];
                    score[i] = -Math.Max(g[i] * ((double)hiF[i] - x), g[i] * ((double)loF[i] - x));
                }
                var keys = new double[order.Length];
                for (var k = 0; k < order.Length; k++) keys[k] = score[order[k]];
                Array.Sort(keys, order); // stable enough: ties keep the shuffled order's randomness mostly
            }
            foreach (var i in order)
            {
                var old = pair.Input[i];
                values[0] = hiF[i];
                values[1] = loF[i];
                foreach (var v in values)
                {
                    if (v == old || used >= cap) continue;
                    pair.Set(i, v);
                    used++;
                    if (!run.Try(pair)) return false;
                    var d = s * pair.Difference(j);
                    if (d > best)
                    {
                        best = d;
                        improved = true;
                        break;
                    }
                    pair.Set(i, old);
                }
            }
        }
        return true;
    }

    /// <summary>
    /// Projected sign-gradient ascent of s·(N_j − Q_j) from three starts: the best point observed so far
    /// for (j, s), the box centre and a fresh random point. Step t moves every coordinate by
    /// ±α_t·width_i with α_t decaying linearly from ½ to ½/T; the real-valued iterate is clamped to the box,
    /// and the evaluated point is its float32 rounding inside the box (<see cref="Float32Points"/>), re-executed
    /// like every other candidate (a witness is only what <see cref="WitnessChecker"/> confirms). The gradient
    /// is <see cref="DifferenceGradient"/>'s straight-through estimate, taken at the evaluated point.
    /// False when the search must stop.
    /// </summary>
    private static bool GradientAscent(Run run, LegacyIncrementalPair pair, int j, int s, Box box, float[] centre, Random rng)
    {
        var steps = run.GradientSteps;
        var n = box.Dimension;
        var obs = run.Observation(j);
        var random = new double[n];
        for (var i = 0; i < n; i++) random[i] = box.Lo[i] + rng.NextDouble() * box.Width(i);
        float[][] starts = [s > 0 ? obs.MaxDifferenceInput : obs.MinDifferenceInput, centre, Float32Points.RoundInto(box, random)!];
        var x = new double[n];
        foreach (var start in starts)
        {
            for (var i = 0; i < n; i++) x[i] = start[i];
            var point = (float[])start.Clone();
            for (var t = 0; ; t++)
            {
                run.GradientIterateObserver?.Invoke(point);
                if (!run.Try(pair, point)) return false;
                if (t == steps) break;
                var g = DifferenceGradient(pair, run.Network, run.Quantized, j, s);
                var alpha = 0.5 * (steps - t) / steps;
                var moved = false;
                for (var i = 0; i < n; i++)
                {
                    if (g[i] == 0) continue;
                    var v = Math.Clamp(x[i] + Math.Sign(g[i]) * alpha * box.Width(i), box.Lo[i], box.Hi[i]);
                    if (v != x[i]) moved = true;
                    x[i] = v;
                }
                if (!moved) break; // a zero gradient or every coordinate pinned at the bound it points to
                point = Float32Points.RoundInto(box, x)!;
            }
        }
        return true;
    }

    /// <summary>The straight-through gradient of s·(N_j − Q_j) below, at a float32 point (for split heuristics).</summary>
    public static double[] DifferenceGradient(FloatNetwork network, QuantizedNetwork quantized, float[] x, int j, int s) =>
        DifferenceGradient(new LegacyIncrementalPair(network, quantized, x), network, quantized, j, s);

    /// <summary>
    /// ∂ s·(N_j − Q_j) / ∂x at the pair's point: N by back-propagation through its active ReLUs, Q
    /// straight through (roundings as identity, saturation as a clamp, ReLU-with-zero-point as ReLU) with its
    /// dequantized weights and the ReLUs active in its codes. The one gradient of the falsifier: it orders
    /// the coordinate-wise search and drives the gradient ascent.
    /// </summary>
    private static double[] DifferenceGradient(LegacyIncrementalPair pair, FloatNetwork network, QuantizedNetwork quantized, int j, int s)
    {
        var layers = network.Layers;
        var g = new double[network.OutputSize];
        g[j] = s;
        for (var l = layers.Count - 1; l >= 0; l--)
        {
            var layer = layers[l];
            if (layer.Activation == Activation.Relu)
            {
                var pre = pair.FloatPreActivations(l);
                for (var o = 0; o < g.Length; o++) if (pre[o] <= 0) g[o] = 0;
            }
            var gin = new double[layer.InputSize];
            for (var o = 0; o < g.Length; o++)
            {
                if (g[o] == 0) continue;
                var row = layer.Row(o);
                for (var i = 0; i < gin.Length; i++) gin[i] += g[o] * row[i];
            }
            g = gin;
        }

        var stages = quantized.Stages;
        var h = new double[quantized.OutputSize];
        h[j] = -s;
        for (var k = stages.Count - 1; k >= 0; k--)
        {
            var stage = stages[k];
            var codes = pair.StageCodes(k);
            var outQ = stage.Output;
            // Real-valued slope of the stage output w.r.t. its pre-rounding value: 0 where clipped.
            for (var o = 0; o < h.Length; o++)
                if (codes[o] >= outQ.Max || codes[o] <= outQ.Min || (stage.Relu && codes[o] <= outQ.ZeroPoint)) h[o] = 0;
            var hin = new double[stage.InputSize];
            if (stage is QuantizedDense d)
            {
                for (var o = 0; o < h.Length; o++)
                {
                    if (h[o] == 0) continue;
                    var row = d.Row(o);
                    var zw = d.WeightZeroPoints[o];
                    var scale = h[o] * d.WeightScales[o];
                    for (var i = 0; i < hin.Length; i++) hin[i] += scale * (row[i] - zw);
                }
            }
            else
                h.CopyTo(hin, 0);
            h = hin;
        }
        // Input quantization saturates too: no slope where x_i lies beyond the range of the input codes.
        var inQ = quantized.InputQuantization;
        var x = pair.Input;
        for (var i = 0; i < g.Length; i++)
        {
            var scaled = x[i] / (double)inQ.Scale + inQ.ZeroPoint;
            if (scaled >= inQ.Min - 0.5 && scaled <= inQ.Max + 0.5) g[i] += h[i];
        }
        return g;
    }

    private static float[] Corner(float[] loF, float[] hiF, Func<int, bool> high)
    {
        var c = new float[loF.Length];
        for (var i = 0; i < c.Length; i++) c[i] = high(i) ? hiF[i] : loF[i];
        return c;
    }

    /// <summary>Mutable bookkeeping of one search; confined to the Search call.</summary>
    private sealed class Run(FloatNetwork network, QuantizedNetwork quantized, double delta, FalsifierOptions options)
    {
        public FloatNetwork Network => network;
        public QuantizedNetwork Quantized => quantized;
        public bool GradientOrder => options.GradientOrder;
        public int GradientSteps => options.GradientSteps;
        public Action<float[]>? GradientIterateObserver => options.GradientIterateObserver;
        private readonly long _start = Stopwatch.GetTimestamp();
        private readonly OutputObservation?[] _obs = new OutputObservation?[network.OutputSize];
        // True where an extreme in _obs came from the incremental evaluation and is not yet exact.
        private readonly bool[] _approxMax = new bool[network.OutputSize];
        private readonly bool[] _approxMin = new bool[network.OutputSize];
        private Witness? _witness;
        private int _evaluations;
        private FalsifierStop? _stop;

        public OutputObservation Observation(int j) => _obs[j]!;
        public bool AllOutputsObserved => _obs.All(o => o is not null);

        /// <summary>Moves the pair to x and evaluates it unless the search must stop; false means stop now.</summary>
        public bool Try(LegacyIncrementalPair pair, float[] x)
        {
            if (ShouldStop()) return false;
            pair.Reset(x);
            return Try(pair);
        }

        /// <summary>
        /// Evaluates the pair's current point unless the search must stop; false means stop now. The pair's
        /// float side is exact only up to double rounding, so observations it sets are re-executed exactly
        /// in <see cref="Result"/>, and a witness is recorded only as <see cref="WitnessChecker.Check"/> returns it.
        /// </summary>
        public bool Try(LegacyIncrementalPair pair)
        {
            if (ShouldStop()) return false;
            _evaluations++;
            var nOut = pair.FloatOutput;
            var qOut = pair.QuantOutput;
            float[]? copy = null;
            var max = 0.0;
            for (var j = 0; j < nOut.Length; j++)
            {
                var d = nOut[j] - qOut[j];
                if (double.IsNaN(d)) continue;
                max = Math.Max(max, Math.Abs(d));
                var o = _obs[j];
                if (o is null)
                {
                    copy ??= pair.CopyInput();
                    _obs[j] = new OutputObservation(j, d, copy, d, copy);
                    _approxMax[j] = _approxMin[j] = true;
                }
                else if (d > o.MaxDifference)
                {
                    _obs[j] = o with { MaxDifference = d, MaxDifferenceInput = copy ??= pair.CopyInput() };
                    _approxMax[j] = true;
                }
                else if (d < o.MinDifference)
                {
                    _obs[j] = o with { MinDifference = d, MinDifferenceInput = copy ??= pair.CopyInput() };
                    _approxMin[j] = true;
                }
            }
            if (max >= delta && (_witness is null || max > _witness.MaxAbsDifference)
                && WitnessChecker.Check(G(network), G(quantized), copy ?? pair.CopyInput(), delta) is { } w
                && (_witness is null || w.MaxAbsDifference > _witness.MaxAbsDifference))
                _witness = w;
            return !ShouldStop();
        }

        public FalsificationResult Result(FalsifierStop? stop = null)
        {
            ExactObservations();
            var best = _witness?.MaxAbsDifference ?? 0;
            foreach (var o in _obs)
                if (o is not null) best = Math.Max(best, o.MaxAbsDifference);
            return new(
                _witness,
                best,
                _evaluations,
                AllOutputsObserved ? _obs.Select(o => o!).ToArray() : [],
                stop ?? _stop ?? FalsifierStop.Completed);
        }

        /// <summary>
        /// Replaces every observed extreme that came from the incremental evaluation by the exact value at its
        /// point, so the reported maxima are witnessed lower bounds.
        /// </summary>
        private void ExactObservations()
        {
            var exact = new Dictionary<float[], double[]>(ReferenceEqualityComparer.Instance);
            double[] Differences(float[] x)
            {
                if (!exact.TryGetValue(x, out var d))
                    exact[x] = d = WitnessChecker.Evaluate(G(network), G(quantized), x).Differences;
                return d;
            }
            for (var j = 0; j < _obs.Length; j++)
            {
                if (_obs[j] is not { } o) continue;
                if (_approxMax[j]) o = o with { MaxDifference = Differences(o.MaxDifferenceInput)[j] };
                if (_approxMin[j]) o = o with { MinDifference = Differences(o.MinDifferenceInput)[j] };
                _obs[j] = o;
                _approxMax[j] = _approxMin[j] = false;
            }
        }

        private bool ShouldStop()
        {
            if (_stop is not null) return true;
            if (options.CancellationToken.IsCancellationRequested) _stop = FalsifierStop.Cancelled;
            else if (options.TimeBudget is { } t && Stopwatch.GetElapsedTime(_start) >= t) _stop = FalsifierStop.TimeBudget;
            else if (options.StopAtFirstWitness && _witness is not null) _stop = FalsifierStop.WitnessFound;
            return _stop is not null;
        }
    }
}
