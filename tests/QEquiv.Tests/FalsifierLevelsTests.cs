using QEquiv.Falsification;
using QEquiv.Onnx;
using QEquiv.Quantization;
using QEquiv.Regions;

namespace QEquiv.Tests;

/// <summary>
/// The values the coordinate-wise search moves an input to: its bounds and both ends of every input-code cell between them,
/// so that the middle codes of a small ball (three codes per pixel on ±1/255 MNIST) are reachable at all.
/// </summary>
public class FalsifierLevelsTests
{
    [Theory]
    [InlineData(1f / 255, 0, QuantType.UInt8)]
    [InlineData(0.0078125f, 128, QuantType.UInt8)]
    [InlineData(0.013f, -3, QuantType.Int8)]
    public void EveryCodeInTheRangeIsReachedAtBothEndsOfItsCell(float scale, int zeroPoint, QuantType type)
    {
        var p = new QuantParams(scale, zeroPoint, type);
        var rng = new Random(3);
        var n = 400;
        var lo = new float[n];
        var hi = new float[n];
        for (var i = 0; i < n; i++)
        {
            var centre = (float)(rng.NextDouble() * 2 - 0.5);
            var radius = (float)(rng.NextDouble() * 4 * scale);
            lo[i] = centre - radius;
            hi[i] = i % 10 == 0 ? lo[i] : centre + radius;
        }

        var levels = Falsifier.Levels(lo, hi, p, null, maxCells: 8);

        for (var i = 0; i < n; i++)
        {
            var l = levels[i];
            Assert.All(l, v => Assert.InRange(v, lo[i], hi[i]));
            Assert.Equal(l.Length, l.Distinct().Count());
            int cLo = QuantMath.Quantize(lo[i], p), cHi = QuantMath.Quantize(hi[i], p);
            if (lo[i] == hi[i]) { Assert.Equal([lo[i]], l); continue; }
            Assert.Equal(hi[i], l[0]);
            Assert.Equal(lo[i], l[1]);
            if (cHi - cLo + 1 > 8) { Assert.Equal(2, l.Length); continue; }
            var codes = l.Select(v => QuantMath.Quantize(v, p)).ToList();
            // Every code is reached at both ends of its cell inside [lo, hi] (one level where the cell holds one float32).
            for (var c = cLo; c <= cHi; c++) Assert.Contains(c, codes);
            Assert.Equal(2 * (cHi - cLo + 1), l.Length);
            // Each interior level is an exact cell edge: its neighbouring float32 on the other side has another code.
            foreach (var v in l.Skip(2))
            {
                var code = QuantMath.Quantize(v, p);
                var edge = QuantMath.Quantize(MathF.BitDecrement(v), p) != code || QuantMath.Quantize(MathF.BitIncrement(v), p) != code;
                Assert.True(edge, $"input {i}: {v:R} (code {code}) is not at the end of its cell");
            }
        }
    }

    [Fact]
    public void WithoutInputQuantizationOnlyTheBoundsAreTried()
    {
        var levels = Falsifier.Levels([0f, 0.5f], [1f, 0.5f], null, null, maxCells: 8);
        Assert.Equal([1f, 0f], levels[0]);
        Assert.Equal([0.5f], levels[1]);
    }

    /// <summary>
    /// On a ±1/255 MNIST ball the search that also visits the cells' ends finds a larger error than the bounds-only search
    /// with the same number of evaluations (deterministic: seeded, no time budget), and what it reports is re-executed.
    /// </summary>
    [Fact]
    [Trait("Speed", "Slow")]
    public void CellEndsFindLargerErrorsOnAGreyLevelBall()
    {
        var n = G(OnnxImporter.LoadFloat(TestData.Bench("mnistfc/mnist-net_256x2.onnx")));
        var q = G(OnnxImporter.LoadQuantized(TestData.Bench("pytorch/mnist-net_256x2.qnnpack-qdq.onnx")));
        var box = Region.BallAroundFile(Path.Combine(TestData.RepoRoot, "bench/centers/row0.csv"), 1.0 / 255, (0, 1));
        FalsifierOptions Options(int cells) => new(Seed: 1) { StopAtFirstWitness = false, MaxSearchEvaluations = 40_000, MaxCellsPerInput = cells };

        var boundsOnly = Falsifier.Search(n, q, box, 1.0, Options(1));
        var cells = Falsifier.Search(n, q, box, 1.0, Options(8));

        Assert.True(cells.BestMaxAbsDifference > boundsOnly.BestMaxAbsDifference,
            $"cells {cells.BestMaxAbsDifference:R}, bounds only {boundsOnly.BestMaxAbsDifference:R}");
        var best = cells.PerOutput.MaxBy(o => o.MaxAbsDifference)!;
        Assert.True(box.Contains(best.MaxAbsInput));
        Assert.Equal(best.MaxAbsDifference, WitnessChecker.Evaluate(n, q, best.MaxAbsInput).Differences.Select(Math.Abs).Max(), 12);
    }
}
