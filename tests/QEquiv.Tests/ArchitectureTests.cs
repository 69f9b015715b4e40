using System.Text.RegularExpressions;

namespace QEquiv.Tests;

/// <summary>The folder tree reads like the architecture: namespaces (one per folder) depend only downward.</summary>
public partial class ArchitectureTests
{
    [GeneratedRegex(@"^namespace\s+([\w.]+)\s*;", RegexOptions.Multiline)]
    private static partial Regex NamespaceLine();

    [GeneratedRegex(@"^using\s+(QEquiv[\w.]*)\s*;", RegexOptions.Multiline)]
    private static partial Regex UsingLine();

    internal static Dictionary<string, HashSet<string>> Dependencies()
    {
        var deps = new Dictionary<string, HashSet<string>>();
        var src = Path.Combine(TestData.RepoRoot, "src");
        foreach (var file in Directory.EnumerateFiles(src, "*.cs", SearchOption.AllDirectories))
        {
            if (file.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}") || file.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}"))
                continue;
            var text = File.ReadAllText(file);
            var ns = NamespaceLine().Match(text);
            if (!ns.Success) continue;
            var from = ns.Groups[1].Value;
            if (!deps.TryGetValue(from, out var set)) deps[from] = set = [];
            foreach (Match u in UsingLine().Matches(text))
                if (u.Groups[1].Value != from && !u.Groups[1].Value.StartsWith(from + ".", StringComparison.Ordinal)) set.Add(u.Groups[1].Value);
        }
        return deps;
    }

    /// <summary>Tarjan's strongly connected components with more than one member.</summary>
    internal static List<HashSet<string>> Cycles(Dictionary<string, HashSet<string>> deps)
    {
        var index = new Dictionary<string, int>();
        var low = new Dictionary<string, int>();
        var stack = new Stack<string>();
        var onStack = new HashSet<string>();
        var result = new List<HashSet<string>>();
        var next = 0;
        void Visit(string v)
        {
            index[v] = low[v] = next++;
            stack.Push(v);
            onStack.Add(v);
            foreach (var w in deps.GetValueOrDefault(v) ?? [])
            {
                if (!index.ContainsKey(w)) { Visit(w); low[v] = Math.Min(low[v], low[w]); }
                else if (onStack.Contains(w)) low[v] = Math.Min(low[v], index[w]);
            }
            if (low[v] != index[v]) return;
            var component = new HashSet<string>();
            string x;
            do { x = stack.Pop(); onStack.Remove(x); component.Add(x); } while (x != v);
            if (component.Count > 1) result.Add(component);
        }
        foreach (var v in deps.Keys.Order()) if (!index.ContainsKey(v)) Visit(v);
        return result;
    }

    [Fact]
    public void NamespacesFormNoCycle()
    {
        var deps = Dependencies();
        Assert.Contains("QEquiv.Model", deps.Keys);
        var cycles = Cycles(deps).Select(c => string.Join(" ↔ ", c.Order())).ToList();
        Assert.True(cycles.Count == 0, $"namespace cycles: {string.Join("; ", cycles)}");
    }

    /// <summary>
    /// The engine schedules opaque work items: it knows boxes, limits and the split tree, and nothing of the equivalence
    /// property, the solvers or the verifier that use it (they depend on it, never the reverse).
    /// </summary>
    [Fact]
    public void TheEngineKnowsOnlyBoxes()
    {
        var deps = Dependencies();
        Assert.True(deps["QEquiv.Scheduling"].SetEquals(["QEquiv.Regions"]), string.Join(", ", deps["QEquiv.Scheduling"]));
        Assert.Contains("QEquiv.Scheduling", deps["QEquiv.Equivalence"]);
        Assert.DoesNotContain("QEquiv.Verification", deps["QEquiv.Equivalence"]);
        Assert.DoesNotContain("QEquiv.Verification", deps["QEquiv.Partitioning"]);
        // The cluster's wire moves the engine's records only: what an item asks travels as the owner's bytes.
        Assert.True(deps["QEquiv.Cluster.Wire"].SetEquals(["QEquiv.Regions", "QEquiv.Scheduling"]), string.Join(", ", deps["QEquiv.Cluster.Wire"]));
    }

    [Fact]
    public void TheCycleFinderFindsACycle()
    {
        var deps = new Dictionary<string, HashSet<string>> { ["A"] = ["B"], ["B"] = ["C"], ["C"] = ["A"], ["D"] = ["A"] };
        var cycles = Cycles(deps);
        Assert.Single(cycles);
        Assert.True(cycles[0].SetEquals(["A", "B", "C"]));
    }

    /// <summary>The network model and the runtime's arithmetic are the bottom layers: they know nothing of any analysis.</summary>
    [Fact]
    public void TheModelDependsOnlyOnTheArithmetic()
    {
        var deps = Dependencies();
        Assert.True(deps["QEquiv.Model"].SetEquals(["QEquiv.Quantization"]), string.Join(", ", deps["QEquiv.Model"]));
        Assert.Empty(deps.GetValueOrDefault("QEquiv.Quantization") ?? []);
    }
}
