using System.Globalization;
using QEquiv.Model;

namespace QEquiv.Nnet;

/// <summary>Which function of an NNet file the network computes.</summary>
public enum NnetUnits
{
    /// <summary>The weights alone, on normalised inputs and outputs: what the VNN-COMP ONNX conversions of the ACAS Xu
    /// networks compute (their property boxes are in these units).</summary>
    Normalised,
    /// <summary>nnet.c's evaluation in raw units: (x − mean) / range in front, y · range + mean behind (the header's last
    /// mean and range entries), without its clipping of x to [min, max], which a region does instead.</summary>
    Raw,
}

/// <summary>
/// Reads the NNet text format (Kyle Julian, Stanford 2016) into the network model: "//" comment lines, then the counts
/// (layers, inputs, outputs, largest layer), the layer sizes, an unused flag, the inputs' minima and maxima, the means and
/// ranges (one per input and one for the outputs), then per layer its weight rows and one bias per line. Every hidden
/// layer is followed by a ReLU, the last one by nothing. Arithmetic is real, as for every float network.
/// </summary>
public static class NnetReader
{
    /// <summary>An NNet file by its name: <c>.nnet</c>, or <c>.nnet.gz</c> compressed.</summary>
    public static bool IsNnet(string path) => Data.Gzip.ContentName(path).EndsWith(".nnet", StringComparison.OrdinalIgnoreCase);

    /// <summary>A file's network (gzip-compressed or not).</summary>
    public static Network Read(string path, NnetUnits units = NnetUnits.Normalised) => Parse(path, Data.TextFile.ReadAllLines(path), units);

    public static Network Parse(string path, IReadOnlyList<string> text, NnetUnits units = NnetUnits.Normalised)
    {
        var lines = new Lines(path, text);
        int Count(double v, string what) =>
            v >= 1 && v <= 1 << 24 && v == Math.Floor(v) ? (int)v : throw lines.Error($"{what} must be a whole number ≥ 1, got {v}");
        var counts = lines.Numbers(4, "the counts (layers, inputs, outputs, largest layer)");
        var (layers, inputs, outputs) = (Count(counts[0], "layers"), Count(counts[1], "inputs"), Count(counts[2], "outputs"));
        var sizes = Array.ConvertAll(lines.Numbers(layers + 1, $"the {layers + 1} layer sizes"), v => Count(v, "a layer size"));
        if (sizes[0] != inputs) throw lines.Error($"the first layer size {sizes[0]} is not the input count {inputs}");
        if (sizes[^1] != outputs) throw lines.Error($"the last layer size {sizes[^1]} is not the output count {outputs}");
        lines.Numbers(1, "the flag line");
        // At least one entry per input; more are ignored (NeuroDiff's and ReluVal's ACAS Xu files list all 7 ACAS inputs for
        // networks of 5), and the outputs' mean and range are the lines' last entries.
        var min = lines.Numbers(inputs, $"the {inputs} input minima", atLeast: true)[..inputs];
        var max = lines.Numbers(inputs, $"the {inputs} input maxima", atLeast: true)[..inputs];
        var mean = Header(lines.Numbers(inputs + 1, $"the {inputs + 1} means (inputs, then outputs)", atLeast: true), inputs);
        var range = Header(lines.Numbers(inputs + 1, $"the {inputs + 1} ranges (inputs, then outputs)", atLeast: true), inputs);
        for (var i = 0; i < inputs; i++)
            if (min[i] > max[i]) throw lines.Error($"input {i}: minimum {min[i]} above maximum {max[i]}");
        if (units == NnetUnits.Raw && range.Any(r => r == 0)) throw lines.Error("a range is 0: the raw units cannot be normalised");

        var ops = new List<Operator>();
        if (units == NnetUnits.Raw)
        {
            ops.Add(new Elementwise(ElementwiseKind.Sub, mean[..inputs], Arithmetic.Real));
            ops.Add(new Elementwise(ElementwiseKind.Div, range[..inputs], Arithmetic.Real));
        }
        for (var k = 0; k < layers; k++)
        {
            int m = sizes[k], n = sizes[k + 1];
            var w = new double[n * m];
            for (var j = 0; j < n; j++) lines.Numbers(m, $"layer {k + 1}: weight row {j + 1} of {n} ({m} values)").CopyTo(w, j * m);
            var b = new double[n];
            for (var j = 0; j < n; j++) b[j] = lines.Numbers(1, $"layer {k + 1}: bias {j + 1} of {n}")[0];
            ops.Add(new Affine(m, n, w, b));
            if (k + 1 < layers) ops.Add(new Relu(n));
        }
        if (lines.NextData() is { } extra) throw lines.Error($"unexpected data after the last layer: \"{Trim(extra)}\"");
        if (units == NnetUnits.Raw)
        {
            ops.Add(new Elementwise(ElementwiseKind.Mul, Enumerable.Repeat(range[inputs], outputs).ToArray(), Arithmetic.Real));
            ops.Add(new Elementwise(ElementwiseKind.Add, Enumerable.Repeat(mean[inputs], outputs).ToArray(), Arithmetic.Real));
        }
        return Network.Chain(path, [inputs], "input", ops, "output");
    }

    /// <summary>The inputs' entries, then the outputs' (the line's last).</summary>
    private static double[] Header(double[] line, int inputs) => [.. line[..inputs], line[^1]];

    private static string Trim(string s) => s.Length > 40 ? s[..40] + "…" : s;

    /// <summary>The data lines in order, skipping comments and blank lines; errors name the file and the line.</summary>
    private sealed class Lines(string path, IReadOnlyList<string> text)
    {
        private int _next;
        private int _line;

        public string? NextData()
        {
            while (_next < text.Count)
            {
                var s = text[_next++].Trim();
                if (s.Length == 0 || s.StartsWith("//", StringComparison.Ordinal)) continue;
                _line = _next;
                return s;
            }
            _line = text.Count;
            return null;
        }

        public double[] Numbers(int count, string what, bool atLeast = false)
        {
            var s = NextData() ?? throw BadInputException.For(path, $"ends before {what}");
            var cells = s.Split(',', StringSplitOptions.TrimEntries);
            var n = cells.Length > 0 && cells[^1].Length == 0 ? cells.Length - 1 : cells.Length;
            if (n != count && !(atLeast && n > count)) throw Error($"expected {what}, found {n} value{(n == 1 ? "" : "s")}");
            var v = new double[n];
            for (var i = 0; i < n; i++)
                if (!double.TryParse(cells[i], NumberStyles.Float, CultureInfo.InvariantCulture, out v[i]) || !double.IsFinite(v[i]))
                    throw Error($"value {i + 1} of {what} is not a finite number: \"{Trim(cells[i])}\"");
            return v;
        }

        public BadInputException Error(string problem) => BadInputException.For(path, $"line {_line}: {problem}");
    }
}
