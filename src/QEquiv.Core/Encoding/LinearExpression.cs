using Google.OrTools.LinearSolver;

namespace QEquiv.Encoding;

/// <summary>
/// A sparse affine expression Σ cᵢ·vᵢ + constant. Own type rather than OR-Tools' LinearExpr because
/// constraints are emitted row by row with SetCoefficient (which overwrites, so terms must be merged
/// first) and that is much faster than operator trees on 784×256 layers.
/// </summary>
internal sealed class LinearExpression
{
    private readonly Dictionary<Variable, double> _terms;

    private LinearExpression(Dictionary<Variable, double> terms, double constant)
    {
        _terms = terms;
        Constant = constant;
    }

    public LinearExpression() : this(new Dictionary<Variable, double>(ReferenceEqualityComparer.Instance), 0) { }

    public double Constant { get; private set; }
    public IReadOnlyDictionary<Variable, double> Terms => _terms;
    public bool IsConstant => _terms.Count == 0;

    public static LinearExpression Of(Variable v, double coefficient = 1, double constant = 0)
    {
        var e = new LinearExpression { Constant = constant };
        e._terms[v] = coefficient;
        return e;
    }

    public static LinearExpression Const(double c) => new() { Constant = c };

    /// <summary>this += factor · other (mutates this; used only while building one expression).</summary>
    public LinearExpression AddScaled(LinearExpression other, double factor)
    {
        if (factor == 0) return this;
        Constant += factor * other.Constant;
        foreach (var (v, c) in other._terms)
            _terms[v] = _terms.TryGetValue(v, out var old) ? old + factor * c : factor * c;
        return this;
    }

    public LinearExpression AddTerm(Variable v, double c)
    {
        _terms[v] = _terms.TryGetValue(v, out var old) ? old + c : c;
        return this;
    }

    public LinearExpression AddConstant(double c)
    {
        Constant += c;
        return this;
    }

    public LinearExpression Scaled(double factor) => new LinearExpression().AddScaled(this, factor);
    public LinearExpression Minus(LinearExpression other) => Scaled(1).AddScaled(other, -1);
}
