using System.CommandLine;
using System.Globalization;
using QEquiv.Networks;
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
            var path = parse.GetValue(model)!;
            var (n, q) = OnnxImporter.Load(path);
            if (n is not null) Show(n); else Show(q!);
            return Cli.Ok;
        });
        return command;
    }

    private static string F(double v) => v.ToString("G6", CultureInfo.InvariantCulture);

    private static void Show(FloatNetwork n)
    {
        Cli.Out.WriteLine($"{n.Source}: float network, input shape [{string.Join(",", n.InputShape)}] ({n.InputSize} values), {n.OutputSize} outputs");
        var t = new Table().AddColumns("layer", "shape", "activation", "weights min", "weights max", "bias min", "bias max");
        for (var k = 0; k < n.Layers.Count; k++)
        {
            var l = n.Layers[k];
            AddText(t, $"{k}", $"{l.InputSize}→{l.OutputSize}", l.Activation.ToString(), F(Min(l.Weights)), F(Max(l.Weights)), F(Min(l.Bias)), F(Max(l.Bias)));
        }
        Cli.Out.Write(t);
    }

    private static void Show(QuantizedNetwork q)
    {
        Cli.Out.WriteLine($"{q.Source}: quantized network, input shape [{string.Join(",", q.InputShape)}] ({q.InputSize} values), {q.OutputSize} outputs");
        Cli.Out.WriteLine($"input quantization: {q.InputQuantization}");
        var t = new Table().AddColumns("stage", "kind", "shape", "weights", "weight scale", "weight codes", "bias (int32)", "output", "ReLU");
        for (var k = 0; k < q.Stages.Count; k++)
        {
            var s = q.Stages[k];
            if (s is QuantizedDense d)
            {
                var scales = d.WeightScales.ToArray();
                var scale = d.PerChannel ? $"per-channel {F(scales.Min())}…{F(scales.Max())}" : F(scales[0]);
                AddText(t, $"{k}", "linear", $"{d.InputSize}→{d.OutputSize}", d.WeightType.ToString().ToLowerInvariant(), scale,
                    $"[{Min(d.Weights)}, {Max(d.Weights)}]", $"[{Min(d.Bias)}, {Max(d.Bias)}]", d.Output.ToString(), d.Relu ? "max(q, zp)" : "");
            }
            else if (s is Requantize r)
            {
                AddText(t, $"{k}", r.HasBias ? "requantize + float bias" : "requantize", $"{r.InputSize}", "", "", "", "", r.Output.ToString(), r.Relu ? "yes" : "");
            }
        }
        Cli.Out.Write(t);
        if (q.OutputBias is { } b) Cli.Out.WriteLine($"float output bias after dequantization: [{F(b.Min())}, {F(b.Max())}]");
    }

    private static void AddText(Table t, params string[] cells) => t.AddRow(cells.Select(c => (Spectre.Console.Rendering.IRenderable)new Text(c)).ToArray());

    private static double Min(ReadOnlySpan<double> v) { var m = double.PositiveInfinity; foreach (var x in v) m = Math.Min(m, x); return m; }
    private static double Max(ReadOnlySpan<double> v) { var m = double.NegativeInfinity; foreach (var x in v) m = Math.Max(m, x); return m; }
    private static int Min(ReadOnlySpan<int> v) { var m = int.MaxValue; foreach (var x in v) m = Math.Min(m, x); return m; }
    private static int Max(ReadOnlySpan<int> v) { var m = int.MinValue; foreach (var x in v) m = Math.Max(m, x); return m; }
}
