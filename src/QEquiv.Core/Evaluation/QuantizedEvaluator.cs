using QEquiv.Networks;
using QEquiv.Quantization;

namespace QEquiv.Evaluation;

/// <summary>The quantized network executed exactly as the deployed runtime does (QuantMath semantics).</summary>
public static class QuantizedEvaluator
{
    /// <summary>Output codes of every stage, the input codes first; useful for bounds and debugging.</summary>
    public static IReadOnlyList<int[]> Trace(QuantizedNetwork network, ReadOnlySpan<float> input)
    {
        if (input.Length != network.InputSize)
            throw new ArgumentException($"input has {input.Length} values, the network takes {network.InputSize}");
        var codes = new int[input.Length];
        for (var i = 0; i < codes.Length; i++) codes[i] = QuantMath.Quantize(input[i], network.InputQuantization);
        var trace = new List<int[]>(network.Stages.Count + 1) { codes };
        foreach (var stage in network.Stages)
        {
            codes = Apply(stage, codes);
            trace.Add(codes);
        }
        return trace;
    }

    public static float[] Evaluate(QuantizedNetwork network, ReadOnlySpan<float> input) =>
        Dequantize(network, Trace(network, input)[^1]);

    /// <summary>Evaluates at a real-valued point: the input is first rounded to float32, as a runtime would receive it.</summary>
    public static float[] Evaluate(QuantizedNetwork network, ReadOnlySpan<double> input)
    {
        var x = new float[input.Length];
        for (var i = 0; i < x.Length; i++) x[i] = (float)input[i];
        return Evaluate(network, x);
    }

    public static float[] Dequantize(QuantizedNetwork network, ReadOnlySpan<int> codes)
    {
        var p = network.OutputQuantization;
        var y = new float[codes.Length];
        for (var j = 0; j < y.Length; j++)
        {
            y[j] = QuantMath.Dequantize(codes[j], p);
            if (network.OutputBias is { } b) y[j] += b[j];
        }
        return y;
    }

    public static int[] Apply(QuantizedStage stage, ReadOnlySpan<int> codes) => stage switch
    {
        QuantizedDense d => ApplyDense(d, codes),
        Requantize r => ApplyRequantize(r, codes),
        _ => throw new NotSupportedException(stage.GetType().Name),
    };

    /// <summary>int32 accumulation Σ (q − zx)(w − zw) + bias, wrapping like the runtime's int32 registers.</summary>
    public static int Accumulate(QuantizedDense d, ReadOnlySpan<int> codes, int output)
    {
        var zx = d.Input.ZeroPoint;
        var zw = d.WeightZeroPoints[output];
        var row = d.Row(output);
        var acc = d.Bias[output];
        unchecked
        {
            for (var i = 0; i < row.Length; i++) acc += (codes[i] - zx) * (row[i] - zw);
        }
        return acc;
    }

    private static int[] ApplyDense(QuantizedDense d, ReadOnlySpan<int> codes)
    {
        var y = new int[d.OutputSize];
        for (var j = 0; j < y.Length; j++) y[j] = DenseOutput(d, Accumulate(d, codes, j), j);
        return y;
    }

    /// <summary>
    /// Output code j of a dense stage from its int32 accumulator: requantize, then ReLU on codes. The one
    /// place this is computed for the layered view (the falsifier now evaluates Network operators; see IncrementalRules).
    /// </summary>
    internal static int DenseOutput(QuantizedDense d, int acc, int j)
    {
        var q = QuantMath.Requantize(acc, d.Multipliers[j], d.Output);
        return d.Relu ? Math.Max(q, d.Output.ZeroPoint) : q;
    }

    private static int[] ApplyRequantize(Requantize r, ReadOnlySpan<int> codes)
    {
        var y = new int[r.OutputSize];
        for (var j = 0; j < y.Length; j++) y[j] = RequantizeOutput(r, codes[j], j);
        return y;
    }

    /// <summary>Output code j of an element-wise requantization stage from its input code (shared like <see cref="DenseOutput"/>).</summary>
    internal static int RequantizeOutput(Requantize r, int code, int j)
    {
        var v = QuantMath.Dequantize(code, r.Input);
        if (r.HasBias) v += r.Bias[j];
        if (r.Relu && v < 0) v = 0;
        return QuantMath.Quantize(v, r.Output);
    }
}
