using System.Buffers.Binary;
using QEquiv.Onnx.Proto;
using QEquiv.Quantization;

namespace QEquiv.Onnx;

/// <summary>
/// A constant tensor held as doubles (exact for every float32, int8, uint8 and int32 value) with the
/// ONNX element type it came from, so integer codes stay integers and float32 scales stay float32.
/// </summary>
internal sealed record Tensor(TensorProto.Types.DataType Type, int[] Dims, double[] Data)
{
    public int Count => Data.Length;
    public bool IsScalarLike => Data.Length == 1;
    public bool IsInteger => Type is TensorProto.Types.DataType.Int8 or TensorProto.Types.DataType.Uint8
        or TensorProto.Types.DataType.Int32 or TensorProto.Types.DataType.Int64 or TensorProto.Types.DataType.Int16
        or TensorProto.Types.DataType.Uint16 or TensorProto.Types.DataType.Uint32 or TensorProto.Types.DataType.Bool;

    public float[] AsFloats() => Data.Select(v => (float)v).ToArray();
    public int[] AsInts() => Data.Select(v => checked((int)v)).ToArray();
    public long[] AsLongs() => Data.Select(v => (long)v).ToArray();

    public static Tensor FromProto(TensorProto t, Func<string, BadInputException> error)
    {
        var type = (TensorProto.Types.DataType)t.DataType;
        if (t.DataLocation == TensorProto.Types.DataLocation.External)
            throw error($"tensor '{t.Name}' keeps its data in an external file, which is not supported");
        var dims = t.Dims.Select(d => checked((int)d)).ToArray();
        var count = dims.Aggregate(1L, (a, d) => a * d);
        var data = t.HasRawData && t.RawData.Length > 0 ? FromRaw(type, t.RawData.Span, t.Name, error) : FromFields(type, t, error);
        if (data.Length != count)
            throw error($"tensor '{t.Name}' has {data.Length} values but its shape [{string.Join(",", dims)}] needs {count}");
        return new Tensor(type, dims, data);
    }

    private static double[] FromRaw(TensorProto.Types.DataType type, ReadOnlySpan<byte> raw, string name, Func<string, BadInputException> error)
    {
        int size = type switch
        {
            TensorProto.Types.DataType.Float or TensorProto.Types.DataType.Int32 or TensorProto.Types.DataType.Uint32 => 4,
            TensorProto.Types.DataType.Double or TensorProto.Types.DataType.Int64 or TensorProto.Types.DataType.Uint64 => 8,
            TensorProto.Types.DataType.Int8 or TensorProto.Types.DataType.Uint8 or TensorProto.Types.DataType.Bool => 1,
            TensorProto.Types.DataType.Int16 or TensorProto.Types.DataType.Uint16
                or TensorProto.Types.DataType.Float16 or TensorProto.Types.DataType.Bfloat16 => 2,
            _ => throw error($"tensor '{name}' has element type {type}, which is not supported"),
        };
        if (raw.Length % size != 0) throw error($"tensor '{name}' raw data has {raw.Length} bytes, not a multiple of {size}");
        var n = raw.Length / size;
        var data = new double[n];
        for (var i = 0; i < n; i++)
        {
            var b = raw.Slice(i * size, size);
            data[i] = type switch
            {
                TensorProto.Types.DataType.Float => BinaryPrimitives.ReadSingleLittleEndian(b),
                TensorProto.Types.DataType.Double => BinaryPrimitives.ReadDoubleLittleEndian(b),
                TensorProto.Types.DataType.Int32 => BinaryPrimitives.ReadInt32LittleEndian(b),
                TensorProto.Types.DataType.Uint32 => BinaryPrimitives.ReadUInt32LittleEndian(b),
                TensorProto.Types.DataType.Int64 => BinaryPrimitives.ReadInt64LittleEndian(b),
                TensorProto.Types.DataType.Uint64 => BinaryPrimitives.ReadUInt64LittleEndian(b),
                TensorProto.Types.DataType.Int16 => BinaryPrimitives.ReadInt16LittleEndian(b),
                TensorProto.Types.DataType.Uint16 => BinaryPrimitives.ReadUInt16LittleEndian(b),
                TensorProto.Types.DataType.Float16 => FloatFormat.Float16.FromBits(BinaryPrimitives.ReadUInt16LittleEndian(b)),
                TensorProto.Types.DataType.Bfloat16 => FloatFormat.BFloat16.FromBits(BinaryPrimitives.ReadUInt16LittleEndian(b)),
                TensorProto.Types.DataType.Int8 => (sbyte)b[0],
                _ => b[0],
            };
        }
        return data;
    }

    private static double[] FromFields(TensorProto.Types.DataType type, TensorProto t, Func<string, BadInputException> error) => type switch
    {
        TensorProto.Types.DataType.Float => t.FloatData.Select(v => (double)v).ToArray(),
        TensorProto.Types.DataType.Double => t.DoubleData.ToArray(),
        // ONNX stores int8/uint8/int16/uint16/int32/bool values in int32_data.
        TensorProto.Types.DataType.Int32 or TensorProto.Types.DataType.Int8 or TensorProto.Types.DataType.Uint8
            or TensorProto.Types.DataType.Int16 or TensorProto.Types.DataType.Uint16 or TensorProto.Types.DataType.Bool
            => t.Int32Data.Select(v => (double)v).ToArray(),
        // ... and float16 / bfloat16 values as their bit patterns, one per int32.
        TensorProto.Types.DataType.Float16 => t.Int32Data.Select(v => FloatFormat.Float16.FromBits(checked((ushort)v))).ToArray(),
        TensorProto.Types.DataType.Bfloat16 => t.Int32Data.Select(v => FloatFormat.BFloat16.FromBits(checked((ushort)v))).ToArray(),
        TensorProto.Types.DataType.Int64 => t.Int64Data.Select(v => (double)v).ToArray(),
        TensorProto.Types.DataType.Uint32 or TensorProto.Types.DataType.Uint64 => t.Uint64Data.Select(v => (double)v).ToArray(),
        _ => throw error($"tensor '{t.Name}' has element type {type}, which is not supported"),
    };
}
