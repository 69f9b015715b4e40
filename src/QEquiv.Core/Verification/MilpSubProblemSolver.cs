using System.Collections.Concurrent;
using System.Diagnostics;
using QEquiv.Bounds;
using QEquiv.Model;
using QEquiv.Encoding;
using QEquiv.Equivalence;
using QEquiv.Falsification;
using QEquiv.Networks;
using QEquiv.Partitioning;
using QEquiv.Regions;
using QEquiv.Scheduling;
using QEquiv.Solvers;

namespace QEquiv.Verification;

/// <summary>
/// Decides a sub-problem the way <see cref="Verifier"/> decides one: bounds of its own box first (so a child of a split
/// is re-bounded before any solver call and often discharged outright, which is the point of splitting), then the LP
/// relaxation, then one per-output MILP with those bounds — or, with a portfolio, several solver configurations
/// racing on it — read by <see cref="Verifier.Interpret"/>. Thread-safe: every call builds its own models; the
/// networks are only read.
/// </summary>
public sealed class MilpSubProblemSolver : ISubProblemSolver
{
    /// <summary>Bounds are cached per box because the 2m roots (and, with the same split choices, their children) share
    /// boxes; past this many entries new boxes are bounded without caching so a long run cannot exhaust memory.</summary>
    private const int CacheLimit = 4096;
    /// <summary>Most of a sub-problem's time stays with the MILP: the LP gets a quarter of it, at most this.</summary>
    private static readonly TimeSpan LpShareCap = TimeSpan.FromSeconds(2);

    private readonly Network _reference;
    private readonly Network _other;

    private readonly IReadOnlyList<SolverConfiguration> _portfolio;
    private readonly bool _differential;
    private readonly ConcurrentDictionary<Box, Lazy<BoxBounds>> _cache = new();
    private readonly ConcurrentQueue<string> _notes = new();

    /// <param name="portfolio">One configuration: plain solving; several: they race on every MILP, first definitive answer wins.</param>
    public MilpSubProblemSolver(Network reference, Network other, IReadOnlyList<SolverConfiguration> portfolio, bool differentialBounds = true)
    {
        _reference = reference ?? throw new ArgumentNullException(nameof(reference));
        _other = other ?? throw new ArgumentNullException(nameof(other));

        ArgumentNullException.ThrowIfNull(portfolio);
        if (portfolio.Count == 0) throw new ArgumentException("a portfolio needs at least one solver configuration", nameof(portfolio));
        _portfolio = portfolio;
        _differential = differentialBounds;
    }

    public MilpSubProblemSolver(Network reference, Network other, MilpBackend backend = MilpBackends.Default, bool differentialBounds = true)
        : this(reference, other, [SolverConfiguration.Plain(backend)], differentialBounds)
    {
    }

    /// <summary>
    /// The process's cores: with one configuration, a MILP started while some are idle borrows them to race
    /// <see cref="SpareRacers"/> beside it. Null: never (tests, ablations; a cluster worker sets its own).
    /// </summary>
    public CoreBudget? Cores { get; set; }

    /// <summary>Try the LP relaxation before the MILP (off only for ablations).</summary>
    public bool LpRelaxation { get; init; } = true;

    /// <summary>
    /// What idle cores race, in order: HiGHS first (a different code base: on `bench/pieces.csv` SCIP with a shifted seed as
    /// the only racer made the total 5 % slower than no race), then SCIP with a shifted seed.
    /// </summary>
    public static IReadOnlyList<SolverConfiguration> SpareRacers { get; } =
        [.. SolverConfiguration.DefaultPortfolio.Where(c => c.Backend == MilpBackend.Highs), .. SolverConfiguration.DefaultPortfolio.Where(c => c.Backend != MilpBackend.Highs)];

    /// <summary>Notes from bounding and solving (spurious candidates, bounds not used), in arrival order.</summary>
    public IReadOnlyList<string> Notes => [.. _notes];

    internal sealed record BoxBounds(GraphBounds Reference, GraphBounds Other, GraphDifference? Difference);

    /// <summary>
    /// Hands over what <see cref="Verifier"/> already computed for the root box: its bounds, and the LP bounds of the
    /// whole-box (output, sign) pairs that did not prove them (solving the same LP again would give the same number).
    /// </summary>
    internal void Seed(Box box, BoxBounds bounds, IReadOnlyDictionary<(int Output, int Sign), double>? lpTried = null)
    {
        _cache.TryAdd(box, new Lazy<BoxBounds>(bounds));
        _lpTriedBox = box;
        _lpTried = lpTried ?? new Dictionary<(int, int), double>();
    }

    private Box? _lpTriedBox;
    private IReadOnlyDictionary<(int Output, int Sign), double> _lpTried = new Dictionary<(int, int), double>();

    private bool LpAlreadyFailed(SubProblem p) =>
        p.Codes is null && _lpTried.ContainsKey((p.Output, p.Sign)) && p.Box.Equals(_lpTriedBox);

    public SubProblemResult Solve(SubProblem problem, TimeSpan timeout, CancellationToken cancellation)
    {
        ArgumentNullException.ThrowIfNull(problem);
        var clock = Stopwatch.StartNew();
        if (cancellation.IsCancellationRequested)
            return new SubProblemResult(problem, DecidedBy.Open, SubProblemOutcome.Unknown, 0);
        var (rb, ob, diff) = BoundsFor(problem.Box);
        var margin = EquivalenceMilp.MarginFor(rb, ob, problem.Output);
        var bound = OutputPartition.Upper(problem, rb, ob, diff) + margin;
        if (bound < problem.Delta)
            return new SubProblemResult(problem, DecidedBy.Bounds, SubProblemOutcome.Proved, clock.Elapsed.TotalSeconds, Bound: bound);

        // The LP relaxation of the whole encoding, Δ constraints included, often proves what the bounds could not,
        // at a fraction of a MILP's cost (the sequential verifier's LP stage, per sub-problem here).
        var lpBudget = TimeSpan.FromTicks(Math.Min(LpShareCap.Ticks, (timeout - clock.Elapsed).Ticks / 4));
        if (LpRelaxation && lpBudget > TimeSpan.Zero && !LpAlreadyFailed(problem)
            && LpTightening.DifferenceUpperBounds(_reference, _other, problem.Box, rb, ob, diff, [(problem.Output, problem.Sign)], lpBudget, cancellation,
                problem.Codes)[0] is { } lp
            && lp + margin < problem.Delta)
            return new SubProblemResult(problem, DecidedBy.Bounds, SubProblemOutcome.Proved, clock.Elapsed.TotalSeconds, Solver: "lp", Bound: lp);

        var left = timeout - clock.Elapsed;
        if (left <= TimeSpan.Zero || cancellation.IsCancellationRequested)
            return new SubProblemResult(problem, DecidedBy.Open, SubProblemOutcome.Unknown, clock.Elapsed.TotalSeconds, Bound: bound);
        // Plain solving: cores of this process that are idle (fewer open pieces than workers, at the start or later, when
        // another worker runs out of work) join the race with other configurations.
        var joiners = _portfolio.Count > 1 || Cores is null ? [] : SpareRacers.Where(c => c.Name != _portfolio[0].Name).ToList();
        if (_portfolio.Count == 1 && joiners.Count == 0)
            return SolveWith(_portfolio[0], problem, rb, ob, diff, left, cancellation) with { Seconds = clock.Elapsed.TotalSeconds };
        return Race(_portfolio, joiners, problem, rb, ob, diff, left, cancellation) with { Seconds = clock.Elapsed.TotalSeconds };
    }

    private SubProblemResult SolveWith(SolverConfiguration c, SubProblem p, GraphBounds rb, GraphBounds ob, GraphDifference? diff,
        TimeSpan limit, CancellationToken cancellation)
    {
        using var milp = EquivalenceMilp.ForOutput(_reference, _other, p.Box, p.Output, p.Sign, p.Delta, c.Backend, rb, ob, diff, p.Codes, c.ScipParameters);
        var r = milp.Solve(new MilpOptions(limit), cancellation);
        var notes = new List<string>();
        var (result, _) = Verifier.Interpret(_reference, _other, p.Box, p, r, milp, notes);
        foreach (var note in notes) _notes.Enqueue(note);
        return result with { Solver = c.Name };
    }

    /// <summary>A joiner that could start with less than this left would only add its set-up to the race.</summary>
    private static readonly TimeSpan LeastJoinTime = TimeSpan.FromSeconds(0.5);
    /// <summary>How often a running race looks for idle cores its joiners can take.</summary>
    private static readonly TimeSpan JoinPoll = TimeSpan.FromMilliseconds(200);

    /// <summary>
    /// Tier-2 parallelism: every configuration solves the same MILP on its own thread; the first proof or checked witness
    /// interrupts the others. <paramref name="joiners"/> start when a core of <see cref="Cores"/> is idle — at once or
    /// later in the race — and hold it until the race ends. With no definitive answer, the tightest dual bound among them
    /// is kept (each is sound).
    /// </summary>
    private SubProblemResult Race(IReadOnlyList<SolverConfiguration> starters, IReadOnlyList<SolverConfiguration> joiners, SubProblem p,
        GraphBounds rb, GraphBounds ob, GraphDifference? diff, TimeSpan limit, CancellationToken cancellation)
    {
        using var race = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        using var ended = new SemaphoreSlim(0);
        var clock = Stopwatch.StartNew();
        var results = new List<SubProblemResult>();
        var threads = new List<Thread>();
        Exception? failure = null;
        void Start(SolverConfiguration c, TimeSpan budget)
        {
            var thread = new Thread(() =>
            {
                try
                {
                    var r = SolveWith(c, p, rb, ob, diff, budget, race.Token);
                    lock (results) results.Add(r);
                    if (r.Outcome != SubProblemOutcome.Unknown) race.Cancel();
                }
                catch (Exception e)
                {
                    Interlocked.CompareExchange(ref failure, e, null);
                    race.Cancel();
                }
                finally
                {
                    ended.Release();
                }
            })
            { IsBackground = true, Name = $"qequiv-portfolio-{c.Name}" };
            threads.Add(thread);
            thread.Start();
        }
        foreach (var c in starters) Start(c, limit);
        var borrowed = 0;
        var finished = 0;
        try
        {
            while (finished < threads.Count)
            {
                var left = limit - clock.Elapsed;
                if (borrowed < joiners.Count && left > LeastJoinTime && !race.IsCancellationRequested)
                    for (var k = Cores!.Borrow(joiners.Count - borrowed); k > 0; k--)
                        Start(joiners[borrowed++], left);
                if (ended.Wait(JoinPoll)) finished++;
            }
        }
        finally
        {
            foreach (var t in threads) t.Join();
            if (borrowed > 0) Cores!.Release(borrowed);
        }
        if (failure is not null) throw new InvalidOperationException($"a portfolio solver failed: {failure.Message}", failure);
        var decided = results.Where(r => r.Outcome != SubProblemOutcome.Unknown).ToList();
        // A witness beats a proof only in the impossible case that both occur (then a bound is wrong); keep the witness
        // so the verdict rests on the re-executed point, and say so.
        if (decided.FirstOrDefault(r => r.Outcome == SubProblemOutcome.Violated) is { } violated)
        {
            if (decided.Any(r => r.Outcome == SubProblemOutcome.Proved))
                _notes.Enqueue($"sub-problem {p.Id}: one portfolio solver proved it while another found a checked witness; the witness stands");
            return violated;
        }
        if (decided.FirstOrDefault() is { } proved) return proved;
        return results.OrderBy(r => r.Bound ?? double.PositiveInfinity).First();
    }

    /// <summary>How far the bounds are from proving the sub-problem on <paramref name="box"/>: bound + margin − δ (≤ 0: proved).</summary>
    public double Gap(SubProblem problem, Box box)
    {
        var (rb, ob, diff) = BoundsFor(box);
        var p = problem with { Box = box };
        return OutputPartition.Upper(p, rb, ob, diff) + EquivalenceMilp.MarginFor(rb, ob, p.Output) - p.Delta;
    }

    /// <summary>
    /// A bisection pays when the bounds of the halves show it: one half is proved outright, or the worse half's gap is at
    /// most <paramref name="shrink"/> of the parent's. On the 784 inputs of an MNIST box halving one input barely moves the
    /// bounds, and restarting the MILP on a box no easier than before only throws its work away; on ACAS Xu's five inputs
    /// a halving often closes much of the gap.
    /// </summary>
    public bool SplitPays(SubProblem parent, IReadOnlyList<Box> halves, double shrink = 0.9)
    {
        var gap = Gap(parent, parent.Box);
        if (!(gap > 0)) return true;
        var worst = double.NegativeInfinity;
        foreach (var h in halves)
        {
            var g = Gap(parent, h);
            if (!(g > 0)) return true;
            worst = Math.Max(worst, g);
        }
        return worst <= shrink * gap;
    }

    private BoxBounds BoundsFor(Box box)
    {
        if (_cache.TryGetValue(box, out var cached)) return cached.Value;
        if (_cache.Count >= CacheLimit) return Compute(box);
        // Lazy so that two workers asking for the same box compute it once.
        return _cache.GetOrAdd(box, b => new Lazy<BoxBounds>(() => Compute(b))).Value;
    }

    private BoxBounds Compute(Box box)
    {
        var notes = new List<string>();
        var (rb, ob, diff, _) = Verifier.Bound(_reference, _other, box, _differential, notes);
        // The same note (e.g. "differential bounds not used") would repeat for every box; keep the first.
        foreach (var note in notes)
            if (!_notes.Contains(note)) _notes.Enqueue(note);
        return new BoxBounds(rb, ob, diff);
    }
}
