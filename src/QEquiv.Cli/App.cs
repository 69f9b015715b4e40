using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
using QEquiv.Cli.Commands;

namespace QEquiv.Cli;

public static class App
{
    public static RootCommand Build()
    {
        var root = new RootCommand("QEquiv: verify that a quantized neural network stays within δ of its float network");
        root.Subcommands.Add(InspectCommand.Create());
        root.Subcommands.Add(EvalCommand.Create());
        root.Subcommands.Add(VerifyCommand.Create());
        root.Subcommands.Add(MaxErrorCommand.Create());
        root.Subcommands.Add(BenchCommand.Create());
        root.Subcommands.Add(QuantizeCommand.Create());
        root.Subcommands.Add(ReportCommand.Create());
        root.Subcommands.Add(ClusterCommands.Coordinator());
        root.Subcommands.Add(ClusterCommands.Worker());
        // Every --help ends with the exit codes, so scripts can be written from the help alone.
        var help = root.Options.OfType<HelpOption>().Single();
        if (help.Action is HelpAction standard) help.Action = new HelpWithExitCodes(standard);
        root.Subcommands.Add(ClusterCommands.Load());
        return root;
    }
}

/// <summary>The standard help, then the exit codes.</summary>
internal sealed class HelpWithExitCodes(HelpAction standard) : SynchronousCommandLineAction
{
    public override bool ClearsParseErrors => true;

    public override int Invoke(ParseResult parseResult)
    {
        var code = standard.Invoke(parseResult);
        var output = parseResult.InvocationConfiguration.Output;
        output.WriteLine(Cli.ExitCodes);
        output.WriteLine();
        return code;
    }
}
