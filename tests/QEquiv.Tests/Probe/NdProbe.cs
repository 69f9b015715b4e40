using System.Diagnostics;
using QEquiv.Bounds;
using QEquiv.Branching;
using QEquiv.Nnet;
using QEquiv.Regions;
using QEquiv.Verification;
using Xunit;
using Xunit.Abstractions;
namespace QEquiv.Tests;
public sealed class NdProbe(ITestOutputHelper output)
{
    static Box Read(string p)
    {
        var d = "/work/main/bench/neurodiff/";
        double[] L(string f) => File.ReadAllText(d + f).Trim().Split(',').Select(double.Parse).ToArray();
        return new Box(L(p + "_lo.csv"), L(p + "_hi.csv"));
    }
    [Trait("Speed", "Probe")]
    [Theory]
    [InlineData("1_3", "p1")]


    [InlineData("1_1", "p16")]

    public void Nodes(string net, string prop)
    {
        var dir = "/work/shared/benchmarks/neurodiff/";
        var n = NnetReader.Read(dir + $"nnet/ACASXU_run2a_{net}_batch_2000.nnet");
        var q = NnetReader.Read(dir + $"compressed_nnets/ACASXU_run2a_{net}_batch_2000_16bit.nnet");
        var box = Read(prop);
        var d = DifferentialBounds.Of(n, q, box);
        var sw = Stopwatch.StartNew();
        for (var i = 0; i < 20; i++) DifferentialBounds.Of(n, q, box);
        output.WriteLine($"{net} {prop}: one bound {sw.Elapsed.TotalMilliseconds / 20:F2} ms; root Δ {string.Join(" ", d.Tightest.Select(t => $"[{t.Lo:G3},{t.Hi:G3}]"))}");
        var goals = Enumerable.Range(0, 5).SelectMany(j => new[] { new Goal(j, 1), new Goal(j, -1) }).ToList();
        foreach (var (c, prod) in new[] { (16, true), (16, false) })
        {
            var r = BranchAndBound.Run(new EquivalenceBranching(n, q, true), box, goals, 0.05, new BranchOptions(TimeSpan.FromSeconds(30), Candidates: c) { Parallelism = prod ? 2 : 1 });
            output.WriteLine($"  candidates {c} product {prod}: {r.Outcome} {r.Nodes} bounds {r.Seconds:F1} s depth {r.MaxDepth} open {r.Open.Count}; proved {string.Join(" ", r.ProvedVolume.Values.Select(v => v.ToString("P0")))}");
        }
    }
}
