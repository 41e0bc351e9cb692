using System;
using System.Collections.Generic;
using Dqn.Fun;
using Dqn.Fun.Atari;

namespace Dqn.Fun.Facade.Tests;

/// <summary>
/// A fake ALE written by a C# user (no Python, no ROM): a contextual bandit drawn as an Atari screen. Before each
/// 4-frame block the screen shows which half is lit (left or right, from a seeded generator); a frame pays 1 when the
/// action held is RIGHT (ALE id 3) under a lit right half or LEFT (id 4) under a lit left half. The game ends after
/// <paramref name="gameFrames"/> frames; there are no lives. <paramref name="actions"/>: the minimal action set (default
/// six actions, RIGHT and LEFT among them).
/// </summary>
internal sealed class BanditAle(int seed, int gameFrames, int[]? actions = null) : IAle
{
    private const int Width = 160;
    private readonly List<bool> sides = [];
    private Random rng = new(seed);
    private int frame;

    public int[] MinimalActionSet => actions ?? [0, 1, 3, 4, 11, 12];

    public int Act(int action)
    {
        frame++;
        var right = Side((frame - 1) / 4);
        return (right && action == 3) || (!right && action == 4) ? 1 : 0;
    }

    public int Lives() => 0;

    public bool IsGameOver() => frame >= gameFrames;

    public void GetScreenRgb(byte[] buffer)
    {
        Array.Clear(buffer);
        if (frame % 4 != 0) return;
        var right = Side(frame / 4);
        for (var y = 0; y < 210; y++)
            for (var x = right ? Width / 2 : 0; x < (right ? Width : Width / 2); x++)
                buffer.AsSpan((y * Width + x) * 3, 3).Fill(200);
    }

    public void ResetGame()
    {
        frame = 0;
        sides.Clear();
        rng = new Random(seed);
    }

    private bool Side(int block)
    {
        while (sides.Count <= block) sides.Add(rng.Next(2) == 1);
        return sides[block];
    }
}

internal static class TestAtari
{
    /// <summary>Frames of one <see cref="BanditAle"/> game in these tests: 100 agent steps at a frame skip of 4.</summary>
    public const int GameFrames = 400;

    /// <summary>Dopamine's schedule shrunk to a few hundred agent steps, with plain episodes (no no-op starts, no FIRE,
    /// no life-loss terminals: every agent step is exactly 4 frames).</summary>
    public static AtariOptions Small { get; } = AtariOptions.Preset("dopamine")
        .WithBufferSize(2_000).WithBatchSize(16).WithLearningStarts(100).WithTrainFrequency(2).WithTargetUpdateInterval(50)
        .WithExploration(1.0, 0.05, 400).WithLearningRate(1e-3).WithSeed(3).WithAdam(1.5e-4)
        .WithNoopMaxFrames(0).WithFireOnReset(false).WithTerminalOnLifeLoss(false)
        .WithEvaluation(AtariEvaluationProtocol.Machado, 5).WithEvalIntervalFrames(1_000).WithCheckpointIntervalFrames(0);

    public static AtariEnvironment Environment(AtariOptions options, int seed = 1, bool forEvaluation = false) =>
        new(new BanditAle(seed, GameFrames), forEvaluation ? options.EvaluationSettings() : options.TrainingSettings(), seed);
}
