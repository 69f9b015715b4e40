using QEquiv.Cluster.Coordination;
using QEquiv.Cluster.Wire;
using QEquiv.Scheduling;
using QEquiv.Verification;

namespace QEquiv.Cluster;

/// <summary>
/// Runs a plan on a cluster: submits it with both models to the coordinator, relays its progress to the caller every
/// fifth of a second, and returns the engine record the coordinator kept, which the verifier reads exactly as a local
/// one. The job log, when asked for, is written by the coordinator on its machine.
/// </summary>
public sealed class ClusterJobRunner(IGrainFactory grains, string where) : IJobRunner
{
    private static readonly TimeSpan StatusPeriod = TimeSpan.FromMilliseconds(200);

    private ICoordinatorGrain Coordinator => grains.GetGrain<ICoordinatorGrain>(0);

    public JobPlan? Resumable(string log, string fingerprint)
    {
        var answer = Coordinator.Resumable(log, fingerprint).GetAwaiter().GetResult();
        if (answer.Error is { } error) throw new BadInputException($"{error} (the coordinator at {where} read it)");
        return answer.PlanJson is { } json ? JobPlan.FromJson(json) : null;
    }

    public EngineResult Run(JobPlan plan, JobRun run, ICollection<string> notes)
    {
        if (run.Split is not null && plan.Settings.Split == "custom")
            throw new BadInputException("--cluster: a custom split heuristic cannot travel to remote workers");
        var ticket = new JobTicket
        {
            Job = new JobModels
            {
                PlanJson = plan.ToJson(),
                FloatModel = JobPlan.ModelBytes(run.Reference.Source),
                QuantizedModel = JobPlan.ModelBytes(run.Other.Source),
                FloatName = Path.GetFileName(run.Reference.Source),
                QuantizedName = Path.GetFileName(run.Other.Source),
            },
            Timeout = run.Timeout,
            Log = run.Log,
            Resume = run.Resume,
        };
        var coordinator = Coordinator;
        var id = coordinator.Submit(ticket).GetAwaiter().GetResult();
        var cancelled = false;
        JobStatus status;
        while (true)
        {
            status = coordinator.Status(id).GetAwaiter().GetResult();
            run.Progress?.Invoke(status.Snapshot);
            if (status.Finished) break;
            if (run.Cancellation.IsCancellationRequested && !cancelled)
            {
                coordinator.Cancel(id).GetAwaiter().GetResult();
                cancelled = true;
            }
            run.Cancellation.WaitHandle.WaitOne(StatusPeriod);
            if (cancelled) Thread.Sleep(StatusPeriod);
        }
        var result = coordinator.Result(id).GetAwaiter().GetResult();
        notes.Add($"solved on the cluster at {where}: {status.Workers} workers took part");
        return result;
    }
}
