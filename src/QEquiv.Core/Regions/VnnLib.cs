using System.Globalization;
using System.Text;

namespace QEquiv.Regions;

/// <summary>The input box of a VNN-LIB file, and whether output constraints were present (and ignored); for a VNN-LIB 2.0
/// two-network spec, its property (<see cref="Equivalence"/>), whose output constraints are the tolerance, not ignored.</summary>
public sealed record VnnLibRegion(Box Box, int OutputCount, bool OutputConstraintsIgnored)
{
    /// <summary>The two-network property of a VNN-LIB 2.0 spec; null for a VNN-LIB 1.0 file.</summary>
    public TwoNetworkSpec? Equivalence { get; init; }

    /// <summary>A line for the user when the file's output property was dropped; null otherwise.</summary>
    public string? Notice => OutputConstraintsIgnored
        ? "output constraints ignored: QEquiv checks ‖N(x) − Q(x)‖∞ < δ, not the file's output property"
        : null;
}

/// <summary>
/// Reads the input box of a VNN-LIB 1.0 property. Only the input region matters to equivalence
/// checking, so assertions about Y_ are skipped (and reported). Inputs must form a single box:
/// per-variable bounds (&lt;= X_i c), (&gt;= X_i c), (&lt;= c X_i), (&gt;= c X_i), (= X_i c), possibly
/// grouped in (and …) or in an (or …) with one disjunct, as VNN-COMP files write them. Anything the
/// box cannot represent exactly (a disjunction of input regions, a constraint linking inputs to each
/// other or to outputs) is rejected rather than over-approximated, because a box larger than the
/// property's region could report a counterexample outside it.
/// <para>A file that starts with <c>(vnnlib-version &lt;2.0&gt;)</c> is a VNN-LIB 2.0 spec, of which the two-network
/// equivalence form is read (VNN-COMP's isomorphic_acasxu; see <see cref="VnnLib2"/>): its box and its
/// <see cref="TwoNetworkSpec"/>. A gzip-compressed file (.vnnlib.gz) is read as the plain one.</para>
/// </summary>
public static class VnnLib
{
    /// <exception cref="BadInputException">unreadable file or any problem listed on the type; the message names the file.</exception>
    public static VnnLibRegion ParseBox(string path)
    {
        return ParseText(Data.TextFile.ReadAllText(path), path);
    }

    /// <summary>Parses VNN-LIB text; <paramref name="source"/> names the origin in errors.</summary>
    public static VnnLibRegion ParseText(string text, string source)
    {
        var forms = Read(text, source);
        return forms.Any(f => f.IsList("vnnlib-version")) ? new VnnLib2(source).Run(forms) : new Parser(source).Run(forms);
    }

    internal sealed record Node(string? Atom, IReadOnlyList<Node> Items, int Line)
    {
        public bool IsAtom => Atom is not null;
        public bool IsList(string head) => !IsAtom && Items.Count > 0 && Items[0].Atom == head;
        public override string ToString()
        {
            if (Atom is not null) return Atom;
            var s = "(" + string.Join(" ", Items.Select(i => i.ToString())) + ")";
            return s.Length <= 80 ? s : s[..77] + "...";
        }
    }

    private enum VarKind { Input, Output }

    private sealed class Parser(string source)
    {
        private readonly Dictionary<string, (VarKind Kind, int Index)> _vars = new(StringComparer.Ordinal);
        private readonly Dictionary<int, double> _lo = [];
        private readonly Dictionary<int, double> _hi = [];
        private bool _outputIgnored;

        public VnnLibRegion Run(List<Node> forms)
        {
            foreach (var form in forms)
                Command(form);

            var inputs = _vars.Values.Where(v => v.Kind == VarKind.Input).Select(v => v.Index).OrderBy(i => i).ToArray();
            var outputs = _vars.Values.Where(v => v.Kind == VarKind.Output).Select(v => v.Index).OrderBy(i => i).ToArray();
            if (inputs.Length == 0) throw Error("no input variables (declare-const X_i Real) declared");
            CheckContiguous(inputs, "X");
            CheckContiguous(outputs, "Y");
            if (_lo.Count == 0 && _hi.Count == 0) throw Error("no input bounds: the file asserts nothing about X_i");

            var lo = new double[inputs.Length];
            var hi = new double[inputs.Length];
            for (var i = 0; i < inputs.Length; i++)
            {
                var hasLo = _lo.TryGetValue(i, out lo[i]);
                var hasHi = _hi.TryGetValue(i, out hi[i]);
                if (!hasLo && !hasHi) throw Error($"input X_{i} is not bounded (it needs a lower and an upper bound)");
                if (!hasLo) throw Error($"input X_{i} has an upper bound but no lower bound");
                if (!hasHi) throw Error($"input X_{i} has a lower bound but no upper bound");
            }
            return new VnnLibRegion(Box.Create(lo, hi, source), outputs.Length, _outputIgnored);
        }

        private void CheckContiguous(int[] sorted, string prefix)
        {
            for (var i = 0; i < sorted.Length; i++)
                if (sorted[i] != i) throw Error($"{prefix}_{i} is not declared but {prefix}_{sorted[^1]} is (variables must be numbered from 0 without gaps)");
        }

        private void Command(Node form)
        {
            if (form.IsAtom || form.Items.Count == 0 || !form.Items[0].IsAtom)
                throw Error($"line {form.Line}: expected a command such as (declare-const …) or (assert …), found {form}");
            switch (form.Items[0].Atom)
            {
                case "declare-const":
                    Declare(form);
                    break;
                case "assert":
                    if (form.Items.Count != 2) throw Error($"line {form.Line}: assert takes one formula: {form}");
                    Assert(form.Items[1]);
                    break;
                case "check-sat" or "get-model" or "exit" or "set-logic" or "set-info" or "set-option":
                    break; // solver-script commands some generators append; they carry no region information
                default:
                    throw Error($"line {form.Line}: unsupported command '{form.Items[0].Atom}'");
            }
        }

        private void Declare(Node form)
        {
            if (form.Items.Count != 3 || !form.Items[1].IsAtom || !form.Items[2].IsAtom)
                throw Error($"line {form.Line}: malformed declaration {form}");
            var name = form.Items[1].Atom!;
            if (form.Items[2].Atom != "Real")
                throw Error($"line {form.Line}: {name} has sort {form.Items[2].Atom}; only Real is supported");
            var v = ParseName(name) ?? throw Error($"line {form.Line}: variable '{name}' is neither X_i nor Y_i");
            if (!_vars.TryAdd(name, v)) throw Error($"line {form.Line}: {name} is declared twice");
        }

        private static (VarKind, int)? ParseName(string name)
        {
            if (name.Length < 3 || name[1] != '_' || (name[0] != 'X' && name[0] != 'Y')) return null;
            if (!int.TryParse(name.AsSpan(2), NumberStyles.None, CultureInfo.InvariantCulture, out var index)) return null;
            return (name[0] == 'X' ? VarKind.Input : VarKind.Output, index);
        }

        private void Assert(Node f)
        {
            var (inputs, outputs) = Mentions(f);
            if (!inputs)
            {
                if (!outputs) throw Error($"line {f.Line}: assertion mentions no variable: {f}");
                _outputIgnored = true;
                return;
            }
            if (f.IsList("and"))
            {
                foreach (var c in f.Items.Skip(1)) Assert(c);
                return;
            }
            if (f.IsList("or"))
            {
                // VNN-COMP writes single-region properties as (or (and <inputs> <outputs>)).
                if (f.Items.Count == 2) { Assert(f.Items[1]); return; }
                throw Error($"line {f.Line}: a disjunction over input constraints describes several regions; only a single box is supported");
            }
            if (outputs)
                throw Error($"line {f.Line}: constraint relating inputs and outputs is not supported: {f}");
            Bound(f);
        }

        private void Bound(Node f)
        {
            if (f.IsAtom || f.Items.Count != 3 || f.Items[0].Atom is not ("<=" or ">=" or "="))
                throw Error($"line {f.Line}: unsupported input constraint {f} (expected (<= X_i c), (>= X_i c) or (= X_i c))");
            var op = f.Items[0].Atom!;
            var a = f.Items[1];
            var b = f.Items[2];
            int index;
            double c;
            if (InputIndex(a) is { } ia && Number(b) is { } cb) { index = ia; c = cb; }
            else if (InputIndex(b) is { } ib && Number(a) is { } ca)
            {
                index = ib;
                c = ca;
                op = op switch { "<=" => ">=", ">=" => "<=", _ => op }; // c <= X  ⇔  X >= c
            }
            else throw Error($"line {f.Line}: unsupported input constraint {f} (expected one input variable and one number)");

            if (!double.IsFinite(c)) throw Error($"line {f.Line}: bound of X_{index} is not finite: {f}");
            // Several bounds on one side intersect: the region satisfies all of them.
            if (op is "<=" or "=") _hi[index] = _hi.TryGetValue(index, out var h) ? Math.Min(h, c) : c;
            if (op is ">=" or "=") _lo[index] = _lo.TryGetValue(index, out var l) ? Math.Max(l, c) : c;
        }

        private int? InputIndex(Node n)
        {
            if (!n.IsAtom || !(n.Atom!.StartsWith("X_", StringComparison.Ordinal))) return null;
            if (!_vars.TryGetValue(n.Atom, out var v)) throw Error($"line {n.Line}: {n.Atom} is used but not declared");
            return v.Index;
        }

        private double? Number(Node n)
        {
            if (n.IsList("-") && n.Items.Count == 2 && Number(n.Items[1]) is { } neg) return -neg; // SMT-LIB unary minus
            if (!n.IsAtom) return null;
            return double.TryParse(n.Atom, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v : null;
        }

        private (bool Inputs, bool Outputs) Mentions(Node n)
        {
            if (n.IsAtom)
            {
                if (_vars.TryGetValue(n.Atom!, out var v)) return (v.Kind == VarKind.Input, v.Kind == VarKind.Output);
                if (ParseName(n.Atom!) is not null) throw Error($"line {n.Line}: {n.Atom} is used but not declared");
                return (false, false);
            }
            bool inputs = false, outputs = false;
            foreach (var c in n.Items)
            {
                var (i, o) = Mentions(c);
                inputs |= i;
                outputs |= o;
            }
            return (inputs, outputs);
        }

        private BadInputException Error(string problem) => BadInputException.For(source, problem);
    }

    internal static List<Node> Read(string text, string source)
    {
        BadInputException Error(string problem) => BadInputException.For(source, problem);
        var stack = new Stack<(List<Node> Items, int Line)>();
        var top = new List<Node>();
        var line = 1;
        var atom = new StringBuilder();
        var atomLine = 1;

        void Flush()
        {
            if (atom.Length == 0) return;
            var node = new Node(atom.ToString(), [], atomLine);
            atom.Clear();
            if (stack.Count == 0) throw Error($"line {node.Line}: '{node.Atom}' outside parentheses");
            stack.Peek().Items.Add(node);
        }

        for (var k = 0; k < text.Length; k++)
        {
            var ch = text[k];
            switch (ch)
            {
                case ';':
                    Flush();
                    while (k + 1 < text.Length && text[k + 1] != '\n') k++;
                    break;
                case '(':
                    Flush();
                    stack.Push(([], line));
                    break;
                case ')':
                    Flush();
                    if (stack.Count == 0) throw Error($"line {line}: unbalanced ')'");
                    var (items, open) = stack.Pop();
                    var list = new Node(null, items, open);
                    (stack.Count == 0 ? top : stack.Peek().Items).Add(list);
                    break;
                default:
                    if (char.IsWhiteSpace(ch)) Flush();
                    else
                    {
                        if (atom.Length == 0) atomLine = line;
                        atom.Append(ch);
                    }
                    break;
            }
            if (ch == '\n') line++;
        }
        Flush();
        if (stack.Count > 0) throw Error($"unbalanced parentheses: '(' opened on line {stack.Peek().Line} is never closed");
        return top;
    }
}
