using System.CommandLine;
using System.Globalization;
using QEquiv.Data;
using QEquiv.Networks;
using QEquiv.Onnx;
using QEquiv.Quantization;
using QEquiv.Quantizer;
using Spectre.Console;

namespace QEquiv.Cli.Commands;

/// <summary>
/// `qequiv quantize`: PyTorch-style post-training static quantization of a float model into a QDQ ONNX file (`--to int8`,
/// the default), or rounding its weights and biases (and with `--round-activations` its tensors) to float16 / bfloat16.
/// </summary>
internal static class QuantizeCommand
{
    public static Command Create()
    {
        var model = new Argument<string>("FLOAT") { Description = "the float ONNX model (an MLP of Gemm/MatMul/Add and Relu)" };
        var to = new Option<string>("--to") { Description = "int8: PyTorch's post-training static quantization (QDQ); float16 / bfloat16: weights and biases rounded to that format (nearest, ties to even), computed in float32", DefaultValueFactory = _ => "int8" };
        to.AcceptOnlyFromAmong("int8", "float16", "bfloat16");
        var roundActivations = new Option<bool>("--round-activations") { Description = "with --to float16|bfloat16: also round the input and every layer's output to that format (tensors stored in 16 bits)" };
        var calibration = new Option<string>("--calibration") { Description = "CSV of calibration inputs, one per row (needed by --to int8; with float16/bfloat16 only for the |N - N16| report)" };
        var output = new Option<string>("--out") { Description = "where to write the quantized ONNX model", Required = true };
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
        var command = new Command("quantize", "Quantize a float model as PyTorch's post-training static quantization does and write it as QDQ ONNX, or round it to float16 / bfloat16") { model };
        foreach (var o in new Option[] { to, roundActivations, calibration, output, observer, perChannel, activations, reduceRange, skip, divide, batch, json, quiet }) command.Options.Add(o);
        command.SetAction(parse =>
        {
            var format = parse.GetValue(to) switch { "float16" => FloatFormat.Float16, "bfloat16" => FloatFormat.BFloat16, _ => (FloatFormat?)null };
            // Every flag that belongs to the other kind of quantization is refused, before anything is read.
            if (format is null && parse.GetResult(roundActivations) is { Implicit: false })
                throw new BadInputException("--round-activations: applies to --to float16 or bfloat16, not to int8");
            if (format is not null)
                foreach (var o in new Option[] { observer, perChannel, activations, reduceRange, batch })
                    if (parse.GetResult(o) is { Implicit: false }) throw new BadInputException($"{o.Name}: applies to --to int8, not to {format.Value.Name()}");
            var calibrationPath = parse.GetValue(calibration);
            if (format is null && calibrationPath is null) throw new BadInputException("--calibration: required by --to int8 (the observers calibrate on it)");
            var outputs = new OutputPaths();
            var outPath = outputs.File(parse.GetValue(output), "--out")!;
            var jsonPath = outputs.File(parse.GetValue(json), "--json", stdoutAllowed: true);
            var (skipColumns, divisor, batchSize) = (parse.GetValue(skip), parse.GetValue(divide), parse.GetValue(batch));
            if (skipColumns < 0) throw new BadInputException($"--skip-columns must be ≥ 0, got {skipColumns}");
            if (!(divisor > 0) || !float.IsFinite(divisor)) throw new BadInputException($"--divide-by must be a finite number > 0, got {divisor}");
            if (batchSize < 0) throw new BadInputException($"--batch-size must be ≥ 0, got {batchSize}");
            using var jsonOut = new JsonOutput(jsonPath);
            var modelPath = parse.GetValue(model)!;
            var graph = OnnxImporter.Load(modelPath);
            // A convolutional network has no dense layered view: float16 / bfloat16 rounds its graph's initializers instead.
            var convolutional = !graph.IsQuantized && graph.Operators.Any(o => o is Model.Affine { Matrix.IsDense: false });
            if (convolutional && format is null)
                throw BadInputException.For(modelPath, "--to int8 of a convolutional network is not supported yet (float16 / bfloat16 are)");
            if (convolutional && parse.GetValue(roundActivations))
                throw BadInputException.For(modelPath, "--round-activations of a convolutional network is not supported yet (its weights and biases are)");
            var n = convolutional ? null : OnnxImporter.LoadFloat(modelPath);
            var inputSize = graph.InputSize;
            List<float[]> inputs = [];
            if (calibrationPath is not null)
            {
                var rows = Csv.ReadRows(calibrationPath);
                if (rows[0].Length != inputSize + skipColumns)
                    throw BadInputException.For(calibrationPath,
                        $"rows have {rows[0].Length} values; the model takes {inputSize}" + (skipColumns > 0 ? $" after {skipColumns} skipped column(s)" : ""));
                inputs = rows.Select(r => r[skipColumns..].Select(v => v / divisor).ToArray()).ToList();
            }
            if (format is { } f)
            {
                if (n is null) RoundGraph(modelPath, graph, f, inputs, outPath, jsonOut);
                else RoundTo(n, f, parse.GetValue(roundActivations), inputs, outPath, jsonOut);
                return Cli.Ok;
            }
            var options = new QuantizerOptions(
                parse.GetValue(observer) == "minmax" ? ObserverKind.MinMax : ObserverKind.Histogram,
                parse.GetValue(perChannel),
                parse.GetValue(activations) == "int8" ? QuantType.Int8 : QuantType.UInt8,
                parse.GetValue(reduceRange),
                batchSize);
            var result = PostTrainingQuantizer.Quantize(n!, inputs, options);
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

    /// <summary>
    /// --to float16 / bfloat16: rounds, writes the file, and reports what rounding changed and (with calibration rows) the
    /// largest |N − N16| on them, both networks evaluated exactly as QEquiv models them (real arithmetic, exact roundings).
    /// </summary>
    private static void RoundTo(FloatNetwork n, FloatFormat format, bool activations, List<float[]> inputs, string outPath, JsonOutput jsonOut)
    {
        var r = HalfPrecision.Round(n, format, activations);
        AtomicFile.Write(outPath, HalfPrecisionExporter.ToBytes(r.Rounded.Layered, format, activations));
        Report(Layering.ToGraph(n), r.Rounded.ToGraph(outPath), format, activations, r.Parameters, r.Changed, r.MaxAbsChange, r.MaxRelativeChange,
            r.Subnormal, inputs, outPath, jsonOut);
    }

    /// <summary>--to float16 / bfloat16 of a convolutional network: its graph with every float initializer rounded, read back as written.</summary>
    private static void RoundGraph(string modelPath, Model.Network reference, FloatFormat format, List<float[]> inputs, string outPath, JsonOutput jsonOut)
    {
        var tally = new ParameterRounding(format, modelPath);
        var bytes = HalfPrecisionExporter.RoundInitializers(modelPath, format, (values, what) => tally.Round(values, what));
        AtomicFile.Write(outPath, bytes);
        Report(reference, OnnxImporter.Load(outPath, bytes), format, false, tally.Parameters, tally.Changed, tally.MaxAbsChange,
            tally.MaxRelativeChange, tally.Subnormal, inputs, outPath, jsonOut);
    }

    private static void Report(Model.Network reference, Model.Network rounded, FloatFormat format, bool activations, int parameters, int changedCount,
        double maxAbsChange, double maxRelativeChange, int subnormalCount, List<float[]> inputs, string outPath, JsonOutput jsonOut)
    {
        var (worst, worstRow) = (0.0, -1);
        for (var row = 0; row < inputs.Count; row++)
        {
            var (a, b) = (reference.Evaluate(inputs[row]), rounded.Evaluate(inputs[row]));
            for (var j = 0; j < a.Length; j++)
                if (Math.Abs(a[j] - b[j]) > worst || worstRow < 0) (worst, worstRow) = (Math.Abs(a[j] - b[j]), row);
        }
        var what = activations ? $"weights, biases, the input and every layer's output" : "weights and biases";
        Cli.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"rounded {what} to {format.Name()} (nearest, ties to even): {changedCount} of {parameters} parameters changed, largest change {maxAbsChange:G6} (relative {maxRelativeChange:G3}), {subnormalCount} became subnormal or zero"));
        if (inputs.Count > 0)
            Cli.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"largest |N - N_{format.Name()}| on the {inputs.Count} calibration rows: {worst:G9} (row {worstRow})"));
        Cli.Out.WriteLine($"wrote {outPath}");
        jsonOut.Write(CliJson.Serialize(new
        {
            output = outPath,
            format = format.Name(),
            roundActivations = activations,
            parameters,
            changed = changedCount,
            maxAbsChange,
            maxRelativeChange,
            subnormal = subnormalCount,
            calibrationRows = inputs.Count,
            maxCalibrationError = inputs.Count > 0 ? worst : (double?)null,
            worstRow = inputs.Count > 0 ? worstRow : (int?)null,
        }));
    }

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
