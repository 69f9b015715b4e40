using QEquiv.Quantization;

namespace QEquiv.Tests;

public class QuantMathTests
{
    [Theory]
    [InlineData(0.5f, 0)]
    [InlineData(1.5f, 2)]
    [InlineData(2.5f, 2)]
    [InlineData(-0.5f, 0)]
    [InlineData(-2.5f, -2)]
    [InlineData(-1.5f, -2)]
    [InlineData(2.4999998f, 2)]
    public void RoundsHalfToEven(float v, long expected) => Assert.Equal(expected, QuantMath.RoundHalfEven(v));

    [Fact]
    public void QuantizeSaturatesAndDividesInFloat32()
    {
        var p = new QuantParams(0.1f, 10, QuantType.UInt8);
        Assert.Equal(255, QuantMath.Quantize(1000f, p));
        Assert.Equal(0, QuantMath.Quantize(-1000f, p));
        Assert.Equal(10 + (int)MathF.Round(0.37f / 0.1f), QuantMath.Quantize(0.37f, p));
        var s8 = new QuantParams(0.5f, 0, QuantType.Int8);
        Assert.Equal(-128, QuantMath.Quantize(-1000f, s8));
        Assert.Equal(127, QuantMath.Quantize(1000f, s8));
    }

    [Fact]
    public void RequantizationMultiplierIsFloat32()
    {
        // The semantics reference's example: a double multiplier would round 64.5000035 up to 65.
        var m = QuantMath.Multiplier(0.0422782f, 0.03936887f, 0.0028643936f);
        var q = QuantMath.Requantize(111, m, new QuantParams(1f, 0, QuantType.UInt8));
        Assert.Equal(64, q);
        var exact = 111.0 * 0.0422782 * 0.03936887 / 0.0028643936;
        Assert.Equal(65, (int)Math.Round(exact, MidpointRounding.ToEven));
    }
}
