using System.Security.Cryptography;
using QEquiv.Quantization;

namespace QEquiv.Model;

/// <summary>One operator application: reads the tensor named <see cref="Input"/>, writes <see cref="Output"/>.</summary>
/// <param name="Name">The source graph's node name where it had one (for messages).</param>
public sealed record Node(string Name, Operator Operator, string Input, string Output);

/// <summary>
/// The one network model: a graph of operators over named tensors, in topological order, from one input tensor to one
/// output tensor. A float network, a QDQ or QOperator int8 network and a float16 twin are all this type; what kind of
/// network it is shows only in its operators. Every data path today is a chain (one data input per operator; the
/// importers refuse branching graphs), but tensors keep the source graph's names so that messages can name them.
/// Immutable: the importers apply every choice of semantics (the runtime whose arithmetic a quantized graph follows)
/// into the operators themselves, so nothing downstream can lose it.
/// </summary>
public sealed class Network
{
    private readonly Node[] _nodes;
    private readonly Lazy<string> _fingerprint;

    public Network(string source, IReadOnlyList<int> inputShape, string inputName, IReadOnlyList<Node> nodes, Runtime? runtime = null)
    {
        if (nodes.Count == 0) throw new ArgumentException("a network needs at least one operator");
        var inputSize = inputShape.Aggregate(1, (a, d) => a * d);
        var size = inputSize;
        var tensor = inputName;
        for (var i = 0; i < nodes.Count; i++)
        {
            var n = nodes[i];
            if (n.Input != tensor)
                throw new ArgumentException($"operator {i} ({n.Operator.Describe()}) reads '{n.Input}' but the data is '{tensor}': only chains are supported");
            if (n.Operator.InputSize != size)
                throw new ArgumentException($"operator {i} ({n.Operator.Describe()}) takes {n.Operator.InputSize} values but gets {size}");
            size = n.Operator.OutputSize;
            tensor = n.Output;
        }
        Source = source;
        InputShape = inputShape.ToArray();
        InputName = inputName;
        InputSize = inputSize;
        OutputSize = size;
        Runtime = runtime;
        _nodes = nodes.ToArray();
        _fingerprint = new Lazy<string>(ComputeFingerprint);
    }

    /// <summary>Where the network came from (a file path or a name), for messages.</summary>
    public string Source { get; }
    public IReadOnlyList<int> InputShape { get; }
    public string InputName { get; }
    public string OutputName => _nodes[^1].Output;
    public int InputSize { get; }
    public int OutputSize { get; }
    public IReadOnlyList<Node> Nodes => _nodes;
    public IEnumerable<Operator> Operators => _nodes.Select(n => n.Operator);
    /// <summary>The runtime whose arithmetic a quantized network's operators follow (applied at import by
    /// <see cref="RuntimeSemantics"/>); null for a float network or one read without a choice (the file as written).</summary>
    public Runtime? Runtime { get; }

    /// <summary>
    /// The node whose output the last Dequantize reads — a quantized network's output codes, what the output partition
    /// cuts — or null when the network has no Dequantize (−1 when it dequantizes its input).
    /// </summary>
    public int? OutputCodeNode
    {
        get
        {
            for (var k = _nodes.Length - 1; k >= 0; k--)
                if (_nodes[k].Operator is Dequantize) return k - 1;
            return null;
        }
    }

    /// <summary>The quantization parameters of the output codes (<see cref="OutputCodeNode"/>).</summary>
    public QuantParams? OutputQuantization =>
        _nodes.LastOrDefault(n => n.Operator is Dequantize)?.Operator is Dequantize d ? d.Input : null;

    /// <summary>
    /// The quantization of the input itself: a Quantize reached from the input through reshapes only, so that each input's
    /// code is a cell of that input. Null otherwise (a float network, or one that normalises before quantizing).
    /// </summary>
    public QuantParams? InputQuantization =>
        _nodes.FirstOrDefault(n => n.Operator is not Reshape)?.Operator is Quantize q ? q.Output : null;

    /// <summary>True when some operator works on integer codes (the network is quantized).</summary>
    public bool IsQuantized => _nodes.Any(n => n.Operator is Quantize);

    /// <summary>
    /// SHA-256 of everything that determines what the network computes (operators, their constants, sizes), not of the
    /// file: two runs agree on a fingerprint only if they verify the same arithmetic, whatever file or runtime choice it
    /// came from.
    /// </summary>
    public string Fingerprint => _fingerprint.Value;

    /// <summary>Which outputs of the network as read this one computes (<see cref="SelectOutputs"/>), in its order; null: all.</summary>
    public IReadOnlyList<int>? SelectedOutputs { get; private init; }

    public Network WithNodes(IReadOnlyList<Node> nodes, Runtime? runtime) =>
        new(Source, InputShape, InputName, nodes, runtime) { SelectedOutputs = SelectedOutputs };

    /// <summary>
    /// The network computing only <paramref name="outputs"/> of this one (distinct indices, kept in increasing order), each
    /// by exactly the arithmetic it had: the operators after the last linear one keep those elements, that one keeps those
    /// rows. How a run compares two networks on some of their outputs (the one output a property is about).
    /// </summary>
    /// <exception cref="ArgumentException">no output, or one out of range.</exception>
    /// <exception cref="NotSupportedException">an operator after the last linear one cannot be narrowed.</exception>
    public Network SelectOutputs(IReadOnlyList<int> outputs)
    {
        var chosen = outputs.Distinct().Order().ToArray();
        if (chosen.Length == 0) throw new ArgumentException("select at least one output");
        foreach (var j in chosen)
            if (j < 0 || j >= OutputSize) throw new ArgumentException($"output {j} is out of range: the network has {OutputSize} outputs (0 to {OutputSize - 1})");
        var nodes = _nodes.ToArray();
        for (var k = nodes.Length - 1; k >= 0; k--)
        {
            var narrowed = nodes[k].Operator.Narrow(chosen)
                ?? throw new NotSupportedException($"outputs cannot be selected through {nodes[k].Operator.Describe()}");
            nodes[k] = nodes[k] with { Operator = narrowed.Narrowed };
            if (narrowed.ReadsAll)
                return new Network(Source, InputShape, InputName, nodes, Runtime)
                {
                    SelectedOutputs = SelectedOutputs is { } before ? [.. chosen.Select(j => before[j])] : chosen,
                };
        }
        throw new NotSupportedException("outputs can be selected only behind a linear operator, and this network has none");
    }

    /// <summary>
    /// A chain of operators from the input tensor to <paramref name="outputName"/> (the source graph's output name; null: a
    /// generated one), each intermediate tensor named after its operator.
    /// </summary>
    public static Network Chain(string source, IReadOnlyList<int> inputShape, string inputName, IEnumerable<Operator> operators,
        string? outputName = null, Runtime? runtime = null)
    {
        var nodes = new List<Node>();
        var tensor = inputName;
        foreach (var op in operators)
        {
            var name = $"{op.GetType().Name.ToLowerInvariant()}{nodes.Count}";
            nodes.Add(new Node(name, op, tensor, name));
            tensor = name;
        }
        if (nodes.Count > 0 && outputName is not null) nodes[^1] = nodes[^1] with { Output = outputName };
        return new Network(source, inputShape, inputName, nodes, runtime);
    }

    /// <summary>The network on one point, exactly (see <see cref="Operator"/>): doubles in, doubles out.</summary>
    public double[] Evaluate(ReadOnlySpan<double> input) => Trace(input)[^1];

    public double[] Evaluate(ReadOnlySpan<float> input)
    {
        var x = new double[input.Length];
        for (var i = 0; i < x.Length; i++) x[i] = input[i];
        return Evaluate(x);
    }

    /// <summary>Every tensor on the data path for one point: the input first, then each operator's output.</summary>
    public IReadOnlyList<double[]> Trace(ReadOnlySpan<double> input)
    {
        if (input.Length != InputSize)
            throw new ArgumentException($"input has {input.Length} values, the network takes {InputSize}");
        var trace = new List<double[]>(_nodes.Length + 1) { input.ToArray() };
        var x = trace[0];
        foreach (var node in _nodes)
        {
            var y = new double[node.Operator.OutputSize];
            node.Operator.Evaluate(x, y);
            trace.Add(y);
            x = y;
        }
        return trace;
    }

    private string ComputeFingerprint()
    {
        using var stream = new MemoryStream();
        using (var w = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true))
        {
            w.Write(InputSize);
            foreach (var node in _nodes)
            {
                w.Write(node.Operator.GetType().Name);
                w.Write(node.Operator.InputSize);
                w.Write(node.Operator.OutputSize);
                node.Operator.WriteContent(w);
            }
        }
        return Convert.ToHexString(SHA256.HashData(stream.ToArray())).ToLowerInvariant();
    }
}
