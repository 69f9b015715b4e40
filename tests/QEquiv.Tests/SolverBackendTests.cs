using Google.OrTools.LinearSolver;
using QEquiv.Solvers;

namespace QEquiv.Tests;

public class SolverBackendTests
{
    public static TheoryData<MilpBackend> Backends => new() { MilpBackend.Scip, MilpBackend.Highs, MilpBackend.Cbc };

    /// <summary>
    /// max x + 2y s.t. 2x + 2y ≤ 7, x − y ≤ 0.5, x,y ∈ ℤ∩[0,10]: LP relaxation 7 at (0, 3.5), integer optimum 6.
    /// A backend that silently solves the relaxation (GLOP/PDLP/HIGHS_LP) would return 7.
    /// </summary>
    [Theory]
    [MemberData(nameof(Backends))]
    public void BackendSolvesTheIntegerProblemNotItsRelaxation(MilpBackend backend)
    {
        using var solver = MilpBackends.Create(backend);
        var x = solver.MakeIntVar(0, 10, "x");
        var y = solver.MakeIntVar(0, 10, "y");
        solver.Add(2 * x + 2 * y <= 7);
        solver.Add(x - y <= 0.5);
        solver.Maximize(x + 2 * y);
        var result = MilpRunner.Solve(solver, backend, [x, y], new MilpOptions(TimeSpan.FromSeconds(10)));
        Assert.Equal(MilpStatus.Optimal, result.Status);
        Assert.Equal(6, result.Objective!.Value, 6);
        Assert.Equal(6, result.BestBound!.Value, 6);
        Assert.Equal(3, result.Solution![1], 6);
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void InfeasibleModelIsReportedInfeasible(MilpBackend backend)
    {
        using var solver = MilpBackends.Create(backend);
        var x = solver.MakeIntVar(0, 10, "x");
        solver.Add(2 * x == 3);
        solver.Maximize(x + 0.0);
        var result = MilpRunner.Solve(solver, backend, [x]);
        Assert.Equal(MilpStatus.Infeasible, result.Status);
        Assert.Null(result.Solution);
    }

    [Fact]
    public void CancelledTokenStopsBeforeSolving()
    {
        using var solver = MilpBackends.Create(MilpBackend.Scip);
        var x = solver.MakeIntVar(0, 10, "x");
        solver.Maximize(x + 0.0);
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        var result = MilpRunner.Solve(solver, MilpBackend.Scip, [x], null, cts.Token);
        Assert.Equal(MilpStatus.TimedOut, result.Status);
        Assert.True(result.Interrupted);
    }

    [Fact]
    public void SolverIdsAreMipSolversOnly()
    {
        Assert.Equal("SCIP", MilpBackends.SolverId(MilpBackend.Scip));
        Assert.Equal("HIGHS", MilpBackends.SolverId(MilpBackend.Highs));
        Assert.Equal("CBC", MilpBackends.SolverId(MilpBackend.Cbc));
        foreach (var backend in Enum.GetValues<MilpBackend>())
        {
            using var s = MilpBackends.Create(backend);
            Assert.True(s.IsMip());
        }
    }
}
