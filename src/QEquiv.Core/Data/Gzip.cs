using System.IO.Compression;

namespace QEquiv.Data;

/// <summary>
/// gzip-compressed inputs, as VNN-COMP ships its models and properties (.onnx.gz, .vnnlib.gz): recognised by content
/// (the magic bytes 1f 8b), not by name, and decompressed whole before parsing, so that every reader — ONNX, NNet,
/// VNN-LIB, CSV, instance lists, and a cluster worker given a model's bytes — reads a compressed file as the plain one.
/// A truncated or corrupt stream is one error naming the file, before any of it is used. The decompressor (zlib behind
/// GZipStream) rejects malformed data but returns what it has, without an error, when the stream just stops (measured on
/// .NET 10: a model cut in half decompressed to a shorter "model"), so the gzip trailer is checked here: the CRC-32 and
/// length of the data must be those the trailer records (of the last member, for a file of several members).
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
            var data = output.ToArray();
            if (!TrailerMatches(bytes, data))
                throw BadInputException.For(source, "truncated or corrupt gzip data (the data does not match the CRC-32 and length its gzip trailer records: the file ends early or was damaged)");
            return data;
        }
        catch (InvalidDataException e)
        {
            throw BadInputException.For(source, $"truncated or corrupt gzip data ({e.Message.TrimEnd('.')})");
        }
    }

    /// <summary>The last 8 bytes of a gzip file: CRC-32 and length mod 2³² of the last member's data.</summary>
    private static bool TrailerMatches(byte[] compressed, byte[] data)
    {
        if (compressed.Length < 18) return false; // a 10-byte header, an empty deflate block and the 8-byte trailer at least
        var crc = BitConverter.ToUInt32(compressed, compressed.Length - 8);
        var size = BitConverter.ToUInt32(compressed, compressed.Length - 4);
        if (!BitConverter.IsLittleEndian) (crc, size) = (System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(crc), System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(size));
        if ((uint)data.Length == size && Crc32(data) == crc) return true;
        // Several members (cat a.gz b.gz): the trailer is the last one's, over the last `size` bytes of the data.
        return size < (uint)data.Length && Crc32(data.AsSpan(data.Length - (int)size)) == crc;
    }

    private static readonly uint[] CrcTable = MakeCrcTable();

    private static uint[] MakeCrcTable()
    {
        var table = new uint[256];
        for (uint n = 0; n < 256; n++)
        {
            var c = n;
            for (var k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            table[n] = c;
        }
        return table;
    }

    /// <summary>CRC-32 as gzip computes it (IEEE 802.3, reflected, polynomial 0xEDB88320).</summary>
    internal static uint Crc32(ReadOnlySpan<byte> data)
    {
        var c = 0xFFFFFFFFu;
        foreach (var b in data) c = CrcTable[(c ^ b) & 0xFF] ^ (c >> 8);
        return c ^ 0xFFFFFFFFu;
    }
}
