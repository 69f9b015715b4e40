using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using QEquiv.Bounds;
using QEquiv.Equivalence;
using QEquiv.Model;
using QEquiv.Networks;
using QEquiv.Partitioning;
using QEquiv.Quantization;
using QEquiv.Regions;
using QEquiv.Scheduling;
using QEquiv.Solvers;

namespace QEquiv.Verification;

/// <summary>
/// How the partitioned phase solves and splits, as plain data: it travels to cluster workers and into job logs, and
/// every worker builds the same solver and split policy from it (<see cref="JobPlan.CreateWorker"/>).
/// </summary>
/// <param name="Split">Input-split heuristic by name: <c>gradient-smear</c> (default) or <c>widest</c>.</param>
/// <param name="InitialTimeout">Limit of a depth-0 piece; null: all the time left (the output strategy, which never splits).</param>
/// <param name="MaxDepth">0 under the output strategy: pieces are never split.</param>
public sealed record JobSettings(
    IReadOnlyList<SolverConfiguration> Portfolio,
    bool DifferentialBounds,
    string Split,
    bool AlwaysSplit,
    TimeSpan? InitialTimeout,
    double TimeoutFactor,
    int Bisections,
    int MaxDepth,
    double RetryFactor)
{
    /// <summary>With one configuration, race the default portfolio's other members on cores of the process that sit idle
    /// (fewer open pieces than workers); off only for ablations.</summary>
    public bool RaceSpareCores { get; init; } = true;
    /// <summary>Try the LP relaxation of a piece before its MILP (off with the verifier's LP budget at zero: ablations).</summary>
    public bool LpRelaxation { get; init; } = true;
    /// <summary>The runtime whose arithmetic the quantized network follows: workers apply it when they load the model files.</summary>
    public Runtime Runtime { get; init; }
    /// <summary>The outputs both networks were narrowed to (<see cref="Model.Network.SelectOutputs"/>): workers narrow the
    /// model files they load the same way. Null: all.</summary>
    public IReadOnlyList<int>? Outputs { get; init; }
    /// <summary>Pieces on boxes of more open inputs than this get at least their fair share of the time left as their limit
    /// (<see cref="Scheduling.EngineOptions.ShareAboveDimension"/>); null: the fixed limits alone (ablations).</summary>
    public int? ShareAboveDimension { get; init; }

    public const string GradientSmearSplit = "gradient-smear";
    public const string WidestSplit = "widest";
}

/// <param name="Output">(output, sign) whose whole-box LP relaxation was solved and did not prove it: workers skip it.</param>
public sealed record RootLpBound(int Output, int Sign, double Upper);

/// <summary>
/// Everything the partitioned phase needs once the front end (falsifier, bounds, LP) is done: the pieces to solve, the
/// leaves already settled, the LP-tightened bounds of the reference network's nodes on the whole box, and the settings. It heads a job log and
/// ships to cluster workers with the two model files. <see cref="Fingerprint"/> identifies the question (models, box,
/// δ, settings) so that a log is only ever resumed by the same job.
/// </summary>
public sealed record JobPlan(
    string Fingerprint,
    Box Box,
    double Delta,
    IReadOnlyList<SubProblem> Pieces,
    IReadOnlyList<SubProblemResult> Settled,
    IReadOnlyList<NodeBounds> RootReferenceBounds,
    IReadOnlyList<RootLpBound> RootLp,
    JobSettings Settings)
{
    /// <summary>The JSON settings every job file uses (bounds hold infinities, which plain JSON cannot).</summary>
    public static JsonSerializerOptions Json { get; } = new()
    {
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new JsonStringEnumConverter() },
    };

    /// <summary>
    /// The job log's format. 2: the engine's entries hold opaque work items (the question as a payload, the witness and
    /// the solver's numbers as bytes); format 1 (no number in the plan) held the equivalence records themselves.
    /// </summary>
    public const int CurrentLogFormat = 2;

    /// <summary>The format this plan's log is written in (<see cref="CurrentLogFormat"/> for every plan made now).</summary>
    public int LogFormat { get; init; } = CurrentLogFormat;

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <exception cref="InvalidDataException">the plan heads a log of another format (an older QEquiv wrote it).</exception>
    public static JobPlan FromJson(string json)
    {
        // Read the number from the text: a plan without one would otherwise take the current format's default.
        var format = System.Text.Json.Nodes.JsonNode.Parse(json)?["LogFormat"]?.GetValue<int>() ?? 1;
        if (format != CurrentLogFormat)
            throw new InvalidDataException($"written by another QEquiv version (job log format {format}, this one reads format {CurrentLogFormat}); give a new log path to start afresh");
        return JsonSerializer.Deserialize<JobPlan>(json, Json) ?? throw new InvalidDataException("empty job plan");
    }

    /// <summary>The pieces as the engine schedules them.</summary>
    public IReadOnlyList<WorkItem> WorkItems() => Pieces.Select(p => p.ToWorkItem()).ToList();

    /// <summary>
    /// SHA-256 of both networks' content (<see cref="Network.Fingerprint"/>: the operators as loaded, runtime applied), the
    /// box, δ and the settings: equal fingerprints, same question. Content, not file bytes: a run of the other runtime's
    /// arithmetic on the same files is another question.
    /// </summary>
    public static string FingerprintOf(string referenceModel, string otherModel, Box box, double delta, JobSettings settings)
    {
        using var h = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        h.AppendData(System.Text.Encoding.UTF8.GetBytes(referenceModel));
        h.AppendData(System.Text.Encoding.UTF8.GetBytes(otherModel));
        h.AppendData(System.Text.Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new { box.Lo, box.Hi, delta, settings }, Json)));
        return Convert.ToHexStringLower(h.GetHashAndReset());
    }

    /// <summary>
    /// Whether two networks loaded elsewhere (a cluster worker, from the shipped files and this plan's runtime) are the ones
    /// this plan was made for: a worker that would verify other arithmetic refuses the job instead.
    /// </summary>
    public bool IsFor(Network reference, Network other) => FingerprintOf(reference.Fingerprint, other.Fingerprint, Box, Delta, Settings) == Fingerprint;

    /// <summary>A model's bytes for shipping: the file it came from, or its name when it was built in memory.</summary>
    public static byte[] ModelBytes(string source) =>
        File.Exists(source) ? File.ReadAllBytes(source) : System.Text.Encoding.UTF8.GetBytes(source);

    /// <summary>
    /// The solver and split policy one worker runs: bounds of the root box recomputed (deterministic) with N's LP-tightened
    /// bounds from the plan, so that every worker, here or remote, solves exactly what this process would.
    /// </summary>
    /// <param name="known">Bounds of Q and of the difference on the root box when this process already has them (the
    /// verifier that made the plan); null: computed here.</param>
    public WorkerSetup CreateWorker(Network reference, Network other, ISplitHeuristic? split = null, List<string>? notes = null,
        (GraphBounds Other, GraphDifference? Difference)? known = null)
    {
        if (RootReferenceBounds is null || RootReferenceBounds.Count != reference.Nodes.Count)
            throw new InvalidDataException("the job plan has no bounds for this reference network's operators (a log written by an older QEquiv?); start afresh with a new log path");
        var solver = new MilpSubProblemSolver(reference, other, Settings.Portfolio, Settings.DifferentialBounds) { LpRelaxation = Settings.LpRelaxation };
        var (ob, diff) = known ?? Computed();
        (GraphBounds, GraphDifference?) Computed()
        {
            var (_, computedOther, computedDiff, _) = Verifier.Bound(reference, other, Box, Settings.DifferentialBounds, notes ?? []);
            return (computedOther, computedDiff);
        }
        var rb = new GraphBounds(reference, GraphBounds.Float32Input(Box), RootReferenceBounds);
        solver.Seed(Box, new MilpSubProblemSolver.BoxBounds(rb, ob, diff), RootLp.ToDictionary(r => (r.Output, r.Sign), r => r.Upper));
        var heuristic = split ?? Settings.Split switch
        {
            JobSettings.GradientSmearSplit => new GradientSmear(reference, other),
            JobSettings.WidestSplit => (ISplitHeuristic)new WidestDimension(),
            var name => throw new InvalidDataException($"unknown split heuristic '{name}'"),
        };
        return new WorkerSetup(solver, heuristic);
    }

    /// <summary>Engine options of this plan (limits, splits) for a run with the given workers and deadline.</summary>
    public EngineOptions EngineOptions(WorkerSetup? worker, int workers = 0, TimeSpan? globalTimeout = null) =>
        new(workers, Settings.InitialTimeout ?? globalTimeout ?? TimeSpan.FromDays(1), Settings.TimeoutFactor, Settings.Bisections, Settings.MaxDepth, globalTimeout)
        {
            RetryFactor = Settings.RetryFactor,
            ShareAboveDimension = Settings.ShareAboveDimension,
            Split = worker?.Split ?? new WidestDimension(),
            SplitPays = Settings.AlwaysSplit || worker is null ? null : (item, halves) => worker.Solver.SplitPays(SubProblem.Of(item), halves),
        };
}

/// <summary>What one worker process builds from a plan: the sub-problem solver and the split heuristic.</summary>
public sealed record WorkerSetup(MilpSubProblemSolver Solver, ISplitHeuristic Split)
{
    /// <summary>The solver as the engine calls it, on work items.</summary>
    public IWorkSolver Work { get; } = new SubProblemWork(Solver);
}

/// <summary>
/// A job log: the plan on the first line, then one finished attempt per line, appended as attempts finish and flushed
/// each time, so that a run killed at any moment leaves a log that resumes it. A torn last line (killed mid-write) is
/// ignored on reading.
/// </summary>
public sealed class JobLog : IDisposable
{
    private readonly StreamWriter _writer;
    private readonly object _gate = new();

    private JobLog(StreamWriter writer) => _writer = writer;

    /// <summary>Starts a new log with the plan (replacing what was there) or, with <paramref name="resume"/>, appends to it.</summary>
    public static JobLog Open(string path, JobPlan plan, bool resume)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir is not null) Directory.CreateDirectory(dir);
        var stream = new FileStream(path, resume ? FileMode.Append : FileMode.Create, FileAccess.Write, FileShare.Read);
        var log = new JobLog(new StreamWriter(stream, new UTF8Encoding(false)));
        if (!resume || stream.Length == 0) log.WriteLine(plan.ToJson());
        return log;
    }

    public void Append(LedgerEntry entry) => WriteLine(JsonSerializer.Serialize(entry, JobPlan.Json));

    private bool _closed;

    private void WriteLine(string line)
    {
        lock (_gate)
        {
            // A solver call that outlived its run may still finish after the log closed; its answer is simply not logged.
            if (_closed) return;
            _writer.Write(line);
            _writer.Write('\n');
            _writer.Flush();
        }
    }

    /// <summary>The plan and the finished attempts of a log; null when the file does not exist or is empty (nothing to resume).</summary>
    /// <exception cref="BadInputException">the file is not a job log.</exception>
    public static (JobPlan Plan, IReadOnlyList<LedgerEntry> Entries)? Read(string path)
    {
        if (!File.Exists(path)) return null;
        var lines = File.ReadAllLines(path);
        if (lines.Length == 0 || lines[0].Length == 0) return null;
        JobPlan plan;
        try { plan = JobPlan.FromJson(lines[0]); }
        catch (JsonException e) { throw BadInputException.For(path, $"not a QEquiv job log (first line: {e.Message})"); }
        catch (InvalidDataException e) { throw BadInputException.For(path, $"a job log {e.Message}"); }
        var entries = new List<LedgerEntry>();
        for (var i = 1; i < lines.Length; i++)
        {
            if (lines[i].Length == 0) continue;
            try { entries.Add(JsonSerializer.Deserialize<LedgerEntry>(lines[i], JobPlan.Json) ?? throw new JsonException("null entry")); }
            catch (JsonException) when (i == lines.Length - 1) { break; } // torn last line of a killed run
            catch (JsonException e) { throw BadInputException.For(path, $"line {i + 1} is not a job log entry: {e.Message}"); }
        }
        return (plan, entries);
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _closed = true;
            _writer.Dispose();
        }
    }
}

/// <summary>One run of a plan: the networks, where its log goes, and the run's own limits.</summary>
/// <param name="Log">Job log path (for a cluster: on the coordinator's machine); null: none.</param>
/// <param name="Resume">Continue the log instead of starting it afresh (the caller checked it holds this job).</param>
public sealed record JobRun(Network Reference, Network Other, int Workers, TimeSpan? Timeout, string? Log, bool Resume)
{
    public Action<EngineSnapshot>? Progress { get; init; }
    public CancellationToken Cancellation { get; init; }
    /// <summary>A split heuristic object for this process only (tests, ablations); a plan names its heuristic for everyone else.</summary>
    public ISplitHeuristic? Split { get; init; }
    /// <summary>This process's cores when the caller uses some of them itself (the counterexample search beside the proofs), so
    /// that races only take the idle ones; null: the runner's workers own them all.</summary>
    public CoreBudget? Cores { get; init; }
    /// <summary>Root-box bounds of the other network and of the difference this process already computed (spares a local run computing them twice).</summary>
    public (GraphBounds Other, GraphDifference? Difference)? RootBounds { get; init; }
}

/// <summary>
/// Where the partitioned phase runs: on this machine's threads (<see cref="LocalJobRunner"/>, the default) or on a cluster.
/// The verifier hands it a plan and gets the engine's record back; it does not know where the workers were.
/// </summary>
public interface IJobRunner
{
    /// <summary>The plan in the job log at <paramref name="log"/> when it holds this job; null when there is no log yet.</summary>
    /// <exception cref="BadInputException">the log holds another job (models, box, δ or settings differ).</exception>
    JobPlan? Resumable(string log, string fingerprint);

    /// <summary>Runs the plan's pieces to a verdict; notes worth showing the user are added to <paramref name="notes"/>. The
    /// record is the engine's own (opaque items): <see cref="PartitionedRun.Of"/> reads it as sub-problems.</summary>
    EngineResult Run(JobPlan plan, JobRun run, ICollection<string> notes);
}

/// <summary>The engine on this process's threads; the log, when asked for, is a file here.</summary>
public sealed class LocalJobRunner : IJobRunner
{
    public static LocalJobRunner Instance { get; } = new();

    public JobPlan? Resumable(string log, string fingerprint) => CheckedPlan(log, JobLog.Read(log)?.Plan, fingerprint);

    /// <summary>Shared with the cluster coordinator, which reads logs on its own machine.</summary>
    public static JobPlan? CheckedPlan(string log, JobPlan? plan, string fingerprint) =>
        plan is null ? null
        : plan.Fingerprint == fingerprint ? plan
        : throw BadInputException.For(log, "the job log holds another job (the models, box, δ or settings differ); give a new log path to start afresh");

    public EngineResult Run(JobPlan plan, JobRun run, ICollection<string> notes)
    {
        var setupNotes = new List<string>();
        var worker = plan.CreateWorker(run.Reference, run.Other, run.Split, setupNotes, run.RootBounds);
        var replay = run.Resume && run.Log is { } path ? JobLog.Read(path)?.Entries : null;
        using var log = run.Log is { } p ? JobLog.Open(p, plan, run.Resume) : null;
        var options = plan.EngineOptions(worker, run.Workers, run.Timeout);
        if (plan.Settings.RaceSpareCores) worker.Solver.Cores = run.Cores ?? new CoreBudget(options.WorkerCount);
        var engine = new Engine(worker.Work, options with
        {
            Cores = worker.Solver.Cores,
            Cancellation = run.Cancellation,
            Progress = run.Progress,
            Journal = log is null ? null : log.Append,
        });
        var result = engine.Run(plan.WorkItems(), replay);
        foreach (var note in setupNotes.Concat(worker.Solver.Notes)) if (!notes.Contains(note)) notes.Add(note);
        return result;
    }
}
