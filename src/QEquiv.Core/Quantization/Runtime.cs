using QEquiv.Networks;

namespace QEquiv.Quantization;

/// <summary>Which deployed runtime's arithmetic the quantized network follows where runtimes disagree.</summary>
public enum Runtime
{
    /// <summary>The ONNX file as written (ONNX spec; what ONNX Runtime computes with optimizations off).</summary>
    Onnx,
    /// <summary>
    /// PyTorch's own quantized kernels. They differ from their torch.onnx.export in one place: PyTorch
    /// quantizes the float bias at run time with round-to-nearest, while the exporter (1.13) truncates it
    /// toward zero into the int32 bias it writes. The PyTorch biases are re-derived from the float model.
    /// </summary>
    PyTorch,
}

public static class RuntimeSemantics
{
    public static QuantizedNetwork Apply(Runtime runtime, QuantizedNetwork quantized, FloatNetwork reference) =>
        runtime == Runtime.PyTorch ? WithPyTorchBias(quantized, reference) : quantized;

    /// <summary>
    /// Replaces each layer's int32 bias by PyTorch's run-time quantization of the float model's bias:
    /// <see cref="QuantMath.QuantizeBias"/>, as ATen's quantize_val computes it.
    /// </summary>
    public static QuantizedNetwork WithPyTorchBias(QuantizedNetwork quantized, FloatNetwork reference)
    {
        var dense = quantized.Stages.OfType<QuantizedDense>().ToList();
        if (dense.Count != reference.Layers.Count || dense.Count != quantized.Stages.Count)
            throw BadInputException.For(quantized.Source,
                $"--runtime pytorch needs one quantized linear layer per float layer ({dense.Count} vs {reference.Layers.Count} in {reference.Source})");
        var stages = new List<QuantizedStage>();
        for (var k = 0; k < dense.Count; k++)
        {
            var d = dense[k];
            var layer = reference.Layers[k];
            if (layer.InputSize != d.InputSize || layer.OutputSize != d.OutputSize)
                throw BadInputException.For(quantized.Source, $"layer {k} is {d.InputSize}→{d.OutputSize} but the float model's is {layer.InputSize}→{layer.OutputSize}");
            var bias = new int[d.OutputSize];
            for (var j = 0; j < bias.Length; j++)
                bias[j] = QuantMath.QuantizeBias((float)layer.Bias[j], d.Input.Scale, d.WeightScales[j]);
            stages.Add(d.WithBias(bias));
        }
        return quantized.WithStages(stages);
    }
}
