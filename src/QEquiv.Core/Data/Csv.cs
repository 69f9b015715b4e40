using System.Globalization;

namespace QEquiv.Data;

/// <summary>
/// Reads headerless CSV files of numbers (one sample per row), the format of the benchmark inputs and
/// of region files. Blank lines are skipped so that a trailing newline or an editor's extra line is
/// harmless; everything else that is not a finite number is an error naming the file and line, because
/// a silently dropped value would shift every later input.
/// </summary>
public static class Csv
{
    /// <exception cref="BadInputException">missing/unreadable file, gzip-compressed or binary file, empty file, non-numeric or non-finite value, ragged rows.</exception>
    public static List<float[]> ReadRows(string path)
    {
        return ParseRows(TextFile.ReadAllLines(path), path);
    }

    /// <summary>Reads rows that are inputs of a model taking <paramref name="inputSize"/> values.</summary>
    public static List<float[]> ReadRows(string path, int inputSize)
    {
        var rows = ReadRows(path);
        if (rows[0].Length != inputSize)
            throw BadInputException.For(path, $"rows have {rows[0].Length} values, the model takes {inputSize}");
        return rows;
    }

    /// <summary>Reads a file that must hold exactly one row (a single input point).</summary>
    public static float[] ReadSingleRow(string path)
    {
        var rows = ReadRows(path);
        if (rows.Count != 1)
            throw BadInputException.For(path, $"expected exactly one row of values, found {rows.Count}");
        return rows[0];
    }

    /// <summary>Parses already-read lines; <paramref name="source"/> names the origin in errors.</summary>
    public static List<float[]> ParseRows(IReadOnlyList<string> lines, string source)
    {
        var rows = new List<float[]>();
        var firstRowLine = 0;
        for (var l = 0; l < lines.Count; l++)
        {
            var line = lines[l];
            // '#' lines are comments: witness files carry their facts that way and stay readable as inputs.
            if (string.IsNullOrWhiteSpace(line) || line.TrimStart().StartsWith('#')) continue;
            var lineNo = l + 1;
            var fields = line.Split(',');
            var row = new float[fields.Length];
            for (var c = 0; c < fields.Length; c++)
            {
                var text = fields[c].Trim();
                if (!float.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var v))
                    throw BadInputException.For(source, $"line {lineNo}, column {c + 1}: '{Shorten(text)}' is not a number");
                // .NET parses "NaN", "Infinity" and overflowing literals like 1e50 without complaint.
                if (!float.IsFinite(v))
                    throw BadInputException.For(source, $"line {lineNo}, column {c + 1}: '{Shorten(text)}' is not a finite float32 value");
                row[c] = v;
            }
            if (rows.Count > 0 && row.Length != rows[0].Length)
                throw BadInputException.For(source,
                    $"line {lineNo} has {row.Length} values but line {firstRowLine} has {rows[0].Length} (ragged rows)");
            if (rows.Count == 0) firstRowLine = lineNo;
            rows.Add(row);
        }
        if (rows.Count == 0)
            throw BadInputException.For(source, "the file is empty (no rows of values)");
        return rows;
    }

    private static string Shorten(string s) => s.Length <= 40 ? s : s[..37] + "...";
}
