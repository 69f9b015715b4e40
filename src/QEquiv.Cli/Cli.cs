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
            foreach (var e in parse.Errors) Console.Error.WriteLine($"error: {e.Message}");
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

    private static string OneLine(string s) => s.ReplaceLineEndings(" ");

    /// <summary>Console for tables: plain when output is redirected, so files and pipes get no escape codes.</summary>
    public static IAnsiConsole Out { get; } = AnsiConsole.Create(new AnsiConsoleSettings
    {
        Ansi = Console.IsOutputRedirected ? AnsiSupport.No : AnsiSupport.Detect,
        ColorSystem = Console.IsOutputRedirected ? ColorSystemSupport.NoColors : ColorSystemSupport.Detect,
        Out = new AnsiConsoleOutput(Console.Out),
    }).WithWidth(Console.IsOutputRedirected ? 200 : null);

    private static IAnsiConsole WithWidth(this IAnsiConsole console, int? width)
    {
        if (width is { } w) console.Profile.Width = w;
        return console;
    }
}
