using System.Runtime.CompilerServices;
using QEquiv.Model;
using QEquiv.Networks;

namespace QEquiv.Falsification;

/// <summary>
/// transition: remove when callers pass Networks. The graph of a layered view, for the wrappers that keep the old
/// (FloatNetwork, QuantizedNetwork) signatures. Cached per view (views are immutable) because the verifier re-checks
/// every solver candidate and the split heuristic takes a gradient per split: converting each time would copy the
/// weights each time.
/// </summary>
internal static class LayeredViews
{
    private static readonly ConditionalWeakTable<FloatNetwork, Network> Floats = new();
    private static readonly ConditionalWeakTable<QuantizedNetwork, Network> Quantized = new();

    public static Network Graph(FloatNetwork n) => Floats.GetValue(n, v => Layering.ToGraph(v));
    public static Network Graph(QuantizedNetwork q) => Quantized.GetValue(q, v => Layering.ToGraph(v));
}
