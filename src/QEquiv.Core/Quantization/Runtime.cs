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

