using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace QEquiv.Tests;

/// <summary>ONNX Runtime as a test oracle, always with graph optimizations off (they fuse QDQ and change results).</summary>
internal sealed class OrtOracle : IDisposable
{
    private readonly InferenceSession _session;
    private readonly string _input;
    private readonly int[] _shape;

    public OrtOracle(string path)
    {
        using var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_DISABLE_ALL, IntraOpNumThreads = 1 };
        _session = new InferenceSession(path, options);
        _input = _session.InputMetadata.Keys.Single();
        _shape = _session.InputMetadata[_input].Dimensions.Select(d => d <= 0 ? 1 : d).ToArray();
    }

    public float[] Run(float[] x)
    {
        var t = new DenseTensor<float>(x, _shape);
        using var results = _session.Run([NamedOnnxValue.CreateFromTensor(_input, t)]);
        return results.First().AsEnumerable<float>().ToArray();
    }

    public void Dispose() => _session.Dispose();
}
