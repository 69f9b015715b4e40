using QEquiv.Verification;

namespace QEquiv.Tests;

/// <summary>The settings' rules live in one place (VerifyOptions.Problems): each rule can fail, and the defaults pass.</summary>
public class SettingsTests
{
    [Fact]
    public void TheDefaultsBreakNoRule() => Assert.Empty(new VerifyOptions(0.05).Problems());

    public static TheoryData<string, VerifyOptions> Broken() => new()
    {
        { nameof(VerifyOptions.Delta), new VerifyOptions(0) },
        { nameof(VerifyOptions.Delta), new VerifyOptions(double.NaN) },
        { nameof(VerifyOptions.Timeout), new VerifyOptions(0.05, Timeout: TimeSpan.Zero) },
        { nameof(VerifyOptions.Workers), new VerifyOptions(0.05) { Workers = -1 } },
        { nameof(VerifyOptions.Workers), new VerifyOptions(0.05, Strategy.Monolithic) { Workers = 2 } },
        { nameof(VerifyOptions.OutputPieces), new VerifyOptions(0.05) { OutputPieces = 0 } },
        { nameof(VerifyOptions.LpBudget), new VerifyOptions(0.05) { LpBudget = TimeSpan.FromSeconds(-1) } },
        { nameof(VerifyOptions.InitialTimeout), new VerifyOptions(0.05) { InitialTimeout = TimeSpan.Zero } },
        { nameof(VerifyOptions.FalsifierShare), new VerifyOptions(0.05) { FalsifierShare = 1.5 } },
        { nameof(VerifyOptions.TimeoutFactor), new VerifyOptions(0.05) { TimeoutFactor = 0.5 } },
        { nameof(VerifyOptions.Bisections), new VerifyOptions(0.05) { Bisections = 0 } },
        { nameof(VerifyOptions.MaxDepth), new VerifyOptions(0.05) { MaxDepth = -1 } },
        { nameof(VerifyOptions.Portfolio), new VerifyOptions(0.05, Strategy.Monolithic) { Portfolio = true } },
        { nameof(VerifyOptions.Log), new VerifyOptions(0.05, Strategy.Monolithic) { Log = "job.log" } },
    };

    [Theory]
    [MemberData(nameof(Broken))]
    public void EachRuleNamesItsSetting(string setting, VerifyOptions options)
    {
        var problems = options.Problems();
        Assert.Single(problems);
        Assert.Equal(setting, problems[0].Setting);
        // The same rule, named as the caller names the setting (the CLI passes its flags).
        var e = Assert.Throws<BadInputException>(() => options.Validated(s => $"<{s}>"));
        Assert.StartsWith($"<{setting}>: ", e.Message);
        Assert.Throws<BadInputException>(() => Verifier.Verify(G(TestNetworks.Random(1, [2, 3, 2]).Float), G(TestNetworks.Random(1, [2, 3, 2]).Quantized),
            Regions.Box.LInfBall(new double[2], 0.1), options));
    }
}
