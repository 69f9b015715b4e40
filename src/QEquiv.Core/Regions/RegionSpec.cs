using System.Globalization;

namespace QEquiv.Regions;

public enum RegionKind { VnnLib, Ball, Box }

/// <summary>
/// A region written compactly in one field of the bench CSV, resolved to a <see cref="Box"/> later
/// (so a bench file can be checked for syntax before any data file is read).
/// <code>
/// spec   := "vnnlib:" path
///         | "ball:"   path ":" eps [ ":" lo ":" hi ]
///         | "box:"    path ":" path
/// path   := file name, relative to the base directory unless absolute
/// eps, lo, hi := invariant-culture numbers (0.03, 1e-3, -1); eps &gt; 0; lo &lt; hi
/// </code>
/// Examples: <c>vnnlib:mnistfc/prop_0_0.03.vnnlib</c>, <c>ball:img0.csv:0.03:0:1</c>,
/// <c>box:lo.csv:hi.csv</c>. The vnnlib path is everything after the first colon; a ball path may contain
/// colons because its numbers are taken from the right; box paths must not contain colons (the
/// two paths could not be told apart). The kind keyword is case-insensitive; whitespace around fields is trimmed.
/// </summary>
public sealed record RegionSpec(RegionKind Kind, string Path, string? SecondPath = null, double? Eps = null, (double lo, double hi)? Clip = null)
{
    /// <param name="source">Where the text came from (e.g. "bench.csv line 4"), named in errors.</param>
    /// <exception cref="BadInputException">unknown kind, wrong number of fields, bad number, eps ≤ 0, clip lo ≥ hi.</exception>
    public static RegionSpec Parse(string text, string source)
    {
        ArgumentNullException.ThrowIfNull(text);
        var colon = text.IndexOf(':');
        if (colon < 0)
            throw Error(source, text, "expected kind:arguments (vnnlib:…, ball:…, box:…)");
        var kind = text[..colon].Trim().ToLowerInvariant();
        var rest = text[(colon + 1)..];
        switch (kind)
        {
            case "vnnlib":
                return new RegionSpec(RegionKind.VnnLib, RequirePath(rest.Trim(), source, text));
            case "box":
            {
                var parts = rest.Split(':');
                if (parts.Length != 2)
                    throw Error(source, text, "box takes exactly two paths: box:lo.csv:hi.csv");
                return new RegionSpec(RegionKind.Box, RequirePath(parts[0].Trim(), source, text), RequirePath(parts[1].Trim(), source, text));
            }
            case "ball":
            {
                var parts = rest.Split(':');
                // Numbers come from the right so that the path keeps any colons it has.
                if (parts.Length >= 4 && IsNumber(parts[^1]) && IsNumber(parts[^2]) && IsNumber(parts[^3]))
                {
                    var path = RequirePath(string.Join(':', parts[..^3]).Trim(), source, text);
                    var eps = ParseEps(parts[^3], source, text);
                    var lo = Number(parts[^2], source, text);
                    var hi = Number(parts[^1], source, text);
                    if (!(lo < hi)) throw Error(source, text, $"clip range needs lo < hi, got {lo:R} and {hi:R}");
                    return new RegionSpec(RegionKind.Ball, path, null, eps, (lo, hi));
                }
                if (parts.Length >= 2)
                    return new RegionSpec(RegionKind.Ball, RequirePath(string.Join(':', parts[..^1]).Trim(), source, text), null, ParseEps(parts[^1], source, text));
                throw Error(source, text, "ball takes a path and eps: ball:center.csv:eps[:lo:hi]");
            }
            default:
                throw Error(source, text, $"unknown region kind '{kind}' (expected vnnlib, ball or box)");
        }
    }

    /// <summary>Reads the files the spec names, relative to <paramref name="baseDirectory"/>, and returns the box.</summary>
    /// <exception cref="BadInputException">from the file readers, naming the file.</exception>
    public Box Resolve(string baseDirectory) => Kind switch
    {
        RegionKind.VnnLib => VnnLib.ParseBox(Full(baseDirectory, Path)).Box,
        RegionKind.Ball => Region.BallAroundFile(Full(baseDirectory, Path), Eps!.Value, Clip),
        RegionKind.Box => Region.FromBoxFiles(Full(baseDirectory, Path), Full(baseDirectory, SecondPath!)),
        _ => throw new InvalidOperationException($"unknown region kind {Kind}"),
    };

    /// <summary>The (first) file the spec names, resolved against <paramref name="baseDirectory"/>.</summary>
    public string FullPath(string baseDirectory) => Full(baseDirectory, Path);

    /// <summary>The canonical text form; Parse(ToString()) gives an equal spec.</summary>
    public override string ToString() => Kind switch
    {
        RegionKind.VnnLib => $"vnnlib:{Path}",
        RegionKind.Box => $"box:{Path}:{SecondPath}",
        _ => Clip is { } c
            ? string.Create(CultureInfo.InvariantCulture, $"ball:{Path}:{Eps:R}:{c.lo:R}:{c.hi:R}")
            : string.Create(CultureInfo.InvariantCulture, $"ball:{Path}:{Eps:R}"),
    };

    private static string Full(string baseDirectory, string path) =>
        System.IO.Path.IsPathRooted(path) ? path : System.IO.Path.GetFullPath(System.IO.Path.Combine(baseDirectory, path));

    private static string RequirePath(string path, string source, string text) =>
        path.Length > 0 ? path : throw Error(source, text, "a path is empty");

    private static bool IsNumber(string s) =>
        double.TryParse(s.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out _);

    private static double Number(string s, string source, string text) =>
        double.TryParse(s.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && double.IsFinite(v)
            ? v
            : throw Error(source, text, $"'{s.Trim()}' is not a finite number");

    private static double ParseEps(string s, string source, string text)
    {
        var eps = Number(s, source, text);
        return eps > 0 ? eps : throw Error(source, text, $"eps must be > 0, got {eps:R}");
    }

    private static BadInputException Error(string source, string text, string problem) =>
        BadInputException.For(source, $"region '{text}': {problem}");
}
