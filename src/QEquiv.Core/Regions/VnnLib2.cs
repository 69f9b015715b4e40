using System.Globalization;

namespace QEquiv.Regions;

/// <summary>
/// The two-network equivalence subset of VNN-LIB 2.0, as VNN-COMP's isomorphic_acasxu writes it:
/// <code>
/// (vnnlib-version &lt;2.0&gt;)
/// (declare-network f (declare-input X_f real [5]) (declare-output Y_f real [5]))
/// (declare-network g (isomorphic-to f) (declare-input X_g real [5]) (declare-output Y_g real [5]))
/// (assert (and (&lt;= X_f[0] 0.68) (&gt;= X_f[0] 0.6)))   ; … a lower and an upper bound on every X_f[i] (or X_g[i])
/// (assert (== X_f[0] X_g[0]))                       ; … for every i: both networks get the same input
/// (assert (and (&lt;= Y_g[0] (+ Y_f[0] 0.05)) (&gt;= Y_g[0] (- Y_f[0] 0.05))))   ; … for every output j
/// </code>
/// read into the box of X_f and a <see cref="TwoNetworkSpec"/> (f the reference N, g the other Q). The output constraints
/// are read as the property the networks must satisfy — what the benchmark asks ("ε-equivalence") — and each may be
/// written in any linear form of Y_g[j] − Y_f[j] against one number (<c>(&lt;= (- Y_g[j] Y_f[j]) 0.05)</c>, operands
/// swapped, …). Element types real and float32 (QEquiv's verdicts hold for N in real arithmetic and in every float32
/// order); shapes of any rank, elements row-major. Bounds on one side of one element intersect.
/// <para>Refused, each in one line naming the file and the construct (a spec read otherwise would answer another
/// question): another version, a third network, hidden-node variables, several inputs or outputs of one network, other
/// element types, a network equal-to another, inputs of different shapes, a missing or unequal input equality
/// (X_f[0] = X_g[1]), strict comparisons, disjunctions and negations, a constraint on one network's outputs alone or
/// mixing inputs and outputs, an output (or one side of one) left unconstrained, a bound ≤ 0, a constant written more
/// than once in one constraint (it could not be kept exactly).</para>
/// </summary>
internal sealed class VnnLib2(string source)
{
    private readonly List<DeclaredNetwork> _networks = [];
    private readonly Dictionary<string, (int Network, bool IsInput, int[] Shape)> _variables = new(StringComparer.Ordinal);
    private readonly Dictionary<int, double> _lo = [];
    private readonly Dictionary<int, double> _hi = [];
    private readonly HashSet<int> _equated = [];
    private readonly Dictionary<int, double> _plus = [];
    private readonly Dictionary<int, double> _minus = [];
    private bool _versionSeen;

    public VnnLibRegion Run(List<VnnLib.Node> forms)
    {
        foreach (var form in forms) Command(form);
        if (_networks.Count == 0) throw Error("declares no network (declare-network …)");
        if (_networks.Count == 1)
            throw Error($"declares one network ('{_networks[0].Name}'); QEquiv reads VNN-LIB 2.0 specs that compare two networks");
        var (f, g) = (_networks[0], _networks[1]);
        var n = f.InputSize;
        var lo = new double[n];
        var hi = new double[n];
        for (var i = 0; i < n; i++)
        {
            var hasLo = _lo.TryGetValue(i, out lo[i]);
            var hasHi = _hi.TryGetValue(i, out hi[i]);
            var x = DeclaredNetwork.Element(f.Input, f.InputShape, i);
            if (!hasLo && !hasHi) throw Error($"input {x} is not bounded (it needs a lower and an upper bound)");
            if (!hasLo) throw Error($"input {x} has an upper bound but no lower bound");
            if (!hasHi) throw Error($"input {x} has a lower bound but no upper bound");
            if (!_equated.Contains(i))
                throw Error($"{DeclaredNetwork.Element(g.Input, g.InputShape, i)} is not equated with {x} ((== {x} {DeclaredNetwork.Element(g.Input, g.InputShape, i)})): "
                    + "QEquiv compares the networks on the same input");
        }
        var m = f.OutputSize;
        var plus = new double[m];
        var minus = new double[m];
        for (var j = 0; j < m; j++)
        {
            var (yf, yg) = (DeclaredNetwork.Element(f.Output, f.OutputShape, j), DeclaredNetwork.Element(g.Output, g.OutputShape, j));
            var hasPlus = _plus.TryGetValue(j, out plus[j]);
            var hasMinus = _minus.TryGetValue(j, out minus[j]);
            if (!hasPlus && !hasMinus)
                throw Error($"output {yg} is not constrained: QEquiv checks |{yg} − {yf}| on every output, give each one's bounds");
            if (!hasMinus) throw Error($"output {yg} has no upper bound against {yf} (such as (<= {yg} (+ {yf} ε))); both sides are needed");
            if (!hasPlus) throw Error($"output {yg} has no lower bound against {yf} (such as (>= {yg} (- {yf} ε))); both sides are needed");
        }
        var box = Box.Create(lo, hi, source);
        return new VnnLibRegion(box, m, OutputConstraintsIgnored: false) { Equivalence = new TwoNetworkSpec(source, f, g, plus, minus) };
    }

    private void Command(VnnLib.Node form)
    {
        if (form.IsAtom || form.Items.Count == 0 || !form.Items[0].IsAtom)
            throw Error($"line {form.Line}: expected a command such as (declare-network …) or (assert …), found {form}");
        switch (form.Items[0].Atom)
        {
            case "vnnlib-version":
                Version(form);
                break;
            case "declare-network":
                Network(form);
                break;
            case "assert":
                if (form.Items.Count != 2) throw Error($"line {form.Line}: assert takes one formula: {form}");
                foreach (var c in Conjuncts(form.Items[1])) Constraint(c);
                break;
            case "check-sat" or "get-model" or "exit" or "set-logic" or "set-info" or "set-option":
                break;
            case "declare-const":
                throw Error($"line {form.Line}: declare-const is VNN-LIB 1.0; a VNN-LIB 2.0 spec declares variables in declare-network");
            default:
                throw Error($"line {form.Line}: unsupported VNN-LIB 2.0 command '{form.Items[0].Atom}'");
        }
    }

    private void Version(VnnLib.Node form)
    {
        if (_versionSeen) throw Error($"line {form.Line}: vnnlib-version is given twice");
        _versionSeen = true;
        var v = form.Items.Count == 2 && form.Items[1].IsAtom ? form.Items[1].Atom! : form.ToString();
        if (v is not ("<2.0>" or "2.0" or "<2>" or "2"))
            throw Error($"line {form.Line}: VNN-LIB version {v} is not supported (QEquiv reads 1.0 and the two-network form of 2.0)");
    }

    private void Network(VnnLib.Node form)
    {
        if (form.Items.Count < 2 || !form.Items[1].IsAtom) throw Error($"line {form.Line}: declare-network needs a name: {form}");
        var name = form.Items[1].Atom!;
        if (_networks.Count == 2)
            throw Error($"line {form.Line}: a third network '{name}' is declared; QEquiv compares two networks");
        if (_networks.Any(n => n.Name == name)) throw Error($"line {form.Line}: network '{name}' is declared twice");
        (string Name, int[] Shape)? input = null, output = null;
        foreach (var item in form.Items.Skip(2))
        {
            var head = item.IsAtom || item.Items.Count == 0 ? null : item.Items[0].Atom;
            switch (head)
            {
                case "declare-input" or "declare-output":
                {
                    var isInput = head == "declare-input";
                    var declared = Variable(item, name);
                    if ((isInput ? input : output) is { } earlier)
                        throw Error($"line {item.Line}: network '{name}' declares a second {(isInput ? "input" : "output")} {declared.Name} beside {earlier.Name}; QEquiv reads networks with one input and one output");
                    if (_variables.ContainsKey(declared.Name)) throw Error($"line {item.Line}: variable {declared.Name} is declared twice");
                    _variables[declared.Name] = (_networks.Count, isInput, declared.Shape);
                    if (isInput) input = declared;
                    else output = declared;
                    break;
                }
                case "isomorphic-to":
                    if (item.Items.Count != 2 || !item.Items[1].IsAtom) throw Error($"line {item.Line}: isomorphic-to names one network: {item}");
                    if (_networks.All(n => n.Name != item.Items[1].Atom))
                        throw Error($"line {item.Line}: '{name}' is isomorphic-to '{item.Items[1].Atom}', which is not declared before it");
                    break; // a statement about structure; QEquiv compares any two networks of the same shapes
                case "equal-to":
                    throw Error($"line {item.Line}: equal-to (one network given twice) is not supported: QEquiv compares two different networks");
                case "declare-hidden":
                    throw Error($"line {item.Line}: hidden-node variables (declare-hidden) are not supported: QEquiv constrains inputs and outputs only");
                default:
                    throw Error($"line {item.Line}: unsupported item in declare-network '{name}': {item}");
            }
        }
        if (input is not { } i) throw Error($"line {form.Line}: network '{name}' declares no input (declare-input X real [n])");
        if (output is not { } o) throw Error($"line {form.Line}: network '{name}' declares no output (declare-output Y real [m])");
        var network = new DeclaredNetwork(name, i.Name, i.Shape, o.Name, o.Shape);
        if (_networks.Count == 1)
        {
            var f = _networks[0];
            if (network.InputSize != f.InputSize)
                throw Error($"line {form.Line}: network '{name}' takes {network.InputSize} inputs but '{f.Name}' takes {f.InputSize}; QEquiv compares networks of the same shapes");
            if (network.OutputSize != f.OutputSize)
                throw Error($"line {form.Line}: network '{name}' has {network.OutputSize} outputs but '{f.Name}' has {f.OutputSize}; QEquiv compares networks of the same shapes");
        }
        _networks.Add(network);
    }

    /// <summary>(declare-input NAME TYPE SHAPE): the name and shape; the shape may be spread over atoms ("[1," "5]").</summary>
    private (string Name, int[] Shape) Variable(VnnLib.Node item, string network)
    {
        if (item.Items.Count < 4 || item.Items.Skip(1).Any(a => !a.IsAtom))
            throw Error($"line {item.Line}: expected ({item.Items[0].Atom} NAME TYPE [SHAPE]) in network '{network}', found {item}");
        var name = item.Items[1].Atom!;
        if (name.Contains('[')) throw Error($"line {item.Line}: variable name '{name}' may not contain '['");
        var type = item.Items[2].Atom!;
        if (type is not ("real" or "float32"))
            throw Error($"line {item.Line}: {name} has element type {type}; QEquiv reads real and float32 (its verdicts hold for real arithmetic and every float32 order)");
        var shapeText = string.Concat(item.Items.Skip(3).Select(a => a.Atom));
        if (shapeText.Length < 3 || shapeText[0] != '[' || shapeText[^1] != ']')
            throw Error($"line {item.Line}: shape of {name} must be written [n] or [n,m,…], found {shapeText}");
        var dims = new List<int>();
        foreach (var d in shapeText[1..^1].Split(','))
        {
            if (!int.TryParse(d, NumberStyles.None, CultureInfo.InvariantCulture, out var k) || k < 1 || k > 1 << 24)
                throw Error($"line {item.Line}: shape {shapeText} of {name} must list whole numbers ≥ 1");
            dims.Add(k);
        }
        if (dims.Aggregate(1L, (a, b) => a * b) > 1 << 24) throw Error($"line {item.Line}: shape {shapeText} of {name} is too large");
        return (name, [.. dims]);
    }

    private IEnumerable<VnnLib.Node> Conjuncts(VnnLib.Node f)
    {
        if (f.IsList("and"))
        {
            foreach (var c in f.Items.Skip(1))
                foreach (var d in Conjuncts(c)) yield return d;
            yield break;
        }
        if (f.IsList("or"))
        {
            if (f.Items.Count == 2)
            {
                foreach (var d in Conjuncts(f.Items[1])) yield return d;
                yield break;
            }
            throw Error($"line {f.Line}: a disjunction (or …) is not supported: QEquiv reads one box and one tolerance per output, found {f}");
        }
        yield return f;
    }

    /// <summary>A variable element: (network, is input, flat index, text); null for anything else.</summary>
    private (int Network, bool IsInput, int Flat, string Text)? Element(VnnLib.Node n)
    {
        if (!n.IsAtom) return null;
        var atom = n.Atom!;
        var open = atom.IndexOf('[');
        var name = open < 0 ? atom : atom[..open];
        if (!_variables.TryGetValue(name, out var v)) return null;
        if (open < 0 || atom[^1] != ']')
            throw Error($"line {n.Line}: {atom} needs an index, such as {name}[0]");
        var parts = atom[(open + 1)..^1].Split(',');
        if (parts.Length != v.Shape.Length)
            throw Error($"line {n.Line}: {atom} has {parts.Length} indices but {name} has shape [{string.Join(",", v.Shape)}]");
        var flat = 0;
        for (var d = 0; d < parts.Length; d++)
        {
            if (!int.TryParse(parts[d], NumberStyles.None, CultureInfo.InvariantCulture, out var k) || k >= v.Shape[d])
                throw Error($"line {n.Line}: {atom} is outside {name}'s shape [{string.Join(",", v.Shape)}]");
            flat = flat * v.Shape[d] + k;
        }
        return (v.Network, v.IsInput, flat, atom);
    }

    private sealed class Linear
    {
        public readonly Dictionary<(int Network, bool IsInput, int Flat), (double Coefficient, string Text)> Terms = [];
        public double Constant;
        public int Literals;
    }

    /// <summary>A linear expression of elements and numbers: atoms, (+ …), (- a b …), (- a), (* c e) / (* e c).</summary>
    private Linear Expression(VnnLib.Node n, double scale, Linear into)
    {
        if (n.IsAtom)
        {
            if (Element(n) is { } e)
            {
                var key = (e.Network, e.IsInput, e.Flat);
                var c = into.Terms.TryGetValue(key, out var t) ? t.Coefficient : 0;
                into.Terms[key] = (c + scale, e.Text);
                return into;
            }
            if (double.TryParse(n.Atom, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && double.IsFinite(v))
            {
                into.Constant += scale * v;
                into.Literals++;
                return into;
            }
            throw Error($"line {n.Line}: '{n.Atom}' is neither a declared variable nor a finite number");
        }
        var head = n.Items.Count > 0 ? n.Items[0].Atom : null;
        switch (head)
        {
            case "+" when n.Items.Count >= 2:
                foreach (var a in n.Items.Skip(1)) Expression(a, scale, into);
                return into;
            case "-" when n.Items.Count == 2:
                return Expression(n.Items[1], -scale, into);
            case "-" when n.Items.Count >= 3:
                Expression(n.Items[1], scale, into);
                foreach (var a in n.Items.Skip(2)) Expression(a, -scale, into);
                return into;
            case "*" when n.Items.Count == 3:
            {
                var (c, e) = Number(n.Items[1]) is { } c1 ? (c1, n.Items[2]) : Number(n.Items[2]) is { } c2 ? (c2, n.Items[1])
                    : throw Error($"line {n.Line}: a product of two variables is not linear: {n}");
                if (c is not (1 or -1)) throw Error($"line {n.Line}: only coefficients ±1 are supported (others could not be kept exactly): {n}");
                return Expression(e, scale * c, into);
            }
            default:
                throw Error($"line {n.Line}: unsupported expression {n} (expected a variable, a number, +, - or *)");
        }
    }

    private static double? Number(VnnLib.Node n) =>
        n.IsAtom && double.TryParse(n.Atom, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && double.IsFinite(v) ? v : null;

    private void Constraint(VnnLib.Node f)
    {
        if (f.IsList("not")) throw Error($"line {f.Line}: a negation (not …) is not supported: {f}");
        var op = f.IsAtom || f.Items.Count == 0 ? null : f.Items[0].Atom;
        if (op is "<" or ">")
            throw Error($"line {f.Line}: strict comparison '{op}' is not supported (use <= or >=; the spec's tolerance is read as non-strict): {f}");
        if (op is not ("<=" or ">=" or "==" or "=") || f.Items.Count != 3)
            throw Error($"line {f.Line}: unsupported constraint {f} (expected (<= a b), (>= a b) or (== a b))");
        // lhs − rhs  op  0
        var e = Expression(f.Items[2], -1, Expression(f.Items[1], 1, new Linear()));
        foreach (var k in e.Terms.Where(t => t.Value.Coefficient == 0).Select(t => t.Key).ToList()) e.Terms.Remove(k);
        if (e.Literals > 1)
            throw Error($"line {f.Line}: the constant appears {e.Literals} times in {f}; write it once so that the bound is kept exactly");
        var terms = e.Terms.ToList();
        if (terms.Count == 0) throw Error($"line {f.Line}: constraint mentions no variable: {f}");
        var inputs = terms.Count(t => t.Key.IsInput);
        if (inputs > 0 && inputs < terms.Count) throw Error($"line {f.Line}: a constraint relating inputs and outputs is not supported: {f}");
        if (inputs > 0) InputConstraint(f, op, terms, e.Constant);
        else OutputConstraint(f, op, terms, e.Constant);
    }

    private void InputConstraint(VnnLib.Node f, string op, List<KeyValuePair<(int Network, bool IsInput, int Flat), (double Coefficient, string Text)>> terms,
        double constant)
    {
        if (terms.Count == 1)
        {
            var (key, (a, _)) = (terms[0].Key, terms[0].Value);
            if (a is not (1 or -1)) throw Error($"line {f.Line}: only coefficients ±1 are supported: {f}");
            // a·x + c op 0  ⇔  x op' −c/a (a = ±1: exact).
            var bound = -constant / a;
            var o = a > 0 ? op : op switch { "<=" => ">=", ">=" => "<=", _ => op };
            // The networks' inputs are equal (checked at the end), so a bound on X_g[i] bounds X_f[i]; bounds intersect.
            if (o is "<=" or "==" or "=") _hi[key.Flat] = _hi.TryGetValue(key.Flat, out var h) ? Math.Min(h, bound) : bound;
            if (o is ">=" or "==" or "=") _lo[key.Flat] = _lo.TryGetValue(key.Flat, out var l) ? Math.Max(l, bound) : bound;
            return;
        }
        if (terms.Count == 2 && (op is "==" or "=") && constant == 0 && terms[0].Value.Coefficient == -terms[1].Value.Coefficient
            && Math.Abs(terms[0].Value.Coefficient) == 1 && terms[0].Key.Network != terms[1].Key.Network)
        {
            if (terms[0].Key.Flat != terms[1].Key.Flat)
                throw Error($"line {f.Line}: unequal input equality {terms[0].Value.Text} = {terms[1].Value.Text}: QEquiv compares the networks on the same input, element by element");
            _equated.Add(terms[0].Key.Flat);
            return;
        }
        throw Error($"line {f.Line}: unsupported input constraint {f} (expected a bound on one input, or (== X_f[i] X_g[i]))");
    }

    private void OutputConstraint(VnnLib.Node f, string op, List<KeyValuePair<(int Network, bool IsInput, int Flat), (double Coefficient, string Text)>> terms,
        double constant)
    {
        if (op is "==" or "=") throw Error($"line {f.Line}: an output equality is not supported (a tolerance needs <= and >=): {f}");
        if (terms.Count != 2 || terms[0].Key.Network == terms[1].Key.Network)
            throw Error($"line {f.Line}: unsupported output constraint {f}: QEquiv reads bounds on the difference of the two networks' outputs, such as (<= Y_g[j] (+ Y_f[j] ε))");
        var g = terms.Single(t => t.Key.Network == 1);
        var fTerm = terms.Single(t => t.Key.Network == 0);
        if (g.Key.Flat != fTerm.Key.Flat)
            throw Error($"line {f.Line}: {g.Value.Text} is compared with {fTerm.Value.Text}: outputs are compared element by element");
        if (Math.Abs(g.Value.Coefficient) != 1 || g.Value.Coefficient != -fTerm.Value.Coefficient)
            throw Error($"line {f.Line}: unsupported output constraint {f}: expected the difference {g.Value.Text} − {fTerm.Value.Text} against a number");
        // a·(Y_g − Y_f) + c op 0, a = ±1: (Y_g − Y_f) op' −c/a.
        var a = g.Value.Coefficient;
        var t = -constant / a;
        var o = a > 0 ? op : op == "<=" ? ">=" : "<=";
        var j = g.Key.Flat;
        // Y_g − Y_f ≤ t bounds Q − N (Minus); Y_g − Y_f ≥ t bounds N − Q by −t (Plus).
        var (bounds, value) = o == "<=" ? (_minus, t) : (_plus, -t);
        if (!(value > 0))
            throw Error($"line {f.Line}: {f} gives {g.Value.Text} − {fTerm.Value.Text} the tolerance {value.ToString("R", CultureInfo.InvariantCulture)} on one side; a tolerance must be > 0");
        bounds[j] = bounds.TryGetValue(j, out var earlier) ? Math.Min(earlier, value) : value;
    }

    private BadInputException Error(string problem) => BadInputException.For(source, problem);
}
