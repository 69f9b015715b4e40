using QEquiv.Model;
using QEquiv.Regions;

namespace QEquiv.Bounds;

/// <summary>
/// What a rounding operator (Quantize, Requantize) rounds, per element: <see cref="PreRounding"/> bounds the real value
/// (x/s or M·acc), the runtime's float32 value lies within ±<see cref="Widening"/> of it, and <see cref="Rounded"/> is the
/// integer range of the rounding before the zero point and saturation. The MILP's rounding band uses the same numbers.
/// </summary>
public sealed record Rounding(Interval[] PreRounding, double[] Widening, Interval[] Rounded);

/// <summary>
/// Bounds of one node's output tensor; <see cref="Rounding"/> for Quantize and Requantize nodes. <see cref="InputError"/>,
/// for a <see cref="FloatRound"/> node: a bound on how far the runtime's float32 value of its input can be from the exact
/// one, which its bounds (and the relaxations built from them) include, so that they hold what the runtime computes, not
/// only the exact rounding of the real value; null when the runtime's input is not bounded so (see
/// <see cref="IntervalBounds.RuntimeInputError"/>): then they are of the exact rounding, and <c>Float32Error</c> covers the rest.
/// </summary>
public sealed record NodeBounds(Interval[] Output, Rounding? Rounding = null, double[]? InputError = null);

/// <summary>
/// Bounds of every tensor of one <see cref="Network"/> over a box. Sound with respect to <see cref="Network.Evaluate(ReadOnlySpan{double})"/>
/// at any float32 point of the box: every float32 operator's bounds include its rounding, and real-arithmetic operators
/// (<see cref="Affine"/>) are bounded in real arithmetic (a float32 runtime's distance from them is
/// <c>Float32Error</c>'s job). The MILP relies on these for big-M constants and for fixing stable neurons, so an
/// unsound bound would cut off real behaviour.
/// </summary>
public sealed class GraphBounds
{
    private readonly NodeBounds[] _nodes;

    public GraphBounds(Network network, Interval[] input, IReadOnlyList<NodeBounds> nodes)
    {
        if (input.Length != network.InputSize) throw new ArgumentException($"input bounds have {input.Length} entries, the network takes {network.InputSize}");
        if (nodes.Count != network.Nodes.Count) throw new ArgumentException($"{nodes.Count} node bounds for {network.Nodes.Count} nodes");
        for (var k = 0; k < nodes.Count; k++)
            if (nodes[k].Output.Length != network.Nodes[k].Operator.OutputSize)
                throw new ArgumentException($"node {k} has {nodes[k].Output.Length} bounds for {network.Nodes[k].Operator.OutputSize} values");
        Network = network;
        Input = input;
        _nodes = nodes.ToArray();
    }

    public Network Network { get; }
    /// <summary>The box as the network receives it: widened by the float32 unit roundoff (inputs are float32(x)).</summary>
    public Interval[] Input { get; }
    public IReadOnlyList<NodeBounds> Nodes => _nodes;
    public Interval[] Outputs => _nodes[^1].Output;

    /// <summary>Bounds of the tensor node <paramref name="node"/> reads (the input for node 0).</summary>
    public Interval[] InputOf(int node) => node == 0 ? Input : _nodes[node - 1].Output;

    /// <summary>Bounds of tensor <paramref name="tensor"/>: −1 is the input, k the output of node k.</summary>
    public Interval[] Tensor(int tensor) => tensor < 0 ? Input : _nodes[tensor].Output;

    /// <summary>A copy with some nodes' bounds replaced (tighter ones from a symbolic pass or an LP).</summary>
    public GraphBounds With(IReadOnlyDictionary<int, NodeBounds> replaced)
    {
        var nodes = (NodeBounds[])_nodes.Clone();
        foreach (var (k, b) in replaced) nodes[k] = b;
        return new GraphBounds(Network, Input, nodes);
    }

    /// <summary>The box widened by the float32 unit roundoff: the network receives float32(x), which may sit that far outside.</summary>
    public static Interval[] Float32Input(Box box)
    {
        var input = new Interval[box.Dimension];
        for (var i = 0; i < input.Length; i++)
            input[i] = new Interval(box.Lo[i], box.Hi[i]).Widen(IntervalBounds.Float32Roundoff, 0);
        return input;
    }
}

/// <summary>
/// Bounds of the difference of two aligned tensors, per element i:
/// reference[<see cref="Reference"/>][i] − (<see cref="Scale"/>[i]·other[<see cref="Other"/>][i] + <see cref="Offset"/>[i]) ∈ <see cref="Delta"/>[i],
/// tensor −1 being the input and k the output of node k. Scale and offset put the other network's tensor in the
/// reference's units (a code tensor of Q as s·(q − z) in N's real values); the MILP adds each as a valid row.
/// </summary>
public sealed record AlignedDifference(int Reference, int Other, double[] Scale, double[] Offset, Interval[] Delta);

/// <summary>
/// Bounds of R_j − O_j per output j for a reference network R and another network O over one box, as both evaluate
/// (every float32 rounding of either network included, O's final dequantization too; real-arithmetic operators of R
/// bounded in real arithmetic: a float32 R's distance is added by the caller).
/// </summary>
/// <param name="Naive">Interval R minus interval O.</param>
/// <param name="IntervalDifferential">Δ propagated as intervals (equals Naive where the structures do not align).</param>
/// <param name="SymbolicDifferential">Δ also back-substituted to the input (equals the interval one when disabled).</param>
/// <param name="Tightest">The intersection of all three.</param>
/// <param name="Hidden">Δ of aligned hidden tensors (empty where the structures do not align).</param>
/// <param name="Reference">Bounds of every tensor of R (symbolic ∩ interval).</param>
/// <param name="Other">Bounds of every tensor of O (symbolic ∩ interval).</param>
/// <param name="Notice">Why the differential pass did not run (the structures do not correspond), or null.</param>
public sealed record GraphDifference(
    Interval[] Naive,
    Interval[] IntervalDifferential,
    Interval[] SymbolicDifferential,
    Interval[] Tightest,
    IReadOnlyList<AlignedDifference> Hidden,
    GraphBounds Reference,
    GraphBounds Other,
    string? Notice = null)
{
    /// <summary>Bounds of s·(R_j − O_j), the quantity a sub-problem asks about.</summary>
    public Interval For(int output, int sign) => sign > 0 ? Tightest[output] : -Tightest[output];

    /// <summary>Per output, the lower ([2j]) and upper ([2j + 1]) symbolic-differential bound's share from each input's
    /// width: |coefficient| × width (ReluVal's smear, read off the bound itself). Null without the symbolic pass.</summary>
    public IReadOnlyList<double[]?>? Sensitivity { get; init; }

    /// <summary>How much each input's width adds to the upper bound of s·(R_j − O_j), or null when not computed.</summary>
    public double[]? InputSensitivity(int output, int sign) =>
        Sensitivity is { } s && s.Count > 2 * output + 1 ? s[sign > 0 ? 2 * output + 1 : 2 * output] : null;
}
