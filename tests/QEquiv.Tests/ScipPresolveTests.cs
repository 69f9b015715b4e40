using Google.OrTools.LinearSolver;
using QEquiv.Benchmarking;
using QEquiv.Encoding;
using QEquiv.Solvers;

namespace QEquiv.Tests;

/// <summary>
/// SCIP 10's presolve of varbound constraints (two-variable rows x + c·y with y integer, which the linear handler's presolve
/// makes of the encoding's rounding rows) cuts off the optimum of these models. The shipped settings switch off exactly that
/// (<see cref="MilpBackends.ScipSafeParameters"/>); these tests fail if it is switched back on.
/// </summary>
public class ScipPresolveTests
{
    /// <summary>
    /// The smallest reproduction: the 3-5-4-2 encoding below, delta-debugged (constraints removed, bounds relaxed, continuous
    /// variables substituted out, coefficients rounded) for as long as SCIP with full presolve still disagreed with HiGHS and
    /// SCIP without presolve. Integer codes q0_0, q0_1, q0_2, q0_4, q1_1 round continuous accumulators, as in the encoding.
    /// </summary>
    private static Variable BuildReduced(Solver s)
    {
        var inf = double.PositiveInfinity;
        var n = s.MakeNumVar(-inf, inf, "n2_0");
        var acc0 = s.MakeNumVar(-inf, inf, "acc0_0");
        var q00 = s.MakeIntVar(-inf, inf, "q0_0");
        var q01 = s.MakeIntVar(-inf, inf, "q0_1");
        var acc2 = s.MakeNumVar(-inf, 28374, "acc0_2");
        var q02 = s.MakeIntVar(35, inf, "q0_2");
        var q04 = s.MakeIntVar(-inf, inf, "q0_4");
        var acc11 = s.MakeNumVar(-inf, inf, "acc1_1");
        var q11 = s.MakeIntVar(-inf, inf, "q1_1");
        void Row(double lo, double hi, params (Variable V, double A)[] terms)
        {
            var c = s.MakeConstraint(lo, hi);
            foreach (var (v, a) in terms) c.SetCoefficient(v, a);
        }
        Row(64, 65, (acc2, -0.0057), (acc0, 0.0068));
        Row(-51, -50, (n, -67), (acc0, 0.0013));
        Row(-0.5, 0.5, (acc0, -0.0026), (q00, 1));
        Row(-35, -34, (q01, 1));
        Row(-0.5, 0.5, (acc2, -0.0025), (q02, 1));
        Row(-13, -12, (q04, 1), (acc0, -0.0026));
        Row(-1732, -1732, (q00, -106), (q01, -28), (q02, 44), (q04, 62), (acc11, 1));
        Row(-0.5, 0.5, (acc11, -0.004156), (q11, 1));
        s.Objective().SetCoefficient(n, 1);
        s.Objective().SetMaximization();
        return n;
    }

    /// <summary>HiGHS and SCIP without presolve agree on it (and it is what the shipped SCIP must find).</summary>
    private const double ReducedOptimum = 1.408146049165935;

    private static (Solver.ResultStatus Status, double Objective) Solve(Solver s, Func<Solver, Variable> build)
    {
        build(s);
        s.SetTimeLimit(60_000);
        using var p = new MPSolverParameters();
        p.SetDoubleParam(MPSolverParameters.DoubleParam.RELATIVE_MIP_GAP, 1e-9);
        var status = s.Solve(p);
        return (status, status == Solver.ResultStatus.OPTIMAL ? s.Objective().Value() : double.NaN);
    }

    private static Solver RawScip(string parameters)
    {
        var s = Solver.CreateSolver("SCIP") ?? throw new InvalidOperationException("no SCIP");
        s.SetNumThreads(1);
        s.SuppressOutput();
        Assert.True(s.SetSolverSpecificParametersAsString(parameters));
        return s;
    }

    [Fact]
    public void ShippedScipSettingsFindTheOptimumOfTheReducedModel()
    {
        using var scip = MilpBackends.Create(MilpBackend.Scip);
        var (status, value) = Solve(scip, BuildReduced);
        Assert.Equal(Solver.ResultStatus.OPTIMAL, status);
        Assert.Equal(ReducedOptimum, value, 6);
    }

    [Fact]
    public void ReferenceSolversAgreeOnTheReducedOptimum()
    {
        using (var highs = MilpBackends.Create(MilpBackend.Highs))
        {
            var (status, value) = Solve(highs, BuildReduced);
            Assert.Equal(Solver.ResultStatus.OPTIMAL, status);
            Assert.Equal(ReducedOptimum, value, 6);
        }
        using (var noPresolve = RawScip(MilpBackends.ScipPresolveOff + "misc/catchctrlc = FALSE\n"))
        {
            var (status, value) = Solve(noPresolve, BuildReduced);
            Assert.Equal(Solver.ResultStatus.OPTIMAL, status);
            Assert.Equal(ReducedOptimum, value, 6);
        }
    }

    /// <summary>
    /// The bug is still in the SCIP that OR-Tools ships: with full presolve the reduced model's "optimum" is too low. If this
    /// fails after an OR-Tools upgrade, SCIP's varbound presolve may have been fixed; the tests above then no longer prove
    /// that the shipped setting matters (re-run the randomized comparison of docs/verification.md before re-enabling it).
    /// </summary>
    [Fact]
    public void FullPresolveStillCutsOffTheOptimum()
    {
        using var full = RawScip("misc/catchctrlc = FALSE\n");
        var (status, value) = Solve(full, BuildReduced);
        Assert.Equal(Solver.ResultStatus.OPTIMAL, status);
        Assert.True(value < ReducedOptimum - 1e-3, $"SCIP with full presolve now finds {value} (optimum {ReducedOptimum})");
    }

    /// <summary>The original report: a 3-5-4-2 pair whose max of N_0 − Q_0 is 0.0893, where SCIP with presolve said 0.0040.</summary>
    [Fact]
    public void TheOriginalEncodingHasTheSameOptimumOnScipAndHighs()
    {
        var pair = TestNetworks.Random(21, [3, 5, 4, 2]);
        var box = TestNetworks.RandomBox(new Random(21), 3, maxRadius: 0.2);
        var options = new MilpOptions(TimeSpan.FromSeconds(60), RelativeGap: 1e-9);
        var optima = new[] { MilpBackend.Scip, MilpBackend.Highs }.Select(backend =>
        {
            using var milp = EquivalenceMilp.ForOutput(pair.Reference, pair.Other, box, 0, 1, delta: null, backend);
            var r = milp.Solve(options);
            Assert.Equal(MilpStatus.Optimal, r.Status);
            return r.Objective!.Value;
        }).ToArray();
        Assert.Equal(0.0892865754917835, optima[0], 6);
        Assert.Equal(optima[1], optima[0], 6);
    }

    [Fact]
    public void TheBenchCanAblatePresolveButNotInsideAPortfolio()
    {
        var c = BenchConfiguration.Parse("output:norace:nopresolve");
        Assert.False(c.ScipPresolve);
        Assert.Equal("output:norace:nopresolve", c.Name);
        Assert.True(BenchConfiguration.Parse("output").ScipPresolve);
        Assert.Throws<BadInputException>(() => BenchConfiguration.Parse("output:portfolio:nopresolve"));
        Assert.Throws<BadInputException>(() => BenchConfiguration.Parse("monolithic:nopresolve"));
        Assert.Contains("presolving/maxrounds = 0", SolverConfiguration.ScipWithoutPresolve.ScipParameters);
    }
}
