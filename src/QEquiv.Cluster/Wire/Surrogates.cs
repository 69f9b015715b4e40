using QEquiv.Falsification;
using QEquiv.Quantization;
using QEquiv.Regions;
using QEquiv.Scheduling;
using QEquiv.Verification;

namespace QEquiv.Cluster.Wire;

// Orleans serializes the engine's own records through these surrogates, so QEquiv.Core stays free of Orleans: the
// single-machine default never loads it. Each surrogate mirrors its record field for field; ids are the wire format
// and must never be renumbered.

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
public struct CodeRangeSurrogate
{
    [Id(0)] public int Lo;
    [Id(1)] public int Hi;
}

[RegisterConverter]
public sealed class CodeRangeConverter : IConverter<CodeRange, CodeRangeSurrogate>
{
    public CodeRange ConvertFromSurrogate(in CodeRangeSurrogate s) => new(s.Lo, s.Hi);
    public CodeRangeSurrogate ConvertToSurrogate(in CodeRange v) => new() { Lo = v.Lo, Hi = v.Hi };
}

[GenerateSerializer]
public struct SubProblemSurrogate
{
    [Id(0)] public int Id;
    [Id(1)] public int Output;
    [Id(2)] public int Sign;
    [Id(3)] public Box Box;
    [Id(4)] public double Delta;
    [Id(5)] public int Depth;
    [Id(6)] public int? Parent;
    [Id(7)] public TimeSpan? Timeout;
    [Id(8)] public CodeRange? Codes;
}

[RegisterConverter]
public sealed class SubProblemConverter : IConverter<SubProblem, SubProblemSurrogate>
{
    public SubProblem ConvertFromSurrogate(in SubProblemSurrogate s) =>
        new(s.Id, s.Output, s.Sign, s.Box, s.Delta, s.Depth, s.Parent) { Timeout = s.Timeout, Codes = s.Codes };

    public SubProblemSurrogate ConvertToSurrogate(in SubProblem v) => new()
    {
        Id = v.Id, Output = v.Output, Sign = v.Sign, Box = v.Box, Delta = v.Delta, Depth = v.Depth, Parent = v.Parent,
        Timeout = v.Timeout, Codes = v.Codes,
    };
}

[GenerateSerializer]
public struct WitnessSurrogate
{
    [Id(0)] public float[] Input;
    [Id(1)] public double[] FloatOutput;
    [Id(2)] public float[] QuantOutput;
    [Id(3)] public int Output;
    [Id(4)] public double Difference;
    [Id(5)] public double MaxAbsDifference;
    [Id(6)] public float[]? Float32Output;
    [Id(7)] public double[]? Float32Error;
}

[RegisterConverter]
public sealed class WitnessConverter : IConverter<Witness, WitnessSurrogate>
{
    public Witness ConvertFromSurrogate(in WitnessSurrogate s) =>
        new(s.Input, s.FloatOutput, s.QuantOutput, s.Output, s.Difference, s.MaxAbsDifference, s.Float32Output, s.Float32Error);

    public WitnessSurrogate ConvertToSurrogate(in Witness v) => new()
    {
        Input = v.Input, FloatOutput = v.FloatOutput, QuantOutput = v.QuantOutput, Output = v.Output,
        Difference = v.Difference, MaxAbsDifference = v.MaxAbsDifference, Float32Output = v.Float32Output, Float32Error = v.Float32Error,
    };
}

[GenerateSerializer]
public struct SubProblemResultSurrogate
{
    [Id(0)] public SubProblem SubProblem;
    [Id(1)] public DecidedBy DecidedBy;
    [Id(2)] public SubProblemOutcome Outcome;
    [Id(3)] public double Seconds;
    [Id(4)] public string? Solver;
    [Id(5)] public string? SolverStatus;
    [Id(6)] public double? Objective;
    [Id(7)] public double? Bound;
    [Id(8)] public long? Nodes;
    [Id(9)] public Witness? Witness;
}

[RegisterConverter]
public sealed class SubProblemResultConverter : IConverter<SubProblemResult, SubProblemResultSurrogate>
{
    public SubProblemResult ConvertFromSurrogate(in SubProblemResultSurrogate s) =>
        new(s.SubProblem, s.DecidedBy, s.Outcome, s.Seconds, s.Solver, s.SolverStatus, s.Objective, s.Bound, s.Nodes, s.Witness);

    public SubProblemResultSurrogate ConvertToSurrogate(in SubProblemResult v) => new()
    {
        SubProblem = v.SubProblem, DecidedBy = v.DecidedBy, Outcome = v.Outcome, Seconds = v.Seconds, Solver = v.Solver,
        SolverStatus = v.SolverStatus, Objective = v.Objective, Bound = v.Bound, Nodes = v.Nodes, Witness = v.Witness,
    };
}

[GenerateSerializer]
public struct LeaseSurrogate
{
    [Id(0)] public long Id;
    [Id(1)] public SubProblem SubProblem;
    [Id(2)] public TimeSpan Limit;
}

[RegisterConverter]
public sealed class LeaseConverter : IConverter<Lease, LeaseSurrogate>
{
    public Lease ConvertFromSurrogate(in LeaseSurrogate s) => new(s.Id, s.SubProblem, s.Limit);
    public LeaseSurrogate ConvertToSurrogate(in Lease v) => new() { Id = v.Id, SubProblem = v.SubProblem, Limit = v.Limit };
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
    [Id(0)] public SubProblemResult Result;
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
    [Id(6)] public SubProblemResult Result;
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
    [Id(0)] public int RootId;
    [Id(1)] public int Output;
    [Id(2)] public int Sign;
    [Id(3)] public Box Box;
    [Id(4)] public double ProvedVolume;
    [Id(5)] public int ProvedLeaves;
    [Id(6)] public int OpenLeaves;
}

[RegisterConverter]
public sealed class RootProgressConverter : IConverter<RootProgress, RootProgressSurrogate>
{
    public RootProgress ConvertFromSurrogate(in RootProgressSurrogate s) =>
        new(s.RootId, s.Output, s.Sign, s.Box, s.ProvedVolume, s.ProvedLeaves, s.OpenLeaves);

    public RootProgressSurrogate ConvertToSurrogate(in RootProgress v) => new()
    {
        RootId = v.RootId, Output = v.Output, Sign = v.Sign, Box = v.Box, ProvedVolume = v.ProvedVolume,
        ProvedLeaves = v.ProvedLeaves, OpenLeaves = v.OpenLeaves,
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
    [Id(1)] public Witness? Witness;
    [Id(2)] public SubProblemResult? Violation;
    [Id(3)] public SubProblemResult[] Proved;
    [Id(4)] public SubProblemResult[] Open;
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
        new(s.Status, s.Witness, s.Violation, s.Proved, s.Open, s.Roots, s.Attempts, s.DeadlineReached, s.WorkersStopped, s.Elapsed)
        {
            Resumed = s.Resumed,
            Reclaimed = s.Reclaimed,
            WorkerNames = s.WorkerNames ?? [],
        };

    public EngineResultSurrogate ConvertToSurrogate(in EngineResult v) => new()
    {
        Status = v.Status, Witness = v.Witness, Violation = v.Violation, Proved = [.. v.Proved], Open = [.. v.Open],
        Roots = [.. v.Roots], Attempts = [.. v.Attempts], DeadlineReached = v.DeadlineReached, WorkersStopped = v.WorkersStopped,
        Elapsed = v.Elapsed, Resumed = v.Resumed, Reclaimed = v.Reclaimed,
        WorkerNames = [.. v.WorkerNames],
    };
}
