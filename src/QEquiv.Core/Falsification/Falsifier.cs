using System.Diagnostics;
using QEquiv.Model;
using QEquiv.Networks;
using QEquiv.Quantization;
using QEquiv.Regions;

namespace QEquiv.Falsification;

/// <summary>
/// Settings of the counterexample search. Seeded so that a run can be repeated exactly; the time
/// budget and token end the search early with whatever was found (never an exception).
/// </summary>
public sealed record FalsifierOptions(int Seed = 0, int RandomPoints = 500, TimeSpan? TimeBudget = null, CancellationToken CancellationToken = default)
{
    /// <summary>Up to this many inputs every corner is tried (2^n); above it only <see cref="RandomCorners"/>.</summary>
    public int MaxExhaustiveCornerDimension { get; init; } = 10;
    public int RandomCorners { get; init; } = 256;
    /// <summary>
    /// An input whose range spans at most this many cells of a network's input quantization is also moved to the ends
    /// of each cell by the coordinate-wise search (1 keeps only the bounds, the search before cells were tried).
    /// </summary>
    public int MaxCellsPerInput { get; init; } = 8;
    /// <summary>
    /// Cap on evaluations of the coordinate-wise search, shared by all (output, sign) pairs. A move is
    /// evaluated incrementally (<see cref="IncrementalPair"/>): about 25–30 µs for a 784-256-256-10 pair on
    /// this machine, so the default costs about 3 s there; set <see cref="TimeBudget"/> for a hard limit.
    /// </summary>
    public int MaxSearchEvaluations { get; init; } = DefaultMaxSearchEvaluations;
    public const int DefaultMaxSearchEvaluations = 100_000;
    /// <summary>
    /// Stop at the first witness (what verification wants); false keeps searching so the per-output
    /// maxima become as tight as possible (what a max-error report wants).
    /// </summary>
    public bool StopAtFirstWitness { get; init; } = true;
    /// <summary>
    /// Order each pass of the coordinate-wise search by a first-order estimate of the gain (N's gradient
    /// minus a straight-through estimate of Q's) instead of a random shuffle.
    /// </summary>
    public bool GradientOrder { get; init; } = true;
    /// <summary>
    /// When every ascent has converged with budget left, restart from the best points with this share of
    /// the coordinates moved to a random bound; 0 disables restarts.
    /// </summary>
    public double RestartPerturbation { get; init; } = 0.1;
    /// <summary>
    /// Iterations of projected gradient ascent per start (<see cref="Falsifier"/>'s gradient phase, run for
    /// every (output, sign) pair from three starts before the coordinate-wise search); 0 switches the phase off.
    /// Each iterate is a full (not incremental) evaluation plus one gradient; with 10 outputs the default
    /// costs at most 20 × 3 × 21 = 1 260 of them when no witness stops it early.
    /// </summary>
    public int GradientSteps { get; init; } = 20;
    /// <summary>Run gradient ascent for every (output, sign) pair before any coordinate ascent (true) or per pair just before its ascent (false).</summary>
    internal bool GradientFirst { get; init; } = true;
    /// <summary>Sees every gradient iterate as it is evaluated (tests).</summary>
    internal Action<float[]>? GradientIterateObserver { get; init; }
}

public enum FalsifierStop { Completed, WitnessFound, TimeBudget, Cancelled, NoFloat32Point }

/// <summary>
/// The extremes of N_j − Q_j observed for one output, with the points where they occurred. They are
/// witnessed lower bounds: max-error reports |N_j − Q_j| ≥ <see cref="MaxAbsDifference"/> on the box.
/// </summary>
public sealed record OutputObservation(int Output, double MaxDifference, float[] MaxDifferenceInput, double MinDifference, float[] MinDifferenceInput)
{
    public double MaxAbsDifference => Math.Max(Math.Abs(MaxDifference), Math.Abs(MinDifference));
    public float[] MaxAbsInput => Math.Abs(MaxDifference) >= Math.Abs(MinDifference) ? MaxDifferenceInput : MinDifferenceInput;
    /// <summary>Largest observed Sign·(N_j − Q_j) for sign ±1.</summary>
    public double Best(int sign) => sign > 0 ? MaxDifference : -MinDifference;
}

/// <summary>
/// Outcome of a search. <see cref="Witness"/> is the largest-difference witness found (checked by
/// <see cref="WitnessChecker"/>), null if none reached δ. <see cref="PerOutput"/> is empty only when
/// nothing was evaluated.
/// </summary>
public sealed record FalsificationResult(
    Witness? Witness,
    double BestMaxAbsDifference,
    int Evaluations,
    IReadOnlyList<OutputObservation> PerOutput,
    FalsifierStop Stop);

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
/// evaluated incrementally (<see cref="IncrementalPair"/>). Every candidate is a float32 vector inside the box and
/// every reported witness is exactly re-executed.
/// </summary>
public static class Falsifier
{
    /// <summary>
    /// Searches <paramref name="box"/> for a point where the two networks differ by δ or more (N the reference, whose
    /// float32 error <see cref="WitnessChecker"/> allows for, Q the other; any two networks of the same input and output
    /// sizes: float and quantized, two float or two quantized ones).
    /// </summary>
    public static FalsificationResult Search(Network reference, Network other, Box box, double delta, FalsifierOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(reference);
        ArgumentNullException.ThrowIfNull(other);
        ArgumentNullException.ThrowIfNull(box);
        options ??= new FalsifierOptions();
        if (!double.IsFinite(delta) || delta <= 0)
            throw new ArgumentOutOfRangeException(nameof(delta), delta, "delta must be finite and > 0");
        if (reference.InputSize != other.InputSize || reference.OutputSize != other.OutputSize)
            throw new ArgumentException(
                $"the networks differ in shape: {reference.InputSize}→{reference.OutputSize} and {other.InputSize}→{other.OutputSize}");
        if (box.Dimension != reference.InputSize)
            throw new ArgumentException($"box has {box.Dimension} inputs, the networks take {reference.InputSize}");

        var run = new Run(reference, other, delta, options);
        var n = box.Dimension;
        var loF = new float[n];
        var hiF = new float[n];
        for (var i = 0; i < n; i++)
            if (!Float32Points.TryRound(box.Lo[i], box.Lo[i], box.Hi[i], out loF[i])
                || !Float32Points.TryRound(box.Hi[i], box.Lo[i], box.Hi[i], out hiF[i]))
                return run.Result(FalsifierStop.NoFloat32Point);

        var levels = Levels(loF, hiF, reference.InputQuantization, other.InputQuantization, options.MaxCellsPerInput);
        var rng = new Random(options.Seed);

        var centre = Float32Points.RoundInto(box, box.Center())!;
        var pair = new IncrementalPair(reference, other, centre);
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
        var pairs = Enumerable.Range(0, reference.OutputSize)
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
            if (!CoordinateAscent(run, pair, j, s, levels, cap, 0, rng, out var used)) return run.Result();
            remaining -= used;
        }
        // Every ascent stopped in a local optimum with budget left: restart each pair from its best point
        // with some coordinates thrown to random levels, most promising pairs first, until the budget is spent.
        while (remaining > 0 && options.RestartPerturbation > 0)
        {
            pairs = pairs.OrderByDescending(t => run.Observation(t.Output).Best(t.Sign)).ToArray();
            var spent = 0;
            for (var k = 0; k < pairs.Length && remaining > 0; k++)
            {
                var cap = Math.Max(1, remaining / (pairs.Length - k));
                var (j, s) = pairs[k];
                if (!CoordinateAscent(run, pair, j, s, levels, cap, options.RestartPerturbation, rng, out var used)) return run.Result();
                remaining -= used;
                spent += used;
            }
            if (spent == 0) break; // nothing left to move (e.g. a box with one float32 point per coordinate)
        }
        return run.Result();
    }

    /// <summary>
    /// Greedy ascent of s·(N_j − Q_j): move one coordinate at a time to one of its levels (<see cref="Levels"/>: its
    /// bounds, then the ends of the input-code cells between them) and keep the first move that improves; repeat passes
    /// until no move helps or the cap is spent. A restart throws inputs to random bounds. False when the search must stop.
    /// </summary>
    private static bool CoordinateAscent(Run run, IncrementalPair pair, int j, int s, float[][] levels, int cap, double perturbation, Random rng, out int used)
    {
        var obs = run.Observation(j);
        pair.Reset(s > 0 ? obs.MaxDifferenceInput : obs.MinDifferenceInput);
        if (perturbation > 0)
            for (var i = 0; i < pair.InputSize; i++)
                if (rng.NextDouble() < perturbation) pair.Set(i, levels[i][Math.Min(rng.Next(2) == 0 ? 1 : 0, levels[i].Length - 1)]);
        var best = s * pair.Difference(j);
        var order = Enumerable.Range(0, pair.InputSize).ToArray();
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
                // best level, with Q's gradient estimated straight through its roundings.
                var g = pair.DifferenceGradient(j, s);
                for (var i = 0; i < order.Length; i++)
                {
                    var x = pair.Input[i];
                    var gain = double.NegativeInfinity;
                    foreach (var v in levels[i]) gain = Math.Max(gain, g[i] * ((double)v - x));
                    score[i] = -gain;
                }
                var keys = new double[order.Length];
                for (var k = 0; k < order.Length; k++) keys[k] = score[order[k]];
                Array.Sort(keys, order); // stable enough: ties keep the shuffled order's randomness mostly
            }
            foreach (var i in order)
            {
                var old = pair.Input[i];
                foreach (var v in levels[i])
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
    /// The values the coordinate-wise search tries for each input: its bounds, hi first, and where a network quantizes its
    /// input, both ends of every code's cell inside the box (inputs spanning at most <paramref name="maxCells"/> cells; a
    /// wider input keeps its bounds only). The bounds alone never reach the middle code of a ±1/255 MNIST pixel (three
    /// codes), and an end of a cell is where N's part of the error is largest for its code, N being almost linear there:
    /// measured, the ends of every cell found more than the middle codes' cells alone (docs/benchmarks.md).
    /// </summary>
    internal static float[][] Levels(float[] loF, float[] hiF, QuantParams? a, QuantParams? b, int maxCells)
    {
        var levels = new float[loF.Length][];
        var values = new SortedSet<float>();
        QuantParams[] quantizations = [.. new[] { a, b }.OfType<QuantParams>()];
        for (var i = 0; i < loF.Length; i++)
        {
            values.Clear();
            foreach (var p in quantizations)
            {
                int cLo = QuantMath.Quantize(loF[i], p), cHi = QuantMath.Quantize(hiF[i], p);
                if (cHi - cLo + 1 > maxCells) continue;
                for (var c = cLo + 1; c <= cHi; c++)
                    if (LowestWithCode(c, loF[i], hiF[i], p) is { } first)
                    {
                        values.Add(first);
                        values.Add(MathF.BitDecrement(first));
                    }
            }
            values.Remove(loF[i]);
            values.Remove(hiF[i]);
            levels[i] = [hiF[i], loF[i], .. values];
            if (loF[i] == hiF[i]) levels[i] = [loF[i]];
        }
        return levels;
    }

    /// <summary>The smallest float32 in (lo, hi] whose code is at least c (the code is monotone in x), or null.</summary>
    private static float? LowestWithCode(int c, float lo, float hi, QuantParams p)
    {
        var edge = ((double)c - p.ZeroPoint - 0.5) * (double)p.Scale;
        if (!Float32Points.TryRound(edge, lo, hi, out var v)) return null;
        // float32 division may round the other way near the edge: walk a few ulps to the exact first float of the cell.
        for (var step = 0; step < 64 && v > lo && QuantMath.Quantize(MathF.BitDecrement(v), p) >= c; step++) v = MathF.BitDecrement(v);
        for (var step = 0; step < 64 && QuantMath.Quantize(v, p) < c; step++)
        {
            if (v >= hi) return null;
            v = MathF.BitIncrement(v);
        }
        return v > lo && QuantMath.Quantize(v, p) >= c && QuantMath.Quantize(MathF.BitDecrement(v), p) < c ? v : null;
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
    private static bool GradientAscent(Run run, IncrementalPair pair, int j, int s, Box box, float[] centre, Random rng)
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
                var g = pair.DifferenceGradient(j, s);
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

    /// <summary>
    /// ∂ s·(N_j − Q_j) / ∂x at a float32 point (for split heuristics): each network differentiated operator by operator,
    /// straight through its roundings (<see cref="StraightThroughGradient"/>). The one gradient of the falsifier: it
    /// orders the coordinate-wise search and drives the gradient ascent.
    /// </summary>
    public static double[] DifferenceGradient(Network reference, Network other, float[] x, int j, int s) =>
        new IncrementalPair(reference, other, x).DifferenceGradient(j, s);

    private static float[] Corner(float[] loF, float[] hiF, Func<int, bool> high)
    {
        var c = new float[loF.Length];
        for (var i = 0; i < c.Length; i++) c[i] = high(i) ? hiF[i] : loF[i];
        return c;
    }

    /// <summary>Mutable bookkeeping of one search; confined to the Search call.</summary>
    private sealed class Run(Network reference, Network other, double delta, FalsifierOptions options)
    {
        public bool GradientOrder => options.GradientOrder;
        public int GradientSteps => options.GradientSteps;
        public Action<float[]>? GradientIterateObserver => options.GradientIterateObserver;
        private readonly long _start = Stopwatch.GetTimestamp();
        private readonly OutputObservation?[] _obs = new OutputObservation?[reference.OutputSize];
        // True where an extreme in _obs came from the incremental evaluation and is not yet exact.
        private readonly bool[] _approxMax = new bool[reference.OutputSize];
        private readonly bool[] _approxMin = new bool[reference.OutputSize];
        private Witness? _witness;
        private int _evaluations;
        private FalsifierStop? _stop;

        public OutputObservation Observation(int j) => _obs[j]!;
        public bool AllOutputsObserved => _obs.All(o => o is not null);

        /// <summary>Moves the pair to x and evaluates it unless the search must stop; false means stop now.</summary>
        public bool Try(IncrementalPair pair, float[] x)
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
        public bool Try(IncrementalPair pair)
        {
            if (ShouldStop()) return false;
            _evaluations++;
            var nOut = pair.ReferenceOutput;
            var qOut = pair.OtherOutput;
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
                && WitnessChecker.Check(reference, other, copy ?? pair.CopyInput(), delta) is { } w
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
                    exact[x] = d = WitnessChecker.Evaluate(reference, other, x).Differences;
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
