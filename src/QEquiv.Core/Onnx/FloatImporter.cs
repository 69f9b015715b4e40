using System.Collections.Immutable;
using QEquiv.Model;
using QEquiv.Onnx.Proto;
using QEquiv.Quantization;
using DataType = QEquiv.Onnx.Proto.TensorProto.Types.DataType;

namespace QEquiv.Onnx;

/// <summary>
/// Imports a float feed-forward graph into Affine and Relu operators. Consecutive linear operators (Sub/Div
/// normalisation, Gemm, MatMul, Add, Mul, Conv, BatchNormalization, Pad, Transpose) are composed into one affine map,
/// which each Relu closes: exact in the real arithmetic the float network is modelled in. A pooling average stays an
/// Affine of its own (only a pad or transpose before it joins it): the runtime sums each window before the next layer
/// reads it, and keeping that dot product as the runtime computes it keeps its float32 error bound the runtime's.
/// Convolutions and poolings are sparse maps (<see cref="WeightMatrix"/>), never densified.
/// </summary>
internal static class FloatImporter
{
    /// <summary>An affine map on the vector after the last activation.</summary>
    private sealed record Affine(WeightMatrix Matrix, double[] Bias)
    {
        public int In => Matrix.Columns;
        public int Out => Matrix.Rows;

        public static Affine Identity(int n) =>
            new(WeightMatrix.Sparse(n, n, Enumerable.Range(0, n + 1).ToArray(), Enumerable.Range(0, n).ToArray(), Enumerable.Repeat(1.0, n).ToArray()), new double[n]);

        public bool IsIdentity => In == Out && IsSelection && Bias.All(b => b == 0) && Enumerable.Range(0, Out).All(r => Matrix.Row(r) is { Length: 1 } row && row.Columns[0] == r);

        /// <summary>Every output a copy of one input or a constant (a pad, a transpose): composing it changes no arithmetic.</summary>
        public bool IsSelection => !Matrix.IsDense && Enumerable.Range(0, Out).All(r => Matrix.Row(r) is var row && (row.Length == 0 || row.Length == 1 && row.Values[0] == 1));

        /// <summary>Returns W·this + extra.</summary>
        public Affine Then(WeightMatrix w, double[]? extra)
        {
            var b = new double[w.Rows];
            for (var r = 0; r < b.Length; r++) b[r] = w.Row(r).Dot(Bias, extra?[r] ?? 0);
            return new Affine(w.Times(Matrix), b);
        }

        /// <summary>Element-wise y = scale ⊙ this + shift.</summary>
        public Affine Elementwise(double[] scale, double[] shift) =>
            new(Matrix.Select((r, _, v) => v * scale[r]), Bias.Select((v, i) => v * scale[i] + shift[i]).ToArray());

        public Model.Affine ToOperator() => new(Matrix, Bias);
    }

    /// <param name="Stored">The 16-bit format the data is held in after a Cast(to=FLOAT16 / BFLOAT16), until the Cast back
    /// to float; null while it is float.</param>
    private sealed record Path(ImmutableList<Operator> Done, Affine Pending, int[] Shape, FloatFormat? Stored = null)
    {
        public int Size => Pending.Out;

        /// <summary>The pending affine map closed, then <paramref name="op"/>; an identity map is left out before a rounding and
        /// after one (it adds nothing, and the levels stay those of the network without roundings).</summary>
        public Path Then(Operator op) =>
            new((Pending.IsIdentity && (op is FloatRound || Done.Count == 0 || Done[^1] is FloatRound) ? Done : Done.Add(Pending.ToOperator())).Add(op),
                Affine.Identity(Size), Shape);
    }

    public static Network Import(OnnxGraph g)
    {
        var inputSize = g.InputShape.Aggregate(1, (a, d) => a * d);
        if (g.InputShape.Length == 0) throw BadInputException.For(g.Path, $"graph input '{g.InputName}' has no declared shape");
        var paths = new Dictionary<string, Path> { [g.InputName] = new(ImmutableList<Operator>.Empty, Affine.Identity(inputSize), g.InputShape) };

        foreach (var node in g.Nodes)
        {
            if (g.TryFold(node)) continue;
            var dyn = node.Input.Where(paths.ContainsKey).ToList();
            if (dyn.Count != 1)
                throw g.Error(node, dyn.Count == 0 ? "unsupported operator" : "more than one data input (branching graphs are not supported)");
            var p = paths[dyn[0]];
            var dynIndex = node.Input.IndexOf(dyn[0]);
            if (node.OpType == "Cast")
            {
                paths[node.Output[0]] = Cast(g, node, p);
                continue;
            }
            if (p.Stored is { } stored && node.OpType is not ("Identity" or "Flatten" or "Reshape" or "Squeeze" or "Unsqueeze"))
                throw g.Error(node, $"computes on {stored.Name()} data; QEquiv reads {stored.Name()} as storage only: cast it back with Cast(to=FLOAT) first");
            var result = node.OpType switch
            {
                "Relu" => p.Pending.IsIdentity && p.Done.Count > 0 && p.Done[^1] is FloatRound
                    ? p.Then(new Relu(p.Size))
                    : new Path(p.Done.Add(p.Pending.ToOperator()).Add(new Relu(p.Size)), Affine.Identity(p.Size), p.Shape),
                "Identity" or "Dropout" => p,
                "Flatten" or "Reshape" or "Squeeze" or "Unsqueeze" => p with { Shape = Shapes.Apply(g, node, p.Shape) },
                "Gemm" => Gemm(g, node, p, dynIndex),
                "Conv" => Linear(p, Convolutions.Conv(g, node, p.Shape)),
                "Pad" => Linear(p, Convolutions.Pad(g, node, p.Shape, Opset(g))),
                "Transpose" => Linear(p, Convolutions.Transpose(g, node, p.Shape)),
                "AveragePool" => Pooling(p, Convolutions.AveragePool(g, node, p.Shape)),
                "GlobalAveragePool" => Pooling(p, Convolutions.GlobalAveragePool(g, node, p.Shape)),
                "BatchNormalization" => Convolutions.BatchNormalization(g, node, p.Shape) is var (scale, shift)
                    ? p with { Pending = p.Pending.Elementwise(scale, shift) } : p,
                "MatMul" => MatMul(g, node, p, dynIndex),
                "Add" or "Sub" or "Mul" or "Div" => Elementwise(g, node, p, dynIndex),
                "MaxPool" => throw g.Error(node, "MaxPool is not supported yet (its bounds, MILP gadget and differential rule are not written)"),
                "QuantizeLinear" or "DequantizeLinear" or "QLinearMatMul" =>
                    throw g.Error(node, "this is a quantized graph; give it as the quantized model"),
                _ => throw g.Unsupported(node, "unsupported operator"),
            };
            paths[node.Output[0]] = result;
        }

        if (!paths.TryGetValue(g.OutputName, out var last))
            throw BadInputException.For(g.Path, $"graph output '{g.OutputName}' is not computed from the input");
        // An output left in float16 is the rounded value (read as the float it converts to).
        if (last.Stored is { } format) last = last.Then(new FloatRound(last.Size, format));
        var ops = last.Done;
        if (!last.Pending.IsIdentity || ops.Count == 0) ops = ops.Add(last.Pending.ToOperator());
        return Network.Chain(g.Path, g.InputShape, g.InputName, ops, g.OutputName);
    }

    /// <summary>
    /// Cast on the data: to FLOAT16 / BFLOAT16 the data is held in that format (a rounding), and the Cast back to FLOAT
    /// makes the pair one <see cref="FloatRound"/>; to FLOAT from float is the identity. Nothing else is float arithmetic.
    /// </summary>
    private static Path Cast(OnnxGraph g, Onnx.Proto.NodeProto node, Path p)
    {
        var to = (DataType)OnnxGraph.AttrInt(node, "to", 0);
        return to switch
        {
            DataType.Float16 or DataType.Bfloat16 => p.Stored is not null
                ? throw g.Error(node, "a Cast between two 16-bit formats is not supported")
                : p with { Stored = to == DataType.Float16 ? FloatFormat.Float16 : FloatFormat.BFloat16 },
            DataType.Float => p.Stored is { } f ? p.Then(new FloatRound(p.Size, f)) : p,
            _ => throw g.Error(node, $"Cast to element type {to} is not supported on the data (only FLOAT16 / BFLOAT16 and back to FLOAT)"),
        };
    }

    private static int Opset(OnnxGraph g) =>
        (int)(g.Model.OpsetImport.FirstOrDefault(o => o.Domain is "" or "ai.onnx")?.Version ?? 13);

    private static Path Linear(Path p, (WeightMatrix Weights, double[] Bias, int[] Shape) map) =>
        new(p.Done, p.Pending.Then(map.Weights, map.Bias), map.Shape);

    private static Path Linear(Path p, (WeightMatrix Weights, int[] Shape) map) =>
        new(p.Done, p.Pending.Then(map.Weights, null), map.Shape);

    /// <summary>A pooling average as an Affine of its own: what is pending is closed first unless it only moves data (a pad).</summary>
    private static Path Pooling(Path p, (WeightMatrix Weights, int[] Shape) map)
    {
        var open = p.Pending.IsSelection ? p : Close(p);
        return Close(Linear(open, map));
    }

    private static Path Close(Path p) =>
        p.Pending.IsIdentity ? p : new Path(p.Done.Add(p.Pending.ToOperator()), Affine.Identity(p.Size), p.Shape);

    private static Path Gemm(OnnxGraph g, Onnx.Proto.NodeProto node, Path p, int dynIndex)
    {
        if (dynIndex != 0) throw g.Error(node, "the data must be input A of Gemm");
        if (OnnxGraph.AttrInt(node, "transA", 0) != 0 && p.Shape.Count(d => d != 1) > 0 && p.Shape[^1] != 1)
            throw g.Error(node, "transA on a row vector is not supported");
        var b = g.Constant(node, 1);
        if (b.Dims.Length != 2) throw g.Error(node, $"B must be a matrix, got shape [{string.Join(",", b.Dims)}]");
        var transB = OnnxGraph.AttrInt(node, "transB", 0) != 0;
        var alpha = OnnxGraph.AttrFloat(node, "alpha", 1f);
        var beta = OnnxGraph.AttrFloat(node, "beta", 1f);
        var (k, n) = transB ? (b.Dims[1], b.Dims[0]) : (b.Dims[0], b.Dims[1]);
        if (k != p.Size) throw g.Error(node, $"B expects {k} inputs but the data has {p.Size}");
        var w = new double[n * k];
        for (var r = 0; r < n; r++)
            for (var c = 0; c < k; c++)
                w[r * k + c] = alpha * (transB ? b.Data[r * k + c] : b.Data[c * n + r]);
        double[]? bias = null;
        if (g.OptionalConstant(node, 2) is { } cTensor)
            bias = Broadcast(g, node, cTensor, n).Select(v => beta * v).ToArray();
        return new Path(p.Done, p.Pending.Then(WeightMatrix.Dense(n, k, w), bias), [1, n]);
    }

    private static Path MatMul(OnnxGraph g, Onnx.Proto.NodeProto node, Path p, int dynIndex)
    {
        var c = g.Constant(node, 1 - dynIndex);
        if (c.Dims.Length != 2) throw g.Error(node, $"the weight must be a matrix, got shape [{string.Join(",", c.Dims)}]");
        double[] w;
        int rows;
        int[] shape;
        if (dynIndex == 0)
        {
            // x[.., k] · C[k, n]: the data is a row vector.
            var (k, n) = (c.Dims[0], c.Dims[1]);
            if (k != p.Size || p.Shape[^1] != k) throw g.Error(node, $"weight expects {k} inputs but the data has shape [{string.Join(",", p.Shape)}]");
            w = new double[n * k];
            for (var r = 0; r < n; r++) for (var i = 0; i < k; i++) w[r * k + i] = c.Data[i * n + r];
            rows = n;
            shape = [.. p.Shape[..^1], n];
        }
        else
        {
            // C[n, k] · x[k] or x[k, 1]: the data is a column vector.
            var (n, k) = (c.Dims[0], c.Dims[1]);
            if (k != p.Size) throw g.Error(node, $"weight expects {k} inputs but the data has {p.Size}");
            w = c.Data;
            rows = n;
            shape = p.Shape.Length >= 2 ? [n, 1] : [n];
        }
        return new Path(p.Done, p.Pending.Then(WeightMatrix.Dense(rows, p.Size, w), null), shape);
    }

    private static Path Elementwise(OnnxGraph g, Onnx.Proto.NodeProto node, Path p, int dynIndex)
    {
        var c = Broadcast(g, node, g.Constant(node, 1 - dynIndex), p.Shape);
        var ones = Enumerable.Repeat(1.0, p.Size).ToArray();
        var zeros = new double[p.Size];
        var pending = (node.OpType, dynIndex) switch
        {
            ("Add", _) => p.Pending.Elementwise(ones, c),
            ("Sub", 0) => p.Pending.Elementwise(ones, c.Select(v => -v).ToArray()),
            ("Sub", 1) => p.Pending.Elementwise(ones.Select(v => -v).ToArray(), c),
            ("Mul", _) => p.Pending.Elementwise(c, zeros),
            ("Div", 0) => c.Any(v => v == 0) ? throw g.Error(node, "division by zero")
                : p.Pending.Elementwise(c.Select(v => 1 / v).ToArray(), zeros),
            _ => throw g.Error(node, "dividing a constant by the data is not linear"),
        };
        return p with { Pending = pending };
    }

    internal static double[] Broadcast(OnnxGraph g, Onnx.Proto.NodeProto node, Tensor t, int size) =>
        t.Count == size ? t.Data
        : t.Count == 1 ? Enumerable.Repeat(t.Data[0], size).ToArray()
        : throw g.Error(node, $"constant of {t.Count} values does not broadcast to the data's {size}");

    /// <summary>
    /// A constant broadcast to the data's shape as NumPy does (dimensions aligned from the right, each 1 or equal), e.g.
    /// a per-channel [C, 1, 1] against [1, C, H, W]; a constant with as many values as the data is read in its order.
    /// </summary>
    internal static double[] Broadcast(OnnxGraph g, Onnx.Proto.NodeProto node, Tensor t, int[] shape)
    {
        var size = shape.Aggregate(1, (a, d) => a * d);
        if (t.Count == size || t.Count == 1) return Broadcast(g, node, t, size);
        var dims = t.Dims;
        if (dims.Length > shape.Length || dims.Where((d, i) => d != 1 && d != shape[shape.Length - dims.Length + i]).Any())
            throw g.Error(node, $"constant of shape [{string.Join(",", dims)}] does not broadcast to the data's [{string.Join(",", shape)}]");
        var result = new double[size];
        var index = new int[shape.Length];
        for (var r = 0; r < size; r++)
        {
            var rest = r;
            for (var a = shape.Length - 1; a >= 0; a--) { index[a] = rest % shape[a]; rest /= shape[a]; }
            var source = 0;
            for (var i = 0; i < dims.Length; i++) source = source * dims[i] + (dims[i] == 1 ? 0 : index[shape.Length - dims.Length + i]);
            result[r] = t.Data[source];
        }
        return result;
    }
}

/// <summary>Shape bookkeeping of reshaping operators on a single sample.</summary>
internal static class Shapes
{
    public static int[] Apply(OnnxGraph g, Onnx.Proto.NodeProto node, int[] shape)
    {
        var size = shape.Aggregate(1, (a, d) => a * d);
        int[] result;
        switch (node.OpType)
        {
            case "Flatten":
                var axis = (int)OnnxGraph.AttrInt(node, "axis", 1);
                if (axis < 0) axis += shape.Length;
                result = [shape[..axis].Aggregate(1, (a, d) => a * d), shape[axis..].Aggregate(1, (a, d) => a * d)];
                break;
            case "Reshape":
                var target = g.Constant(node, 1).AsLongs();
                result = new int[target.Length];
                var known = 1;
                for (var i = 0; i < target.Length; i++)
                {
                    result[i] = target[i] == 0 ? shape[i] : (int)target[i];
                    if (result[i] > 0) known *= result[i];
                }
                for (var i = 0; i < result.Length; i++) if (result[i] < 0) result[i] = size / known;
                break;
            case "Squeeze":
                result = shape.Where(d => d != 1).ToArray();
                if (result.Length == 0) result = [1];
                break;
            default: // Unsqueeze
                result = [1, .. shape];
                break;
        }
        if (result.Aggregate(1, (a, d) => a * d) != size)
            throw g.Error(node, $"reshape from [{string.Join(",", shape)}] to [{string.Join(",", result)}] changes the number of values");
        return result;
    }
}
