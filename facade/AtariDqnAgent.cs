using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading;
using Dqn.Fun.Atari;
using Microsoft.FSharp.Collections;
using Microsoft.FSharp.Core;

namespace Dqn.Fun;

/// <summary>
/// DQN on Atari (Mnih et al. 2015) and its Rainbow-family variants (<see cref="AtariOptions.Preset"/>): the Nature CNN
/// over stacks of four 84×84 grayscale frames, its target network, the optimizer and a frame replay, trained on an
/// <see cref="AtariEnvironment"/>. The C# face of the F# <see cref="AtariAgent"/> (named apart from it so that both
/// namespaces can be imported). Dispose it to free the networks' native (libtorch) memory.
/// </summary>
/// <remarks>
/// <para>Units: an <em>emulator frame</em> is one Atari frame; an <em>agent step</em> is one action, repeated for
/// <see cref="AtariOptions.FrameSkip"/> frames; an <em>update</em> is one gradient step. Budgets (<c>Learn</c>'s
/// <c>frames</c>) are in frames; the counters <see cref="Frames"/>, <see cref="AgentSteps"/> and <see cref="Updates"/>
/// are cumulative over the agent's life, across <c>Learn</c> calls.</para>
/// <para>Observations are frame stacks as <see cref="AtariEnvironment"/> returns them: byte[4 · 84 · 84], shape
/// [4; 84; 84], oldest frame first, gray levels 0 .. 255.</para>
/// <para>Not thread-safe: use an agent from one thread at a time. Agents draw their initial weights and noise from
/// their own generator seeded with the options' seed and never change torch's global seed or thread count.</para>
/// </remarks>
public sealed class AtariDqnAgent : IDisposable
{
    /// <summary>Bytes of one observation: 4 stacked 84×84 frames.</summary>
    public const int ObservationBytes = 4 * 84 * 84;

    private readonly AtariAgent agent;
    private bool disposed;

    /// <summary>Builds an agent with freshly initialised networks.</summary>
    /// <param name="options">The settings, checked here as a whole (including BufferSize &gt;= BatchSize).</param>
    /// <param name="actionCount">Number of actions (the game's minimal action set: 0 .. actionCount − 1), positive.</param>
    /// <exception cref="ArgumentNullException"><paramref name="options"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="actionCount"/> is zero or negative, or the options
    /// are inconsistent (BufferSize &lt; BatchSize).</exception>
    /// <exception cref="ArgumentException">The options ask for something the Atari network cannot do (Recurrent), or a
    /// GPU this process does not see.</exception>
    public AtariDqnAgent(AtariOptions options, int actionCount)
        : this(new AtariAgent(
            Check.NotNull(options, nameof(options)).ToConfig(),
            Check.Positive(actionCount, nameof(actionCount)), null))
    {
    }

    /// <summary>Builds an agent for <paramref name="env"/>'s actions (its <see cref="AtariEnvironment.ActionCount"/>).</summary>
    /// <param name="options">The settings, checked here.</param>
    /// <param name="env">The environment the agent will play; only its action count is read.</param>
    /// <exception cref="ArgumentNullException"><paramref name="options"/> or <paramref name="env"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The options are inconsistent (BufferSize &lt; BatchSize).</exception>
    public AtariDqnAgent(AtariOptions options, AtariEnvironment env)
        : this(options, Check.NotNull(env, nameof(env)).ActionCount)
    {
    }

    private AtariDqnAgent(AtariAgent agent, IReadOnlyDictionary<string, string>? metadata = null)
    {
        this.agent = agent;
        Options = AtariOptions.FromConfig(agent.Config);
        CheckpointMetadata = metadata ?? new Dictionary<string, string>().AsReadOnly();
    }

    /// <summary>The agent's settings (after <see cref="Load"/>, with the checkpoint's architecture).</summary>
    public AtariOptions Options { get; }

    /// <summary>Number of actions; <see cref="Act(byte[], double)"/> returns 0 .. ActionCount − 1.</summary>
    public int ActionCount => agent.ActionCount;

    /// <summary>Emulator frames of training over the agent's life (0 after <see cref="Load"/>).</summary>
    public long Frames => agent.Frames;

    /// <summary>Agent steps of training over the agent's life (0 after <see cref="Load"/>).</summary>
    public long AgentSteps => agent.AgentSteps;

    /// <summary>Updates (gradient steps) over the agent's life (0 after <see cref="Load"/>).</summary>
    public long Updates => agent.Updates;

    /// <summary>Transitions in the replay (0 before the first <c>Learn</c>; at most BufferSize).</summary>
    public int ReplayCount => agent.ReplayCount;

    /// <summary>The metadata of the checkpoint the agent was loaded from (<see cref="Load"/>): "preset",
    /// "agent_steps", "gamma" and what <see cref="Save"/> was given; empty for an agent built fresh.</summary>
    public IReadOnlyDictionary<string, string> CheckpointMetadata { get; }

    /// <summary>The online Q-network, a TorchSharp module: [batch; 4; 84; 84] bytes (UInt8) to Q-values [batch;
    /// ActionCount] (or [batch; ActionCount; atoms] for the distributional heads). The agent owns it.</summary>
    /// <exception cref="ObjectDisposedException">The agent was disposed.</exception>
    public TorchSharp.torch.nn.Module<TorchSharp.torch.Tensor, TorchSharp.torch.Tensor> Network
    {
        get
        {
            ObjectDisposedException.ThrowIf(disposed, this);
            return agent.Network;
        }
    }

    /// <summary>
    /// Trains for <paramref name="frames"/> emulator frames of <paramref name="env"/> (reset actions included): acts
    /// ε-greedily (ε from the options' exploration schedule at the agent step), stores every agent step in the frame
    /// replay, and after LearningStarts agent steps makes an update every TrainFrequency agent steps and a target
    /// update every TargetUpdateInterval updates. Every <see cref="AtariOptions.EvalIntervalFrames"/> frames and at the
    /// end it scores the agent by <see cref="AtariOptions.Evaluation"/>. Every call starts a new game; an unfinished
    /// game is abandoned at the end. The replay and counters carry over to the next call.
    /// </summary>
    /// <param name="env">The training environment (made with <see cref="AtariOptions.TrainingSettings"/>, e.g. by
    /// <see cref="BridgedAtariEnvironment.Open"/>); its action count must be the agent's.</param>
    /// <param name="frames">Emulator frames to train for in this call, positive (the call stops at the first agent step
    /// that reaches it, so it may run over by up to FrameSkip − 1 frames, more when a reset action ends it).</param>
    /// <param name="evalEnv">Under the Nature protocol, the environment of the evaluation games (made with
    /// <see cref="AtariOptions.EvaluationSettings"/>, e.g. by <see cref="BridgedAtariEnvironment.Open"/> with
    /// <c>forEvaluation: true</c>); null: no Nature evaluations. Not used under Machado's protocol.</param>
    /// <param name="progress">Receives an <see cref="AtariGameProgress"/> at every training game's end, an
    /// <see cref="AtariEvaluationProgress"/> after every scoring and an <see cref="AtariCheckpointProgress"/> every
    /// CheckpointIntervalFrames frames, synchronously on the training thread; null for none.</param>
    /// <param name="cancellationToken">Checked before every agent step.</param>
    /// <param name="recover">Called when <paramref name="env"/> or <paramref name="evalEnv"/> raises: returning true
    /// (after bringing the emulator back, e.g. <c>e =&gt; train.RestartAfter(e)</c> with
    /// <see cref="BridgedAtariEnvironment.RestartAfter"/>) goes on with a fresh game (an evaluation is played again from
    /// its first game), the replay keeping everything stored; false, or null, lets the error stop training.</param>
    /// <param name="overlap">Learn on a thread of its own while this thread acts (the F# <c>AtariAgent.Learn</c>'s
    /// overlap): the options' replay ratio held (acting waits when the learner is more than one training period
    /// behind), the actor acting with a copy of the network refreshed after every update; not reproducible bit for
    /// bit. Default false.</param>
    /// <returns>Frames, agent steps, updates, games and wall time of this call, and its scores in order.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="env"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="frames"/> is zero or negative.</exception>
    /// <exception cref="ArgumentException">An environment's action count differs from the agent's.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled; what was learned
    /// and counted so far is kept.</exception>
    /// <exception cref="BridgeException">A bridged environment's server failed and <paramref name="recover"/> did not
    /// bring it back (the environment then needs <see cref="BridgedAtariEnvironment.RestartAfter"/> and a new
    /// <c>Learn</c>).</exception>
    /// <exception cref="ObjectDisposedException">The agent was disposed.</exception>
    public AtariTrainingResult Learn(
        AtariEnvironment env,
        long frames,
        AtariEnvironment? evalEnv = null,
        IProgress<AtariProgress>? progress = null,
        CancellationToken cancellationToken = default,
        Func<Exception, bool>? recover = null,
        bool overlap = false) =>
        Train(env, frames, evalEnv, eval =>
            agent.Learn(env, frames, eval, Observer(progress), Recover(recover), FSharpOption<CancellationToken>.Some(cancellationToken), Recover(recover), FSharpOption<bool>.Some(overlap)));

    /// <summary>
    /// Trains from a vector of Atari environments (<see cref="BridgedAtariVectorEnvironment.Launch"/>, or an
    /// <see cref="AtariVectorEnvironment"/> over emulators of your own) with the loop of the single-environment
    /// <c>Learn</c>: every round the agent acts in all envs (one batched forward pass), each env's step is one agent
    /// step (the options' replay ratio and schedules hold over the agent steps summed over the envs), and each env's
    /// frames go to its own stream of the frame replay. Frames are summed over the envs. The agent's replay keeps the
    /// number of envs it first learned from.
    /// </summary>
    /// <param name="env">The vector; its action count must be the agent's.</param>
    /// <param name="frames">Emulator frames to train for in this call, summed over the envs, positive.</param>
    /// <param name="evalEnv">Under the Nature protocol, the environment of the evaluation games; null: none.</param>
    /// <param name="progress">As for the single-environment <c>Learn</c>: a report per game of any env.</param>
    /// <param name="cancellationToken">Checked before every round.</param>
    /// <param name="recover">Called when an environment raises; returning true (after
    /// <see cref="BridgedAtariVectorEnvironment.RestartAfter"/>) goes on with a fresh game in every env.</param>
    /// <param name="overlap">Learn on a thread of its own while this thread acts, as the other overload.</param>
    /// <returns>Frames, agent steps, updates, games and wall time of this call, and its scores in order.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="env"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="frames"/> is zero or negative.</exception>
    /// <exception cref="ArgumentException">An environment's action count differs from the agent's, or the agent's
    /// replay was made for another number of envs.</exception>
    /// <exception cref="ObjectDisposedException">The agent was disposed.</exception>
    public AtariTrainingResult Learn(
        AtariVectorEnvironment env,
        long frames,
        AtariEnvironment? evalEnv = null,
        IProgress<AtariProgress>? progress = null,
        CancellationToken cancellationToken = default,
        Func<Exception, bool>? recover = null,
        bool overlap = false) =>
        Train(env, frames, evalEnv, eval =>
            agent.Learn(env, frames, eval, Observer(progress), Recover(recover), FSharpOption<CancellationToken>.Some(cancellationToken), Recover(recover), FSharpOption<bool>.Some(overlap)));

    /// <summary>The checks both <c>Learn</c> overloads make, then <paramref name="learn"/> with the evaluation
    /// environment as an F# option.</summary>
    private AtariTrainingResult Train(object env, long frames, AtariEnvironment? evalEnv, Func<FSharpOption<AtariEnvironment>?, AtariTrainingSummary> learn)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        Check.NotNull(env, nameof(env));
        Check.Positive(frames, nameof(frames));
        if (evalEnv is not null && evalEnv.ActionCount != ActionCount)
            throw new ArgumentException($"evalEnv has {evalEnv.ActionCount} actions, the agent {ActionCount}", nameof(evalEnv));
        return AtariTrainingResult.From(learn(evalEnv is null ? null : FSharpOption<AtariEnvironment>.Some(evalEnv)));
    }

    /// <summary>The action for one frame stack: greedy (argmax of Q, ties to the lowest action) by default, ε-greedy
    /// with <paramref name="epsilon"/>; noisy layers act with their mean weights.</summary>
    /// <param name="stack">byte[<see cref="ObservationBytes"/>], shape [4; 84; 84], oldest frame first (what
    /// <see cref="AtariEnvironment.Reset()"/> and <see cref="AtariStep.Observation"/> give).</param>
    /// <param name="epsilon">Probability of a uniformly random action, in [0, 1].</param>
    /// <returns>An action in 0 .. <see cref="ActionCount"/> − 1 (an index into the game's minimal action set).</returns>
    /// <exception cref="ArgumentNullException"><paramref name="stack"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="stack"/>'s length is not <see cref="ObservationBytes"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="epsilon"/> is outside [0, 1] or NaN.</exception>
    /// <exception cref="ObjectDisposedException">The agent was disposed.</exception>
    public int Act(byte[] stack, double epsilon = 0.0)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        return agent.Act(Check.NotNull(stack, nameof(stack)), FSharpOption<double>.Some(Check.InRange(epsilon, 0.0, 1.0, nameof(epsilon))));
    }

    /// <summary>The action for one frame stack (copied to an array first); see <see cref="Act(byte[], double)"/>.</summary>
    /// <param name="stack"><see cref="ObservationBytes"/> bytes, shape [4; 84; 84], oldest frame first.</param>
    /// <param name="epsilon">Probability of a uniformly random action, in [0, 1].</param>
    /// <returns>An action in 0 .. <see cref="ActionCount"/> − 1.</returns>
    /// <exception cref="ArgumentException"><paramref name="stack"/>'s length is not <see cref="ObservationBytes"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="epsilon"/> is outside [0, 1] or NaN.</exception>
    /// <exception cref="ObjectDisposedException">The agent was disposed.</exception>
    public int Act(ReadOnlySpan<byte> stack, double epsilon = 0.0) => Act(stack.ToArray(), epsilon);

    /// <summary>Plays <paramref name="games"/> whole games on <paramref name="env"/> without learning: ε-greedy with
    /// <paramref name="epsilon"/>, noisy layers at their mean weights, a lost life not ending the game; a game ends at
    /// game over or when <paramref name="env"/> truncates it. For the Nature protocol give an environment made with
    /// <see cref="AtariOptions.EvaluationSettings"/>.</summary>
    /// <param name="env">Its action count must be the agent's.</param>
    /// <param name="games">Number of games, positive.</param>
    /// <param name="epsilon">ε in [0, 1]; null: the options' EvalEpsilon.</param>
    /// <param name="seed">Seed of the exploration's generator; null: the options' seed + 1 000 000, so repeated calls
    /// explore alike.</param>
    /// <returns>Each game's raw score, their mean and standard deviation.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="env"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="games"/> is zero or negative, or
    /// <paramref name="epsilon"/> is outside [0, 1].</exception>
    /// <exception cref="ArgumentException">The environment's action count differs from the agent's.</exception>
    /// <exception cref="ObjectDisposedException">The agent was disposed.</exception>
    public AtariEvaluationResult Evaluate(AtariEnvironment env, int games, double? epsilon = null, int? seed = null)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        var scores = agent.Evaluate(
            Check.NotNull(env, nameof(env)),
            Check.Positive(games, nameof(games)),
            epsilon is { } e ? FSharpOption<double>.Some(Check.InRange(e, 0.0, 1.0, nameof(epsilon))) : null,
            seed is { } s ? FSharpOption<int>.Some(s) : null);
        return AtariEvaluationResult.Of(scores);
    }

    /// <summary>Saves the online network (weights and architecture) to a .safetensors file, atomically, with
    /// <paramref name="metadata"/> and the preset, agent steps and γ (readable by <see cref="Load"/> and by
    /// <c>safetensors.torch.load_file</c>). Replay, optimizer and counters are not saved.</summary>
    /// <param name="path">The file to write (replaced if present).</param>
    /// <param name="metadata">Strings to keep with the weights (e.g. "game"); null for none.</param>
    /// <exception cref="ArgumentNullException"><paramref name="path"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="path"/> is empty or white space.</exception>
    /// <exception cref="IOException">The file cannot be written.</exception>
    /// <exception cref="ObjectDisposedException">The agent was disposed.</exception>
    public void Save(string path, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        agent.Save(path, metadata is null ? null : FSharpOption<FSharpMap<string, string>>.Some(
            MapModule.OfSeq(metadata.Select(kv => Tuple.Create(kv.Key, kv.Value)))));
    }

    /// <summary>Loads a network saved by <see cref="Save"/> into a new agent, ready to act or to keep learning (with an
    /// empty replay and counters at 0).</summary>
    /// <param name="path">A file written by <see cref="Save"/> (or by dqnfun-bench atari).</param>
    /// <param name="options">Settings for the new agent, their architecture fields (head, dueling, noisy, atoms)
    /// replaced by the checkpoint's; null: the preset recorded in the file (else "dopamine").</param>
    /// <returns>A new agent, its <see cref="CheckpointMetadata"/> the file's; the caller disposes it.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="path"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="path"/> is empty or white space.</exception>
    /// <exception cref="FileNotFoundException">No file at <paramref name="path"/>.</exception>
    /// <exception cref="InvalidDataException">The file is not an Atari (Nature CNN) Q-network checkpoint.</exception>
    public static AtariDqnAgent Load(string path, AtariOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        var (agent, metadata) = AtariAgent.Load(path, options is null ? null : FSharpOption<AtariConfig>.Some(options.ToConfig()));
        return new AtariDqnAgent(agent, metadata.ToDictionary(kv => kv.Key, kv => kv.Value).AsReadOnly());
    }

    /// <summary>Writes a training checkpoint into a run's checkpoint folder: a folder step-&lt;AgentSteps&gt; holding the
    /// online network (model.safetensors, readable by <see cref="Load"/>), state.safetensors (target network, optimizer
    /// state, learning rate, the frame replay's records and priorities, random generators, agent-step, frame, game and
    /// update counters) and frames.lz4 (the replay's frames, LZ4-compressed), written whole then renamed, so a crash
    /// mid-write leaves the checkpoints before it whole. The newest <paramref name="keep"/> checkpoints are kept.</summary>
    /// <param name="dir">The run's checkpoint folder (created if absent).</param>
    /// <param name="keep">How many checkpoints to keep, at least 1.</param>
    /// <returns>The folder of the checkpoint written.</returns>
    /// <exception cref="ArgumentException"><paramref name="dir"/> is null, empty or white space.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="keep"/> is less than 1.</exception>
    /// <exception cref="IOException">The folder cannot be written.</exception>
    /// <exception cref="ObjectDisposedException">The agent was disposed.</exception>
    public string SaveCheckpoint(string dir, int keep = 2)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        ArgumentException.ThrowIfNullOrWhiteSpace(dir);
        return agent.SaveCheckpoint(dir, FSharpOption<int>.Some(Check.Positive(keep, nameof(keep))), null);
    }

    /// <summary>Continues an Atari run from the training checkpoint <see cref="SaveCheckpoint"/> wrote. The next
    /// <c>Learn</c> starts a new game with the no-op generator seeded from the seed and the agent steps, as the next
    /// <c>Learn</c> of the agent that wrote it would (bit for bit when the emulator is deterministic after a reset; the
    /// ALE's sticky actions draw from the emulator's own generator).</summary>
    /// <param name="path">A checkpoint folder, or a run's checkpoint folder (its newest checkpoint is read).</param>
    /// <param name="options">The run's settings: every training setting must equal those the checkpoint was written
    /// with.</param>
    /// <returns>A new agent; the caller disposes it.</returns>
    /// <exception cref="ArgumentException"><paramref name="path"/> is null, empty or white space, or the checkpoint was
    /// written with other settings (the message names the first that differs and both values).</exception>
    /// <exception cref="ArgumentNullException"><paramref name="options"/> is null.</exception>
    /// <exception cref="DirectoryNotFoundException">No checkpoint at <paramref name="path"/>.</exception>
    /// <exception cref="InvalidDataException">A file of the checkpoint is malformed.</exception>
    public static AtariDqnAgent Resume(string path, AtariOptions options)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        return new AtariDqnAgent(AtariAgent.Resume(path, Check.NotNull(options, nameof(options)).ToConfig()));
    }

    /// <summary>Frees the networks' native memory. Idempotent; other members then throw
    /// <see cref="ObjectDisposedException"/>, except the counters, <see cref="Options"/> and
    /// <see cref="CheckpointMetadata"/>.</summary>
    public void Dispose()
    {
        disposed = true;
        agent.Dispose();
    }

    private static FSharpOption<FSharpFunc<Exception, bool>>? Recover(Func<Exception, bool>? recover) =>
        recover is null ? null : FSharpOption<FSharpFunc<Exception, bool>>.Some(FuncConvert.FromFunc(recover));

    // F# optional arguments are FSharpOption values in C#; null is None.
    private FSharpOption<FSharpFunc<AtariEvent, Unit>>? Observer(IProgress<AtariProgress>? progress) =>
        progress is null ? null : FSharpOption<FSharpFunc<AtariEvent, Unit>>.Some(
            FuncConvert.FromAction<AtariEvent>(e =>
            {
                if (AtariProgress.From(e, agent.AgentSteps) is { } report) progress.Report(report);
            }));
}
