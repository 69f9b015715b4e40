using System.CommandLine;
using System.Globalization;
using QEquiv.Data;
using QEquiv.Onnx;
using QEquiv.Quantization;
using QEquiv.Quantizer;
using Spectre.Console;

namespace QEquiv.Cli.Commands;

/// <summary>`qequiv quantize`: PyTorch-style post-training static quantization of a float model into a QDQ ONNX file.</summary>
internal static class QuantizeCommand
{
    public static Command Create()
    {
        var model = new Argument<string>("FLOAT") { Description = "the float ONNX model (an MLP of Gemm/MatMul/Add and Relu)" };
        var calibration = new Option<string>("--calibration") { Description = "CSV of calibration inputs, one per row", Required = true };
        var output = new Option<string>("--out") { Description = "where to write the quantized QDQ ONNX model", Required = true };
        var observer = new Option<string>("--observer") { Description = "activation observer: histogram (PyTorch's qnnpack default) or minmax", DefaultValueFactory = _ => "histogram" };
        observer.AcceptOnlyFromAmong("histogram", "minmax");
        var perChannel = new Option<bool>("--per-channel") { Description = "per-output-channel symmetric int8 weights (default: one scale per layer)" };
        var activations = new Option<string>("--activations") { Description = "activation codes: uint8 (PyTorch's quint8) or int8", DefaultValueFactory = _ => "uint8" };
        activations.AcceptOnlyFromAmong("uint8", "int8");
        var reduceRange = new Option<bool>("--reduce-range") { Description = "7-bit activation range, as PyTorch's fbgemm qconfig" };
        var skip = new Option<int>("--skip-columns") { Description = "leading CSV columns that are not inputs (e.g. 1 for a label)", DefaultValueFactory = _ => 0 };
        var divide = new Option<float>("--divide-by") { Description = "divide every calibration value by this in float32 (e.g. 255 for pixels)", DefaultValueFactory = _ => 1f };
        var batch = new Option<int>("--batch-size") { Description = "calibration rows per observer call (0: all at once); only the histogram observer depends on it", DefaultValueFactory = _ => 0 };
        var json = JsonOutput.Option("per tensor the observed range, scale, zero point and clipped share, and the largest |N − Q| on the calibration rows");
        var quiet = VerifyCommand.QuietOption();
        var command = new Command("quantize", "Quantize a float model as PyTorch's post-training static quantization does and write it as QDQ ONNX") { model };
        foreach (var o in new Option[] { calibration, output, observer, perChannel, activations, reduceRange, skip, divide, batch, json, quiet }) command.Options.Add(o);
        command.SetAction(parse =>
        {
            var outputs = new OutputPaths();
            var outPath = outputs.File(parse.GetValue(output), "--out")!;
            var jsonPath = outputs.File(parse.GetValue(json), "--json", stdoutAllowed: true);
            var calibrationPath = parse.GetValue(calibration)!;
            var (skipColumns, divisor, batchSize) = (parse.GetValue(skip), parse.GetValue(divide), parse.GetValue(batch));
            if (skipColumns < 0) throw new BadInputException($"--skip-columns must be ≥ 0, got {skipColumns}");
            if (!(divisor > 0) || !float.IsFinite(divisor)) throw new BadInputException($"--divide-by must be a finite number > 0, got {divisor}");
            if (batchSize < 0) throw new BadInputException($"--batch-size must be ≥ 0, got {batchSize}");
            using var jsonOut = new JsonOutput(jsonPath);
            var n = OnnxImporter.LoadFloat(parse.GetValue(model)!);
            var rows = Csv.ReadRows(calibrationPath);
            if (rows[0].Length != n.InputSize + skipColumns)
                throw BadInputException.For(calibrationPath,
                    $"rows have {rows[0].Length} values; the model takes {n.InputSize}" + (skipColumns > 0 ? $" after {skipColumns} skipped column(s)" : ""));
            var inputs = rows.Select(r => r[skipColumns..].Select(v => v / divisor).ToArray()).ToList();
            var options = new QuantizerOptions(
                parse.GetValue(observer) == "minmax" ? ObserverKind.MinMax : ObserverKind.Histogram,
                parse.GetValue(perChannel),
                parse.GetValue(activations) == "int8" ? QuantType.Int8 : QuantType.UInt8,
                parse.GetValue(reduceRange),
                batchSize);
            var result = PostTrainingQuantizer.Quantize(n, inputs, options);
            AtomicFile.Write(outPath, QdqExporter.ToBytes(result.Network));
            Report(result, inputs.Count, outPath);
            jsonOut.Write(CliJson.Serialize(new
            {
                output = outPath,
                calibrationRows = inputs.Count,
                maxCalibrationError = result.MaxCalibrationError,
                worstRow = result.WorstRow,
                tensors = result.Tensors.Select(r => new
                {
                    name = r.Name, observedMin = r.ObservedMin, observedMax = r.ObservedMax, scale = r.Params.Scale, zeroPoint = r.Params.ZeroPoint,
                    type = r.Params.Type.ToString().ToLowerInvariant(), clippedShare = r.ClippedShare,
                    weightScaleMin = float.IsNaN(r.WeightScaleMin) ? (float?)null : r.WeightScaleMin, weightScaleMax = float.IsNaN(r.WeightScaleMax) ? (float?)null : r.WeightScaleMax,
                }),
            }));
            return Cli.Ok;
        });
        return command;
    }

    private static string F(double v) => v.ToString("G7", CultureInfo.InvariantCulture);

    private static void Report(QuantizationResult result, int rows, string outPath)
    {
        var t = new Table().AddColumns("tensor", "observed min", "observed max", "scale", "zero point", "type", "clipped", "weight scale");
        foreach (var r in result.Tensors)
        {
            var weights = float.IsNaN(r.WeightScaleMin) ? ""
                : r.WeightScaleMin == r.WeightScaleMax ? r.WeightScaleMin.ToString("R", CultureInfo.InvariantCulture)
                : $"{F(r.WeightScaleMin)}…{F(r.WeightScaleMax)}";
            t.AddRow(new[] { r.Name, F(r.ObservedMin), F(r.ObservedMax), r.Params.Scale.ToString("R", CultureInfo.InvariantCulture),
                    r.Params.ZeroPoint.ToString(CultureInfo.InvariantCulture), r.Params.Type.ToString().ToLowerInvariant(),
                    (r.ClippedShare * 100).ToString("0.###", CultureInfo.InvariantCulture) + " %", weights }
                .Select(c => (Spectre.Console.Rendering.IRenderable)new Text(c)).ToArray());
        }
        Cli.Out.Write(t);
        Cli.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"largest |N - Q| on the {rows} calibration rows: {result.MaxCalibrationError:G9} (row {result.WorstRow})"));
        Cli.Out.WriteLine($"wrote {outPath}");
    }
}
