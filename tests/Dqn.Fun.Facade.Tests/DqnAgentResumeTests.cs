using System;
using System.IO;
using System.Linq;
using Dqn.Fun;
using Xunit;

namespace Dqn.Fun.Facade.Tests;

public class DqnAgentResumeTests
{
    private static readonly DqnOptions Options = DqnOptions.Default
        .WithSeed(4).WithHiddenLayers(32).WithBufferSize(3_000).WithLearningStarts(200).WithBatchSize(32)
        .WithPrioritized().WithNStep(3).WithEvalInterval(0);

    private static (byte[] Model, byte[] State) CheckpointBytes(DqnAgent agent, string dir)
    {
        var folder = agent.SaveCheckpoint(dir);
        return (File.ReadAllBytes(Path.Combine(folder, "model.safetensors")), File.ReadAllBytes(Path.Combine(folder, "state.safetensors")));
    }

    [Fact]
    public void A_run_saved_dropped_and_resumed_goes_on_as_the_run_left_alone()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"dqnfun-resume-{Guid.NewGuid():N}");
        try
        {
            using var alone = new DqnAgent(Options, new CartPoleEnvironment());
            alone.Learn(new CartPoleEnvironment(), 600);
            alone.Learn(new CartPoleEnvironment(), 700);

            using (var first = new DqnAgent(Options, new CartPoleEnvironment()))
            {
                first.Learn(new CartPoleEnvironment(), 600);
                first.SaveCheckpoint(Path.Combine(dir, "run"));
            }
            using var resumed = DqnAgent.Resume(Path.Combine(dir, "run"), Options);
            Assert.Equal((600L, Options), (resumed.Steps, resumed.Options));
            resumed.Learn(new CartPoleEnvironment(), 700);

            Assert.Equal((alone.Steps, alone.Updates), (resumed.Steps, resumed.Updates));
            var a = CheckpointBytes(alone, Path.Combine(dir, "alone"));
            var r = CheckpointBytes(resumed, Path.Combine(dir, "resumed"));
            Assert.True(a.Model.SequenceEqual(r.Model), "the online networks differ");
            Assert.True(a.State.SequenceEqual(r.State), "the target networks, optimizer, replay, generators or counters differ");
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void Resume_refuses_other_settings_and_a_folder_without_a_checkpoint_by_name()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"dqnfun-resume-{Guid.NewGuid():N}");
        try
        {
            using (var agent = new DqnAgent(Options, new CartPoleEnvironment()))
            {
                agent.Learn(new CartPoleEnvironment(), 100);
                agent.SaveCheckpoint(dir);
            }
            var e = Assert.Throws<ArgumentException>(() => DqnAgent.Resume(dir, Options.WithBatchSize(64)));
            Assert.Contains("BatchSize = 32", e.Message);
            Assert.Contains("BatchSize = 64", e.Message);
            Assert.Throws<DirectoryNotFoundException>(() => DqnAgent.Resume(Path.Combine(dir, "absent"), Options));
            Assert.Throws<ArgumentNullException>(() => DqnAgent.Resume(dir, null!));
            using var other = new DqnAgent(Options, 4, 2);
            Assert.Throws<ArgumentOutOfRangeException>(() => other.SaveCheckpoint(dir, 0));
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, true);
        }
    }
}
