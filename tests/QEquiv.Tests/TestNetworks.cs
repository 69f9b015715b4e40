using QEquiv.Evaluation;
using QEquiv.Networks;
using QEquiv.Quantization;
using QEquiv.Regions;

namespace QEquiv.Tests;

/// <summary>Seeded random float networks with post-training-quantized twins built like PyTorch would.</summary>
internal static class TestNetworks
{
    internal sealed record Pair(FloatNetwork Float, QuantizedNetwork Quantized)
    {
        /// <summary>The same two networks as operator graphs (what every analysis takes).</summary>
        public QEquiv.Model.Network Reference { get; } = QEquiv.Networks.Layering.ToGraph(Float);
        public QEquiv.Model.Network Other { get; } = QEquiv.Networks.Layering.ToGraph(Quantized);
    }

    /// <param name="sizes">Layer widths, input first, e.g. [3, 5, 4, 2].</param>
    /// <param name="withRequantize">Insert an element-wise Requantize stage (scale change) after the first layer.</param>
    /// <param name="signedInput">Quantize the input as int8 with a non-zero zero point instead of uint8/0.</param>
    public static Pair Random(int seed, int[] sizes, bool withRequantize = false, bool signedInput = false,
        bool outputBias = false)
    {
        var rng = new Random(seed);
        var layers = new List<DenseLayer>();
        for (var l = 0; l + 1 < sizes.Length; l++)
        {
            int nin = sizes[l], nout = sizes[l + 1];
            var w = new double[nin * nout];
            for (var k = 0; k < w.Length; k++) w[k] = Gaussian(rng) * 1.5 / Math.Sqrt(nin);
            var b = new double[nout];
            for (var k = 0; k < b.Length; k++) b[k] = Gaussian(rng) * 0.2;
            var last = l + 2 == sizes.Length;
            layers.Add(new DenseLayer(nin, nout, w, b, last ? Activation.None : Activation.Relu));
        }
        var net = new FloatNetwork($"random-{seed}", [1, sizes[0]], layers);

        // Calibrate activation ranges on inputs from [0, 1], like post-training quantization does.
        var samples = Enumerable.Range(0, 300).Select(_ => Enumerable.Range(0, sizes[0]).Select(_ => rng.NextDouble()).ToArray()).ToArray();
        var input = signedInput ? new QuantParams(1f / 200, -100, QuantType.Int8) : new QuantParams(1f / 255, 0, QuantType.UInt8);
        var stages = new List<QuantizedStage>();
        var q = input;
        var acts = samples;
        for (var l = 0; l < layers.Count; l++)
        {
            var layer = layers[l];
            acts = acts.Select(a => FloatEvaluator.Apply(layer, a)).ToArray();
            double min = Math.Min(0, acts.Min(a => a.Min())), max = Math.Max(0, acts.Max(a => a.Max()));
            var outScale = (float)((max - min) / 255 * 1.1);
            var outZp = (int)Math.Round(-min / outScale);
            var output = new QuantParams(outScale, Math.Clamp(outZp, 0, 255), QuantType.UInt8);
            var wq = new int[layer.InputSize * layer.OutputSize];
            var ws = new float[layer.OutputSize];
            var wz = new int[layer.OutputSize];
            var bq = new int[layer.OutputSize];
            for (var o = 0; o < layer.OutputSize; o++)
            {
                var row = layer.Row(o);
                var maxAbs = 0.0;
                foreach (var v in row) maxAbs = Math.Max(maxAbs, Math.Abs(v));
                ws[o] = (float)(maxAbs / 127);
                for (var i = 0; i < row.Length; i++) wq[o * layer.InputSize + i] = Math.Clamp((int)Math.Round(row[i] / ws[o]), -127, 127);
                bq[o] = (int)Math.Round(layer.Bias[o] / ((double)q.Scale * ws[o]));
            }
            stages.Add(new QuantizedDense(layer.InputSize, layer.OutputSize, q, wq, QuantType.Int8, ws, wz, bq, output,
                layer.Activation == Activation.Relu));
            q = output;
            if (withRequantize && l == 0)
            {
                var rq = new QuantParams(q.Scale * 1.37f, q.ZeroPoint, QuantType.UInt8);
                stages.Add(new Requantize(layer.OutputSize, q, null, relu: true, rq));
                q = rq;
            }
        }
        float[]? ob = null;
        if (outputBias)
            ob = Enumerable.Range(0, sizes[^1]).Select(_ => (float)(Gaussian(rng) * 0.05)).ToArray();
        var qnet = new QuantizedNetwork($"random-{seed}-q", [1, sizes[0]], sizes[0], input, stages, ob);
        return new Pair(net, qnet);
    }

    public static Box RandomBox(Random rng, int n, double maxRadius = 0.25, double lo = -0.1, double hi = 1.1)
    {
        var l = new double[n];
        var h = new double[n];
        for (var i = 0; i < n; i++)
        {
            var c = lo + rng.NextDouble() * (hi - lo);
            var r = rng.NextDouble() * maxRadius;
            l[i] = c - r;
            h[i] = c + r;
        }
        return new Box(l, h);
    }

    /// <summary>A float32 point of the box (the runtime receives float32 inputs).</summary>
    public static float[] SamplePoint(Random rng, Box box)
    {
        var x = new float[box.Dimension];
        for (var i = 0; i < x.Length; i++)
        {
            // Corners are where extreme values live; sample them often.
            var u = rng.NextDouble();
            var t = u < 0.15 ? 0 : u > 0.85 ? 1 : rng.NextDouble();
            x[i] = (float)(box.Lo[i] + t * (box.Hi[i] - box.Lo[i]));
        }
        return x;
    }

    private static double Gaussian(Random rng) =>
        Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
}
