using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using Dqn.Fun.Atari;
using Microsoft.FSharp.Collections;

namespace Dqn.Fun;

/// <summary>
/// A report from <see cref="AtariDqnAgent.Learn(AtariEnvironment, long, AtariEnvironment?, IProgress{AtariProgress}?, System.Threading.CancellationToken, Func{Exception, bool}?, bool)"/>: an <see cref="AtariGameProgress"/> when a training game ends, an
/// <see cref="AtariEvaluationProgress"/> when the agent was scored, an <see cref="AtariCheckpointProgress"/> when
/// <see cref="AtariOptions.CheckpointIntervalFrames"/> more frames went by. Reports arrive on the training thread, in
/// order.
/// </summary>
/// <remarks>Every report carries both clocks: <see cref="Frames"/> (emulator frames) and <see cref="AgentSteps"/>
/// (actions; one is <see cref="AtariOptions.FrameSkip"/> frames, fewer at a game's end), each cumulative over the
/// agent's life, across <c>Learn</c> calls.</remarks>
/// <example><code>
/// switch (report)
/// {
///     case AtariGameProgress g: Console.WriteLine($"{g.Frames} frames: game {g.Game} scored {g.Score}"); break;
///     case AtariEvaluationProgress e: Console.WriteLine($"{e.Frames} frames: {e.MeanScore} ± {e.StdScore}"); break;
/// }
/// </code></example>
public abstract record AtariProgress
{
    private protected AtariProgress(long frames, long agentSteps) => (Frames, AgentSteps) = (frames, agentSteps);

    /// <summary>Emulator frames of training over the agent's life when the report was made (reset actions
    /// included, evaluation games not).</summary>
    public long Frames { get; init; }

    /// <summary>The agent's cumulative agent steps when the report was made.</summary>
    public long AgentSteps { get; init; }

    /// <summary>An immutable list equal to another holding equal items (an F# list, as <see cref="DqnOptions.HiddenLayers"/>),
    /// so that records holding it are equal by value.</summary>
    internal static IReadOnlyList<T> ValueList<T>(IEnumerable<T> items) => ListModule.OfSeq(items);

    /// <summary>The report of an F# event (its frames are the agent's lifetime frames); null for an event a C# caller
    /// never sees (Recovered: <c>Learn</c> passes no recover function).</summary>
    internal static AtariProgress? From(AtariEvent e, long agentSteps) =>
        e switch
        {
            AtariEvent.GameEnded { Item: var m } => new AtariGameProgress(
                m.Frames, m.AgentSteps, m.Updates, m.Game, m.Return, m.AgentStepsInGame, m.Epsilon, m.Loss,
                m.MeanQ, m.FramesPerSecond, m.AgentStepsPerSecond),
            AtariEvent.Evaluated { Item: var r } => AtariEvaluationProgress.From(r),
            AtariEvent.CheckpointDue { frames: var f } => new AtariCheckpointProgress(f, agentSteps),
            AtariEvent.Recovered => null,
            _ => throw new UnreachableException($"unknown Atari event {e}"),
        };
}

/// <summary>A training game ended (at game over or <see cref="AtariOptions.MaxEpisodeFrames"/>; with
/// <see cref="AtariOptions.TerminalOnLifeLoss"/> a game spans several training episodes).</summary>
/// <param name="Frames">Emulator frames of training over the agent's life at the game's end.</param>
/// <param name="AgentSteps">The agent's cumulative agent steps at the game's end.</param>
/// <param name="Updates">The agent's cumulative updates (gradient steps).</param>
/// <param name="Game">1-based number of the training game over the agent's life (across <c>Learn</c> calls and resumes).</param>
/// <param name="Score">The game's raw score: the sum of the unclipped ALE rewards.</param>
/// <param name="GameAgentSteps">Agent steps the game took.</param>
/// <param name="Epsilon">ε at the game's last agent step, in [0, 1].</param>
/// <param name="Loss">Mean loss of the updates made during the game; NaN when none was made.</param>
/// <param name="MeanQ">Mean Q(s, a) of those updates; NaN when none was made.</param>
/// <param name="FramesPerSecond">Emulator frames per second of training time since this <c>Learn</c> call began
/// (evaluations excluded).</param>
/// <param name="AgentStepsPerSecond">Agent steps per second of the same time.</param>
public sealed record AtariGameProgress(
    long Frames, long AgentSteps, long Updates, int Game, double Score, int GameAgentSteps, double Epsilon, double Loss,
    double MeanQ, double FramesPerSecond, double AgentStepsPerSecond)
    : AtariProgress(Frames, AgentSteps);

/// <summary>The agent was scored, every <see cref="AtariOptions.EvalIntervalFrames"/> frames and at the end of
/// <c>Learn</c>, by <see cref="AtariOptions.Evaluation"/>.</summary>
/// <param name="Frames">Emulator frames of training over the agent's life when it was scored.</param>
/// <param name="AgentSteps">The agent's cumulative agent steps then.</param>
/// <param name="Protocol">Nature (separate evaluation games) or Machado (the last training games).</param>
/// <param name="MeanScore">Mean raw score of the games.</param>
/// <param name="StdScore">Population standard deviation of those scores.</param>
/// <param name="Games">Number of games averaged (under Machado's protocol, fewer than
/// <see cref="AtariOptions.EvaluationGames"/> until that many training games were played).</param>
/// <param name="Scores">The raw scores, in the order the games ended (immutable; the record's equality compares them
/// by value).</param>
public sealed record AtariEvaluationProgress(
    long Frames, long AgentSteps, AtariEvaluationProtocol Protocol, double MeanScore, double StdScore, int Games,
    IReadOnlyList<double> Scores)
    : AtariProgress(Frames, AgentSteps)
{
    internal static AtariEvaluationProgress From(AtariEvaluation r) =>
        new(r.Frames, r.AgentSteps,
            r.Protocol == "nature" ? AtariEvaluationProtocol.Nature : AtariEvaluationProtocol.Machado,
            r.Mean, r.Std, r.Returns.Length, AtariProgress.ValueList(r.Returns));
}

/// <summary><see cref="AtariOptions.CheckpointIntervalFrames"/> more emulator frames went by: save the agent now
/// (<see cref="AtariDqnAgent.Save"/>) if you keep checkpoints.</summary>
/// <param name="Frames">Emulator frames of training over the agent's life.</param>
/// <param name="AgentSteps">The agent's cumulative agent steps.</param>
public sealed record AtariCheckpointProgress(long Frames, long AgentSteps) : AtariProgress(Frames, AgentSteps);

/// <summary>The outcome of <see cref="AtariDqnAgent.Learn(AtariEnvironment, long, AtariEnvironment?, IProgress{AtariProgress}?, System.Threading.CancellationToken, Func{Exception, bool}?, bool)"/>; the counts are of this call.</summary>
/// <param name="Frames">Emulator frames of training in this call (reset actions included, evaluation games not).</param>
/// <param name="AgentSteps">Agent steps taken in this call.</param>
/// <param name="Updates">Updates (gradient steps) made in this call.</param>
/// <param name="Games">Training games finished in this call.</param>
/// <param name="WallTime">Wall time of the whole call, evaluations included.</param>
/// <param name="EvaluationTime">Wall time spent playing evaluation games.</param>
/// <param name="FramesPerSecond">Emulator frames per second of training time (WallTime − EvaluationTime).</param>
/// <param name="AgentStepsPerSecond">Agent steps per second of training time.</param>
/// <param name="Evaluations">The scores, in order, as they were reported (the last one at the call's end; immutable,
/// compared by value).</param>
public sealed record AtariTrainingResult(
    long Frames, long AgentSteps, long Updates, int Games, TimeSpan WallTime, TimeSpan EvaluationTime,
    double FramesPerSecond, double AgentStepsPerSecond, IReadOnlyList<AtariEvaluationProgress> Evaluations)
{
    internal static AtariTrainingResult From(AtariTrainingSummary s) =>
        new(s.Frames, s.AgentSteps, s.Updates, s.Games, TimeSpan.FromSeconds(s.WallSeconds),
            TimeSpan.FromSeconds(s.EvaluationSeconds), s.FramesPerSecond, s.AgentStepsPerSecond,
            AtariProgress.ValueList(s.Evaluations.Select(AtariEvaluationProgress.From)));
}

/// <summary>The outcome of <see cref="AtariDqnAgent.Evaluate"/>.</summary>
/// <param name="Scores">Each game's raw score (the sum of unclipped ALE rewards), in order (immutable, compared by
/// value).</param>
/// <param name="MeanScore">Their mean.</param>
/// <param name="StdScore">Their population standard deviation.</param>
public sealed record AtariEvaluationResult(IReadOnlyList<double> Scores, double MeanScore, double StdScore)
{
    internal static AtariEvaluationResult Of(double[] scores)
    {
        var mean = scores.Average();
        var std = Math.Sqrt(scores.Average(s => (s - mean) * (s - mean)));
        return new AtariEvaluationResult(AtariProgress.ValueList(scores), mean, std);
    }
}
