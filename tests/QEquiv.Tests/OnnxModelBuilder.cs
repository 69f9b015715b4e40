using QEquiv.Onnx;
using QEquiv.Onnx.Proto;
using DataType = QEquiv.Onnx.Proto.TensorProto.Types.DataType;

namespace QEquiv.Tests;

/// <summary>Writes small ONNX graphs for tests (QOperator models, malformed models) through Core's <see cref="OnnxWriter"/>.</summary>
internal sealed class OnnxModelBuilder(string input, int[] inputShape, string output, int outputSize, int opset = 13)
{
    private readonly OnnxWriter _writer = new("test", input, inputShape, output, [1, outputSize], opset);

    public int Opset => _writer.Opset;

    public string Constant(DataType type, int[] dims, IEnumerable<double> values) => _writer.Constant(type, dims, values);
    public string Scalar(float v) => Constant(DataType.Float, [], [v]);
    public string Zp(DataType type, int v) => Constant(type, [], [v]);

    public string Node(string op, string[] inputs, string? output = null, params AttributeProto[] attributes) =>
        _writer.Node(op, inputs, output, attributes);

    public static AttributeProto Int(string name, long v) => OnnxWriter.Int(name, v);

    public byte[] ToBytes() => _writer.ToBytes("qequiv-tests");

    public string Save(string path)
    {
        File.WriteAllBytes(path, ToBytes());
        return path;
    }
}
