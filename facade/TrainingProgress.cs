using System.Diagnostics;

namespace Dqn.Fun;

/// <summary>
/// A report from <see cref="DqnAgent.Learn(IEnvironment, long, System.IProgress{TrainingProgress}?, System.Threading.CancellationToken, bool)"/>:
/// an <see cref="EpisodeProgress"/> when a training episode ends, or an <see cref="EvaluationProgress"/> when a
/// periodic evaluation has run. Reports arrive on the training thread, in order.
/// </summary>
/// <example><code>
/// switch (report)
/// {
///     case EpisodeProgress e: Console.WriteLine($"episode {e.Episode}: return {e.Return}"); break;
///     case EvaluationProgress v: Console.WriteLine($"eval at {v.Step}: {v.MeanReturn} ± {v.StdReturn}"); break;
/// }
/// </code></example>
public abstract record TrainingProgress
{
    private protected TrainingProgress(long step) => Step = step;

    /// <summary>The agent's cumulative agent steps when the report was made.</summary>
    public long Step { get; init; }

    internal static TrainingProgress From(TrainingEvent e) =>
        e switch
        {
            TrainingEvent.EpisodeEnded { Item: var m } =>
                new EpisodeProgress(m.Step, m.Episode, m.Return, m.Length, m.Epsilon, m.Loss, m.MeanQ, m.Updates, m.StepsPerSecond),
            TrainingEvent.Evaluated { Item: var r } => new EvaluationProgress(r.Step, r.MeanReturn, r.StdReturn, r.Returns.Length),
            _ => throw new UnreachableException($"unknown training event {e}"),
        };
}

/// <summary>A training episode ended.</summary>
/// <param name="Step">The agent's cumulative agent steps at the episode's end.</param>
/// <param name="Episode">1-based episode number within this <c>Learn</c> call.</param>
/// <param name="Return">Undiscounted sum of the episode's rewards.</param>
/// <param name="Length">Agent steps in the episode.</param>
/// <param name="Epsilon">ε used at the episode's last agent step, in [0, 1].</param>
/// <param name="Loss">Mean TD loss over the updates made during the episode; NaN when none was made.</param>
/// <param name="MeanQ">Mean Q(s, a) over those updates; NaN when none was made.</param>
/// <param name="Updates">The agent's cumulative updates (gradient steps).</param>
/// <param name="StepsPerSecond">Agent steps per second of wall time since this <c>Learn</c> call began.</param>
public sealed record EpisodeProgress(
    long Step, int Episode, double Return, int Length, double Epsilon, double Loss, double MeanQ, long Updates, double StepsPerSecond)
    : TrainingProgress(Step);

/// <summary>A periodic evaluation ran (every <see cref="DqnOptions.EvalInterval"/> agent steps, with ε =
/// <see cref="DqnOptions.EvalEpsilon"/> and no learning).</summary>
/// <param name="Step">The agent's cumulative agent steps when the evaluation ran.</param>
/// <param name="MeanReturn">Mean undiscounted return over the evaluation episodes.</param>
/// <param name="StdReturn">Population standard deviation of those returns.</param>
/// <param name="Episodes">Number of evaluation episodes (<see cref="DqnOptions.EvalEpisodes"/>).</param>
public sealed record EvaluationProgress(long Step, double MeanReturn, double StdReturn, int Episodes)
    : TrainingProgress(Step);
