namespace QEquiv.Cli;

/// <summary>Writes a whole file or nothing: each file goes to a temporary file in its own folder first and is then moved
/// over the target (a rename, atomic on one file system), so a crash, an error or a full disk never leaves a half-written
/// file behind, and an earlier file of that name stays as it was until the new one is complete.</summary>
internal static class AtomicFile
{
    public static void Write(string path, string contents) => Write(path, System.Text.Encoding.UTF8.GetBytes(contents));

    public static void Write(string path, byte[] contents)
    {
        var temp = Stage(path, contents);
        Commit(temp, path);
    }

    /// <summary>Writes the contents to a temporary file beside <paramref name="path"/> and returns its name.</summary>
    public static string Stage(string path, byte[] contents)
    {
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full)!;
        if (!Directory.Exists(dir)) throw BadInputException.For(path, "its folder does not exist");
        var temp = Path.Combine(dir, $".{Path.GetFileName(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            File.WriteAllBytes(temp, contents);
            return temp;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Discard(temp);
            throw BadInputException.For(path, $"cannot write the file ({e.Message})");
        }
    }

    /// <summary>Moves a staged file over its target.</summary>
    public static void Commit(string temp, string path)
    {
        try
        {
            File.Move(temp, Path.GetFullPath(path), overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Discard(temp);
            throw BadInputException.For(path, $"cannot write the file ({e.Message})");
        }
    }

    public static void Discard(string temp)
    {
        try { File.Delete(temp); } catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }
}
