namespace QEquiv.Falsification;

/// <summary>
/// A concrete input on which the networks differ by at least δ, with both outputs as re-executed by the
/// exact evaluators. <see cref="Output"/> is the output with the largest |N_j − Q_j| (the first on ties),
/// <see cref="Difference"/> its signed N_j − Q_j.
/// </summary>
public sealed record Witness(float[] Input, double[] FloatOutput, float[] QuantOutput, int Output, double Difference, double MaxAbsDifference);
