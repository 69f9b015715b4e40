

namespace QEquiv.Data;

/// <summary>
/// Reads the text inputs (CSV, VNN-LIB, instance lists, results CSVs). A compressed or binary file given where text is
/// expected is named as such — VNN-COMP ships its properties as .vnnlib.gz — instead of being parsed byte by byte into
/// an error that quotes its bytes.
/// </summary>
public static class TextFile
{
    /// <exception cref="BadInputException">unreadable, gzip-compressed, or binary (it holds NUL bytes).</exception>
    public static string ReadAllText(string path)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw BadInputException.For(path, $"cannot read the file: {e.Message}");
        }
        Check(bytes, path);
        using var reader = new StreamReader(new MemoryStream(bytes), System.Text.Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
        return reader.ReadToEnd();
    }

    /// <summary>Lines as <see cref="File.ReadAllLines(string)"/> splits them.</summary>
    public static string[] ReadAllLines(string path)
    {
        var lines = new List<string>();
        using var reader = new StringReader(ReadAllText(path));
        while (reader.ReadLine() is { } line) lines.Add(line);
        return [.. lines];
    }

    /// <exception cref="BadInputException">gzip-compressed or binary content.</exception>
    public static void Check(ReadOnlySpan<byte> bytes, string source)
    {
        if (bytes.Length >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b)
            throw BadInputException.For(source, "gzip-compressed: decompress it first (gunzip -k FILE), a text file is expected here");
        var head = bytes[..Math.Min(bytes.Length, 8192)];
        if (head.IndexOf((byte)0) >= 0)
            throw BadInputException.For(source, "binary data (NUL bytes), not a text file");
    }
}
