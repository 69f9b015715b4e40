namespace QEquiv;

/// <summary>
/// Bad user input (a model, region or data file QEquiv cannot accept). The CLI turns it into a
/// one-line error and exit code 2; the message always names the file and the problem.
/// </summary>
public sealed class BadInputException(string message) : Exception(message)
{
    public static BadInputException For(string file, string problem) => new($"{file}: {problem}");
}
