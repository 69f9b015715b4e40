using System.Runtime.InteropServices;

namespace QEquiv.Cli;

/// <summary>
/// SIGINT (Ctrl+C) and SIGTERM during a long run: the first one cancels <see cref="Token"/>, so the run stops, and the
/// command still prints and writes what it has, marked interrupted, and exits <see cref="ExitCode"/>; a second one ends
/// the process at once (the default action of the signal). Outputs are written whole or not at all either way.
/// </summary>
internal sealed class Interruption : IDisposable
{
    /// <summary>128 + SIGINT, the shell's code for a run stopped by Ctrl+C; also used after SIGTERM.</summary>
    public const int ExitCode = 130;

    private readonly CancellationTokenSource _cts = new();
    private readonly PosixSignalRegistration[] _registrations;
    private int _signals;

    private Interruption()
    {
        _registrations = [PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal), PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal)];
    }

    /// <summary>Starts listening; unless quiet, says on standard error that the run started and how to stop it.</summary>
    public static Interruption Start(string what, bool quiet)
    {
        var i = new Interruption();
        if (!quiet) Console.Error.WriteLine($"running: {what} (Ctrl+C or SIGTERM stops it and keeps what is done)");
        return i;
    }

    public CancellationToken Token => _cts.Token;

    /// <summary>A signal arrived (the run may still have finished its work first).</summary>
    public bool Requested => _cts.IsCancellationRequested;

    /// <summary>SIGINT or SIGTERM, the first signal that arrived; null if none.</summary>
    public string? Signal { get; private set; }

    /// <summary>For tests and callers that stop a run themselves, exactly as a signal would.</summary>
    public void Trigger(string signal)
    {
        if (Interlocked.Increment(ref _signals) > 1) return;
        Signal = signal;
        Console.Error.WriteLine($"interrupted ({signal}): stopping; what is done is printed and written (again to quit at once)");
        _cts.Cancel();
    }

    private void OnSignal(PosixSignalContext context)
    {
        if (Volatile.Read(ref _signals) > 0) return; // the second signal: default action, the process ends now
        context.Cancel = true;
        Trigger(context.Signal == PosixSignal.SIGINT ? "SIGINT" : "SIGTERM");
    }

    public void Dispose()
    {
        foreach (var r in _registrations) r.Dispose();
        _cts.Dispose();
    }
}
