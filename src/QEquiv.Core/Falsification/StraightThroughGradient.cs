using QEquiv.Model;

namespace QEquiv.Falsification;

/// <summary>
/// One operator's backward step: from ∂f/∂output to ∂f/∂input, given the operator's input and output at the point.
/// </summary>
internal delegate void BackwardRule(ReadOnlySpan<double> input, ReadOnlySpan<double> output, ReadOnlySpan<double> gradOutput, Span<double> gradInput);

/// <summary>
/// The falsifier's derivative of each operator type: exact where the operator is differentiable (Affine → Wᵀ,
/// Elementwise and Dequantize → their scale, IntegerLinear → its centred integer weights, Reshape → identity, ReLU
/// → its mask), and straight through the roundings of Quantize and Requantize (rounding as identity, so the slope is
/// the scale 1/s or the multiplier M), zero where they saturate or a clamp holds the value at a bound. Gradients are
/// taken in each tensor's own units (codes for codes), so any chain of operators composes into ∂output/∂input.
/// Heuristic only: it orders and steers the search, and nothing it suggests is reported without exact re-execution.
/// </summary>
internal sealed class StraightThroughGradient : IOperatorVisitor<BackwardRule>
{
    public static readonly StraightThroughGradient Instance = new();

    public BackwardRule Affine(Affine op) => (_, _, g, gin) =>
    {
        gin.Clear();
        for (var o = 0; o < g.Length; o++)
            if (g[o] != 0) op.Row(o).AddScaledTo(gin, g[o]);
    };

    public BackwardRule Elementwise(Elementwise op) => (_, _, g, gin) =>
    {
        for (var i = 0; i < g.Length; i++) gin[i] = g[i] * op.AsAffine(i).Scale;
    };

    // At 0 itself the ReLU counts as off, as the search has always taken it.
    public BackwardRule Relu(Relu op) => (x, _, g, gin) =>
    {
        for (var i = 0; i < g.Length; i++) gin[i] = x[i] <= 0 ? 0 : g[i];
    };

    public BackwardRule Clamp(Clamp op) => (_, y, g, gin) =>
    {
        for (var i = 0; i < g.Length; i++) gin[i] = y[i] <= op.Lower || y[i] >= op.Upper ? 0 : g[i];
    };

    /// <summary>
    /// 1/s, zero only beyond the code range's rounding cells: a value whose code sits at the range's end but inside its
    /// cell still moves the code when it moves inwards (pixels at 0 or 1 of an MNIST box).
    /// </summary>
    public BackwardRule Quantize(Quantize op)
    {
        var p = op.Output;
        var s = (double)p.Scale;
        return (x, _, g, gin) =>
        {
            for (var i = 0; i < g.Length; i++)
            {
                var scaled = x[i] / s + p.ZeroPoint;
                gin[i] = scaled >= p.Min - 0.5 && scaled <= p.Max + 0.5 ? g[i] / s : 0;
            }
        };
    }

    public BackwardRule Dequantize(Dequantize op)
    {
        var s = (double)op.Input.Scale;
        return (_, _, g, gin) =>
        {
            for (var i = 0; i < g.Length; i++) gin[i] = g[i] * s;
        };
    }

    public BackwardRule IntegerLinear(IntegerLinear op)
    {
        // The centred weights as doubles, row by row, so the backward pass is a sum of scaled rows.
        var n = op.InputSize;
        var rows = new double[op.OutputSize * n];
        for (var o = 0; o < op.OutputSize; o++)
        {
            var row = op.Row(o);
            var zw = op.WeightZeroPoints[o];
            for (var i = 0; i < n; i++) rows[o * n + i] = (double)row[i] - zw;
        }
        return (_, _, g, gin) =>
        {
            gin.Clear();
            for (var o = 0; o < g.Length; o++)
                if (g[o] != 0) WeightRow.Axpy(g[o], rows.AsSpan(o * n, n), gin);
        };
    }

    /// <summary>M straight through the rounding; zero where the code saturates (at either end, inclusive).</summary>
    public BackwardRule Requantize(Requantize op)
    {
        var p = op.Output;
        var m = op.Multipliers.ToArray();
        return (_, y, g, gin) =>
        {
            for (var j = 0; j < g.Length; j++) gin[j] = y[j] >= p.Max || y[j] <= p.Min ? 0 : g[j] * m[j];
        };
    }

    public BackwardRule Reshape(Reshape op) => (_, _, g, gin) => g.CopyTo(gin);

    /// <summary>Straight through the rounding to float16 / bfloat16 (zero where it overflowed to ±∞).</summary>
    public BackwardRule FloatRound(FloatRound op) => (_, y, g, gin) =>
    {
        for (var i = 0; i < g.Length; i++) gin[i] = double.IsFinite(y[i]) ? g[i] : 0;
    };
}

/// <summary>∂ seed·output_j / ∂input of one network at the point its <see cref="IncrementalNetwork"/> holds.</summary>
internal sealed class NetworkGradient
{
    private readonly IncrementalNetwork _network;
    private readonly BackwardRule[] _rules;
    // One gradient buffer per tensor: [0] is the input's.
    private readonly double[][] _grads;

    public NetworkGradient(IncrementalNetwork network)
    {
        _network = network;
        var nodes = network.Network.Nodes;
        _rules = nodes.Select(n => n.Operator.Accept(StraightThroughGradient.Instance)).ToArray();
        _grads = network.Values.Select(v => new double[v.Length]).ToArray();
    }

    /// <summary>The gradient with respect to the input (a live buffer, overwritten by the next call).</summary>
    public ReadOnlySpan<double> Of(int output, double seed)
    {
        _network.Update();
        var values = _network.Values;
        var top = _grads[^1];
        Array.Clear(top);
        top[output] = seed;
        for (var k = _rules.Length - 1; k >= 0; k--)
            _rules[k](values[k], values[k + 1], _grads[k + 1], _grads[k]);
        return _grads[0];
    }
}
