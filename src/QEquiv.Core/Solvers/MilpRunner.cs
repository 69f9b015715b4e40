using System.Diagnostics;
using Google.OrTools.LinearSolver;

namespace QEquiv.Solvers;

/// <summary>Runs a built OR-Tools model and translates its outcome into a <see cref="MilpResult"/>.</summary>
public static class MilpRunner
{
    public static MilpResult Solve(Solver solver, MilpBackend backend, IReadOnlyList<Variable> reported,
        MilpOptions? options = null, CancellationToken cancellation = default)
    {
        options ??= new MilpOptions();
        var watch = Stopwatch.StartNew();
        if (cancellation.IsCancellationRequested)
            return new MilpResult(MilpStatus.TimedOut, null, null, null, TimeSpan.Zero, null, backend, true, "cancelled before start");
        if (options.TimeLimit is { } limit)
            solver.SetTimeLimit(Math.Max(1, (long)limit.TotalMilliseconds));
        using var parameters = new MPSolverParameters();
        if (options.RelativeGap is { } gap)
            parameters.SetDoubleParam(MPSolverParameters.DoubleParam.RELATIVE_MIP_GAP, gap);
        if (options.PrimalTolerance is { } tol)
            parameters.SetDoubleParam(MPSolverParameters.DoubleParam.PRIMAL_TOLERANCE, tol);

        var interrupted = false;
        Solver.ResultStatus status;
        // InterruptSolve is asynchronous-safe in OR-Tools for SCIP (and HiGHS); CBC ignores it (returns false),
        // in which case the time limit is the only way out.
        using (cancellation.Register(() => { interrupted = true; solver.InterruptSolve(); }))
            status = solver.Solve(parameters);
        watch.Stop();

        var timeLimitHit = options.TimeLimit is { } tl && watch.Elapsed >= tl * 0.98;
        var stopped = interrupted || timeLimitHit;
        var mapped = status switch
        {
            Solver.ResultStatus.OPTIMAL => MilpStatus.Optimal,
            Solver.ResultStatus.FEASIBLE => MilpStatus.Feasible,
            Solver.ResultStatus.INFEASIBLE => MilpStatus.Infeasible,
            Solver.ResultStatus.NOT_SOLVED => MilpStatus.TimedOut,
            // OR-Tools reports ABNORMAL for some solvers when interrupted without an incumbent.
            Solver.ResultStatus.ABNORMAL when stopped => MilpStatus.TimedOut,
            _ => MilpStatus.Error,
        };
        // An interrupted solve may still say OPTIMAL for its current node; do not trust a proof then.
        if (mapped == MilpStatus.Optimal && interrupted) mapped = MilpStatus.Feasible;

        double[]? solution = null;
        double? objective = null, bound = null;
        if (mapped is MilpStatus.Optimal or MilpStatus.Feasible)
        {
            solution = new double[reported.Count];
            for (var i = 0; i < solution.Length; i++) solution[i] = reported[i].SolutionValue();
            objective = solver.Objective().Value();
            bound = solver.Objective().BestBound();
            if (double.IsNaN(bound.Value)) bound = null;
        }
        // Without an incumbent OR-Tools reports a best bound of 0 (measured with SCIP on a timed-out root):
        // not a bound at all, so none is reported.
        long? nodes = null;
        try
        {
            var n = solver.Nodes();
            if (n >= 0) nodes = n;
        }
        catch (ApplicationException)
        {
            // Not every backend reports nodes; absence is fine.
        }
        return new MilpResult(mapped, objective, bound, solution, watch.Elapsed, nodes, backend, interrupted,
            status == Solver.ResultStatus.OPTIMAL || status == Solver.ResultStatus.FEASIBLE || status == Solver.ResultStatus.INFEASIBLE
                ? null : $"solver status {status}");
    }
}
