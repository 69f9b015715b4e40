using QEquiv.Quantization;

namespace QEquiv.Model;

/// <summary>How an operator's float arithmetic is carried out.</summary>
public enum Arithmetic
{
    /// <summary>Real arithmetic (the verifier's model of a float network; evaluated in double precision).</summary>
    Real,
    /// <summary>float32 with one rounding per operation, as a deployed runtime computes the float parts of a quantized graph.</summary>
    Float32,
}

/// <summary>
/// One operator of a <see cref="Network"/>: a map from the flat vector it reads to the flat vector it writes. Every
/// operator is immutable and evaluates exactly: tensors are carried as doubles, which hold float32 values and int32
/// codes without error, so one exact evaluator serves float, quantized and mixed graphs alike. Each analysis (bounds,
/// the MILP gadget, gradients) handles each operator type once.
/// </summary>
public abstract class Operator
{
    private protected Operator(int inputSize, int outputSize)
    {
        if (inputSize <= 0 || outputSize <= 0) throw new ArgumentException($"an operator needs positive sizes, got {inputSize}→{outputSize}");
        InputSize = inputSize;
        OutputSize = outputSize;
    }

    public int InputSize { get; }
    public int OutputSize { get; }

    /// <summary>The operator on one point, exactly as the network's arithmetic computes it.</summary>
    public abstract void Evaluate(ReadOnlySpan<double> input, Span<double> output);

    /// <summary>A short name for messages and <c>inspect</c> (e.g. "Affine 784→256").</summary>
    public abstract string Describe();

    /// <summary>Dispatches to the analysis' rule for this operator type (see <see cref="IOperatorVisitor{TResult}"/>).</summary>
    public abstract TResult Accept<TResult>(IOperatorVisitor<TResult> visitor);

    /// <summary>Everything that determines the operator's semantics, for the model fingerprint.</summary>
    internal abstract void WriteContent(BinaryWriter w);

    /// <summary>
    /// The operator computing only <paramref name="outputs"/> (distinct, increasing indices of its outputs), for
    /// <see cref="Network.SelectOutputs"/>: a linear operator keeps those rows and still reads its whole input
    /// (<c>ReadsAll</c>); an element-wise one keeps those elements and reads the same indices of its input. Each kept
    /// output is computed by the same arithmetic as before. Null: this operator cannot be narrowed.
    /// </summary>
    internal virtual (Operator Narrowed, bool ReadsAll)? Narrow(int[] outputs) => null;

    private protected static T[] Pick<T>(ReadOnlySpan<T> values, int[] indices)
    {
        var picked = new T[indices.Length];
        for (var k = 0; k < indices.Length; k++) picked[k] = values[indices[k]];
        return picked;
    }

    internal static void Write(BinaryWriter w, ReadOnlySpan<double> v)
    {
        w.Write(v.Length);
        foreach (var x in v) w.Write(x);
    }

    internal static void Write(BinaryWriter w, ReadOnlySpan<int> v)
    {
        w.Write(v.Length);
        foreach (var x in v) w.Write(x);
    }

    internal static void Write(BinaryWriter w, ReadOnlySpan<float> v)
    {
        w.Write(v.Length);
        foreach (var x in v) w.Write(x);
    }

    internal static void Write(BinaryWriter w, QuantParams p)
    {
        w.Write(p.Scale);
        w.Write(p.ZeroPoint);
        w.Write((int)p.Type);
    }
}

/// <summary>
/// y = W x + b in real arithmetic (Gemm / MatMul + Add of a float network; a convolution, a pooling average, a zero
/// pad or a transpose as a sparse W); W out × in, dense or compressed sparse rows (<see cref="WeightMatrix"/>).
/// </summary>
public sealed class Affine : Operator
{
    private readonly double[] _bias;

    public Affine(int inputSize, int outputSize, double[] weights, double[] bias) : this(WeightMatrix.Dense(outputSize, inputSize, weights), bias)
    {
    }

    public Affine(WeightMatrix weights, double[] bias) : base(weights.Columns, weights.Rows)
    {
        if (bias.Length != OutputSize) throw new ArgumentException($"bias has {bias.Length} entries, expected {OutputSize}");
        Matrix = weights;
        _bias = (double[])bias.Clone();
    }

    public WeightMatrix Matrix { get; }
    /// <summary>The stored weights row by row (for a dense W: row-major out × in).</summary>
    public ReadOnlySpan<double> Weights => Matrix.Values;
    public ReadOnlySpan<double> Bias => _bias;
    public WeightRow Row(int output) => Matrix.Row(output);
    public double Weight(int output, int input) => Matrix[output, input];

    public override void Evaluate(ReadOnlySpan<double> x, Span<double> y)
    {
        for (var o = 0; o < OutputSize; o++) y[o] = Row(o).Dot(x, _bias[o]);
    }

    public override string Describe() =>
        Matrix.IsDense ? $"Affine {InputSize}→{OutputSize}" : $"Affine {InputSize}→{OutputSize} (sparse, {Matrix.Count} weights)";
    internal override (Operator, bool)? Narrow(int[] outputs) => (new Affine(Matrix.SelectRows(outputs), Pick(Bias, outputs)), true);
    public override TResult Accept<TResult>(IOperatorVisitor<TResult> visitor) => visitor.Affine(this);

    internal override void WriteContent(BinaryWriter w)
    {
        Matrix.WriteContent(w);
        Write(w, _bias);
    }
}

public enum ElementwiseKind { Add, Sub, Mul, Div }

/// <summary>
/// x ∘ c element-wise with a constant vector (Add / Sub / Mul / Div by constants: input normalisation inside the graph,
/// or the float bias ONNX Runtime adds after a last DequantizeLinear). In <see cref="Arithmetic.Float32"/> both operands
/// and the result are float32, as the runtime computes them.
/// </summary>
public sealed class Elementwise : Operator
{
    private readonly double[] _constants;

    public Elementwise(ElementwiseKind kind, double[] constants, Arithmetic arithmetic) : base(constants.Length, constants.Length)
    {
        if (kind == ElementwiseKind.Div && constants.Any(c => c == 0)) throw new ArgumentException("division by a zero constant");
        Kind = kind;
        Arithmetic = arithmetic;
        _constants = arithmetic == Arithmetic.Float32 ? constants.Select(c => (double)(float)c).ToArray() : (double[])constants.Clone();
    }

    public ElementwiseKind Kind { get; }
    public Arithmetic Arithmetic { get; }
    public ReadOnlySpan<double> Constants => _constants;

    public override void Evaluate(ReadOnlySpan<double> x, Span<double> y)
    {
        for (var i = 0; i < OutputSize; i++) y[i] = Apply(x[i], i);
    }

    public double Apply(double x, int i)
    {
        var c = _constants[i];
        if (Arithmetic == Arithmetic.Float32)
        {
            float a = (float)x, b = (float)c;
            return Kind switch { ElementwiseKind.Add => a + b, ElementwiseKind.Sub => a - b, ElementwiseKind.Mul => a * b, _ => a / b };
        }
        return Kind switch { ElementwiseKind.Add => x + c, ElementwiseKind.Sub => x - c, ElementwiseKind.Mul => x * c, _ => x / c };
    }

    /// <summary>The same map as y = scale·x + shift (exact in real arithmetic), for analyses that treat it as affine.</summary>
    public (double Scale, double Shift) AsAffine(int i)
    {
        var c = _constants[i];
        return Kind switch
        {
            ElementwiseKind.Add => (1, c),
            ElementwiseKind.Sub => (1, -c),
            ElementwiseKind.Mul => (c, 0),
            _ => (1 / c, 0),
        };
    }

    public override string Describe() => $"{Kind} ({(Arithmetic == Arithmetic.Float32 ? "float32" : "real")}) {OutputSize}";
    internal override (Operator, bool)? Narrow(int[] outputs) => (new Elementwise(Kind, Pick(Constants, outputs), Arithmetic), false);
    public override TResult Accept<TResult>(IOperatorVisitor<TResult> visitor) => visitor.Elementwise(this);

    internal override void WriteContent(BinaryWriter w)
    {
        w.Write((int)Kind);
        w.Write((int)Arithmetic);
        Write(w, _constants);
    }
}

/// <summary>max(x, 0) element-wise.</summary>
public sealed class Relu(int size) : Operator(size, size)
{
    public override void Evaluate(ReadOnlySpan<double> x, Span<double> y)
    {
        for (var i = 0; i < OutputSize; i++) y[i] = Apply(x[i], i);
    }

    /// <summary>One element of <see cref="Evaluate"/> (for analyses that re-evaluate only the elements that changed).</summary>
    public double Apply(double x, int i) => x < 0 ? 0 : x;

    public override string Describe() => $"Relu {OutputSize}";
    internal override (Operator, bool)? Narrow(int[] outputs) => (new Relu(outputs.Length), false);
    public override TResult Accept<TResult>(IOperatorVisitor<TResult> visitor) => visitor.Relu(this);
    internal override void WriteContent(BinaryWriter w) { }
}

/// <summary>
/// Clamp of integer codes to [Lower, Upper]. A ReLU between a quantized layer and its QuantizeLinear with unchanged
/// parameters is max(code, zero point): a clamp with Lower = zero point.
/// </summary>
public sealed class Clamp : Operator
{
    public Clamp(int size, int lower, int upper) : base(size, size)
    {
        if (lower > upper) throw new ArgumentException($"clamp [{lower}, {upper}] is empty");
        Lower = lower;
        Upper = upper;
    }

    public int Lower { get; }
    public int Upper { get; }

    public override void Evaluate(ReadOnlySpan<double> x, Span<double> y)
    {
        for (var i = 0; i < OutputSize; i++) y[i] = Apply(x[i], i);
    }

    /// <summary>One element of <see cref="Evaluate"/>.</summary>
    public double Apply(double x, int i) => Math.Clamp(x, Lower, Upper);

    public override string Describe() => $"Clamp [{Lower}, {Upper}] {OutputSize}";
    internal override (Operator, bool)? Narrow(int[] outputs) => (new Clamp(outputs.Length, Lower, Upper), false);
    public override TResult Accept<TResult>(IOperatorVisitor<TResult> visitor) => visitor.Clamp(this);

    internal override void WriteContent(BinaryWriter w)
    {
        w.Write(Lower);
        w.Write(Upper);
    }
}

/// <summary>QuantizeLinear: code = saturate(roundHalfEven(float32(float32(x) / s)) + z).</summary>
public sealed class Quantize(int size, QuantParams output) : Operator(size, size)
{
    public QuantParams Output { get; } = output;

    public override void Evaluate(ReadOnlySpan<double> x, Span<double> y)
    {
        for (var i = 0; i < OutputSize; i++) y[i] = Apply(x[i], i);
    }

    /// <summary>One element of <see cref="Evaluate"/>.</summary>
    public double Apply(double x, int i) => QuantMath.Quantize((float)x, Output);

    public override string Describe() => $"QuantizeLinear ({Output}) {OutputSize}";
    internal override (Operator, bool)? Narrow(int[] outputs) => (new Quantize(outputs.Length, Output), false);
    public override TResult Accept<TResult>(IOperatorVisitor<TResult> visitor) => visitor.Quantize(this);
    internal override void WriteContent(BinaryWriter w) => Write(w, Output);
}

/// <summary>DequantizeLinear: (code − z)·s in float32.</summary>
public sealed class Dequantize(int size, QuantParams input) : Operator(size, size)
{
    public QuantParams Input { get; } = input;

    public override void Evaluate(ReadOnlySpan<double> x, Span<double> y)
    {
        for (var i = 0; i < OutputSize; i++) y[i] = Apply(x[i], i);
    }

    /// <summary>One element of <see cref="Evaluate"/>.</summary>
    public double Apply(double x, int i) => QuantMath.Dequantize((int)x, Input);

    public override string Describe() => $"DequantizeLinear ({Input}) {OutputSize}";
    internal override (Operator, bool)? Narrow(int[] outputs) => (new Dequantize(outputs.Length, Input), false);
    public override TResult Accept<TResult>(IOperatorVisitor<TResult> visitor) => visitor.Dequantize(this);
    internal override void WriteContent(BinaryWriter w) => Write(w, Input);
}

/// <summary>
/// The integer core of a quantized linear layer (PyTorch quantized Linear, QLinearMatMul, QGemm, a QDQ Gemm):
/// acc_j = Σ_i (q_i − zx)(w_ji − zw_j) + bias_j in int32, wrapping like the runtime's registers. The weight scales
/// are kept for the requantization multiplier and for re-deriving biases; they do not enter the accumulator.
/// </summary>
public sealed class IntegerLinear : Operator
{
    private readonly int[] _weights;
    private readonly float[] _weightScales;
    private readonly int[] _weightZeroPoints;
    private readonly int[] _bias;

    public IntegerLinear(int inputSize, int outputSize, QuantParams input, int[] weights, QuantType weightType,
        float[] weightScales, int[] weightZeroPoints, int[] bias) : base(inputSize, outputSize)
    {
        if (weights.Length != inputSize * outputSize)
            throw new ArgumentException($"weights have {weights.Length} entries, expected {outputSize}×{inputSize}");
        if (weightScales.Length != outputSize || weightZeroPoints.Length != outputSize || bias.Length != outputSize)
            throw new ArgumentException("weight scales, zero points and bias need one entry per output");
        Input = input;
        WeightType = weightType;
        _weights = (int[])weights.Clone();
        _weightScales = (float[])weightScales.Clone();
        _weightZeroPoints = (int[])weightZeroPoints.Clone();
        _bias = (int[])bias.Clone();
    }

    /// <summary>Parameters of the codes it reads (their zero point enters the accumulator).</summary>
    public QuantParams Input { get; }
    public QuantType WeightType { get; }
    public ReadOnlySpan<int> Weights => _weights;
    public ReadOnlySpan<int> Row(int output) => _weights.AsSpan(output * InputSize, InputSize);
    public ReadOnlySpan<float> WeightScales => _weightScales;
    public ReadOnlySpan<int> WeightZeroPoints => _weightZeroPoints;
    /// <summary>int32 bias at scale Input.Scale · weightScale_j.</summary>
    public ReadOnlySpan<int> Bias => _bias;

    public IntegerLinear WithBias(int[] bias) =>
        new(InputSize, OutputSize, Input, _weights, WeightType, _weightScales, _weightZeroPoints, bias);

    public int Accumulate(ReadOnlySpan<double> codes, int output)
    {
        var zx = Input.ZeroPoint;
        var zw = _weightZeroPoints[output];
        var row = Row(output);
        var acc = _bias[output];
        unchecked
        {
            for (var i = 0; i < row.Length; i++) acc += ((int)codes[i] - zx) * (row[i] - zw);
        }
        return acc;
    }

    public override void Evaluate(ReadOnlySpan<double> x, Span<double> y)
    {
        for (var j = 0; j < OutputSize; j++) y[j] = Accumulate(x, j);
    }

    public override string Describe() => $"IntegerLinear {InputSize}→{OutputSize} ({WeightType.ToString().ToLowerInvariant()} weights)";

    internal override (Operator, bool)? Narrow(int[] outputs)
    {
        var weights = new int[outputs.Length * InputSize];
        for (var k = 0; k < outputs.Length; k++) Row(outputs[k]).CopyTo(weights.AsSpan(k * InputSize, InputSize));
        return (new IntegerLinear(InputSize, outputs.Length, Input, weights, WeightType, Pick(WeightScales, outputs), Pick(WeightZeroPoints, outputs),
            Pick(Bias, outputs)), true);
    }
    public override TResult Accept<TResult>(IOperatorVisitor<TResult> visitor) => visitor.IntegerLinear(this);

    internal override void WriteContent(BinaryWriter w)
    {
        Write(w, Input);
        w.Write((int)WeightType);
        Write(w, _weights);
        Write(w, _weightScales);
        Write(w, _weightZeroPoints);
        Write(w, _bias);
    }
}

/// <summary>
/// Requantization of an int32 accumulator: code_j = saturate(roundHalfEven(float32(acc_j) · M_j) + z), with M_j the
/// runtime's float32 multiplier (s_in · s_w_j) / s_out (<see cref="QuantMath.Multiplier"/>).
/// </summary>
public sealed class Requantize : Operator
{
    private readonly float[] _multipliers;

    public Requantize(float[] multipliers, QuantParams output) : base(multipliers.Length, multipliers.Length)
    {
        _multipliers = (float[])multipliers.Clone();
        Output = output;
    }

    public QuantParams Output { get; }
    public ReadOnlySpan<float> Multipliers => _multipliers;

    public override void Evaluate(ReadOnlySpan<double> x, Span<double> y)
    {
        for (var j = 0; j < OutputSize; j++) y[j] = Apply(x[j], j);
    }

    /// <summary>One element of <see cref="Evaluate"/>.</summary>
    public double Apply(double x, int j) => QuantMath.Requantize((int)x, _multipliers[j], Output);

    public override string Describe() => $"Requantize ({Output}) {OutputSize}";
    internal override (Operator, bool)? Narrow(int[] outputs) => (new Requantize(Pick(Multipliers, outputs), Output), false);
    public override TResult Accept<TResult>(IOperatorVisitor<TResult> visitor) => visitor.Requantize(this);

    internal override void WriteContent(BinaryWriter w)
    {
        Write(w, _multipliers);
        Write(w, Output);
    }
}

/// <summary>
/// Each element rounded to a 16-bit format (<see cref="FloatFormats.Round"/>: nearest, ties to even, ±∞ past the
/// largest finite value): a tensor stored in float16 or bfloat16 between float32 operators, as ONNX's
/// Cast(to=FLOAT16) → Cast(to=FLOAT) pair computes it. Monotone, odd, and within
/// <see cref="FloatFormats.RoundingError"/> of its input; in a float network the input is the real value (a runtime
/// rounds its float32 value, within <c>Float32Error</c> of it). <see cref="Evaluate"/> overflows to ±∞ as the runtime
/// does; the bounds and the MILP are of the rounding saturated at the largest finite value instead, which is the same
/// function on every box where no input of a rounding reaches the overflow threshold, and on any other box the float32
/// error bound that every margin adds is +∞.
/// </summary>
public sealed class FloatRound(int size, FloatFormat format) : Operator(size, size)
{
    public FloatFormat Format { get; } = format;

    public override void Evaluate(ReadOnlySpan<double> x, Span<double> y)
    {
        for (var i = 0; i < OutputSize; i++) y[i] = Apply(x[i], i);
    }

    /// <summary>One element of <see cref="Evaluate"/>.</summary>
    public double Apply(double x, int i) => Format.Round(x);

    public override string Describe() => $"FloatRound ({Format.Name()}) {OutputSize}";
    internal override (Operator, bool)? Narrow(int[] outputs) => (new FloatRound(outputs.Length, Format), false);
    public override TResult Accept<TResult>(IOperatorVisitor<TResult> visitor) => visitor.FloatRound(this);
    internal override void WriteContent(BinaryWriter w) => w.Write((int)Format);
}

/// <summary>Flatten / Reshape / Squeeze / Unsqueeze: the flat data is unchanged, only its declared shape.</summary>
public sealed class Reshape(int size, IReadOnlyList<int> shape) : Operator(size, size)
{
    public IReadOnlyList<int> Shape { get; } = shape.ToArray();

    public override void Evaluate(ReadOnlySpan<double> x, Span<double> y) => x.CopyTo(y);
    public override string Describe() => $"Reshape [{string.Join(",", Shape)}]";

    /// <summary>Only a shape whose last dimension holds all the data ([n], [1, n]) narrows: to the same shape with k last.</summary>
    internal override (Operator, bool)? Narrow(int[] outputs) =>
        Shape.Count > 0 && Shape[^1] == OutputSize ? (new Reshape(outputs.Length, [.. Shape.Take(Shape.Count - 1), outputs.Length]), false) : null;
    public override TResult Accept<TResult>(IOperatorVisitor<TResult> visitor) => visitor.Reshape(this);

    internal override void WriteContent(BinaryWriter w)
    {
        w.Write(Shape.Count);
        foreach (var d in Shape) w.Write(d);
    }
}
