using System.Globalization;
using QEquiv.Verification;

namespace QEquiv.Benchmarking;

/// <summary>Reads a results CSV written by <see cref="BenchResult.ToCsv(IEnumerable{BenchResult})"/> back into rows, so a
/// report can be made again from a finished run.</summary>
public static class BenchResults
{
    /// <exception cref="BadInputException">a missing file, a header other than <see cref="BenchResult.CsvHeader"/>, or a bad
    /// row; the message names the file and line.</exception>
    public static IReadOnlyList<BenchResult> Read(string path)
    {
        if (!File.Exists(path)) throw BadInputException.For(path, "does not exist");
        return Parse(Data.TextFile.ReadAllLines(path), path);
    }

    /// <summary>
    /// Rows in file order. The CSV has no instance number: the runner writes every configuration's row of an instance
    /// before the next instance, so the k-th row of each configuration is instance k (the index the scatter pairs by).
    /// </summary>
    public static IReadOnlyList<BenchResult> Parse(IReadOnlyList<string> lines, string where)
    {
        if (lines.Count == 0 || lines[0].Trim() != BenchResult.CsvHeader)
            throw BadInputException.For(where, $"line 1: expected the header '{BenchResult.CsvHeader}' of a `qequiv bench` results CSV");
        var seen = new Dictionary<string, int>();
        var rows = new List<BenchResult>();
        for (var n = 1; n < lines.Count; n++)
        {
            if (lines[n].Trim().Length == 0) continue;
            var f = lines[n].Split(',');
            if (f.Length != 14) throw BadInputException.For(where, $"line {n + 1}: expected 14 columns, found {f.Length}");
            try
            {
                var configuration = f[1];
                seen.TryGetValue(configuration, out var index);
                seen[configuration] = index + 1;
                var interrupted = f[5] == BenchResult.InterruptedWord;
                rows.Add(new BenchResult(index, f[0], configuration, f[2], D(f[3]), f[4].Length == 0 ? null : D(f[4]), interrupted ? Verdict.Unknown : ParseVerdict(f[5]),
                    D(f[6]), I(f[7]), I(f[8]), I(f[9]), I(f[10]), I(f[11]), D(f[12]), I(f[13])) { Interrupted = interrupted });
            }
            catch (FormatException e)
            {
                throw BadInputException.For(where, $"line {n + 1}: {e.Message}");
            }
        }
        return rows;
    }

    /// <summary>Configurations in order of first appearance (the order they ran in).</summary>
    public static IReadOnlyList<string> Configurations(IEnumerable<BenchResult> rows) => rows.Select(r => r.Configuration).Distinct().ToList();

    private static Verdict ParseVerdict(string word) =>
        Enum.GetValues<Verdict>().FirstOrDefault(v => BenchResult.Word(v) == word, (Verdict)(-1)) is var v && Enum.IsDefined(v) ? v
            : throw new FormatException($"unknown verdict '{word}' (expected verified, falsified, unknown or interrupted)");

    private static double D(string s) => double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && double.IsFinite(v) ? v
        : throw new FormatException($"'{s}' is not a finite number");

    private static int I(string s) => int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v
        : throw new FormatException($"'{s}' is not a whole number ≥ 0");
}
