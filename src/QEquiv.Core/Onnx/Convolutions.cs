using QEquiv.Model;
using QEquiv.Onnx.Proto;

namespace QEquiv.Onnx;

/// <summary>
/// The sliding window of a 2-D convolution or pooling over one NCHW sample: kernel, strides, dilations and the pads
/// (begin and end per spatial axis) as ONNX defines them, auto_pad resolved. <see cref="Taps"/> lists, for one output
/// position, the input positions its window reads inside the image (padding reads nothing: zeros for a convolution,
/// and excluded or counted as zeros by a pooling). A quantized convolution reuses the same taps for its integer rows.
/// </summary>
internal sealed record Window(int Channels, int Height, int Width, int KernelH, int KernelW, int StrideH, int StrideW,
    int DilationH, int DilationW, int PadTop, int PadLeft, int PadBottom, int PadRight)
{
    public int OutHeight => (Height + PadTop + PadBottom - ((KernelH - 1) * DilationH + 1)) / StrideH + 1;
    public int OutWidth => (Width + PadLeft + PadRight - ((KernelW - 1) * DilationW + 1)) / StrideW + 1;

    /// <summary>The window's positions inside the image for output (oy, ox): (kernel index ky·KernelW + kx, iy·Width + ix).</summary>
    public IEnumerable<(int Kernel, int Pixel)> Taps(int oy, int ox)
    {
        for (var ky = 0; ky < KernelH; ky++)
        {
            var iy = oy * StrideH - PadTop + ky * DilationH;
            if (iy < 0 || iy >= Height) continue;
            for (var kx = 0; kx < KernelW; kx++)
            {
                var ix = ox * StrideW - PadLeft + kx * DilationW;
                if (ix < 0 || ix >= Width) continue;
                yield return (ky * KernelW + kx, iy * Width + ix);
            }
        }
    }

    /// <summary>
    /// The window of <paramref name="node"/> (Conv, AveragePool, MaxPool) over data of shape [1, C, H, W]: attributes read
    /// and checked, every unsupported one refused with the node named.
    /// </summary>
    public static Window Of(OnnxGraph g, NodeProto node, int[] shape, int kernelH, int kernelW)
    {
        if (shape.Length != 4 || shape[0] != 1)
            throw g.Error(node, $"expects one 2-D image [1, C, H, W], got shape [{string.Join(",", shape)}] (only 2-D {node.OpType} is supported)");
        var strides = Ints(g, node, "strides", [1, 1]);
        var dilations = Ints(g, node, "dilations", [1, 1]);
        if (strides.Any(s => s <= 0) || dilations.Any(d => d <= 0)) throw g.Error(node, "strides and dilations must be positive");
        if (OnnxGraph.AttrInt(node, "ceil_mode", 0) != 0) throw g.Error(node, "ceil_mode=1 is not supported (windows past the padded edge)");
        var pads = Ints(g, node, "pads", [0, 0, 0, 0], 4);
        if (pads.Any(p => p < 0)) throw g.Error(node, "negative pads are not supported");
        var autoPad = AttrString(node, "auto_pad", "NOTSET");
        int h = shape[2], w = shape[3];
        switch (autoPad)
        {
            case "NOTSET": break;
            case "VALID": pads = [0, 0, 0, 0]; break;
            case "SAME_UPPER" or "SAME_LOWER":
                // Output ⌈in / stride⌉; the odd pad goes at the end (UPPER) or the beginning (LOWER).
                int Total(int size, int k, int s, int d) => Math.Max(0, ((size + s - 1) / s - 1) * s + (k - 1) * d + 1 - size);
                var (th, tw) = (Total(h, kernelH, strides[0], dilations[0]), Total(w, kernelW, strides[1], dilations[1]));
                pads = autoPad == "SAME_UPPER" ? [th / 2, tw / 2, th - th / 2, tw - tw / 2] : [th - th / 2, tw - tw / 2, th / 2, tw / 2];
                break;
            default: throw g.Error(node, $"auto_pad={autoPad} is not supported");
        }
        var window = new Window(shape[1], h, w, kernelH, kernelW, strides[0], strides[1], dilations[0], dilations[1], pads[0], pads[1], pads[2], pads[3]);
        if (window.OutHeight <= 0 || window.OutWidth <= 0)
            throw g.Error(node, $"a {kernelH}×{kernelW} window does not fit the {h}×{w} input");
        return window;
    }

    private static int[] Ints(OnnxGraph g, NodeProto node, string name, int[] fallback, int count = 2)
    {
        var a = node.Attribute.FirstOrDefault(x => x.Name == name);
        if (a is null) return fallback;
        if (a.Ints.Count != count) throw g.Error(node, $"{name} has {a.Ints.Count} values; a 2-D {node.OpType} needs {count}");
        return a.Ints.Select(v => checked((int)v)).ToArray();
    }

    internal static string AttrString(NodeProto node, string name, string fallback) =>
        node.Attribute.FirstOrDefault(a => a.Name == name) is { } a ? a.S.ToStringUtf8() : fallback;
}

/// <summary>
/// The linear operators of a convolutional network as sparse weight matrices over flattened NCHW tensors: Conv (stride,
/// padding, dilation, groups), AveragePool and GlobalAveragePool, zero (or constant) Pad, Transpose, and the per-channel
/// scale and shift of BatchNormalization. Each row stores only the entries its window reads.
/// </summary>
internal static class Convolutions
{
    /// <summary>Conv: weights, bias and output shape [1, M, OH, OW].</summary>
    public static (WeightMatrix Weights, double[] Bias, int[] Shape) Conv(OnnxGraph g, NodeProto node, int[] shape)
    {
        var kernel = g.Constant(node, 1);
        if (kernel.Dims.Length != 4)
            throw g.Error(node, $"only 2-D convolutions are supported; the kernel has shape [{string.Join(",", kernel.Dims)}]");
        int m = kernel.Dims[0], cg = kernel.Dims[1], kh = kernel.Dims[2], kw = kernel.Dims[3];
        if (node.Attribute.FirstOrDefault(a => a.Name == "kernel_shape") is { } ks && !ks.Ints.SequenceEqual([kh, kw]))
            throw g.Error(node, $"kernel_shape [{string.Join(",", ks.Ints)}] disagrees with the kernel's [{kh},{kw}]");
        var window = Window.Of(g, node, shape, kh, kw);
        var groups = checked((int)OnnxGraph.AttrInt(node, "group", 1));
        if (groups <= 0 || window.Channels != cg * groups || m % groups != 0)
            throw g.Error(node, $"{groups} group(s) of {cg} input channels do not fit {window.Channels} channels and {m} outputs");
        var bias = g.OptionalConstant(node, 2) is { } b
            ? b.Count == m ? b.Data : throw g.Error(node, $"bias has {b.Count} values for {m} output channels")
            : new double[m];
        int oh = window.OutHeight, ow = window.OutWidth, plane = window.Height * window.Width;
        var rows = new List<(int, double)>[m * oh * ow];
        var perGroup = m / groups;
        for (var o = 0; o < m; o++)
        {
            var firstChannel = o / perGroup * cg;
            for (var oy = 0; oy < oh; oy++)
                for (var ox = 0; ox < ow; ox++)
                {
                    var row = rows[(o * oh + oy) * ow + ox] = [];
                    for (var c = 0; c < cg; c++)
                        foreach (var (k, pixel) in window.Taps(oy, ox))
                            row.Add(((firstChannel + c) * plane + pixel, kernel.Data[(o * cg + c) * kh * kw + k]));
                }
        }
        var outBias = new double[rows.Length];
        for (var r = 0; r < rows.Length; r++) outBias[r] = bias[r / (oh * ow)];
        return (WeightMatrix.FromRows(rows.Length, window.Channels * plane, rows), outBias, [1, m, oh, ow]);
    }

    /// <summary>
    /// AveragePool: the mean over each window's positions inside the image (count_include_pad = 0, ONNX's default) or
    /// the sum over them divided by the whole kernel's size, padding counted as zeros (count_include_pad = 1).
    /// </summary>
    public static (WeightMatrix Weights, int[] Shape) AveragePool(OnnxGraph g, NodeProto node, int[] shape)
    {
        var kernel = node.Attribute.FirstOrDefault(a => a.Name == "kernel_shape") ?? throw g.Error(node, "kernel_shape is required");
        if (kernel.Ints.Count != 2) throw g.Error(node, $"only 2-D pooling is supported; kernel_shape has {kernel.Ints.Count} values");
        if (node.Attribute.FirstOrDefault(a => a.Name == "dilations") is { } d && d.Ints.Any(v => v != 1))
            throw g.Error(node, "dilated average pooling is not supported");
        var window = Window.Of(g, node, shape, checked((int)kernel.Ints[0]), checked((int)kernel.Ints[1]));
        var includePad = OnnxGraph.AttrInt(node, "count_include_pad", 0) != 0;
        return Pool(window, includePad);
    }

    /// <summary>GlobalAveragePool: one window over the whole image per channel, output [1, C, 1, 1].</summary>
    public static (WeightMatrix Weights, int[] Shape) GlobalAveragePool(OnnxGraph g, NodeProto node, int[] shape)
    {
        if (shape.Length != 4 || shape[0] != 1) throw g.Error(node, $"expects one 2-D image [1, C, H, W], got shape [{string.Join(",", shape)}]");
        return Pool(new Window(shape[1], shape[2], shape[3], shape[2], shape[3], 1, 1, 1, 1, 0, 0, 0, 0), includePad: false);
    }

    private static (WeightMatrix, int[]) Pool(Window window, bool includePad)
    {
        int oh = window.OutHeight, ow = window.OutWidth, plane = window.Height * window.Width;
        var rows = new List<(int, double)>[window.Channels * oh * ow];
        for (var c = 0; c < window.Channels; c++)
            for (var oy = 0; oy < oh; oy++)
                for (var ox = 0; ox < ow; ox++)
                {
                    var taps = window.Taps(oy, ox).ToList();
                    double count = includePad ? window.KernelH * window.KernelW : taps.Count;
                    rows[(c * oh + oy) * ow + ox] = taps.Select(t => (c * plane + t.Pixel, 1 / count)).ToList();
                }
        return (WeightMatrix.FromRows(rows.Length, window.Channels * plane, rows), [1, window.Channels, oh, ow]);
    }

    /// <summary>Pad in constant mode on any axes (negative pads crop): a selection of the input plus the constant.</summary>
    public static (WeightMatrix Weights, double[] Bias, int[] Shape) Pad(OnnxGraph g, NodeProto node, int[] shape, int opset)
    {
        var mode = Window.AttrString(node, "mode", "constant");
        if (mode != "constant") throw g.Error(node, $"mode={mode} is not supported (only constant padding)");
        long[] pads;
        double value;
        if (opset >= 11)
        {
            pads = g.Constant(node, 1).AsLongs();
            value = g.OptionalConstant(node, 2) is { } v ? v.Data[0] : 0;
            if (node.Input.Count > 3 && node.Input[3].Length > 0) throw g.Error(node, "the axes input is not supported");
        }
        else
        {
            pads = node.Attribute.FirstOrDefault(a => a.Name == "pads")?.Ints.ToArray() ?? throw g.Error(node, "pads is required");
            value = OnnxGraph.AttrFloat(node, "value", 0f);
        }
        var rank = shape.Length;
        if (pads.Length != 2 * rank) throw g.Error(node, $"{pads.Length} pads for data of rank {rank}");
        var outShape = new int[rank];
        for (var a = 0; a < rank; a++)
        {
            outShape[a] = checked(shape[a] + (int)pads[a] + (int)pads[a + rank]);
            if (outShape[a] <= 0) throw g.Error(node, $"pads leave axis {a} empty");
        }
        var size = outShape.Aggregate(1, (x, d) => x * d);
        var rows = new List<(int, double)>[size];
        var bias = new double[size];
        var index = new int[rank];
        for (var r = 0; r < size; r++)
        {
            // Output multi-index to input: subtract the leading pads; outside the input the constant.
            var rest = r;
            for (var a = rank - 1; a >= 0; a--) { index[a] = rest % outShape[a]; rest /= outShape[a]; }
            var source = 0;
            for (var a = 0; a < rank && source >= 0; a++)
            {
                var i = index[a] - (int)pads[a];
                source = i < 0 || i >= shape[a] ? -1 : source * shape[a] + i;
            }
            rows[r] = source >= 0 ? [(source, 1.0)] : [];
            if (source < 0) bias[r] = value;
        }
        return (WeightMatrix.FromRows(size, shape.Aggregate(1, (x, d) => x * d), rows), bias, outShape);
    }

    /// <summary>Transpose (e.g. the NHWC → NCHW that TensorFlow exports put in front): a permutation.</summary>
    public static (WeightMatrix Weights, int[] Shape) Transpose(OnnxGraph g, NodeProto node, int[] shape)
    {
        var rank = shape.Length;
        var perm = node.Attribute.FirstOrDefault(a => a.Name == "perm")?.Ints.Select(v => checked((int)v)).ToArray()
            ?? Enumerable.Range(0, rank).Reverse().ToArray();
        if (perm.Length != rank || perm.Order().Where((p, i) => p != i).Any()) throw g.Error(node, $"perm [{string.Join(",", perm)}] is not a permutation of {rank} axes");
        var outShape = perm.Select(p => shape[p]).ToArray();
        var size = shape.Aggregate(1, (x, d) => x * d);
        var inStride = new int[rank];
        for (int a = rank - 1, s = 1; a >= 0; s *= shape[a], a--) inStride[a] = s;
        var rows = new List<(int, double)>[size];
        for (var r = 0; r < size; r++)
        {
            var rest = r;
            var source = 0;
            for (var a = rank - 1; a >= 0; a--)
            {
                source += rest % outShape[a] * inStride[perm[a]];
                rest /= outShape[a];
            }
            rows[r] = [(source, 1.0)];
        }
        return (WeightMatrix.FromRows(size, size, rows), outShape);
    }

    /// <summary>BatchNormalization in inference mode as y = scale·x + shift per element (channel = axis 1).</summary>
    public static (double[] Scale, double[] Shift) BatchNormalization(OnnxGraph g, NodeProto node, int[] shape)
    {
        if (OnnxGraph.AttrInt(node, "training_mode", 0) != 0 || node.Output.Count > 1)
            throw g.Error(node, "training mode is not supported (inference only)");
        if (shape.Length < 2) throw g.Error(node, $"expects [1, C, ...] data, got shape [{string.Join(",", shape)}]");
        var c = shape[1];
        var (gamma, beta, mean, variance) = (g.Constant(node, 1), g.Constant(node, 2), g.Constant(node, 3), g.Constant(node, 4));
        foreach (var t in new[] { gamma, beta, mean, variance })
            if (t.Count != c) throw g.Error(node, $"a parameter has {t.Count} values for {c} channels");
        double epsilon = OnnxGraph.AttrFloat(node, "epsilon", 1e-5f);
        var inner = shape[2..].Aggregate(1, (x, d) => x * d);
        var size = c * inner;
        var scale = new double[size];
        var shift = new double[size];
        for (var i = 0; i < size; i++)
        {
            var ch = i / inner;
            var s = gamma.Data[ch] / Math.Sqrt(variance.Data[ch] + epsilon);
            scale[i] = s;
            shift[i] = beta.Data[ch] - s * mean.Data[ch];
        }
        return (scale, shift);
    }
}
