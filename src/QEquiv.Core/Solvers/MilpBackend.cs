using Google.OrTools.LinearSolver;

namespace QEquiv.Solvers;

/// <summary>
/// The MIP solvers the exact encoding may run on. Deliberately no GLOP/PDLP/CLP (they solve only the LP
/// relaxation yet report OPTIMAL) and no CP-SAT (it rounds continuous variables): both would make the
/// verdicts unsound.
/// </summary>
public enum MilpBackend { Scip, Highs, Cbc }

public static class MilpBackends
{
    public const MilpBackend Default = MilpBackend.Scip;

    /// <summary>OR-Tools 9.15 solver ids; "HIGHS" selects HiGHS' MIP solver (HIGHS_LP would be LP-only).</summary>
    public static string SolverId(MilpBackend backend) => backend switch
    {
        MilpBackend.Scip => "SCIP",
        MilpBackend.Highs => "HIGHS",
        MilpBackend.Cbc => "CBC",
        _ => throw new ArgumentOutOfRangeException(nameof(backend), backend, "unknown MILP backend"),
    };

    /// <summary>
    /// SCIP 10's presolve returned wrong "optimal" values on these encodings (0.0040 instead of 0.0893 on a 3-5-4-2 pair;
    /// 26 of 352 random (output, sign) MILPs): the culprit is the presolving of the <c>varbound</c> constraint handler, which
    /// the linear handler's presolve feeds with the two-variable rounding rows (code − c·accumulator ∈ [−½ − w, ½ + w] with an
    /// integer code). Switching off only that handler's presolve rounds (its propagation stays) gave the optima of HiGHS and of
    /// SCIP without presolve on every reproduction and on a randomized comparison; every other presolver stays on
    /// (docs/verification.md, "SCIP presolve"; <c>ScipPresolveTests</c> keeps the smallest reproduction).
    /// SCIP also takes over SIGINT while it solves (misc/catchctrlc): Ctrl+C then only cut the current MILP short and
    /// never reached QEquiv, so a run could not be interrupted; the process keeps the signal.
    /// </summary>
    public const string ScipSafeParameters = "constraints/varbound/maxprerounds = 0\nmisc/catchctrlc = FALSE\n";

    /// <summary>All of SCIP's presolve off (what QEquiv ran before the culprit was known): a sound but slower setting, kept for
    /// ablations (the bench's <c>:nopresolve</c> modifier). Settings may turn presolve off, never the culprit back on.</summary>
    public const string ScipPresolveOff = "presolving/maxrounds = 0\n";

    /// <summary>
    /// A fresh single-threaded MIP solver. Single-threaded because the scheduling layer runs several
    /// solves in parallel and owns the cores; solver-internal threads would oversubscribe them.
    /// </summary>
    /// <param name="scipParameters">Extra SCIP settings (SCIP parameter-file syntax), e.g. a portfolio member's seed;
    /// ignored by other backends. They cannot turn the varbound presolve back on: the safety parameters are applied last.</param>
    public static Solver Create(MilpBackend backend, string? scipParameters = null)
    {
        var id = SolverId(backend);
        var solver = Solver.CreateSolver(id)
            ?? throw new NotSupportedException($"OR-Tools could not create the {id} solver on this platform");
        if (!solver.IsMip())
        {
            solver.Dispose();
            throw new NotSupportedException($"OR-Tools solver {id} is not a MIP solver; refusing it for an exact encoding");
        }
        if (!solver.SetNumThreads(1))
        {
            solver.Dispose();
            throw new NotSupportedException($"OR-Tools solver {id} cannot be restricted to one thread");
        }
        solver.SuppressOutput();
        // HiGHS prints its banner on the process's standard output, ahead of the verdict line, unless told not to.
        if (backend == MilpBackend.Highs) solver.SetSolverSpecificParametersAsString("output_flag=false\nlog_to_console=false\n");
        if (backend == MilpBackend.Scip && !solver.SetSolverSpecificParametersAsString((scipParameters ?? "") + ScipSafeParameters))
        {
            solver.Dispose();
            throw new NotSupportedException("SCIP rejected its safety parameters");
        }
        return solver;
    }
}

/// <summary>
/// One member of a solver portfolio: a backend and, for SCIP, settings that make it search differently (another
/// random seed permutes the branching order, which is what makes racing two SCIPs worth it on hard instances).
/// </summary>
public sealed record SolverConfiguration(string Name, MilpBackend Backend, string? ScipParameters = null)
{
    public static SolverConfiguration Plain(MilpBackend backend) => new(backend.ToString().ToLowerInvariant(), backend);

    /// <summary>
    /// The default portfolio: SCIP as configured everywhere else, SCIP with a shifted seed and permuted variables,
    /// and HiGHS (a different code base, so a different search altogether). CBC is left out because it ignores
    /// interruption, and a race needs losers that stop.
    /// </summary>
    public static IReadOnlyList<SolverConfiguration> DefaultPortfolio { get; } =
    [
        Plain(MilpBackend.Scip),
        new("scip-seed7", MilpBackend.Scip, "randomization/randomseedshift = 7\nrandomization/permutevars = TRUE\n"),
        Plain(MilpBackend.Highs),
    ];

    /// <summary>SCIP with all presolve off (<see cref="MilpBackends.ScipPresolveOff"/>), for the presolve ablation.</summary>
    public static SolverConfiguration ScipWithoutPresolve { get; } = new("scip-nopresolve", MilpBackend.Scip, MilpBackends.ScipPresolveOff);
}
