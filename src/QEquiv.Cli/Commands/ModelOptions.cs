using System.CommandLine;
using QEquiv.Model;
using QEquiv.Onnx;
using QEquiv.Quantization;

namespace QEquiv.Cli.Commands;

/// <summary>The --float/--quant/--runtime options every command that compares two networks takes.</summary>
internal sealed class ModelOptions
{
    // --reference/--other name the general pair; --float/--quant stay the names of the common case (and of the help text).
    public Option<string> Float { get; } = new("--float", "--reference")
    {
        Description = "the reference network N: a float ONNX model (or an NNet file, in its normalised units)",
        Required = true,
    };
    public Option<string> Quant { get; } = new("--quant", "--other")
    {
        Description = "the network Q compared with N: a quantized ONNX model (QDQ or QOperator form), or another float one (pruned, rounded, retrained; ONNX or NNet)",
        Required = true,
    };
    public Option<Runtime> Runtime { get; } = new("--runtime")
    {
        Description = "whose arithmetic a quantized Q follows where they differ: onnx (the file as written; ONNX Runtime) or pytorch (PyTorch's kernels, which round the bias the exporter truncates)",
        DefaultValueFactory = _ => Quantization.Runtime.Onnx,
    };

    public Option<string?> Outputs { get; } = new("--outputs")
    {
        Description = "compare only these outputs (numbered from 0, e.g. 0 or 0,3): both networks are narrowed to them, and reports number them from 0 in this order",
    };

    public void AddTo(Command command)
    {
        command.Options.Add(Float);
        command.Options.Add(Quant);
        command.Options.Add(Runtime);
        command.Options.Add(Outputs);
    }

    /// <summary>The two networks and the region's box, with the region's notices on standard error unless quiet.</summary>
    public (Network N, Network Q, Regions.Box Box) LoadWithRegion(ParseResult parse, RegionOptions region, string? regionNotice, bool quiet)
    {
        if (regionNotice is not null && !quiet) Console.Error.WriteLine($"note: {regionNotice}");
        var (n, q) = Load(parse);
        var (box, notice) = region.Resolve(parse, n.InputSize);
        if (region.Spec(parse) is { } spec)
        {
            if (parse.GetValue(Outputs) is not null)
                throw BadInputException.For(spec.Source, "bounds every output of the two networks; --outputs would check only some of them, so it does not combine with a VNN-LIB 2.0 spec");
            if (spec.Plus.Length != n.OutputSize)
                throw BadInputException.For(spec.Source, $"the spec bounds {spec.Plus.Length} outputs but the models have {n.OutputSize}");
        }
        if (notice is not null && !quiet) Console.Error.WriteLine($"note: {notice}");
        return (n, q, box);
    }

    /// <summary>The two networks, shapes checked and the runtime applied into Q at import.</summary>
    public (Network N, Network Q) Load(ParseResult parse) =>
        OnnxImporter.LoadPair(parse.GetValue(Float)!, parse.GetValue(Quant)!, parse.GetValue(Runtime), OutputSelection.Parse(parse.GetValue(Outputs), "--outputs"));
}
