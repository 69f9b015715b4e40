using System.Diagnostics;
using QEquiv.Falsification;
using QEquiv.Networks;
using QEquiv.Regions;
using QEquiv.Scheduling;
using QEquiv.Solvers;

namespace QEquiv.Verification;

/// <summary>
/// Options of <see cref="ParallelVerifier"/>. Not called ParallelOptions: that name is System.Threading.Tasks', which
/// every file sees through implicit usings.
/// </summary>
/// <param name="Workers">0: all cores.</param>
/// <param name="InitialTimeout">Per sub-problem limit at depth 0; null: <see cref="EngineOptions.DefaultInitialTimeout"/> (5 s).</param>
/// <param name="Timeout">Global wall time including the falsifier; null: none.</param>
public sealed record ParallelVerifyOptions(
    double Delta,
    int Workers = 0,
    TimeSpan? InitialTimeout = null,
    double TimeoutFactor = 1.5,
    TimeSpan? Timeout = null,
    MilpBackend Backend = MilpBackends.Default,
    int Seed = 0)
{
    public int Bisections { get; init; } = 1;
    public int MaxDepth { get; init; } = 20;
    public ISplitHeuristic Split { get; init; } = new WidestDimension();
    public double FalsifierShare { get; init; } = 0.1;
    public TimeSpan FalsifierCap { get; init; } = TimeSpan.FromSeconds(5);
    public bool DifferentialBounds { get; init; } = true;
    public CancellationToken Cancellation { get; init; }
}

/// <summary>
/// δ-equivalence with N workers: the same falsifier as <see cref="Verifier"/>, then the split-and-conquer
/// <see cref="Engine"/> over the 2m (output, sign) sub-problems with <see cref="MilpSubProblemSolver"/>. Same verdict
/// rules: verified only when every leaf is proved, falsified only with a checked witness, otherwise unknown.
/// </summary>
public static class ParallelVerifier
{
    public static VerificationReport Verify(FloatNetwork n, QuantizedNetwork q, Box box, ParallelVerifyOptions options)
    {
        Verifier.Validate(n, q, box, options.Delta);
        var total = Stopwatch.StartNew();
        var delta = options.Delta;
        var notes = new List<string>();
        var backend = Verifier.BackendName(options.Backend);
        var roots = new List<SubProblem>();
        for (var j = 0; j < n.OutputSize; j++)
            foreach (var s in new[] { 1, -1 })
                roots.Add(SubProblem.Create(roots.Count, j, s, box, delta));

        var screen = Verifier.Screen(n, q, box, roots, options.Seed,
            Verifier.FalsifierBudget(options.Timeout, options.FalsifierShare, options.FalsifierCap), options.DifferentialBounds, options.Cancellation, notes);
        if (screen.Witness is { } found)
            return Verifier.FalsifiedReport(roots, screen, found, Strategy.Output, backend, total, notes);
        var solver = new MilpSubProblemSolver(n, q, options.Backend, options.DifferentialBounds);
        // Root bounds once, for the report and to spare every root its own identical bound computation.
        solver.Seed(box, new MilpSubProblemSolver.BoxBounds(screen.Float!, screen.Quantized!, screen.Difference));
        var discharged = roots.Where(r => screen.Outcome[r.Id] is not null).Select(r => screen.Outcome[r.Id]!).ToList();

        var clock = Stopwatch.StartNew();
        TimeSpan? left = options.Timeout is { } t ? t - total.Elapsed : null;
        if (left is { } l && l <= TimeSpan.Zero) left = TimeSpan.FromTicks(1);
        var engine = new Engine(solver, new EngineOptions(options.Workers, options.InitialTimeout, options.TimeoutFactor,
            options.Bisections, options.MaxDepth, left)
        {
            Split = options.Split,
            Cancellation = options.Cancellation,
        });
        var run = engine.Run(roots.Where(r => screen.Outcome[r.Id] is null).ToList());
        var engineSeconds = clock.Elapsed.TotalSeconds;
        foreach (var note in solver.Notes) if (!notes.Contains(note)) notes.Add(note);
        if (!run.WorkersStopped) notes.Add("some solver calls did not return within the grace period after the stop");

        Witness? witness = run.Witness is { } found2 ? Verifier.Confirm(n, q, found2, delta) : null;
        var leaves = discharged.Concat(run.Proved).Concat(run.Open).Concat(run.Violation is { } v ? [v] : []).OrderBy(r => r.SubProblem.Id).ToList();
        var verdict = witness is not null ? Verdict.Falsified
            : (run.Status == EngineStatus.Proved || discharged.Count == roots.Count) && run.Open.Count == 0 ? Verdict.Verified
            : Verdict.Unknown;
        if (verdict == Verdict.Unknown)
        {
            // Roots the bounds discharged never reached the engine: they count as proved leaves covering their whole box.
            var provedLeaves = discharged.Count + run.Proved.Count;
            var provedVolume = (discharged.Count + run.Roots.Sum(r => r.ProvedVolume)) / roots.Count;
            notes.Add($"proved {provedLeaves} of {leaves.Count} leaf sub-problems ({(double)provedLeaves / leaves.Count:P1}), {provedVolume:P2} of the input volume averaged over (output, sign); {run.Open.Count} open{(run.DeadlineReached ? "; global timeout reached" : "")}");
        }
        return new VerificationReport(verdict, delta, Strategy.Output, backend, witness, leaves,
            new StageTimings(screen.FalsifySeconds, screen.BoundsSeconds, engineSeconds, total.Elapsed.TotalSeconds), notes, screen.Bounds)
        {
            Engine = run,
        };
    }
}
