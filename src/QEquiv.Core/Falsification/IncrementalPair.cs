using System.Numerics;
using QEquiv.Model;

namespace QEquiv.Falsification;

/// <summary>
/// Both networks of a comparison at one float32 point, kept up to date under single-coordinate moves for the
/// falsifier's coordinate-wise search (<see cref="IncrementalNetwork"/> per network). Search only: anything reported
/// must still be re-executed by <see cref="WitnessChecker"/>.
/// </summary>
internal sealed class IncrementalPair
{
    /// <summary>Sparse updates of a real-arithmetic linear operator after which it is recomputed to drop accumulated rounding.</summary>
    public const int RefreshInterval = IncrementalNetwork.RefreshInterval;

    private readonly float[] _x;
    private NetworkGradient? _referenceGradient;
    private NetworkGradient? _otherGradient;

    public IncrementalPair(Network reference, Network other, ReadOnlySpan<float> x)
    {
        if (reference.InputSize != other.InputSize || reference.OutputSize != other.OutputSize)
            throw new ArgumentException(
                $"the networks differ in shape: {reference.InputSize}→{reference.OutputSize} and {other.InputSize}→{other.OutputSize}");
        Reference = new IncrementalNetwork(reference);
        Other = new IncrementalNetwork(other);
        _x = new float[reference.InputSize];
        Reset(x);
    }

    public IncrementalNetwork Reference { get; }
    public IncrementalNetwork Other { get; }
    public int InputSize => _x.Length;
    /// <summary>The current point (a live view: copy it to keep it).</summary>
    public ReadOnlySpan<float> Input => _x;
    public float[] CopyInput() => (float[])_x.Clone();

    /// <summary>N (the reference) at the current point.</summary>
    public ReadOnlySpan<double> ReferenceOutput => Reference.Output;
    /// <summary>Q (the other network) at the current point.</summary>
    public ReadOnlySpan<double> OtherOutput => Other.Output;

    /// <summary>N_j − Q_j at the current point.</summary>
    public double Difference(int j) => Reference.Output[j] - Other.Output[j];

    /// <summary>
    /// ∂ s·(N_j − Q_j) / ∂x at the current point, each network differentiated per operator by
    /// <see cref="StraightThroughGradient"/>.
    /// </summary>
    public double[] DifferenceGradient(int j, int s)
    {
        _referenceGradient ??= new NetworkGradient(Reference);
        _otherGradient ??= new NetworkGradient(Other);
        var g = _referenceGradient.Of(j, s).ToArray();
        var h = _otherGradient.Of(j, -s);
        for (var i = 0; i < g.Length; i++) g[i] += h[i];
        return g;
    }

    /// <summary>Moves to <paramref name="x"/> and recomputes everything from scratch.</summary>
    public void Reset(ReadOnlySpan<float> x)
    {
        if (x.Length != _x.Length)
            throw new ArgumentException($"input has {x.Length} values, the networks take {_x.Length}");
        x.CopyTo(_x);
        Reference.Reset(x);
        Other.Reset(x);
    }

    /// <summary>Sets x_i = <paramref name="value"/>; both networks catch up lazily, when an output is read.</summary>
    public void Set(int i, float value)
    {
        if (BitConverter.SingleToInt32Bits(_x[i]) == BitConverter.SingleToInt32Bits(value)) return;
        _x[i] = value;
        Reference.Set(i, value);
        Other.Set(i, value);
    }
}

/// <summary>
/// One network at one point, kept up to date under changes of a few input coordinates. Each operator gets an
/// incremental rule (<see cref="IncrementalRules"/>, one per operator type) that takes the list of its inputs that
/// changed (index and delta) and returns the list of its outputs that changed: an element-wise operator re-evaluates
/// only the changed elements and reports the outputs that really moved (so a requantization after a linear map turns
/// a dense change back into a sparse one: few codes move when one input does), and a linear operator adds the changed
/// columns times their deltas when few inputs changed, or recomputes from its input otherwise. One moved input thus
/// costs a column of the first linear map plus whatever actually changes downstream, and propagation stops at the
/// first operator whose outputs do not move.
/// <para>
/// Every rule computes its outputs with the operator's own per-element arithmetic, so integer and float32 parts are
/// bit-identical to <see cref="Network.Evaluate(ReadOnlySpan{double})"/>: int32 column updates wrap like the
/// runtime's registers and are order-independent. A real-arithmetic <see cref="Affine"/> equals it only up to double
/// rounding (column updates accumulate; refreshed every <see cref="RefreshInterval"/> of them).
/// </para>
/// </summary>
internal sealed class IncrementalNetwork
{
    public const int RefreshInterval = 4096;

    private readonly double[] _input;
    // The input as the rules last saw it, and the coordinates changed since.
    private readonly double[] _seen;
    private readonly int[] _touched;
    private readonly bool[] _isTouched;
    private int _touchedCount;
    private bool _stale;
    private readonly Changes _inputChanges;

    public IncrementalNetwork(Network network)
    {
        Network = network;
        var n = network.InputSize;
        _input = new double[n];
        _seen = new double[n];
        _touched = new int[n];
        _isTouched = new bool[n];
        _inputChanges = new Changes(n);
        var rules = new IncrementalRule[network.Nodes.Count];
        var values = new double[rules.Length + 1][];
        values[0] = _input;
        for (var k = 0; k < rules.Length; k++)
        {
            rules[k] = network.Nodes[k].Operator.Accept(new IncrementalRules(values[k]));
            values[k + 1] = rules[k].Output;
        }
        Rules = rules;
        Values = values;
        _stale = true;
    }

    public Network Network { get; }
    public IReadOnlyList<IncrementalRule> Rules { get; }
    /// <summary>Every tensor on the data path: the input, then each operator's output (live views; current after <see cref="Output"/>).</summary>
    public IReadOnlyList<double[]> Values { get; }

    /// <summary>The network's output at the current point.</summary>
    public ReadOnlySpan<double> Output
    {
        get
        {
            Update();
            return Values[^1];
        }
    }

    public void Reset(ReadOnlySpan<float> x)
    {
        for (var i = 0; i < _input.Length; i++) _input[i] = x[i];
        _stale = true;
    }

    public void Set(int i, double value)
    {
        _input[i] = value;
        if (_stale || _isTouched[i]) return;
        _isTouched[i] = true;
        _touched[_touchedCount++] = i;
    }

    /// <summary>Brings every operator's output up to date with the input.</summary>
    public void Update()
    {
        if (_stale)
        {
            foreach (var rule in Rules) rule.Recompute();
            _input.CopyTo(_seen, 0);
            ClearTouched();
            _stale = false;
            return;
        }
        if (_touchedCount == 0) return;
        var changes = _inputChanges;
        changes.Clear();
        for (var t = 0; t < _touchedCount; t++)
        {
            var i = _touched[t];
            var d = _input[i] - _seen[i];
            // A move and its undo cancel: the search reverts most of its moves before the next one is read.
            if (d != 0) changes.Add(i, d);
            _seen[i] = _input[i];
        }
        ClearTouched();
        foreach (var rule in Rules)
        {
            if (changes.IsEmpty) return;
            changes = rule.Update(changes);
        }
    }

    private void ClearTouched()
    {
        for (var t = 0; t < _touchedCount; t++) _isTouched[_touched[t]] = false;
        _touchedCount = 0;
    }
}

/// <summary>Which entries of a tensor changed, with their deltas; or <see cref="All"/> (any entry may have).</summary>
internal sealed class Changes(int capacity)
{
    public readonly int[] Index = new int[capacity];
    public readonly double[] Delta = new double[capacity];
    public int Count;
    public bool All;

    public bool IsEmpty => !All && Count == 0;

    public void Clear()
    {
        Count = 0;
        All = false;
    }

    public void Add(int i, double delta)
    {
        // A delta that is not finite cannot be added into a sum: the consumer must recompute.
        if (!double.IsFinite(delta)) All = true;
        Index[Count] = i;
        Delta[Count] = delta;
        Count++;
    }
}

/// <summary>One operator's incremental evaluation: reads the previous tensor, owns (or aliases) its output.</summary>
internal abstract class IncrementalRule(double[] input, double[] output, Changes outputChanges)
{
    protected readonly double[] In = input;
    public double[] Output { get; } = output;
    protected Changes OutChanges { get; } = outputChanges;

    /// <summary>Recomputes the output from the input, with no previous state.</summary>
    public abstract void Recompute();

    /// <summary>The input changed as <paramref name="changes"/> says (its new values are already in place); returns the output's changes.</summary>
    public abstract Changes Update(Changes changes);
}

/// <summary>The incremental rule of each operator type, reading the tensor <paramref name="input"/>.</summary>
internal sealed class IncrementalRules(double[] input) : IOperatorVisitor<IncrementalRule>
{
    public IncrementalRule Affine(Affine op) => new AffineRule(op, input);
    public IncrementalRule Elementwise(Elementwise op) => new MapRule<ElementwiseMap>(input, new(op));
    public IncrementalRule Relu(Relu op) => new MapRule<ReluMap>(input, new(op));
    public IncrementalRule Clamp(Clamp op) => new MapRule<ClampMap>(input, new(op));
    public IncrementalRule Quantize(Quantize op) => new MapRule<QuantizeMap>(input, new(op));
    public IncrementalRule Dequantize(Dequantize op) => new MapRule<DequantizeMap>(input, new(op));
    public IncrementalRule IntegerLinear(IntegerLinear op) => new IntegerLinearRule(op, input);
    public IncrementalRule Requantize(Requantize op) => new MapRule<RequantizeMap>(input, new(op));
    public IncrementalRule Reshape(Reshape op) => new ReshapeRule(input);
    public IncrementalRule FloatRound(FloatRound op) => new MapRule<FloatRoundMap>(input, new(op));

    // One struct per element-wise operator, so that MapRule is compiled once per operator type with the operator's own
    // per-element arithmetic inlined (a delegate call per element cost several percent of the search's throughput).
    internal readonly struct ElementwiseMap(Elementwise op) : IElementMap { public double Apply(double x, int i) => op.Apply(x, i); }
    internal readonly struct ReluMap(Relu op) : IElementMap { public double Apply(double x, int i) => op.Apply(x, i); }
    internal readonly struct ClampMap(Clamp op) : IElementMap { public double Apply(double x, int i) => op.Apply(x, i); }
    internal readonly struct QuantizeMap(Quantize op) : IElementMap { public double Apply(double x, int i) => op.Apply(x, i); }
    internal readonly struct DequantizeMap(Dequantize op) : IElementMap { public double Apply(double x, int i) => op.Apply(x, i); }
    internal readonly struct RequantizeMap(Requantize op) : IElementMap { public double Apply(double x, int i) => op.Apply(x, i); }
    internal readonly struct FloatRoundMap(FloatRound op) : IElementMap { public double Apply(double x, int i) => op.Apply(x, i); }

    /// <summary>Column updates pay only while they touch fewer columns than a recomputation would (zero inputs are skipped there).</summary>
    internal static bool Sparse(Changes changes, int inputSize) => !changes.All && changes.Count * 2 < inputSize;

    /// <summary>y += a·x in wrapping int32 arithmetic (the runtime's registers; order-independent).</summary>
    internal static void AxpyInt(Span<int> y, ReadOnlySpan<int> x, int a)
    {
        var k = 0;
        unchecked
        {
            if (Vector.IsHardwareAccelerated)
            {
                var va = new Vector<int>(a);
                for (; k <= y.Length - Vector<int>.Count; k += Vector<int>.Count)
                    (new Vector<int>(y[k..]) + new Vector<int>(x[k..]) * va).CopyTo(y[k..]);
            }
            for (; k < y.Length; k++) y[k] += a * x[k];
        }
    }
}

/// <summary>One element of an element-wise operator's output from the same element of its input.</summary>
internal interface IElementMap
{
    double Apply(double x, int i);
}

/// <summary>An element-wise operator: re-evaluates the changed elements and reports those whose output moved.</summary>
internal sealed class MapRule<TMap>(double[] input, TMap map)
    : IncrementalRule(input, new double[input.Length], new Changes(input.Length)) where TMap : struct, IElementMap
{
    public override void Recompute()
    {
        for (var i = 0; i < In.Length; i++) Output[i] = map.Apply(In[i], i);
    }

    public override Changes Update(Changes changes)
    {
        var o = OutChanges;
        o.Clear();
        if (changes.All)
            for (var i = 0; i < In.Length; i++) Map(i, o);
        else
            for (var c = 0; c < changes.Count; c++) Map(changes.Index[c], o);
        return o;
    }

    private void Map(int i, Changes o)
    {
        var y = map.Apply(In[i], i);
        var old = Output[i];
        if (y == old) return;
        Output[i] = y;
        o.Add(i, y - old);
    }
}

/// <summary>Reshape: the same data, so the output and its changes are the input's own.</summary>
internal sealed class ReshapeRule(double[] input) : IncrementalRule(input, input, new Changes(0))
{
    public override void Recompute() { }
    public override Changes Update(Changes changes) => changes;
}

/// <summary>
/// W x + b in double: changed columns (the rows of Wᵀ, stored as W is: dense, or sparse for a convolution, whose input
/// pixel reaches only the outputs whose receptive field holds it) times their deltas, or from scratch.
/// </summary>
internal sealed class AffineRule : IncrementalRule
{
    private readonly Affine _op;
    private readonly WeightMatrix _columns;
    private int _updates;

    public AffineRule(Affine op, double[] input) : base(input, new double[op.OutputSize], new Changes(0) { All = true })
    {
        _op = op;
        _columns = op.Matrix.Transpose();
    }

    public override void Recompute()
    {
        _updates = 0;
        var y = Output;
        _op.Bias.CopyTo(y);
        for (var i = 0; i < In.Length; i++)
            if (In[i] != 0) _columns.Row(i).AddScaledTo(y, In[i]);
    }

    public override Changes Update(Changes changes)
    {
        if (!IncrementalRules.Sparse(changes, In.Length) || (_updates += changes.Count) >= IncrementalNetwork.RefreshInterval)
        {
            Recompute();
            return OutChanges;
        }
        for (var c = 0; c < changes.Count; c++)
            _columns.Row(changes.Index[c]).AddScaledTo(Output, changes.Delta[c]);
        return OutChanges;
    }
}

/// <summary>The int32 accumulators Σ (q − zx)(w − zw) + bias: changed columns of the centred weights times the code deltas, exactly.</summary>
internal sealed class IntegerLinearRule : IncrementalRule
{
    private readonly IntegerLinear _op;
    private readonly int[] _columns;
    private readonly int[] _acc;
    // The codes the accumulators hold, as the operator reads them (truncated to int).
    private readonly int[] _codes;

    public IntegerLinearRule(IntegerLinear op, double[] input) : base(input, new double[op.OutputSize], new Changes(0) { All = true })
    {
        _op = op;
        var m = op.OutputSize;
        var n = op.InputSize;
        var w = op.Weights;
        var zw = op.WeightZeroPoints;
        _columns = new int[w.Length];
        unchecked
        {
            for (var o = 0; o < m; o++)
                for (var i = 0; i < n; i++)
                    _columns[i * m + o] = w[o * n + i] - zw[o];
        }
        _acc = new int[m];
        _codes = new int[n];
    }

    public override void Recompute()
    {
        var m = _acc.Length;
        _op.Bias.CopyTo(_acc);
        var zx = _op.Input.ZeroPoint;
        for (var i = 0; i < In.Length; i++)
        {
            var q = _codes[i] = (int)In[i];
            if (q != zx) IncrementalRules.AxpyInt(_acc, _columns.AsSpan(i * m, m), unchecked(q - zx));
        }
        Publish();
    }

    public override Changes Update(Changes changes)
    {
        if (!IncrementalRules.Sparse(changes, In.Length))
        {
            Recompute();
            return OutChanges;
        }
        var m = _acc.Length;
        for (var c = 0; c < changes.Count; c++)
        {
            var i = changes.Index[c];
            var q = (int)In[i];
            var d = unchecked(q - _codes[i]);
            _codes[i] = q;
            if (d != 0) IncrementalRules.AxpyInt(_acc, _columns.AsSpan(i * m, m), d);
        }
        Publish();
        return OutChanges;
    }

    private void Publish()
    {
        for (var j = 0; j < _acc.Length; j++) Output[j] = _acc[j];
    }
}
