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
        var command = new Command("max-error", "Bound the largest |N_j − Q_j| on a region, per output and overall");
        models.AddTo(command);
        region.AddTo(command);
        foreach (var o in new Option[] { gap, solver, timeout, seed, workers }) command.Options.Add(o);
        command.SetAction(parse =>
        {
            var (n, q) = models.Load(parse);
            var (box, notice) = region.Resolve(parse, n.InputSize);
            if (notice is not null) Console.Error.WriteLine($"note: {notice}");
            var report = MaxError.Analyse(n, q, box, new MaxErrorOptions(parse.GetValue(gap), VerifyCommand.Seconds(parse.GetValue(timeout)),
                parse.GetValue(solver), parse.GetValue(seed)) { Workers = VerifyCommand.Workers(parse, workers, Strategy.Output) });
            var c = CultureInfo.InvariantCulture;
            Console.WriteLine("output,lower (witnessed),upper (certified),upper from,seconds");
            foreach (var o in report.PerOutput)
                Console.WriteLine(string.Create(c, $"{o.Output},{o.Lower:G9},{o.Upper:G9},{o.UpperFrom},{o.Seconds:F2}"));
            Console.WriteLine(string.Create(c, $"max |N - Q| on the region is in [{report.Lower:G9}, {report.Upper:G9}] ({report.Seconds:F2} s)"));
            return Cli.Ok;
        });
        return command;
    }
}
