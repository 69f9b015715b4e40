using QEquiv.Evaluation;
using QEquiv.Networks;
using QEquiv.Quantization;

namespace QEquiv.Quantizer;

/// <param name="Observer">activation observer (weights always use min/max, as PyTorch's qconfigs do)</param>
/// <param name="PerChannel">per-output-channel symmetric int8 weights instead of per-tensor</param>
/// <param name="Activations">activation type: uint8 (PyTorch's quint8) or int8 (qint8), both affine</param>
/// <param name="ReduceRange">activation codes use 7 bits (PyTorch's reduce_range, fbgemm's default)</param>
/// <param name="BatchSize">calibration rows per observer call; 0 = all rows in one batch. It matters only for the
/// histogram observer, whose merged histograms depend on how the data was batched.</param>
public sealed record QuantizerOptions(
    ObserverKind Observer = ObserverKind.Histogram,
    bool PerChannel = false,
    QuantType Activations = QuantType.UInt8,
    bool ReduceRange = false,
    int BatchSize = 0);

/// <summary>What one tensor's quantization did to the calibration data.</summary>
/// <param name="Name">"input" or "layer k"</param>
/// <param name="ClippedShare">share of the observed calibration values outside the representable range</param>
public sealed record TensorReport(string Name, QuantParams Params, float ObservedMin, float ObservedMax, double ClippedShare,
    float WeightScaleMin, float WeightScaleMax);

public sealed record QuantizationResult(QuantizedNetwork Network, IReadOnlyList<TensorReport> Tensors,
    double MaxCalibrationError, int WorstRow);

/// <summary>
/// Post-training static quantization with PyTorch's eager-mode semantics (torch.ao.quantization prepare →
/// calibrate → convert, no module fusion): a QuantStub observes the input, each Linear's output is observed
/// before its ReLU (the ReLU then runs on codes, max(q, zero point)), weights get symmetric int8 scales from
/// their min/max, and the int32 bias is round(b / (s_x·s_w)) as PyTorch's kernels compute it at run time.
/// </summary>
public static class PostTrainingQuantizer
{
    public static QuantizationResult Quantize(FloatNetwork network, IReadOnlyList<float[]> calibration, QuantizerOptions options)
    {
        if (calibration.Count == 0) throw new ArgumentException("no calibration rows");
        if (calibration.Any(r => r.Length != network.InputSize))
            throw new ArgumentException($"calibration rows must have {network.InputSize} values");
        if (options.Activations is not (QuantType.UInt8 or QuantType.Int8))
            throw new ArgumentException("activations are uint8 or int8");

        // PyTorch holds the model in float32: weights and biases are rounded once, and every layer's output is a float32 tensor.
        var layers = network.Layers;
        var weights = layers.Select(l => ToFloat(l.Weights)).ToArray();
        var biases = layers.Select(l => ToFloat(l.Bias)).ToArray();

        var activations = Forward(network, weights, biases, calibration);
        var observers = Enumerable.Range(0, layers.Count + 1).Select(_ => NewObserver(options)).ToArray();
        var batch = options.BatchSize <= 0 ? calibration.Count : options.BatchSize;
        for (var t = 0; t < observers.Length; t++)
            for (var start = 0; start < calibration.Count; start += batch)
                observers[t].Observe(Flatten(activations[t], start, Math.Min(batch, calibration.Count - start)));
        var qparams = observers.Select(o => o.Calculate()).ToArray();

        var stages = new List<QuantizedStage>();
        var reports = new List<TensorReport> { Report("input", qparams[0], activations[0], null) };
        for (var k = 0; k < layers.Count; k++)
        {
            var l = layers[k];
            var (codes, scales) = QuantizeWeights(weights[k], l.OutputSize, l.InputSize, options.PerChannel);
            var bias = new int[l.OutputSize];
            for (var j = 0; j < bias.Length; j++) bias[j] = QuantMath.QuantizeBias(biases[k][j], qparams[k].Scale, scales[j]);
            stages.Add(new QuantizedDense(l.InputSize, l.OutputSize, qparams[k], codes, QuantType.Int8, scales,
                new int[l.OutputSize], bias, qparams[k + 1], relu: l.Activation == Activation.Relu));
            reports.Add(Report($"layer {k}", qparams[k + 1], activations[k + 1], scales));
        }
        var quantized = new QuantizedNetwork(network.Source, [1, network.InputSize], network.InputSize, qparams[0], stages);

        var (worst, worstRow) = (0.0, 0);
        for (var r = 0; r < calibration.Count; r++)
        {
            var n = FloatEvaluator.Evaluate(network, calibration[r]);
            var q = QuantizedEvaluator.Evaluate(quantized, calibration[r]);
            for (var j = 0; j < n.Length; j++)
                if (Math.Abs(n[j] - q[j]) > worst) (worst, worstRow) = (Math.Abs(n[j] - q[j]), r);
        }
        return new QuantizationResult(quantized, reports, worst, worstRow);
    }

    private static IActivationObserver NewObserver(QuantizerOptions o) => o.Observer switch
    {
        ObserverKind.MinMax => new MinMaxObserver(o.Activations, o.ReduceRange),
        _ => new HistogramObserver(o.Activations, o.ReduceRange),
    };

    private static float[] ToFloat(ReadOnlySpan<double> v)
    {
        var f = new float[v.Length];
        for (var i = 0; i < f.Length; i++) f[i] = (float)v[i];
        return f;
    }

    /// <summary>
    /// Observed tensors per calibration row: [0] the input, [k+1] layer k's output before its activation.
    /// Each output is a float32 sum in input order (separate multiply and add, no FMA), then plus the bias: of
    /// the float32 orders tried (exact then rounded, FMA, blocked partial sums) it is the only one that gives the
    /// reference files' activation scales to the bit (docs/quantization-semantics.md); a correctly rounded sum
    /// is 1–2 ulps off in a scale.
    /// </summary>
    private static float[][][] Forward(FloatNetwork network, float[][] weights, float[][] biases, IReadOnlyList<float[]> rows)
    {
        var layers = network.Layers;
        var result = new float[layers.Count + 1][][];
        result[0] = rows.ToArray();
        for (var k = 0; k < layers.Count; k++) result[k + 1] = new float[rows.Count][];
        for (var r = 0; r < rows.Count; r++)
        {
            var x = rows[r];
            for (var k = 0; k < layers.Count; k++)
            {
                var (inSize, outSize) = (layers[k].InputSize, layers[k].OutputSize);
                var y = new float[outSize];
                for (var j = 0; j < outSize; j++)
                {
                    var s = 0f;
                    for (var i = 0; i < inSize; i++) s += weights[k][j * inSize + i] * x[i];
                    y[j] = s + biases[k][j];
                }
                result[k + 1][r] = y;
                x = layers[k].Activation == Activation.Relu ? y.Select(v => MathF.Max(v, 0f)).ToArray() : y;
            }
        }
        return result;
    }

    private static float[] Flatten(float[][] rows, int start, int count)
    {
        var width = rows[0].Length;
        var flat = new float[count * width];
        for (var r = 0; r < count; r++) rows[start + r].CopyTo(flat, r * width);
        return flat;
    }

    /// <summary>MinMaxObserver / PerChannelMinMaxObserver with qint8 symmetric qscheme, then torch.quantize_per_tensor/channel.</summary>
    private static (int[] Codes, float[] Scales) QuantizeWeights(float[] w, int outputs, int inputs, bool perChannel)
    {
        var range = QParams.Range(QuantType.Int8, reduceRange: false);
        var rowParams = new QuantParams[outputs];
        if (perChannel)
        {
            for (var j = 0; j < outputs; j++)
            {
                var row = w.AsSpan(j * inputs, inputs);
                rowParams[j] = QParams.Symmetric(Min(row), Max(row), QuantType.Int8, reduceRange: false);
            }
        }
        else Array.Fill(rowParams, QParams.Symmetric(Min(w), Max(w), QuantType.Int8, reduceRange: false));
        var codes = new int[w.Length];
        for (var j = 0; j < outputs; j++)
            for (var i = 0; i < inputs; i++)
                codes[j * inputs + i] = QParams.QuantizeWeight(w[j * inputs + i], rowParams[j], range);
        return (codes, rowParams.Select(p => p.Scale).ToArray());
    }

    private static float Min(ReadOnlySpan<float> v) { var m = float.PositiveInfinity; foreach (var x in v) m = MathF.Min(m, x); return m; }
    private static float Max(ReadOnlySpan<float> v) { var m = float.NegativeInfinity; foreach (var x in v) m = MathF.Max(m, x); return m; }

    private static TensorReport Report(string name, QuantParams p, float[][] observed, float[]? weightScales)
    {
        // The runtime saturates at the type's full range, also under reduce_range (which only narrows the observer's).
        var (qmin, qmax) = (p.Min, p.Max);
        long clipped = 0, total = 0;
        var (min, max) = (float.PositiveInfinity, float.NegativeInfinity);
        foreach (var row in observed)
            foreach (var v in row)
            {
                total++;
                (min, max) = (MathF.Min(min, v), MathF.Max(max, v));
                // Clipped: the unsaturated code falls outside the range, so quantization loses more than half a step.
                var code = QuantMath.RoundHalfEven(v / p.Scale) + p.ZeroPoint;
                if (code < qmin || code > qmax) clipped++;
            }
        return new TensorReport(name, p, min, max, (double)clipped / total,
            weightScales?.Min() ?? float.NaN, weightScales?.Max() ?? float.NaN);
    }
}
