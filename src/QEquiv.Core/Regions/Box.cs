namespace QEquiv.Regions;

/// <summary>
/// An axis-aligned input region [Lo_i, Hi_i] per input. The primary constructor stays unvalidated
/// because the same definition lives on another branch and must merge cleanly; anything built from
/// user input goes through <see cref="Create"/>. Treat the arrays as immutable: every member here
/// returns new arrays and never writes to Lo or Hi.
/// </summary>
public sealed record Box(double[] Lo, double[] Hi)
{
    /// <summary>Validates user-supplied bounds and copies them, so later edits of the caller's arrays cannot change the box.</summary>
    /// <exception cref="BadInputException">length mismatch, no inputs, NaN/infinite bound, or lo &gt; hi; the message names <paramref name="source"/>.</exception>
    public static Box Create(double[] lo, double[] hi, string source)
    {
        ArgumentNullException.ThrowIfNull(lo);
        ArgumentNullException.ThrowIfNull(hi);
        if (lo.Length != hi.Length)
            throw BadInputException.For(source, $"box bounds differ in length: {lo.Length} lower bounds but {hi.Length} upper bounds");
        if (lo.Length == 0)
            throw BadInputException.For(source, "box has no inputs");
        for (var i = 0; i < lo.Length; i++)
        {
            if (!double.IsFinite(lo[i]) || !double.IsFinite(hi[i]))
                throw BadInputException.For(source, $"bound of input {i} is NaN or infinite (lo {lo[i]:R}, hi {hi[i]:R})");
            if (lo[i] > hi[i])
                throw BadInputException.For(source, $"empty or inverted box at input {i}: lo > hi ({lo[i]:R} > {hi[i]:R})");
        }
        return new Box((double[])lo.Clone(), (double[])hi.Clone());
    }

    public int Dimension => Lo.Length;
    /// <summary>Inputs of positive width: the dimensions a split can cut and a solver must search.</summary>
    public int OpenDimensions
    {
        get
        {
            var open = 0;
            for (var i = 0; i < Lo.Length; i++)
                if (Width(i) > 0) open++;
            return open;
        }
    }

    public double Width(int i) => Hi[i] - Lo[i];

    public double[] Widths()
    {
        var w = new double[Dimension];
        for (var i = 0; i < w.Length; i++) w[i] = Hi[i] - Lo[i];
        return w;
    }

    /// <summary>The midpoint, computed as lo + (hi − lo)/2 so it stays inside the box even for huge bounds.</summary>
    public double[] Center()
    {
        var c = new double[Dimension];
        for (var i = 0; i < c.Length; i++) c[i] = Midpoint(i);
        return c;
    }

    public double MaxWidth() => Dimension == 0 ? 0 : Widths().Max();

    /// <summary>Index of the widest input (the first one on ties), the default bisection choice.</summary>
    public int WidestDimension()
    {
        var best = 0;
        for (var i = 1; i < Dimension; i++)
            if (Width(i) > Width(best)) best = i;
        return best;
    }

    public bool Contains(ReadOnlySpan<double> x)
    {
        if (x.Length != Dimension) return false;
        for (var i = 0; i < x.Length; i++)
            if (!(x[i] >= Lo[i] && x[i] <= Hi[i])) return false; // written so that NaN is outside
        return true;
    }

    /// <summary>Float32 points are what the runtime receives; membership is decided on their exact (double) value.</summary>
    public bool Contains(ReadOnlySpan<float> x)
    {
        if (x.Length != Dimension) return false;
        for (var i = 0; i < x.Length; i++)
            if (!(x[i] >= Lo[i] && x[i] <= Hi[i])) return false;
        return true;
    }

    /// <summary>True when <paramref name="inner"/> lies inside this box (same dimension).</summary>
    public bool Contains(Box inner)
    {
        if (inner.Dimension != Dimension) return false;
        for (var i = 0; i < Dimension; i++)
            if (inner.Lo[i] < Lo[i] || inner.Hi[i] > Hi[i]) return false;
        return true;
    }

    /// <summary>Element-wise bound equality (the record's Equals does the same).</summary>
    public bool SameBounds(Box other) => Equals(other);

    /// <summary>Value equality on the bounds; the default record equality would compare array references.</summary>
    public bool Equals(Box? other) =>
        other is not null && Lo.AsSpan().SequenceEqual(other.Lo) && Hi.AsSpan().SequenceEqual(other.Hi);

    public override int GetHashCode()
    {
        var h = new HashCode();
        foreach (var v in Lo) h.Add(v);
        foreach (var v in Hi) h.Add(v);
        return h.ToHashCode();
    }

    /// <summary>The box [c − ε, c + ε] per input, the usual L∞ ball around a sample (no clipping).</summary>
    public static Box LInfBall(ReadOnlySpan<double> center, double epsilon)
    {
        if (!(epsilon >= 0)) throw new ArgumentException($"epsilon {epsilon} must be ≥ 0");
        var lo = new double[center.Length];
        var hi = new double[center.Length];
        for (var i = 0; i < lo.Length; i++) { lo[i] = center[i] - epsilon; hi[i] = center[i] + epsilon; }
        return new Box(lo, hi);
    }

    /// <summary>
    /// Natural log of the fraction of <paramref name="parent"/>'s volume this box covers. Logs, because
    /// with 784 inputs the plain product under- or overflows. Inputs of zero width in the parent count
    /// as fraction 1 (they do not shrink under splitting), so degenerate boxes still get a meaningful share.
    /// </summary>
    public double LogVolumeFractionOf(Box parent)
    {
        if (parent.Dimension != Dimension)
            throw new ArgumentException($"box has {Dimension} inputs but the parent has {parent.Dimension}");
        var sum = 0.0;
        for (var i = 0; i < Dimension; i++)
        {
            var pw = parent.Width(i);
            if (pw <= 0) continue;
            var w = Math.Min(Width(i), pw);
            if (w <= 0) return double.NegativeInfinity;
            sum += Math.Log(w / pw);
        }
        return sum;
    }

    /// <summary>Fraction of <paramref name="parent"/>'s volume in [0,1]; see <see cref="LogVolumeFractionOf"/>.</summary>
    public double VolumeFractionOf(Box parent) => Math.Exp(LogVolumeFractionOf(parent));

    /// <summary>
    /// Whether <paramref name="pieces"/> cover this box, for pieces made by cutting boxes in two (bisections, in any
    /// order): some axis-aligned cut separates them into two groups, each covering its side of the cut, down to single
    /// boxes that contain their region. False when no such structure shows coverage — never true for pieces that leave
    /// a gap, which is what a proof over the pieces needs.
    /// </summary>
    public bool IsCoveredBy(IReadOnlyList<Box> pieces)
    {
        if (pieces.Count == 0) return false;
        if (pieces.Count == 1) return pieces[0].Contains(this);
        for (var d = 0; d < Dimension; d++)
        {
            foreach (var cut in pieces.Select(b => b.Hi[d]).Distinct())
            {
                if (!(cut > Lo[d] && cut < Hi[d])) continue;
                var below = pieces.Where(b => b.Hi[d] <= cut).ToList();
                var above = pieces.Where(b => b.Lo[d] >= cut).ToList();
                if (below.Count == 0 || above.Count == 0 || below.Count + above.Count != pieces.Count) continue;
                var (loHi, hiLo) = ((double[])Hi.Clone(), (double[])Lo.Clone());
                loHi[d] = cut;
                hiLo[d] = cut;
                return new Box(Lo, loHi).IsCoveredBy(below) && new Box(hiLo, Hi).IsCoveredBy(above);
            }
        }
        return false;
    }

    /// <summary>
    /// Splits input <paramref name="dim"/> at its midpoint into two boxes sharing the midpoint face; the
    /// other inputs are unchanged. Their union is this box, so proving both proves this one.
    /// </summary>
    public (Box Lower, Box Upper) Bisect(int dim)
    {
        if ((uint)dim >= (uint)Dimension)
            throw new ArgumentOutOfRangeException(nameof(dim), $"input {dim} is outside a {Dimension}-input box");
        var mid = Midpoint(dim);
        if (!(mid > Lo[dim] && mid < Hi[dim]))
            throw new InvalidOperationException($"input {dim} has width {Width(dim):R} and cannot be bisected further");
        var lowerHi = (double[])Hi.Clone();
        lowerHi[dim] = mid;
        var upperLo = (double[])Lo.Clone();
        upperLo[dim] = mid;
        return (new Box((double[])Lo.Clone(), lowerHi), new Box(upperLo, (double[])Hi.Clone()));
    }

    public override string ToString() =>
        Dimension <= 4
            ? "[" + string.Join(", ", Enumerable.Range(0, Dimension).Select(i => $"[{Lo[i]:G6}, {Hi[i]:G6}]")) + "]"
            : $"box of {Dimension} inputs, max width {MaxWidth():G6}";

    private double Midpoint(int i) => Lo[i] + (Hi[i] - Lo[i]) / 2;
}
