using QEquiv.Regions;

namespace QEquiv.Bounds;

/// <summary>
/// DeepPoly/CROWN-style linear bounds for one network, back-substituted to the input box and intersected with
/// <see cref="IntervalBounds"/>, so never looser. Same soundness contract (every bound contains the exact evaluator's
/// values at any float32 point of the box), so they can replace the interval bounds anywhere (big-M constants,
/// stable-neuron fixing).
/// </summary>
public static class SymbolicBounds
{
    /// <summary>
    /// Symbolic bounds of any <see cref="Network"/>: per level (a linear operator and the element-wise run after it) the
    /// linear map in real units and the run's relaxation, each operator supplying its piece (<see cref="RealChain"/>),
    /// back-substituted to the box and intersected with <see cref="IntervalBounds"/>, so never looser. Same contract as
    /// <see cref="GraphBounds"/>. A network whose units degenerate (a zero scale) gets its interval bounds.
    /// </summary>
    public static GraphBounds Of(Model.Network network, Box box, bool everyNeuron = false)
    {
        var intervals = IntervalBounds.Of(network, box);
        return RealChain.Build(network, intervals, everyNeuron)?.Bounds ?? intervals;
    }
}
