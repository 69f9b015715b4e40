using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;
using QEquiv.Cluster.Coordination;
using QEquiv.Cluster.Workers;

namespace QEquiv.Cluster.Hosting;

/// <summary>How silos find each other: the coordinator as primary silo at an address (no database; the HPC case), or a Redis server.</summary>
/// <param name="Primary">The coordinator's silo endpoint (development clustering); null with Redis.</param>
/// <param name="Redis">Redis configuration string (host:port); null without.</param>
public sealed record Membership(IPEndPoint? Primary, string? Redis)
{
    /// <summary>The cluster's shared secret; null: none (loopback only).</summary>
    public ClusterSecret? Secret { get; init; }

    /// <summary>The coordinator's silo port; its client gateway listens on the next port.</summary>
    public const int DefaultPort = 11111;

    /// <summary>Parses <c>redis://HOST:PORT</c>.</summary>
    public static Membership FromRedis(string url)
    {
        if (!url.StartsWith("redis://", StringComparison.OrdinalIgnoreCase))
            throw new BadInputException($"--membership: expected redis://HOST:PORT, got '{url}'");
        var (host, port) = SplitHostPort(url["redis://".Length..], 6379, "--membership");
        return new Membership(null, $"{host}:{port}");
    }

    /// <summary>Parses <c>HOST:PORT</c> (the coordinator's silo port; default 11111) to an endpoint, resolving the host name.</summary>
    public static Membership FromCoordinator(string address, string option)
    {
        var (host, port) = SplitHostPort(address, DefaultPort, option);
        return new Membership(new IPEndPoint(Resolve(host, option), port), null);
    }

    public static IPAddress Resolve(string host, string option)
    {
        if (IPAddress.TryParse(host, out var ip)) return ip;
        try
        {
            return Dns.GetHostAddresses(host).FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork)
                ?? throw new BadInputException($"{option}: host '{host}' has no IPv4 address");
        }
        catch (SocketException e)
        {
            throw new BadInputException($"{option}: cannot resolve host '{host}' ({e.Message})");
        }
    }

    private static (string Host, int Port) SplitHostPort(string text, int defaultPort, string option)
    {
        var colon = text.LastIndexOf(':');
        if (colon < 0) return (text.Length > 0 ? text : throw new BadInputException($"{option}: empty address"), defaultPort);
        if (!int.TryParse(text[(colon + 1)..], out var port) || port is < 1 or > 65534)
            throw new BadInputException($"{option}: '{text}' is not HOST:PORT with a port from 1 to 65534");
        return (text[..colon], port);
    }

    /// <summary>The local address other hosts reach this one at: the interface that routes towards <paramref name="peer"/>.</summary>
    public static IPAddress LocalAddressTowards(IPAddress peer)
    {
        if (IPAddress.IsLoopback(peer)) return IPAddress.Loopback;
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        probe.Connect(peer, 9); // UDP connect sends nothing; it only picks the route
        return ((IPEndPoint)probe.LocalEndPoint!).Address;
    }

    /// <summary>This host's first non-loopback IPv4 address (loopback when there is none).</summary>
    public static IPAddress DefaultAddress() =>
        Dns.GetHostAddresses(Dns.GetHostName()).FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork && !IPAddress.IsLoopback(a))
        ?? IPAddress.Loopback;
}

/// <summary>Builds the three kinds of Orleans host QEquiv runs: the coordinator silo, a worker silo, and a client.</summary>
public static class ClusterHost
{
    /// <summary>The primary silo (or, with Redis, the silo named coordinator): owns the coordinator grain; its gateway (port + 1) takes clients.</summary>
    public static IHost Coordinator(IPAddress advertise, int port, Membership membership, bool verbose) =>
        Silo(ClusterNames.CoordinatorSilo, advertise, port, port + 1, membership, verbose, services => services.AddSingleton<JobBook>());

    /// <summary>This process's silo name as a worker (host and process id: unique, and says where to look).</summary>
    public static string WorkerName => $"qequiv-worker-{Environment.MachineName}-{Environment.ProcessId}";

    /// <summary>A silo that joins the cluster and runs <paramref name="workers"/> pulling worker threads.</summary>
    public static IHost Worker(IPAddress advertise, Membership membership, int workers, bool verbose, Action<string> log)
    {
        var name = WorkerName;
        return Silo(name, advertise, FreePort(), 0, membership, verbose, services =>
            services.AddHostedService(sp => new WorkerPoolService(new WorkerPool(sp.GetRequiredService<IGrainFactory>(), name, workers, log))));
    }

    /// <summary>How long a silo keeps trying to join the cluster before giving up.</summary>
    public static readonly TimeSpan JoinTimeout = TimeSpan.FromMinutes(1);

    /// <summary>Connection attempts of a client, a second apart, before it gives up on the coordinator.</summary>
    public const int ConnectAttempts = 5;

    /// <summary>A client that reaches the coordinator's gateway (or finds it through Redis).</summary>
    public static IHost Client(Membership membership, bool verbose)
    {
        var builder = Host.CreateApplicationBuilder([]);
        Quiet(builder.Logging, verbose);
        builder.UseOrleansClient(client =>
        {
            client.Configure<ClusterOptions>(o => { o.ClusterId = ClusterNames.ClusterId; o.ServiceId = ClusterNames.ServiceId; });
            if (membership.Secret is { } secret)
                client.Configure<ClientConnectionOptions>(o => o.ConfigureConnection(c => c.Use(secret.Middleware(outbound: true))));
            if (membership.Redis is { } redis) client.UseRedisClustering(redis);
            else client.UseStaticClustering(new IPEndPoint(membership.Primary!.Address, membership.Primary.Port + 1));
            // Orleans would keep retrying an unreachable gateway for minutes; a user who mistyped the address should
            // hear so within seconds.
            var attempts = 0;
            client.UseConnectionRetryFilter(async (_, cancellation) =>
            {
                if (++attempts > ConnectAttempts || membership.Secret?.Refused.IsCompleted == true) return false;
                await Task.Delay(TimeSpan.FromSeconds(1), cancellation);
                return true;
            });
        });
        return builder.Build();
    }

    private static IHost Silo(string name, IPAddress advertise, int siloPort, int gatewayPort, Membership membership, bool verbose,
        Action<IServiceCollection>? services)
    {
        var builder = Host.CreateApplicationBuilder([]);
        Quiet(builder.Logging, verbose);
        builder.UseOrleans(silo =>
        {
            silo.Configure<ClusterOptions>(o => { o.ClusterId = ClusterNames.ClusterId; o.ServiceId = ClusterNames.ServiceId; });
            silo.Configure<SiloOptions>(o => o.SiloName = name);
            if (membership.Secret is { } secret)
            {
                silo.Configure<SiloConnectionOptions>(o =>
                {
                    o.ConfigureSiloInboundConnection(c => c.Use(secret.Middleware(outbound: false)));
                    o.ConfigureGatewayInboundConnection(c => c.Use(secret.Middleware(outbound: false)));
                    o.ConfigureSiloOutboundConnection(c => c.Use(secret.Middleware(outbound: true)));
                });
            }
            // Listen on the advertised address only. On every interface, a silo whose peers name it by another of its
            // addresses (a worker joining 127.0.0.1 when the coordinator advertises its LAN address) accepted their
            // messages, found them addressed to a silo it did not know as itself, and forwarded them to that address,
            // which was itself again: a loop that kept a core busy for good, long after the worker gave up.
            silo.ConfigureEndpoints(advertise, siloPort, gatewayPort, listenOnAnyHostAddress: false);
            if (membership.Redis is { } redis) silo.UseRedisClustering(redis);
            else silo.UseDevelopmentClustering(o => o.PrimarySiloEndpoint = membership.Primary);
            silo.AddPlacementDirector<CoordinatorPlacement, CoordinatorPlacementDirector>();
            // A worker started before its coordinator (common under a batch scheduler) keeps trying to join for a
            // minute, then fails with an error instead of Orleans' silent five minutes.
            silo.Configure<ClusterMembershipOptions>(o => o.MaxJoinAttemptTime = JoinTimeout);
            // Load statistics feed load-based placement, which this cluster does not use (the coordinator grain has its
            // own placement and workers host no grains); every silo would otherwise send them to every other each second.
            silo.Configure<DeploymentLoadPublisherOptions>(o => o.DeploymentLoadPublisherRefreshTime = TimeSpan.FromMinutes(5));
        });
        services?.Invoke(builder.Services);
        return builder.Build();
    }

    /// <summary>
    /// Orleans talks a lot, and a peer killed on purpose fills the console with stack traces; QEquiv prints its own
    /// one-line events instead. Everything goes to standard error: standard output carries the verdict.
    /// </summary>
    private static void Quiet(ILoggingBuilder logging, bool verbose)
    {
        logging.ClearProviders();
        logging.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        logging.SetMinimumLevel(verbose ? LogLevel.Information : LogLevel.Critical);
        logging.AddFilter("Microsoft.Hosting.Lifetime", verbose ? LogLevel.Information : LogLevel.None);
    }

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Any, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    private sealed class WorkerPoolService(WorkerPool pool) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            pool.Start();
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken)
        {
            pool.Dispose();
            return Task.CompletedTask;
        }
    }
}
