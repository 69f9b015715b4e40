using QEquiv.Networks;

namespace QEquiv.Evaluation;

/// <summary>Every layer's input and pre-activation in one double evaluation (layer k's input is layer k − 1's output).</summary>
public sealed record FloatTrace(double[][] Inputs, double[][] PreActivations, double[] Output);

/// <summary>
/// Evaluates the real-valued network in double precision. The verifier models N in real arithmetic
/// (the usual MILP convention); double accumulation is the closest executable stand-in. A runtime computes N in
/// float32 instead, in an order of its own: <see cref="Float32Error"/> bounds how far any such evaluation can lie
/// from the double one, and <see cref="EvaluateFloat32"/> is one of them (sequential summation), for reports.
/// </summary>
public static class FloatEvaluator
{
    public static double[] Evaluate(FloatNetwork network, ReadOnlySpan<double> input)
    {
        if (input.Length != network.InputSize)
            throw new ArgumentException($"input has {input.Length} values, the network takes {network.InputSize}");
        var x = input.ToArray();
        foreach (var layer in network.Layers)
            x = Apply(layer, x);
        return x;
    }

    public static double[] Evaluate(FloatNetwork network, ReadOnlySpan<float> input)
    {
        var x = new double[input.Length];
        for (var i = 0; i < x.Length; i++) x[i] = input[i];
        return Evaluate(network, x);
    }

    /// <summary>The same double evaluation as <see cref="Evaluate(FloatNetwork, ReadOnlySpan{float})"/>, keeping every layer's values.</summary>
    public static FloatTrace Trace(FloatNetwork network, ReadOnlySpan<float> input)
    {
        if (input.Length != network.InputSize)
            throw new ArgumentException($"input has {input.Length} values, the network takes {network.InputSize}");
        var x = new double[input.Length];
        for (var i = 0; i < x.Length; i++) x[i] = input[i];
        var inputs = new double[network.Layers.Count][];
        var pre = new double[network.Layers.Count][];
        for (var k = 0; k < network.Layers.Count; k++)
        {
            var layer = network.Layers[k];
            inputs[k] = x;
            pre[k] = PreActivation(layer, x);
            x = layer.Activation == Activation.Relu ? Array.ConvertAll(pre[k], v => v < 0 ? 0 : v) : pre[k];
        }
        return new FloatTrace(inputs, pre, x);
    }

    public static double[] Apply(DenseLayer layer, ReadOnlySpan<double> x)
    {
        var y = PreActivation(layer, x);
        if (layer.Activation == Activation.Relu)
            for (var o = 0; o < y.Length; o++) if (y[o] < 0) y[o] = 0;
        return y;
    }

    private static double[] PreActivation(DenseLayer layer, ReadOnlySpan<double> x)
    {
        var y = new double[layer.OutputSize];
        var bias = layer.Bias;
        for (var o = 0; o < y.Length; o++)
        {
            var row = layer.Row(o);
            var s = bias[o];
            for (var i = 0; i < row.Length; i++) s += row[i] * x[i];
            y[o] = s;
        }
        return y;
    }

    /// <summary>
    /// N in float32 as a straightforward runtime computes it: float32 weights, products and sums, summed in index
    /// order, then the bias added. A runtime's blocked or FMA kernels may differ from this in the last bits; every
    /// such order lies within <see cref="Float32Error.AtPoint"/> of the double value.
    /// </summary>
    public static float[] EvaluateFloat32(FloatNetwork network, ReadOnlySpan<float> input)
    {
        if (input.Length != network.InputSize)
            throw new ArgumentException($"input has {input.Length} values, the network takes {network.InputSize}");
        var x = input.ToArray();
        foreach (var layer in network.Layers)
        {
            var y = new float[layer.OutputSize];
            var bias = layer.Bias;
            for (var o = 0; o < y.Length; o++)
            {
                var row = layer.Row(o);
                var s = 0f;
                for (var i = 0; i < row.Length; i++) s += (float)row[i] * x[i];
                s += (float)bias[o];
                y[o] = layer.Activation == Activation.Relu && s < 0 ? 0 : s;
            }
            x = y;
        }
        return x;
    }
}
