using System.Numerics;

namespace QEquiv.Model;

/// <summary>
/// One row of a <see cref="WeightMatrix"/>: the stored entries as parallel spans of columns (increasing) and values.
/// A dense row stores every column, so every analysis walks both kinds through the same loop, at a cost proportional
/// to the entries stored.
/// </summary>
public readonly ref struct WeightRow(ReadOnlySpan<int> columns, ReadOnlySpan<double> values, bool dense)
{
    public ReadOnlySpan<int> Columns { get; } = columns;
    public ReadOnlySpan<double> Values { get; } = values;
    /// <summary>Columns are 0, 1, …, Length − 1 (the vectorised paths use this).</summary>
    public bool IsDense { get; } = dense;
    public int Length => Values.Length;

    /// <summary>start + Σ_t value_t · x[column_t], summed from start in column order (a dense row: the plain dot product in index order).</summary>
    public double Dot(ReadOnlySpan<double> x, double start = 0)
    {
        var s = start;
        var c = Columns;
        var v = Values;
        for (var t = 0; t < v.Length; t++) s += v[t] * x[c[t]];
        return s;
    }

    /// <summary>y[column_t] += a · value_t: a transposed row times a scalar, the whole of a back-substitution step.</summary>
    public void AddScaledTo(Span<double> y, double a)
    {
        var v = Values;
        if (IsDense)
        {
            Axpy(a, v, y);
            return;
        }
        var c = Columns;
        for (var t = 0; t < v.Length; t++) y[c[t]] += a * v[t];
    }

    /// <summary>y += a·x over x's length, vectorised: back-substitution and the falsifier's column updates are almost all of this.</summary>
    public static void Axpy(double a, ReadOnlySpan<double> x, Span<double> y)
    {
        var i = 0;
        if (Vector.IsHardwareAccelerated && x.Length >= Vector<double>.Count)
        {
            var va = new Vector<double>(a);
            var w = Vector<double>.Count;
            for (; i <= x.Length - w; i += w)
                (new Vector<double>(y.Slice(i)) + va * new Vector<double>(x.Slice(i))).CopyTo(y.Slice(i));
        }
        for (; i < x.Length; i++) y[i] += a * x[i];
    }
}

/// <summary>
/// The weights of a linear operator, rows × columns: dense (row-major, every entry stored) or compressed sparse rows
/// (per row the columns it reads, increasing, and their values). A convolution's map is sparse — each output reads one
/// receptive field, so MNIST's 2×2 conv to 27×27×32 outputs stores 4 of 784 entries per row where a dense matrix would
/// hold 18 million — and every analysis reads both through <see cref="Row"/>, so none densifies it. Immutable.
/// </summary>
public sealed class WeightMatrix
{
    // Dense: _columns is the identity 0..Columns−1 shared by every row and _rowStart is null.
    private readonly int[]? _rowStart;
    private readonly int[] _columns;
    private readonly double[] _values;

    private WeightMatrix(int rows, int columns, int[]? rowStart, int[] columnIndex, double[] values)
    {
        Rows = rows;
        Columns = columns;
        _rowStart = rowStart;
        _columns = columnIndex;
        _values = values;
    }

    public int Rows { get; }
    public int Columns { get; }
    public bool IsDense => _rowStart is null;
    /// <summary>Entries stored (zeros of a dense matrix included).</summary>
    public int Count => _values.Length;
    /// <summary>The stored values row by row (dense: row-major rows × columns).</summary>
    public ReadOnlySpan<double> Values => _values;

    public static WeightMatrix Dense(int rows, int columns, double[] values)
    {
        if (rows <= 0 || columns <= 0) throw new ArgumentException($"a weight matrix needs positive sizes, got {rows}×{columns}");
        if (values.Length != (long)rows * columns) throw new ArgumentException($"weights have {values.Length} entries, expected {rows}×{columns}");
        return new WeightMatrix(rows, columns, null, Enumerable.Range(0, columns).ToArray(), (double[])values.Clone());
    }

    /// <summary>Compressed sparse rows: row r stores columns[rowStart[r]..rowStart[r+1]), strictly increasing, in range.</summary>
    public static WeightMatrix Sparse(int rows, int columns, int[] rowStart, int[] columnIndex, double[] values)
    {
        if (rows <= 0 || columns <= 0) throw new ArgumentException($"a weight matrix needs positive sizes, got {rows}×{columns}");
        if (rowStart.Length != rows + 1 || rowStart[0] != 0 || rowStart[^1] != values.Length || columnIndex.Length != values.Length)
            throw new ArgumentException("row starts, columns and values do not describe compressed sparse rows");
        for (var r = 0; r < rows; r++)
        {
            if (rowStart[r + 1] < rowStart[r]) throw new ArgumentException($"row {r} ends before it starts");
            for (var t = rowStart[r]; t < rowStart[r + 1]; t++)
                if (columnIndex[t] < 0 || columnIndex[t] >= columns || t > rowStart[r] && columnIndex[t] <= columnIndex[t - 1])
                    throw new ArgumentException($"row {r}: columns must be increasing and in [0, {columns})");
        }
        return new WeightMatrix(rows, columns, (int[])rowStart.Clone(), (int[])columnIndex.Clone(), (double[])values.Clone());
    }

    /// <summary>From per-row (column, value) entries in any order; repeated columns are summed.</summary>
    public static WeightMatrix FromRows(int rows, int columns, IReadOnlyList<IReadOnlyList<(int Column, double Value)>> entries)
    {
        var start = new int[rows + 1];
        var cols = new List<int>();
        var vals = new List<double>();
        for (var r = 0; r < rows; r++)
        {
            foreach (var g in entries[r].GroupBy(e => e.Column).OrderBy(g => g.Key))
            {
                cols.Add(g.Key);
                vals.Add(g.Sum(e => e.Value));
            }
            start[r + 1] = cols.Count;
        }
        return Sparse(rows, columns, start, cols.ToArray(), vals.ToArray());
    }

    public WeightRow Row(int r)
    {
        if (_rowStart is null) return new WeightRow(_columns, _values.AsSpan(r * Columns, Columns), true);
        int s = _rowStart[r], e = _rowStart[r + 1];
        return new WeightRow(_columns.AsSpan(s, e - s), _values.AsSpan(s, e - s), false);
    }

    /// <summary>The entry at (row, column), 0 where none is stored.</summary>
    public double this[int row, int column]
    {
        get
        {
            var w = Row(row);
            if (w.IsDense) return w.Values[column];
            var t = w.Columns.BinarySearch(column);
            return t >= 0 ? w.Values[t] : 0;
        }
    }

    /// <summary>The given rows (in that order), dense when this is.</summary>
    public WeightMatrix SelectRows(IReadOnlyList<int> rows)
    {
        if (_rowStart is null)
        {
            var dense = new double[rows.Count * Columns];
            for (var k = 0; k < rows.Count; k++) _values.AsSpan(rows[k] * Columns, Columns).CopyTo(dense.AsSpan(k * Columns));
            return new WeightMatrix(rows.Count, Columns, null, _columns, dense);
        }
        var start = new int[rows.Count + 1];
        var cols = new List<int>();
        var vals = new List<double>();
        for (var k = 0; k < rows.Count; k++)
        {
            var row = Row(rows[k]);
            foreach (var c in row.Columns) cols.Add(c);
            foreach (var v in row.Values) vals.Add(v);
            start[k + 1] = cols.Count;
        }
        return new WeightMatrix(rows.Count, Columns, start, cols.ToArray(), vals.ToArray());
    }

    /// <summary>Every stored entry mapped by f(row, column, value), on the same pattern.</summary>
    public WeightMatrix Select(Func<int, int, double, double> f)
    {
        var values = new double[_values.Length];
        for (var r = 0; r < Rows; r++)
        {
            var row = Row(r);
            var offset = _rowStart is null ? r * Columns : _rowStart[r];
            for (var t = 0; t < row.Length; t++) values[offset + t] = f(r, row.Columns[t], row.Values[t]);
        }
        return new WeightMatrix(Rows, Columns, _rowStart, _columns, values);
    }

    /// <summary>The transpose (for column-wise updates), dense when this is.</summary>
    public WeightMatrix Transpose()
    {
        if (_rowStart is null)
        {
            var t = new double[_values.Length];
            for (var r = 0; r < Rows; r++)
                for (var c = 0; c < Columns; c++)
                    t[c * Rows + r] = _values[r * Columns + c];
            return new WeightMatrix(Columns, Rows, null, Enumerable.Range(0, Rows).ToArray(), t);
        }
        var start = new int[Columns + 1];
        foreach (var c in _columns) start[c + 1]++;
        for (var c = 0; c < Columns; c++) start[c + 1] += start[c];
        var next = (int[])start.Clone();
        var rows = new int[_values.Length];
        var values = new double[_values.Length];
        for (var r = 0; r < Rows; r++)
            for (var t = _rowStart[r]; t < _rowStart[r + 1]; t++)
            {
                var k = next[_columns[t]]++;
                rows[k] = r;
                values[k] = _values[t];
            }
        return new WeightMatrix(Columns, Rows, start, rows, values);
    }

    /// <summary>
    /// this · right (this after right: rows × right.Columns), accumulated row by row in double. Dense when either factor
    /// is dense or the product fills more than half of its entries (a Gemm after a pooling reads every pooled input).
    /// </summary>
    public WeightMatrix Times(WeightMatrix right)
    {
        if (right.Rows != Columns) throw new ArgumentException($"cannot multiply {Rows}×{Columns} by {right.Rows}×{right.Columns}");
        var n = right.Columns;
        var scratch = new double[n];
        var touched = new bool[n];
        var used = new List<int>();
        var rowsOut = new List<(int[] Columns, double[] Values)>(Rows);
        long stored = 0;
        for (var r = 0; r < Rows; r++)
        {
            var row = Row(r);
            var all = false;
            for (var t = 0; t < row.Length; t++)
            {
                var a = row.Values[t];
                if (a == 0) continue;
                var k = right.Row(row.Columns[t]);
                k.AddScaledTo(scratch, a);
                if (k.IsDense) all = true;
                else if (!all) foreach (var c in k.Columns) if (!touched[c]) { touched[c] = true; used.Add(c); }
            }
            int[] cols;
            if (all) cols = Enumerable.Range(0, n).ToArray();
            else { used.Sort(); cols = used.ToArray(); }
            var vals = new double[cols.Length];
            for (var t = 0; t < cols.Length; t++)
            {
                vals[t] = scratch[cols[t]];
                scratch[cols[t]] = 0;
                touched[cols[t]] = false;
            }
            used.Clear();
            rowsOut.Add((cols, vals));
            stored += cols.Length;
        }
        if (IsDense || right.IsDense || stored * 2 > (long)Rows * n)
        {
            var dense = new double[(long)Rows * n];
            for (var r = 0; r < Rows; r++)
                for (var t = 0; t < rowsOut[r].Columns.Length; t++) dense[(long)r * n + rowsOut[r].Columns[t]] = rowsOut[r].Values[t];
            return new WeightMatrix(Rows, n, null, Enumerable.Range(0, n).ToArray(), dense);
        }
        var start = new int[Rows + 1];
        for (var r = 0; r < Rows; r++) start[r + 1] = start[r] + rowsOut[r].Columns.Length;
        return new WeightMatrix(Rows, n, start, rowsOut.SelectMany(x => x.Columns).ToArray(), rowsOut.SelectMany(x => x.Values).ToArray());
    }

    /// <summary>
    /// Both matrices on one pattern (the union of their entries, explicit zeros where one lacks an entry), so that
    /// the differential pass can read W, Ŵ and W − Ŵ entry by entry; unchanged when the patterns already agree.
    /// </summary>
    public static (WeightMatrix A, WeightMatrix B) OnCommonPattern(WeightMatrix a, WeightMatrix b)
    {
        if (a.Rows != b.Rows || a.Columns != b.Columns) throw new ArgumentException($"{a.Rows}×{a.Columns} and {b.Rows}×{b.Columns} differ in shape");
        if (a.SamePattern(b)) return (a, b);
        if (a.IsDense || b.IsDense) return (a.ToDenseMatrix(), b.ToDenseMatrix());
        var start = new int[a.Rows + 1];
        var cols = new List<int>();
        var va = new List<double>();
        var vb = new List<double>();
        for (var r = 0; r < a.Rows; r++)
        {
            var x = a.Row(r);
            var y = b.Row(r);
            int i = 0, j = 0;
            while (i < x.Length || j < y.Length)
            {
                var cx = i < x.Length ? x.Columns[i] : int.MaxValue;
                var cy = j < y.Length ? y.Columns[j] : int.MaxValue;
                var c = Math.Min(cx, cy);
                cols.Add(c);
                va.Add(cx == c ? x.Values[i++] : 0);
                vb.Add(cy == c ? y.Values[j++] : 0);
            }
            start[r + 1] = cols.Count;
        }
        var columns = cols.ToArray();
        return (new WeightMatrix(a.Rows, a.Columns, start, columns, va.ToArray()), new WeightMatrix(a.Rows, a.Columns, start, columns, vb.ToArray()));
    }

    /// <summary>this − other entry by entry, for two matrices on one pattern (<see cref="OnCommonPattern"/>).</summary>
    public WeightMatrix Minus(WeightMatrix other)
    {
        if (Rows != other.Rows || Columns != other.Columns || !SamePattern(other)) throw new ArgumentException("the matrices are not on one pattern");
        var v = new double[_values.Length];
        for (var i = 0; i < v.Length; i++) v[i] = _values[i] - other._values[i];
        return new WeightMatrix(Rows, Columns, _rowStart, _columns, v);
    }

    private bool SamePattern(WeightMatrix o)
    {
        if (IsDense != o.IsDense) return false;
        if (IsDense) return true;
        return ReferenceEquals(_rowStart, o._rowStart) && ReferenceEquals(_columns, o._columns)
            || _rowStart.AsSpan().SequenceEqual(o._rowStart) && _columns.AsSpan().SequenceEqual(o._columns);
    }

    private WeightMatrix ToDenseMatrix() => IsDense ? this : new WeightMatrix(Rows, Columns, null, Enumerable.Range(0, Columns).ToArray(), ToDense());

    /// <summary>Row-major rows × columns (for the dense layered views and tests; never on a convolution's path).</summary>
    public double[] ToDense()
    {
        if (_rowStart is null) return (double[])_values.Clone();
        var d = new double[(long)Rows * Columns];
        for (var r = 0; r < Rows; r++)
            for (var t = _rowStart[r]; t < _rowStart[r + 1]; t++) d[(long)r * Columns + _columns[t]] = _values[t];
        return d;
    }

    /// <summary>A dense matrix writes its values alone (as before sparse matrices existed); a sparse one a −1 first, then its pattern.</summary>
    internal void WriteContent(BinaryWriter w)
    {
        if (_rowStart is not null)
        {
            w.Write(-1);
            Operator.Write(w, _rowStart);
            Operator.Write(w, _columns);
        }
        Operator.Write(w, _values);
    }
}
