using System.CommandLine;
using System.Globalization;
using QEquiv.Model;
using QEquiv.Onnx;
using QEquiv.Quantization;
using Spectre.Console;

namespace QEquiv.Cli.Commands;

/// <summary>`qequiv inspect`: what QEquiv understood a model to be.</summary>
internal static class InspectCommand
{
    public static Command Create()
    {
        var model = new Argument<string>("MODEL") { Description = "an ONNX model, float or quantized" };
        var json = JsonOutput.Option("the operators with their shapes, quantization parameters and ranges");
        var quiet = VerifyCommand.QuietOption();
        var command = new Command("inspect", "Show the operators, shapes, quantization parameters and weight ranges of a model") { model, json, quiet };
        command.SetAction(parse =>
        {
            var jsonPath = new OutputPaths().File(parse.GetValue(json), "--json", stdoutAllowed: true);
            using var jsonOut = new JsonOutput(jsonPath);
            var network = OnnxImporter.Load(parse.GetValue(model)!);
            // With --json - the table moves to standard error, which --quiet keeps for errors only.
            if (!(parse.GetValue(quiet) && OutputPaths.IsStdout(jsonPath))) Show(network);
            jsonOut.Write(ToJson(network));
            return Cli.Ok;
        });
        return command;
    }

    /// <summary>The operator graph as JSON: one record per operator with what <see cref="Show"/> prints.</summary>
    private static string ToJson(Network n) => CliJson.Serialize(new
    {
        source = n.Source,
        kind = n.IsQuantized ? "quantized" : "float",
        input = n.InputName,
        inputShape = n.InputShape,
        inputSize = n.InputSize,
        outputSize = n.OutputSize,
        runtime = n.Runtime?.ToString().ToLowerInvariant(),
        fingerprint = n.Fingerprint,
        operators = n.Nodes.Select((node, k) => node.Operator switch
        {
            Affine a => (object)new { index = k, op = "Affine", inputSize = a.InputSize, outputSize = a.OutputSize,
                sparse = !a.Matrix.IsDense, storedWeights = a.Matrix.Count,
                weightsMin = Min(a.Weights), weightsMax = Max(a.Weights), biasMin = Min(a.Bias), biasMax = Max(a.Bias) },
            IntegerLinear l => new { index = k, op = "IntegerLinear", inputSize = l.InputSize, outputSize = l.OutputSize,
                input = l.Input.ToString(), weightType = l.WeightType.ToString().ToLowerInvariant(), weightScales = l.WeightScales.ToArray(),
                weightCodesMin = Min(l.Weights), weightCodesMax = Max(l.Weights), biasMin = Min(l.Bias), biasMax = Max(l.Bias) },
            Requantize r => new { index = k, op = "Requantize", size = r.OutputSize, output = r.Output.ToString() },
            Quantize q => new { index = k, op = "QuantizeLinear", size = q.OutputSize, output = q.Output.ToString() },
            Dequantize d => new { index = k, op = "DequantizeLinear", size = d.OutputSize, input = d.Input.ToString() },
            Clamp c => new { index = k, op = "Clamp", size = c.OutputSize, lower = c.Lower, upper = c.Upper },
            FloatRound r => new { index = k, op = "FloatRound", size = r.OutputSize, format = r.Format.Name() },
            Elementwise e => new { index = k, op = e.Kind.ToString(), size = e.OutputSize, arithmetic = e.Arithmetic.ToString().ToLowerInvariant(),
                constantsMin = Min(e.Constants), constantsMax = Max(e.Constants) },
            var other => new { index = k, op = other.GetType().Name, size = other.OutputSize },
        }),
    });

    private static string F(double v) => v.ToString("G6", CultureInfo.InvariantCulture);

    /// <summary>The operator graph as imported: one row per operator, with what the analyses need to trust it.</summary>
    private static void Show(Network n)
    {
        var kind = n.IsQuantized ? "quantized" : "float";
        Cli.Out.WriteLine($"{n.Source}: {kind} network, input '{n.InputName}' shape [{string.Join(",", n.InputShape)}] ({n.InputSize} values), {n.OutputSize} outputs, {n.Nodes.Count} operators");
        var t = new Table().AddColumns("#", "operator", "shape", "parameters", "weights", "bias");
        for (var k = 0; k < n.Nodes.Count; k++)
        {
            var op = n.Nodes[k].Operator;
            var shape = op.InputSize == op.OutputSize ? $"{op.OutputSize}" : $"{op.InputSize}→{op.OutputSize}";
            switch (op)
            {
                case Affine a:
                    // A sparse map's range is of its stored weights (a convolution's kernel taps), not of the zeros between them.
                    AddText(t, $"{k}", "Affine", shape, a.Matrix.IsDense ? "" : $"sparse: {a.Matrix.Count} weights stored",
                        $"[{F(Min(a.Weights))}, {F(Max(a.Weights))}]", $"[{F(Min(a.Bias))}, {F(Max(a.Bias))}]");
                    break;
                case IntegerLinear l:
                    var scales = l.WeightScales.ToArray();
                    var perChannel = scales.Distinct().Count() > 1 || l.WeightZeroPoints.ToArray().Distinct().Count() > 1;
                    var scale = perChannel ? $"per-channel scale {F(scales.Min())}…{F(scales.Max())}" : $"weight scale {F(scales[0])}";
                    AddText(t, $"{k}", "IntegerLinear", shape, $"input {l.Input}; {l.WeightType.ToString().ToLowerInvariant()} weights, {scale}",
                        $"[{Min(l.Weights)}, {Max(l.Weights)}]", $"[{Min(l.Bias)}, {Max(l.Bias)}] (int32)");
                    break;
                case Requantize r:
                    AddText(t, $"{k}", "Requantize", shape, $"output {r.Output}", "", "");
                    break;
                case Quantize q:
                    AddText(t, $"{k}", "QuantizeLinear", shape, q.Output.ToString(), "", "");
                    break;
                case Dequantize d:
                    AddText(t, $"{k}", "DequantizeLinear", shape, d.Input.ToString(), "", "");
                    break;
                case Clamp c:
                    AddText(t, $"{k}", "Clamp", shape, $"[{c.Lower}, {c.Upper}]" + (k > 0 && n.Nodes[k - 1].Operator is Requantize rq && c.Lower == rq.Output.ZeroPoint ? ": ReLU, max(q, zp)" : ""), "", "");
                    break;
                case FloatRound r:
                    AddText(t, $"{k}", "FloatRound", shape, $"to {r.Format.Name()} (nearest, ties to even), back to float", "", "");
                    break;
                case Elementwise e:
                    var c0 = e.Constants.ToArray();
                    AddText(t, $"{k}", e.Kind.ToString(), shape, $"{e.Arithmetic.ToString().ToLowerInvariant()}, constants [{F(c0.Min())}, {F(c0.Max())}]", "", "");
                    break;
                default:
                    AddText(t, $"{k}", op.GetType().Name, shape, op.Describe(), "", "");
                    break;
            }
        }
        Cli.Out.Write(t);
    }

    private static void AddText(Table t, params string[] cells) => t.AddRow(cells.Select(c => (Spectre.Console.Rendering.IRenderable)new Text(c)).ToArray());

    private static double Min(ReadOnlySpan<double> v) { var m = double.PositiveInfinity; foreach (var x in v) m = Math.Min(m, x); return m; }
    private static double Max(ReadOnlySpan<double> v) { var m = double.NegativeInfinity; foreach (var x in v) m = Math.Max(m, x); return m; }
    private static int Min(ReadOnlySpan<int> v) { var m = int.MaxValue; foreach (var x in v) m = Math.Min(m, x); return m; }
    private static int Max(ReadOnlySpan<int> v) { var m = int.MinValue; foreach (var x in v) m = Math.Max(m, x); return m; }
}
