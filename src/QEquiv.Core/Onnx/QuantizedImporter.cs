using System.Collections.Immutable;
using QEquiv.Model;
using QEquiv.Onnx.Proto;
using QEquiv.Quantization;
using DataType = QEquiv.Onnx.Proto.TensorProto.Types.DataType;

namespace QEquiv.Onnx;

/// <summary>
/// Recognises quantized graphs — QDQ form as torch.onnx.export writes it and QOperator form
/// (QLinearMatMul) as ONNX Runtime's quantizer writes it — into the operators of a <see cref="Network"/>:
/// float32 element-wise operators before the input's QuantizeLinear (normalisation), Quantize, IntegerLinear +
/// Requantize per linear layer, Clamp for a ReLU on codes, Dequantize [→ float32 Add/Relu → Quantize] between layers,
/// and the final Dequantize [→ Add]. The data path is followed as a small state machine (float input, integer codes,
/// dequantized codes, a pending linear layer); any operator or order outside it is an error, never a guess.
/// </summary>
internal static class QuantizedImporter
{
    /// <summary>A DequantizeLinear of a constant integer tensor (weights or bias), kept as integer codes.</summary>
    private sealed record DqConst(Tensor Codes, QuantType Type, float[] Scales, int[] ZeroPoints, int Axis);

    /// <summary>Where the data is, with the operators that computed it so far.</summary>
    private abstract record State(int Size, int[] Shape, ImmutableList<Operator> Ops);
    /// <summary>Float input, possibly after element-wise float32 operators (normalisation before QuantizeLinear).</summary>
    private sealed record FloatInput(int Size, int[] Shape, ImmutableList<Operator> Ops) : State(Size, Shape, Ops);
    private sealed record Codes(int Size, int[] Shape, ImmutableList<Operator> Ops, QuantParams P) : State(Size, Shape, Ops);
    /// <summary>Dequantized codes followed by <paramref name="Pending"/> float32 element-wise operators not yet emitted.</summary>
    private sealed record Dequantized(int Size, int[] Shape, ImmutableList<Operator> Ops, QuantParams P, ImmutableList<Operator> Pending)
        : State(Size, Shape, Ops)
    {
        public bool Plain => Pending.IsEmpty;
        public bool HasRelu => Pending.Any(o => o is Relu);
        public ImmutableList<Operator> Emitted => Ops.Add(new Dequantize(Size, P)).AddRange(Pending);
    }
    private sealed record Linear(int Size, int[] Shape, ImmutableList<Operator> Ops, QuantParams In, int[] Weights, QuantType WeightType,
        float[] WeightScales, int[] WeightZeroPoints, int[]? Bias) : State(Size, Shape, Ops);

    public static Network Import(OnnxGraph g)
    {
        if (g.InputShape.Length == 0) throw BadInputException.For(g.Path, $"graph input '{g.InputName}' has no declared shape");
        var inputSize = g.InputShape.Aggregate(1, (a, d) => a * d);
        QuantParams? inputQuantization = null;
        var dq = new Dictionary<string, DqConst>();
        var states = new Dictionary<string, State> { [g.InputName] = new FloatInput(inputSize, g.InputShape, ImmutableList<Operator>.Empty) };

        foreach (var node in g.Nodes)
        {
            if (node.OpType == "DequantizeLinear" && g.IsConstant(node.Input[0]))
            {
                dq[node.Output[0]] = ReadDqConst(g, node);
                continue;
            }
            if (g.TryFold(node)) continue;
            var dyn = node.Input.Where(states.ContainsKey).ToList();
            if (dyn.Count != 1)
                throw g.Error(node, dyn.Count == 0 ? "unsupported operator" : "more than one data input (branching graphs are not supported)");
            var s = states[dyn[0]];
            var dynIndex = node.Input.IndexOf(dyn[0]);
            State next = (node.OpType, s) switch
            {
                ("Flatten" or "Reshape" or "Squeeze" or "Unsqueeze", _) => s with { Shape = Shapes.Apply(g, node, s.Shape) },
                ("Identity" or "Dropout", _) => s,
                ("Add" or "Sub" or "Mul" or "Div", FloatInput f) when inputQuantization is null =>
                    f with { Ops = f.Ops.Add(FloatConstant(g, node, dynIndex, f.Size)) },
                ("QuantizeLinear", FloatInput f) => QuantizeInput(g, node, f, ref inputQuantization),
                ("QuantizeLinear", Linear l) => CloseLinear(g, node, l),
                ("QuantizeLinear", Dequantized d) => Requant(g, node, d),
                ("Cast", Codes c) => CheckCast(g, node, c),
                ("DequantizeLinear", Codes c) => Dequantize(g, node, c),
                ("Relu", Dequantized d) => d with { Pending = d.Pending.Add(new Relu(d.Size)) },
                ("Add", Dequantized d) when d.Plain => d with { Pending = d.Pending.Add(FloatConstant(g, node, dynIndex, d.Size)) },
                ("Gemm", Dequantized d) when d.Plain => Gemm(g, node, d, dq, dynIndex),
                ("MatMul", Dequantized d) when d.Plain => MatMul(g, node, d, dq, dynIndex),
                ("Add", Linear l) when l.Bias is null => l with { Bias = IntBias(g, node, l, dq, dynIndex) },
                ("QLinearMatMul", Codes c) => QLinearMatMul(g, node, c, dynIndex),
                _ => throw g.Error(node, $"unsupported operator here (the data is {Describe(s)})"),
            };
            states[node.Output[0]] = next;
        }

        if (!states.TryGetValue(g.OutputName, out var last))
            throw BadInputException.For(g.Path, $"graph output '{g.OutputName}' is not computed from the input");
        if (last is not Dequantized final || final.HasRelu || inputQuantization is null || !final.Ops.Any(o => o is IntegerLinear))
            throw BadInputException.For(g.Path, $"the graph output is {Describe(last)}; a quantized model must end in DequantizeLinear of its last layer");
        return Network.Chain(g.Path, g.InputShape, g.InputName, final.Emitted, g.OutputName);
    }

    /// <summary>An element-wise float32 operator with a constant: x + c, x − c, x · c, x / c (the data first, or commutative).</summary>
    private static Elementwise FloatConstant(OnnxGraph g, NodeProto node, int dynIndex, int size)
    {
        var c = g.Constant(node, 1 - dynIndex);
        if (c.Type != DataType.Float) throw g.Error(node, "the constant of a float operator between quantized operators must be float");
        var values = FloatImporter.Broadcast(g, node, c, size);
        var kind = node.OpType switch
        {
            "Add" => ElementwiseKind.Add,
            "Mul" => ElementwiseKind.Mul,
            "Sub" when dynIndex == 0 => ElementwiseKind.Sub,
            "Div" when dynIndex == 0 => ElementwiseKind.Div,
            _ => throw g.Error(node, $"{node.OpType} of a constant by the data is not supported (only data {node.OpType} constant)"),
        };
        if (kind == ElementwiseKind.Div && values.Any(v => (float)v == 0)) throw g.Error(node, "division by zero");
        return new Elementwise(kind, values, Arithmetic.Float32);
    }

    private static string Describe(State s) => s switch
    {
        FloatInput => "the float input",
        Codes => "integer codes",
        Dequantized { HasRelu: true } => "dequantized codes after Relu",
        Dequantized => "dequantized codes",
        _ => "the output of a linear layer not yet quantized",
    };

    private static QuantParams ReadParams(OnnxGraph g, NodeProto node, int scaleInput, int zpInput)
    {
        var scale = g.Constant(node, scaleInput);
        var zp = g.OptionalConstant(node, zpInput);
        if (!scale.IsScalarLike || zp is { IsScalarLike: false })
            throw g.Error(node, "per-channel quantization of activations is not supported");
        var type = zp is null ? QuantType.UInt8 : TypeOf(g, node, zp.Type);
        var p = new QuantParams((float)scale.Data[0], zp is null ? 0 : (int)zp.Data[0], type);
        CheckScale(g, node, p.Scale);
        return p;
    }

    private static void CheckScale(OnnxGraph g, NodeProto node, float scale)
    {
        if (!QuantMath.IsValidScale(scale))
            throw g.Error(node, $"quantization scale {scale} is invalid (must be finite and > 0)");
    }

    private static QuantType TypeOf(OnnxGraph g, NodeProto node, DataType t) => t switch
    {
        DataType.Uint8 => QuantType.UInt8,
        DataType.Int8 => QuantType.Int8,
        DataType.Int32 => QuantType.Int32,
        _ => throw g.Error(node, $"quantized type {t} is not supported (uint8, int8, int32 are)"),
    };

    private static DqConst ReadDqConst(OnnxGraph g, NodeProto node)
    {
        var codes = g.Constant(node, 0);
        var scale = g.Constant(node, 1);
        var zp = g.OptionalConstant(node, 2);
        var type = TypeOf(g, node, codes.Type);
        var axis = (int)OnnxGraph.AttrInt(node, "axis", 1);
        if (axis < 0) axis += codes.Dims.Length;
        var channels = scale.Count;
        if (channels != 1 && (axis >= codes.Dims.Length || codes.Dims[axis] != channels))
            throw g.Error(node, $"{channels} scales do not match axis {axis} of shape [{string.Join(",", codes.Dims)}]");
        var scales = scale.AsFloats();
        foreach (var s in scales) CheckScale(g, node, s);
        var zps = zp is null ? new int[channels] : zp.AsInts();
        if (zps.Length != channels) throw g.Error(node, "scale and zero point have different lengths");
        return new DqConst(codes, type, scales, zps, axis);
    }

    private static State QuantizeInput(OnnxGraph g, NodeProto node, FloatInput f, ref QuantParams? inputQuantization)
    {
        if (inputQuantization is not null) throw g.Error(node, "the input is quantized twice");
        var p = ReadParams(g, node, 1, 2);
        inputQuantization = p;
        return new Codes(f.Size, f.Shape, f.Ops.Add(new Quantize(f.Size, p)), p);
    }

    private static State CheckCast(OnnxGraph g, NodeProto node, Codes c)
    {
        var to = (DataType)OnnxGraph.AttrInt(node, "to", 0);
        var expected = c.P.Type == QuantType.UInt8 ? DataType.Uint8 : DataType.Int8;
        if (to != expected) throw g.Error(node, $"Cast of {c.P.Type} codes to {to} would change their values");
        return c;
    }

    private static State Dequantize(OnnxGraph g, NodeProto node, Codes c)
    {
        var p = ReadParams(g, node, 1, 2);
        if (p != c.P) throw g.Error(node, $"dequantizes with {p} codes quantized with {c.P}");
        return new Dequantized(c.Size, c.Shape, c.Ops, p, ImmutableList<Operator>.Empty);
    }

    private static State Requant(OnnxGraph g, NodeProto node, Dequantized d)
    {
        var p = ReadParams(g, node, 1, 2);
        if (p == d.P)
        {
            if (d.Plain) return new Codes(d.Size, d.Shape, d.Ops, p);
            // Q(Relu(DQ(q))) with unchanged parameters is max(q, zero point): a clamp of the last layer's codes.
            if (d.Pending is [Relu] && d.Ops.Count > 0 && d.Ops[^1] is Model.Requantize last && last.Output == p)
                return new Codes(d.Size, d.Shape, d.Ops.Add(new Clamp(d.Size, p.ZeroPoint, p.Max)), p);
        }
        return new Codes(d.Size, d.Shape, d.Emitted.Add(new Quantize(d.Size, p)), p);
    }

    /// <summary>Row-major out × in integer weights from a DQ'd matrix stored [in,out] (transposed) or [out,in].</summary>
    private static Linear MakeLinear(OnnxGraph g, NodeProto node, Dequantized d, DqConst w, bool outByIn)
    {
        if (w.Codes.Dims.Length != 2) throw g.Error(node, "weights must be a matrix");
        var (outs, ins) = outByIn ? (w.Codes.Dims[0], w.Codes.Dims[1]) : (w.Codes.Dims[1], w.Codes.Dims[0]);
        if (ins != d.Size) throw g.Error(node, $"weights expect {ins} inputs but the data has {d.Size}");
        if (w.Type is not (QuantType.Int8 or QuantType.UInt8)) throw g.Error(node, "weights must be int8 or uint8");
        var outAxis = outByIn ? 0 : 1;
        if (w.Scales.Length != 1 && w.Axis != outAxis)
            throw g.Error(node, "per-channel weights must be quantized along the output channel");
        var codes = w.Codes.AsInts();
        var weights = new int[outs * ins];
        for (var o = 0; o < outs; o++)
            for (var i = 0; i < ins; i++)
                weights[o * ins + i] = outByIn ? codes[o * ins + i] : codes[i * outs + o];
        float[] PerOut(float[] v) => v.Length == 1 ? Enumerable.Repeat(v[0], outs).ToArray() : v;
        var zps = w.ZeroPoints.Length == 1 ? Enumerable.Repeat(w.ZeroPoints[0], outs).ToArray() : w.ZeroPoints;
        return new Linear(outs, [1, outs], d.Ops, d.P, weights, w.Type, PerOut(w.Scales), zps, null);
    }

    private static DqConst DqInput(OnnxGraph g, NodeProto node, Dictionary<string, DqConst> dq, int input) =>
        input < node.Input.Count && dq.TryGetValue(node.Input[input], out var c) ? c
        : throw g.Error(node, $"input {input} must be a DequantizeLinear'd integer constant");

    private static State Gemm(OnnxGraph g, NodeProto node, Dequantized d, Dictionary<string, DqConst> dq, int dynIndex)
    {
        if (dynIndex != 0) throw g.Error(node, "the data must be input A of Gemm");
        if (OnnxGraph.AttrFloat(node, "alpha", 1f) != 1f || OnnxGraph.AttrFloat(node, "beta", 1f) != 1f || OnnxGraph.AttrInt(node, "transA", 0) != 0)
            throw g.Error(node, "a quantized Gemm needs alpha = beta = 1 and transA = 0");
        var l = MakeLinear(g, node, d, DqInput(g, node, dq, 1), OnnxGraph.AttrInt(node, "transB", 0) != 0);
        return node.Input.Count > 2 && node.Input[2].Length > 0 ? l with { Bias = CheckBias(g, node, l, DqInput(g, node, dq, 2)) } : l;
    }

    private static State MatMul(OnnxGraph g, NodeProto node, Dequantized d, Dictionary<string, DqConst> dq, int dynIndex) =>
        MakeLinear(g, node, d, DqInput(g, node, dq, 1 - dynIndex), outByIn: dynIndex == 1);

    private static int[] IntBias(OnnxGraph g, NodeProto node, Linear l, Dictionary<string, DqConst> dq, int dynIndex) =>
        CheckBias(g, node, l, DqInput(g, node, dq, 1 - dynIndex));

    /// <summary>
    /// The integer pipeline adds the int32 bias to the accumulator, which is only what the float graph
    /// means when the bias scale is s_in·s_w and its zero point 0; anything else is rejected.
    /// </summary>
    private static int[] CheckBias(OnnxGraph g, NodeProto node, Linear l, DqConst b)
    {
        if (b.Type != QuantType.Int32) throw g.Error(node, "the bias must be int32");
        var values = b.Codes.AsInts();
        if (values.Length != l.Size) throw g.Error(node, $"bias has {values.Length} values, the layer {l.Size} outputs");
        for (var j = 0; j < l.Size; j++)
        {
            var scale = b.Scales.Length == 1 ? b.Scales[0] : b.Scales[j];
            var zp = b.ZeroPoints.Length == 1 ? b.ZeroPoints[0] : b.ZeroPoints[j];
            var expected = l.In.Scale * l.WeightScales[j];
            if (zp != 0 || Math.Abs(scale - expected) > 1e-6 * expected)
                throw g.Error(node, $"bias {j} has scale {scale:R} and zero point {zp}; the integer pipeline needs scale {expected:R} (input × weight scale) and 0");
        }
        return values;
    }

    private static State CloseLinear(OnnxGraph g, NodeProto node, Linear l)
    {
        var p = ReadParams(g, node, 1, 2);
        return new Codes(l.Size, l.Shape, l.Ops.AddRange(Layer(l.Weights.Length / l.Size, l.Size, l.In, l.Weights, l.WeightType,
            l.WeightScales, l.WeightZeroPoints, l.Bias ?? new int[l.Size], p)), p);
    }

    private static State QLinearMatMul(OnnxGraph g, NodeProto node, Codes c, int dynIndex)
    {
        if (dynIndex != 0) throw g.Error(node, "the data must be input A of QLinearMatMul");
        var a = ReadParams(g, node, 1, 2);
        if (a != c.P) throw g.Error(node, $"reads codes with {a} but they were written with {c.P}");
        var b = g.Constant(node, 3);
        var bScale = g.Constant(node, 4);
        var bZp = g.Constant(node, 5);
        var y = ReadParams(g, node, 6, 7);
        var w = new DqConst(b, TypeOf(g, node, b.Type), bScale.AsFloats(), bZp.AsInts(), Axis: 1);
        foreach (var s in w.Scales) CheckScale(g, node, s);
        var l = MakeLinear(g, node, new Dequantized(c.Size, c.Shape, c.Ops, c.P, ImmutableList<Operator>.Empty), w, outByIn: false);
        return new Codes(l.Size, l.Shape, c.Ops.AddRange(Layer(c.Size, l.Size, c.P, l.Weights, l.WeightType, l.WeightScales, l.WeightZeroPoints,
            new int[l.Size], y)), y);
    }

    /// <summary>A quantized linear layer: the int32 accumulator, then its requantization with the runtime's float32 multipliers.</summary>
    private static Operator[] Layer(int inputSize, int outputSize, QuantParams input, int[] weights, QuantType weightType,
        float[] weightScales, int[] weightZeroPoints, int[] bias, QuantParams output)
    {
        var multipliers = new float[outputSize];
        for (var j = 0; j < outputSize; j++) multipliers[j] = QuantMath.Multiplier(input.Scale, weightScales[j], output.Scale);
        return [new IntegerLinear(inputSize, outputSize, input, weights, weightType, weightScales, weightZeroPoints, bias),
            new Model.Requantize(multipliers, output)];
    }
}
