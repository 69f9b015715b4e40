using System.Globalization;
using QEquiv.Regions;

namespace QEquiv.Benchmarking;

/// <summary>
/// One line of a benchmark instance list: the float model N, the quantized model Q, the input region, δ, and the
/// per-instance time limit. Paths are absolute (resolved against the list's folder when read).
/// </summary>
/// <param name="Line">1-based line in <see cref="Source"/>, named in errors and progress.</param>
/// <param name="TimeoutSeconds">null when the timeout column is empty (no per-instance limit).</param>
public sealed record BenchInstance(
    string Source,
    int Line,
    string FloatModel,
    string QuantModel,
    RegionSpec Region,
    string BaseDirectory,
    double Delta,
    double? TimeoutSeconds)
{
    /// <summary>A short human name, free of commas: quantized model, region, δ (e.g. "mnist-net_256x2.qnnpack-qdq/prop_0_0.03/d=0.05").</summary>
    public string Name =>
        $"{Path.GetFileNameWithoutExtension(QuantModel)}/{RegionLabel(Region)}/d={Delta.ToString("R", CultureInfo.InvariantCulture)}".Replace(',', ';');

    /// <summary>"FILE line N", as errors name it.</summary>
    public string Where => $"{Source} line {Line}";

    /// <summary>The instance's time limit capped by <paramref name="cap"/> (either may be absent).</summary>
    public TimeSpan? EffectiveTimeout(double? cap) =>
        (TimeoutSeconds, cap) switch
        {
            (null, null) => null,
            ({ } t, null) => TimeSpan.FromSeconds(t),
            (null, { } c) => TimeSpan.FromSeconds(c),
            ({ } t, { } c) => TimeSpan.FromSeconds(Math.Min(t, c)),
        };

    private static string RegionLabel(RegionSpec r) => r.Kind switch
    {
        RegionKind.VnnLib => Path.GetFileNameWithoutExtension(r.Path),
        RegionKind.Ball => string.Create(CultureInfo.InvariantCulture, $"{Path.GetFileNameWithoutExtension(r.Path)}+-{r.Eps:R}"),
        _ => $"{Path.GetFileNameWithoutExtension(r.Path)}..{Path.GetFileNameWithoutExtension(r.SecondPath)}",
    };
}

/// <summary>
/// Reads a benchmark instance list:
/// <code>
/// # comment (whole line, or after a field: everything from '#' on is ignored)
/// float,quantized,region,delta,timeout           optional header (first line, words where a model and δ would be)
/// ../models/n.onnx,../models/q.onnx,vnnlib:prop_0_0.03.vnnlib,0.05,60
/// </code>
/// Five comma-separated columns: float model, quantized model, region spec (<see cref="RegionSpec"/>), δ &gt; 0,
/// timeout in seconds &gt; 0 (may be left empty: no limit of its own). Paths, including those inside the region
/// spec, are relative to the list's folder. Fields cannot contain commas (there is no quoting).
/// Every line is checked, and every file it names must exist, before anything runs: a typo on line 40 should
/// not surface after an hour of solving.
/// </summary>
public static class BenchInstances
{
    public const int Columns = 5;
    private static readonly string[] ColumnNames = ["float model", "quantized model", "region", "delta", "timeout"];

    /// <exception cref="BadInputException">unreadable list, wrong column count, empty field, bad number, δ ≤ 0,
    /// timeout ≤ 0, a file that does not exist, no instances at all — naming the list and the line.</exception>
    public static IReadOnlyList<BenchInstance> Read(string path)
    {
        var lines = Data.TextFile.ReadAllLines(path);
        var baseDir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        return Parse(lines, path, baseDir);
    }

    /// <summary>Parses already-read lines; <paramref name="source"/> names the list in errors, paths resolve against <paramref name="baseDirectory"/>.</summary>
    /// <param name="fileExists">How files are checked (File.Exists unless given; tests pass their own).</param>
    public static IReadOnlyList<BenchInstance> Parse(IReadOnlyList<string> lines, string source, string baseDirectory,
        Func<string, bool>? fileExists = null)
    {
        fileExists ??= File.Exists;
        var instances = new List<BenchInstance>();
        var sawData = false;
        for (var l = 0; l < lines.Count; l++)
        {
            var text = StripComment(lines[l]);
            if (string.IsNullOrWhiteSpace(text)) continue;
            var where = $"{source} line {l + 1}";
            var fields = text.Split(',').Select(f => f.Trim()).ToArray();
            if (!sawData && fields.Length > 3 && !IsNumber(fields[3]) && !fields[0].EndsWith(".onnx", StringComparison.OrdinalIgnoreCase))
            {
                sawData = true; // a header: the first line, with words (not a model file and a number) where data goes
                continue;
            }
            sawData = true;
            if (fields.Length != Columns)
                throw BadInputException.For(where,
                    $"expected {Columns} columns ({string.Join(", ", ColumnNames)}), found {fields.Length}");
            for (var c = 0; c < 4; c++)
                if (fields[c].Length == 0) throw BadInputException.For(where, $"column {c + 1} ({ColumnNames[c]}) is empty");

            var delta = Number(fields[3], where, "delta");
            if (!(delta > 0)) throw BadInputException.For(where, $"delta must be > 0, got {fields[3]}");
            double? timeout = null;
            if (fields[4].Length > 0)
            {
                var t = Number(fields[4], where, "timeout");
                if (!(t > 0) || t >= 1e9) throw BadInputException.For(where, $"timeout must be a number of seconds > 0, got {fields[4]}");
                timeout = t;
            }
            var floatModel = ExistingFile(fileExists, baseDirectory, fields[0], where, "float model");
            var quantModel = ExistingFile(fileExists, baseDirectory, fields[1], where, "quantized model");
            var region = RegionSpec.Parse(fields[2], where);
            ExistingFile(fileExists, baseDirectory, region.Path, where, "region file");
            if (region.SecondPath is { } second) ExistingFile(fileExists, baseDirectory, second, where, "region file");
            instances.Add(new BenchInstance(source, l + 1, floatModel, quantModel, region, baseDirectory, delta, timeout));
        }
        if (instances.Count == 0) throw BadInputException.For(source, "no instances (only comments, blank lines or a header)");
        return instances;
    }

    private static string StripComment(string line)
    {
        var hash = line.IndexOf('#');
        return hash < 0 ? line : line[..hash];
    }

    private static bool IsNumber(string s) => double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out _);

    private static double Number(string s, string where, string column) =>
        double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && double.IsFinite(v)
            ? v
            : throw BadInputException.For(where, $"{column} '{s}' is not a finite number");

    private static string ExistingFile(Func<string, bool> fileExists, string baseDirectory, string path, string where, string what)
    {
        var full = Path.IsPathRooted(path) ? path : Path.GetFullPath(Path.Combine(baseDirectory, path));
        return fileExists(full) ? full : throw BadInputException.For(where, $"{what} '{path}' does not exist (looked for {full})");
    }
}
