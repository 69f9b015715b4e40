using QEquiv.Model;
using QEquiv.Quantization;

namespace QEquiv.Onnx;

/// <summary>Applies a runtime's arithmetic into a quantized network's operators (at import: nothing later can drop it).</summary>
public static class RuntimeSemantics
{
    public static Network Apply(Runtime runtime, Network quantized, Network reference) =>
        runtime == Runtime.PyTorch ? WithPyTorchBias(quantized, reference) : quantized.WithNodes(quantized.Nodes, Runtime.Onnx);

    /// <summary>
    /// Replaces each layer's int32 bias by PyTorch's run-time quantization of the float model's bias:
    /// <see cref="QuantMath.QuantizeBias"/>, as ATen's quantize_val computes it. Layers pair up in order: the k-th
    /// IntegerLinear of the quantized network with the k-th Affine of the float one.
    /// </summary>
    public static Network WithPyTorchBias(Network quantized, Network reference)
    {
        var linear = quantized.Operators.OfType<IntegerLinear>().ToList();
        var affine = reference.Operators.OfType<Affine>().ToList();
        var requantizations = quantized.Operators.OfType<Quantize>().Count() - 1;
        if (linear.Count != affine.Count || requantizations > 0)
            throw BadInputException.For(quantized.Source,
                $"--runtime pytorch needs one quantized linear layer per float layer ({linear.Count} vs {affine.Count} in {reference.Source})"
                + (requantizations > 0 ? " and no element-wise requantization between them" : ""));
        var nodes = new List<Node>();
        var k = 0;
        foreach (var node in quantized.Nodes)
        {
            if (node.Operator is not IntegerLinear d)
            {
                nodes.Add(node);
                continue;
            }
            var layer = affine[k];
            if (layer.InputSize != d.InputSize || layer.OutputSize != d.OutputSize)
                throw BadInputException.For(quantized.Source, $"layer {k} is {d.InputSize}→{d.OutputSize} but the float model's is {layer.InputSize}→{layer.OutputSize}");
            var bias = new int[d.OutputSize];
            for (var j = 0; j < bias.Length; j++)
                bias[j] = QuantMath.QuantizeBias((float)layer.Bias[j], d.Input.Scale, d.WeightScales[j]);
            nodes.Add(node with { Operator = d.WithBias(bias) });
            k++;
        }
        return quantized.WithNodes(nodes, Runtime.PyTorch);
    }
}
