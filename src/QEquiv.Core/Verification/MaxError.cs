using System.Diagnostics;
using QEquiv.Bounds;
using QEquiv.Encoding;
using QEquiv.Falsification;
using QEquiv.Networks;
using QEquiv.Regions;
using QEquiv.Solvers;

namespace QEquiv.Verification;

public sealed record MaxErrorOptions(
    double RelativeGap = 1e-3,
    TimeSpan? Timeout = null,
    MilpBackend Backend = MilpBackends.Default,
    int Seed = 0)
{
    public bool DifferentialBounds { get; init; } = true;
    public CancellationToken Cancellation { get; init; }
}

/// <summary>
/// max over B of |N_j − Q_j| for one output: <see cref="Lower"/> is witnessed (re-executed at
/// <see cref="LowerInput"/>), <see cref="Upper"/> is certified (interval bounds or a MILP dual bound, plus the
/// runtime's float32 dequantization error and solver slack).
/// </summary>
public sealed record OutputError(int Output, double Lower, float[] LowerInput, double Upper, string UpperFrom, double Seconds);

/// <summary>The tightest δ* = max_x ‖N(x) − Q(x)‖∞ on B is in [<see cref="Lower"/>, <see cref="Upper"/>].</summary>
public sealed record MaxErrorReport(IReadOnlyList<OutputError> PerOutput, double Seconds)
{
    public double Lower => PerOutput.Max(o => o.Lower);
    public double Upper => PerOutput.Max(o => o.Upper);
}

public static class MaxError
{
    public static MaxErrorReport Analyse(FloatNetwork n, QuantizedNetwork q, Box box, MaxErrorOptions options)
    {
        Verifier.Validate(n, q, box, 1);
        if (!(options.RelativeGap >= 0) || !double.IsFinite(options.RelativeGap))
            throw new BadInputException($"--gap: must be a finite number ≥ 0, got {options.RelativeGap}");
        var total = Stopwatch.StartNew();
        var deadline = options.Timeout is { } t ? DateTime.UtcNow + t : DateTime.MaxValue;

        // Observed maxima are witnessed lower bounds; they also seed the MILPs' work with good points cheaply.
        var observed = Falsifier.Search(n, q, box, double.MaxValue, new FalsifierOptions(options.Seed,
            TimeBudget: TimeSpan.FromSeconds(Math.Min(5, (options.Timeout?.TotalSeconds ?? 50) * 0.1)), CancellationToken: options.Cancellation)
        { StopAtFirstWitness = false });
        var (fb, qb, diff, _) = Verifier.Bound(n, q, box, options.DifferentialBounds, []);

        var results = new List<OutputError>();
        var pairsLeft = 2 * n.OutputSize;
        for (var j = 0; j < n.OutputSize; j++)
        {
            var clock = Stopwatch.StartNew();
            var obs = observed.PerOutput.Count > j ? observed.PerOutput[j] : null;
            var lower = obs?.MaxAbsDifference ?? 0;
            var lowerInput = obs?.MaxAbsInput ?? Float32Points.RoundInto(box, box.Center()) ?? [];
            var margin = EquivalenceMilp.MarginFor(q, qb, j);
            var upper = double.NegativeInfinity;
            var from = new List<string>();
            foreach (var s in new[] { 1, -1 })
            {
                var pairUpper = Verifier.Upper(fb, qb, diff, j, s) + margin;
                var source = "bounds";
                var limit = deadline == DateTime.MaxValue ? (TimeSpan?)null : (deadline - DateTime.UtcNow) / Math.Max(1, pairsLeft);
                pairsLeft--;
                if (pairUpper > lower && limit is not { TotalMilliseconds: <= 0 } && !options.Cancellation.IsCancellationRequested)
                {
                    using var milp = EquivalenceMilp.ForOutput(n, q, box, j, s, null, options.Backend, fb, qb, diff);
                    var r = milp.Solve(new MilpOptions(limit, options.RelativeGap), options.Cancellation);
                    if (r.Solution is { } x)
                    {
                        var e = Candidates.Reexecute(n, q, x, box, milp.LastInputCodes, c => Math.Abs(c.Differences[j]));
                        if (Math.Abs(e.Differences[j]) > lower) (lower, lowerInput) = (Math.Abs(e.Differences[j]), e.Input);
                    }
                    if (r.BestBound is { } bb && bb + margin < pairUpper) (pairUpper, source) = (bb + margin, $"milp {r.Status.ToString().ToLowerInvariant()}");
                }
                upper = Math.Max(upper, pairUpper);
                from.Add($"{(s > 0 ? "+" : "-")}:{source}");
            }
            if (upper < lower)
                throw new InvalidOperationException($"output {j}: certified upper bound {upper:R} is below the witnessed {lower:R}; a bound is unsound");
            results.Add(new OutputError(j, lower, lowerInput, upper, string.Join(" ", from), clock.Elapsed.TotalSeconds));
        }
        return new MaxErrorReport(results, total.Elapsed.TotalSeconds);
    }
}
