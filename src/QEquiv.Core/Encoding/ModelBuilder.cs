using Google.OrTools.LinearSolver;

namespace QEquiv.Encoding;

/// <summary>Thin wrapper over an OR-Tools model that emits <see cref="LinearExpression"/> rows and counts what it builds.</summary>
internal sealed class ModelBuilder(Solver solver)
{
    private int _next;

    public Solver Solver { get; } = solver;
    public int Continuous { get; private set; }
    public int Integers { get; private set; }
    public int Binaries { get; private set; }
    public int Constraints { get; private set; }

    public Variable Num(double lo, double hi, string name)
    {
        Continuous++;
        return Solver.MakeNumVar(lo, hi, $"{name}#{_next++}");
    }

    public Variable Int(double lo, double hi, string name)
    {
        Integers++;
        return Solver.MakeIntVar(lo, hi, $"{name}#{_next++}");
    }

    public Variable Bool(string name)
    {
        Binaries++;
        return Solver.MakeBoolVar($"{name}#{_next++}");
    }

    /// <summary>lo ≤ expr ≤ hi as one ranged row.</summary>
    public void Range(LinearExpression expr, double lo, double hi)
    {
        Constraints++;
        var row = Solver.MakeConstraint(lo - expr.Constant, hi - expr.Constant);
        foreach (var (v, c) in expr.Terms)
            if (c != 0) row.SetCoefficient(v, c);
    }

    public void AtLeast(LinearExpression expr, double lo) => Range(expr, lo, double.PositiveInfinity);
    public void AtMost(LinearExpression expr, double hi) => Range(expr, double.NegativeInfinity, hi);
    public void Equal(LinearExpression expr, double value) => Range(expr, value, value);

    /// <summary>A fresh variable equal to expr (keeps rows sparse when the expression is reused).</summary>
    public LinearExpression Define(LinearExpression expr, double lo, double hi, string name)
    {
        if (expr.IsConstant) return expr;
        if (expr.Terms.Count == 1 && expr.Constant == 0 && expr.Terms.Values.First() == 1) return expr;
        var v = Num(lo, hi, name);
        Equal(LinearExpression.Of(v).AddScaled(expr, -1), 0);
        return LinearExpression.Of(v);
    }

    public void SetObjective(LinearExpression expr, bool maximize)
    {
        var objective = Solver.Objective();
        objective.Clear();
        foreach (var (v, c) in expr.Terms) objective.SetCoefficient(v, c);
        objective.SetOffset(expr.Constant);
        objective.SetOptimizationDirection(maximize);
    }
}
