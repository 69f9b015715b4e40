using System.Net;
using Microsoft.Extensions.DependencyInjection;
using QEquiv.Cluster;
using QEquiv.Cluster.Hosting;
using QEquiv.Scheduling;

namespace QEquiv.Tests;

/// <summary>
/// The coordinator grain (in a real silo in this process, loopback only) under many simulated workers with a fake
/// solver: no sub-problem lost or recorded twice, leases of vanished workers handed to others, late answers ignored.
/// The full-size version with timings is `qequiv cluster-load` (bench/cluster-load.sh).
/// </summary>
[Collection(ClusterCollection.Name)]
public class CoordinatorLoadTests
{
    [Trait("Speed", "Slow")]
    [Fact]
    public async Task ManySimulatedWorkersSomeVanishingFinishEverySubProblemExactlyOnce()
    {
        var port = LocalCluster.FreePortPair();
        var membership = new Membership(new IPEndPoint(IPAddress.Loopback, port), null);
        using var coordinator = ClusterHost.Coordinator(IPAddress.Loopback, port, membership, verbose: false);
        await coordinator.StartAsync();
        using var client = ClusterHost.Client(membership, verbose: false);
        await client.StartAsync();

        var options = new LoadTestOptions(SubProblems: 1500, Workers: 60, MeanSolve: TimeSpan.FromMilliseconds(20), SplitShare: 0.2, Vanishing: 4);
        var r = await Task.Run(() => LoadTest.Run(client.Services.GetRequiredService<IGrainFactory>(), options));

        Assert.True(r.Violations.Count == 0, string.Join("\n", r.Violations));
        Assert.Equal(EngineStatus.Proved, r.Status);
        // Splits happened (children were solved) and every vanished process held a lease that went to someone else.
        Assert.True(r.Attempts > r.Roots, $"{r.Attempts} attempts for {r.Roots} roots: no split was solved");
        Assert.True(r.LeasesLost >= options.Vanishing, $"only {r.LeasesLost} leases were lost by {options.Vanishing} vanishing processes");
        Assert.True(r.Reclaimed >= r.LeasesLost, $"{r.Reclaimed} reclaimed of {r.LeasesLost} lost");
        Assert.True(r.LateAnswers >= 1, "no vanished worker answered late");
        Assert.True(r.AnswersSent > r.Attempts - r.LeasesLost, "fewer answers sent than attempts recorded");
    }
}
