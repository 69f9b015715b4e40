using QEquiv.Model;
using QEquiv.Networks;
using QEquiv.Nnet;
using QEquiv.Quantization;

namespace QEquiv.Onnx;

/// <summary>Entry point for reading ONNX models into QEquiv's network model.</summary>
public static class OnnxImporter
{
    private static readonly HashSet<string> QuantizedOps = ["QuantizeLinear", "DequantizeLinear", "QLinearMatMul"];

    /// <summary>True when the file holds a quantized graph (QDQ or QOperator form).</summary>
    public static bool IsQuantized(string path) => IsQuantized(new OnnxGraph(path));

    private static bool IsQuantized(OnnxGraph g) => g.Nodes.Any(n => QuantizedOps.Contains(n.OpType));

    /// <summary>A float or quantized model, as its graph says; a <c>.nnet</c> file is read as NNet text, in its normalised
    /// units (<see cref="NnetReader"/>). Either may be gzip-compressed (<c>.onnx.gz</c>, as VNN-COMP ships models).</summary>
    public static Network Load(string path) => NnetReader.IsNnet(path) ? NnetReader.Read(path) : Import(new OnnxGraph(path));

    /// <summary>A model that arrived as bytes (cluster workers get them with the job: the file's bytes, gzip-compressed when
    /// the file is); <paramref name="name"/> names it.</summary>
    public static Network Load(string name, byte[] bytes) => NnetReader.IsNnet(name)
        ? NnetReader.Parse(name, System.Text.Encoding.UTF8.GetString(Data.Gzip.Decompress(bytes, name)).Split('\n'))
        : Import(new OnnxGraph(name, bytes));

    private static Network Import(OnnxGraph g) => IsQuantized(g) ? QuantizedImporter.Import(g) : FloatImporter.Import(g);

    /// <summary>
    /// A pair of models as a run compares them (a float reference and a quantized, float or float16-rounded other, or two
    /// quantized ones): shapes checked, and the runtime whose arithmetic the quantized one follows applied into its
    /// operators (<see cref="RuntimeSemantics"/>), so that every later step sees the same network. With
    /// <paramref name="outputs"/>, both networks then compute only those outputs (<see cref="Network.SelectOutputs"/>).
    /// </summary>
    public static (Network Reference, Network Other) LoadPair(string referenceName, byte[]? referenceBytes, string otherName, byte[]? otherBytes,
        Runtime runtime, IReadOnlyList<int>? outputs = null)
    {
        var n = referenceBytes is null ? Load(referenceName) : Load(referenceName, referenceBytes);
        var q = otherBytes is null ? Load(otherName) : Load(otherName, otherBytes);
        // Any two networks compare (float and quantized, two float, two quantized); a quantized reference of a float one is
        // almost surely the two files given the wrong way round, and reports would call the float one Q.
        if (n.IsQuantized && !q.IsQuantized)
            throw BadInputException.For(referenceName, $"this is a quantized model and {otherName} a float one; swap them (the float model is the reference)");
        if (runtime == Runtime.PyTorch && !q.IsQuantized)
            throw BadInputException.For(otherName, "--runtime pytorch applies to a quantized model; this one is float (no QuantizeLinear, DequantizeLinear or QLinearMatMul)");
        if (runtime == Runtime.PyTorch && n.IsQuantized)
            throw BadInputException.For(referenceName, "--runtime pytorch re-derives Q's biases from a float reference; this one is quantized");
        if (n.InputSize != q.InputSize)
            throw BadInputException.For(otherName, $"takes {q.InputSize} inputs but the float model {referenceName} takes {n.InputSize}");
        if (n.OutputSize != q.OutputSize)
            throw BadInputException.For(otherName, $"has {q.OutputSize} outputs but the float model {referenceName} has {n.OutputSize}");
        q = RuntimeSemantics.Apply(runtime, q, n);
        if (outputs is null) return (n, q);
        foreach (var j in outputs)
            if (j < 0 || j >= n.OutputSize)
                throw BadInputException.For(referenceName, $"has {n.OutputSize} outputs (0 to {n.OutputSize - 1}); output {j} was asked for");
        // After the runtime semantics: PyTorch's re-derived biases come from every row of the reference.
        try { return (n.SelectOutputs(outputs), q.SelectOutputs(outputs)); }
        catch (NotSupportedException e) { throw BadInputException.For(otherName, $"cannot compare only outputs {string.Join(",", outputs)}: {e.Message}"); }
    }

    public static (Network Reference, Network Other) LoadPair(string referencePath, string otherPath, Runtime runtime,
        IReadOnlyList<int>? outputs = null) =>
        LoadPair(referencePath, null, otherPath, null, runtime, outputs);

    /// <summary>A float model in the layered view the analyses still use.</summary>
    public static FloatNetwork LoadFloat(string path) => Layering.ToFloat(Float(Load(path)));

    /// <summary>A quantized model in the layered view the analyses still use.</summary>
    public static QuantizedNetwork LoadQuantized(string path) => Layering.ToQuantized(Quantized(Load(path)));

    private static Network Float(Network n) => n.IsQuantized
        ? throw BadInputException.For(n.Source, "this is a quantized graph; give it as the quantized model")
        : n;

    private static Network Quantized(Network q) => !q.IsQuantized
        ? throw BadInputException.For(q.Source, "this is a float model (no QuantizeLinear, DequantizeLinear or QLinearMatMul); give it as the float model")
        : q;
}
