namespace QEquiv.Networks;

/// <summary>
/// A real-valued feed-forward network: a chain of dense layers. Input normalisation and reshapes of
/// the source graph are already folded into the first layer, so the input is the flat vector the
/// user supplies.
/// </summary>
public sealed class FloatNetwork
{
    public FloatNetwork(string source, IReadOnlyList<int> inputShape, IReadOnlyList<DenseLayer> layers)
    {
        if (layers.Count == 0) throw new ArgumentException("a network needs at least one layer");
        for (var i = 1; i < layers.Count; i++)
            if (layers[i].InputSize != layers[i - 1].OutputSize)
                throw new ArgumentException($"layer {i} takes {layers[i].InputSize} inputs but layer {i - 1} gives {layers[i - 1].OutputSize}");
        Source = source;
        InputShape = inputShape.ToArray();
        Layers = layers.ToArray();
    }

    /// <summary>Where the network came from (a file path), for messages.</summary>
    public string Source { get; }
    /// <summary>The input shape declared by the source graph (e.g. [1,784,1]); the network reads it flattened.</summary>
    public IReadOnlyList<int> InputShape { get; }
    public IReadOnlyList<DenseLayer> Layers { get; }
    public int InputSize => Layers[0].InputSize;
    public int OutputSize => Layers[^1].OutputSize;
}
