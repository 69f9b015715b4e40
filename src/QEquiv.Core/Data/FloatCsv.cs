using System.Globalization;

namespace QEquiv.Data;

/// <summary>Rows of comma-separated float32 values (inputs, reference outputs), with errors naming file and line.</summary>
public static class FloatCsv
{
    public static List<float[]> Read(string path, int? expectedLength = null)
    {
        string[] lines;
        try { lines = File.ReadAllLines(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw BadInputException.For(path, $"cannot read the file ({e.Message})");
        }
        var rows = new List<float[]>();
        for (var n = 0; n < lines.Length; n++)
        {
            var line = lines[n].Trim();
            if (line.Length == 0 || line.StartsWith('#')) continue;
            var cells = line.Split(',');
            var row = new float[cells.Length];
            for (var i = 0; i < cells.Length; i++)
                if (!float.TryParse(cells[i].Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out row[i]) || !float.IsFinite(row[i]))
                    throw BadInputException.For(path, $"line {n + 1}, value {i + 1}: '{cells[i].Trim()}' is not a finite number");
            if (expectedLength is { } len && row.Length != len)
                throw BadInputException.For(path, $"line {n + 1} has {row.Length} values, the model takes {len}");
            if (rows.Count > 0 && row.Length != rows[0].Length)
                throw BadInputException.For(path, $"line {n + 1} has {row.Length} values, earlier lines have {rows[0].Length}");
            rows.Add(row);
        }
        if (rows.Count == 0) throw BadInputException.For(path, "no data rows");
        return rows;
    }
}
