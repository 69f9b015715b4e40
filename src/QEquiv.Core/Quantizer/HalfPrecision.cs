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

/// <summary>
/// Rounds parameter arrays to a 16-bit format and tallies what rounding did (for <see cref="HalfPrecisionResult"/>), for a
/// layered network and for the initializers of any float graph alike; a value beyond the format's range is refused.
/// </summary>
public sealed class ParameterRounding(FloatFormat format, string source)
{
    public int Parameters { get; private set; }
    public int Changed { get; private set; }
    public double MaxAbsChange { get; private set; }
    public double MaxRelativeChange { get; private set; }
    public int Subnormal { get; private set; }

    /// <param name="what">names the array in the refusal, e.g. "layer 0 weight"</param>
    public double[] Round(ReadOnlySpan<double> values, string what)
    {
        var r = new double[values.Length];
        for (var i = 0; i < r.Length; i++)
        {
            var h = format.Round(values[i]);
            if (!double.IsFinite(h))
                throw BadInputException.For(source, $"{what} {i} is {values[i]:G9}, beyond {format.Name()}'s range (largest finite {format.MaxFinite():G6})");
            Parameters++;
            var d = Math.Abs(h - values[i]);
            if (d != 0) Changed++;
            MaxAbsChange = Math.Max(MaxAbsChange, d);
            if (values[i] != 0)
            {
                MaxRelativeChange = Math.Max(MaxRelativeChange, d / Math.Abs(values[i]));
                if (Math.Abs(h) < Math.ScaleB(1, format.MinExponent())) Subnormal++;
            }
            r[i] = h;
        }
        return r;
    }
}

public static class HalfPrecision
{
    /// <summary>Rounds <paramref name="network"/>'s weights and biases; a parameter that would overflow to ±∞ is refused.</summary>
    public static HalfPrecisionResult Round(FloatNetwork network, FloatFormat format, bool activations)
    {
        ArgumentNullException.ThrowIfNull(network);
        var tally = new ParameterRounding(format, network.Source);
        var layers = network.Layers.Select((l, k) => new DenseLayer(l.InputSize, l.OutputSize,
            tally.Round(l.Weights, $"layer {k} weight"), tally.Round(l.Bias, $"layer {k} bias"), l.Activation)).ToList();
        var rounded = new HalfPrecisionNetwork(new FloatNetwork(network.Source, network.InputShape, layers), format, activations);
        return new HalfPrecisionResult(rounded, tally.Parameters, tally.Changed, tally.MaxAbsChange, tally.MaxRelativeChange, tally.Subnormal);
    }
}
