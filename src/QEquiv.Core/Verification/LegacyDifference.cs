using QEquiv.Bounds;
using QEquiv.Model;
using QEquiv.Networks;
using QEquiv.Regions;

namespace QEquiv.Verification;

/// <summary>
/// Transition: the layered differential bounds (<see cref="DifferentialBounds.Compute"/>) read onto the operator graph —
/// interval bounds of every node met with the layered records where a node corresponds to one, and the hidden Δ levels as
/// aligned tensors — until the differential pass runs on the operators themselves. Meeting two sound bounds is sound,
/// including the rounding records: the layered ones bound the real value and widen for every float32 step before the
/// rounding, the graph's bound the value with upstream roundings included and widen for the last step only, and the
/// runtime's value lies in both bands.
/// </summary>
internal static class LegacyDifference
{
    public static GraphDifference Of(Network reference, Network other, Box box)
    {
        var n = Layering.ToFloat(reference);
        var q = Layering.ToQuantized(other);
        var old = DifferentialBounds.Compute(n, q, box);
        var rb = Reference(reference, box, old.Float);
        var ob = Other(other, box, old.Quantized);

        // The layered Δ is of Q in real arithmetic; the graph's convention includes the runtime's float32 dequantization.
        var po = q.OutputQuantization;
        var outputs = reference.OutputSize;
        Interval Runtime(Interval d, int j)
        {
            var product = (double)po.Scale * (old.Quantized.OutputCodes[j] + (-po.ZeroPoint));
            var value = q.OutputBias is { } b ? product + b[j] : product;
            return d.Widen(0, BoundPropagation.OutputRoundingError(product.MaxAbs, value.MaxAbs));
        }
        var naive = new Interval[outputs];
        var interval = new Interval[outputs];
        var symbolic = new Interval[outputs];
        var tightest = new Interval[outputs];
        for (var j = 0; j < outputs; j++)
        {
            naive[j] = rb.Outputs[j] - ob.Outputs[j];
            interval[j] = BackSubstitution.Meet(Runtime(old.IntervalDifferential[j], j), naive[j]);
            symbolic[j] = BackSubstitution.Meet(Runtime(old.SymbolicDifferential[j], j), naive[j]);
            tightest[j] = BackSubstitution.Meet(Runtime(old.Tightest[j], j), naive[j]);
        }

        // Hidden level k (1 … L−1) is h_k − ĥ_k, ĥ_k = s·(q − z) of the codes the next IntegerLinear reads.
        var hidden = new List<AlignedDifference>();
        var layerOutputs = LayerOutputs(reference);
        var linear = Enumerable.Range(0, other.Nodes.Count).Where(k => other.Nodes[k].Operator is IntegerLinear).ToArray();
        for (var k = 1; k < old.Hidden.Count - 1 && k < linear.Length && k - 1 < layerOutputs.Length; k++)
        {
            var reads = (IntegerLinear)other.Nodes[linear[k]].Operator;
            var p = reads.Input;
            var size = reads.InputSize;
            hidden.Add(new AlignedDifference(layerOutputs[k - 1], linear[k] - 1,
                Enumerable.Repeat((double)p.Scale, size).ToArray(), Enumerable.Repeat(-(double)p.Scale * p.ZeroPoint, size).ToArray(),
                old.Hidden[k]));
        }
        return new GraphDifference(naive, interval, symbolic, tightest, hidden, rb, ob);
    }

    /// <summary>Per dense layer of the float network, the node that writes its output (its Relu, or the Affine itself).</summary>
    private static int[] LayerOutputs(Network network)
    {
        var result = new List<int>();
        for (var k = 0; k < network.Nodes.Count; k++)
            if (network.Nodes[k].Operator is Affine)
                result.Add(k + 1 < network.Nodes.Count && network.Nodes[k + 1].Operator is Relu ? k + 1 : k);
        return [.. result];
    }

    private static GraphBounds Reference(Network network, Box box, FloatNetworkBounds fb)
    {
        var input = GraphBounds.Float32Input(box);
        var nodes = new NodeBounds[network.Nodes.Count];
        var x = input;
        var layer = -1;
        for (var k = 0; k < nodes.Length; k++)
        {
            var b = IntervalBounds.Node(network.Nodes[k], x);
            switch (network.Nodes[k].Operator)
            {
                case Affine:
                    layer++;
                    b = new NodeBounds(Meet(b.Output, fb.Layers[layer].PreActivation));
                    break;
                case Relu:
                    b = new NodeBounds(Meet(b.Output, fb.Layers[layer].Output));
                    break;
            }
            nodes[k] = b;
            x = b.Output;
        }
        return new GraphBounds(network, input, nodes);
    }

    private static GraphBounds Other(Network network, Box box, QuantizedNetworkBounds qb)
    {
        var input = GraphBounds.Float32Input(box);
        var nodes = new NodeBounds[network.Nodes.Count];
        var x = input;
        // The layered stages in order: the input quantization, then per stage its record; a QuantizedDense stage spans
        // IntegerLinear → Requantize [→ Clamp], an element-wise one Dequantize [→ Add] [→ Relu] → Quantize.
        var stage = -1;
        QuantizedStageBounds? current = null;
        for (var k = 0; k < nodes.Length; k++)
        {
            var b = IntervalBounds.Node(network.Nodes[k], x);
            switch (network.Nodes[k].Operator)
            {
                case Quantize qz when stage == -1:
                    current = qb.InputQuantization;
                    stage = 0;
                    b = WithRounding(b, current, qz.Output, meetCodes: true);
                    break;
                case Quantize qz:
                    b = WithRounding(b, current!, qz.Output, meetCodes: true);
                    break;
                case IntegerLinear:
                    current = qb.Stages[stage++];
                    b = new NodeBounds(Meet(b.Output, current.Accumulator!));
                    break;
                case Model.Requantize rq:
                    // The layered codes are after the ReLU on codes when a Clamp follows: met there instead.
                    b = WithRounding(b, current!, rq.Output, meetCodes: !(k + 1 < nodes.Length && network.Nodes[k + 1].Operator is Clamp));
                    break;
                case Clamp:
                    b = new NodeBounds(Meet(b.Output, current!.Codes));
                    break;
                case Dequantize when stage < qb.Stages.Count && qb.Stages[stage].Accumulator is null:
                    current = qb.Stages[stage++]; // an element-wise requantization stage starts here
                    break;
            }
            nodes[k] = b;
            x = b.Output;
        }
        return new GraphBounds(network, input, nodes);
    }

    private static NodeBounds WithRounding(NodeBounds b, QuantizedStageBounds s, Quantization.QuantParams p, bool meetCodes)
    {
        var r = b.Rounding!;
        var n = r.PreRounding.Length;
        var pre = new Interval[n];
        var e = new double[n];
        var rounded = new Interval[n];
        for (var i = 0; i < n; i++)
        {
            pre[i] = BackSubstitution.Meet(r.PreRounding[i], s.PreRounding[i]);
            e[i] = Math.Max(r.Widening[i], s.Widening[i]);
            rounded[i] = BackSubstitution.Meet(r.Rounded[i], s.Rounded[i]);
        }
        var codes = new Interval[n];
        for (var i = 0; i < n; i++)
        {
            codes[i] = BackSubstitution.Meet(b.Output[i], IntervalBounds.Codes(rounded[i], p));
            if (meetCodes) codes[i] = BackSubstitution.Meet(codes[i], s.Codes[i]);
        }
        return new NodeBounds(codes, new Rounding(pre, e, rounded));
    }

    private static Interval[] Meet(Interval[] a, Interval[] b)
    {
        var m = new Interval[a.Length];
        for (var i = 0; i < m.Length; i++) m[i] = BackSubstitution.Meet(a[i], b[i]);
        return m;
    }
}
