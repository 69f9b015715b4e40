using QEquiv.Falsification;
using QEquiv.Quantization;
using QEquiv.Regions;

namespace QEquiv.Verification;

/// <summary>The answer to the whole question ‖N(x) − Q(x)‖∞ &lt; δ on B.</summary>
public enum Verdict { Verified, Falsified, Unknown }

/// <summary>What settled a sub-problem; Open means nothing did (time ran out or it was never scheduled).</summary>
public enum DecidedBy { Falsifier, Bounds, Milp, Open }

/// <summary>Outcome of one sub-problem: Proved (no violation in its box), Violated (a checked witness), Unknown.</summary>
public enum SubProblemOutcome { Proved, Violated, Unknown }

/// <summary>
/// One disjunction-free piece of the property: is there x in <see cref="Box"/> with
/// Sign·(N_Output(x) − Q_Output(x)) ≥ Delta (and, when <see cref="Codes"/> is set, Q_Output's code in that range)?
/// Sign is +1 or −1. Pieces form a tree through <see cref="Parent"/> when a box is split, so progress can be
/// reported as proved volume. A plain record of numbers and arrays: it serializes with System.Text.Json as is,
/// which is how it crosses process boundaries.
/// </summary>
public sealed record SubProblem(int Id, int Output, int Sign, Box Box, double Delta, int Depth, int? Parent)
{
    /// <exception cref="ArgumentException">sign not ±1, negative output or depth, delta not finite and &gt; 0.</exception>
    public static SubProblem Create(int id, int output, int sign, Box box, double delta, int depth = 0, int? parent = null)
    {
        ArgumentNullException.ThrowIfNull(box);
        if (sign is not (1 or -1)) throw new ArgumentException($"sign must be +1 or -1, got {sign}", nameof(sign));
        if (output < 0) throw new ArgumentException($"output index must be ≥ 0, got {output}", nameof(output));
        if (depth < 0) throw new ArgumentException($"depth must be ≥ 0, got {depth}", nameof(depth));
        if (!double.IsFinite(delta) || delta <= 0) throw new ArgumentException($"delta must be finite and > 0, got {delta}", nameof(delta));
        return new SubProblem(id, output, sign, box, delta, depth, parent);
    }

    /// <summary>Solver time limit for this piece; null: the scheduler's default for its depth. Grows as pieces are split.</summary>
    public TimeSpan? Timeout { get; init; }

    /// <summary>Stage-2 output partition: only inputs where Q_Output's code lies in this range; null: any code.</summary>
    public CodeRange? Codes { get; init; }

    public override string ToString() =>
        $"#{Id} {(Sign > 0 ? "+" : "−")}(N{Output} − Q{Output}) ≥ {Delta:G6}{(Codes is { } c ? $", code {c}" : "")} on {Box} (depth {Depth})";
}

/// <summary>
/// How a sub-problem ended. Solver fields are null when no solver ran (falsifier, bounds); Objective
/// and Bound are the solver's best incumbent and dual bound of Sign·(N_j − Q_j), which give witnessed and
/// certified error bounds even when the solve was cut short.
/// </summary>
public sealed record SubProblemResult(
    SubProblem SubProblem,
    DecidedBy DecidedBy,
    SubProblemOutcome Outcome,
    double Seconds,
    string? Solver = null,
    string? SolverStatus = null,
    double? Objective = null,
    double? Bound = null,
    long? Nodes = null,
    Witness? Witness = null);
