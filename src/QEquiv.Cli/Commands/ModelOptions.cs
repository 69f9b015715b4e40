using System.CommandLine;
using QEquiv.Networks;
using QEquiv.Onnx;
using QEquiv.Quantization;

namespace QEquiv.Cli.Commands;

/// <summary>The --float/--quant/--runtime options every command that compares two networks takes.</summary>
internal sealed class ModelOptions
{
    public Option<string> Float { get; } = new("--float") { Description = "the float (real-valued) ONNX model N", Required = true };
    public Option<string> Quant { get; } = new("--quant") { Description = "the quantized ONNX model Q (QDQ or QOperator form)", Required = true };
    public Option<Runtime> Runtime { get; } = new("--runtime")
    {
        Description = "whose arithmetic Q follows where they differ: onnx (the file as written; ONNX Runtime) or pytorch (PyTorch's kernels, which round the bias the exporter truncates)",
        DefaultValueFactory = _ => Quantization.Runtime.Onnx,
    };

    public void AddTo(Command command)
    {
        command.Options.Add(Float);
        command.Options.Add(Quant);
        command.Options.Add(Runtime);
    }

    public (FloatNetwork N, QuantizedNetwork Q) Load(ParseResult parse)
    {
        var floatPath = parse.GetValue(Float)!;
        var quantPath = parse.GetValue(Quant)!;
        var n = OnnxImporter.LoadFloat(floatPath);
        var q = OnnxImporter.LoadQuantized(quantPath);
        if (n.InputSize != q.InputSize)
            throw BadInputException.For(quantPath, $"takes {q.InputSize} inputs but the float model {floatPath} takes {n.InputSize}");
        if (n.OutputSize != q.OutputSize)
            throw BadInputException.For(quantPath, $"has {q.OutputSize} outputs but the float model {floatPath} has {n.OutputSize}");
        return (n, RuntimeSemantics.Apply(parse.GetValue(Runtime), q, n));
    }
}
