namespace QEquiv.Quantization;

/// <summary>An inclusive range of integer codes, e.g. of a quantized output c_j (Q_j = s_out·(c_j − z_out) + b_j).</summary>
public sealed record CodeRange(int Lo, int Hi)
{
    public int Count => Hi - Lo + 1;
    public override string ToString() => $"[{Lo}, {Hi}]";
}
