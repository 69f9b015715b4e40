namespace QEquiv.Model;

/// <summary>The outputs a run compares, as a user writes them (see <see cref="Network.SelectOutputs"/>).</summary>
public static class OutputSelection
{
    /// <summary>"0,3" (or "0;3", as a CSV cell writes it) as output indices, increasing; null for null. Errors name
    /// <paramref name="where"/>, then <paramref name="what"/> when given.</summary>
    public static IReadOnlyList<int>? Parse(string? text, string where, string? what = null)
    {
        if (text is null) return null;
        var prefix = what is null ? "" : what + ": ";
        var parts = text.Split([',', ';'], StringSplitOptions.TrimEntries);
        var outputs = new List<int>();
        foreach (var p in parts)
        {
            if (!int.TryParse(p, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var j))
                throw BadInputException.For(where, prefix + $"'{text}' is not a list of output indices such as 0 or 0,3");
            if (outputs.Contains(j)) throw BadInputException.For(where, prefix + $"output {j} is listed twice in '{text}'");
            outputs.Add(j);
        }
        if (outputs.Zip(outputs.Skip(1)).Any(p => p.First > p.Second))
            throw BadInputException.For(where, prefix + $"list the outputs in increasing order ('{text}'): reports number them from 0 in that order");
        return outputs;
    }
}
