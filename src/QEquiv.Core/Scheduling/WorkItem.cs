using QEquiv.Regions;

namespace QEquiv.Scheduling;

/// <summary>
/// One unit of work the engine schedules: where it sits in the split tree (id, parent, depth), the input box it covers,
/// its time limit, and a payload the engine never reads. The owner of the question (the equivalence property, or any
/// other) serialises into <see cref="Payload"/> what its solver needs; children of a split carry their parent's payload
/// unchanged on a half of its box, so the engine can split and reschedule items without knowing what they ask.
/// <para>A value: equal when every field and every payload byte is, which is how an answer is matched to its question
/// when it comes back from another machine.</para>
/// </summary>
public sealed record WorkItem(int Id, int? Parent, int Depth, Box Box, byte[] Payload)
{
    /// <summary>Solver time limit for this item; null: the engine's initial limit. Grows as items are split or retried.</summary>
    public TimeSpan? Timeout { get; init; }

    public bool Equals(WorkItem? other) =>
        other is not null && Id == other.Id && Parent == other.Parent && Depth == other.Depth && Timeout == other.Timeout
        && Box.Equals(other.Box) && Payload.AsSpan().SequenceEqual(other.Payload);

    public override int GetHashCode() => HashCode.Combine(Id, Parent, Depth, Timeout, Box, Payload.Length);

    public override string ToString() => $"#{Id} on {Box} (depth {Depth}{(Parent is { } p ? $", parent {p}" : "")})";
}

/// <summary>What an attempt established about its item: Proved (nothing in its box violates), Violated (a checked witness), Unknown.</summary>
public enum WorkOutcome { Proved, Violated, Unknown }

/// <summary>
/// A solver's answer for one item. <see cref="Witness"/> is the owner's serialised evidence of a violation (required with
/// Violated: the engine stops the run on it and hands it back untouched); <see cref="Detail"/> is whatever else the owner
/// wants recorded with the attempt (how it was decided, the solver's numbers), equally opaque to the engine.
/// </summary>
public sealed record WorkResult(WorkItem Item, WorkOutcome Outcome, double Seconds, byte[]? Witness = null, byte[]? Detail = null)
{
    /// <summary>An answer that says nothing: the item was not attempted, or its call was given no time.</summary>
    public static WorkResult Open(WorkItem item) => new(item, WorkOutcome.Unknown, 0);
}

/// <summary>
/// Decides one item within a time limit. Contract: Proved only with a proof; Violated only with a
/// <see cref="WorkResult.Witness"/> the owner already checked; Unknown otherwise (time limit, cancellation, spurious
/// candidate). It must return soon after <paramref name="cancellation"/> fires: the engine promises to stop all workers
/// within about a second of a witness. The answer must be about <paramref name="item"/> itself.
/// </summary>
public interface IWorkSolver
{
    WorkResult Solve(WorkItem item, TimeSpan timeout, CancellationToken cancellation);
}

/// <summary>How an undecided item is halved: the input to bisect, chosen by the owner (it knows what the payload asks).</summary>
public interface ISplitHeuristic
{
    /// <returns>An input index whose width is &gt; 0 (the engine falls back to the widest input otherwise).</returns>
    int Dimension(WorkItem item);
}

/// <summary>The widest input: with no knowledge of the question, halving the longest side shrinks every bound most evenly.</summary>
public sealed class WidestDimension : ISplitHeuristic
{
    public int Dimension(WorkItem item) => item.Box.WidestDimension();
}
