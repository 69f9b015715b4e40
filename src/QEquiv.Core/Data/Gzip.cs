using System.IO.Compression;

namespace QEquiv.Data;

/// <summary>
/// gzip-compressed inputs, as VNN-COMP ships its models and properties (.onnx.gz, .vnnlib.gz): recognised by content
/// (the magic bytes 1f 8b), not by name, and decompressed whole before parsing, so that every reader — ONNX, NNet,
/// VNN-LIB, CSV, instance lists, and a cluster worker given a model's bytes — reads a compressed file as the plain one.
/// A truncated or corrupt stream is one error naming the file, before any of it is used: since .NET 7 the decompressor
/// reports a stream that ends before its gzip trailer, and zlib checks the trailer's CRC-32 and length.
/// </summary>
public static class Gzip
{
    public static bool IsCompressed(ReadOnlySpan<byte> bytes) => bytes.Length >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b;

    /// <summary>A file's name without a final ".gz" (what its content is: "net.onnx.gz" holds an ONNX model).</summary>
    public static string ContentName(string name) =>
        name.EndsWith(".gz", StringComparison.OrdinalIgnoreCase) ? name[..^3] : name;

    /// <summary>The file's bytes, decompressed when they are gzip.</summary>
    /// <exception cref="BadInputException">unreadable file, or truncated or corrupt gzip data; the message names the file.</exception>
    public static byte[] ReadAllBytes(string path)
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
        return Decompress(bytes, path);
    }

    /// <summary><paramref name="bytes"/> as they are, or decompressed when they are gzip; <paramref name="source"/> names
    /// them in errors.</summary>
    /// <exception cref="BadInputException">truncated or corrupt gzip data.</exception>
    public static byte[] Decompress(byte[] bytes, string source)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        if (!IsCompressed(bytes)) return bytes;
        try
        {
            using var input = new GZipStream(new MemoryStream(bytes, writable: false), CompressionMode.Decompress);
            using var output = new MemoryStream();
            input.CopyTo(output);
            return output.ToArray();
        }
        catch (InvalidDataException e)
        {
            throw BadInputException.For(source, $"truncated or corrupt gzip data ({e.Message.TrimEnd('.')})");
        }
    }
}
