using QEquiv.Onnx.Proto;
using QEquiv.Quantization;
using DataType = QEquiv.Onnx.Proto.TensorProto.Types.DataType;

namespace QEquiv.Onnx;

/// <summary>
/// The parts of an ONNX graph both importers need: its single data input, its constants (initializers
/// and constant sub-graphs folded as they are met), node attributes, and errors that name the file and node.
/// </summary>
internal sealed class OnnxGraph
{
    private readonly Dictionary<string, Tensor> _constants = new();

    public OnnxGraph(string path) : this(path, OnnxFile.Read(path))
    {
    }

    /// <summary>A model that arrived as bytes (a cluster worker's copy); <paramref name="name"/> is the file it came from.</summary>
    public OnnxGraph(string name, byte[] bytes) : this(name, OnnxFile.Parse(bytes, name))
    {
    }

    private OnnxGraph(string path, ModelProto model)
    {
        Path = path;
        Model = model;
        var graph = Model.Graph;
        foreach (var init in graph.Initializer)
            _constants[init.Name] = Tensor.FromProto(init, m => BadInputException.For(path, m));
        var inputs = graph.Input.Where(i => !_constants.ContainsKey(i.Name)).ToList();
        if (inputs.Count != 1)
            throw BadInputException.For(path, $"the graph has {inputs.Count} data inputs ({string.Join(", ", inputs.Select(i => i.Name))}); QEquiv needs exactly one");
        InputName = inputs[0].Name;
        var shape = inputs[0].Type?.TensorType?.Shape;
        // Symbolic (batch) dimensions are taken as 1: QEquiv reasons about one sample at a time.
        InputShape = shape is null ? [] : shape.Dim.Select(d => d.HasDimValue && d.DimValue > 0 ? (int)d.DimValue : 1).ToArray();
        if (graph.Output.Count != 1)
            throw BadInputException.For(path, $"the graph has {graph.Output.Count} outputs; QEquiv needs exactly one");
        OutputName = graph.Output[0].Name;
    }

    public string Path { get; }
    public ModelProto Model { get; }
    public string InputName { get; }
    public int[] InputShape { get; }
    public string OutputName { get; }
    public IEnumerable<NodeProto> Nodes => Model.Graph.Node;

    public bool IsConstant(string name) => _constants.ContainsKey(name);
    public bool TryConstant(string name, out Tensor tensor) => _constants.TryGetValue(name, out tensor!);

    public Tensor Constant(NodeProto node, int input)
    {
        if (input >= node.Input.Count || node.Input[input].Length == 0)
            throw Error(node, $"input {input} is missing");
        if (!_constants.TryGetValue(node.Input[input], out var t))
            throw Error(node, $"input {input} ('{node.Input[input]}') must be a constant");
        return t;
    }

    public Tensor? OptionalConstant(NodeProto node, int input) =>
        input < node.Input.Count && node.Input[input].Length > 0 ? Constant(node, input) : null;

    public BadInputException Error(NodeProto node, string problem) =>
        BadInputException.For(Path, $"node '{NodeName(node)}' ({node.OpType}): {problem}");

    public static string NodeName(NodeProto node) => node.Name.Length > 0 ? node.Name : string.Join(",", node.Output);

    public BadInputException Unsupported(NodeProto node, string? why = null) =>
        Error(node, why ?? "unsupported operator in this position");

    /// <summary>
    /// Folds a node whose inputs are all constant when it is a pure shape/constant operator. Returns
    /// false for nodes that touch the data path or that the caller must interpret itself.
    /// </summary>
    public bool TryFold(NodeProto node)
    {
        if (!node.Input.Where(i => i.Length > 0).All(IsConstant)) return false;
        Tensor? result = node.OpType switch
        {
            "Constant" => FoldConstant(node),
            "ConstantOfShape" => FoldConstantOfShape(node),
            "Cast" => FoldCast(node),
            "Identity" => Constant(node, 0),
            "Reshape" or "Flatten" or "Squeeze" or "Unsqueeze" => Constant(node, 0) with { Dims = [Constant(node, 0).Count] },
            _ => null,
        };
        if (result is null) return false;
        _constants[node.Output[0]] = result;
        return true;
    }

    public void SetConstant(string name, Tensor t) => _constants[name] = t;

    private Tensor FoldConstant(NodeProto node)
    {
        var a = node.Attribute.FirstOrDefault() ?? throw Error(node, "a Constant needs a value attribute");
        return a.Name switch
        {
            "value" => Tensor.FromProto(a.T, m => Error(node, m)),
            "value_float" => new Tensor(DataType.Float, [], [a.F]),
            "value_floats" => new Tensor(DataType.Float, [a.Floats.Count], a.Floats.Select(f => (double)f).ToArray()),
            "value_int" => new Tensor(DataType.Int64, [], [a.I]),
            "value_ints" => new Tensor(DataType.Int64, [a.Ints.Count], a.Ints.Select(i => (double)i).ToArray()),
            _ => throw Error(node, $"Constant attribute '{a.Name}' is not supported"),
        };
    }

    private Tensor FoldConstantOfShape(NodeProto node)
    {
        var shape = Constant(node, 0).AsLongs().Select(d => checked((int)d)).ToArray();
        var value = node.Attribute.FirstOrDefault(a => a.Name == "value") is { } a
            ? Tensor.FromProto(a.T, m => Error(node, m))
            : new Tensor(DataType.Float, [1], [0.0]);
        var count = shape.Aggregate(1, (x, d) => x * d);
        return new Tensor(value.Type, shape, Enumerable.Repeat(value.Data[0], count).ToArray());
    }

    private Tensor FoldCast(NodeProto node)
    {
        var src = Constant(node, 0);
        var to = (DataType)AttrInt(node, "to", (long)DataType.Float);
        double Convert(double v) => to switch
        {
            DataType.Float => (float)v,
            DataType.Double => v,
            // A float16 / bfloat16 initializer cast to float is exact (every such value is a float32); the other way
            // rounds the float32 value as the runtime does.
            DataType.Float16 => FloatFormat.Float16.Round((float)v),
            DataType.Bfloat16 => FloatFormat.BFloat16.Round((float)v),
            DataType.Int8 => (sbyte)(long)v,
            DataType.Uint8 => (byte)(long)v,
            DataType.Int32 => (int)(long)v,
            DataType.Int64 => (long)v,
            _ => throw Error(node, $"Cast to element type {to} is not supported"),
        };
        return new Tensor(to, src.Dims, src.Data.Select(Convert).ToArray());
    }

    public static long AttrInt(NodeProto node, string name, long fallback) =>
        node.Attribute.FirstOrDefault(a => a.Name == name) is { } a ? a.I : fallback;

    public static float AttrFloat(NodeProto node, string name, float fallback) =>
        node.Attribute.FirstOrDefault(a => a.Name == name) is { } a ? a.F : fallback;
}
