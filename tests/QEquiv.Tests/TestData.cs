namespace QEquiv.Tests;

/// <summary>Locates the repository and the shared benchmark data, which tests read in place.</summary>
public static class TestData
{
    public static string RepoRoot { get; } = FindRoot();
    public static string Benchmarks => Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared", "benchmarks"));
    public static string Bench(string relative) => Path.Combine(Benchmarks, relative);

    private static string FindRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "QEquiv.slnx"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("cannot find the repository root (QEquiv.slnx) above " + AppContext.BaseDirectory);
    }
}
