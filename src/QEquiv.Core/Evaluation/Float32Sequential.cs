using QEquiv.Model;

namespace QEquiv.Evaluation;

/// <summary>
/// A network in float32 as a straightforward runtime computes it: each real-arithmetic operator in float32 weights,
/// products and sums, summed in index order and then the bias added; operators that already follow the runtime's
/// arithmetic (codes, the float32 steps of a quantized graph) exactly as <see cref="Network.Evaluate(ReadOnlySpan{double})"/>
/// computes them. A runtime's blocked or FMA kernels may differ from this in the last bits; every such order lies
/// within <see cref="Float32Error.AtPoint(Network, ReadOnlySpan{float}, bool[])"/> of the exact value. For reports.
/// </summary>
public static class Float32Sequential
{
    public static float[] Evaluate(Network network, ReadOnlySpan<float> input)
    {
        if (input.Length != network.InputSize)
            throw new ArgumentException($"input has {input.Length} values, the network takes {network.InputSize}");
        var x = new double[input.Length];
        for (var i = 0; i < x.Length; i++) x[i] = input[i];
        foreach (var node in network.Nodes) x = node.Operator.Accept(new Step(x));
        return Array.ConvertAll(x, v => (float)v);
    }

    /// <summary>One operator on the values <paramref name="x"/> (float32 values, or codes, held in doubles).</summary>
    private sealed class Step(double[] x) : IOperatorVisitor<double[]>
    {
        public double[] Affine(Affine op)
        {
            var y = new double[op.OutputSize];
            var bias = op.Bias;
            for (var o = 0; o < y.Length; o++)
            {
                var row = op.Row(o);
                var s = 0f;
                for (var t = 0; t < row.Length; t++) s += (float)row.Values[t] * (float)x[row.Columns[t]];
                s += (float)bias[o];
                y[o] = s;
            }
            return y;
        }

        public double[] Elementwise(Elementwise op)
        {
            if (op.Arithmetic == Arithmetic.Float32) return Exact(op);
            var c = op.Constants;
            var y = new double[x.Length];
            for (var i = 0; i < y.Length; i++)
            {
                float a = (float)x[i], b = (float)c[i];
                y[i] = op.Kind switch { ElementwiseKind.Add => a + b, ElementwiseKind.Sub => a - b, ElementwiseKind.Mul => a * b, _ => a / b };
            }
            return y;
        }

        public double[] Relu(Relu op) => Exact(op);
        public double[] Clamp(Clamp op) => Exact(op);
        public double[] Quantize(Quantize op) => Exact(op);
        public double[] Dequantize(Dequantize op) => Exact(op);
        public double[] IntegerLinear(IntegerLinear op) => Exact(op);
        public double[] Requantize(Requantize op) => Exact(op);
        public double[] Reshape(Reshape op) => x;
        // The runtime's Cast pair rounds the float32 value it holds: the same rounding of the same value.
        public double[] FloatRound(FloatRound op) => Exact(op);

        private double[] Exact(Operator op)
        {
            var y = new double[op.OutputSize];
            op.Evaluate(x, y);
            return y;
        }
    }
}
