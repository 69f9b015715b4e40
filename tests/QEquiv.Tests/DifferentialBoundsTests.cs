using System.Diagnostics;
using QEquiv.Bounds;
using QEquiv.Data;
using QEquiv.Encoding;
using QEquiv.Evaluation;
using QEquiv.Falsification;
using QEquiv.Networks;
using QEquiv.Onnx;
using QEquiv.Quantization;
using QEquiv.Regions;
using Xunit.Abstractions;

namespace QEquiv.Tests;

public class DifferentialBoundsTests(ITestOutputHelper output)
{
    [Trait("Speed", "Slow")]
    [Theory]
    [InlineData(1, false, false, false)]
    [InlineData(2, true, false, true)]
    [InlineData(3, false, true, false)]
    [InlineData(4, true, true, true)]
    [InlineData(5, true, false, false)]
    public void RandomPairsEveryBoundContainsTheExactValues(int seed, bool requantize, bool signedInput, bool outputBias)
    {
        var rng = new Random(seed * 17);
        foreach (var sizes in new[] { new[] { 3, 6, 5, 2 }, [4, 10, 8, 8, 3] })
        {
            var pair = TestNetworks.Random(seed, sizes, requantize, signedInput, outputBias);
            for (var b = 0; b < 3; b++)
            {
                var box = TestNetworks.RandomBox(rng, sizes[0], maxRadius: b == 0 ? 0.02 : b == 1 ? 0.1 : 0.5);
                var everyNeuron = b % 2 == 1;
                var d = DifferentialBounds.Of(pair.Reference, pair.Other, box, new DifferentialOptions(EveryNeuron: everyNeuron));
                AssertNeverLooserThanNaive(d);
                for (var k = 0; k < 10_000; k++) CheckPoint(pair.Reference, pair.Other, d, TestNetworks.SamplePoint(rng, box), everyTensor: k < 2000);
            }
        }
    }

    [Fact]
    public void DegenerateBoxGivesTheExactDifference()
    {
        var pair = TestNetworks.Random(7, [3, 6, 4, 2]);
        var x = new[] { 0.25, 0.5, 0.75 };
        var d = DifferentialBounds.Of(pair.Reference, pair.Other, new Box(x, x));
        var exact = WitnessChecker.Evaluate(pair.Reference, pair.Other, Array.ConvertAll(x, v => (float)v)).Differences;
        for (var j = 0; j < exact.Length; j++)
        {
            Assert.True(d.Tightest[j].Contains(exact[j]));
            // Only the rounding bands (a code may sit on a tie) and the paddings are left.
            Assert.True(d.Tightest[j].Width < 0.05, $"output {j}: {d.Tightest[j]}");
        }
    }

    [Fact]
    public void JointReluRuleIsExactWhenBothPhasesAreKnown()
    {
        var dz = new Interval(-0.1, 0.2);
        Assert.Equal(LinearRelaxation.Identity, DifferentialBounds.PairTerm(true, new(1, 2), new(0.5, 2), dz, 0));
        Assert.Equal(LinearRelaxation.Constant(Interval.Point(0)), DifferentialBounds.PairTerm(true, new(-2, -1), new(-3, -1), dz, 0));
        var open = DifferentialBounds.PairTerm(true, new(-1, 1), new(-1, 1), dz, 0).Over(dz);
        Assert.True(open.Lo <= -0.1 + 1e-9 && open.Lo >= -0.1 - 1e-6 && open.Hi >= 0.2 && open.Hi <= 0.2 + 1e-6, open.ToString());
        Assert.Equal(new Interval(0, 0), DifferentialBounds.Saturation(new(0, 1), 0, 2));
        Assert.Equal(new Interval(0, 0.5), DifferentialBounds.Saturation(new(0, 2.5), 0, 2));
    }

    public static TheoryData<string> MnistNetworks => new() { "mnist-net_256x2", "mnist-net_256x4", "mnist-net_256x6" };

    [Trait("Speed", "Slow")]
    [Theory]
    [MemberData(nameof(MnistNetworks))]
    public void MnistTwinsAreBoundedSoundlyAndMuchTighterThanNaive(string name)
    {
        var (n, q) = OnnxImporter.LoadPair(TestData.Bench($"mnistfc/{name}.onnx"), TestData.Bench($"pytorch/{name}.qnnpack-qdq.onnx"), Runtime.Onnx);
        var rows = Csv.ReadRows(TestData.Bench("pytorch/inputs.csv"), n.InputSize);
        // The 0.03 box is dominated by rounding errors that really are independent per neuron (Q's hidden scale is
        // about 0.16, so each rounding is worth ±0.08 there): the gain is smaller than on small balls.
        var boxes = new List<(string Name, Box Box, double Ratio)>
        {
            ("prop_0_0.03", VnnLib.ParseBox(TestData.Bench("mnistfc/prop_0_0.03.vnnlib")).Box, 0.6),
            ("row0 ±0.002", Ball(rows[0], 0.002), 0.25),
            ("row1 ±0.01", Ball(rows[1], 0.01), 0.25),
        };
        var rng = new Random(name.Length);
        foreach (var (label, box, ratio) in boxes)
        {
            var clock = Stopwatch.StartNew();
            var d = DifferentialBounds.Of(n, q, box);
            var seconds = clock.Elapsed.TotalSeconds;
            double naive = Width(d.Naive), interval = Width(d.IntervalDifferential), symbolic = Width(d.SymbolicDifferential), tightest = Width(d.Tightest);
            // Every tensor at 100 points, the outputs at 2 000 in all (the evaluations dominate the time).
            var observed = 0.0;
            for (var k = 0; k < 2_000; k++)
                observed = Math.Max(observed, CheckPoint(n, q, d, TestNetworks.SamplePoint(rng, box), everyTensor: k < 100));
            output.WriteLine($"{name} {label}: average width naive {naive:G4}, interval-differential {interval:G4}, " +
                $"symbolic-differential {symbolic:G4}, tightest {tightest:G4}; max |N−Q| seen {observed:G4}; {seconds:F2} s");
            AssertNeverLooserThanNaive(d);
            Assert.True(tightest < ratio * naive, $"{label}: tightest {tightest} vs naive {naive}");
        }
    }

    private static double Width(IReadOnlyList<Interval> bounds) => bounds.Average(b => b.Width);

    private static Box Ball(float[] center, double eps)
    {
        var ball = Box.LInfBall(Array.ConvertAll(center, v => (double)v), eps);
        return new Box(Array.ConvertAll(ball.Lo, v => Math.Max(v, 0)), Array.ConvertAll(ball.Hi, v => Math.Min(v, 1)));
    }

    private static void AssertNeverLooserThanNaive(GraphDifference d)
    {
        for (var j = 0; j < d.Naive.Length; j++)
            Assert.True(d.Tightest[j].Lo >= d.Naive[j].Lo && d.Tightest[j].Hi <= d.Naive[j].Hi, $"output {j}: {d.Tightest[j]} vs naive {d.Naive[j]}");
    }

    /// <summary>
    /// Checks the bounds at x against both networks' exact runtime arithmetic (Q's float32 dequantization included, as the
    /// bounds are): the output differences; with <paramref name="everyTensor"/> also every tensor of both networks and
    /// every aligned hidden difference. Returns max_j |R_j − O_j| there.
    /// </summary>
    private static double CheckPoint(QEquiv.Model.Network n, QEquiv.Model.Network q, GraphDifference d, float[] x, bool everyTensor)
    {
        var runtime = WitnessChecker.Evaluate(n, q, x).Differences;
        for (var j = 0; j < runtime.Length; j++)
        {
            Assert.True(d.IntervalDifferential[j].Contains(runtime[j]), $"output {j}: {runtime[j]} not in interval-differential {d.IntervalDifferential[j]}");
            Assert.True(d.SymbolicDifferential[j].Contains(runtime[j]), $"output {j}: {runtime[j]} not in symbolic-differential {d.SymbolicDifferential[j]}");
            Assert.True(d.Tightest[j].Contains(runtime[j]), $"output {j}: {runtime[j]} not in {d.Tightest[j]}");
        }
        if (!everyTensor) return runtime.Max(Math.Abs);
        var input = Array.ConvertAll(x, v => (double)v);
        var tn = n.Trace(input);
        var tq = q.Trace(input);
        for (var k = 0; k < n.Nodes.Count; k++)
            for (var i = 0; i < tn[k + 1].Length; i++)
                Assert.True(d.Reference.Nodes[k].Output[i].Contains(tn[k + 1][i]), $"reference node {k} value {i}: {tn[k + 1][i]} not in {d.Reference.Nodes[k].Output[i]}");
        for (var k = 0; k < q.Nodes.Count; k++)
            for (var i = 0; i < tq[k + 1].Length; i++)
                Assert.True(d.Other.Nodes[k].Output[i].Contains(tq[k + 1][i]), $"other node {k} value {i}: {tq[k + 1][i]} not in {d.Other.Nodes[k].Output[i]}");
        foreach (var a in d.Hidden)
            for (var i = 0; i < a.Delta.Length; i++)
            {
                var delta = tn[a.Reference + 1][i] - (a.Scale[i] * tq[a.Other + 1][i] + a.Offset[i]);
                Assert.True(a.Delta[i].Contains(delta), $"aligned {a.Reference}/{a.Other} value {i}: Δ {delta} not in {a.Delta[i]}");
            }
        return runtime.Max(Math.Abs);
    }
}
