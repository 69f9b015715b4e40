using QEquiv.Evaluation;
using QEquiv.Falsification;
using QEquiv.Model;
using QEquiv.Onnx;
using QEquiv.Regions;

namespace QEquiv.Tests;

/// <summary>
/// The falsifier compares any two networks of the same shape, not only a float one with a quantized one: two float
/// networks (a network against a copy with changed weights) and two quantized ones (PyTorch's per-tensor and
/// per-channel quantizations of one MNIST network).
/// </summary>
public class FalsifierPairsTests
{
    private static readonly Network Mnist = OnnxImporter.Load(TestData.Bench("mnistfc/mnist-net_256x2.onnx"));
    private static readonly Box Prop0 = VnnLib.ParseBox(TestData.Bench("mnistfc/prop_0_0.03.vnnlib")).Box;

    /// <summary>The network with one output's bias moved by <paramref name="shift"/>: N_j − M_j = −shift on the whole box, in real arithmetic.</summary>
    private static Network WithShiftedBias(Network n, int output, double shift)
    {
        var last = n.Nodes.Select((node, k) => (node, k)).Last(t => t.node.Operator is Affine);
        var a = (Affine)last.node.Operator;
        var bias = a.Bias.ToArray();
        bias[output] += shift;
        var nodes = n.Nodes.ToArray();
        nodes[last.k] = last.node with { Operator = new Affine(a.InputSize, a.OutputSize, a.Weights.ToArray(), bias) };
        return n.WithNodes(nodes, n.Runtime);
    }

    private static Network WithNoisyWeights(Network n, double relative, int seed)
    {
        var rng = new Random(seed);
        return n.WithNodes(n.Nodes.Select(node => node.Operator is Affine a
            ? node with
            {
                Operator = new Affine(a.InputSize, a.OutputSize,
                    a.Weights.ToArray().Select(w => w * (1 + relative * (2 * rng.NextDouble() - 1))).ToArray(), a.Bias.ToArray()),
            }
            : node).ToList(), n.Runtime);
    }

    [Fact]
    public void FindsTheKnownDifferenceBetweenTwoFloatNetworks()
    {
        const double shift = 0.05;
        var m = WithShiftedBias(Mnist, 3, shift);
        var r = Falsifier.Search(Mnist, m, Prop0, 0.8 * shift, new FalsifierOptions(Seed: 1));
        Assert.Equal(FalsifierStop.WitnessFound, r.Stop);
        var w = Assert.IsType<Witness>(r.Witness);
        Assert.Equal(3, w.Output);
        Assert.True(Math.Abs(w.Difference + shift) < 1e-9, $"difference {w.Difference:R}");
        Assert.True(Prop0.Contains(w.Input));
        Assert.NotNull(WitnessChecker.Check(Mnist, m, w.Input, 0.8 * shift));

        // Nowhere does the difference reach 1.2·shift.
        var none = Falsifier.Search(Mnist, m, Prop0, 1.2 * shift, new FalsifierOptions(Seed: 1) { MaxSearchEvaluations = 2000 });
        Assert.Null(none.Witness);
        Assert.True(Math.Abs(none.BestMaxAbsDifference - shift) < 1e-9);
    }

    [Fact]
    public void SearchesTwoFloatNetworksWithPerturbedWeights()
    {
        var m = WithNoisyWeights(Mnist, 0.02, seed: 5);
        var options = new FalsifierOptions(Seed: 2) { MaxSearchEvaluations = 5000, StopAtFirstWitness = false };
        var r = Falsifier.Search(Mnist, m, Prop0, 1e3, options);
        Assert.Null(r.Witness);
        // The search does at least as well as evaluating its own start points does.
        var centre = WitnessChecker.Evaluate(Mnist, m, Float32Points.RoundInto(Prop0, Prop0.Center())!);
        Assert.True(r.BestMaxAbsDifference >= centre.MaxAbsDifference);
        Assert.True(r.BestMaxAbsDifference > 0);
        // Every per-output extreme is a re-executed value at its point.
        foreach (var o in r.PerOutput)
            Assert.Equal(o.MaxDifference, WitnessChecker.Evaluate(Mnist, m, o.MaxDifferenceInput).Differences[o.Output]);

        // Below the observed maximum by more than both networks' float32 error bounds (both are float networks, so a witness
        // must break δ by both), the same search reports it as a witness.
        var best = r.PerOutput.MaxBy(o => o.MaxAbsDifference)!;
        var errors = Float32Error.AtPoint(Mnist, best.MaxAbsInput)[best.Output] + Float32Error.AtPoint(m, best.MaxAbsInput)[best.Output];
        var delta = r.BestMaxAbsDifference - 2 * errors;
        var found = Falsifier.Search(Mnist, m, Prop0, delta, options with { StopAtFirstWitness = true });
        var w = Assert.IsType<Witness>(found.Witness);
        Assert.NotNull(WitnessChecker.Check(Mnist, m, w.Input, delta));
        Assert.True(w.GuaranteedAbsDifference >= delta);
    }

    [Fact]
    public void SearchesTwoQuantizedNetworks()
    {
        var perTensor = OnnxImporter.Load(TestData.Bench("pytorch/mnist-net_256x2.qnnpack-qdq.onnx"));
        var perChannel = OnnxImporter.Load(TestData.Bench("pytorch/mnist-net_256x2.qnnpack-perchannel-qdq.onnx"));
        var options = new FalsifierOptions(Seed: 3) { MaxSearchEvaluations = 5000, StopAtFirstWitness = false };
        var r = Falsifier.Search(perTensor, perChannel, Prop0, 1e3, options);
        Assert.True(r.BestMaxAbsDifference > 0, "two different quantizations differ somewhere");

        var delta = r.BestMaxAbsDifference;
        var found = Falsifier.Search(perTensor, perChannel, Prop0, delta, options with { StopAtFirstWitness = true });
        var w = Assert.IsType<Witness>(found.Witness);
        // A quantized reference is computed in the runtime's own arithmetic: no float32 error to allow for.
        Assert.All(w.Float32Error!, e => Assert.Equal(0, e));
        Assert.Equal(w.MaxAbsDifference, w.GuaranteedAbsDifference);
        Assert.True(w.MaxAbsDifference >= delta);
        Assert.Equal(w.Difference, perTensor.Evaluate(w.Input)[w.Output] - perChannel.Evaluate(w.Input)[w.Output]);
    }
}
