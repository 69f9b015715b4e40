using Google.Protobuf;
using QEquiv.Onnx.Proto;
using DataType = QEquiv.Onnx.Proto.TensorProto.Types.DataType;

namespace QEquiv.Tests;

/// <summary>Writes small ONNX graphs for tests (QOperator models, malformed models).</summary>
internal sealed class OnnxModelBuilder
{
    private readonly GraphProto _graph = new() { Name = "test" };
    private int _next;

    public OnnxModelBuilder(string input, int[] inputShape, string output, int outputSize, int opset = 13)
    {
        Opset = opset;
        _graph.Input.Add(ValueInfo(input, DataType.Float, inputShape));
        _graph.Output.Add(ValueInfo(output, DataType.Float, [1, outputSize]));
    }

    public int Opset { get; }

    private static ValueInfoProto ValueInfo(string name, DataType type, int[] shape)
    {
        var tensorShape = new TensorShapeProto();
        foreach (var d in shape) tensorShape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = tensorShape } } };
    }

    public string Constant(DataType type, int[] dims, IEnumerable<double> values)
    {
        var name = $"c{_next++}";
        var t = new TensorProto { Name = name, DataType = (int)type };
        t.Dims.AddRange(dims.Select(d => (long)d));
        var v = values.ToArray();
        switch (type)
        {
            case DataType.Float: t.FloatData.AddRange(v.Select(x => (float)x)); break;
            case DataType.Int64: t.Int64Data.AddRange(v.Select(x => (long)x)); break;
            default: t.Int32Data.AddRange(v.Select(x => (int)x)); break;
        }
        _graph.Initializer.Add(t);
        return name;
    }

    public string Scalar(float v) => Constant(DataType.Float, [], [v]);
    public string Zp(DataType type, int v) => Constant(type, [], [v]);

    public string Node(string op, string[] inputs, string? output = null, params AttributeProto[] attributes)
    {
        output ??= $"t{_next++}";
        var n = new NodeProto { OpType = op, Name = $"{op}_{_next++}" };
        n.Input.AddRange(inputs);
        n.Output.Add(output);
        n.Attribute.AddRange(attributes);
        _graph.Node.Add(n);
        return output;
    }

    public static AttributeProto Int(string name, long v) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = v };

    public byte[] ToBytes()
    {
        var model = new ModelProto { IrVersion = 7, ProducerName = "qequiv-tests", Graph = _graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = Opset });
        return model.ToByteArray();
    }

    public string Save(string path)
    {
        File.WriteAllBytes(path, ToBytes());
        return path;
    }
}
