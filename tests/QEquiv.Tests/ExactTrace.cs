using QEquiv.Evaluation;
using QEquiv.Networks;
using QEquiv.Quantization;

namespace QEquiv.Tests;

/// <summary>
/// Intermediate values of one quantization step as the runtime computes them: the accumulator (dense),
/// the float32 value that is rounded, the rounded integer and the final codes.
/// </summary>
public sealed record ExactStageTrace(int[]? Accumulator, float[] PreRounding, long[] Rounded, int[] Codes);

/// <summary>
/// Re-executes the quantized network with the exact QuantMath semantics, exposing what
/// <see cref="QuantizedEvaluator.Trace"/> hides. Used to check bounds and to tell whether a MILP candidate
/// sits at a rounding tie (where the MILP may pick either neighbour but the runtime picks one).
/// </summary>
public static class ExactTrace
{
    public static IReadOnlyList<ExactStageTrace> Quantized(QuantizedNetwork network, ReadOnlySpan<float> input)
    {
        var p = network.InputQuantization;
        var n = input.Length;
        var pre = new float[n];
        var rounded = new long[n];
        var codes = new int[n];
        for (var i = 0; i < n; i++)
        {
            pre[i] = input[i] / p.Scale;
            rounded[i] = QuantMath.RoundHalfEven(pre[i]);
            codes[i] = QuantMath.Quantize(input[i], p);
        }
        var trace = new List<ExactStageTrace> { new(null, pre, rounded, codes) };
        foreach (var stage in network.Stages)
        {
            var t = stage switch
            {
                QuantizedDense d => Dense(d, codes),
                Requantize r => Requant(r, codes),
                _ => throw new NotSupportedException(stage.GetType().Name),
            };
            trace.Add(t);
            codes = t.Codes;
        }
        return trace;
    }

    private static ExactStageTrace Dense(QuantizedDense d, int[] codes)
    {
        var n = d.OutputSize;
        var acc = new int[n];
        var pre = new float[n];
        var rounded = new long[n];
        var outCodes = new int[n];
        for (var j = 0; j < n; j++)
        {
            acc[j] = QuantizedEvaluator.Accumulate(d, codes, j);
            pre[j] = (float)acc[j] * d.Multipliers[j];
            rounded[j] = QuantMath.RoundHalfEven(pre[j]);
            var q = QuantMath.Requantize(acc[j], d.Multipliers[j], d.Output);
            outCodes[j] = d.Relu ? Math.Max(q, d.Output.ZeroPoint) : q;
        }
        return new ExactStageTrace(acc, pre, rounded, outCodes);
    }

    private static ExactStageTrace Requant(Requantize r, int[] codes)
    {
        var n = r.OutputSize;
        var pre = new float[n];
        var rounded = new long[n];
        var bias = r.Bias;
        for (var j = 0; j < n; j++)
        {
            var v = QuantMath.Dequantize(codes[j], r.Input);
            if (r.HasBias) v += bias[j];
            if (r.Relu && v < 0) v = 0;
            pre[j] = v / r.Output.Scale;
            rounded[j] = QuantMath.RoundHalfEven(pre[j]);
        }
        return new ExactStageTrace(null, pre, rounded, QuantizedEvaluator.Apply(r, codes));
    }
}
