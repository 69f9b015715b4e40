using System.Numerics;
using QEquiv.Evaluation;
using QEquiv.Networks;
using QEquiv.Quantization;

using QEquiv.Falsification;

namespace QEquiv.Tests.Legacy;

// transition: see LegacyFalsifier.

/// <summary>
/// Both networks at one float32 point, kept up to date under single-coordinate moves for the falsifier's
/// coordinate-wise search. A move of x_i changes N's first pre-activations by W[:,i]·Δx_i and, when the
/// input code q_i changes, Q's first int32 accumulators by (w[:,i] − zw)·Δq_i; a later quantized stage is
/// updated only in the columns whose input codes changed, and stops the propagation when no code changes.
/// <para>
/// Q is bit-identical to <see cref="QuantizedEvaluator"/>: int32 sums wrap like the runtime's registers, so
/// adding column deltas in any order gives the same accumulator, and every code is produced by the
/// evaluator's own <see cref="QuantizedEvaluator.DenseOutput"/> / <see cref="QuantizedEvaluator.RequantizeOutput"/>.
/// N equals <see cref="FloatEvaluator"/> up to double rounding (the summation order differs and the first
/// layer accumulates updates, refreshed every <see cref="RefreshInterval"/> moves). Search only: anything
/// reported must still be re-executed by <see cref="WitnessChecker"/>.
/// </para>
/// </summary>
internal sealed class LegacyIncrementalPair
{
    /// <summary>Moves after which N's first pre-activations are recomputed from scratch to drop accumulated rounding.</summary>
    public const int RefreshInterval = 4096;

    private readonly FloatNetwork _network;
    private readonly QuantizedNetwork _quantized;
    private readonly float[] _x;
    private readonly double[] _xd;

    // Float side: per layer, weights transposed (in × out, so a column is contiguous), pre- and post-activations.
    private readonly double[][] _fColumns;
    private readonly double[][] _fPre;
    private readonly double[][] _fPost;
    private readonly double[] _floatOutput;
    private bool _floatDirty;
    private int _movesSinceRefresh;

    // Quantized side: input codes, then per stage its output codes (and for dense stages the accumulators
    // and the weights centred on their zero points, transposed).
    private readonly int[] _inputCodes;
    private readonly int[][] _codes;
    private readonly int[]?[] _qColumns;
    private readonly int[]?[] _acc;
    private readonly float[] _quantOutput;
    // Input-code changes not yet pushed into stage 0 (index, delta); null entries mean "recompute all".
    private readonly int[] _pendingIndex;
    private readonly int[] _pendingDelta;
    private int _pending;
    private bool _pendingOverflow;
    // Scratch change lists between stages.
    private readonly int[] _changeIndex;
    private readonly int[] _changeDelta;
    private readonly int[] _nextIndex;
    private readonly int[] _nextDelta;

    public LegacyIncrementalPair(FloatNetwork network, QuantizedNetwork quantized, float[] x)
    {
        if (network.InputSize != quantized.InputSize || network.OutputSize != quantized.OutputSize)
            throw new ArgumentException("the networks differ in shape");
        _network = network;
        _quantized = quantized;
        var n = network.InputSize;
        _x = new float[n];
        _xd = new double[n];

        var layers = network.Layers;
        _fColumns = new double[layers.Count][];
        _fPre = new double[layers.Count][];
        _fPost = new double[layers.Count][];
        for (var l = 0; l < layers.Count; l++)
        {
            var layer = layers[l];
            _fColumns[l] = Transpose(layer.Weights, layer.OutputSize, layer.InputSize);
            _fPre[l] = new double[layer.OutputSize];
            _fPost[l] = new double[layer.OutputSize];
        }
        _floatOutput = new double[network.OutputSize];

        var stages = quantized.Stages;
        _inputCodes = new int[n];
        _codes = new int[stages.Count][];
        _qColumns = new int[]?[stages.Count];
        _acc = new int[]?[stages.Count];
        var widest = n;
        for (var s = 0; s < stages.Count; s++)
        {
            var stage = stages[s];
            widest = Math.Max(widest, stage.OutputSize);
            _codes[s] = new int[stage.OutputSize];
            if (stage is QuantizedDense d)
            {
                var centred = new int[d.InputSize * d.OutputSize];
                var w = d.Weights;
                var zw = d.WeightZeroPoints;
                unchecked
                {
                    for (var o = 0; o < d.OutputSize; o++)
                        for (var i = 0; i < d.InputSize; i++)
                            centred[i * d.OutputSize + o] = w[o * d.InputSize + i] - zw[o];
                }
                _qColumns[s] = centred;
                _acc[s] = new int[d.OutputSize];
            }
            else if (stage is not Requantize)
                throw new NotSupportedException(stage.GetType().Name);
        }
        _quantOutput = new float[quantized.OutputSize];
        _pendingIndex = new int[n];
        _pendingDelta = new int[n];
        _changeIndex = new int[widest];
        _changeDelta = new int[widest];
        _nextIndex = new int[widest];
        _nextDelta = new int[widest];
        Reset(x);
    }

    public int InputSize => _x.Length;
    /// <summary>The current point (a live view: copy it to keep it).</summary>
    public ReadOnlySpan<float> Input => _x;
    public float[] CopyInput() => (float[])_x.Clone();

    /// <summary>N at the current point.</summary>
    public ReadOnlySpan<double> FloatOutput
    {
        get { UpdateFloat(); return _floatOutput; }
    }

    /// <summary>Q at the current point, bit-identical to <see cref="QuantizedEvaluator.Evaluate(QuantizedNetwork, ReadOnlySpan{float})"/>.</summary>
    public ReadOnlySpan<float> QuantOutput
    {
        get { UpdateQuantized(); return _quantOutput; }
    }

    /// <summary>N_j − Q_j at the current point.</summary>
    public double Difference(int j) => FloatOutput[j] - QuantOutput[j];

    /// <summary>Post-activation values of float layer l at the current point (for gradients).</summary>
    public ReadOnlySpan<double> FloatActivations(int layer)
    {
        UpdateFloat();
        return _fPost[layer];
    }

    /// <summary>Pre-activation values of float layer l at the current point.</summary>
    public ReadOnlySpan<double> FloatPreActivations(int layer)
    {
        UpdateFloat();
        return _fPre[layer];
    }

    /// <summary>Quantized input codes at the current point.</summary>
    public ReadOnlySpan<int> InputCodes => _inputCodes;

    /// <summary>Output codes of quantized stage s at the current point.</summary>
    public ReadOnlySpan<int> StageCodes(int stage)
    {
        UpdateQuantized();
        return _codes[stage];
    }

    /// <summary>Moves to <paramref name="x"/> and recomputes everything from scratch.</summary>
    public void Reset(ReadOnlySpan<float> x)
    {
        if (x.Length != _x.Length)
            throw new ArgumentException($"input has {x.Length} values, the networks take {_x.Length}");
        x.CopyTo(_x);
        var p = _quantized.InputQuantization;
        for (var i = 0; i < _x.Length; i++)
        {
            _xd[i] = _x[i];
            _inputCodes[i] = QuantMath.Quantize(_x[i], p);
        }
        RecomputeFirstLayer();
        _floatDirty = true;
        _pending = 0;
        _pendingOverflow = true;
    }

    /// <summary>Sets x_i = <paramref name="value"/>, updating the first layers incrementally.</summary>
    public void Set(int i, float value)
    {
        var old = _x[i];
        if (BitConverter.SingleToInt32Bits(old) == BitConverter.SingleToInt32Bits(value)) return;
        _x[i] = value;
        _xd[i] = value;
        var pre = _fPre[0];
        if (++_movesSinceRefresh >= RefreshInterval)
            RecomputeFirstLayer();
        else
            Axpy(pre, _fColumns[0].AsSpan(i * pre.Length, pre.Length), (double)value - old);
        _floatDirty = true;

        var code = QuantMath.Quantize(value, _quantized.InputQuantization);
        var delta = code - _inputCodes[i];
        if (delta == 0) return;
        _inputCodes[i] = code;
        if (_pendingOverflow) return;
        if (_pending == _pendingIndex.Length)
        {
            _pendingOverflow = true;
            return;
        }
        _pendingIndex[_pending] = i;
        _pendingDelta[_pending] = delta;
        _pending++;
    }

    /// <summary>True when moving x_i to <paramref name="value"/> would change its quantized input code.</summary>
    public bool ChangesCode(int i, float value) => QuantMath.Quantize(value, _quantized.InputQuantization) != _inputCodes[i];

    private void RecomputeFirstLayer()
    {
        _movesSinceRefresh = 0;
        var layer = _network.Layers[0];
        var pre = _fPre[0];
        layer.Bias.CopyTo(pre);
        var cols = _fColumns[0];
        for (var i = 0; i < _xd.Length; i++)
            if (_xd[i] != 0) Axpy(pre, cols.AsSpan(i * pre.Length, pre.Length), _xd[i]);
    }

    private void UpdateFloat()
    {
        if (!_floatDirty) return;
        var layers = _network.Layers;
        for (var l = 0; l < layers.Count; l++)
        {
            var layer = layers[l];
            var pre = _fPre[l];
            if (l > 0)
            {
                layer.Bias.CopyTo(pre);
                var input = _fPost[l - 1];
                var cols = _fColumns[l];
                for (var i = 0; i < input.Length; i++)
                    if (input[i] != 0) Axpy(pre, cols.AsSpan(i * pre.Length, pre.Length), input[i]);
            }
            var post = _fPost[l];
            if (layer.Activation == Activation.Relu)
                for (var o = 0; o < pre.Length; o++) post[o] = pre[o] < 0 ? 0 : pre[o];
            else
                pre.CopyTo(post);
        }
        _fPost[^1].CopyTo(_floatOutput);
        _floatDirty = false;
    }

    private void UpdateQuantized()
    {
        var full = _pendingOverflow;
        if (!full && _pending == 0) return;
        var stages = _quantized.Stages;
        // Changes of stage s's input codes: either "all" (full) or the list (index, delta).
        var count = 0;
        var index = _changeIndex;
        var delta = _changeDelta;
        if (!full)
        {
            Array.Copy(_pendingIndex, index, _pending);
            Array.Copy(_pendingDelta, delta, _pending);
            count = _pending;
        }
        _pending = 0;
        _pendingOverflow = false;

        for (var s = 0; s < stages.Count; s++)
        {
            var input = s == 0 ? _inputCodes : _codes[s - 1];
            var output = _codes[s];
            var next = 0;
            if (stages[s] is QuantizedDense d)
            {
                var acc = _acc[s]!;
                var cols = _qColumns[s]!;
                var width = acc.Length;
                if (full)
                {
                    d.Bias.CopyTo(acc);
                    var zx = d.Input.ZeroPoint;
                    for (var i = 0; i < input.Length; i++)
                        if (input[i] != zx) AxpyInt(acc, cols.AsSpan(i * width, width), unchecked(input[i] - zx));
                }
                else
                {
                    for (var c = 0; c < count; c++)
                        AxpyInt(acc, cols.AsSpan(index[c] * width, width), delta[c]);
                }
                for (var j = 0; j < width; j++)
                {
                    var y = QuantizedEvaluator.DenseOutput(d, acc[j], j);
                    if (y != output[j] && !full)
                    {
                        _nextIndex[next] = j;
                        _nextDelta[next] = y - output[j];
                        next++;
                    }
                    output[j] = y;
                }
            }
            else
            {
                var r = (Requantize)stages[s];
                if (full)
                {
                    for (var j = 0; j < output.Length; j++) output[j] = QuantizedEvaluator.RequantizeOutput(r, input[j], j);
                }
                else
                {
                    for (var c = 0; c < count; c++)
                    {
                        var j = index[c];
                        var y = QuantizedEvaluator.RequantizeOutput(r, input[j], j);
                        if (y == output[j]) continue;
                        _nextIndex[next] = j;
                        _nextDelta[next] = y - output[j];
                        next++;
                        output[j] = y;
                    }
                }
            }
            if (!full)
            {
                if (next == 0) return; // nothing downstream changes
                Array.Copy(_nextIndex, index, next);
                Array.Copy(_nextDelta, delta, next);
                count = next;
            }
        }
        var last = QuantizedEvaluator.Dequantize(_quantized, _codes[^1]);
        last.CopyTo(_quantOutput, 0);
    }

    private static double[] Transpose(ReadOnlySpan<double> rowMajor, int rows, int cols)
    {
        var t = new double[rowMajor.Length];
        for (var r = 0; r < rows; r++)
            for (var c = 0; c < cols; c++)
                t[c * rows + r] = rowMajor[r * cols + c];
        return t;
    }

    /// <summary>y += a·x.</summary>
    private static void Axpy(Span<double> y, ReadOnlySpan<double> x, double a)
    {
        var k = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var va = new Vector<double>(a);
            for (; k <= y.Length - Vector<double>.Count; k += Vector<double>.Count)
                (new Vector<double>(y[k..]) + new Vector<double>(x[k..]) * va).CopyTo(y[k..]);
        }
        for (; k < y.Length; k++) y[k] += a * x[k];
    }

    /// <summary>y += a·x in wrapping int32 arithmetic (the runtime's registers; order-independent).</summary>
    private static void AxpyInt(Span<int> y, ReadOnlySpan<int> x, int a)
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
