using System;
using System.IO;
using System.Linq;
using System.Threading;
using Dqn.Fun;
using Xunit;

namespace Dqn.Fun.Facade.Tests;

public class DqnAgentTrainingTests
{
    private static readonly DqnOptions Fast = DqnOptions.Default
        .WithSeed(1).WithHiddenLayers(32).WithBufferSize(2_000).WithLearningStarts(100)
        .WithExploration(1.0, 0.1, 500).WithTargetUpdateInterval(50);

    [Fact]
    public void A_user_environment_trains_through_the_facade_and_the_agent_learns_the_best_action_of_every_context()
    {
        const int contexts = 4; // a random policy picks all four best actions with probability 1/256
        var env = new ContextualBandit(contexts);
        using var agent = new DqnAgent(Fast, env);

        var summary = agent.Learn(env, 1_500);

        Assert.Equal(1_500, summary.Steps);
        Assert.Equal(1_500, summary.Episodes);
        Assert.Equal(1_400, summary.Updates);
        Assert.Equal((1_500L, 1_400L), (agent.Steps, agent.Updates));
        for (var k = 0; k < contexts; k++) Assert.Equal(k, agent.Act(ContextualBandit.OneHot(k, contexts)));
        Assert.Equal(1.0, agent.Evaluate(new ContextualBandit(contexts), 50).MeanReturn);
    }

    [Fact]
    public void A_vector_of_environments_trains_through_the_facade_counting_agent_steps_over_all_of_them()
    {
        const int contexts = 4;
        var env = new SyncVectorEnvironment(4, () => new ContextualBandit(contexts));
        using var agent = new DqnAgent(Fast, new ContextualBandit(contexts));

        var summary = agent.Learn(env, 1_500, overlap: true);

        // 375 rounds of 4 one-step episodes; an update every agent step past the 100th, all made by the end.
        Assert.Equal((1_500L, 1_500, 1_400L), (summary.Steps, summary.Episodes, summary.Updates));
        for (var k = 0; k < contexts; k++) Assert.Equal(k, agent.Act(ContextualBandit.OneHot(k, contexts)));
        Assert.Throws<ArgumentNullException>(() => agent.Learn((IVectorEnvironment)null!, 10));
    }

    [Fact]
    public void Save_then_Load_gives_an_agent_that_acts_identically()
    {
        var path = Path.Combine(Path.GetTempPath(), $"dqnfun-facade-{Guid.NewGuid()}.safetensors");
        var rng = new Random(3);
        var observations = Enumerable.Range(0, 64).Select(_ => Enumerable.Range(0, 4).Select(_ => rng.NextSingle() * 4 - 2).ToArray()).ToArray();
        try
        {
            using var original = new DqnAgent(Fast.WithSeed(7).WithHiddenLayers(16), new ContextualBandit(4));
            original.Learn(new ContextualBandit(4), 300);
            original.Save(path);

            using var loaded = DqnAgent.Load(path); // seed 0: its fresh weights differ until the file's are loaded
            using var fresh = new DqnAgent(DqnOptions.Default.WithHiddenLayers(16), 4, 4);

            Assert.Equal([16], loaded.Options.HiddenLayers);
            Assert.Equal((4, 4), (loaded.ObservationSize, loaded.ActionCount));
            Assert.Equal(observations.Select(original.Act), observations.Select(loaded.Act));
            Assert.Contains(observations, o => fresh.Act(o) != original.Act(o));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Load_with_options_keeps_them_but_takes_the_hidden_layers_from_the_file()
    {
        var path = Path.Combine(Path.GetTempPath(), $"dqnfun-facade-{Guid.NewGuid()}.safetensors");
        try
        {
            using (var agent = new DqnAgent(Fast.WithHiddenLayers(16, 8), 4, 2)) agent.Save(path);
            using var loaded = DqnAgent.Load(path, Fast.WithSeed(3).WithHiddenLayers(99));
            Assert.Equal(Fast.WithSeed(3).WithHiddenLayers(16, 8), loaded.Options);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Cancelling_the_token_stops_Learn_with_OperationCanceledException_before_the_next_step()
    {
        using var cts = new CancellationTokenSource();
        var env = new ContextualBandit(3, length: 5);
        using var agent = new DqnAgent(Fast, env);
        var progress = new RecordingProgress<TrainingProgress>(_ => cts.Cancel());

        Assert.Throws<OperationCanceledException>(() => agent.Learn(env, 10_000, progress, cts.Token));

        Assert.Single(progress.Reports);
        Assert.Equal(5, agent.Steps);
    }

    [Fact]
    public void An_already_cancelled_token_stops_Learn_before_any_step()
    {
        var env = new ContextualBandit(3);
        using var agent = new DqnAgent(Fast, env);
        Assert.Throws<OperationCanceledException>(() => agent.Learn(env, 100, cancellationToken: new CancellationToken(true)));
        Assert.Equal(0, agent.Steps);
    }

    [Fact]
    public void Progress_receives_every_episode_end_and_every_evaluation_in_order()
    {
        var options = Fast.WithEvalInterval(50).WithEvalEpisodes(2);
        using var agent = new DqnAgent(options, new ContextualBandit(3));
        var progress = new RecordingProgress<TrainingProgress>();

        var summary = agent.Learn(new ContextualBandit(3, length: 5), new ContextualBandit(3, length: 5), 200, progress);

        var episodes = progress.Reports.OfType<EpisodeProgress>().ToList();
        var evaluations = progress.Reports.OfType<EvaluationProgress>().ToList();
        Assert.Equal(Enumerable.Range(1, 40), episodes.Select(e => e.Episode));
        Assert.Equal(Enumerable.Range(1, 40).Select(i => 5L * i), episodes.Select(e => e.Step));
        Assert.All(episodes, e => Assert.Equal(5, e.Length));
        Assert.All(episodes, e => Assert.InRange(e.Return, 0.0, 5.0));
        Assert.Equal([50L, 100L, 150L, 200L], evaluations.Select(e => e.Step));
        Assert.All(evaluations, e => Assert.Equal(2, e.Episodes));
        Assert.Equal(summary.Evaluations.Select(r => r.MeanReturn), evaluations.Select(e => e.MeanReturn));
        Assert.Equal(progress.Reports.OrderBy(r => r.Step), progress.Reports); // reported as they happen
        Assert.Equal(40, summary.Episodes);
    }

    [Fact]
    public void Episode_reports_carry_loss_and_q_once_updates_have_started()
    {
        var env = new ContextualBandit(3, length: 10);
        using var agent = new DqnAgent(Fast, env);
        var progress = new RecordingProgress<TrainingProgress>();
        agent.Learn(env, 200, progress);

        var episodes = progress.Reports.Cast<EpisodeProgress>().ToList();
        Assert.All(episodes.Where(e => e.Step <= 100), e => Assert.True(double.IsNaN(e.Loss) && e.Updates == 0));
        Assert.All(episodes.Where(e => e.Step > 110), e => Assert.True(double.IsFinite(e.Loss) && double.IsFinite(e.MeanQ)));
        Assert.Equal(100, episodes[^1].Updates);
        Assert.True(episodes[0].Epsilon > episodes[^1].Epsilon);
    }
}
