using System;
using System.IO;
using System.Linq;
using Dqn.Fun;
using Xunit;

namespace Dqn.Fun.Facade.Tests;

/// <summary>DRQN (Hausknecht and Stone 2015) switched on from C#.</summary>
public class DqnRecurrentTests
{
    private static readonly DqnOptions Small = DqnOptions.Default
        .WithRecurrent().WithLstmHidden(8).WithSequenceLength(4).WithBurnIn(2)
        .WithHiddenLayers(16).WithBatchSize(4).WithBufferSize(1_000).WithLearningStarts(50).WithEvalInterval(0);

    private static readonly float[][] Observations =
        Enumerable.Range(0, 10).Select(i => new[] { 0.1f * i - 0.5f, 0.02f * (5 - i) }).ToArray();

    [Fact]
    public void WithRecurrent_reaches_the_core_config_and_the_drqn_preset_matches_it()
    {
        var config = Small.ToConfig();
        Assert.True(config.Recurrent);
        Assert.Equal(8, config.LstmHidden);
        Assert.Equal(4, config.SequenceLength);
        Assert.Equal(2, config.BurnIn);
        Assert.Equal(Small, DqnOptions.FromConfig(config));
        Assert.Contains("drqn", DqnOptions.PresetNames);
        Assert.True(DqnOptions.Preset("drqn").Recurrent);
        Assert.Equal("LstmHidden", Assert.Throws<ArgumentOutOfRangeException>(() => Small.WithLstmHidden(0)).ParamName);
        Assert.Equal("BurnIn", Assert.Throws<ArgumentOutOfRangeException>(() => Small.WithBurnIn(-1)).ParamName);
        var e = Assert.Throws<ArgumentException>(() => new DqnAgent(Small.WithDueling(), 2, 2));
        Assert.Equal("Dueling", e.ParamName);
    }

    [Fact]
    public void A_recurrent_agent_trains_on_the_masked_cart_pole_acts_with_memory_and_round_trips_a_checkpoint()
    {
        using var agent = new DqnAgent(Small, Environments.Make("MaskedCartPole-v1"));
        var summary = agent.Learn(Environments.Make("MaskedCartPole-v1"), 300);
        Assert.True(summary.Updates > 0);

        agent.ResetState();
        var first = Observations.Select(agent.Act).ToArray();
        agent.ResetState();
        Assert.Equal(first, Observations.Select(agent.Act).ToArray());

        var path = Path.Combine(Path.GetTempPath(), $"dqnfun-drqn-{Guid.NewGuid():N}.safetensors");
        try
        {
            agent.Save(path);
            using var loaded = DqnAgent.Load(path);
            Assert.True(loaded.Options.Recurrent);
            Assert.Equal(8, loaded.Options.LstmHidden);
            Assert.Equal(first, Observations.Select(loaded.Act).ToArray());
        }
        finally
        {
            File.Delete(path);
        }
    }
}
