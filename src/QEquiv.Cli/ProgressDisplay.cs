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
        {
            // The run reports on events; the line is redrawn on a clock so that the elapsed time keeps moving between them.
            VerificationProgress? latest = null;
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var run = Task.Factory.StartNew(() => work(p => Volatile.Write(ref latest, p)), TaskCreationOptions.LongRunning);
            while (!run.Wait(250))
                if (Volatile.Read(ref latest) is { } p) ctx.Status(Markup.Escape(Describe(p with { Elapsed = clock.Elapsed })));
            return run.GetAwaiter().GetResult();
        });
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
