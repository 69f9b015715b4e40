namespace QEquiv.Regions;

/// <summary>
/// An axis-aligned input region lo ≤ x ≤ hi (per input). Kept minimal on purpose: other parts of the
/// product (VNN-LIB parsing, input splitting) construct and reuse it.
/// </summary>
public sealed record Box(double[] Lo, double[] Hi)
{
    // Validated copies: records are meant to be immutable, arrays are not, so the box owns its arrays.
    public double[] Lo { get; } = Validate(Lo, Hi).Lo;
    public double[] Hi { get; } = (double[])Hi.Clone();

    private static (double[] Lo, double[] Hi) Validate(double[] lo, double[] hi)
    {
        ArgumentNullException.ThrowIfNull(lo);
        ArgumentNullException.ThrowIfNull(hi);
        if (lo.Length != hi.Length)
            throw new ArgumentException($"box bounds differ in length: {lo.Length} lower, {hi.Length} upper");
        for (var i = 0; i < lo.Length; i++)
        {
            // NaN fails the comparison, so it is rejected here too.
            if (!(lo[i] <= hi[i]))
                throw new ArgumentException($"box dimension {i}: lower bound {lo[i]} is not ≤ upper bound {hi[i]}");
        }
        return ((double[])lo.Clone(), hi);
    }

    public int Dimension => Lo.Length;

    public double[] Center()
    {
        var c = new double[Dimension];
        for (var i = 0; i < c.Length; i++) c[i] = Lo[i] + (Hi[i] - Lo[i]) / 2;
        return c;
    }

    public bool Contains(ReadOnlySpan<double> x)
    {
        if (x.Length != Dimension) return false;
        for (var i = 0; i < x.Length; i++)
            if (!(x[i] >= Lo[i] && x[i] <= Hi[i])) return false;
        return true;
    }

    /// <summary>The box [c − ε, c + ε] per input, the usual L∞ ball around a sample.</summary>
    public static Box LInfBall(ReadOnlySpan<double> center, double epsilon)
    {
        if (!(epsilon >= 0)) throw new ArgumentException($"epsilon {epsilon} must be ≥ 0");
        var lo = new double[center.Length];
        var hi = new double[center.Length];
        for (var i = 0; i < lo.Length; i++) { lo[i] = center[i] - epsilon; hi[i] = center[i] + epsilon; }
        return new Box(lo, hi);
    }

    /// <summary>Value equality on the contents; the default record equality would compare array references.</summary>
    public bool Equals(Box? other) =>
        other is not null && Lo.AsSpan().SequenceEqual(other.Lo) && Hi.AsSpan().SequenceEqual(other.Hi);

    public override int GetHashCode()
    {
        var h = new HashCode();
        foreach (var v in Lo) h.Add(v);
        foreach (var v in Hi) h.Add(v);
        return h.ToHashCode();
    }
}
