using QEquiv.Regions;
using QEquiv.Scheduling;

namespace QEquiv.Cluster.Wire;

// Orleans serializes the engine's own records through these surrogates, so QEquiv.Core stays free of Orleans: the
// single-machine default never loads it. Each surrogate mirrors its record field for field; ids are the wire format
// and must never be renumbered. Only the engine's records cross: what a work item asks, its witness and its solver's
// numbers are the owner's bytes, which the cluster moves without reading.

[GenerateSerializer]
public struct BoxSurrogate
{
    [Id(0)] public double[] Lo;
    [Id(1)] public double[] Hi;
}

[RegisterConverter]
public sealed class BoxConverter : IConverter<Box, BoxSurrogate>
{
    public Box ConvertFromSurrogate(in BoxSurrogate s) => new(s.Lo, s.Hi);
    public BoxSurrogate ConvertToSurrogate(in Box v) => new() { Lo = v.Lo, Hi = v.Hi };
}

[GenerateSerializer]
public struct WorkItemSurrogate
{
    [Id(0)] public int Id;
    [Id(1)] public int? Parent;
    [Id(2)] public int Depth;
    [Id(3)] public Box Box;
    [Id(4)] public byte[] Payload;
    [Id(5)] public TimeSpan? Timeout;
}

[RegisterConverter]
public sealed class WorkItemConverter : IConverter<WorkItem, WorkItemSurrogate>
{
    public WorkItem ConvertFromSurrogate(in WorkItemSurrogate s) => new(s.Id, s.Parent, s.Depth, s.Box, s.Payload) { Timeout = s.Timeout };

    public WorkItemSurrogate ConvertToSurrogate(in WorkItem v) => new()
    {
        Id = v.Id, Parent = v.Parent, Depth = v.Depth, Box = v.Box, Payload = v.Payload, Timeout = v.Timeout,
    };
}

[GenerateSerializer]
public struct WorkResultSurrogate
{
    [Id(0)] public WorkItem Item;
    [Id(1)] public WorkOutcome Outcome;
    [Id(2)] public double Seconds;
    [Id(3)] public byte[]? Witness;
    [Id(4)] public byte[]? Detail;
}

[RegisterConverter]
public sealed class WorkResultConverter : IConverter<WorkResult, WorkResultSurrogate>
{
    public WorkResult ConvertFromSurrogate(in WorkResultSurrogate s) => new(s.Item, s.Outcome, s.Seconds, s.Witness, s.Detail);

    public WorkResultSurrogate ConvertToSurrogate(in WorkResult v) => new()
    {
        Item = v.Item, Outcome = v.Outcome, Seconds = v.Seconds, Witness = v.Witness, Detail = v.Detail,
    };
}

[GenerateSerializer]
public struct LeaseSurrogate
{
    [Id(0)] public long Id;
    [Id(1)] public WorkItem Item;
    [Id(2)] public TimeSpan Limit;
}

[RegisterConverter]
public sealed class LeaseConverter : IConverter<Lease, LeaseSurrogate>
{
    public Lease ConvertFromSurrogate(in LeaseSurrogate s) => new(s.Id, s.Item, s.Limit);
    public LeaseSurrogate ConvertToSurrogate(in Lease v) => new() { Id = v.Id, Item = v.Item, Limit = v.Limit };
}

[GenerateSerializer]
public struct SplitPlanSurrogate
{
    [Id(0)] public Box[] Boxes;
    [Id(1)] public TimeSpan Timeout;
}

[RegisterConverter]
public sealed class SplitPlanConverter : IConverter<SplitPlan, SplitPlanSurrogate>
{
    public SplitPlan ConvertFromSurrogate(in SplitPlanSurrogate s) => new(s.Boxes, s.Timeout);
    public SplitPlanSurrogate ConvertToSurrogate(in SplitPlan v) => new() { Boxes = [.. v.Boxes], Timeout = v.Timeout };
}

[GenerateSerializer]
public struct AttemptReportSurrogate
{
    [Id(0)] public WorkResult Result;
    [Id(1)] public SplitPlan? Plan;
    [Id(2)] public bool Cancelled;
}

[RegisterConverter]
public sealed class AttemptReportConverter : IConverter<AttemptReport, AttemptReportSurrogate>
{
    public AttemptReport ConvertFromSurrogate(in AttemptReportSurrogate s) => new(s.Result, s.Plan, s.Cancelled);
    public AttemptReportSurrogate ConvertToSurrogate(in AttemptReport v) => new() { Result = v.Result, Plan = v.Plan, Cancelled = v.Cancelled };
}

[GenerateSerializer]
public struct AttemptSurrogate
{
    [Id(0)] public int Worker;
    [Id(1)] public TimeSpan Timeout;
    [Id(2)] public TimeSpan Start;
    [Id(3)] public TimeSpan End;
    [Id(4)] public bool Cancelled;
    [Id(5)] public int Children;
    [Id(6)] public WorkResult Result;
    [Id(7)] public bool Resumed;
}

[RegisterConverter]
public sealed class AttemptConverter : IConverter<Attempt, AttemptSurrogate>
{
    public Attempt ConvertFromSurrogate(in AttemptSurrogate s) =>
        new(s.Worker, s.Timeout, s.Start, s.End, s.Cancelled, s.Children, s.Result) { Resumed = s.Resumed };

    public AttemptSurrogate ConvertToSurrogate(in Attempt v) => new()
    {
        Worker = v.Worker, Timeout = v.Timeout, Start = v.Start, End = v.End, Cancelled = v.Cancelled, Children = v.Children,
        Result = v.Result, Resumed = v.Resumed,
    };
}

[GenerateSerializer]
public struct RootProgressSurrogate
{
    [Id(0)] public WorkItem Root;
    [Id(1)] public double ProvedVolume;
    [Id(2)] public int ProvedLeaves;
    [Id(3)] public int OpenLeaves;
}

[RegisterConverter]
public sealed class RootProgressConverter : IConverter<RootProgress, RootProgressSurrogate>
{
    public RootProgress ConvertFromSurrogate(in RootProgressSurrogate s) => new(s.Root, s.ProvedVolume, s.ProvedLeaves, s.OpenLeaves);

    public RootProgressSurrogate ConvertToSurrogate(in RootProgress v) => new()
    {
        Root = v.Root, ProvedVolume = v.ProvedVolume, ProvedLeaves = v.ProvedLeaves, OpenLeaves = v.OpenLeaves,
    };
}

[GenerateSerializer]
public struct EngineSnapshotSurrogate
{
    [Id(0)] public int Attempts;
    [Id(1)] public int Proved;
    [Id(2)] public int Waiting;
    [Id(3)] public int Running;
    [Id(4)] public int Open;
    [Id(5)] public double ProvedVolume;
    [Id(6)] public bool Violated;
    [Id(7)] public TimeSpan Elapsed;
}

[RegisterConverter]
public sealed class EngineSnapshotConverter : IConverter<EngineSnapshot, EngineSnapshotSurrogate>
{
    public EngineSnapshot ConvertFromSurrogate(in EngineSnapshotSurrogate s) =>
        new(s.Attempts, s.Proved, s.Waiting, s.Running, s.Open, s.ProvedVolume, s.Violated, s.Elapsed);

    public EngineSnapshotSurrogate ConvertToSurrogate(in EngineSnapshot v) => new()
    {
        Attempts = v.Attempts, Proved = v.Proved, Waiting = v.Waiting, Running = v.Running, Open = v.Open,
        ProvedVolume = v.ProvedVolume, Violated = v.Violated, Elapsed = v.Elapsed,
    };
}

[GenerateSerializer]
public struct EngineResultSurrogate
{
    [Id(0)] public EngineStatus Status;
    [Id(2)] public WorkResult? Violation;
    [Id(3)] public WorkResult[] Proved;
    [Id(4)] public WorkResult[] Open;
    [Id(5)] public RootProgress[] Roots;
    [Id(6)] public Attempt[] Attempts;
    [Id(7)] public bool DeadlineReached;
    [Id(8)] public bool WorkersStopped;
    [Id(9)] public TimeSpan Elapsed;
    [Id(10)] public int Resumed;
    [Id(11)] public int Reclaimed;
    [Id(12)] public string[] WorkerNames;
}

[RegisterConverter]
public sealed class EngineResultConverter : IConverter<EngineResult, EngineResultSurrogate>
{
    public EngineResult ConvertFromSurrogate(in EngineResultSurrogate s) =>
        new(s.Status, s.Violation, s.Proved, s.Open, s.Roots, s.Attempts, s.DeadlineReached, s.WorkersStopped, s.Elapsed)
        {
            Resumed = s.Resumed,
            Reclaimed = s.Reclaimed,
            WorkerNames = s.WorkerNames ?? [],
        };

    public EngineResultSurrogate ConvertToSurrogate(in EngineResult v) => new()
    {
        Status = v.Status, Violation = v.Violation, Proved = [.. v.Proved], Open = [.. v.Open],
        Roots = [.. v.Roots], Attempts = [.. v.Attempts], DeadlineReached = v.DeadlineReached, WorkersStopped = v.WorkersStopped,
        Elapsed = v.Elapsed, Resumed = v.Resumed, Reclaimed = v.Reclaimed,
        WorkerNames = [.. v.WorkerNames],
    };
}
