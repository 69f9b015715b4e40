using System.CommandLine;

namespace QEquiv.Cli;

/// <summary>
/// `--json PATH` of every command that computes: the command's results as one JSON document, written whole to PATH, or
/// with `--json -` to standard output; then standard output carries the JSON alone (the human-readable lines and tables
/// go to standard error instead), so it can be piped into jq or a script.
/// </summary>
internal sealed class JsonOutput : IDisposable
{
    private readonly string? _path;
    private readonly TextWriter? _stdout;

    public static Option<string> Option(string what) => new("--json")
    {
        Description = $"write {what} as JSON to this file ('-': to standard output, which then holds only the JSON; the usual output goes to standard error)",
        HelpName = "PATH",
    };

    /// <param name="path">A path checked by <see cref="OutputPaths.File"/>, "-", or null (no JSON).</param>
    public JsonOutput(string? path)
    {
        _path = path;
        if (!OutputPaths.IsStdout(path)) return;
        _stdout = Console.Out;
        Console.SetOut(Console.Error);
    }

    public void Write(string json)
    {
        if (_path is null) return;
        if (_stdout is { } o)
        {
            o.WriteLine(json);
            o.Flush();
        }
        else AtomicFile.Write(_path, json + "\n");
    }

    public void Dispose()
    {
        if (_stdout is { } o) Console.SetOut(o);
    }
}

/// <summary>The JSON conventions of every command's --json: camelCase names and enum words, indented, NaN and ±∞ as strings.</summary>
internal static class CliJson
{
    public static readonly System.Text.Json.JsonSerializerOptions Options = new()
    {
        WriteIndented = true,
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter(System.Text.Json.JsonNamingPolicy.CamelCase) },
        PropertyNamingPolicy = System.Text.Json.JsonNamingPolicy.CamelCase,
        // "output+input" and "|N − Q|" as written, not as \u escapes: the files are read by people and jq, never embedded in HTML.
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public static string Serialize<T>(T value) => System.Text.Json.JsonSerializer.Serialize(value, Options);
}
