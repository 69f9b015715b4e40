

namespace QEquiv.Data;

/// <summary>
/// Reads the text inputs (CSV, VNN-LIB, instance lists, results CSVs). A gzip-compressed one — VNN-COMP ships its
/// properties as .vnnlib.gz — is decompressed first (<see cref="Gzip"/>); a binary file given where text is expected is
/// named as such instead of being parsed byte by byte into an error that quotes its bytes.
/// </summary>
public static class TextFile
{
    /// <exception cref="BadInputException">unreadable, truncated or corrupt gzip data, or binary (it holds NUL bytes).</exception>
    public static string ReadAllText(string path)
    {
        var bytes = Gzip.ReadAllBytes(path);
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

    /// <summary>Refuses binary content (decompressed already: gzip inside gzip is binary here).</summary>
    /// <exception cref="BadInputException">binary content.</exception>
    public static void Check(ReadOnlySpan<byte> bytes, string source)
    {
        if (Gzip.IsCompressed(bytes))
            throw BadInputException.For(source, "gzip-compressed twice: decompress it once (gunzip FILE), a text file is expected inside");
        var head = bytes[..Math.Min(bytes.Length, 8192)];
        if (head.IndexOf((byte)0) >= 0)
            throw BadInputException.For(source, "binary data (NUL bytes), not a text file");
    }
}
