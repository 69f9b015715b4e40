using System.Text.Json;
using System.Text.Json.Serialization;
using QEquiv.Falsification;
using QEquiv.Quantization;
using QEquiv.Regions;
using QEquiv.Scheduling;

namespace QEquiv.Equivalence;

/// <summary>What settled a sub-problem; Open means nothing did (time ran out or it was never scheduled).</summary>
public enum DecidedBy { Falsifier, Bounds, Milp, Open }

/// <summary>Outcome of one sub-problem: Proved (no violation in its box), Violated (a checked witness), Unknown.</summary>
public enum SubProblemOutcome { Proved, Violated, Unknown }

/// <summary>
/// One disjunction-free piece of the property: is there x in <see cref="Box"/> with
/// Sign·(N_Output(x) − Q_Output(x)) ≥ Delta (and, when <see cref="Codes"/> is set, Q_Output's code in that range)?
/// Sign is +1 or −1. Pieces form a tree through <see cref="Parent"/> when a box is split, so progress can be
/// reported as proved volume. A plain record of numbers and arrays: it serializes with System.Text.Json as is.
/// <para>To the engine it is a <see cref="WorkItem"/> (<see cref="ToWorkItem"/>): the tree position, box and limit in the
/// open, the question (output, sign, δ, code range) as the payload only this namespace reads (<see cref="Of"/>).</para>
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

    /// <summary>This piece as the engine schedules it: the question goes into the payload.</summary>
    public WorkItem ToWorkItem() =>
        new(Id, Parent, Depth, Box, EquivalenceCodec.Encode(new Question(Output, Sign, Delta, Codes))) { Timeout = Timeout };

    /// <summary>The piece a work item of this property carries (a root, or a child the engine made on part of its box).</summary>
    /// <exception cref="InvalidDataException">the payload is not an equivalence question.</exception>
    public static SubProblem Of(WorkItem item)
    {
        ArgumentNullException.ThrowIfNull(item);
        var q = EquivalenceCodec.Decode<Question>(item.Payload, "work item");
        return new SubProblem(item.Id, q.Output, q.Sign, item.Box, q.Delta, item.Depth, item.Parent) { Timeout = item.Timeout, Codes = q.Codes };
    }

    /// <summary>The payload: everything a piece asks beyond where it sits in the split tree.</summary>
    private sealed record Question(int Output, int Sign, double Delta, CodeRange? Codes);
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
    Witness? Witness = null)
{
    /// <summary>This answer as the engine records it: outcome and time in the open, the witness and the solver's
    /// numbers as opaque bytes. <paramref name="item"/>: the item asked, when it is this sub-problem (spares re-encoding).</summary>
    public WorkResult ToWork(WorkItem? item = null) => new(
        item is not null && SubProblem.Equals(SubProblem.Of(item)) ? item : SubProblem.ToWorkItem(),
        Outcome switch
        {
            SubProblemOutcome.Proved => WorkOutcome.Proved,
            SubProblemOutcome.Violated => WorkOutcome.Violated,
            _ => WorkOutcome.Unknown,
        },
        Seconds,
        Witness is null ? null : EquivalenceCodec.Encode(Witness),
        EquivalenceCodec.Encode(new Detail(DecidedBy, Solver, SolverStatus, Objective, Bound, Nodes)));

    /// <summary>An engine record read back in the property's terms. An answer the engine made itself (never attempted,
    /// no time left, a failed call) carries no detail and is open.</summary>
    public static SubProblemResult Of(WorkResult r)
    {
        ArgumentNullException.ThrowIfNull(r);
        var d = r.Detail is { } bytes ? EquivalenceCodec.Decode<Detail>(bytes, "attempt detail") : new Detail(DecidedBy.Open, null, null, null, null, null);
        var outcome = r.Outcome switch
        {
            WorkOutcome.Proved => SubProblemOutcome.Proved,
            WorkOutcome.Violated => SubProblemOutcome.Violated,
            _ => SubProblemOutcome.Unknown,
        };
        var witness = r.Witness is { } w ? EquivalenceCodec.Decode<Witness>(w, "witness") : null;
        return new SubProblemResult(SubProblem.Of(r.Item), d.DecidedBy, outcome, r.Seconds, d.Solver, d.SolverStatus, d.Objective, d.Bound, d.Nodes, witness);
    }

    private sealed record Detail(DecidedBy DecidedBy, string? Solver, string? SolverStatus, double? Objective, double? Bound, long? Nodes);
}

/// <summary>The one serialisation of this property's payloads, witnesses and details (compact JSON, UTF-8).</summary>
public static class EquivalenceCodec
{
    /// <summary>Bounds and errors may be infinite, which plain JSON cannot hold.</summary>
    public static JsonSerializerOptions Json { get; } = new()
    {
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new JsonStringEnumConverter() },
    };

    public static byte[] Encode<T>(T value) => JsonSerializer.SerializeToUtf8Bytes(value, Json);

    /// <exception cref="InvalidDataException">the bytes are not a <typeparamref name="T"/>.</exception>
    public static T Decode<T>(byte[] bytes, string what)
    {
        try
        {
            return JsonSerializer.Deserialize<T>(bytes, Json) ?? throw new InvalidDataException($"an empty {what}");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"a {what} that is not of the equivalence property: {e.Message}", e);
        }
    }
}
