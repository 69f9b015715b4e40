using QEquiv.Model;
using QEquiv.Quantization;

namespace QEquiv.Networks;

/// <summary>
/// The layered views read off the operator graph and back: the quantizer builds a <see cref="QuantizedNetwork"/> from a
/// <see cref="FloatNetwork"/> and the exporter writes one; tests build small ones by hand. No analysis takes them: every
/// analysis runs on the <see cref="Network"/> itself, one rule per operator.
/// </summary>
public static class Layering
{
    /// <summary>A chain of Affine [Relu] operators (Reshapes skipped) as dense layers.</summary>
    public static FloatNetwork ToFloat(Network network)
    {
        var layers = new List<DenseLayer>();
        Affine? pending = null;
        foreach (var node in network.Nodes)
        {
            switch (node.Operator)
            {
                case Reshape:
                    if (pending is not null) Fail(network, node, "a reshape between a linear map and its activation");
                    break;
                case Affine a:
                    // Densifying a convolution would cost its outputs × inputs (18 million weights for MNIST's first conv).
                    if (!a.Matrix.IsDense) Fail(network, node, "a convolution or pooling (a sparse linear map), which the dense layered view does not hold");
                    if (pending is not null) layers.Add(Dense(pending, Activation.None));
                    pending = a;
                    break;
                case Relu when pending is not null:
                    layers.Add(Dense(pending, Activation.Relu));
                    pending = null;
                    break;
                default:
                    Fail(network, node, "an operator the float analyses do not handle yet");
                    break;
            }
        }
        if (pending is not null) layers.Add(Dense(pending, Activation.None));
        if (layers.Count == 0) throw BadInputException.For(network.Source, "the network has no linear layer");
        return new FloatNetwork(network.Source, network.InputShape, layers);
    }

    private static DenseLayer Dense(Affine a, Activation act) =>
        new(a.InputSize, a.OutputSize, a.Matrix.ToDense(), a.Bias.ToArray(), act);

    /// <summary>
    /// Quantize, then stages — IntegerLinear, Requantize [, Clamp at the zero point] (a quantized dense layer) or
    /// Dequantize [, Add] [, Relu], Quantize (an element-wise requantization) — then Dequantize [, Add].
    /// </summary>
    public static QuantizedNetwork ToQuantized(Network network)
    {
        var nodes = network.Nodes.Where(n => n.Operator is not Reshape).ToList();
        var i = 0;
        if (nodes.Count == 0 || nodes[0].Operator is not Quantize input)
            throw BadInputException.For(network.Source, "a quantized network must start by quantizing its input (normalisation before QuantizeLinear is not handled by the analyses yet)");
        i++;
        var stages = new List<QuantizedStage>();
        var p = input.Output;
        float[]? outputBias = null;
        while (i < nodes.Count)
        {
            var op = nodes[i].Operator;
            if (op is IntegerLinear l && i + 1 < nodes.Count && nodes[i + 1].Operator is Model.Requantize r)
            {
                var relu = i + 2 < nodes.Count && nodes[i + 2].Operator is Clamp c && c.Lower == r.Output.ZeroPoint && c.Upper == r.Output.Max;
                var dense = new QuantizedDense(l.InputSize, l.OutputSize, l.Input, l.Weights.ToArray(), l.WeightType,
                    l.WeightScales.ToArray(), l.WeightZeroPoints.ToArray(), l.Bias.ToArray(), r.Output, relu);
                if (!dense.Multipliers.SequenceEqual(r.Multipliers))
                    Fail(network, nodes[i + 1], "a requantization multiplier that is not (s_in·s_w)/s_out in float32");
                stages.Add(dense);
                p = r.Output;
                i += relu ? 3 : 2;
                continue;
            }
            if (op is not Dequantize dq) { Fail(network, nodes[i], "an operator the quantized analyses do not handle here"); break; }
            i++;
            float[]? bias = null;
            if (i < nodes.Count && nodes[i].Operator is Elementwise { Kind: ElementwiseKind.Add, Arithmetic: Arithmetic.Float32 } add)
            {
                bias = add.Constants.ToArray().Select(v => (float)v).ToArray();
                i++;
            }
            var reluAfter = false;
            if (i < nodes.Count && nodes[i].Operator is Relu)
            {
                reluAfter = true;
                i++;
            }
            if (i == nodes.Count && !reluAfter)
            {
                outputBias = bias;
                break;
            }
            if (i >= nodes.Count || nodes[i].Operator is not Quantize qz)
            {
                Fail(network, nodes[Math.Min(i, nodes.Count - 1)], "dequantized values that are neither the output nor quantized again");
                break;
            }
            stages.Add(new Networks.Requantize(dq.OutputSize, dq.Input, bias, reluAfter, qz.Output));
            p = qz.Output;
            i++;
        }
        if (stages.Count == 0) throw BadInputException.For(network.Source, "the quantized network has no layer");
        _ = p;
        return new QuantizedNetwork(network.Source, network.InputShape, network.InputSize, input.Output, stages, outputBias);
    }

    /// <summary>The graph of a layered float network: Affine [, Relu] per layer.</summary>
    public static Network ToGraph(FloatNetwork n, string inputName = "input")
    {
        var ops = new List<Operator>();
        foreach (var layer in n.Layers)
        {
            ops.Add(new Affine(layer.InputSize, layer.OutputSize, layer.Weights.ToArray(), layer.Bias.ToArray()));
            if (layer.Activation == Activation.Relu) ops.Add(new Relu(layer.OutputSize));
        }
        return Network.Chain(n.Source, n.InputShape, inputName, ops);
    }

    /// <summary>The graph of a layered quantized network (the inverse of <see cref="ToQuantized"/>).</summary>
    public static Network ToGraph(QuantizedNetwork q, string inputName = "input", Runtime? runtime = null)
    {
        var ops = new List<Operator>();
        void Add(Operator op) => ops.Add(op);
        Add(new Quantize(q.InputSize, q.InputQuantization));
        foreach (var stage in q.Stages)
        {
            switch (stage)
            {
                case QuantizedDense d:
                    Add(new IntegerLinear(d.InputSize, d.OutputSize, d.Input, d.Weights.ToArray(), d.WeightType,
                        d.WeightScales.ToArray(), d.WeightZeroPoints.ToArray(), d.Bias.ToArray()));
                    Add(new Model.Requantize(d.Multipliers.ToArray(), d.Output));
                    if (d.Relu) Add(new Clamp(d.OutputSize, d.Output.ZeroPoint, d.Output.Max));
                    break;
                case Requantize r:
                    Add(new Dequantize(r.InputSize, r.Input));
                    if (r.HasBias) Add(new Elementwise(ElementwiseKind.Add, r.Bias.ToArray().Select(v => (double)v).ToArray(), Arithmetic.Float32));
                    if (r.Relu) Add(new Relu(r.OutputSize));
                    Add(new Quantize(r.OutputSize, r.Output));
                    break;
                default:
                    throw new NotSupportedException(stage.GetType().Name);
            }
        }
        Add(new Dequantize(q.OutputSize, q.OutputQuantization));
        if (q.OutputBias is { } b) Add(new Elementwise(ElementwiseKind.Add, b.Select(v => (double)v).ToArray(), Arithmetic.Float32));
        return Network.Chain(q.Source, q.InputShape, inputName, ops, runtime: runtime);
    }

    private static void Fail(Network network, Node node, string what) =>
        throw BadInputException.For(network.Source, $"node '{node.Name}' ({node.Operator.Describe()}): {what}");
}
