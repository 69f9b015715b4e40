using System.Diagnostics;
using QEquiv.Networks;
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
    /// Cap on evaluations of the coordinate-wise search, shared by all (output, sign) pairs. Each
    /// evaluation runs both networks in full: about 0.8 ms for a 784-256-256-10 pair on this machine, so
    /// the default costs about 4 s there; set <see cref="TimeBudget"/> for a hard limit.
    /// </summary>
    public int MaxSearchEvaluations { get; init; } = 5_000;
    /// <summary>
    /// Stop at the first witness (what verification wants); false keeps searching so the per-output
    /// maxima become as tight as possible (what a max-error report wants).
    /// </summary>
    public bool StopAtFirstWitness { get; init; } = true;
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
/// points, then a greedy coordinate-wise ascent of ±(N_j − Q_j) from the best sampled point. The ascent
/// matters on MNIST boxes, where random points concentrate near the centre and the largest errors sit
/// at corners chosen coordinate by coordinate. Every candidate is a float32 vector inside the box and
/// every reported witness is exactly re-executed.
/// </summary>
public static class Falsifier
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

        if (!run.Try(Float32Points.RoundInto(box, box.Center())!)) return run.Result();

        if (n <= options.MaxExhaustiveCornerDimension)
        {
            for (var mask = 0L; mask < 1L << n; mask++)
                if (!run.Try(Corner(loF, hiF, i => (mask >> i & 1) != 0))) return run.Result();
        }
        else
        {
            for (var k = 0; k < options.RandomCorners; k++)
                if (!run.Try(Corner(loF, hiF, _ => rng.Next(2) != 0))) return run.Result();
        }

        var p = new double[n];
        for (var k = 0; k < options.RandomPoints; k++)
        {
            for (var i = 0; i < n; i++) p[i] = box.Lo[i] + rng.NextDouble() * box.Width(i);
            if (!run.Try(Float32Points.RoundInto(box, p)!)) return run.Result();
        }

        // An output that only ever gave NaN has no start point for the ascent.
        if (!run.AllOutputsObserved) return run.Result();
        // Most promising (output, sign) pairs first, so a small budget goes where a witness is likeliest.
        var pairs = Enumerable.Range(0, network.OutputSize)
            .SelectMany(j => new[] { (Output: j, Sign: 1), (Output: j, Sign: -1) })
            .OrderByDescending(t => run.Observation(t.Output).Best(t.Sign))
            .ToArray();
        // Budget left by a pair that converged early rolls over to the pairs after it.
        var remaining = Math.Max(0, options.MaxSearchEvaluations);
        for (var k = 0; k < pairs.Length; k++)
        {
            var cap = remaining / (pairs.Length - k);
            if (cap == 0) continue;
            var (j, s) = pairs[k];
            if (!CoordinateAscent(run, j, s, loF, hiF, cap, rng, out var used)) return run.Result();
            remaining -= used;
        }
        return run.Result();
    }

    /// <summary>
    /// Greedy ascent of s·(N_j − Q_j): move one coordinate at a time to lo or hi and keep the move if it
    /// improves; repeat passes until no move helps or the cap is spent. False when the search must stop.
    /// </summary>
    private static bool CoordinateAscent(Run run, int j, int s, float[] loF, float[] hiF, int cap, Random rng, out int used)
    {
        var obs = run.Observation(j);
        var x = (float[])(s > 0 ? obs.MaxDifferenceInput : obs.MinDifferenceInput).Clone();
        var best = obs.Best(s);
        var order = Enumerable.Range(0, x.Length).ToArray();
        used = 0;
        var improved = true;
        while (improved && used < cap)
        {
            improved = false;
            rng.Shuffle(order);
            foreach (var i in order)
            {
                var old = x[i];
                foreach (var v in new[] { hiF[i], loF[i] })
                {
                    if (v == old || used >= cap) continue;
                    x[i] = v;
                    used++;
                    if (!run.Try(x, out var d)) return false;
                    if (s * d[j] > best)
                    {
                        best = s * d[j];
                        improved = true;
                        break;
                    }
                    x[i] = old;
                }
            }
        }
        return true;
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
        private readonly long _start = Stopwatch.GetTimestamp();
        private readonly OutputObservation?[] _obs = new OutputObservation?[network.OutputSize];
        private Witness? _witness;
        private double _bestMaxAbs;
        private int _evaluations;
        private FalsifierStop? _stop;

        public OutputObservation Observation(int j) => _obs[j]!;
        public bool AllOutputsObserved => _obs.All(o => o is not null);

        public bool Try(float[] x) => Try(x, out _);

        /// <summary>Evaluates x unless the search must stop; false means stop now.</summary>
        public bool Try(float[] x, out double[] differences)
        {
            differences = [];
            if (ShouldStop()) return false;
            var e = WitnessChecker.Evaluate(network, quantized, x);
            _evaluations++;
            differences = e.Differences;
            Record(e);
            return !ShouldStop();
        }

        public FalsificationResult Result(FalsifierStop? stop = null) => new(
            _witness,
            _bestMaxAbs,
            _evaluations,
            AllOutputsObserved ? _obs.Select(o => o!).ToArray() : [],
            stop ?? _stop ?? FalsifierStop.Completed);

        private bool ShouldStop()
        {
            if (_stop is not null) return true;
            if (options.CancellationToken.IsCancellationRequested) _stop = FalsifierStop.Cancelled;
            else if (options.TimeBudget is { } t && Stopwatch.GetElapsedTime(_start) >= t) _stop = FalsifierStop.TimeBudget;
            else if (options.StopAtFirstWitness && _witness is not null) _stop = FalsifierStop.WitnessFound;
            return _stop is not null;
        }

        private void Record(PointEvaluation e)
        {
            for (var j = 0; j < e.Differences.Length; j++)
            {
                var d = e.Differences[j];
                if (double.IsNaN(d)) continue;
                var o = _obs[j];
                if (o is null)
                    _obs[j] = new OutputObservation(j, d, e.Input, d, e.Input);
                else if (d > o.MaxDifference)
                    _obs[j] = o with { MaxDifference = d, MaxDifferenceInput = e.Input };
                else if (d < o.MinDifference)
                    _obs[j] = o with { MinDifference = d, MinDifferenceInput = e.Input };
            }
            var max = e.MaxAbsDifference;
            if (max > _bestMaxAbs) _bestMaxAbs = max;
            if (WitnessChecker.ToWitness(e, delta) is { } w && (_witness is null || w.MaxAbsDifference > _witness.MaxAbsDifference))
                _witness = w;
        }
    }
}
