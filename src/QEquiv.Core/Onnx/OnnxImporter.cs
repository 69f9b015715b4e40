using QEquiv.Networks;

namespace QEquiv.Onnx;

/// <summary>Entry point for reading ONNX models into QEquiv's network model.</summary>
public static class OnnxImporter
{
    private static readonly HashSet<string> QuantizedOps = ["QuantizeLinear", "DequantizeLinear", "QLinearMatMul"];

    /// <summary>True when the file holds a quantized graph (QDQ or QOperator form).</summary>
    public static bool IsQuantized(string path) => new OnnxGraph(path).Nodes.Any(n => QuantizedOps.Contains(n.OpType));

    public static FloatNetwork LoadFloat(string path) => FloatImporter.Import(new OnnxGraph(path));

    public static QuantizedNetwork LoadQuantized(string path) => Quantized(new OnnxGraph(path));

    /// <summary>Models that arrived as bytes (cluster workers get them with the job); <paramref name="name"/> names them.</summary>
    public static FloatNetwork LoadFloat(string name, byte[] bytes) => FloatImporter.Import(new OnnxGraph(name, bytes));

    public static QuantizedNetwork LoadQuantized(string name, byte[] bytes) => Quantized(new OnnxGraph(name, bytes));

    private static QuantizedNetwork Quantized(OnnxGraph g)
    {
        var path = g.Path;
        if (!g.Nodes.Any(n => QuantizedOps.Contains(n.OpType)))
            throw BadInputException.For(path, "this is a float model (no QuantizeLinear, DequantizeLinear or QLinearMatMul); give it as the float model");
        return QuantizedImporter.Import(g);
    }

    /// <summary>Loads either kind; exactly one of the results is non-null.</summary>
    public static (FloatNetwork? Float, QuantizedNetwork? Quantized) Load(string path)
    {
        var g = new OnnxGraph(path);
        return g.Nodes.Any(n => QuantizedOps.Contains(n.OpType)) ? (null, QuantizedImporter.Import(g)) : (FloatImporter.Import(g), null);
    }
}
