namespace QEquiv.Tests;

/// <summary>
/// Locates shared benchmark data in place: tests run from tests/QEquiv.Tests/bin/…, the repository root
/// is the nearest folder holding QEquiv.slnx, and the benchmarks sit beside it in ../shared/benchmarks
/// (the same layout in every worktree and in CI).
/// </summary>
public static class TestData
{
    public static string RepoRoot { get; } = FindRepoRoot();
    public static string Benchmarks { get; } = Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared", "benchmarks"));

    public static string Bench(string relative) => Path.Combine(Benchmarks, relative);

    /// <summary>ACAS Xu network <paramref name="net"/> ("1_4") and its float16 copy as NeuroDiff ships them.</summary>
    public static (Model.Network Float, Model.Network Half) NeuroDiffPair(string net) =>
        (Nnet.NnetReader.Read(Bench($"neurodiff/nnet/ACASXU_run2a_{net}_batch_2000.nnet")),
         Nnet.NnetReader.Read(Bench($"neurodiff/compressed_nnets/ACASXU_run2a_{net}_batch_2000_16bit.nnet")));

    /// <summary>NeuroDiff's box of a property ("p1"), as <c>bench/make-neurodiff.sh</c> wrote it (lower and upper rows).</summary>
    public static (double[] Lo, double[] Hi) NeuroDiffBox(string property)
    {
        double[] Row(string f) => File.ReadAllText(Path.Combine(RepoRoot, "bench/neurodiff", f)).Trim().Split(',')
            .Select(v => double.Parse(v, System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        return (Row($"{property}_lo.csv"), Row($"{property}_hi.csv"));
    }

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "QEquiv.slnx"))) return dir.FullName;
        throw new InvalidOperationException($"no folder above {AppContext.BaseDirectory} contains QEquiv.slnx");
    }
}
