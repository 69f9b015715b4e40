using Orleans.Placement;
using Orleans.Runtime.Placement;

namespace QEquiv.Cluster.Coordination;

/// <summary>
/// The coordinator grain lives on the silo named <see cref="ClusterNames.CoordinatorSilo"/>, never on a worker: the queue
/// must survive any worker being killed, and Orleans would otherwise place it wherever the first call came from.
/// </summary>
[Serializable, GenerateSerializer, Immutable, SuppressReferenceTracking]
public sealed class CoordinatorPlacement : PlacementStrategy
{
    public static CoordinatorPlacement Instance { get; } = new();
}

[AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
public sealed class CoordinatorPlacementAttribute() : PlacementAttribute(CoordinatorPlacement.Instance);

/// <summary>Registered on every silo, because the silo that handles the first call makes the placement decision.</summary>
public sealed class CoordinatorPlacementDirector(IClusterMembershipService membership) : IPlacementDirector
{
    public Task<SiloAddress> OnAddActivation(PlacementStrategy strategy, PlacementTarget target, IPlacementContext context)
    {
        var compatible = context.GetCompatibleSilos(target);
        foreach (var member in membership.CurrentSnapshot.Members.Values)
            if (member.Status == SiloStatus.Active && member.Name == ClusterNames.CoordinatorSilo && compatible.Contains(member.SiloAddress))
                return Task.FromResult(member.SiloAddress);
        throw new OrleansException($"no active coordinator silo ('{ClusterNames.CoordinatorSilo}') in the cluster: start `qequiv coordinator` first");
    }
}

public static class ClusterNames
{
    public const string CoordinatorSilo = "qequiv-coordinator";
    public const string ClusterId = "qequiv";
    public const string ServiceId = "qequiv";
}
