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
/// The witnessed side from the counterexample search, the certified side from the bounds and the LP relaxation, then rounds
/// of threshold MILPs per (output, sign) pair ("is s·(N_j − Q_j) ≥ t anywhere?", maximising above t) run as sub-problems on
/// the <see cref="Engine"/>, so all workers share them; each round narrows the pairs' intervals, so a run cut short at any
/// point reports the intervals so far. They are not split: a MILP cut short still gives a sound answer for its whole box,
/// and the bounds of split halves would only be worth it if every half closed its gap.
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
        // δ is a placeholder: each MILP round sets its own thresholds. Pairs whose bound cannot exceed the witnessed error need no MILP.
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
        // Anytime MILP phase: rounds of threshold questions "∃x: s·(N_j − Q_j) ≥ t?" per open pair, t between the output's
        // witnessed error and the pair's certified bound. An infeasible answer certifies t (SCIP's presolve often proves it in
        // seconds on MNIST balls where a plain maximisation finishes neither its root node nor any incumbent in a minute); a
        // feasible one keeps maximising above t, so a MILP that solves gives the exact maximum as before. The first t is
        // 1.1× the witnessed maximum over all outputs (the ratio a user asks for) unless the log-scale midpoint of the pair's gap
        // is higher, later ones halve the open gaps in log scale,
        // and a t that timed out is not asked again: the next one lies above it.
        var solver = new Maximiser(reference, other, rb, ob, diff, options);
        var hard = new double[roots.Count];
        var asked = new bool[roots.Count];
        for (var round = 0; round < MaxRounds; round++)
        {
            var left = Left();
            if (left is { } l && l <= TimeSpan.FromMilliseconds(50) || options.Cancellation.IsCancellationRequested) break;
            var witnessed = lower.Max();
            var questions = new List<SubProblem>();
            var rootOf = new List<int>();
            foreach (var r in roots.OrderBy(r => upper[r.Id]))
            {
                var lo = Math.Max(lower[r.Output], hard[r.Id]);
                var hi = upper[r.Id];
                if (!(hi > lo * (1 + Math.Max(options.RelativeGap, 1e-9)) + 1e-12)) continue;
                var t = Threshold(lo, hi, asked[r.Id] ? null : 1.1 * witnessed);
                if (!(t > lo && t < hi)) continue;
                asked[r.Id] = true;
                // The engine hands out equal boxes by id, and a question's share of the time left grows as those before it
                // finish early: the lowest bound first, so the highest (the reported maximum's, likeliest hard) gets most.
                rootOf.Add(r.Id);
                questions.Add(r with { Id = questions.Count, Delta = t });
            }
            if (questions.Count == 0) break;
            // Every question at least its share of the time left (the engine's fair share; a minute's run on an MNIST ball is
            // about one round, a small network's runs many).
            solver.Best.Clear(); // ids are this round's
            var run = SubProblemWork.Run(solver, new EngineOptions(options.Workers, left is null ? TimeSpan.FromDays(1) : TimeSpan.FromMilliseconds(100), MaxDepth: 0, GlobalTimeout: left)
            {
                Cancellation = options.Cancellation,
                ShareAboveDimension = -1,
            }, questions);
            foreach (var a in run.Attempts)
            {
                var r = a.Result;
                var j = a.Output;
                var id = rootOf[a.SubProblemId];
                seconds[j] += r.Seconds;
                if (r.SolverStatus == nameof(MilpStatus.Infeasible) && r.SubProblem.Delta < upper[id])
                    (upper[id], source[id]) = (r.SubProblem.Delta, "milp infeasible");
                else if (r.Bound is { } bb && bb + EquivalenceMilp.MarginFor(rb, ob, j) < upper[id])
                    (upper[id], source[id]) = (bb + EquivalenceMilp.MarginFor(rb, ob, j), $"milp {r.SolverStatus?.ToLowerInvariant()}");
                else if (r.SolverStatus != nameof(MilpStatus.Infeasible) && !a.Cancelled)
                    hard[id] = Math.Max(hard[id], r.SubProblem.Delta);
                if (solver.Best.TryRemove(a.SubProblemId, out var best) && best.Value > lower[j]) (lower[j], lowerInput[j]) = best;
            }
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

    /// <summary>Rounds of threshold questions at most (each halves the open gaps in log scale; 60 reach any gap that matters).</summary>
    private const int MaxRounds = 60;

    /// <summary>The next threshold in (lo, hi): the geometric midpoint (the arithmetic one when lo is 0), or the target when
    /// that lies above the midpoint and inside. So a pair far below the maximum is asked the target at once, while the pair
    /// that sets the maximum (lo near the target, a high bound) is asked an easier midpoint first: measured on MNIST balls,
    /// asking it the target first left its LP bound standing as the reported maximum on 8 of 8 boxes.</summary>
    internal static double Threshold(double lo, double hi, double? target)
    {
        var mid = lo > 0 ? Math.Sqrt(lo * hi) : hi / 2;
        return target is { } g && g > mid && g < hi ? g : mid;
    }

    /// <summary>
    /// Maximises s·(N_j − Q_j) on a sub-problem's box subject to s·(N_j − Q_j) ≥ δ (the sub-problem's threshold, minus the
    /// margins); Proved means the gap closed or no point reaches δ. A candidate is re-executed and kept whatever it reaches.
    /// </summary>
    private sealed class Maximiser(Network reference, Network other, GraphBounds rb, GraphBounds ob, GraphDifference? diff,
        MaxErrorOptions options) : ISubProblemSolver
    {
        /// <summary>Per sub-problem, the largest |N_j − Q_j| its candidates re-executed to, and where.</summary>
        public ConcurrentDictionary<int, (double Value, float[] Input)> Best { get; } = new();

        public SubProblemResult Solve(SubProblem p, TimeSpan timeout, CancellationToken cancellation)
        {
            var j = p.Output;
            using var milp = EquivalenceMilp.ForOutput(reference, other, p.Box, j, p.Sign, p.Delta, options.Backend, rb, ob, diff);
            var r = milp.Solve(new MilpOptions(timeout, options.RelativeGap), cancellation);
            // Witnessed only at a float32 point of the box (none when the box holds no float32 point).
            if (r.Solution is { } x && Candidates.Reexecute(reference, other, x, p.Box, milp.LastInputCodes, c => Math.Abs(c.Differences[j])) is { } e)
            {
                var v = Math.Abs(e.Differences[j]);
                Best.AddOrUpdate(p.Id, (v, e.Input), (_, old) => v > old.Value ? (v, e.Input) : old);
            }
            var outcome = r.Status is MilpStatus.Optimal or MilpStatus.Infeasible ? SubProblemOutcome.Proved : SubProblemOutcome.Unknown;
            // The model's bound plus its output noise bounds the runtimes' difference (the caller adds the float32 margins).
            return new SubProblemResult(p, outcome == SubProblemOutcome.Proved ? DecidedBy.Milp : DecidedBy.Open, outcome, r.WallTime.TotalSeconds,
                r.Backend.ToString().ToLowerInvariant(), r.Status.ToString(), r.Objective, r.BestBound + milp.OutputNoise[j] + EquivalenceMilp.SlackFor(options.Backend) - EquivalenceMilp.SolverSlack, r.Nodes);
        }
    }
}
