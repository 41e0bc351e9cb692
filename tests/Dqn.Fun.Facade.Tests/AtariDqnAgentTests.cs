using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading;
using Dqn.Fun;
using Dqn.Fun.Atari;
using Xunit;

namespace Dqn.Fun.Facade.Tests;

/// <summary>AtariDqnAgent over the fake emulator of <see cref="BanditAle"/>: no Python, no ALE.</summary>
public class AtariDqnAgentTests
{
    private static readonly AtariOptions Small = TestAtari.Small;

    [Fact]
    public void Learn_from_a_vector_of_environments_counts_frames_and_agent_steps_over_all_of_them()
    {
        var emulators = Enumerable.Range(0, 2).Select(i => AtariEmulator.OfAle(new BanditAle(1 + i, TestAtari.GameFrames))).ToArray();
        var env = new AtariVectorEnvironment(AtariVectorEmulator.OfEmulators(emulators), Small.TrainingSettings(), 1);
        using var agent = new AtariDqnAgent(Small, TestAtari.Environment(Small));
        var progress = new RecordingProgress<AtariProgress>();

        var result = agent.Learn(env, 1_600, progress: progress);

        // 2 envs of 4-frame agent steps: 400 agent steps, 200 per env, each env 2 games of 100 agent steps.
        Assert.Equal((1_600L, 400L, 4), (result.Frames, result.AgentSteps, result.Games));
        var games = progress.Reports.OfType<AtariGameProgress>().ToList();
        Assert.Equal(4, games.Count);
        Assert.All(games, g => Assert.Equal(100, g.GameAgentSteps));
        Assert.Equal(400, agent.ReplayCount);
        Assert.Equal("env", Assert.Throws<ArgumentNullException>(() => agent.Learn((AtariVectorEnvironment)null!, 100)).ParamName);
    }

    [Fact]
    public void Learn_reports_every_game_and_score_with_emulator_frames_and_agent_steps()
    {
        var env = TestAtari.Environment(Small);
        using var agent = new AtariDqnAgent(Small, env);
        var progress = new RecordingProgress<AtariProgress>();

        var result = agent.Learn(env, 2_000, progress: progress);

        var games = progress.Reports.OfType<AtariGameProgress>().ToList();
        var scores = progress.Reports.OfType<AtariEvaluationProgress>().ToList();
        // A game is 400 frames = 100 agent steps; every agent step is 4 frames (no no-op starts, no FIRE).
        Assert.Equal(Enumerable.Range(1, 5), games.Select(g => g.Game));
        Assert.Equal([400L, 800L, 1_200L, 1_600L, 2_000L], games.Select(g => g.Frames));
        Assert.Equal([100L, 200L, 300L, 400L, 500L], games.Select(g => g.AgentSteps));
        Assert.All(games, g => Assert.Equal(100, g.GameAgentSteps));
        Assert.All(games, g => Assert.InRange(g.Score, 0.0, 400.0));
        Assert.All(games.Skip(1), g => Assert.True(double.IsFinite(g.Loss) && double.IsFinite(g.MeanQ) && g.Updates > 0));
        Assert.True(double.IsNaN(games[0].Loss)); // learning starts after agent step 100
        Assert.True(games[0].Epsilon > games[^1].Epsilon);
        // Machado scoring: the last 5 training games, every 1 000 frames and at the end (the 2 000-frame one is both).
        Assert.Equal([1_000L, 2_000L], scores.Select(s => s.Frames));
        Assert.Equal([250L, 500L], scores.Select(s => s.AgentSteps));
        Assert.All(scores, s => Assert.Equal(AtariEvaluationProtocol.Machado, s.Protocol));
        Assert.Equal(games.Select(g => g.Score), scores[^1].Scores);
        Assert.Equal(games.Average(g => g.Score), scores[^1].MeanScore, 9);
        Assert.Equal(progress.Reports.OrderBy(r => r.Frames), progress.Reports);

        Assert.Equal((2_000L, 500L, 5), (result.Frames, result.AgentSteps, result.Games));
        Assert.Equal(games[^1].Updates, result.Updates);
        Assert.Equal(scores, result.Evaluations);
        Assert.True(result.WallTime >= result.EvaluationTime && result.FramesPerSecond > 0);
        Assert.Equal((2_000L, 500L, result.Updates), (agent.Frames, agent.AgentSteps, agent.Updates));
        Assert.Equal(500, agent.ReplayCount);
    }

    [Fact]
    public void The_counters_of_reports_are_cumulative_across_Learn_calls_and_the_results_per_call()
    {
        var env = TestAtari.Environment(Small);
        using var agent = new AtariDqnAgent(Small.WithEvalIntervalFrames(0), env);
        agent.Learn(env, 800);
        var progress = new RecordingProgress<AtariProgress>();

        var second = agent.Learn(env, 800, progress: progress);

        var games = progress.Reports.OfType<AtariGameProgress>().ToList();
        Assert.Equal([1_200L, 1_600L], games.Select(g => g.Frames));
        Assert.Equal([300L, 400L], games.Select(g => g.AgentSteps));
        Assert.Equal([3, 4], games.Select(g => g.Game)); // the first call played games 1 and 2
        Assert.Equal((800L, 200L, 2), (second.Frames, second.AgentSteps, second.Games));
        Assert.Equal(1_600L, Assert.Single(second.Evaluations).Frames);
        Assert.Equal((1_600L, 400L), (agent.Frames, agent.AgentSteps));
    }

    [Fact]
    public void Cancelling_the_token_stops_Learn_keeping_what_was_learned_and_counted()
    {
        using var cts = new CancellationTokenSource();
        var env = TestAtari.Environment(Small);
        using var agent = new AtariDqnAgent(Small, env);
        var progress = new RecordingProgress<AtariProgress>(r => { if (r is AtariGameProgress { Game: 2 }) cts.Cancel(); });

        Assert.Throws<OperationCanceledException>(() => agent.Learn(env, 100_000, progress: progress, cancellationToken: cts.Token));

        Assert.Equal(2, progress.Reports.OfType<AtariGameProgress>().Count());
        Assert.Equal((800L, 200L), (agent.Frames, agent.AgentSteps));
        Assert.True(agent.Updates > 0);
        Assert.Throws<OperationCanceledException>(() => agent.Learn(env, 100, cancellationToken: new CancellationToken(true)));
        Assert.Equal((800L, 200L), (agent.Frames, agent.AgentSteps));
    }

    [Fact]
    public void Under_the_Nature_protocol_evaluation_games_are_played_on_evalEnv_and_checkpoints_are_announced()
    {
        var options = Small.WithEvaluation(AtariEvaluationProtocol.Nature, 2).WithEvalIntervalFrames(0).WithCheckpointIntervalFrames(400);
        var env = TestAtari.Environment(options);
        var evalEnv = TestAtari.Environment(options, seed: 1_001, forEvaluation: true);
        using var agent = new AtariDqnAgent(options, env);
        var progress = new RecordingProgress<AtariProgress>();

        var result = agent.Learn(env, 800, evalEnv, progress);

        Assert.Equal([400L, 800L], progress.Reports.OfType<AtariCheckpointProgress>().Select(c => c.Frames));
        Assert.Equal([100L, 200L], progress.Reports.OfType<AtariCheckpointProgress>().Select(c => c.AgentSteps));
        var score = Assert.Single(progress.Reports.OfType<AtariEvaluationProgress>());
        Assert.Equal((AtariEvaluationProtocol.Nature, 2, 800L), (score.Protocol, score.Games, score.Frames));
        Assert.Equal(2, score.Scores.Count);
        Assert.True(result.EvaluationTime > TimeSpan.Zero);
        Assert.Equal(800L, agent.Frames); // evaluation games are not training frames
    }

    /// <summary>An emulator that fails once, at its <paramref name="failAt"/>-th frame.</summary>
    private sealed class FailOnceAle(IAle inner, int failAt) : IAle
    {
        private int frames;
        public int[] MinimalActionSet => inner.MinimalActionSet;
        public int Act(int action) => ++frames == failAt ? throw new IOException("the emulator died") : inner.Act(action);
        public int Lives() => inner.Lives();
        public bool IsGameOver() => inner.IsGameOver();
        public void GetScreenRgb(byte[] buffer) => inner.GetScreenRgb(buffer);
        public void ResetGame() => inner.ResetGame();
    }

    [Fact]
    public void A_failed_emulator_stops_Learn_unless_recover_brings_it_back()
    {
        AtariEnvironment Failing() => new(new FailOnceAle(new BanditAle(1, TestAtari.GameFrames), 150), Small.TrainingSettings(), 1);
        using (var agent = new AtariDqnAgent(Small, 6))
            Assert.Equal("the emulator died", Assert.Throws<IOException>(() => agent.Learn(Failing(), 800)).Message);
        using var recovered = new AtariDqnAgent(Small, 6);
        var errors = new List<Exception>();
        var result = recovered.Learn(Failing(), 800, recover: e => { errors.Add(e); return true; });
        Assert.IsType<IOException>(Assert.Single(errors));
        Assert.InRange(result.Frames, 800, 803);
        Assert.Equal(result.Frames, recovered.Frames);
    }

    [Fact]
    public void SaveCheckpoint_then_Resume_gives_an_agent_with_the_counters_replay_and_network_that_trains_on()
    {
        var env = TestAtari.Environment(Small);
        var dir = Path.Combine(Path.GetTempPath(), $"atari-dqn-agent-{Guid.NewGuid():N}");
        try
        {
            using (var agent = new AtariDqnAgent(Small, env))
            {
                agent.Learn(env, 800);
                var folder = agent.SaveCheckpoint(dir);
                Assert.True(File.Exists(Path.Combine(folder, "frames.lz4")));
            }
            using var resumed = AtariDqnAgent.Resume(dir, Small);
            Assert.Equal((800L, 200L), (resumed.Frames, resumed.AgentSteps));
            Assert.Equal(Small, resumed.Options);
            var result = resumed.Learn(TestAtari.Environment(Small), 400);
            Assert.Equal((1_200L, 300L), (resumed.Frames, resumed.AgentSteps));
            Assert.True(result.Updates > 0, "the resumed agent learns at once: its replay came back");
            var e = Assert.Throws<ArgumentException>(() => AtariDqnAgent.Resume(dir, Small.WithBatchSize(8)));
            Assert.Contains("BatchSize", e.Message);
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void Act_Evaluate_Save_and_Load_round_trip_the_network()
    {
        var env = TestAtari.Environment(Small);
        using var agent = new AtariDqnAgent(Small, env);
        agent.Learn(env, 800);
        var stack = env.Reset();
        var path = Path.Combine(Path.GetTempPath(), $"atari-dqn-agent-{Guid.NewGuid():N}.safetensors");
        try
        {
            agent.Save(path, new Dictionary<string, string> { ["game"] = "bandit" });
            using var loaded = AtariDqnAgent.Load(path);

            Assert.Equal(agent.Act(stack), loaded.Act(stack));
            Assert.Equal(agent.Act(stack.AsSpan()), loaded.Act(stack));
            Assert.InRange(loaded.Act(stack, epsilon: 1.0), 0, loaded.ActionCount - 1);
            Assert.Equal("bandit", loaded.CheckpointMetadata["game"]);
            Assert.Equal("dopamine", loaded.CheckpointMetadata["preset"]);
            Assert.Equal("200", loaded.CheckpointMetadata["agent_steps"]);
            Assert.Equal(AtariOptions.Preset("dopamine"), loaded.Options);
            Assert.Equal((0L, 0L), (loaded.Frames, loaded.AgentSteps));
            Assert.Empty(agent.CheckpointMetadata);

            var a = agent.Evaluate(TestAtari.Environment(Small, seed: 9), 2, epsilon: 0.0);
            var b = loaded.Evaluate(TestAtari.Environment(Small, seed: 9), 2, epsilon: 0.0);
            Assert.Equal(a.Scores, b.Scores);
            Assert.Equal(2, a.Scores.Count);
            Assert.Equal(a.Scores.Average(), a.MeanScore, 9);
            using var withOptions = AtariDqnAgent.Load(path, Small);
            Assert.Equal(Small, withOptions.Options);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Arguments_are_checked_naming_them()
    {
        var env = TestAtari.Environment(Small);
        var agent = new AtariDqnAgent(Small, env);
        Assert.Equal(6, agent.ActionCount);
        Assert.Equal("options", Assert.Throws<ArgumentNullException>(() => new AtariDqnAgent(null!, 4)).ParamName);
        Assert.Equal("env", Assert.Throws<ArgumentNullException>(() => new AtariDqnAgent(Small, (AtariEnvironment)null!)).ParamName);
        Assert.Equal("actionCount", Assert.Throws<ArgumentOutOfRangeException>(() => new AtariDqnAgent(Small, 0)).ParamName);
        Assert.Equal("env", Assert.Throws<ArgumentNullException>(() => agent.Learn((AtariEnvironment)null!, 100)).ParamName);
        var frames = Assert.Throws<ArgumentOutOfRangeException>(() => agent.Learn(env, 0));
        Assert.Equal(("frames", (object)0L), (frames.ParamName, frames.ActualValue));
        using (var other = new AtariDqnAgent(Small, 4))
            Assert.Equal("env", Assert.Throws<ArgumentException>(() => other.Learn(env, 100)).ParamName);
        Assert.Equal("evalEnv", Assert.Throws<ArgumentException>(() =>
            agent.Learn(env, 100, new AtariEnvironment(new BanditAle(1, 8, [0, 1]), Small.TrainingSettings(), 0))).ParamName);
        Assert.Equal("stack", Assert.Throws<ArgumentException>(() => agent.Act(new byte[10])).ParamName);
        Assert.Equal("epsilon", Assert.Throws<ArgumentOutOfRangeException>(() => agent.Act(new byte[AtariDqnAgent.ObservationBytes], 2.0)).ParamName);
        Assert.Equal("games", Assert.Throws<ArgumentOutOfRangeException>(() => agent.Evaluate(env, 0)).ParamName);
        Assert.Throws<ArgumentException>(() => agent.Save(" "));
        Assert.Throws<FileNotFoundException>(() => AtariDqnAgent.Load(Path.Combine(Path.GetTempPath(), $"missing-{Guid.NewGuid():N}.safetensors")));
        Assert.Contains("Recurrent", Assert.ThrowsAny<ArgumentException>(() => new AtariDqnAgent(Small.WithDqn(d => d.WithRecurrent()), 4)).Message);

        agent.Dispose();
        agent.Dispose();
        Assert.Throws<ObjectDisposedException>(() => agent.Act(new byte[AtariDqnAgent.ObservationBytes]));
        Assert.Throws<ObjectDisposedException>(() => agent.Learn(env, 100));
        Assert.Throws<ObjectDisposedException>(() => agent.Network);
        Assert.Equal(0L, agent.AgentSteps);
    }
}

/// <summary>BridgedAtariEnvironment without Python: its checks and how a server that cannot start is reported (the
/// F# tests open one against a replay server that speaks the protocol).</summary>
public class BridgedAtariEnvironmentTests
{
    [Fact]
    public void Arguments_are_checked_before_any_server_starts()
    {
        var options = AtariOptions.Preset("dopamine");
        Assert.Equal("game", Assert.Throws<ArgumentNullException>(() => BridgedAtariEnvironment.Open(null!, options)).ParamName);
        Assert.Equal("options", Assert.Throws<ArgumentNullException>(() => BridgedAtariEnvironment.Open("Pong", null!)).ParamName);
        Assert.Equal("seed", Assert.Throws<ArgumentOutOfRangeException>(() => BridgedAtariEnvironment.Open("Pong", options.WithSeed(-1))).ParamName);
        Assert.Equal("name", Assert.Throws<ArgumentException>(() => BridgedAtariEnvironment.Open("Pac-Man!", options)).ParamName);
        Assert.Equal("endpoint", Assert.Throws<ArgumentException>(() => BridgedAtariEnvironment.Open("Pong", options, endpoint: "ipc:///tmp/ale")).ParamName);
    }

    [Fact]
    public void A_server_that_cannot_start_is_a_BridgeException_carrying_its_words()
    {
        var broken = AleBridgeOptions.Default.WithServer(AleServerLaunch.Create("/bin/sh", "-c", "echo No module named ale_py >&2; exit 1"));
        var e = Assert.Throws<BridgeException>(() => BridgedAtariEnvironment.Open("Pong", AtariOptions.Preset("nature"), bridgeOptions: broken));
        Assert.Contains("No module named ale_py", e.Message);
        Assert.Equal("server start", e.InFlight);
        var missing = AleBridgeOptions.Default.WithPython("/nonexistent/python3");
        Assert.Contains("/nonexistent/python3", Assert.Throws<BridgeException>(() => BridgedAtariEnvironment.Open("Pong", AtariOptions.Preset("nature"), bridgeOptions: missing)).Message);
    }
}
