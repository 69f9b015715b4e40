using QEquiv.Networks;

namespace QEquiv.Evaluation;

/// <summary>
/// Evaluates the real-valued network in double precision. The verifier models N in real arithmetic
/// (the usual MILP convention); double accumulation is the closest executable stand-in and agrees
/// with float32 runtimes to about 1e-6 on the benchmark networks.
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

    public static double[] Apply(DenseLayer layer, ReadOnlySpan<double> x)
    {
        var y = new double[layer.OutputSize];
        var bias = layer.Bias;
        for (var o = 0; o < y.Length; o++)
        {
            var row = layer.Row(o);
            var s = bias[o];
            for (var i = 0; i < row.Length; i++) s += row[i] * x[i];
            y[o] = layer.Activation == Activation.Relu && s < 0 ? 0 : s;
        }
        return y;
    }
}
