using System.Collections.Concurrent;
using System.Diagnostics;
using QEquiv.Bounds;
using QEquiv.Encoding;
using QEquiv.Networks;
using QEquiv.Regions;
using QEquiv.Scheduling;
using QEquiv.Solvers;

namespace QEquiv.Verification;

/// <summary>
/// Decides a sub-problem the way <see cref="Verifier"/> decides one: bounds of its own box first (so a child of a split
/// is re-bounded before any solver call and often discharged outright, which is the point of splitting), then one
/// per-output MILP with those bounds, read by <see cref="Verifier.Interpret"/>. Thread-safe: every call builds its own
/// model; the networks are only read.
/// </summary>
public sealed class MilpSubProblemSolver : ISubProblemSolver
{
    /// <summary>Bounds are cached per box because the 2m roots (and, with the same split choices, their children) share
    /// boxes; past this many entries new boxes are bounded without caching so a long run cannot exhaust memory.</summary>
    private const int CacheLimit = 4096;
    /// <summary>Most of a sub-problem's time stays with the MILP: the LP gets a quarter of it, at most this.</summary>
    private static readonly TimeSpan LpShareCap = TimeSpan.FromSeconds(2);

    private readonly FloatNetwork _n;
    private readonly QuantizedNetwork _q;
    private readonly MilpBackend _backend;
    private readonly bool _differential;
    private readonly ConcurrentDictionary<Box, Lazy<BoxBounds>> _cache = new();
    private readonly ConcurrentQueue<string> _notes = new();

    public MilpSubProblemSolver(FloatNetwork n, QuantizedNetwork q, MilpBackend backend = MilpBackends.Default, bool differentialBounds = true)
    {
        _n = n ?? throw new ArgumentNullException(nameof(n));
        _q = q ?? throw new ArgumentNullException(nameof(q));
        _backend = backend;
        _differential = differentialBounds;
    }

    /// <summary>Notes from bounding and solving (spurious candidates, bounds not used), in arrival order.</summary>
    public IReadOnlyList<string> Notes => [.. _notes];

    internal sealed record BoxBounds(FloatNetworkBounds Float, QuantizedNetworkBounds Quantized, DifferenceBounds? Difference);

    /// <summary>Hands over bounds already computed for a box (the root's, by <see cref="ParallelVerifier"/>).</summary>
    internal void Seed(Box box, BoxBounds bounds) => _cache.TryAdd(box, new Lazy<BoxBounds>(bounds));

    public SubProblemResult Solve(SubProblem problem, TimeSpan timeout, CancellationToken cancellation)
    {
        ArgumentNullException.ThrowIfNull(problem);
        var clock = Stopwatch.StartNew();
        if (cancellation.IsCancellationRequested)
            return new SubProblemResult(problem, DecidedBy.Open, SubProblemOutcome.Unknown, 0);
        var (fb, qb, diff) = BoundsFor(problem.Box);
        var bound = Verifier.Upper(fb, qb, diff, problem.Output, problem.Sign) + EquivalenceMilp.MarginFor(_q, qb, problem.Output);
        if (bound < problem.Delta)
            return new SubProblemResult(problem, DecidedBy.Bounds, SubProblemOutcome.Proved, clock.Elapsed.TotalSeconds, Bound: bound);

        // The LP relaxation of the whole encoding, Δ constraints included, often proves what the bounds could not,
        // at a fraction of a MILP's cost (the sequential verifier's LP stage, per sub-problem here).
        var lpBudget = TimeSpan.FromTicks(Math.Min(LpShareCap.Ticks, (timeout - clock.Elapsed).Ticks / 4));
        if (lpBudget > TimeSpan.Zero
            && LpTightening.DifferenceUpperBounds(_n, _q, problem.Box, fb, qb, diff, [(problem.Output, problem.Sign)], lpBudget, cancellation)[0] is { } lp
            && lp + EquivalenceMilp.MarginFor(_q, qb, problem.Output) < problem.Delta)
            return new SubProblemResult(problem, DecidedBy.Bounds, SubProblemOutcome.Proved, clock.Elapsed.TotalSeconds, Solver: "lp", Bound: lp);

        var left = timeout - clock.Elapsed;
        if (left <= TimeSpan.Zero || cancellation.IsCancellationRequested)
            return new SubProblemResult(problem, DecidedBy.Open, SubProblemOutcome.Unknown, clock.Elapsed.TotalSeconds, Bound: bound);
        using var milp = EquivalenceMilp.ForOutput(_n, _q, problem.Box, problem.Output, problem.Sign, problem.Delta, _backend, fb, qb, diff);
        var r = milp.Solve(new MilpOptions(left), cancellation);
        var notes = new List<string>();
        var (result, _) = Verifier.Interpret(_n, _q, problem.Box, problem, r, milp, notes);
        foreach (var note in notes) _notes.Enqueue(note);
        return result with { Seconds = clock.Elapsed.TotalSeconds };
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
        var (fb, qb, diff, _) = Verifier.Bound(_n, _q, box, _differential, notes);
        // The same note (e.g. "differential bounds not used") would repeat for every box; keep the first.
        foreach (var note in notes)
            if (!_notes.Contains(note)) _notes.Enqueue(note);
        return new BoxBounds(fb, qb, diff);
    }
}
