using System.CommandLine;
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
        root.Subcommands.Add(ClusterCommands.Load());
        return root;
    }
}
