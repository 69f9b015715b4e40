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
        ($"{Stem(QuantModel)}/{RegionLabel(Region)}/d={Delta.ToString("R", CultureInfo.InvariantCulture)}"
            + (Outputs is { } o ? $"/y={string.Join(";", o)}" : "")).Replace(',', ';');

    /// <summary>The outputs the row compares (its sixth column, e.g. "0" or "0;3"); null: every output.</summary>
    public IReadOnlyList<int>? Outputs { get; init; }

    /// <summary>The row is VNN-COMP's two-network form (networks, VNN-LIB 2.0 property, timeout): δ is the spec's ε.</summary>
    public bool FromVnnComp { get; init; }

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
        RegionKind.VnnLib => Stem(r.Path),
        RegionKind.Ball => string.Create(CultureInfo.InvariantCulture, $"{Stem(r.Path)}+-{r.Eps:R}"),
        _ => $"{Stem(r.Path)}..{Stem(r.SecondPath!)}",
    };

    /// <summary>A file's name without its extension, and without ".gz" first (net.onnx.gz: net).</summary>
    private static string Stem(string path) => Path.GetFileNameWithoutExtension(Data.Gzip.ContentName(path));
}

/// <summary>
/// Reads a benchmark instance list:
/// <code>
/// # comment (whole line, or after a field: everything from '#' on is ignored)
/// float,quantized,region,delta,timeout           optional header (first line, words where a model and δ would be)
/// ../models/n.onnx,../models/q.onnx,vnnlib:prop_0_0.03.vnnlib,0.05,60
/// "[('f', nets/a.onnx), ('g', nets_pruned/b.onnx.gz)]",prop.vnnlib.gz,100
/// </code>
/// Five comma-separated columns: float model, quantized model, region spec (<see cref="RegionSpec"/>), δ &gt; 0,
/// timeout in seconds &gt; 0 (may be left empty: no limit of its own); and optionally a sixth, the outputs compared
/// (<c>0</c>, <c>0;3</c>; empty: all), for a property about some outputs only (NeuroDiff's are about one). Or VNN-COMP's two-network row, three columns: the
/// networks as VNN-COMP writes them, <c>"[('f', A), ('g', B)]"</c> (names quoted or not, paths quoted or not), a VNN-LIB
/// 2.0 two-network spec declaring those two names, and the timeout; the spec's first network is N (the reference), the
/// other Q, the region is the spec's box and δ its ε (<see cref="TwoNetworkSpec"/>). Lines of both kinds may mix. Paths,
/// including those inside the region spec, are relative to the list's folder; any file may be gzip-compressed. A field
/// holding commas is written in double quotes (CSV's rule, "" for a quote inside).
/// Every line is checked, and every file it names must exist, before anything runs: a typo on line 40 should
/// not surface after an hour of solving.
/// </summary>
public static partial class BenchInstances
{
    public const int Columns = 5;
    private static readonly string[] ColumnNames = ["float model", "quantized model", "region", "delta", "timeout", "outputs (optional)"];

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
        var specs = new Dictionary<string, VnnLibRegion>(StringComparer.Ordinal);
        var sawData = false;
        for (var l = 0; l < lines.Count; l++)
        {
            var text = StripComment(lines[l]);
            if (string.IsNullOrWhiteSpace(text)) continue;
            var where = $"{source} line {l + 1}";
            var fields = Split(text, where);
            var twoNetworks = fields[0].StartsWith('[');
            if (!sawData && !twoNetworks && !IsModel(fields[0])
                && (fields.Length > 3 && !IsNumber(fields[3]) || fields.Length == 3 && fields[2].Length > 0 && !IsNumber(fields[2])))
            {
                sawData = true; // a header: the first line, with words (not a model file and a number) where data goes
                continue;
            }
            sawData = true;
            if (twoNetworks)
            {
                instances.Add(VnnCompRow(fields, source, l + 1, where, baseDirectory, fileExists, specs));
                continue;
            }
            if (fields.Length == VnnCompColumns)
                throw BadInputException.For(where,
                    $"a three-column row is VNN-COMP's, whose first column names two networks, \"[('f', A), ('g', B)]\"; found '{fields[0]}' (one network: QEquiv compares two)");
            if (fields.Length != Columns && fields.Length != Columns + 1)
                throw BadInputException.For(where,
                    $"expected {Columns} or {Columns + 1} columns ({string.Join(", ", ColumnNames)}), found {fields.Length}");
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
            var outputs = fields.Length > Columns && fields[Columns].Length > 0 ? Model.OutputSelection.Parse(fields[Columns], where, "column 6 (outputs)") : null;
            instances.Add(new BenchInstance(source, l + 1, floatModel, quantModel, region, baseDirectory, delta, timeout) { Outputs = outputs });
        }
        if (instances.Count == 0) throw BadInputException.For(source, "no instances (only comments, blank lines or a header)");
        return instances;
    }

    public const int VnnCompColumns = 3;

    /// <summary>VNN-COMP's two-network row: "[('f', A), ('g', B)]", the VNN-LIB 2.0 spec, the timeout.</summary>
    private static BenchInstance VnnCompRow(string[] fields, string source, int line, string where, string baseDirectory, Func<string, bool> fileExists,
        Dictionary<string, VnnLibRegion> specs)
    {
        if (fields.Length != VnnCompColumns)
            throw BadInputException.For(where, $"a VNN-COMP two-network row has {VnnCompColumns} columns (networks, VNN-LIB 2.0 property, timeout), found {fields.Length}");
        var networks = Networks(fields[0], where);
        if (fields[1].Length == 0) throw BadInputException.For(where, "column 2 (VNN-LIB 2.0 property) is empty");
        var property = ExistingFile(fileExists, baseDirectory, fields[1], where, "property");
        if (!specs.TryGetValue(property, out var region)) specs[property] = region = VnnLib.ParseBox(property);
        var spec = region.Equivalence
            ?? throw BadInputException.For(where, $"property '{fields[1]}' is VNN-LIB 1.0; a two-network row needs a VNN-LIB 2.0 spec that declares its networks and states |Y_g − Y_f| ≤ ε");
        var declared = new[] { spec.Reference.Name, spec.Other.Name };
        foreach (var (name, _) in networks)
            if (!declared.Contains(name))
                throw BadInputException.For(where, $"network '{name}' is not declared in {fields[1]} (it declares '{declared[0]}' and '{declared[1]}')");
        if (networks[0].Name == networks[1].Name) throw BadInputException.For(where, $"network '{networks[0].Name}' is given twice");
        string Model(string name)
        {
            var path = networks.Single(n => n.Name == name).Path;
            return ExistingFile(fileExists, baseDirectory, path, where, $"network '{name}'");
        }
        double? timeout = null;
        if (fields[2].Length > 0)
        {
            var t = Number(fields[2], where, "timeout");
            if (!(t > 0) || t >= 1e9) throw BadInputException.For(where, $"timeout must be a number of seconds > 0, got {fields[2]}");
            timeout = t;
        }
        return new BenchInstance(source, line, Model(spec.Reference.Name), Model(spec.Other.Name), new RegionSpec(RegionKind.VnnLib, fields[1]),
            baseDirectory, spec.Delta, timeout) { FromVnnComp = true };
    }

    /// <summary>"[('f', 'nets/a.onnx'), ('g', nets_pruned/b.onnx)]": two (name, path) pairs, names and paths quoted or not.</summary>
    private static (string Name, string Path)[] Networks(string text, string where)
    {
        var matches = NetworkPair().Matches(text);
        var rest = NetworkPair().Replace(text, "").Replace(",", "").Replace(" ", "");
        if (rest != "[]" || matches.Count == 0)
            throw BadInputException.For(where, $"networks '{text}' are not written [('f', A), ('g', B)]");
        if (matches.Count != 2)
            throw BadInputException.For(where, $"networks '{text}' name {matches.Count} networks; QEquiv compares two");
        return [.. matches.Select(m => (m.Groups["name"].Value, m.Groups["path"].Value.Trim()))];
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"\(\s*(?<q>['""]?)(?<name>[A-Za-z_][\w.-]*)\k<q>\s*,\s*(?<p>['""]?)(?<path>[^'""()]+?)\k<p>\s*\)")]
    private static partial System.Text.RegularExpressions.Regex NetworkPair();

    /// <summary>Comma-separated fields, trimmed; a field in double quotes may hold commas ("" is a quote inside).</summary>
    private static string[] Split(string text, string where)
    {
        var fields = new List<string>();
        var field = new System.Text.StringBuilder();
        var quoted = false;
        for (var k = 0; k < text.Length; k++)
        {
            var ch = text[k];
            if (quoted)
            {
                if (ch != '"') field.Append(ch);
                else if (k + 1 < text.Length && text[k + 1] == '"') { field.Append('"'); k++; }
                else quoted = false;
            }
            else if (ch == '"') quoted = true;
            else if (ch == ',') { fields.Add(field.ToString().Trim()); field.Clear(); }
            else field.Append(ch);
        }
        if (quoted) throw BadInputException.For(where, "a double quote is opened but never closed");
        fields.Add(field.ToString().Trim());
        return [.. fields];
    }

    private static bool IsModel(string field) =>
        Data.Gzip.ContentName(field).EndsWith(".onnx", StringComparison.OrdinalIgnoreCase) || Nnet.NnetReader.IsNnet(field);

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
