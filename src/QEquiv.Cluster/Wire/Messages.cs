using QEquiv.Scheduling;

namespace QEquiv.Cluster.Wire;

/// <summary>What a worker needs to build its solver for a job: the plan (JSON, as it heads a job log) and both models
/// as bytes, so workers need no shared file system.</summary>
[GenerateSerializer, Immutable]
public sealed class JobModels
{
    [Id(0)] public required string PlanJson { get; init; }
    [Id(1)] public required byte[] FloatModel { get; init; }
    [Id(2)] public required byte[] QuantizedModel { get; init; }
    [Id(3)] public required string FloatName { get; init; }
    [Id(4)] public required string QuantizedName { get; init; }
}

/// <summary>A job as a client submits it: what workers get, and the run's own limits.</summary>
[GenerateSerializer, Immutable]
public sealed class JobTicket
{
    [Id(0)] public required JobModels Job { get; init; }
    /// <summary>Wall time for the engine phase, counted on the coordinator from submission; null: none.</summary>
    [Id(1)] public TimeSpan? Timeout { get; init; }
    /// <summary>Job log path on the coordinator's machine; null: none.</summary>
    [Id(2)] public string? Log { get; init; }
    [Id(3)] public bool Resume { get; init; }
}

/// <summary>The coordinator's answer to a worker asking for work: a lease, wait (others may still add work), or done.</summary>
[GenerateSerializer, Immutable]
public sealed class Offer
{
    [Id(0)] public TakeStatus Status { get; init; }
    [Id(1)] public Lease? Lease { get; init; }
}

/// <summary>A lease a worker still holds, renewed by its heartbeat.</summary>
[GenerateSerializer, Immutable]
public readonly record struct HeldLease([property: Id(0)] string JobId, [property: Id(1)] long LeaseId);

/// <summary>A job's state for the client's progress display.</summary>
[GenerateSerializer, Immutable]
public sealed class JobStatus
{
    [Id(0)] public required EngineSnapshot Snapshot { get; init; }
    /// <summary>Nothing left to do, and every worker returned its lease or the stop grace passed.</summary>
    [Id(1)] public bool Finished { get; init; }
    [Id(2)] public int Workers { get; init; }
}

/// <summary>A job log's plan, or why it cannot be resumed.</summary>
[GenerateSerializer, Immutable]
public sealed class ResumeAnswer
{
    [Id(0)] public string? PlanJson { get; init; }
    [Id(1)] public string? Error { get; init; }
}

/// <summary>The coordinator's answer to a worker process's heartbeat.</summary>
[GenerateSerializer, Immutable]
public sealed class HeartbeatAnswer
{
    /// <summary>Jobs the worker named that are stopped, finished or unknown: drop them.</summary>
    [Id(0)] public required string[] Stopped { get; init; }
    /// <summary>Jobs that still have work, oldest first.</summary>
    [Id(1)] public required string[] Active { get; init; }
}
