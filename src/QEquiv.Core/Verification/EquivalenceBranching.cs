using QEquiv.Branching;
using QEquiv.Encoding;
using QEquiv.Falsification;
using QEquiv.Model;
using QEquiv.Regions;

namespace QEquiv.Verification;

/// <summary>
/// δ-equivalence as a branching problem: bounds are the verifier's own (differential, with every margin), witnesses are
/// re-executed by <see cref="WitnessChecker"/>, inputs are cut at the other network's input quantization boundaries, and
/// the inputs tried are those whose widths make up most of the box's symbolic bounds (|coefficient| × width, summed over
/// the goals), or of largest width × |∂Δ/∂x| at the centre where those are not known; all of them when asked for as many
/// as the box has.
/// </summary>
internal sealed class EquivalenceBranching(Network reference, Network other, bool differential)
    : IBranchingProblem
{
    /// <summary>Boxes with at most this many inputs of positive width are "small": cutting one input moves their bounds.</summary>
    public const int SmallDimension = 16;

    private readonly List<string> _notes = [];

    // Each bounded box's per-goal input sensitivities, for ranking its cuts when it is expanded (boxes are never mutated).
    private readonly System.Runtime.CompilerServices.ConditionalWeakTable<Box, double[]> _sensitivity = new();

    /// <summary>Rank inputs by the bound's own coefficients (true) or by the gradient at the centre (false).</summary>
    internal bool BoundSmear { get; init; } = true;

    public IReadOnlyList<string> Notes => _notes;

    public double[] Upper(Box box, IReadOnlyList<Goal> goals)
    {
        // Bounded from several threads at once (strong branching's halves): the notes list is shared.
        List<string> notes = [];
        var (rb, ob, diff, _) = Verifier.Bound(reference, other, box, differential, notes);
        if (notes.Count > 0)
            lock (_notes)
                foreach (var note in notes) if (!_notes.Contains(note)) _notes.Add(note);
        var upper = new double[goals.Count];
        double[]? smear = null;
        for (var k = 0; k < upper.Length; k++)
        {
            upper[k] = Verifier.Upper(rb, ob, diff, goals[k].Output, goals[k].Sign) + EquivalenceMilp.MarginFor(rb, ob, goals[k].Output);
            if (BoundSmear && diff?.InputSensitivity(goals[k].Output, goals[k].Sign) is { } g)
            {
                smear ??= new double[box.Dimension];
                for (var i = 0; i < smear.Length; i++) smear[i] += g[i];
            }
        }
        if (smear is not null) _sensitivity.AddOrUpdate(box, smear);
        return upper;
    }

    public float[]? Witness(Box box, IReadOnlyList<Goal> goals, double delta) =>
        Float32Points.RoundInto(box, box.Center()) is { } x && WitnessChecker.Check(reference, other, x, delta) is { } w ? w.Input : null;

    /// <summary>
    /// The quantization boundary (c + ½)·s nearest the midpoint when it lies in the middle half of the input's range: each
    /// half then maps to fewer input codes, and the half whose codes become one removes that input's rounding from the
    /// other network's bounds. Otherwise the midpoint.
    /// </summary>
    public double SplitPoint(Box box, int dimension)
    {
        double lo = box.Lo[dimension], hi = box.Hi[dimension], mid = (lo + hi) / 2;
        if ((other.InputQuantization ?? reference.InputQuantization) is not { } p) return mid;
        var s = (double)p.Scale;
        var boundary = (Math.Floor(mid / s - 0.5) + 0.5) * s;
        if (Math.Abs(boundary + s - mid) < Math.Abs(boundary - mid)) boundary += s;
        return boundary > lo + (hi - lo) / 4 && boundary < hi - (hi - lo) / 4 ? boundary : mid;
    }

    public IReadOnlyList<int> Candidates(Box box, IReadOnlyList<Goal> goals, int count)
    {
        var open = Enumerable.Range(0, box.Dimension).Where(i => box.Width(i) > 0).ToList();
        if (open.Count <= count) return [.. open.OrderByDescending(box.Width)];
        // The bound's own smear when the box was bounded here: the inputs whose widths make up most of its bounds (summed
        // over the goals asked when it was bounded).
        if (_sensitivity.TryGetValue(box, out var smear) && open.Any(i => smear[i] > 0))
            return [.. open.OrderByDescending(i => smear[i]).ThenByDescending(box.Width).Take(count)];
        // Otherwise rank by width × |gradient| of the first open goal's difference at the centre (ReluVal's smear).
        var centre = Float32Points.RoundInto(box, box.Center());
        if (centre is null) return [.. open.OrderByDescending(box.Width).Take(count)];
        var g = Falsifier.DifferenceGradient(reference, other, centre, goals[0].Output, goals[0].Sign);
        return [.. open.OrderByDescending(i => box.Width(i) * Math.Abs(g[i])).ThenByDescending(box.Width).Take(count)];
    }
}
