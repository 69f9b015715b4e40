using QEquiv.Data;

namespace QEquiv.Regions;

/// <summary>
/// Builds boxes from the CLI's region options (--center/--eps/--clip and --box). Named Region, not
/// Regions, because a class named like its namespace cannot be referenced as Regions.X from other
/// QEquiv namespaces (the namespace wins name lookup).
/// </summary>
public static class Region
{
    /// <summary>
    /// The L∞ ball [c − eps, c + eps], intersected with [clip.lo, clip.hi] when given (e.g. pixels in [0,1]).
    /// </summary>
    /// <param name="source">Names the origin (file or option) in error messages.</param>
    /// <exception cref="BadInputException">eps not finite and &gt; 0, clip not lo &lt; hi, a non-finite centre
    /// value, or a centre coordinate so far outside the clip range that the ball misses it.</exception>
    public static Box BallAround(double[] center, double eps, (double lo, double hi)? clip, string source = "--eps")
    {
        ArgumentNullException.ThrowIfNull(center);
        if (!double.IsFinite(eps) || eps <= 0)
            throw BadInputException.For(source, $"eps must be a finite number > 0, got {eps:R}");
        if (clip is { } c && !(double.IsFinite(c.lo) && double.IsFinite(c.hi) && c.lo < c.hi))
            throw BadInputException.For(source, $"clip range must be finite with lo < hi, got [{c.lo:R}, {c.hi:R}]");
        var lo = new double[center.Length];
        var hi = new double[center.Length];
        for (var i = 0; i < center.Length; i++)
        {
            if (!double.IsFinite(center[i]))
                throw BadInputException.For(source, $"centre value {i} is NaN or infinite");
            lo[i] = center[i] - eps;
            hi[i] = center[i] + eps;
            if (clip is { } k)
            {
                lo[i] = Math.Max(lo[i], k.lo);
                hi[i] = Math.Min(hi[i], k.hi);
            }
        }
        return Box.Create(lo, hi, source);
    }

    /// <summary>--center FILE --eps R [--clip LO,HI]: the centre is the single row of a CSV file.</summary>
    public static Box BallAroundFile(string centerCsv, double eps, (double lo, double hi)? clip)
    {
        var row = Csv.ReadSingleRow(centerCsv);
        return BallAround(Array.ConvertAll(row, v => (double)v), eps, clip, centerCsv);
    }

    /// <summary>--box LO.csv HI.csv: one row of lower and one row of upper bounds.</summary>
    public static Box FromBoxFiles(string loCsv, string hiCsv)
    {
        var lo = Csv.ReadSingleRow(loCsv);
        var hi = Csv.ReadSingleRow(hiCsv);
        if (lo.Length != hi.Length)
            throw BadInputException.For(hiCsv, $"has {hi.Length} upper bounds but {loCsv} has {lo.Length} lower bounds");
        return Box.Create(Array.ConvertAll(lo, v => (double)v), Array.ConvertAll(hi, v => (double)v), $"{loCsv} and {hiCsv}");
    }

    /// <summary>Parses the --clip value "LO,HI".</summary>
    public static (double lo, double hi) ParseClip(string text, string source = "--clip")
    {
        var parts = text.Split(',');
        if (parts.Length != 2
            || !double.TryParse(parts[0].Trim(), System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var lo)
            || !double.TryParse(parts[1].Trim(), System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var hi))
            throw BadInputException.For(source, $"expected LO,HI (two numbers), got '{text}'");
        if (!(double.IsFinite(lo) && double.IsFinite(hi) && lo < hi))
            throw BadInputException.For(source, $"clip range must be finite with lo < hi, got '{text}'");
        return (lo, hi);
    }
}
