using System.CommandLine;
using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using QEquiv.Cluster;
using QEquiv.Cluster.Hosting;
using QEquiv.Verification;

namespace QEquiv.Cli.Commands;

/// <summary>`qequiv coordinator` and `qequiv worker`, and the client side of `verify --cluster`.</summary>
internal static class ClusterCommands
{
    public static Command Coordinator()
    {
        var port = new Option<int>("--port") { Description = "silo port; clients (verify --cluster) use the same HOST:PORT and connect to PORT+1", DefaultValueFactory = _ => Membership.DefaultPort };
        var host = HostOption("address other machines reach this one at (default: this host's first non-loopback IPv4 address)");
        var membership = MembershipOption();
        var verbose = VerboseOption();
        var secretFile = SecretFileOption();
        var command = new Command("coordinator", "Start the cluster's coordinator (primary silo): it owns every job's queue; workers and clients join it");
        foreach (var o in new Option[] { port, host, membership, secretFile, verbose }) command.Options.Add(o);
        command.SetAction(parse =>
        {
            var p = parse.GetValue(port);
            if (p is < 1 or > 65534) throw new BadInputException($"--port: must be from 1 to 65534, got {p}");
            var secret = ClusterSecret.From(parse.GetValue(secretFile));
            var advertise = parse.GetValue(host) is { } h ? Membership.Resolve(h, "--host") : secret is null ? IPAddress.Loopback : Membership.DefaultAddress();
            if (secret is null && !IPAddress.IsLoopback(advertise))
                throw new BadInputException($"--host {advertise}: without a cluster secret the coordinator listens on loopback only; give --secret-file FILE or {ClusterSecret.EnvironmentVariable} (the same on every worker and client)");
            var m = (parse.GetValue(membership) is { } url ? Membership.FromRedis(url) : new Membership(new IPEndPoint(advertise, p), null)) with { Secret = secret };
            EnsureFree(p);
            EnsureFree(p + 1);
            if (secret is not null) secret.Log = line => Console.Error.WriteLine(line);
            using var silo = ClusterHost.Coordinator(advertise, p, m, parse.GetValue(verbose));
            Start(silo, $"port {p}", secret);
            Console.WriteLine(secret is null
                ? $"no cluster secret: listening on {advertise} only (give --secret-file FILE or {ClusterSecret.EnvironmentVariable} to take workers and clients from other machines)"
                : "cluster secret set: workers and clients must present the same one");
            Console.WriteLine($"coordinator at {advertise}:{p} (clients: port {p + 1}); membership: {(m.Redis is { } r ? $"redis {r}" : "this primary silo")}");
            Console.WriteLine($"workers: qequiv worker {(m.Redis is { } r2 ? $"--membership redis://{r2}" : $"--join {advertise}:{p}")}; jobs: qequiv verify ... --cluster {advertise}:{p}");
            silo.WaitForShutdown();
            return Cli.Ok;
        });
        return command;
    }

    public static Command Worker()
    {
        var join = new Option<string>("--join") { Description = "the coordinator's HOST:PORT (membership through the coordinator as primary silo)" };
        var membership = MembershipOption();
        var workers = new Option<int?>("--workers") { Description = "worker threads pulling sub-problems (default: all cores)" };
        var host = HostOption("address other machines reach this one at (default: the local address that routes to the coordinator or Redis)");
        var verbose = VerboseOption();
        var secretFile = SecretFileOption();
        var command = new Command("worker", "Join a cluster and solve sub-problems of its jobs until stopped");
        foreach (var o in new Option[] { join, membership, workers, host, secretFile, verbose }) command.Options.Add(o);
        command.SetAction(parse =>
        {
            var m = Resolve(parse.GetValue(join), parse.GetValue(membership), "--join", parse.GetValue(secretFile)) ?? throw new BadInputException("worker: give --join HOST:PORT or --membership redis://HOST:PORT");
            var w = parse.GetValue(workers) ?? Environment.ProcessorCount;
            if (w < 1) throw new BadInputException($"--workers: must be ≥ 1, got {w}");
            var peer = m.Primary?.Address ?? Membership.Resolve(m.Redis!.Split(':')[0], "--membership");
            var advertise = parse.GetValue(host) is { } h ? Membership.Resolve(h, "--host") : Membership.LocalAddressTowards(peer);
            if (m.Secret is null && !IPAddress.IsLoopback(advertise))
                throw new BadInputException($"without a cluster secret a worker joins a coordinator on this machine only (it would listen on {advertise}); give --secret-file FILE or {ClusterSecret.EnvironmentVariable}, the coordinator's");
            if (m.Secret is { } secret) secret.Log = line => Console.Error.WriteLine(line);
            using var silo = ClusterHost.Worker(advertise, m, w, parse.GetValue(verbose), line => Console.Error.WriteLine(line));
            Console.Error.WriteLine($"joining {(m.Primary is { } target ? $"the coordinator at {target}" : $"redis {m.Redis}")} (for up to {ClusterHost.JoinTimeout.TotalSeconds:F0} s)");
            Start(silo, m.Primary is { } pr ? $"the coordinator at {pr}" : $"redis {m.Redis}", m.Secret);
            Console.WriteLine($"worker {ClusterHost.WorkerName} joined {(m.Primary is { } p ? $"{p}" : $"redis {m.Redis}")} with {w} workers");
            silo.WaitForShutdown();
            return Cli.Ok;
        });
        return command;
    }

    /// <summary>`qequiv cluster-load`: the coordinator under simulated workers (bench/cluster-load.sh measures its CPU).</summary>
    public static Command Load()
    {
        var cluster = ClusterOption();
        var subProblems = new Option<int>("--sub-problems") { Description = "root sub-problems of the simulated job", DefaultValueFactory = _ => 10_000 };
        var workers = new Option<int>("--workers") { Description = "simulated worker threads (4 per simulated process)", DefaultValueFactory = _ => 200 };
        var mean = new Option<double>("--mean-ms") { Description = "mean fake solve time in milliseconds (exponential)", DefaultValueFactory = _ => 100 };
        var vanishing = new Option<int>("--vanishing") { Description = "simulated worker processes that vanish mid-lease", DefaultValueFactory = _ => 5 };
        var secretFile = SecretFileOption();
        var command = new Command("cluster-load", "Load-test a coordinator with simulated workers and a fake solver; checks that no sub-problem is lost or solved twice");
        foreach (var o in new Option[] { cluster, subProblems, workers, mean, vanishing, secretFile }) command.Options.Add(o);
        command.SetAction(parse =>
        {
            var m = Resolve(parse.GetValue(cluster), null, "--cluster", parse.GetValue(secretFile)) ?? throw new BadInputException("cluster-load: give --cluster HOST:PORT");
            var options = new LoadTestOptions(parse.GetValue(subProblems), parse.GetValue(workers), TimeSpan.FromMilliseconds(parse.GetValue(mean)),
                Vanishing: parse.GetValue(vanishing));
            if (options.SubProblems < 1 || options.Workers < 1 || options.MeanSolve <= TimeSpan.Zero || options.Vanishing < 0)
                throw new BadInputException("cluster-load: sub-problems, workers and mean must be positive, vanishing ≥ 0");
            var (host, _) = Connect(m);
            using (host)
            {
                var r = LoadTest.Run(host.Services.GetRequiredService<IGrainFactory>(), options, line => Console.Error.WriteLine(line));
                Console.WriteLine($"{r.Roots} roots, {r.Attempts} sub-problems finished ({r.Leaves} leaves), {options.Workers} workers: " +
                    $"{r.Wall.TotalSeconds:F1} s, {r.Throughput:F0} sub-problems/s; {r.LeasesLost} leases lost with vanished workers, " +
                    $"{r.Reclaimed} reclaimed, {r.LateAnswers} late answers; job {r.Status}");
                foreach (var v in r.Violations) Console.WriteLine($"VIOLATION: {v}");
                return r.Violations.Count == 0 ? Cli.Ok : Cli.InternalError;
            }
        });
        return command;
    }

    public static Option<string> ClusterOption() => new("--cluster")
    {
        Description = "run the sub-problems on a cluster: the coordinator's HOST:PORT (see `qequiv coordinator`)",
    };

    public static Option<string> MembershipOption() => new("--membership")
    {
        Description = "find the cluster through Redis (redis://HOST:PORT) instead of the coordinator's address",
    };

    public static Option<string> SecretFileOption() => new("--secret-file")
    {
        Description = $"file holding the cluster's shared secret (≥ {ClusterSecret.MinLength} characters; default: ${ClusterSecret.EnvironmentVariable}); without one, everything stays on loopback",
    };

    private static Option<string> HostOption(string description) => new("--host") { Description = description };

    private static Option<bool> VerboseOption() => new("--verbose") { Description = "show Orleans' own log on standard error" };

    /// <summary>The membership a client or worker uses, or null when neither option was given (run locally).</summary>
    public static Membership? Resolve(string? coordinator, string? redis, string option, string? secretFile = null)
    {
        var m = redis is { } r ? Membership.FromRedis(r)
            : coordinator is { } c ? Membership.FromCoordinator(c, option)
            : null;
        return m is null ? null : m with { Secret = ClusterSecret.From(secretFile) };
    }

    /// <summary>A started client and the job runner on it; dispose the host when done.</summary>
    public static (IHost Host, IJobRunner Runner) Connect(Membership m)
    {
        var host = ClusterHost.Client(m, verbose: false);
        var where = m.Primary?.ToString() ?? $"redis {m.Redis}";
        try
        {
            host.StartAsync().GetAwaiter().GetResult();
        }
        catch (Exception e) when (e is not BadInputException)
        {
            host.Dispose();
            if (m.Secret?.Refused is { IsCompleted: true } refused) throw new BadInputException($"--cluster: {refused.Result}");
            var hint = m.Secret is null ? $"; if it has a cluster secret, give the same with --secret-file or {ClusterSecret.EnvironmentVariable}" : "";
            throw new BadInputException($"--cluster: cannot reach the coordinator at {where} ({e.GetBaseException().Message}){hint}");
        }
        return (host, new ClusterJobRunner(host.Services.GetRequiredService<IGrainFactory>(), where));
    }

    /// <summary>
    /// Orleans listens with address reuse, so a second coordinator on a busy port would start and share the port's
    /// connections with the first; a plain bind first tells the user instead.
    /// </summary>
    private static void EnsureFree(int port)
    {
        try
        {
            using var probe = new System.Net.Sockets.TcpListener(IPAddress.Any, port);
            probe.Start();
        }
        catch (System.Net.Sockets.SocketException e)
        {
            throw new BadInputException($"--port: port {port} is in use ({e.Message}); is another coordinator running?");
        }
    }

    private static void Start(IHost silo, string what, ClusterSecret? secret)
    {
        try
        {
            // A refused secret ends the start at once: Orleans would keep retrying the connection for its join timeout.
            var start = silo.StartAsync();
            if (secret is not null && Task.WhenAny(start, secret.Refused).GetAwaiter().GetResult() == secret.Refused)
                throw new BadInputException(secret.Refused.Result);
            start.GetAwaiter().GetResult();
        }
        catch (Exception e) when (e is not BadInputException)
        {
            // Orleans wraps the cause (refused connection, port in use) in exceptions whose messages carry stack traces.
            throw new BadInputException($"cannot start the silo ({what}): {e.GetBaseException().Message}");
        }
    }
}
