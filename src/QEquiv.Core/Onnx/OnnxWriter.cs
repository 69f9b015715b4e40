using System.Buffers.Binary;
using Google.Protobuf;
using QEquiv.Onnx.Proto;
using QEquiv.Quantization;
using DataType = QEquiv.Onnx.Proto.TensorProto.Types.DataType;

namespace QEquiv.Onnx;

/// <summary>
/// Builds an ONNX model with one float input and one float output, node by node: the one place QEquiv
/// writes protobuf (the QDQ exporter and the tests' hand-made models share it).
/// </summary>
internal sealed class OnnxWriter
{
    private readonly GraphProto _graph;
    private int _next;

    public OnnxWriter(string graphName, string input, int[] inputShape, string output, int[] outputShape, int opset = 13)
    {
        Opset = opset;
        _graph = new GraphProto { Name = graphName };
        _graph.Input.Add(ValueInfo(input, DataType.Float, inputShape));
        _graph.Output.Add(ValueInfo(output, DataType.Float, outputShape));
    }

    public int Opset { get; }

    private static ValueInfoProto ValueInfo(string name, DataType type, int[] shape)
    {
        var tensorShape = new TensorShapeProto();
        foreach (var d in shape) tensorShape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = tensorShape } } };
    }

    /// <summary>Adds an initializer and returns its name (generated when not given).</summary>
    public string Constant(DataType type, int[] dims, IEnumerable<double> values, string? name = null)
    {
        name ??= $"c{_next++}";
        _graph.Initializer.Add(Tensor(name, type, dims, values));
        return name;
    }

    /// <summary>An initializer of <paramref name="type"/> holding <paramref name="values"/> (16-bit floats rounded to the format).</summary>
    public static TensorProto Tensor(string name, DataType type, int[] dims, IEnumerable<double> values)
    {
        var t = new TensorProto { Name = name, DataType = (int)type };
        t.Dims.AddRange(dims.Select(d => (long)d));
        var v = values.ToArray();
        switch (type)
        {
            case DataType.Float: t.FloatData.AddRange(v.Select(x => (float)x)); break;
            case DataType.Int64: t.Int64Data.AddRange(v.Select(x => (long)x)); break;
            // 16-bit floats as raw little-endian bit patterns (rounded to the format, nearest with ties to even).
            case DataType.Float16 or DataType.Bfloat16:
                var format = type == DataType.Float16 ? FloatFormat.Float16 : FloatFormat.BFloat16;
                var raw = new byte[2 * v.Length];
                for (var i = 0; i < v.Length; i++) BinaryPrimitives.WriteUInt16LittleEndian(raw.AsSpan(2 * i), format.ToBits(v[i]));
                t.RawData = ByteString.CopyFrom(raw);
                break;
            // ONNX keeps int8, uint8 and int32 values in int32_data.
            default: t.Int32Data.AddRange(v.Select(x => checked((int)x))); break;
        }
        return t;
    }

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
    public static AttributeProto Float(string name, float v) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = v };

    public byte[] ToBytes(string producer)
    {
        var model = new ModelProto { IrVersion = 7, ProducerName = producer, Graph = _graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = Opset });
        return model.ToByteArray();
    }
}
