namespace QEquiv.Cli;

/// <summary>
/// Every path a command will write, checked before the run starts, so that a mistake costs a one-line error and exit 2
/// at once instead of an error after the whole run. A file path must not be a folder, its folder must exist and take a
/// new file; a report folder may exist (it is reused: its report files are replaced, others are left alone) or be
/// missing with a parent that exists (it is made when the report is written, never before). Two outputs of one run may
/// not be the same path. "-" means standard output where a command allows it (--json).
/// </summary>
internal sealed class OutputPaths
{
    public const string Stdout = "-";
    private readonly Dictionary<string, string> _claimed = new(StringComparer.Ordinal);

    public static bool IsStdout(string? path) => path == Stdout;

    /// <summary>Checks a file the run will write (null: not asked for); returns the path as given.</summary>
    /// <exception cref="BadInputException">the path is a folder, its folder is missing or not writable, or another output has it.</exception>
    public string? File(string? path, string option, bool stdoutAllowed = false)
    {
        if (path is null) return null;
        if (IsStdout(path))
        {
            if (!stdoutAllowed) throw new BadInputException($"{option}: '-' (standard output) is not possible here; give a file path");
            Claim(Stdout, option, path);
            return path;
        }
        var full = Full(path, option);
        if (Directory.Exists(full)) throw BadInputException.For(path, $"is a folder; {option} needs a file path");
        var dir = Path.GetDirectoryName(full)!;
        if (System.IO.File.Exists(dir)) throw BadInputException.For(path, $"{dir} is a file, not a folder");
        if (!Directory.Exists(dir)) throw BadInputException.For(path, $"its folder {dir} does not exist ({option})");
        EnsureWritable(dir, path, option);
        Claim(full, option, path);
        return path;
    }

    /// <summary>Checks a report folder the run will fill (null: not asked for); returns the path as given.</summary>
    public string? Folder(string? path, string option)
    {
        if (path is null) return null;
        if (IsStdout(path)) throw new BadInputException($"{option}: '-' is not possible here; give a folder");
        var full = Full(path, option);
        if (System.IO.File.Exists(full)) throw BadInputException.For(path, $"is a file; {option} needs a folder (made if missing)");
        if (Directory.Exists(full))
            EnsureWritable(full, path, option);
        else
        {
            var parent = Path.GetDirectoryName(full.TrimEnd(Path.DirectorySeparatorChar))!;
            if (!Directory.Exists(parent)) throw BadInputException.For(path, $"the report folder's parent {parent} does not exist ({option})");
            EnsureWritable(parent, path, option);
        }
        Claim(full.TrimEnd(Path.DirectorySeparatorChar), option, path);
        return path;
    }

    private static string Full(string path, string option)
    {
        if (path.Trim().Length == 0) throw new BadInputException($"{option}: the path is empty");
        try
        {
            return Path.GetFullPath(path);
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or PathTooLongException)
        {
            throw BadInputException.For(path, $"not a usable path ({option}): {e.Message}");
        }
    }

    /// <summary>Creating (and at once deleting) a file is the only test of writability that holds for every kind of
    /// folder: permissions, ACLs, read-only mounts, /proc.</summary>
    private static void EnsureWritable(string dir, string shown, string option)
    {
        var probe = Path.Combine(dir, $".qequiv-probe-{Environment.ProcessId}-{Guid.NewGuid():N}");
        try
        {
            using (System.IO.File.Create(probe, 1, FileOptions.DeleteOnClose)) { }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw BadInputException.For(shown, $"cannot write into the folder {dir} ({option}): {e.Message}");
        }
        finally
        {
            try { System.IO.File.Delete(probe); } catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }
    }

    private void Claim(string key, string option, string shown)
    {
        if (_claimed.TryGetValue(key, out var other))
            throw BadInputException.For(shown, $"given to both {other} and {option}; one would overwrite the other");
        _claimed[key] = option;
    }
}
