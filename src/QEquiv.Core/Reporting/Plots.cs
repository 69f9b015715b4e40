using System.Globalization;
using ScottPlot;
using SkiaSharp;

namespace QEquiv.Reporting;

/// <summary>One horizontal bar of a timeline: a solver call on a worker, from Start to End seconds.</summary>
public sealed record TimelineBar(int Worker, double Start, double End, string Kind);

/// <summary>
/// The PNG plots of the reports, drawn with ScottPlot (SkiaSharp underneath). Every method returns the PNG's bytes;
/// writing them is the caller's business (the CLI writes whole files or nothing).
/// </summary>
public static class Plots
{
    public const int Width = 800, Height = 600;

    /// <summary>Times below this are drawn at it, so a log axis never meets 0 (times are rounded to milliseconds).</summary>
    public const double MinSeconds = 0.001;

    /// <summary>
    /// Cactus plot: for each configuration, the k-th point is (k, time by which it had decided k instances), its decided
    /// times sorted; the further right and lower a line, the better. Time axis logarithmic.
    /// </summary>
    public static byte[] Cactus(IReadOnlyList<(string Name, IReadOnlyList<double> DecidedSeconds)> series, int instances, string title)
    {
        var plot = NewPlot(title, "instances decided", "time (s, log scale)");
        foreach (var (name, seconds) in series)
        {
            var ys = seconds.Select(s => Math.Log10(Math.Max(s, MinSeconds))).Order().ToArray();
            var xs = Enumerable.Range(1, ys.Length).Select(i => (double)i).ToArray();
            var line = xs.Length > 0 ? plot.Add.Scatter(xs, ys) : plot.Add.Scatter(new[] { 0.0 }, new[] { Math.Log10(MinSeconds) });
            line.LegendText = $"{name} ({ys.Length})";
            line.MarkerSize = 5;
            line.LineWidth = 2;
        }
        LogAxis(plot.Axes.Left);
        plot.Axes.SetLimitsX(0, Math.Max(1, instances) + 0.5);
        plot.ShowLegend(Alignment.UpperLeft);
        return Png(plot);
    }

    /// <summary>
    /// Per-instance scatter, log-log: x = configuration A's time, y = B's; instances a configuration did not decide are
    /// drawn at its time limit (the edge of the plot). Points below the diagonal are instances B was faster on.
    /// </summary>
    public static byte[] Scatter(string a, string b, IReadOnlyList<(double A, double B)> points, string title)
    {
        var plot = NewPlot(title, $"{a} time (s, log scale)", $"{b} time (s, log scale)");
        var xs = points.Select(p => Math.Log10(Math.Max(p.A, MinSeconds))).ToArray();
        var ys = points.Select(p => Math.Log10(Math.Max(p.B, MinSeconds))).ToArray();
        var lo = Math.Log10(MinSeconds);
        var hi = Math.Max(lo + 1, Math.Ceiling(xs.Concat(ys).DefaultIfEmpty(0).Max() + 0.1));
        var diagonal = plot.Add.Line(lo, lo, hi, hi);
        diagonal.LineColor = Colors.Gray;
        diagonal.LinePattern = LinePattern.Dashed;
        diagonal.LegendText = "same time";
        if (xs.Length > 0)
        {
            var dots = plot.Add.ScatterPoints(xs, ys);
            dots.MarkerSize = 7;
            dots.LegendText = $"{points.Count} instances";
        }
        LogAxis(plot.Axes.Left);
        LogAxis(plot.Axes.Bottom);
        plot.Axes.SetLimits(lo, hi, lo, hi);
        plot.ShowLegend(Alignment.UpperLeft);
        return Png(plot);
    }

    /// <summary>Colours of the timeline's kinds of bar, the same in every report.</summary>
    private static readonly Dictionary<string, Color> KindColours = new()
    {
        ["proved"] = Colors.ForestGreen,
        ["violated"] = Colors.Crimson,
        ["split"] = Colors.DarkOrange,
        ["unknown"] = Colors.SlateGray,
        ["cancelled"] = Colors.LightGray,
    };

    /// <summary>Gantt chart of solver calls: one row per worker, one bar per call, coloured by how it ended.</summary>
    public static byte[] Timeline(IReadOnlyList<TimelineBar> bars, int workers, string title)
    {
        var plot = NewPlot(title, "time since the engine started (s)", "worker");
        var kinds = bars.Select(b => b.Kind).Distinct().Order(StringComparer.Ordinal).ToList();
        var palette = new ScottPlot.Palettes.Category10();
        Color ColourOf(string kind) => KindColours.TryGetValue(kind, out var c) ? c : palette.GetColor(kinds.IndexOf(kind));
        foreach (var bar in bars)
        {
            var colour = ColourOf(bar.Kind);
            var end = Math.Max(bar.End, bar.Start + 1e-4);
            var r = plot.Add.Rectangle(bar.Start, end, bar.Worker - 0.4, bar.Worker + 0.4);
            r.FillColor = colour.WithAlpha(0.85);
            r.LineColor = Colors.White; // calls that follow each other on a worker stay apart
            r.LineWidth = 1;
        }
        foreach (var kind in kinds) plot.Legend.ManualItems.Add(new LegendItem { LabelText = kind, FillColor = ColourOf(kind) });
        var rows = Math.Max(workers, 1);
        plot.Axes.SetLimits(0, Math.Max(bars.Select(b => b.End).DefaultIfEmpty(1).Max() * 1.05, 1e-3), -0.6, rows - 0.4);
        plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericManual(
            Enumerable.Range(0, rows).Select(w => (double)w).ToArray(),
            Enumerable.Range(0, rows).Select(w => w.ToString(CultureInfo.InvariantCulture)).ToArray());
        if (kinds.Count > 0) plot.ShowLegend(Alignment.UpperRight);
        return Png(plot);
    }

    /// <summary>
    /// Square images side by side (e.g. the region's centre, the witness and their difference), each side×side values
    /// row-major; grey scale on the range each image names (null: its own min to max). Difference-like images get a
    /// diverging colour map centred on 0.
    /// </summary>
    public static byte[] Images(IReadOnlyList<(string Title, double[] Values, bool Diverging)> images, int side, string title)
    {
        var plot = NewPlot(title, "", "");
        const double gap = 4;
        for (var k = 0; k < images.Count; k++)
        {
            var (name, values, diverging) = images[k];
            var grid = new double[side, side];
            // Heatmap rows run top to bottom: row 0 of the image is its top row.
            for (var i = 0; i < side; i++)
                for (var j = 0; j < side; j++) grid[i, j] = values[i * side + j];
            var map = plot.Add.Heatmap(grid);
            var left = k * (side + gap);
            map.Position = new CoordinateRect(left, left + side, 0, side);
            if (diverging)
            {
                var m = Math.Max(values.Select(Math.Abs).DefaultIfEmpty(0).Max(), 1e-12);
                map.Colormap = new ScottPlot.Colormaps.Balance();
                map.ManualRange = new ScottPlot.Range(-m, m);
                name += string.Create(CultureInfo.InvariantCulture, $" (±{m:G3})");
            }
            else
            {
                map.Colormap = new ScottPlot.Colormaps.Grayscale();
            }
            var label = plot.Add.Text(name, left + side / 2.0, side + 1);
            label.LabelFontSize = 14;
            label.LabelAlignment = Alignment.LowerCenter;
        }
        plot.Axes.SetLimits(-1, images.Count * (side + gap) - gap + 1, -1, side + 5);
        plot.HideGrid();
        foreach (var axis in new IAxis[] { plot.Axes.Left, plot.Axes.Bottom, plot.Axes.Right, plot.Axes.Top })
        {
            axis.TickLabelStyle.IsVisible = false;
            axis.MajorTickStyle.Length = 0;
            axis.MinorTickStyle.Length = 0;
            axis.FrameLineStyle.Width = 0;
        }
        return Png(plot, Math.Max(300, 260 * images.Count), 320);
    }

    private static Plot NewPlot(string title, string x, string y)
    {
        EnsureFont();
        var plot = new Plot();
        plot.Title(title);
        if (x.Length > 0) plot.XLabel(x);
        if (y.Length > 0) plot.YLabel(y);
        return plot;
    }

    /// <summary>Ticks at powers of ten of an axis whose values are log10 of seconds, labelled in seconds.</summary>
    private static void LogAxis(ScottPlot.IAxis axis)
    {
        axis.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic
        {
            MinorTickGenerator = new ScottPlot.TickGenerators.LogMinorTickGenerator(),
            IntegerTicksOnly = true,
            LabelFormatter = v => Math.Pow(10, v).ToString("G3", CultureInfo.InvariantCulture),
        };
    }

    private static byte[] Png(Plot plot, int width = Width, int height = Height) =>
        plot.GetImageBytes(width, height, ImageFormat.Png);

    private static readonly Lock FontGate = new();
    private static bool _fontChecked;

    /// <summary>
    /// ScottPlot takes the first font family it finds (a serif one on Debian's DejaVu). Prefer a sans-serif family
    /// SkiaSharp can load; failing any family, a TrueType file under the usual font folders; a machine with no font at
    /// all still gets its plots, without text.
    /// </summary>
    private static void EnsureFont()
    {
        lock (FontGate)
        {
            if (_fontChecked) return;
            _fontChecked = true;
            var families = SKFontManager.Default.FontFamilies.Where(HasGlyphs).ToList();
            var sans = families.FirstOrDefault(f => f.Contains("Sans", StringComparison.OrdinalIgnoreCase) && !f.Contains("Mono", StringComparison.OrdinalIgnoreCase));
            if (sans is not null) { Fonts.Default = sans; return; }
            if (HasGlyphs(Fonts.Default)) return;
            if (families.Count > 0) { Fonts.Default = families[0]; return; }
            var file = new[] { "/usr/share/fonts", "/usr/local/share/fonts", "/Library/Fonts", @"C:\Windows\Fonts" }
                .Where(Directory.Exists)
                .SelectMany(d => Directory.EnumerateFiles(d, "*.ttf", SearchOption.AllDirectories))
                .OrderBy(f => Path.GetFileName(f).Contains("Sans", StringComparison.OrdinalIgnoreCase) ? 0 : 1)
                .FirstOrDefault();
            if (file is null) return;
            Fonts.AddFontFile("QEquivFallback", file);
            Fonts.Default = "QEquivFallback";
        }
    }

    private static bool HasGlyphs(string family)
    {
        using var typeface = SKTypeface.FromFamilyName(family);
        return typeface is not null && typeface.GlyphCount > 0 && string.Equals(typeface.FamilyName, family, StringComparison.OrdinalIgnoreCase);
    }
}
