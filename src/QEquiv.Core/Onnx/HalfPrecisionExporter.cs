using QEquiv.Networks;
using QEquiv.Quantization;
using DataType = QEquiv.Onnx.Proto.TensorProto.Types.DataType;

namespace QEquiv.Onnx;

/// <summary>
/// Writes a float network whose weights and biases are float16 (or bfloat16) values as an ONNX graph that stores them in
/// that format and computes in float32 (opset 13): per layer the FLOAT16 / BFLOAT16 initializers (raw 16-bit data, half
/// the size of float32 ones) → Cast(to=FLOAT) → Gemm(transB=1) → Relu. With rounded activations, the input and every
/// Gemm's output pass through Cast(to=FLOAT16 / BFLOAT16) → Cast(to=FLOAT) (before the Relu). Every Cast to float is
/// exact and every Cast to 16 bits is one rounding of a float32 value, so ONNX Runtime computes float32 Gemms on exactly
/// the rounded parameters and rounds exactly where QEquiv's <c>FloatRound</c> operators do. Input [1, n], output [1, m].
/// </summary>
public static class HalfPrecisionExporter
{
    public static byte[] ToBytes(FloatNetwork network, FloatFormat format, bool activations)
    {
        ArgumentNullException.ThrowIfNull(network);
        var type = format == FloatFormat.Float16 ? DataType.Float16 : DataType.Bfloat16;
        var w = new OnnxWriter($"qequiv_{format.Name()}", "input", [1, network.InputSize], "output", [1, network.OutputSize]);
        var toFloat = OnnxWriter.Int("to", (long)DataType.Float);
        // The last node writes the graph's output.
        var steps = network.Layers.Sum(l => 1 + (activations ? 1 : 0) + (l.Activation == Activation.Relu ? 1 : 0));
        var done = 0;
        string? Name() => ++done == steps ? "output" : null;
        string RoundTrip(string x, string? output) =>
            w.Node("Cast", [w.Node("Cast", [x], null, OnnxWriter.Int("to", (long)type))], output, toFloat);

        var x = activations ? RoundTrip("input", null) : "input";
        foreach (var l in network.Layers)
        {
            var weights = w.Node("Cast", [w.Constant(type, [l.OutputSize, l.InputSize], l.Weights.ToArray())], null, toFloat);
            var bias = w.Node("Cast", [w.Constant(type, [l.OutputSize], l.Bias.ToArray())], null, toFloat);
            x = w.Node("Gemm", [x, weights, bias], Name(), OnnxWriter.Int("transB", 1));
            if (activations) x = RoundTrip(x, Name());
            if (l.Activation == Activation.Relu) x = w.Node("Relu", [x], Name());
        }
        return w.ToBytes("qequiv");
    }

    /// <summary>
    /// Any float graph (a convolutional one: Conv, pooling, Gemm) with every float32 initializer stored in
    /// <paramref name="format"/> instead — the values <paramref name="round"/> returns for it, named by the initializer —
    /// and cast back to float by a Cast(to=FLOAT) in front of the graph, so that every node reads the rounded values in
    /// float32 as before. The rest of the graph is unchanged, and QEquiv's importer folds each Cast into the constant.
    /// </summary>
    public static byte[] RoundInitializers(string path, FloatFormat format, Func<double[], string, double[]> round)
    {
        var model = Proto.ModelProto.Parser.ParseFrom(Data.Gzip.Decompress(File.ReadAllBytes(path), path));
        var type = format == FloatFormat.Float16 ? DataType.Float16 : DataType.Bfloat16;
        var graph = model.Graph;
        var casts = new List<Proto.NodeProto>();
        for (var k = 0; k < graph.Initializer.Count; k++)
        {
            var init = graph.Initializer[k];
            if (init.DataType != (int)DataType.Float) continue;
            var values = Tensor.FromProto(init, m => BadInputException.For(path, m));
            var stored = $"{init.Name}_{format.Name()}";
            graph.Initializer[k] = OnnxWriter.Tensor(stored, type, values.Dims, round(values.Data, $"initializer '{init.Name}' value"));
            var cast = new Proto.NodeProto { OpType = "Cast", Name = $"Cast_{stored}" };
            cast.Input.Add(stored);
            cast.Output.Add(init.Name);
            cast.Attribute.Add(OnnxWriter.Int("to", (long)DataType.Float));
            casts.Add(cast);
            // An initializer listed as a graph input (IR < 4) is now a node's output.
            if (graph.Input.FirstOrDefault(i => i.Name == init.Name) is { } listed) graph.Input.Remove(listed);
        }
        for (var k = casts.Count - 1; k >= 0; k--) graph.Node.Insert(0, casts[k]);
        model.ProducerName = "qequiv";
        return Google.Protobuf.MessageExtensions.ToByteArray(model);
    }
}
