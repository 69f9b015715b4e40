using QEquiv.Quantization;

namespace QEquiv.Networks;

/// <summary>
/// A quantized feed-forward network as the deployed runtime executes it: the input is quantized once,
/// every stage maps integer codes to integer codes, and the last codes are dequantized.
/// </summary>
public sealed class QuantizedNetwork
{
    public QuantizedNetwork(string source, IReadOnlyList<int> inputShape, int inputSize, QuantParams inputQuantization,
        IReadOnlyList<QuantizedStage> stages, IReadOnlyList<float>? outputBias = null)
    {
        if (stages.Count == 0) throw new ArgumentException("a quantized network needs at least one stage");
        var size = inputSize;
        var q = inputQuantization;
        for (var i = 0; i < stages.Count; i++)
        {
            var s = stages[i];
            if (s.InputSize != size)
                throw new ArgumentException($"stage {i} takes {s.InputSize} codes but gets {size}");
            if (s.Input != q)
                throw new ArgumentException($"stage {i} reads codes with {s.Input} but they are written with {q}");
            size = s.OutputSize;
            q = s.Output;
        }
        if (outputBias is not null && outputBias.Count != size)
            throw new ArgumentException($"output bias has {outputBias.Count} entries, expected {size}");
        Source = source;
        InputShape = inputShape.ToArray();
        InputSize = inputSize;
        InputQuantization = inputQuantization;
        Stages = stages.ToArray();
        OutputBias = outputBias?.ToArray();
    }

    public string Source { get; }
    public IReadOnlyList<int> InputShape { get; }
    public int InputSize { get; }
    public QuantParams InputQuantization { get; }
    public IReadOnlyList<QuantizedStage> Stages { get; }
    /// <summary>Parameters of the final codes, which the network dequantizes into its outputs.</summary>
    public QuantParams OutputQuantization => Stages[^1].Output;
    /// <summary>
    /// A float bias added after the final dequantization (ONNX Runtime's QOperator form writes
    /// DequantizeLinear → Add for the last layer's bias); null when absent.
    /// </summary>
    public IReadOnlyList<float>? OutputBias { get; }
    public int OutputSize => Stages[^1].OutputSize;

    public QuantizedNetwork WithStages(IReadOnlyList<QuantizedStage> stages) =>
        new(Source, InputShape, InputSize, InputQuantization, stages, OutputBias);
}

/// <summary>One step of a quantized network, from codes with <see cref="Input"/> to codes with <see cref="Output"/>.</summary>
public abstract class QuantizedStage
{
    private protected QuantizedStage(int inputSize, int outputSize, QuantParams input, QuantParams output, bool relu)
    {
        InputSize = inputSize;
        OutputSize = outputSize;
        Input = input;
        Output = output;
        Relu = relu;
    }

    public int InputSize { get; }
    public int OutputSize { get; }
    public QuantParams Input { get; }
    public QuantParams Output { get; }
    /// <summary>ReLU on the output codes: max(code, output zero point).</summary>
    public bool Relu { get; }
}

/// <summary>
/// A quantized linear layer (PyTorch quantized Linear, ONNX QLinearMatMul/QGemm, or a QDQ Gemm):
/// acc_j = Σ_i (q_i − zx)(w_ji − zw_j) + bias_j in int32, then
/// y_j = saturate(roundHalfEven(float32(acc_j) · M_j) + zy) with M_j = <see cref="QuantMath.Multiplier"/>.
/// </summary>
public sealed class QuantizedDense : QuantizedStage
{
    private readonly int[] _weights;
    private readonly float[] _weightScales;
    private readonly int[] _weightZeroPoints;
    private readonly int[] _bias;
    private readonly float[] _multipliers;

    public QuantizedDense(int inputSize, int outputSize, QuantParams input, int[] weights, QuantType weightType,
        float[] weightScales, int[] weightZeroPoints, int[] bias, QuantParams output, bool relu)
        : base(inputSize, outputSize, input, output, relu)
    {
        if (weights.Length != inputSize * outputSize)
            throw new ArgumentException($"weights have {weights.Length} entries, expected {outputSize}×{inputSize}");
        if (weightScales.Length != outputSize || weightZeroPoints.Length != outputSize || bias.Length != outputSize)
            throw new ArgumentException("weight scales, zero points and bias need one entry per output");
        WeightType = weightType;
        _weights = (int[])weights.Clone();
        _weightScales = (float[])weightScales.Clone();
        _weightZeroPoints = (int[])weightZeroPoints.Clone();
        _bias = (int[])bias.Clone();
        _multipliers = new float[outputSize];
        for (var j = 0; j < outputSize; j++)
            _multipliers[j] = QuantMath.Multiplier(input.Scale, weightScales[j], output.Scale);
        PerChannel = weightScales.Distinct().Count() > 1 || weightZeroPoints.Distinct().Count() > 1;
    }

    public QuantType WeightType { get; }
    public bool PerChannel { get; }
    /// <summary>Integer weight codes, row-major out × in.</summary>
    public ReadOnlySpan<int> Weights => _weights;
    public ReadOnlySpan<int> Row(int output) => _weights.AsSpan(output * InputSize, InputSize);
    public int Weight(int output, int input) => _weights[output * InputSize + input];
    public ReadOnlySpan<float> WeightScales => _weightScales;
    public ReadOnlySpan<int> WeightZeroPoints => _weightZeroPoints;
    /// <summary>int32 bias at scale input.Scale · weightScale_j.</summary>
    public ReadOnlySpan<int> Bias => _bias;
    /// <summary>Requantization multipliers M_j, float32 as the runtime computes them.</summary>
    public ReadOnlySpan<float> Multipliers => _multipliers;

    /// <summary>A copy with other int32 biases (same scale).</summary>
    public QuantizedDense WithBias(int[] bias) =>
        new(InputSize, OutputSize, Input, _weights, WeightType, _weightScales, _weightZeroPoints, bias, Output, Relu);

    /// <summary>A copy with one integer weight replaced (for mutation experiments).</summary>
    public QuantizedDense WithWeight(int output, int input, int value)
    {
        var w = (int[])_weights.Clone();
        w[output * InputSize + input] = value;
        return new QuantizedDense(InputSize, OutputSize, Input, w, WeightType, _weightScales, _weightZeroPoints, _bias, Output, Relu);
    }
}

/// <summary>
/// An element-wise requantization through float32: v = (q − zx)·sx, plus an optional float bias,
/// optional ReLU, then y = saturate(roundHalfEven(float32(v / sy)) + zy). This is what a QDQ graph
/// computes for DequantizeLinear → [Add] → [Relu] → QuantizeLinear when the parameters change.
/// </summary>
public sealed class Requantize : QuantizedStage
{
    private readonly float[]? _bias;

    public Requantize(int size, QuantParams input, float[]? bias, bool relu, QuantParams output)
        : base(size, size, input, output, relu)
    {
        if (bias is not null && bias.Length != size)
            throw new ArgumentException($"bias has {bias.Length} entries, expected {size}");
        _bias = (float[]?)bias?.Clone();
    }

    public ReadOnlySpan<float> Bias => _bias;
    public bool HasBias => _bias is not null;
}
