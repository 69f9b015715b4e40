using System.CommandLine;
using System.Globalization;
using QEquiv.Verification;

namespace QEquiv.Cli.Commands;

/// <summary>`qequiv max-error`: per output a witnessed lower and a certified upper bound of max |N_j − Q_j| on the region.</summary>
internal static class MaxErrorCommand
{
    public static Command Create()
    {
        var models = new ModelOptions();
        var region = new RegionOptions();
        var gap = new Option<double>("--gap") { Description = "stop each maximisation at this relative gap", DefaultValueFactory = _ => 1e-3 };
        var solver = VerifyCommand.SolverOption();
        var timeout = VerifyCommand.TimeoutOption();
        var seed = new Option<int>("--seed") { DefaultValueFactory = _ => 0, Description = "seed of the random search for witnessed errors" };
        var workers = VerifyCommand.WorkersOption();
        var json = JsonOutput.Option("the bounds per output and overall (with interrupted)");
        var quiet = VerifyCommand.QuietOption();
        var command = new Command("max-error", "Bound the largest |N_j − Q_j| on a region, per output and overall");
        models.AddTo(command);
        region.AddTo(command);
        var searchTime = new Option<double?>("--search-time")
        {
            Description = "seconds of counterexample search for witnessed errors before the bounds and MILPs, used in full (default: a tenth of --timeout, at most 5, and at most 10^5 evaluations)",
            HelpName = "SECONDS",
        };
        var lpBudget = new Option<double?>("--lp-budget")
        {
            Description = "seconds of LP relaxation of N − Q after the bounds, pair by pair from the highest bound down (default: half the time left, 30 without --timeout; 0: none)",
            HelpName = "SECONDS",
        };
        foreach (var o in new Option[] { gap, solver, timeout, seed, workers, searchTime, lpBudget, json, quiet }) command.Options.Add(o);
        command.SetAction(parse =>
        {
            var jsonPath = new OutputPaths().File(parse.GetValue(json), "--json", stdoutAllowed: true);
            var g = parse.GetValue(gap);
            if (!(g >= 0) || !double.IsFinite(g)) throw new BadInputException($"--gap: must be a finite number ≥ 0, got {g.ToString(CultureInfo.InvariantCulture)}");
            var limit = VerifyCommand.Seconds(parse.GetValue(timeout));
            var w = VerifyCommand.Workers(parse, workers, Strategy.Output);
            TimeSpan? search = parse.GetValue(searchTime) is { } ss
                ? double.IsFinite(ss) && ss is >= 0 and < 1e9 ? TimeSpan.FromSeconds(ss) : throw new BadInputException($"--search-time: must be a number of seconds ≥ 0, got {ss}")
                : null;
            TimeSpan? lp = parse.GetValue(lpBudget) is { } ls
                ? double.IsFinite(ls) && ls is >= 0 and < 1e9 ? TimeSpan.FromSeconds(ls) : throw new BadInputException($"--lp-budget: must be a number of seconds ≥ 0, got {ls}")
                : null;
            var regionNotice = region.Check(parse);
            var quietRun = parse.GetValue(quiet);
            using var jsonOut = new JsonOutput(jsonPath);
            var (n, q, box) = models.LoadWithRegion(parse, region, regionNotice, quietRun);
            if (region.Spec(parse) is { } spec && !quietRun)
                Console.Error.WriteLine($"note: {Path.GetFileName(spec.Source)} asks {spec.Statement} (non-strict): it holds where the certified upper bound of each output is at most its bound; max-error bounds the difference and does not decide the spec (verify does)");
            MaxErrorReport report;
            bool interrupted;
            string? signal;
            using (var interrupt = Interruption.Start($"max-error, {2 * n.OutputSize} maximisations", quietRun))
            {
                report = MaxError.Analyse(n, q, box, new MaxErrorOptions(g, limit, parse.GetValue(solver), parse.GetValue(seed))
                {
                    Workers = w,
                    SearchTime = search,
                    LpBudget = lp,
                    Cancellation = interrupt.Token,
                });
                (interrupted, signal) = (interrupt.Requested, interrupt.Signal);
            }
            var c = CultureInfo.InvariantCulture;
            Console.WriteLine("output,lower (witnessed),upper (certified),upper from,seconds");
            // With --outputs the rows name the models' own output numbers, not the narrowed pair's.
            foreach (var o in report.PerOutput)
                Console.WriteLine(string.Create(c, $"{n.SelectedOutputs?[o.Output] ?? o.Output},{o.Lower:G9},{o.Upper:G9},{o.UpperFrom},{o.Seconds:F2}"));
            Console.WriteLine(string.Create(c, $"max |N - Q| on the region is in [{report.Lower:G9}, {report.Upper:G9}] ({report.Seconds:F2} s)"));
            // The bounds stay sound when stopped early (witnessed lower, certified upper), only wider than asked for.
            if (interrupted) Console.WriteLine($"interrupted ({signal}): stopped early; the bounds above hold but are not as tight as --gap asks");
            jsonOut.Write(CliJson.Serialize(new
            {
                lower = report.Lower,
                upper = report.Upper,
                seconds = report.Seconds,
                interrupted,
                perOutput = report.PerOutput.Select(o => new { output = o.Output, lower = o.Lower, upper = o.Upper, upperFrom = o.UpperFrom, seconds = o.Seconds, lowerInput = o.LowerInput }),
            }));
            return interrupted ? Interruption.ExitCode : Cli.Ok;
        });
        return command;
    }
}
