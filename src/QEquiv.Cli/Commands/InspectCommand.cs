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
        var json = JsonOutput.Option("the layers or stages with their shapes, quantization parameters and ranges");
        var quiet = VerifyCommand.QuietOption();
        var command = new Command("inspect", "Show the layers, shapes, quantization parameters and weight ranges of a model") { model, json, quiet };
        command.SetAction(parse =>
        {
            var jsonPath = new OutputPaths().File(parse.GetValue(json), "--json", stdoutAllowed: true);
            using var jsonOut = new JsonOutput(jsonPath);
            var path = parse.GetValue(model)!;
            var (n, q) = OnnxImporter.Load(path);
            if (n is not null) Show(n); else Show(q!);
            jsonOut.Write(n is not null ? ToJson(n) : ToJson(q!));
            return Cli.Ok;
        });
        return command;
    }

    private static string ToJson(FloatNetwork n) => CliJson.Serialize(new
    {
        source = n.Source,
        kind = "float",
        inputShape = n.InputShape,
        inputSize = n.InputSize,
        outputSize = n.OutputSize,
        layers = n.Layers.Select((l, k) => new
        {
            layer = k, inputSize = l.InputSize, outputSize = l.OutputSize, activation = l.Activation.ToString().ToLowerInvariant(),
            weightsMin = Min(l.Weights), weightsMax = Max(l.Weights), biasMin = Min(l.Bias), biasMax = Max(l.Bias),
        }),
    });

    private static string ToJson(QuantizedNetwork q) => CliJson.Serialize(new
    {
        source = q.Source,
        kind = "quantized",
        inputShape = q.InputShape,
        inputSize = q.InputSize,
        outputSize = q.OutputSize,
        inputQuantization = q.InputQuantization.ToString(),
        stages = q.Stages.Select((s, k) => s switch
        {
            QuantizedDense d => (object)new
            {
                stage = k, kind = "linear", inputSize = d.InputSize, outputSize = d.OutputSize, weightType = d.WeightType.ToString().ToLowerInvariant(),
                perChannel = d.PerChannel, weightScales = d.WeightScales.ToArray(), weightCodesMin = Min(d.Weights), weightCodesMax = Max(d.Weights),
                biasMin = Min(d.Bias), biasMax = Max(d.Bias), output = d.Output.ToString(), relu = d.Relu,
            },
            Requantize r => new { stage = k, kind = "requantize", inputSize = r.InputSize, hasBias = r.HasBias, output = r.Output.ToString(), relu = r.Relu },
            _ => new { stage = k, kind = s.GetType().Name.ToLowerInvariant() },
        }),
        outputBias = q.OutputBias is { } b ? new[] { b.Min(), b.Max() } : null,
    });

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
