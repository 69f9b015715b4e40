using QEquiv.Model;
using QEquiv.Networks;
using QEquiv.Quantization;

namespace QEquiv.Quantizer;

/// <summary>
/// A float network rounded to a 16-bit format (<c>qequiv quantize --to float16|bfloat16</c>): every weight and bias
/// rounded to the format (nearest, ties to even) from the value the model holds — a float32 for an ONNX model, the
/// decimal's double for an NNet file, rounded directly (as numpy's float64 → float16, not through float32), computed in
/// float32 on exactly those values; with <see cref="Activations"/>, the input and every layer's output are rounded to the
/// format too (before the ReLU, with which rounding commutes), as a model that keeps its tensors in 16 bits between
/// float32 operators computes.
/// </summary>
/// <param name="Layered">The rounded weights and biases, layer by layer (each a value of <see cref="Format"/>).</param>
public sealed record HalfPrecisionNetwork(FloatNetwork Layered, FloatFormat Format, bool Activations)
{
    /// <summary>
    /// The operator graph that QEquiv's importer reads from the written file: [FloatRound] then per layer Affine
    /// [FloatRound] [Relu] (the rounding operators only with <see cref="Activations"/>).
    /// </summary>
    public Model.Network ToGraph(string source)
    {
        var ops = new List<Operator>();
        if (Activations) ops.Add(new FloatRound(Layered.InputSize, Format));
        foreach (var l in Layered.Layers)
        {
            ops.Add(new Affine(l.InputSize, l.OutputSize, l.Weights.ToArray(), l.Bias.ToArray()));
            if (Activations) ops.Add(new FloatRound(l.OutputSize, Format));
            if (l.Activation == Activation.Relu) ops.Add(new Relu(l.OutputSize));
        }
        return Model.Network.Chain(source, [1, Layered.InputSize], "input", ops, "output");
    }
}

/// <summary>What rounding did to the parameters.</summary>
/// <param name="Parameters">weights and biases in all</param>
/// <param name="Changed">how many of them rounding changed</param>
/// <param name="MaxAbsChange">largest |rounded − original| over all parameters</param>
/// <param name="MaxRelativeChange">largest |rounded − original| / |original| over the nonzero ones</param>
/// <param name="Subnormal">nonzero parameters that became subnormal or zero in the format</param>
public sealed record HalfPrecisionResult(HalfPrecisionNetwork Rounded, int Parameters, int Changed, double MaxAbsChange,
    double MaxRelativeChange, int Subnormal);

public static class HalfPrecision
{
    /// <summary>Rounds <paramref name="network"/>'s weights and biases; a parameter that would overflow to ±∞ is refused.</summary>
    public static HalfPrecisionResult Round(FloatNetwork network, FloatFormat format, bool activations)
    {
        ArgumentNullException.ThrowIfNull(network);
        int parameters = 0, changed = 0, subnormal = 0;
        double maxAbs = 0, maxRel = 0;
        double[] RoundAll(ReadOnlySpan<double> values, int layer, string what)
        {
            var r = new double[values.Length];
            for (var i = 0; i < r.Length; i++)
            {
                var h = format.Round(values[i]);
                if (!double.IsFinite(h))
                    throw BadInputException.For(network.Source,
                        $"layer {layer} {what} {i} is {values[i]:G9}, beyond {format.Name()}'s range (largest finite {format.MaxFinite():G6})");
                parameters++;
                var d = Math.Abs(h - values[i]);
                if (d != 0) changed++;
                maxAbs = Math.Max(maxAbs, d);
                if (values[i] != 0)
                {
                    maxRel = Math.Max(maxRel, d / Math.Abs(values[i]));
                    if (Math.Abs(h) < Math.ScaleB(1, format.MinExponent())) subnormal++;
                }
                r[i] = h;
            }
            return r;
        }
        var layers = network.Layers.Select((l, k) => new DenseLayer(l.InputSize, l.OutputSize,
            RoundAll(l.Weights, k, "weight"), RoundAll(l.Bias, k, "bias"), l.Activation)).ToList();
        var rounded = new HalfPrecisionNetwork(new FloatNetwork(network.Source, network.InputShape, layers), format, activations);
        return new HalfPrecisionResult(rounded, parameters, changed, maxAbs, maxRel, subnormal);
    }
}
