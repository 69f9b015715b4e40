using System.Globalization;
using System.Text;
using QEquiv.Falsification;
using QEquiv.Verification;

namespace QEquiv.Reporting;

/// <summary>
/// VNN-COMP's conventions for results. A VNN-LIB property describes the counterexample, so a tool answers whether it is
/// satisfiable: "sat" when an input meets it (QEquiv: falsified, a witness of |N_j − Q_j| ≥ δ), "unsat" when none can
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
    /// The results file: the result word, then for "sat" the witness's input X_i and the float network's outputs Y_j at
    /// it (the float model is the ONNX file of the instance; the quantized outputs are in QEquiv's own witness CSV and
    /// report). Values are written round-trip exact.
    /// </summary>
    public static string ResultsFile(string word, Witness? witness)
    {
        var sb = new StringBuilder(word).Append('\n');
        if (word == Sat && witness is not null) sb.Append(Counterexample(witness.Input, witness.FloatOutput));
        return sb.ToString();
    }

    /// <summary>The counterexample s-expression: <c>((X_0 v)\n (X_1 v)\n … (Y_0 v)\n … )</c> and a final newline.</summary>
    public static string Counterexample(IReadOnlyList<float> inputs, IReadOnlyList<double> outputs)
    {
        var c = CultureInfo.InvariantCulture;
        var items = inputs.Select((v, i) => $"(X_{i} {v.ToString("R", c)})")
            .Concat(outputs.Select((v, j) => $"(Y_{j} {v.ToString("R", c)})"));
        return "(" + string.Join("\n ", items) + ")\n";
    }

    /// <summary>Reads a counterexample back (for tests and tools): the X_i and Y_j values in index order.</summary>
    /// <exception cref="FormatException">not of the form written by <see cref="Counterexample"/>.</exception>
    public static (double[] X, double[] Y) ParseCounterexample(string text)
    {
        var body = text.Trim();
        if (body.Length < 2 || body[0] != '(' || body[^1] != ')') throw new FormatException("a counterexample is one parenthesised list");
        var x = new SortedDictionary<int, double>();
        var y = new SortedDictionary<int, double>();
        foreach (var raw in body[1..^1].Split('\n'))
        {
            var item = raw.Trim();
            if (item.Length == 0) continue;
            if (item[0] != '(' || item[^1] != ')') throw new FormatException($"'{item}' is not (NAME value)");
            var parts = item[1..^1].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length != 2 || parts[0].Length < 3 || parts[0][1] != '_'
                || !int.TryParse(parts[0].AsSpan(2), NumberStyles.None, CultureInfo.InvariantCulture, out var index)
                || !double.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
                throw new FormatException($"'{item}' is not (X_i value) or (Y_j value)");
            var target = parts[0][0] switch { 'X' => x, 'Y' => y, _ => throw new FormatException($"'{item}': expected X_ or Y_") };
            if (!target.TryAdd(index, value)) throw new FormatException($"{parts[0]} appears twice");
        }
        if (x.Keys.Select((k, i) => k != i).Any(b => b) || y.Keys.Select((k, i) => k != i).Any(b => b))
            throw new FormatException("indices must run 0, 1, 2, … without gaps");
        return (x.Values.ToArray(), y.Values.ToArray());
    }
}
