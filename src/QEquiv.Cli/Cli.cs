using System.CommandLine;
using Spectre.Console;

namespace QEquiv.Cli;

/// <summary>Exit codes and error reporting shared by every command.</summary>
public static class Cli
{
    public const int Ok = 0;
    public const int InternalError = 1;
    public const int BadInput = 2;

    public static int Run(RootCommand root, string[] args)
    {
        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            foreach (var e in parse.Errors) Console.Error.WriteLine($"error: {OneLine(e.Message)}");
            return BadInput;
        }
        try
        {
            return parse.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (BadInputException e)
        {
            Console.Error.WriteLine($"error: {OneLine(e.Message)}");
            return BadInput;
        }
        catch (Exception e)
        {
            Console.Error.WriteLine($"internal error: {OneLine(e.Message)} ({e.GetType().Name})");
            if (Environment.GetEnvironmentVariable("QEQUIV_DEBUG") is not null) Console.Error.WriteLine(e);
            return InternalError;
        }
    }

    // Some parser messages list choices on separate lines; every error stays one line for scripts that grep it.
    private static string OneLine(string s) => string.Join(' ', s.Split(['\r', '\n', '\t'], StringSplitOptions.RemoveEmptyEntries).Select(p => p.Trim()));

    /// <summary>Console for tables: plain when output is redirected, so files and pipes get no escape codes. It writes
    /// to whatever Console.Out is at the time (not the writer it was created with), so in-process runs that
    /// capture Console.Out, like the tests' CliRunner, see tables from every command, not only the first.</summary>
    public static IAnsiConsole Out { get; } = AnsiConsole.Create(new AnsiConsoleSettings
    {
        Ansi = Console.IsOutputRedirected ? AnsiSupport.No : AnsiSupport.Detect,
        ColorSystem = Console.IsOutputRedirected ? ColorSystemSupport.NoColors : ColorSystemSupport.Detect,
        Out = new AnsiConsoleOutput(new CurrentConsoleOut()),
    }).WithWidth(Console.IsOutputRedirected ? 200 : null);

    private static IAnsiConsole WithWidth(this IAnsiConsole console, int? width)
    {
        if (width is { } w) console.Profile.Width = w;
        return console;
    }

    private sealed class CurrentConsoleOut : TextWriter
    {
        public override System.Text.Encoding Encoding => Console.Out.Encoding;
        public override void Write(char value) => Console.Out.Write(value);
        public override void Write(string? value) => Console.Out.Write(value);
        public override void Write(char[] buffer, int index, int count) => Console.Out.Write(buffer, index, count);
        public override void WriteLine(string? value) => Console.Out.WriteLine(value);
        public override void Flush() => Console.Out.Flush();
    }
}
