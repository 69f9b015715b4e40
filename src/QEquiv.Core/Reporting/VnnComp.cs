using System.Globalization;
using System.Text;
using QEquiv.Falsification;
using QEquiv.Regions;
using QEquiv.Verification;

namespace QEquiv.Reporting;

/// <summary>
/// VNN-COMP's conventions for results. A VNN-LIB property describes the counterexample, so a tool answers whether it is
/// satisfiable: "sat" when an input meets it (QEquiv: falsified, a witness of |N_j − Q_j| ≥ δ; for a VNN-LIB 2.0 spec
/// |Y_g − Y_f| ≤ ε, one that exceeds ε strictly, see <see cref="TwoNetworkSpec"/>), "unsat" when none can
/// (verified), "timeout" when the time limit ran out first, "unknown" when the tool gave up before its limit (and
/// "error" for a crash, which QEquiv reports by its exit code instead). The results file holds the word on its first
/// line; after "sat" comes the counterexample as an s-expression of input and output values:
/// <c>((X_0 v)\n (X_1 v)\n … (Y_0 v)\n …)</c>.
/// </summary>
public static class VnnComp
{
    public const string Sat = "sat", Unsat = "unsat", Timeout = "timeout", Unknown = "unknown";

    /// <summary>
    /// The VNN-COMP word for a verdict. Unknown counts as a timeout when the run had a limit and used it up (at least
    /// 99 % of it: the deadline is checked between steps, and times are rounded to milliseconds); otherwise it ended
    /// early (a spurious candidate, a depth limit, an interruption) and is "unknown".
    /// </summary>
    public static string ResultWord(Verdict verdict, double seconds, double? timeoutSeconds, bool interrupted = false) => verdict switch
    {
        Verdict.Falsified => Sat,
        Verdict.Verified => Unsat,
        _ => !interrupted && timeoutSeconds is { } t && seconds >= 0.99 * t ? Timeout : Unknown,
    };

    /// <summary>
    /// The results file: the result word, then for "sat" the counterexample. For a VNN-LIB 1.0 instance: the witness's input
    /// X_i and the float network's outputs Y_j at it (the float model is the ONNX file of the instance; the quantized
    /// outputs are in QEquiv's own witness CSV and report). For a VNN-LIB 2.0 two-network spec (<paramref name="spec"/>):
    /// every declared variable in declaration order, named as the spec names them — the first network's input and
    /// outputs (X_f[i], Y_f[j]), then the second's (X_g[i] = X_f[i], Y_g[j]; Q's outputs as float32). Values are written
    /// round-trip exact.
    /// </summary>
    public static string ResultsFile(string word, Witness? witness, TwoNetworkSpec? spec = null)
    {
        var sb = new StringBuilder(word).Append('\n');
        if (word == Sat && witness is not null)
            sb.Append(spec is null ? Counterexample(witness.Input, witness.FloatOutput) : Counterexample(witness, spec));
        return sb.ToString();
    }

    /// <summary>The counterexample s-expression: <c>((X_0 v)\n (X_1 v)\n … (Y_0 v)\n … )</c> and a final newline.</summary>
    public static string Counterexample(IReadOnlyList<float> inputs, IReadOnlyList<double> outputs)
    {
        var c = CultureInfo.InvariantCulture;
        return Assignments(inputs.Select((v, i) => ($"X_{i}", v.ToString("R", c)))
            .Concat(outputs.Select((v, j) => ($"Y_{j}", v.ToString("R", c)))));
    }

    /// <summary>A two-network spec's counterexample: <c>((X_f[0] v)\n … (Y_f[0] v)\n … (X_g[0] v)\n … (Y_g[0] v)\n … )</c>.</summary>
    public static string Counterexample(Witness witness, TwoNetworkSpec spec)
    {
        ArgumentNullException.ThrowIfNull(witness);
        ArgumentNullException.ThrowIfNull(spec);
        var c = CultureInfo.InvariantCulture;
        IEnumerable<(string, string)> Inputs(DeclaredNetwork n) =>
            witness.Input.Select((v, i) => (DeclaredNetwork.Element(n.Input, n.InputShape, i), v.ToString("R", c)));
        return Assignments(Inputs(spec.Reference)
            .Concat(witness.FloatOutput.Select((v, j) => (DeclaredNetwork.Element(spec.Reference.Output, spec.Reference.OutputShape, j), v.ToString("R", c))))
            .Concat(Inputs(spec.Other))
            .Concat(witness.QuantOutput.Select((v, j) => (DeclaredNetwork.Element(spec.Other.Output, spec.Other.OutputShape, j), v.ToString("R", c)))));
    }

    private static string Assignments(IEnumerable<(string Name, string Value)> items) =>
        "(" + string.Join("\n ", items.Select(i => $"({i.Name} {i.Value})")) + ")\n";

    /// <summary>Reads any counterexample back (for tests and tools): (name, value) in the file's order.</summary>
    /// <exception cref="FormatException">not a parenthesised list of (NAME value).</exception>
    public static IReadOnlyList<(string Name, double Value)> ParseAssignments(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var body = text.Trim();
        if (body.Length < 2 || body[0] != '(' || body[^1] != ')') throw new FormatException("a counterexample is one parenthesised list");
        var result = new List<(string, double)>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var raw in body[1..^1].Split('\n'))
        {
            var item = raw.Trim();
            if (item.Length == 0) continue;
            if (item[0] != '(' || item[^1] != ')') throw new FormatException($"'{item}' is not (NAME value)");
            var parts = item[1..^1].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length != 2 || !double.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
                throw new FormatException($"'{item}' is not (NAME value)");
            if (!seen.Add(parts[0])) throw new FormatException($"{parts[0]} appears twice");
            result.Add((parts[0], value));
        }
        return result;
    }

    /// <summary>Reads a VNN-LIB 1.0 counterexample back (for tests and tools): the X_i and Y_j values in index order.</summary>
    /// <exception cref="FormatException">not of the form written by <see cref="Counterexample(IReadOnlyList{float}, IReadOnlyList{double})"/>.</exception>
    public static (double[] X, double[] Y) ParseCounterexample(string text)
    {
        var x = new SortedDictionary<int, double>();
        var y = new SortedDictionary<int, double>();
        foreach (var (name, value) in ParseAssignments(text))
        {
            if (name.Length < 3 || name[1] != '_' || !int.TryParse(name.AsSpan(2), NumberStyles.None, CultureInfo.InvariantCulture, out var index))
                throw new FormatException($"'{name}' is not X_i or Y_j");
            var target = name[0] switch { 'X' => x, 'Y' => y, _ => throw new FormatException($"'{name}': expected X_ or Y_") };
            target.Add(index, value);
        }
        if (x.Keys.Select((k, i) => k != i).Any(b => b) || y.Keys.Select((k, i) => k != i).Any(b => b))
            throw new FormatException("indices must run 0, 1, 2, … without gaps");
        return (x.Values.ToArray(), y.Values.ToArray());
    }
}
