using System.Globalization;

namespace QEquiv.Regions;

/// <summary>One network of a VNN-LIB 2.0 spec: its name and its input and output variables (name and shape).</summary>
public sealed record DeclaredNetwork(string Name, string Input, int[] InputShape, string Output, int[] OutputShape)
{
    public int InputSize => InputShape.Aggregate(1, (a, b) => a * b);
    public int OutputSize => OutputShape.Aggregate(1, (a, b) => a * b);

    /// <summary>The variable of flat element <paramref name="flat"/> (row-major), as the spec writes it: X_f[3], X[0,3].</summary>
    public static string Element(string name, int[] shape, int flat)
    {
        var index = new int[shape.Length];
        for (var d = shape.Length - 1; d >= 0; d--)
        {
            index[d] = flat % shape[d];
            flat /= shape[d];
        }
        return $"{name}[{string.Join(",", index.Select(i => i.ToString(CultureInfo.InvariantCulture)))}]";
    }
}

/// <summary>
/// The property of a VNN-LIB 2.0 two-network equivalence spec (VNN-COMP's isomorphic_acasxu form): both networks get the
/// same input (X_f[i] = X_g[i]) in the spec's box, and for every output j
/// <c>Y_g[j] − Y_f[j] ≤ e⁺_j</c> and <c>Y_f[j] − Y_g[j] ≤ e⁻_j</c>, non-strict: |Y_g − Y_f| ≤ ε when every bound is ε.
/// <see cref="Reference"/> is the first network declared (f, QEquiv's N), <see cref="Other"/> the second (g, Q).
/// <para>Bounds are kept in QEquiv's sign convention, that of a sub-problem s·(N_j − Q_j) ≥ δ: <see cref="Plus"/>[j]
/// bounds N_j − Q_j = Y_f − Y_g from above (the spec's e⁻_j), <see cref="Minus"/>[j] bounds Q_j − N_j (e⁺_j).</para>
/// <para>How QEquiv answers it (the spec is non-strict, δ-equivalence strict): δ is the smallest bound
/// (<see cref="Delta"/>); proving ‖N − Q‖∞ &lt; δ implies every bound, so a verified run is the spec's unsat; a witness
/// counts as the spec's counterexample only when it exceeds some bound strictly (<see cref="ExceededBy"/>), so a difference
/// of exactly ε — which δ-equivalence calls a violation, |N_j − Q_j| ≥ δ — is never reported as one (the verdict is then
/// unknown).</para>
/// </summary>
/// <param name="Source">The spec's file, named in notes.</param>
public sealed record TwoNetworkSpec(string Source, DeclaredNetwork Reference, DeclaredNetwork Other, double[] Plus, double[] Minus)
{
    /// <summary>The δ a run proves: the smallest bound of any output and side.</summary>
    public double Delta => Math.Min(Plus.Min(), Minus.Min());

    /// <summary>Every output and side has the same bound ε.</summary>
    public bool Uniform => Plus.Concat(Minus).All(e => e == Plus[0]);

    /// <summary>The spec's bound on s·(N_j − Q_j).</summary>
    public double Bound(int output, int sign) => sign > 0 ? Plus[output] : Minus[output];

    /// <summary>
    /// Whether differences N_j − Q_j with float32 error bounds err_j (both networks' rigorous bounds at the point, as the
    /// witness checker computes them) break the spec for N and Q in real arithmetic and in every float32 evaluation
    /// order: some output and side with s·(N_j − Q_j) − err_j &gt; the bound, strictly. Returns that output, or null.
    /// </summary>
    public int? ExceededBy(IReadOnlyList<double> differences, IReadOnlyList<double> float32Error)
    {
        ArgumentNullException.ThrowIfNull(differences);
        ArgumentNullException.ThrowIfNull(float32Error);
        for (var j = 0; j < differences.Count; j++)
        {
            var d = differences[j];
            if (double.IsNaN(d)) continue;
            if (d - float32Error[j] > Plus[j] || -d - float32Error[j] > Minus[j]) return j;
        }
        return null;
    }

    /// <summary>The property in the spec's names, e.g. "|Y_g − Y_f| ≤ 0.05 on every output".</summary>
    public string Statement
    {
        get
        {
            var c = CultureInfo.InvariantCulture;
            return Uniform
                ? string.Create(c, $"|{Other.Output} − {Reference.Output}| ≤ {Plus[0]:R} on every output")
                : string.Create(c, $"−e⁻_j ≤ {Other.Output}[j] − {Reference.Output}[j] ≤ e⁺_j on every output j, bounds from {Delta:R} to {Math.Max(Plus.Max(), Minus.Max()):R}");
        }
    }

    /// <summary>How a run of δ-equivalence answers the spec: the line every verdict of a spec-driven run carries.</summary>
    public string StrictnessNote
    {
        get
        {
            var c = CultureInfo.InvariantCulture;
            var delta = Uniform ? string.Create(c, $"δ = ε = {Delta:R}") : string.Create(c, $"δ = the smallest bound, {Delta:R}");
            return $"{Path.GetFileName(Source)} asks {Statement} (non-strict); QEquiv proves ‖{Reference.Name} − {Other.Name}‖∞ < δ with {delta}, "
                + "which implies it (verified = unsat); a counterexample (sat) must exceed a bound strictly, so a difference of exactly the bound is none";
        }
    }
}
