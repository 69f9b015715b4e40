global using static QEquiv.Tests.LayeredGraphs;
using System.Runtime.CompilerServices;
using QEquiv.Model;
using QEquiv.Networks;

namespace QEquiv.Tests;

/// <summary>
/// The graph of a network a test built or loaded as layers (TestNetworks, the quantizer's output), for the analyses, which
/// all take <see cref="Network"/>s. Cached per view (views are immutable), so that a test re-checking many points does not
/// copy the weights each time.
/// </summary>
internal static class LayeredGraphs
{
    private static readonly ConditionalWeakTable<FloatNetwork, Network> Floats = new();
    private static readonly ConditionalWeakTable<QuantizedNetwork, Network> Quantized = new();

    public static Network G(FloatNetwork n) => Floats.GetValue(n, v => Layering.ToGraph(v));
    public static Network G(QuantizedNetwork q) => Quantized.GetValue(q, v => Layering.ToGraph(v));
}

