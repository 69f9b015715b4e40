namespace QEquiv.Solvers;

public enum MilpStatus
{
    /// <summary>Proved to have no solution.</summary>
    Infeasible,
    /// <summary>A solution exists (incumbent) but optimality was not proved (time limit, gap, interruption).</summary>
    Feasible,
    /// <summary>Solved to optimality within the relative gap.</summary>
    Optimal,
    /// <summary>Stopped (time limit or cancellation) with no solution and no proof.</summary>
    TimedOut,
    /// <summary>The solver failed (numerical trouble, invalid model, unbounded).</summary>
    Error,
}

/// <summary>Options for one solve; null fields keep the solver's default.</summary>
public sealed record MilpOptions(TimeSpan? TimeLimit = null, double? RelativeGap = null, double? PrimalTolerance = null);

/// <summary>
/// The outcome of one solve. <see cref="Objective"/> is the incumbent's value, <see cref="BestBound"/> the
/// proved bound on the optimum (for maximisation an upper bound); <see cref="Solution"/> holds the values of
/// the variables the caller asked for (the network inputs), null when there is no incumbent.
/// </summary>
public sealed record MilpResult(
    MilpStatus Status,
    double? Objective,
    double? BestBound,
    double[]? Solution,
    TimeSpan WallTime,
    long? Nodes,
    MilpBackend Backend,
    bool Interrupted,
    string? Message = null)
{
    public bool HasSolution => Solution is not null;
}
