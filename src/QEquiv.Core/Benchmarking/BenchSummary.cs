using QEquiv.Verification;

namespace QEquiv.Benchmarking;

/// <summary>One configuration's line of the summary. MedianDecidedSeconds is null when it decided nothing.</summary>
public sealed record ConfigurationSummary(string Configuration, int Runs, int Verified, int Falsified, int Unknown, double? MedianDecidedSeconds, int MilpCalls)
{
    public int Decided => Verified + Falsified;
}

/// <summary>
/// Median of Baseline seconds / Candidate seconds over the instances both strategies decided (> 1: the candidate is
/// faster). Null Median when no instance was decided by both.
/// </summary>
public sealed record SpeedUp(string Baseline, string Candidate, int BothDecided, double? Median);

/// <summary>What the terminal shows after a run, computed from exactly the rows written to the results CSV.</summary>
public sealed record BenchSummary(IReadOnlyList<ConfigurationSummary> Configurations, IReadOnlyList<SpeedUp> SpeedUps)
{
    /// <summary>The speed-up of the second configuration over the first (null with fewer than two).</summary>
    public SpeedUp? SpeedUp => SpeedUps.Count > 0 ? SpeedUps[0] : null;

    /// <param name="configurations">In the order they ran; the first is the baseline of every speed-up.</param>
    public static BenchSummary Of(IReadOnlyList<BenchResult> results, IReadOnlyList<string> configurations)
    {
        var lines = configurations.Select(s =>
        {
            var mine = results.Where(r => r.Configuration == s).ToList();
            return new ConfigurationSummary(s, mine.Count,
                mine.Count(r => r.Verdict == Verdict.Verified),
                mine.Count(r => r.Verdict == Verdict.Falsified),
                mine.Count(r => r.Verdict == Verdict.Unknown),
                Median(mine.Where(r => r.Decided).Select(r => r.Seconds)), mine.Sum(r => r.MilpCalls));
        }).ToList();
        var speedUps = new List<SpeedUp>();
        foreach (var b in configurations.Skip(1))
        {
            var a = configurations[0];
            var byA = results.Where(r => r.Configuration == a && r.Decided).ToDictionary(r => r.Index);
            var ratios = results.Where(r => r.Configuration == b && r.Decided && byA.ContainsKey(r.Index))
                .Select(r => Ratio(byA[r.Index].Seconds, r.Seconds)).ToList();
            speedUps.Add(new SpeedUp(a, b, ratios.Count, Median(ratios)));
        }
        return new BenchSummary(lines, speedUps);
    }

    /// <summary>Times are rounded to milliseconds; a run that rounds to 0 counts as 1 ms so ratios stay finite.</summary>
    public static double Ratio(double baselineSeconds, double candidateSeconds) =>
        Math.Max(baselineSeconds, 0.001) / Math.Max(candidateSeconds, 0.001);

    public static double? Median(IEnumerable<double> values)
    {
        var v = values.OrderBy(x => x).ToArray();
        if (v.Length == 0) return null;
        return v.Length % 2 == 1 ? v[v.Length / 2] : (v[v.Length / 2 - 1] + v[v.Length / 2]) / 2;
    }
}
