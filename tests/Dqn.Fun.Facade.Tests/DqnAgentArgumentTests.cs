using System;
using System.IO;
using Dqn.Fun;
using Xunit;

namespace Dqn.Fun.Facade.Tests;

public class DqnAgentArgumentTests
{
    private static readonly DqnOptions Small = DqnOptions.Default.WithHiddenLayers(8).WithBatchSize(4).WithLearningStarts(10);

    [Fact]
    public void A_null_options_is_rejected_naming_options() =>
        Assert.Equal("options", Assert.Throws<ArgumentNullException>(() => new DqnAgent(null!, 4, 2)).ParamName);

    [Fact]
    public void A_null_environment_is_rejected_naming_env() =>
        Assert.Equal("env", Assert.Throws<ArgumentNullException>(() => new DqnAgent(Small, (IEnvironment)null!)).ParamName);

    [Theory]
    [InlineData(0, 2, "observationSize", 0)]
    [InlineData(-3, 2, "observationSize", -3)]
    [InlineData(4, 0, "actionCount", 0)]
    public void Non_positive_sizes_are_rejected_naming_the_argument_and_value(int observationSize, int actionCount, string argument, int value)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new DqnAgent(Small, observationSize, actionCount));
        Assert.Equal(argument, e.ParamName);
        Assert.Equal(value, e.ActualValue);
    }

    [Fact]
    public void The_environment_constructor_takes_the_environments_sizes()
    {
        using var agent = new DqnAgent(Small, new ContextualBandit(3));
        Assert.Equal((3, 3), (agent.ObservationSize, agent.ActionCount));
        Assert.Equal(Small, agent.Options);
    }

    [Fact]
    public void Act_rejects_null_and_observations_of_the_wrong_length()
    {
        using var agent = new DqnAgent(Small, 4, 2);
        Assert.Equal("observation", Assert.Throws<ArgumentNullException>(() => agent.Act(null!)).ParamName);
        var e = Assert.Throws<ArgumentException>(() => agent.Act(new float[3]));
        Assert.Equal("observation", e.ParamName);
        Assert.Contains("3 values", e.Message);
        Assert.Contains("4", e.Message);
        Assert.Throws<ArgumentException>(() => agent.Act(new ReadOnlySpan<float>(new float[5])));
    }

    [Fact]
    public void Act_returns_an_action_in_range_for_array_and_span_alike()
    {
        using var agent = new DqnAgent(Small, 4, 3);
        var rng = new Random(1);
        for (var i = 0; i < 20; i++)
        {
            var o = new[] { rng.NextSingle(), rng.NextSingle(), rng.NextSingle(), rng.NextSingle() };
            var a = agent.Act(o);
            Assert.InRange(a, 0, 2);
            Assert.Equal(a, agent.Act(o.AsSpan()));
        }
    }

    [Fact]
    public void Learn_rejects_null_environments_and_non_positive_step_counts()
    {
        using var agent = new DqnAgent(Small, 3, 3);
        var env = new ContextualBandit(3);
        Assert.Equal("env", Assert.Throws<ArgumentNullException>(() => agent.Learn((IEnvironment)null!, 10)).ParamName);
        Assert.Equal("evalEnv", Assert.Throws<ArgumentNullException>(() => agent.Learn(env, (IEnvironment)null!, 10)).ParamName);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => agent.Learn(env, 0));
        Assert.Equal(("totalSteps", (object)0L), (e.ParamName, e.ActualValue));
        Assert.Equal(0, agent.Steps);
    }

    [Fact]
    public void Learn_and_Evaluate_reject_an_environment_of_other_sizes_naming_both()
    {
        using var agent = new DqnAgent(Small, 4, 4);
        var e = Assert.Throws<ArgumentException>(() => agent.Learn(new ContextualBandit(3), 10));
        Assert.Equal("env", e.ParamName);
        Assert.Contains("ObservationSize = 3", e.Message);
        Assert.Throws<ArgumentException>(() => agent.Evaluate(new ContextualBandit(3), 1));
    }

    [Fact]
    public void Learn_rejects_a_user_environment_that_returns_an_observation_of_the_wrong_length()
    {
        using var agent = new DqnAgent(Small, 3, 2);
        var e = Assert.Throws<ArgumentException>(() => agent.Learn(new ShortObservationEnvironment(), 10));
        Assert.Contains("2 values", e.Message);
    }

    [Fact]
    public void Evaluate_rejects_a_non_positive_episode_count()
    {
        using var agent = new DqnAgent(Small, 3, 3);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => agent.Evaluate(new ContextualBandit(3), 0));
        Assert.Equal(("episodes", (object)0), (e.ParamName, e.ActualValue));
        Assert.Equal("env", Assert.Throws<ArgumentNullException>(() => agent.Evaluate(null!, 1)).ParamName);
    }

    [Fact]
    public void Save_and_Load_reject_missing_paths()
    {
        using var agent = new DqnAgent(Small, 3, 3);
        Assert.Equal("path", Assert.Throws<ArgumentNullException>(() => agent.Save(null!)).ParamName);
        Assert.Equal("path", Assert.Throws<ArgumentException>(() => agent.Save(" ")).ParamName);
        Assert.Equal("path", Assert.Throws<ArgumentNullException>(() => DqnAgent.Load(null!)).ParamName);
        Assert.Throws<FileNotFoundException>(() => DqnAgent.Load(Path.Combine(Path.GetTempPath(), $"absent-{Guid.NewGuid()}.safetensors")));
    }

    [Fact]
    public void A_disposed_agent_refuses_work_but_can_be_disposed_again()
    {
        var agent = new DqnAgent(Small, 3, 3);
        agent.Dispose();
        agent.Dispose();
        Assert.Throws<ObjectDisposedException>(() => agent.Act(new float[3]));
        Assert.Throws<ObjectDisposedException>(() => agent.Learn(new ContextualBandit(3), 10));
        Assert.Throws<ObjectDisposedException>(() => agent.Evaluate(new ContextualBandit(3), 1));
        Assert.Throws<ObjectDisposedException>(() => agent.Save(Path.GetTempFileName()));
    }
}
