using System.CommandLine;
using System.CommandLine.Parsing;
using System.Text.RegularExpressions;
using Spectre.Console;

namespace QEquiv.Cli;

/// <summary>Exit codes and error reporting shared by every command.</summary>
public static class Cli
{
    public const int Ok = 0;
    public const int InternalError = 1;
    public const int BadInput = 2;

    /// <summary>What every command's --help ends with, and README's list.</summary>
    public const string ExitCodes =
        "Exit codes: 0 ok (verify: verified), 10 falsified, 20 unknown, 2 bad input or usage (one line 'error: FILE: problem' " +
        "on stderr, before any work, nothing written), 130 interrupted by Ctrl+C or SIGTERM (what was done is printed and " +
        "written, marked interrupted), 1 internal error.";

    public static int Run(RootCommand root, string[] args)
    {
        if (args.Length == 0)
        {
            // Nothing asked: the usage, on standard error because it is not a result, and the usage-error exit code.
            root.Parse(["--help"]).Invoke(new InvocationConfiguration { Output = Console.Error });
            return BadInput;
        }
        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            // One line, the first problem: scripts grep it and users fix one thing at a time.
            var more = parse.Errors.Count > 1 ? $" (and {parse.Errors.Count - 1} more problem{(parse.Errors.Count > 2 ? "s" : "")}; see --help)" : "";
            Console.Error.WriteLine($"error: {Describe(parse.Errors[0])}{more}");
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

    /// <summary>A parser error in the user's words: the option and what it expects, never a .NET type name.</summary>
    internal static string Describe(ParseError error)
    {
        var m = Regex.Match(error.Message, @"^Cannot parse argument '(?<value>.*)' for (?:option|argument|command) '(?<name>[^']*)' as expected type '(?<type>[^']*)'");
        if (!m.Success)
        {
            // Messages such as "Argument 'foo' not recognized. Must be one of: ..." name no option; say which one.
            var option = error.SymbolResult switch { OptionResult o => o.Option.Name, ArgumentResult { Parent: OptionResult o } => o.Option.Name, _ => null };
            var text = OneLine(error.Message);
            return option is not null && !text.Contains(option, StringComparison.Ordinal) ? $"{option}: {text}" : text;
        }
        var type = error.SymbolResult switch
        {
            OptionResult o => o.Option.ValueType,
            ArgumentResult { Parent: OptionResult o } => o.Option.ValueType,
            ArgumentResult a => a.Argument.ValueType,
            _ => null,
        };
        if (type is not null) type = Nullable.GetUnderlyingType(type) ?? type;
        var typeName = m.Groups["type"].Value;
        var expected = type switch
        {
            { IsEnum: true } => "one of " + string.Join(", ", Enum.GetNames(type).Select(n => n.ToLowerInvariant())),
            _ when type == typeof(double) || type == typeof(float) || type == typeof(decimal) || typeName.Contains("Double") || typeName.Contains("Single") => "a number",
            _ when type == typeof(int) || type == typeof(long) || typeName.Contains("Int") => "a whole number",
            _ when type == typeof(bool) => "true or false",
            _ => "a valid value",
        };
        return $"{m.Groups["name"].Value}: '{m.Groups["value"].Value}' is not {expected}";
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
