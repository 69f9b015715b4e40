using System.Diagnostics;
using System.Text.Json;

namespace QEquiv.Tests;

/// <summary>
/// The .NET tool package and the single-file binary carry OR-Tools' native solver libraries. `dotnet pack` takes
/// minutes here (a 200 MB package), so this asks MSBuild for the list pack zips instead — the README's command
/// `dotnet msbuild src/QEquiv.Cli -t:ComputeResolvedFilesToPublishList -getItem:ResolvedFileToPublish` (a tool package
/// holds the publish list under tools/net10.0/any/) — and for the tool properties. Benchmark-free, a few seconds.
/// </summary>
public sealed class PackagingTests
{
    private static readonly string[] Solvers =
        ["google-ortools-native.so", "libortools.so.9", "libscip.so.10.0", "libhighs.so.1", "libCbc.so.2", "libCbcSolver.so.2", "libOsiCbc.so.2"];

    private static JsonElement Query()
    {
        var configuration = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}") ? "Release" : "Debug";
        var psi = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = TestData.RepoRoot,
        };
        foreach (var a in new[] { "msbuild", "src/QEquiv.Cli", "-nologo", "-t:ComputeResolvedFilesToPublishList", $"-p:Configuration={configuration}",
                     "-getProperty:PackAsTool", "-getProperty:ToolCommandName", "-getProperty:PackageId",
                     "-getProperty:IncludeNativeLibrariesForSelfExtract", "-getItem:ResolvedFileToPublish" })
            psi.ArgumentList.Add(a);
        // The test host runs under `dotnet test`: let the child MSBuild find its own SDK.
        foreach (var k in new[] { "MSBUILD_EXE_PATH", "MSBuildExtensionsPath", "MSBuildSDKsPath", "MSBuildLoadMicrosoftTargetsReadOnly" })
            psi.Environment.Remove(k);
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        var stdout = p.StandardOutput.ReadToEnd();
        if (!p.WaitForExit(TimeSpan.FromMinutes(3))) { p.Kill(entireProcessTree: true); Assert.Fail("dotnet msbuild did not end"); }
        Assert.True(p.ExitCode == 0, $"dotnet msbuild exit {p.ExitCode}: {stdout} {stderr.Result}");
        return JsonDocument.Parse(stdout).RootElement.Clone();
    }

    [Trait("Speed", "Slow")]
    [Fact]
    public void TheToolPackageAndTheSingleFileCarryTheNativeSolverLibraries()
    {
        var root = Query();
        var props = root.GetProperty("Properties");
        Assert.Equal("true", props.GetProperty("PackAsTool").GetString());
        Assert.Equal("qequiv", props.GetProperty("ToolCommandName").GetString());
        Assert.Equal("qequiv", props.GetProperty("PackageId").GetString());
        Assert.Equal("true", props.GetProperty("IncludeNativeLibrariesForSelfExtract").GetString());

        var files = root.GetProperty("Items").GetProperty("ResolvedFileToPublish").EnumerateArray()
            .ToDictionary(f => f.GetProperty("RelativePath").GetString()!.Replace('\\', '/'), f => f.GetProperty("FullPath").GetString()!);
        Assert.Contains("qequiv.dll", files.Keys);
        Assert.Contains("qequiv.deps.json", files.Keys);
        foreach (var rid in new[] { "linux-x64", "linux-arm64" })
            foreach (var lib in Solvers)
            {
                var relative = $"runtimes/{rid}/native/{lib}";
                Assert.True(files.TryGetValue(relative, out var source), $"{relative} is not in the package");
                Assert.True(new FileInfo(source).Length > 0, $"{source} is missing or empty");
            }
    }
}
