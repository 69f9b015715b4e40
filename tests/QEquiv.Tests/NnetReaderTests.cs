using QEquiv.Model;
using QEquiv.Nnet;
using QEquiv.Onnx;
using Xunit;

namespace QEquiv.Tests;

public sealed class NnetReaderTests
{
    private static readonly string[] Files = Directory.GetFiles(TestData.Bench("neurodiff/nnet"), "*.nnet").OrderBy(f => f).ToArray();

    [Fact]
    public void All45AcasNetworksComputeWhatTheirOnnxFilesCompute()
    {
        Assert.Equal(45, Files.Length);
        var rng = new Random(7);
        var worst = 0.0;
        foreach (var file in Files)
        {
            var nnet = OnnxImporter.Load(file);
            var onnx = OnnxImporter.Load(TestData.Bench($"isomorphic/nets/{Path.GetFileNameWithoutExtension(file)}.onnx"));
            Assert.Equal(onnx.InputSize, nnet.InputSize);
            Assert.Equal(onnx.OutputSize, nnet.OutputSize);
            Assert.Equal(onnx.Nodes.Select(n => n.Operator.GetType()), nnet.Nodes.Select(n => n.Operator.GetType()));
            // NeuroDiff's float16-rounded copy reads into the same structure.
            var half = OnnxImporter.Load(TestData.Bench($"neurodiff/compressed_nnets/{Path.GetFileNameWithoutExtension(file)}_16bit.nnet"));
            Assert.Equal(nnet.Nodes.Select(n => n.Operator.GetType()), half.Nodes.Select(n => n.Operator.GetType()));
            for (var k = 0; k < 50; k++)
            {
                // Normalised ACAS inputs lie within about ±0.5 (the property boxes); ±1 covers them.
                var x = Enumerable.Range(0, nnet.InputSize).Select(_ => rng.NextDouble() * 2 - 1).ToArray();
                var a = nnet.Evaluate(x);
                var b = onnx.Evaluate(x);
                for (var j = 0; j < a.Length; j++) worst = Math.Max(worst, Math.Abs(a[j] - b[j]) / (1 + Math.Abs(b[j])));
            }
        }
        // The ONNX files hold the NNet's decimal weights rounded to float32 (relative 6·10⁻⁸ each); measured 1.6·10⁻⁶.
        Assert.True(worst < 1e-5, $"largest relative difference {worst}");
    }

    [Fact]
    public void AnNnetFileShippedAsBytesIsTheSameNetwork()
    {
        // Cluster workers rebuild the pair from the bytes of the job's files, by name; an NNet file must not be read as ONNX.
        var file = Files[0];
        var fromBytes = OnnxImporter.Load(Path.GetFileName(file), File.ReadAllBytes(file));
        Assert.Equal(OnnxImporter.Load(file).Fingerprint, fromBytes.Fingerprint);
    }

    [Fact]
    public void RawUnitsNormaliseTheInputAndDenormaliseTheOutputAsTheHeaderSays()
    {
        var file = Files[0];
        var normalised = NnetReader.Read(file);
        var raw = NnetReader.Read(file, NnetUnits.Raw);
        // ACASXU_run2a_1_1: means 19791.091, 0, 0, 650, 600 and output 7.5188840201005975; ranges 60261, 2π, 2π, 1100, 1200, 373.94992.
        double[] mean = [1.9791091e+04, 0.0, 0.0, 650.0, 600.0], range = [60261.0, 6.28318530718, 6.28318530718, 1100.0, 1200.0];
        var x = new double[] { 30000, 0.5, -1, 800, 700 };
        var u = x.Select((v, i) => (v - mean[i]) / range[i]).ToArray();
        var expected = normalised.Evaluate(u).Select(y => y * 373.94992 + 7.5188840201005975).ToArray();
        var actual = raw.Evaluate(x);
        for (var j = 0; j < expected.Length; j++) Assert.Equal(expected[j], actual[j], 1e-9);
    }

    [Theory]
    [InlineData("1,2,2,2,\n2,2,2,\n", "line 2: expected the 2 layer sizes, found 3 values")]
    [InlineData("1,2,2,2,\n2,3,\n0,\n", "line 2: the last layer size 3 is not the output count 2")]
    [InlineData("1,2,2,2,\n2,2,\n0,\n0,0,\n1,1,\n0,0,0,\n1,1,1,\n1,0,\n0,x,\n0,\n0,\n", "line 9: value 2 of layer 1: weight row 2 of 2 (2 values) is not a finite number: \"x\"")]
    [InlineData("1,2,2,2,\n2,2,\n0,\n0,0,\n1,1,\n0,0,0,\n1,1,1,\n1,0,\n0,1,\n0,\n", "ends before layer 1: bias 2 of 2")]
    [InlineData("1,2,2,2,\n2,2,\n0,\n0,0,\n1,1,\n0,0,0,\n1,1,1,\n1,0,\n0,1,\n0,\n0,\n7,\n", "line 12: unexpected data after the last layer: \"7,\"")]
    [InlineData("// header\n1.5,2,2,2,\n", "line 2: layers must be a whole number ≥ 1, got 1.5")]
    public void ABrokenFileIsOneLineNamingTheFileAndTheLine(string text, string problem)
    {
        var e = Assert.Throws<BadInputException>(() => NnetReader.Parse("x.nnet", text.Split('\n')));
        Assert.Equal($"x.nnet: {problem}", e.Message);
    }

    [Fact]
    public void ASmallFileReadsIntoAffineReluAffine()
    {
        var text = "// c\n2,2,1,2,\n2,2,1,\n0,\n0,0,\n1,1,\n0,0,0,\n1,1,1,\n1,-1,\n2,3,\n0.5,\n-1,\n1,1,\n0,\n";
        var net = NnetReader.Parse("s.nnet", text.Split('\n'));
        Assert.Equal([typeof(Affine), typeof(Relu), typeof(Affine)], net.Nodes.Select(n => n.Operator.GetType()));
        // x = (1, 2): z = (1 − 2 + 0.5, 2 + 6 − 1) = (−0.5, 7), relu → (0, 7), y = 7.
        Assert.Equal(7, net.Evaluate(new double[] { 1, 2 })[0], 12);
    }
}
