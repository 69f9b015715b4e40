using QEquiv.Networks;
using QEquiv.Quantization;
using DataType = QEquiv.Onnx.Proto.TensorProto.Types.DataType;

namespace QEquiv.Onnx;

/// <summary>
/// Writes a quantized network as a QDQ ONNX graph of the shape torch.onnx.export gives a PyTorch quantized
/// model (opset 13): QuantizeLinear of the input, then per layer DequantizeLinear → Gemm(transB) with
/// DequantizeLinear'd int8 weights and int32 bias → QuantizeLinear, with DequantizeLinear → Relu →
/// QuantizeLinear (unchanged parameters) for a ReLU, and a final DequantizeLinear. Unlike the 1.13 exporter it
/// writes the int32 bias the network holds (for the quantizer: PyTorch's rounded run-time bias, not the
/// exporter's truncation) and omits the exporter's no-op Casts, so the file means exactly what the network computes.
/// </summary>
public static class QdqExporter
{
    public static byte[] ToBytes(QuantizedNetwork network)
    {
        if (network.OutputBias is not null)
            throw new NotSupportedException("a float bias after the final dequantization cannot be exported in the QDQ form");
        var w = new OnnxWriter("qequiv_quantized", "input", [1, network.InputSize], "output", [1, network.OutputSize]);
        var x = w.Node("QuantizeLinear", ["input", .. Params(w, network.InputQuantization)]);
        foreach (var stage in network.Stages)
        {
            if (stage is not QuantizedDense d)
                throw new NotSupportedException($"only linear stages can be exported, not {stage.GetType().Name}");
            var input = w.Node("DequantizeLinear", [x, .. Params(w, d.Input)]);
            var gemm = w.Node("Gemm", [input, Weights(w, d), Bias(w, d)], null, OnnxWriter.Int("transB", 1));
            x = w.Node("QuantizeLinear", [gemm, .. Params(w, d.Output)]);
            if (d.Relu)
            {
                var relu = w.Node("Relu", [w.Node("DequantizeLinear", [x, .. Params(w, d.Output)])]);
                x = w.Node("QuantizeLinear", [relu, .. Params(w, d.Output)]);
            }
        }
        w.Node("DequantizeLinear", [x, .. Params(w, network.OutputQuantization)], "output");
        return w.ToBytes("qequiv");
    }

    private static DataType Type(QuantType t) => t switch
    {
        QuantType.UInt8 => DataType.Uint8,
        QuantType.Int8 => DataType.Int8,
        _ => DataType.Int32,
    };

    private static string[] Params(OnnxWriter w, QuantParams p) =>
        [w.Constant(DataType.Float, [], [p.Scale]), w.Constant(Type(p.Type), [], [p.ZeroPoint])];

    /// <summary>One scale per tensor, or one per output row on axis 0 when they differ.</summary>
    private static string[] ScaleAndZeroPoint(OnnxWriter w, float[] scales, int[] zeroPoints, DataType zpType) =>
        scales.Distinct().Count() == 1 && zeroPoints.Distinct().Count() == 1
            ? [w.Constant(DataType.Float, [], [scales[0]]), w.Constant(zpType, [], [zeroPoints[0]])]
            : [w.Constant(DataType.Float, [scales.Length], scales.Select(s => (double)s)), w.Constant(zpType, [zeroPoints.Length], zeroPoints.Select(z => (double)z))];

    private static bool PerRow(float[] scales, int[] zeroPoints) => scales.Distinct().Count() > 1 || zeroPoints.Distinct().Count() > 1;

    private static string Weights(OnnxWriter w, QuantizedDense d)
    {
        var scales = d.WeightScales.ToArray();
        var zps = d.WeightZeroPoints.ToArray();
        var codes = w.Constant(Type(d.WeightType), [d.OutputSize, d.InputSize], d.Weights.ToArray().Select(c => (double)c));
        var attrs = PerRow(scales, zps) ? new[] { OnnxWriter.Int("axis", 0) } : [];
        return w.Node("DequantizeLinear", [codes, .. ScaleAndZeroPoint(w, scales, zps, Type(d.WeightType))], null, attrs);
    }

    /// <summary>int32 bias at scale float32(s_x·s_w), zero point 0: the integer pipeline adds it to the accumulator unchanged.</summary>
    private static string Bias(OnnxWriter w, QuantizedDense d)
    {
        var scales = new float[d.OutputSize];
        for (var j = 0; j < scales.Length; j++) scales[j] = d.Input.Scale * d.WeightScales[j];
        var zps = new int[d.OutputSize];
        var codes = w.Constant(DataType.Int32, [d.OutputSize], d.Bias.ToArray().Select(b => (double)b));
        var attrs = PerRow(scales, zps) ? new[] { OnnxWriter.Int("axis", 0) } : [];
        return w.Node("DequantizeLinear", [codes, .. ScaleAndZeroPoint(w, scales, zps, DataType.Int32)], null, attrs);
    }
}
