using QEquiv.Quantization;

namespace QEquiv.Quantizer;

public enum ObserverKind { MinMax, Histogram }

/// <summary>
/// PyTorch's quantization-parameter arithmetic (torch.ao.quantization.observer, 1.13), re-implemented in float32
/// where PyTorch computes on float32 tensors so that scales come out identical to the bit.
/// </summary>
public static class QParams
{
    /// <summary>torch.finfo(torch.float32).eps, PyTorch's lower bound on a scale.</summary>
    public const float Eps = 1.1920929e-07f;

    /// <summary>The integer range of a type; reduce_range drops one bit (quint8 0..127, qint8 −64..63) as PyTorch's observers do.</summary>
    public static (int Min, int Max) Range(QuantType type, bool reduceRange) => (type, reduceRange) switch
    {
        (QuantType.UInt8, false) => (0, 255),
        (QuantType.UInt8, true) => (0, 127),
        (QuantType.Int8, false) => (-128, 127),
        (QuantType.Int8, true) => (-64, 63),
        _ => throw new ArgumentException($"observers produce 8-bit types, not {type}"),
    };

    /// <summary>
    /// per_tensor_affine: the range is widened to include 0, scale = (max − min)/(qmax − qmin) ≥ eps, and
    /// zero point = qmin − round(min/scale), clamped (UniformQuantizationObserverBase._calculate_qparams).
    /// </summary>
    public static QuantParams Affine(float min, float max, QuantType type, bool reduceRange)
    {
        var (qmin, qmax) = Range(type, reduceRange);
        var minNeg = MathF.Min(min, 0f);
        var maxPos = MathF.Max(max, 0f);
        var scale = MathF.Max((maxPos - minNeg) / (qmax - qmin), Eps);
        var zp = qmin - (int)QuantMath.RoundHalfEven(minNeg / scale);
        return new QuantParams(scale, Math.Clamp(zp, qmin, qmax), type);
    }

    /// <summary>
    /// per_tensor/per_channel_symmetric: scale = max(|min|, |max|) / ((qmax − qmin)/2) ≥ eps; zero point 0
    /// (128 for quint8, PyTorch's choice when the range is not customised).
    /// </summary>
    public static QuantParams Symmetric(float min, float max, QuantType type, bool reduceRange)
    {
        var (qmin, qmax) = Range(type, reduceRange);
        var maxPos = MathF.Max(-MathF.Min(min, 0f), MathF.Max(max, 0f));
        var scale = MathF.Max(maxPos / ((qmax - qmin) / 2f), Eps);
        return new QuantParams(scale, type == QuantType.UInt8 ? 128 : 0, type);
    }

    /// <summary>
    /// How torch.quantize_per_tensor / quantize_per_channel turn a float weight into a code (fbgemm::Quantize):
    /// multiplication by the float32 inverse scale, not division, then round half to even and saturate.
    /// </summary>
    public static int QuantizeWeight(float w, QuantParams p, (int Min, int Max) range)
    {
        var inverse = 1f / p.Scale;
        return QuantMath.Saturate(QuantMath.RoundHalfEven(w * inverse) + p.ZeroPoint, range.Min, range.Max);
    }
}

/// <summary>Collects statistics of one activation tensor over calibration batches (PyTorch's observer forward calls).</summary>
public interface IActivationObserver
{
    void Observe(ReadOnlySpan<float> batch);
    QuantParams Calculate();
}

/// <summary>MinMaxObserver: the running minimum and maximum, then per_tensor_affine parameters.</summary>
public sealed class MinMaxObserver(QuantType type, bool reduceRange) : IActivationObserver
{
    private float _min = float.PositiveInfinity;
    private float _max = float.NegativeInfinity;

    public void Observe(ReadOnlySpan<float> batch)
    {
        foreach (var v in batch)
        {
            _min = MathF.Min(_min, v);
            _max = MathF.Max(_max, v);
        }
    }

    public QuantParams Calculate() =>
        float.IsPositiveInfinity(_min) ? throw new InvalidOperationException("the observer saw no values")
        : QParams.Affine(_min, _max, type, reduceRange);
}

/// <summary>
/// HistogramObserver as in PyTorch 1.13: a 2048-bin histogram of everything observed (histograms of later
/// batches are merged by up-sampling ×128), then a greedy search that trims the range from whichever side
/// holds less mass while the L2 quantization error keeps falling (_non_linear_param_search), then
/// per_tensor_affine parameters of the trimmed range.
/// <para>
/// Reproduced on purpose, quirks included: 1.13 passes the range to torch.histc as <c>int(min)</c>, <c>int(max)</c>
/// (truncated toward zero), so values outside that integer range are not counted while the bins are still read as
/// spanning the true [min, max]; and when both truncate to the same integer histc falls back to the data's range.
/// Bin edges, bin lookup and the error are computed in float32 like the tensor code.
/// </para>
/// </summary>
public sealed class HistogramObserver(QuantType type, bool reduceRange, int vectorWidth = 8) : IActivationObserver
{
    public const int Bins = 2048;
    public const int UpsampleRate = 128;

    private float[] _histogram = new float[Bins];
    private float _min = float.PositiveInfinity;
    private float _max = float.NegativeInfinity;
    /// <summary>Levels of the 8-bit target type the error is measured against (2^bits, also under reduce_range, as in PyTorch).</summary>
    private const int DstBins = 256;

    public ReadOnlySpan<float> Histogram => _histogram;
    public float Min => _min;
    public float Max => _max;

    public void Observe(ReadOnlySpan<float> x)
    {
        if (x.Length == 0) return;
        var (xmin, xmax) = MinMax(x);
        var uninitialized = float.IsPositiveInfinity(_min) && float.IsNegativeInfinity(_max);
        if (uninitialized || _min == _max)
        {
            (_min, _max) = (xmin, xmax);
            _histogram = Histc(x, Bins, MathF.Truncate(xmin), MathF.Truncate(xmax), vectorWidth);
            return;
        }
        var combinedMin = MathF.Min(xmin, _min);
        var combinedMax = MathF.Max(xmax, _max);
        // _adjust_min_max in its form before PyTorch PR 86522 (Oct 2022; the references, calibrated in one batch, cannot
        // tell which form 1.13.0a0 had): widen the max so the new range is a whole number of up-sampled old bins.
        var histBinWidth = (_max - _min) / (Bins * UpsampleRate);
        var downsampleRate = (int)MathF.Ceiling((combinedMax - combinedMin) / (Bins * histBinWidth));
        var e = downsampleRate * (Bins * histBinWidth) - (combinedMax - combinedMin);
        combinedMax += e;
        var startIdx = (int)QuantMath.RoundHalfEven((_min - combinedMin) / histBinWidth);
        var combined = Histc(x, Bins, MathF.Truncate(combinedMin), MathF.Truncate(combinedMax), vectorWidth);
        if (combinedMin == _min && combinedMax == _max)
            for (var i = 0; i < Bins; i++) combined[i] += _histogram[i];
        else
            combined = Combine(combined, _histogram, downsampleRate, startIdx);
        (_histogram, _min, _max) = (combined, combinedMin, combinedMax);
    }

    private static (float Min, float Max) MinMax(ReadOnlySpan<float> x)
    {
        var (min, max) = (float.PositiveInfinity, float.NegativeInfinity);
        foreach (var v in x) { min = MathF.Min(min, v); max = MathF.Max(max, v); }
        return (min, max);
    }

    /// <summary>_combine_histograms: the old histogram up-sampled onto the new grid, integrated in double, added.</summary>
    private static float[] Combine(float[] orig, float[] old, int downsampleRate, int startIdx)
    {
        var dense = new float[Bins * downsampleRate];
        for (var i = 0; i < Bins * UpsampleRate; i++)
        {
            var at = startIdx + i;
            if (at >= 0 && at < dense.Length) dense[at] = old[i / UpsampleRate];
        }
        var integral = new double[Bins];
        double running = 0;
        for (int i = 0, k = 0; i < dense.Length; i++)
        {
            running += dense[i];
            if (i % downsampleRate == downsampleRate - 1) integral[k++] = running;
        }
        var result = (float[])orig.Clone();
        for (var k = 0; k < Bins; k++)
        {
            // The shifted copy lives in a float32 tensor: PyTorch rounds it before subtracting.
            double shifted = k == 0 ? 0f : (float)integral[k - 1];
            result[k] += (float)((integral[k] - shifted) / UpsampleRate);
        }
        return result;
    }

    /// <summary>
    /// torch.histc on float32 data: bin edges by torch.linspace in float32 (its vectorised form computes
    /// base + k·step within each SIMD chunk, from the start in the first half and from the end in the second),
    /// the bin by (x − left)·bins/(right − left) corrected by a search among the neighbouring edges, and the last
    /// bin closed on the right. Values outside [left, right] are not counted.
    /// </summary>
    internal static float[] Histc(ReadOnlySpan<float> x, int bins, double left, double right, int vectorWidth)
    {
        if (left == right)
        {
            var (min, max) = MinMax(x);
            (left, right) = (min, max);
        }
        if (left == right) (left, right) = (left - 1, right + 1);
        var edges = Linspace((float)left, (float)right, bins + 1, vectorWidth);
        var (l, r) = (edges[0], edges[bins]);
        var hist = new float[bins];
        foreach (var v in x)
        {
            if (!(v >= l && v <= r)) continue;
            var pos = (long)((v - l) * bins / (r - l));
            var lo = (int)Math.Max(0, pos - 1);
            var hi = (int)Math.Min(pos + 2, bins + 1);
            var k = lo;
            while (k < hi && edges[k] <= v) k++; // upper_bound
            var bin = k - 1;
            if (bin == bins) bin--;
            hist[bin]++;
        }
        return hist;
    }

    internal static float[] Linspace(float start, float end, int steps, int vectorWidth)
    {
        var step = (end - start) / (steps - 1);
        var halfway = steps / 2;
        var result = new float[steps];
        var full = steps / vectorWidth * vectorWidth;
        for (var idx = 0; idx < full; idx += vectorWidth)
        {
            var basis = idx < halfway ? start + step * idx : end - step * (steps - idx - 1);
            for (var k = 0; k < vectorWidth; k++) result[idx + k] = basis + k * step;
        }
        for (var idx = full; idx < steps; idx++)
            result[idx] = idx < halfway ? start + step * idx : end - step * (steps - idx - 1);
        return result;
    }

    public QuantParams Calculate()
    {
        if (float.IsPositiveInfinity(_min)) throw new InvalidOperationException("the observer saw no values");
        var (min, max) = NonLinearParamSearch();
        return QParams.Affine(min, max, type, reduceRange);
    }

    /// <summary>_non_linear_param_search: the trimmed [min, max] that approximately minimises the L2 quantization error.</summary>
    public (float Min, float Max) NonLinearParamSearch()
    {
        var binWidth = (_max - _min) / Bins;
        var cSum = new float[Bins];
        float acc = 0;
        for (var i = 0; i < Bins; i++) cSum[i] = acc += _histogram[i];
        double total = SumFloat(_histogram);
        const double stepSize = 1e-5;
        double alpha = 0, beta = 1;
        int startBin = 0, endBin = Bins - 1;
        var normMin = double.PositiveInfinity;
        while (alpha < beta)
        {
            var nextAlpha = alpha + stepSize;
            var nextBeta = beta - stepSize;
            int l = startBin, r = endBin;
            // A float32 tensor compared with a Python float: the float is rounded to float32 first.
            while (l < endBin && cSum[l] < (float)(nextAlpha * total)) l++;
            while (r > startBin && cSum[r] > (float)(nextBeta * total)) r--;
            int nextStart = startBin, nextEnd = endBin;
            if (l - startBin > endBin - r) { nextStart = l; alpha = nextAlpha; }
            else { nextEnd = r; beta = nextBeta; }
            if (nextStart == startBin && nextEnd == endBin) continue;
            var norm = QuantizationError(nextStart, nextEnd);
            if (norm > normMin) break;
            normMin = norm;
            (startBin, endBin) = (nextStart, nextEnd);
        }
        return (_min + binWidth * startBin, _min + binWidth * (endBin + 1));
    }

    /// <summary>_compute_quantization_error: L2 error of quantizing the histogram's mass to 256 levels on [start, end].</summary>
    private double QuantizationError(int nextStart, int nextEnd)
    {
        var binWidth = ((double)_max - _min) / Bins;
        var dstBinWidth = binWidth * (nextEnd - nextStart + 1) / DstBins;
        if (dstBinWidth == 0.0) return 0.0;
        var bw = (float)binWidth;
        var dw = (float)dstBinWidth;
        var halfDst = (float)(dstBinWidth / 2);
        var negHalfDst = (float)(-dstBinWidth / 2);
        var fullBin = Norm(negHalfDst, halfDst);
        var norms = new float[Bins];
        for (var i = 0; i < Bins; i++)
        {
            var begin = (float)(i - nextStart) * bw;
            var end = begin + bw;
            var dstBegin = Math.Clamp(FloorDivide(begin, dw), 0f, DstBins - 1);
            var dstBeginCenter = (dstBegin + 0.5f) * dw;
            var dstEnd = Math.Clamp(FloorDivide(end, dw), 0f, DstBins - 1);
            var density = _histogram[i] / bw;
            var norm = 0f;
            norm += density * Norm(begin - dstBeginCenter, halfDst);
            norm += (dstEnd - dstBegin - 1) * (density * fullBin);
            var dstEndCenter = dstEnd * dw + halfDst;
            norm += density * Norm(negHalfDst, end - dstEndCenter);
            norms[i] = norm;
        }
        return SumFloat(norms);
    }

    private static float Norm(float begin, float end) => (end * end * end - begin * begin * begin) / 3;

    /// <summary>torch.div(a, b, rounding_mode='floor') on float32 (Python-style floor division via fmod).</summary>
    internal static float FloorDivide(float a, float b)
    {
        var mod = a % b;
        var div = (a - mod) / b;
        if (mod != 0 && (b < 0) != (mod < 0)) div -= 1;
        if (div == 0) return MathF.CopySign(0f, a / b);
        var floor = MathF.Floor(div);
        if (div - floor > 0.5f) floor += 1;
        return floor;
    }

    /// <summary>A float32 tensor's sum: accumulated in double here (PyTorch's cascade order is not reproduced).</summary>
    private static double SumFloat(ReadOnlySpan<float> v)
    {
        double s = 0;
        foreach (var x in v) s += x;
        return (float)s;
    }
}
