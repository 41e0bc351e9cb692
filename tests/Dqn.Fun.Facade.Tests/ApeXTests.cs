using System;
using System.Linq;
using System.Threading.Tasks;
using Dqn.Fun;
using Dqn.Fun.ApeX;
using Xunit;

namespace Dqn.Fun.Facade.Tests;

public class ApeXTests
{
    [Fact]
    public void Default_mirrors_the_core_defaults_and_round_trips()
    {
        var core = ApeXConfigModule.Defaults;
        var o = ApeXOptions.Default;
        Assert.Equal(core.Actors, o.Actors);
        Assert.Equal(core.Epsilon, o.Epsilon);
        Assert.Equal(core.EpsilonAlpha, o.EpsilonAlpha);
        Assert.Equal(core.TotalSteps, o.TotalSteps);
        Assert.Equal(core.EnvironmentId, o.EnvironmentId);
        Assert.True(o.Dqn.Prioritized && o.Dqn.DoubleDqn && o.Dqn.NStep == 3);
        Assert.Equal(core, o.ToConfig());
        Assert.Equal(o, ApeXOptions.FromConfig(o.ToConfig()));
    }

    [Fact]
    public void ForAtari_takes_the_preset_with_ApeX_s_learner_and_round_trips()
    {
        var o = ApeXOptions.ForAtari(AtariOptions.Preset("dopamine"), "breakout", "/roms/breakout.bin");
        Assert.NotNull(o.Atari);
        Assert.Equal("breakout", o.Atari!.Game);
        Assert.Equal(0.25, o.Atari.RepeatActionProbability);
        Assert.Equal("ALE/breakout", o.EnvironmentId);
        Assert.True(o.Dqn.Prioritized && o.Dqn.DoubleDqn && o.Dqn.NStep == 3);
        Assert.Equal(2_500_000L, o.TotalSteps); // 10M frames at a frame skip of 4
        Assert.Equal(o, ApeXOptions.FromConfig(o.ToConfig()));
        Assert.Contains("Head", Assert.ThrowsAny<ArgumentException>(() => ApeXOptions.ForAtari(AtariOptions.Preset("rainbow"), "breakout")).Message);
        Assert.Null(ApeXOptions.Default.Atari);
    }

    [Fact]
    public void Options_ApeX_cannot_run_are_refused_naming_the_setting()
    {
        var noPer = ApeXOptions.Default.WithDqn(d => d with { Prioritized = false });
        Assert.Contains("Prioritized", Assert.ThrowsAny<ArgumentException>(() => noPer.ToConfig()).Message);
        var torso = ApeXOptions.Default.WithDqn(d => d with { Torso = () => TorchSharp.torch.nn.Identity(), TorsoFeatures = 4 });
        Assert.Contains("Torso", Assert.Throws<ArgumentException>(() => torso.ToConfig()).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => ApeXOptions.Default.WithActors(0).ToConfig());
    }

    [Fact]
    public async Task A_learner_node_and_two_actors_store_the_budget_and_make_the_granted_updates()
    {
        var options = ApeXOptions.Default.WithTotalSteps(3_000).WithDqn(d => d with { EvalInterval = 0, EvalEpisodes = 2 });
        var reports = new System.Collections.Concurrent.ConcurrentBag<ApeXProgress>();
        using var learner = new ApeXLearnerNode(options, new Progress<ApeXProgress>(reports.Add));
        Assert.StartsWith("akka.tcp://dqnfun-apex@127.0.0.1:", learner.Address);
        var actors = Enumerable.Range(0, 2).Select(i => Task.Run(() => ApeXLearnerNode.RunActor(learner.Address, i))).ToArray();
        var summary = learner.Run();
        var done = await Task.WhenAll(actors);
        Assert.Equal(3_000L, summary.Steps);
        Assert.Equal(2_000L, summary.Updates); // (3000 - LearningStarts 1000) / TrainFrequency 1
        Assert.Equal(summary.Steps, summary.ActorSteps.Sum(a => a.Item2));
        Assert.All(done, r => Assert.Contains("budget", r.Reason));
        Assert.Single(summary.Evaluations); // EvalInterval 0: the final evaluation only
    }
}
