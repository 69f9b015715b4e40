namespace QEquiv.Networks;

public enum Activation { None, Relu }

/// <summary>An affine map y = W x + b followed by an activation; W is stored row-major, out × in.</summary>
public sealed class DenseLayer
{
    private readonly double[] _weights;
    private readonly double[] _bias;

    public DenseLayer(int inputSize, int outputSize, double[] weights, double[] bias, Activation activation)
    {
        if (weights.Length != inputSize * outputSize)
            throw new ArgumentException($"weights have {weights.Length} entries, expected {outputSize}×{inputSize}");
        if (bias.Length != outputSize)
            throw new ArgumentException($"bias has {bias.Length} entries, expected {outputSize}");
        InputSize = inputSize;
        OutputSize = outputSize;
        _weights = (double[])weights.Clone();
        _bias = (double[])bias.Clone();
        Activation = activation;
    }

    public int InputSize { get; }
    public int OutputSize { get; }
    public Activation Activation { get; }

    public double Weight(int output, int input) => _weights[output * InputSize + input];
    public ReadOnlySpan<double> Row(int output) => _weights.AsSpan(output * InputSize, InputSize);
    public ReadOnlySpan<double> Bias => _bias;
    public ReadOnlySpan<double> Weights => _weights;

    public DenseLayer WithActivation(Activation activation) => new(InputSize, OutputSize, _weights, _bias, activation);
}
