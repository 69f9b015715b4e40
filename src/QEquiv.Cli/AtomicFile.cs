namespace QEquiv.Cli;

/// <summary>Writes a whole file or nothing: a crash or error never leaves a half-written report behind.</summary>
internal static class AtomicFile
{
    public static void Write(string path, string contents) => Write(path, System.Text.Encoding.UTF8.GetBytes(contents));

    public static void Write(string path, byte[] contents)
    {
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full)!;
        if (!Directory.Exists(dir)) throw BadInputException.For(path, "its folder does not exist");
        var temp = Path.Combine(dir, $".{Path.GetFileName(full)}.{Environment.ProcessId}.tmp");
        try
        {
            File.WriteAllBytes(temp, contents);
            File.Move(temp, full, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            File.Delete(temp);
            throw BadInputException.For(path, $"cannot write the file ({e.Message})");
        }
    }
}
