using System.CommandLine;
using QEquiv.Regions;

namespace QEquiv.Cli.Commands;

/// <summary>The input region: exactly one of --vnnlib, --center/--eps[/--clip], --box.</summary>
internal sealed class RegionOptions
{
    public Option<string> VnnLib { get; } = new("--vnnlib")
    {
        Description = "VNN-LIB file (.vnnlib or .vnnlib.gz): a 1.0 file's input bounds give the box (its output constraints are ignored); a 2.0 two-network spec gives the box and δ = its ε (|Y_g − Y_f| ≤ ε)",
    };

    private VnnLibRegion? _vnnLib;
    public Option<string> Center { get; } = new("--center") { Description = "one-row CSV: the centre of an L∞ ball (with --eps)" };
    public Option<double?> Eps { get; } = new("--eps") { Description = "radius of the L∞ ball around --center" };
    public Option<string> Clip { get; } = new("--clip") { Description = "LO,HI: clip the ball to the input domain, e.g. 0,1" };
    public Option<string[]> Box { get; } = new("--box") { Description = "LO.csv HI.csv: one-row CSVs of lower and upper bounds", Arity = new ArgumentArity(2, 2), AllowMultipleArgumentsPerToken = true };

    public void AddTo(Command command)
    {
        foreach (var o in new Option[] { VnnLib, Center, Eps, Clip, Box }) command.Options.Add(o);
    }

    /// <summary>
    /// The region's flags before any file is read: exactly one region, --eps a finite number &gt; 0, --clip LO,HI, --eps
    /// and --clip only with --center. Returns a notice when the ball is larger than the whole input domain of --clip
    /// (every input may then take every value in [LO, HI]: the region is the whole domain, which is rarely what was meant).
    /// </summary>
    public string? Check(ParseResult parse)
    {
        var given = new[] { parse.GetValue(VnnLib) is not null, parse.GetValue(Center) is not null, parse.GetValue(Box) is { Length: > 0 } }.Count(b => b);
        if (given != 1)
            throw new BadInputException("give exactly one region: --vnnlib FILE, --center FILE --eps R [--clip LO,HI], or --box LO.csv HI.csv");
        var eps = parse.GetValue(Eps);
        var clipText = parse.GetValue(Clip);
        if (parse.GetValue(Center) is not { } center)
        {
            if (eps is not null || clipText is not null) throw new BadInputException("--eps and --clip go with --center");
            return null;
        }
        if (eps is not { } r) throw new BadInputException("--center needs --eps R");
        if (!double.IsFinite(r) || r <= 0)
            throw new BadInputException($"--eps: eps must be a finite number > 0, got {r.ToString("R", System.Globalization.CultureInfo.InvariantCulture)} (the ball around {center})");
        if (clipText is null) return null;
        var (lo, hi) = Region.ParseClip(clipText);
        return r >= hi - lo
            ? string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"--eps {r:G9} is at least the width of the whole input domain --clip {lo:G9},{hi:G9}: the ball covers the domain, so the region is every input in [{lo:G9}, {hi:G9}]")
            : null;
    }

    /// <summary>The VNN-LIB file of --vnnlib, read once (before any model loads: a 2.0 spec gives δ); null without --vnnlib.</summary>
    public VnnLibRegion? VnnLibFile(ParseResult parse) =>
        parse.GetValue(VnnLib) is { } path ? _vnnLib ??= Regions.VnnLib.ParseBox(path) : null;

    /// <summary>The two-network property of a VNN-LIB 2.0 spec given with --vnnlib; null otherwise.</summary>
    public TwoNetworkSpec? Spec(ParseResult parse) => VnnLibFile(parse)?.Equivalence;

    /// <summary>
    /// δ as a command that proves ‖N − Q‖∞ &lt; δ takes it: --delta, else a VNN-LIB 2.0 spec's ε. Given both, they must
    /// agree (checked by <see cref="Verification.VerifyOptions.Problems"/>): the spec is the question a results file answers,
    /// so a different --delta would answer another one under the spec's name.
    /// </summary>
    public double Delta(ParseResult parse, Option<double?> delta) =>
        parse.GetValue(delta) ?? Spec(parse)?.Delta
        ?? throw new BadInputException("--delta: give the tolerance δ > 0 (it may be left out only with a VNN-LIB 2.0 --vnnlib spec, whose ε is δ)");

    /// <summary>The box, and a notice to show the user (VNN-LIB output constraints ignored), if any.</summary>
    public (Box Box, string? Notice) Resolve(ParseResult parse, int inputSize)
    {
        var (box, notice, source) = Read(parse);
        if (box.Dimension != inputSize)
            throw BadInputException.For(source, $"the region has {box.Dimension} inputs but the models take {inputSize}");
        return (box, notice);
    }

    private (Box Box, string? Notice, string Source) Read(ParseResult parse)
    {
        var vnnlib = parse.GetValue(VnnLib);
        var center = parse.GetValue(Center);
        var box = parse.GetValue(Box) is { Length: > 0 } b ? b : null;
        var given = new[] { vnnlib is not null, center is not null, box is not null }.Count(b => b);
        if (given != 1)
            throw new BadInputException("give exactly one region: --vnnlib FILE, --center FILE --eps R [--clip LO,HI], or --box LO.csv HI.csv");
        if (vnnlib is not null)
        {
            var r = VnnLibFile(parse)!;
            return (r.Box, r.Notice, vnnlib);
        }
        if (center is not null)
        {
            var eps = parse.GetValue(Eps) ?? throw new BadInputException("--center needs --eps R");
            var clip = parse.GetValue(Clip) is { } c ? Region.ParseClip(c) : ((double, double)?)null;
            return (Region.BallAroundFile(center, eps, clip), null, center);
        }
        if (parse.GetValue(Eps) is not null || parse.GetValue(Clip) is not null)
            throw new BadInputException("--eps and --clip go with --center");
        return (Region.FromBoxFiles(box![0], box[1]), null, box[0]);
    }
}
