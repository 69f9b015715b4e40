using Google.Protobuf;
using QEquiv.Onnx.Proto;

namespace QEquiv.Onnx;

/// <summary>Reads an .onnx file into its protobuf model, turning every failure into a BadInputException naming the file.</summary>
internal static class OnnxFile
{
    /// <summary>A file's model; a gzip-compressed file (.onnx.gz, as VNN-COMP ships models) is decompressed first.</summary>
    public static ModelProto Read(string path) => Parse(ReadBytes(path), path);

    private static byte[] ReadBytes(string path)
    {
        try { return File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw BadInputException.For(path, $"cannot read the file ({e.Message})");
        }
    }

    /// <summary>A model's bytes (from a file or the wire, gzip-compressed or not); <paramref name="path"/> names it in errors.</summary>
    public static ModelProto Parse(byte[] bytes, string path)
    {
        bytes = Data.Gzip.Decompress(bytes, path);
        if (bytes.Length == 0) throw BadInputException.For(path, "the file is empty, not an ONNX model");
        ModelProto model;
        try { model = ModelProto.Parser.ParseFrom(bytes); }
        catch (InvalidProtocolBufferException e)
        {
            throw BadInputException.For(path, $"not a valid ONNX protobuf ({e.Message.TrimEnd('.')})");
        }
        if (model.Graph is null || model.Graph.Node.Count == 0)
            throw BadInputException.For(path, "not an ONNX model: it has no graph nodes");
        if (!model.HasIrVersion || model.IrVersion < 3)
            throw BadInputException.For(path, $"ONNX IR version {model.IrVersion} is not supported (need 3 or later)");
        return model;
    }
}
