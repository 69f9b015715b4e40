using System.Collections.Concurrent;
using System.Diagnostics;
using QEquiv.Bounds;
using QEquiv.Encoding;
using QEquiv.Equivalence;
using QEquiv.Falsification;
using QEquiv.Model;
using QEquiv.Networks;
using QEquiv.Partitioning;
using QEquiv.Regions;
using QEquiv.Scheduling;
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
    /// <summary>Threads maximising (output, sign) pairs side by side; 0: all cores.</summary>
    public int Workers { get; init; }
    /// <summary>Time of the counterexample search for witnessed errors before the bounds and MILPs; null: a tenth of the
    /// timeout, at most 5 s. A long search is how benchmark lists find their δ near the true maximum.</summary>
    public TimeSpan? SearchTime { get; init; }
    /// <summary>Time for the LP relaxation of Δ, pair by pair from the highest bound down, between the bounds and the MILPs;
    /// null: half the time left (30 s without a timeout); zero: no LP.</summary>
    public TimeSpan? LpBudget { get; init; }
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

/// <summary>
/// The 2m maximisations max s·(N_j − Q_j) run as sub-problems on the <see cref="Engine"/>, so all workers share them.
/// They are not split: a maximisation cut short still gives a sound dual bound for its whole box, and the bounds of
/// split halves would only be worth it if every half closed its gap.
/// </summary>
public static class MaxError
{
    public static MaxErrorReport Analyse(Network reference, Network other, Box box, MaxErrorOptions options)
    {
        Verifier.Validate(reference, other, box, 1);
        if (!(options.RelativeGap >= 0) || !double.IsFinite(options.RelativeGap))
            throw new BadInputException($"--gap: must be a finite number ≥ 0, got {options.RelativeGap}");
        if (options.Workers < 0) throw new BadInputException($"--workers: must be ≥ 0 (0: all cores), got {options.Workers}");
        if (options.SearchTime is { } st && st < TimeSpan.Zero) throw new BadInputException($"--search-time: must be a time ≥ 0, got {st.TotalSeconds} s");
        if (options.LpBudget is { } lb && lb < TimeSpan.Zero) throw new BadInputException($"--lp-budget: must be a time ≥ 0, got {lb.TotalSeconds} s");
        var total = Stopwatch.StartNew();

        // Observed maxima are witnessed lower bounds; they also spare the MILPs of pairs the bounds already pin down.
        var observed = Falsifier.Search(reference, other, box, double.MaxValue, new FalsifierOptions(options.Seed,
            TimeBudget: options.SearchTime ?? TimeSpan.FromSeconds(Math.Min(5, (options.Timeout?.TotalSeconds ?? 50) * 0.1)),
            CancellationToken: options.Cancellation)
        // A search time the user gives is the witnessed side's to use up (an evaluation cap ended 90 s searches after 3 s);
        // the default keeps the cap, so a small network's search ends once its ascents have converged.
        {
            StopAtFirstWitness = false,
            MaxSearchEvaluations = options.SearchTime is null ? FalsifierOptions.DefaultMaxSearchEvaluations : int.MaxValue,
        });
        var (rb, ob, diff, _) = Verifier.Bound(reference, other, box, options.DifferentialBounds, []);

        var lower = new double[reference.OutputSize];
        var lowerInput = new float[reference.OutputSize][];
        for (var j = 0; j < reference.OutputSize; j++)
        {
            var obs = observed.PerOutput.Count > j ? observed.PerOutput[j] : null;
            lower[j] = obs?.MaxAbsDifference ?? 0;
            lowerInput[j] = obs?.MaxAbsInput ?? Float32Points.RoundInto(box, box.Center()) ?? [];
        }
        // δ is a placeholder: the maximisations carry none. Pairs whose bound cannot exceed the witnessed error need no MILP.
        var roots = OutputPartition.Roots(reference.OutputSize, box, 1);
        var upper = roots.Select(r => Verifier.Upper(rb, ob, diff, r.Output, r.Sign) + EquivalenceMilp.MarginFor(rb, ob, r.Output)).ToArray();
        var source = roots.Select(_ => "bounds").ToArray();
        var seconds = new double[reference.OutputSize];
        List<SubProblem> Open() => roots.Where(r => upper[r.Id] > lower[r.Output]).OrderByDescending(r => upper[r.Id]).ToList();
        TimeSpan? Left() => options.Timeout is { } t ? t - total.Elapsed : null;

        // The LP relaxation of the whole encoding cut the certified maximum of bench/hard.csv's boxes by 0–37 % in 0.3–2.4 s
        // per pair; the highest bound first, since the overall maximum is the largest pair's.
        var open = Open();
        var lpBudget = options.LpBudget ?? (Left() is { } rest ? rest / 2 : TimeSpan.FromSeconds(30));
        if (open.Count > 0 && lpBudget > TimeSpan.Zero)
        {
            var lp = LpTightening.DifferenceUpperBounds(reference, other, box, rb, ob, diff, open.Select(r => (r.Output, r.Sign)).ToList(),
                lpBudget, options.Cancellation);
            for (var k = 0; k < open.Count; k++)
                if (lp[k] is { } v && v + EquivalenceMilp.MarginFor(rb, ob, open[k].Output) is var u && u < upper[open[k].Id])
                    (upper[open[k].Id], source[open[k].Id]) = (u, "lp");
        }
        // The highest bound first again: with fewer workers than pairs the first MILPs take the time.
        var toSolve = Open();

        var solver = new Maximiser(reference, other, rb, ob, diff, options);
        var left = Left();
        if (left is { } l && l <= TimeSpan.Zero) left = TimeSpan.FromTicks(1);
        var run = SubProblemWork.Run(solver, new EngineOptions(options.Workers, left ?? TimeSpan.FromDays(1), MaxDepth: 0, GlobalTimeout: left)
        {
            Cancellation = options.Cancellation,
        }, toSolve);
        foreach (var a in run.Attempts)
        {
            var r = a.Result;
            var j = a.Output;
            seconds[j] += r.Seconds;
            if (r.Bound is { } bb && bb + EquivalenceMilp.MarginFor(rb, ob, j) < upper[a.SubProblemId])
                (upper[a.SubProblemId], source[a.SubProblemId]) = (bb + EquivalenceMilp.MarginFor(rb, ob, j), $"milp {r.SolverStatus?.ToLowerInvariant()}");
            if (solver.Best.TryGetValue(a.SubProblemId, out var best) && best.Value > lower[j]) (lower[j], lowerInput[j]) = best;
        }

        var results = new List<OutputError>();
        for (var j = 0; j < reference.OutputSize; j++)
        {
            var u = Math.Max(upper[2 * j], upper[2 * j + 1]);
            if (u < lower[j])
                throw new InvalidOperationException($"output {j}: certified upper bound {u:R} is below the witnessed {lower[j]:R}; a bound is unsound");
            results.Add(new OutputError(j, lower[j], lowerInput[j], u, $"+:{source[2 * j]} -:{source[2 * j + 1]}", seconds[j]));
        }
        return new MaxErrorReport(results, total.Elapsed.TotalSeconds);
    }

    /// <summary>Maximises s·(N_j − Q_j) on a sub-problem's box; Proved means "the gap closed" (the bound is then final).</summary>
    private sealed class Maximiser(Network reference, Network other, GraphBounds rb, GraphBounds ob, GraphDifference? diff,
        MaxErrorOptions options) : ISubProblemSolver
    {
        /// <summary>Per sub-problem, the largest |N_j − Q_j| its candidates re-executed to, and where.</summary>
        public ConcurrentDictionary<int, (double Value, float[] Input)> Best { get; } = new();

        public SubProblemResult Solve(SubProblem p, TimeSpan timeout, CancellationToken cancellation)
        {
            var j = p.Output;
            using var milp = EquivalenceMilp.ForOutput(reference, other, p.Box, j, p.Sign, null, options.Backend, rb, ob, diff);
            var r = milp.Solve(new MilpOptions(timeout, options.RelativeGap), cancellation);
            if (r.Solution is { } x)
            {
                var e = Candidates.Reexecute(reference, other, x, p.Box, milp.LastInputCodes, c => Math.Abs(c.Differences[j]));
                Best[p.Id] = (Math.Abs(e.Differences[j]), e.Input);
            }
            var outcome = r.Status == MilpStatus.Optimal ? SubProblemOutcome.Proved : SubProblemOutcome.Unknown;
            // The model's bound plus its output noise bounds the runtimes' difference (the caller adds the float32 margins).
            return new SubProblemResult(p, outcome == SubProblemOutcome.Proved ? DecidedBy.Milp : DecidedBy.Open, outcome, r.WallTime.TotalSeconds,
                r.Backend.ToString().ToLowerInvariant(), r.Status.ToString(), r.Objective, r.BestBound + milp.OutputNoise[j] + EquivalenceMilp.SlackFor(options.Backend) - EquivalenceMilp.SolverSlack, r.Nodes);
        }
    }
}
