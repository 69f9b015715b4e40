namespace QEquiv.Bounds;

/// <summary>A closed real interval [Lo, Hi]; all arithmetic here is pure.</summary>
public readonly record struct Interval(double Lo, double Hi)
{
    public static Interval Point(double v) => new(v, v);
    public double Width => Hi - Lo;
    public double MaxAbs => Math.Max(Math.Abs(Lo), Math.Abs(Hi));
    public bool Contains(double v) => v >= Lo && v <= Hi;
    public bool IsPoint => Lo == Hi;

    public static Interval operator +(Interval a, Interval b) => new(a.Lo + b.Lo, a.Hi + b.Hi);
    public static Interval operator +(Interval a, double c) => new(a.Lo + c, a.Hi + c);
    public static Interval operator -(Interval a, Interval b) => new(a.Lo - b.Hi, a.Hi - b.Lo);
    public static Interval operator -(Interval a) => new(-a.Hi, -a.Lo);

    public static Interval operator *(double c, Interval a) =>
        c >= 0 ? new(c * a.Lo, c * a.Hi) : new(c * a.Hi, c * a.Lo);

    public Interval Relu() => new(Math.Max(Lo, 0), Math.Max(Hi, 0));
    public Interval Clamp(double min, double max) => new(Math.Clamp(Lo, min, max), Math.Clamp(Hi, min, max));

    /// <summary>
    /// Pads outward by a relative and absolute amount. Interval arithmetic in double rounds to nearest,
    /// so a computed bound can sit an ulp inside the true one; padding keeps the bounds sound against the
    /// evaluators (which also round) and keeps big-M constants strictly valid.
    /// </summary>
    public Interval Widen(double relative, double absolute)
    {
        var pad = MaxAbs * relative + absolute;
        return new(Lo - pad, Hi + pad);
    }

    public override string ToString() => $"[{Lo:G9}, {Hi:G9}]";
}
