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

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "QEquiv.slnx"))) return dir.FullName;
        throw new InvalidOperationException($"no folder above {AppContext.BaseDirectory} contains QEquiv.slnx");
    }
}
