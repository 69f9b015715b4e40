using System.Diagnostics;

namespace QEquiv.Tests;

/// <summary>
/// An idle cluster must idle: a real coordinator and a real worker process (from the built qequiv, on loopback) with no
/// job use almost no CPU. Measured as each process's CPU time (not wall time) over ten seconds, so a loaded machine
/// makes the test slower, not flakier.
/// </summary>
[Collection(ClusterCollection.Name)]
public class ClusterIdleTests
{
    /// <summary>5 % of one core; an idle pair measures about 1 % each on a loaded 2-core machine.</summary>
    private const double Bound = 0.05;

    [Trait("Speed", "Slow")]
    [Fact]
    public void AnIdleCoordinatorAndWorkerUseUnderFivePercentOfACoreEach()
    {
        var port = LocalCluster.FreePortPair();
        var coordinator = LocalCluster.Launch($"coordinator --port {port} --host 127.0.0.1", "coordinator at");
        Process? worker = null;
        try
        {
            // Two threads: idle worker threads must not each poll the coordinator.
            worker = LocalCluster.Launch($"worker --join 127.0.0.1:{port} --workers 2 --host 127.0.0.1", "joined");
            // A freshly started .NET process compiles its hot paths again at a higher tier for its first minute or so
            // (5-15 % of a core); that is start-up, not idling. Wait (at most 90 s) until a 5 s window of both is under
            // half the bound, then measure. A loop that never idles (a polling storm, a spin) never gets there, and the
            // measurement fails.
            var settle = Stopwatch.StartNew();
            while (settle.Elapsed < TimeSpan.FromSeconds(90) && Shares(TimeSpan.FromSeconds(5), coordinator, worker).Any(s => s >= Bound / 2))
            {
            }
            var shares = Shares(TimeSpan.FromSeconds(10), coordinator, worker);
            Assert.False(coordinator.HasExited, $"the coordinator exited: {LocalCluster.Output(coordinator)}");
            Assert.False(worker.HasExited, $"the worker exited: {LocalCluster.Output(worker)}");
            Assert.True(shares[0] < Bound, $"the idle coordinator used {shares[0]:P1} of a core (worker {shares[1]:P1})");
            Assert.True(shares[1] < Bound, $"the idle worker used {shares[1]:P1} of a core (coordinator {shares[0]:P1})");
        }
        finally
        {
            if (worker is not null) LocalCluster.Kill(worker);
            LocalCluster.Kill(coordinator);
        }
    }

    /// <summary>Each process's CPU time over <paramref name="window"/> of wall time, as a share of one core.</summary>
    private static double[] Shares(TimeSpan window, params Process[] processes)
    {
        var before = processes.Select(Cpu).ToArray();
        var clock = Stopwatch.StartNew();
        Thread.Sleep(window);
        var after = processes.Select(Cpu).ToArray();
        var wall = clock.Elapsed;
        return before.Zip(after, (b, a) => (a - b) / wall).ToArray();
    }

    private static TimeSpan Cpu(Process p)
    {
        p.Refresh();
        return p.TotalProcessorTime;
    }
}
