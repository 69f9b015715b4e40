using System.Globalization;

namespace QEquiv.Tests;

[Collection("Console")]
public class CliTests
{
    [Fact]
    public void EvalPrintsTheFixturesLargestDifference()
    {
        // The README's first command; the fixture's JSON records 0.15834712982177734 (float32 outputs).
        var (exit, output, err) = CliRunner.Run("eval", "--float", TestData.Bench("mnistfc/mnist-net_256x2.onnx"),
            "--quant", TestData.Bench("pytorch/mnist-net_256x2.qnnpack-qdq.onnx"), "--inputs", TestData.Bench("pytorch/inputs.csv"));
        Assert.True(exit == 0, err);
        var lines = output.TrimEnd().Split('\n');
        Assert.Equal(302, lines.Length); // header, 300 rows, summary
        var last = lines[^1];
        Assert.StartsWith("largest |N - Q| over 300 rows: ", last);
        var value = double.Parse(last["largest |N - Q| over 300 rows: ".Length..].Split(' ')[0], CultureInfo.InvariantCulture);
        Assert.Equal(0.15834712982177734, value, 1e-6);
    }

    [Fact]
    public void InspectShowsPerChannelScalesAndRelu()
    {
        var (exit, output, _) = CliRunner.Run("inspect", TestData.Bench("pytorch/mnist-net_256x2.qnnpack-perchannel-qdq.onnx"));
        Assert.Equal(0, exit);
        Assert.Contains("per-channel", output);
        Assert.Contains("max(q, zp)", output);
        Assert.Contains("784→256", output);
    }
}
