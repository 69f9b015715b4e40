using QEquiv.Quantization;
using Xunit.Abstractions;
using DataType = QEquiv.Onnx.Proto.TensorProto.Types.DataType;

namespace QEquiv.Tests;

/// <summary>
/// <see cref="FloatFormats.Round"/> and the 16-bit encodings, bit for bit against references that share none of its
/// code: System.Half's conversions (float16), the float32 bit trick runtimes use for bfloat16 (add 0x7FFF plus the kept
/// lowest bit, drop 16 bits), a nearest-neighbour search over every value of the format (doubles), and ONNX Runtime's own
/// Cast(to=FLOAT16 / BFLOAT16) → Cast(to=FLOAT) on the same values: random bit patterns, every tie between neighbours and
/// the float32 values on either side of it, subnormals, the overflow threshold, ±0, ±∞ and NaN.
/// </summary>
public sealed class HalfPrecisionRoundingTests(ITestOutputHelper output) : IDisposable
{
    private readonly TempFiles _temp = new();
    public void Dispose() => _temp.Dispose();

    private static readonly float[] Specials =
    [
        0f, -0f, float.PositiveInfinity, float.NegativeInfinity, float.NaN, float.Epsilon, -float.Epsilon, float.MaxValue, float.MinValue,
        65504f, 65505f, MathF.BitDecrement(65520f), 65520f, MathF.BitIncrement(65520f), 65536f, 1e10f, -65520f, -65519f,
        MathF.ScaleB(1, -24), MathF.ScaleB(1, -25), MathF.BitIncrement(MathF.ScaleB(1, -25)), MathF.BitDecrement(MathF.ScaleB(1, -25)),
        MathF.ScaleB(1, -26), MathF.ScaleB(1, -14), MathF.BitDecrement(MathF.ScaleB(1, -14)), MathF.ScaleB(3, -26), -MathF.ScaleB(3, -26),
        BitConverter.Int32BitsToSingle(0x7F7F8000), BitConverter.Int32BitsToSingle(0x7F7F7FFF), BitConverter.Int32BitsToSingle(0x00008000),
        BitConverter.Int32BitsToSingle(0x00018000), BitConverter.Int32BitsToSingle(0x00007FFF), BitConverter.Int32BitsToSingle(unchecked((int)0x80008000)),
        1f, 1.0009765625f, 1.00048828125f, 1.00146484375f, 2049f, 2051f, 4097f, 0.1f, 1f / 3, -2.5f,
    ];

    /// <summary>Every tie between two neighbouring finite values of the format, the float32 values just below and above
    /// it, and those negated; plus random float32 bit patterns (half of them in the format's range) and the specials.</summary>
    private static float[] Values(FloatFormat f, int seed)
    {
        var finite = AllValues(f).Where(v => v >= 0).ToArray();
        var values = new List<float>(Specials);
        for (var k = 0; k + 1 < finite.Length; k += f == FloatFormat.Float16 ? 1 : 7)
        {
            var mid = (float)((finite[k] + finite[k + 1]) / 2);
            Assert.Equal((finite[k] + finite[k + 1]) / 2, mid); // a tie of two 16-bit neighbours is a float32 exactly
            foreach (var v in new[] { mid, MathF.BitDecrement(mid), MathF.BitIncrement(mid), (float)finite[k] })
            {
                values.Add(v);
                values.Add(-v);
            }
        }
        var rng = new Random(seed);
        for (var k = 0; k < 100_000; k++)
        {
            var bits = rng.Next() ^ (rng.Next(2) << 31);
            // Half of them with an exponent near the format's range (float16: |x| < 2^17), the others anywhere.
            if (f == FloatFormat.Float16 && k % 2 == 0) bits = (bits & unchecked((int)0x807FFFFF)) | ((rng.Next(97, 144) & 0xFF) << 23);
            values.Add(BitConverter.Int32BitsToSingle(bits));
        }
        return values.ToArray();
    }

    /// <summary>Every finite value of the format, ascending, decoded from its bit pattern by the float32 layout (bfloat16:
    /// the high half of a float32) or System.Half (float16): not by the code under test.</summary>
    private static double[] AllValues(FloatFormat f)
    {
        var values = new List<double>();
        for (var b = 0; b < 1 << 16; b++)
        {
            double v = f == FloatFormat.Float16 ? (double)BitConverter.UInt16BitsToHalf((ushort)b) : BitConverter.Int32BitsToSingle(b << 16);
            if (double.IsFinite(v) && !(v == 0 && b != 0)) values.Add(v);
        }
        values.Sort();
        return values.ToArray();
    }

    /// <summary>The nearest value of the sorted list (ties: the one with an even last bit), ±∞ past the IEEE threshold.</summary>
    private static double Nearest(double[] all, FloatFormat f, double x)
    {
        if (double.IsNaN(x) || double.IsInfinity(x) || x == 0) return x;
        var max = all[^1];
        // IEEE: overflow when the rounded value with an unbounded exponent exceeds the largest finite, i.e. from the midpoint
        // between it and the next power of two on.
        var next = max + (max - all[^2]);
        if (Math.Abs(x) >= (max + next) / 2) return double.CopySign(double.PositiveInfinity, x);
        var i = Array.BinarySearch(all, x);
        if (i >= 0) return all[i];
        i = ~i; // all[i − 1] < x < all[i]
        double lo = all[i - 1], hi = all[i];
        var mid = (lo + hi) / 2;
        var r = x < mid ? lo : x > mid ? hi : EvenOf(f, lo, hi);
        return r == 0 ? double.CopySign(0, x) : r;
    }

    private static double EvenOf(FloatFormat f, double a, double b)
    {
        ushort Bits(double v) => f == FloatFormat.Float16 ? BitConverter.HalfToUInt16Bits((Half)v) : (ushort)(BitConverter.SingleToInt32Bits((float)v) >> 16);
        return (Bits(a) & 1) == 0 ? a : b;
    }

    /// <summary>The bit trick of PyTorch's and ONNX Runtime's float → bfloat16 conversion (round to nearest even).</summary>
    private static ushort BFloat16Reference(float x)
    {
        var u = (uint)BitConverter.SingleToInt32Bits(x);
        if (float.IsNaN(x)) return 0x7FC0;
        return (ushort)((u + 0x7FFF + ((u >> 16) & 1)) >> 16);
    }

    private static void AssertSameBits(float expected, double actual, string what)
    {
        var a = (float)actual;
        Assert.Equal((double)a, actual); // the rounded value is a float32
        if (float.IsNaN(expected)) Assert.True(float.IsNaN(a), $"{what}: expected NaN, got {a:R}");
        else Assert.True(BitConverter.SingleToInt32Bits(expected) == BitConverter.SingleToInt32Bits(a), $"{what}: expected {expected:R}, got {a:R}");
    }

    [Fact]
    public void Float16RoundingEqualsSystemHalfBitForBit()
    {
        var values = Values(FloatFormat.Float16, 1);
        foreach (var x in values)
        {
            var half = (Half)x;
            AssertSameBits((float)half, FloatFormat.Float16.Round(x), $"round({x:R})");
            if (!float.IsNaN(x)) Assert.Equal(BitConverter.HalfToUInt16Bits(half), FloatFormat.Float16.ToBits(x));
        }
        // Decoding: all 65536 patterns.
        for (var b = 0; b < 1 << 16; b++)
        {
            var expected = (double)BitConverter.UInt16BitsToHalf((ushort)b);
            var actual = FloatFormat.Float16.FromBits((ushort)b);
            if (double.IsNaN(expected)) Assert.True(double.IsNaN(actual));
            else
            {
                Assert.Equal(BitConverter.DoubleToInt64Bits(expected), BitConverter.DoubleToInt64Bits(actual));
                Assert.Equal((ushort)b, FloatFormat.Float16.ToBits(actual));
            }
        }
        output.WriteLine($"{values.Length} float32 values, all 65536 float16 patterns");
    }

    [Fact]
    public void BFloat16RoundingEqualsTheFloat32BitTrick()
    {
        var values = Values(FloatFormat.BFloat16, 2);
        foreach (var x in values)
        {
            var bits = BFloat16Reference(x);
            AssertSameBits(BitConverter.Int32BitsToSingle(bits << 16), FloatFormat.BFloat16.Round(x), $"round({x:R})");
            if (!float.IsNaN(x)) Assert.Equal(bits, FloatFormat.BFloat16.ToBits(x));
        }
        for (var b = 0; b < 1 << 16; b++)
        {
            var expected = (double)BitConverter.Int32BitsToSingle(b << 16);
            var actual = FloatFormat.BFloat16.FromBits((ushort)b);
            if (double.IsNaN(expected)) Assert.True(double.IsNaN(actual));
            else Assert.Equal(BitConverter.DoubleToInt64Bits(expected), BitConverter.DoubleToInt64Bits(actual));
        }
        output.WriteLine($"{values.Length} float32 values, all 65536 bfloat16 patterns");
    }

    /// <summary>Doubles (what a real-arithmetic layer hands the rounding) round directly, not through float32 first.</summary>
    [Theory]
    [InlineData(FloatFormat.Float16)]
    [InlineData(FloatFormat.BFloat16)]
    public void DoublesRoundToTheNearestValueOfTheFormat(FloatFormat f)
    {
        var all = AllValues(f);
        var rng = new Random(3);
        var doubleRoundingCases = 0;
        var values = new List<double>();
        for (var k = 0; k + 1 < all.Length; k += 3)
        {
            var mid = (all[k] + all[k + 1]) / 2;
            values.AddRange([mid, Math.BitDecrement(mid), Math.BitIncrement(mid), -mid, -Math.BitIncrement(mid)]);
        }
        for (var k = 0; k < 100_000; k++) values.Add((rng.NextDouble() * 2 - 1) * Math.ScaleB(1, rng.Next(-30, 20)));
        values.AddRange([1e300, -1e300, 1e-300, -1e-300, double.Epsilon]);
        foreach (var x in values)
        {
            var expected = Nearest(all, f, x);
            var actual = f.Round(x);
            Assert.True(BitConverter.DoubleToInt64Bits(expected) == BitConverter.DoubleToInt64Bits(actual), $"round({x:R}): expected {expected:R}, got {actual:R}");
            Assert.True(Math.Abs(actual - x) <= f.RoundingError(Math.Abs(x)) || double.IsInfinity(actual), $"round({x:R}) = {actual:R} beyond the error bound");
            if (f.Round((float)x) != actual) doubleRoundingCases++;
        }
        // Just above or below a tie, float32 first would land on the tie and round the other way.
        Assert.True(doubleRoundingCases > 0, "the test values include cases where rounding through float32 differs");
        output.WriteLine($"{values.Count} doubles; {doubleRoundingCases} where float32 first would round differently");
    }

    /// <summary>ONNX Runtime (graph optimizations off) computes the same roundings: Cast(to=16 bits) → Cast(to=FLOAT).</summary>
    [Theory]
    [InlineData(FloatFormat.Float16)]
    [InlineData(FloatFormat.BFloat16)]
    public void OnnxRuntimeCastRoundsTheSame(FloatFormat f)
    {
        var values = Values(f, 4);
        var type = f == FloatFormat.Float16 ? DataType.Float16 : DataType.Bfloat16;
        var b = new OnnxModelBuilder("x", [1, values.Length], "y", values.Length);
        b.Node("Cast", [b.Node("Cast", ["x"], null, OnnxModelBuilder.Int("to", (long)type))], "y", OnnxModelBuilder.Int("to", (long)DataType.Float));
        using var ort = new OrtOracle(b.Save(Path.Combine(_temp.Dir, $"cast-{f}.onnx")));
        var y = ort.Run(values);
        int subnormal = 0, ties = 0;
        for (var i = 0; i < values.Length; i++)
        {
            AssertSameBits(y[i], f.Round(values[i]), $"ORT Cast of {values[i]:R}");
            var r = f.Round(values[i]);
            if (r != 0 && Math.Abs(r) < Math.ScaleB(1, f.MinExponent())) subnormal++;
            if (double.IsFinite(r) && values[i] != r && Math.Abs(values[i] - r) == f.Ulp(Math.Abs(r)) / 2) ties++;
        }
        output.WriteLine($"{f}: {values.Length} values equal bit for bit, {subnormal} of them subnormal results, {ties} exact ties");
        Assert.True(subnormal > 100 && ties > 1000, "the values exercise subnormals and ties");
    }
}
