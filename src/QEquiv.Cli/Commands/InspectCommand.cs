using System.CommandLine;
using System.Globalization;
using QEquiv.Model;
using QEquiv.Onnx;
using Spectre.Console;

namespace QEquiv.Cli.Commands;

/// <summary>`qequiv inspect`: what QEquiv understood a model to be.</summary>
internal static class InspectCommand
{
    public static Command Create()
    {
        var model = new Argument<string>("MODEL") { Description = "an ONNX model, float or quantized" };
        var command = new Command("inspect", "Show the layers, shapes, quantization parameters and weight ranges of a model") { model };
        command.SetAction(parse =>
        {
            Show(OnnxImporter.Load(parse.GetValue(model)!));
            return Cli.Ok;
        });
        return command;
    }

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
                    AddText(t, $"{k}", "Affine", shape, "", $"[{F(Min(a.Weights))}, {F(Max(a.Weights))}]", $"[{F(Min(a.Bias))}, {F(Max(a.Bias))}]");
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
