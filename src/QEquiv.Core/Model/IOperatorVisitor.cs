namespace QEquiv.Model;

/// <summary>
/// One analysis, written once per operator type: evaluation lives on the operators themselves; every other analysis
/// (interval and symbolic bounds, the differential pass, the MILP gadget, the falsifier's gradients) implements this
/// interface, so adding an operator type adds one method here and the compiler lists every analysis that must handle it.
/// </summary>
public interface IOperatorVisitor<out TResult>
{
    TResult Affine(Affine op);
    TResult Elementwise(Elementwise op);
    TResult Relu(Relu op);
    TResult Clamp(Clamp op);
    TResult Quantize(Quantize op);
    TResult Dequantize(Dequantize op);
    TResult IntegerLinear(IntegerLinear op);
    TResult Requantize(Requantize op);
    TResult Reshape(Reshape op);
    TResult FloatRound(FloatRound op);
}
