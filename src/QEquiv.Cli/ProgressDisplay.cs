using System.Globalization;
using QEquiv.Verification;
using Spectre.Console;

namespace QEquiv.Cli;

/// <summary>
/// The live status line of a running verification, on standard error so that standard output keeps only the verdict
/// and its evidence. Off with --quiet and whenever standard error is not a terminal (files, pipes, CI logs).
/// </summary>
internal static class ProgressDisplay
{
    public static T Run<T>(bool quiet, Func<Action<VerificationProgress>?, T> work)
    {
        if (quiet || Console.IsErrorRedirected) return work(null);
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        return console.Status().Spinner(Spinner.Known.Dots).Start("starting", ctx =>
            // The setter only stores the text; Spectre's render loop draws it, so worker threads may call it.
            work(p => ctx.Status(Markup.Escape(Describe(p)))));
    }

    /// <summary>One line: stage, done / queued / running sub-problems, proved share of the input volume, best |N − Q| found, elapsed.</summary>
    public static string Describe(VerificationProgress p)
    {
        var c = CultureInfo.InvariantCulture;
        var head = string.Create(c, $"{p.Elapsed.TotalSeconds,6:F1} s  {p.Stage}");
        var best = string.Create(c, $"best |N − Q| so far {p.BestDifference:G4}");
        if (p.Engine is not { } e) return $"{head}  {best}";
        return string.Create(c, $"{head}  {e.Attempts} done, {e.Waiting} queued, {e.Running} running, {e.Proved} proved, {e.Open} open  proved volume {e.ProvedVolume:P1}  {best}{(e.Violated ? "  witness found" : "")}");
    }
}
