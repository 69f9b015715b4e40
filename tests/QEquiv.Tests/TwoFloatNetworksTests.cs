using QEquiv.Evaluation;
using QEquiv.Falsification;
using QEquiv.Onnx;
using QEquiv.Quantization;
using QEquiv.Regions;
using QEquiv.Verification;
using Xunit;

namespace QEquiv.Tests;

/// <summary>Two float networks of one shape: ACAS Xu 1_1 and NeuroDiff's float16-rounded copy, both NNet files.</summary>
public sealed class TwoFloatNetworksTests
{
    private static readonly string Original = TestData.Bench("neurodiff/nnet/ACASXU_run2a_1_1_batch_2000.nnet");
    private static readonly string Half = TestData.Bench("neurodiff/compressed_nnets/ACASXU_run2a_1_1_batch_2000_16bit.nnet");

    private static (Model.Network N, Model.Network H) Pair() => OnnxImporter.LoadPair(Original, Half, Runtime.Onnx);

    private static Box Prop1() => VnnLib.ParseBox(TestData.Bench("acasxu/props/prop_1.vnnlib")).Box;

    [Fact]
    public void AWitnessMustBreakDeltaByBothNetworksFloat32Errors()
    {
        var (n, h) = Pair();
        Assert.False(n.IsQuantized || h.IsQuantized);
        var box = Prop1();
        var x = Array.ConvertAll(box.Center(), v => (float)v);
        var e = WitnessChecker.Evaluate(n, h, x);
        var j = Enumerable.Range(0, e.Differences.Length).MaxBy(k => Math.Abs(e.Differences[k]));
        var (en, eh) = (Float32Error.AtPoint(n, x)[j], Float32Error.AtPoint(h, x)[j]);
        Assert.True(en > 0 && eh > 0, "both float networks have a float32 error bound");
        var d = Math.Abs(e.Differences[j]);
        Assert.True(d > 10 * (en + eh), $"the float16 copy differs by {d}, more than the error bounds {en} + {eh}");
        // Between "N's error alone" and "both errors": no witness, since the copy's float32 arithmetic could close the gap.
        Assert.Null(WitnessChecker.Check(n, h, x, d - en - eh / 2));
        var w = WitnessChecker.Check(n, h, x, (d - en - eh) * (1 - 1e-9));
        Assert.NotNull(w);
        Assert.Equal(en + eh, w.Float32Error![j], 15);
    }

    [Fact]
    public void APyTorchRuntimeNeedsAQuantizedOther() =>
        Assert.Contains("--runtime pytorch applies to a quantized model",
            Assert.Throws<BadInputException>(() => OnnxImporter.LoadPair(Original, Half, Runtime.PyTorch)).Message);
}
