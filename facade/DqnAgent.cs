using System;
using System.IO;
using System.Runtime.CompilerServices;
using System.Threading;
using Microsoft.FSharp.Core;

[assembly: InternalsVisibleTo("Dqn.Fun.Facade.Tests")]

namespace Dqn.Fun;

/// <summary>
/// A DQN agent (Mnih et al. 2015) for an <see cref="IEnvironment"/> with a float observation vector and
/// discrete actions: an MLP Q-network, its target network, Adam, a replay buffer and ε-greedy exploration.
/// The C# face of the core's <c>Agent</c>. Dispose it to free the networks' native (libtorch) memory.
/// </summary>
/// <remarks>
/// <para>Units: an <em>agent step</em> is one environment step (one action); an <em>update</em> is one gradient
/// step. Counters are cumulative over the agent's life, across <c>Learn</c> calls.</para>
/// <para>Not thread-safe: use an agent from one thread at a time. Agents draw their initial weights and noise from
/// their own generator seeded with <see cref="DqnOptions.Seed"/> and never change torch's global seed or thread
/// count (a process setting: <c>torch.set_num_threads</c>), so several agents may be built and trained at once, each
/// on its own thread, and give what each gives alone.</para>
/// </remarks>
public sealed class DqnAgent : IDisposable
{
    private readonly Agent agent;
    private bool disposed;

    /// <summary>Builds an agent with freshly initialised networks.</summary>
    /// <param name="options">The settings, checked here (including BufferSize &gt;= BatchSize).</param>
    /// <param name="observationSize">Length of every observation vector, positive.</param>
    /// <param name="actionCount">Number of discrete actions (valid actions 0 .. actionCount − 1), positive.</param>
    /// <exception cref="ArgumentNullException"><paramref name="options"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="observationSize"/> or <paramref name="actionCount"/>
    /// is zero or negative, or <see cref="DqnOptions.BufferSize"/> &lt; <see cref="DqnOptions.BatchSize"/>.</exception>
    public DqnAgent(DqnOptions options, int observationSize, int actionCount)
        : this(new Agent(
            Check.NotNull(options, nameof(options)).ToConfig(),
            Check.Positive(observationSize, nameof(observationSize)),
            Check.Positive(actionCount, nameof(actionCount)),
            options.SourceFor(observationSize)), options)
    {
    }

    /// <summary>Builds an agent sized for <paramref name="env"/> (its ObservationSize and ActionCount).</summary>
    /// <param name="options">The settings, checked here.</param>
    /// <param name="env">The environment the agent will act in; only its sizes are read.</param>
    /// <exception cref="ArgumentNullException"><paramref name="options"/> or <paramref name="env"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The environment reports a size that is zero or negative, or
    /// <see cref="DqnOptions.BufferSize"/> &lt; <see cref="DqnOptions.BatchSize"/>.</exception>
    public DqnAgent(DqnOptions options, IEnvironment env)
        : this(options, Check.NotNull(env, nameof(env)).ObservationSize, env.ActionCount)
    {
    }

    private DqnAgent(Agent agent, DqnOptions? options = null)
    {
        this.agent = agent;
        Options = options is null
            ? DqnOptions.FromConfig(agent.Config)
            : DqnOptions.FromConfig(agent.Config) with { Torso = options.Torso, TorsoFeatures = options.TorsoFeatures, QNetwork = options.QNetwork };
    }

    /// <summary>The agent's settings (after <see cref="Load"/>, with the checkpoint's hidden layers).</summary>
    public DqnOptions Options { get; }

    /// <summary>Length of the observation vectors the agent takes.</summary>
    public int ObservationSize => agent.Spec.ObservationSize;

    /// <summary>Number of discrete actions; <see cref="Act(float[])"/> returns 0 .. ActionCount − 1.</summary>
    public int ActionCount => agent.Spec.ActionCount;

    /// <summary>Agent steps taken by <c>Learn</c> over the agent's life (0 after <see cref="Load"/>).</summary>
    public long Steps => agent.Steps;

    /// <summary>Updates (gradient steps) made over the agent's life (0 after <see cref="Load"/>).</summary>
    public long Updates => agent.Updates;

    /// <summary>
    /// Trains for <paramref name="totalSteps"/> agent steps on <paramref name="env"/>: ε-greedy acting
    /// with ε = <see cref="DqnOptions.Exploration"/> at the agent's cumulative step, replay, an update every
    /// <see cref="DqnOptions.TrainFrequency"/> agent steps once more than <see cref="DqnOptions.LearningStarts"/>
    /// were taken, and a target update every <see cref="DqnOptions.TargetUpdateInterval"/> updates. The first call
    /// resets the environment with <see cref="DqnOptions.Seed"/>; an unfinished episode is abandoned at the end.
    /// </summary>
    /// <param name="env">The training environment; its sizes must equal the agent's.</param>
    /// <param name="totalSteps">Agent steps to take in this call, positive.</param>
    /// <param name="progress">Receives an <see cref="EpisodeProgress"/> at every episode end, synchronously on the
    /// training thread; null for none.</param>
    /// <param name="cancellationToken">Checked before every agent step.</param>
    /// <param name="overlap">Learn on a thread of its own while this thread acts (the F# <c>Agent.Learn</c>'s overlap):
    /// the options' replay ratio held (acting runs at most <see cref="DqnOptions.TrainFrequency"/> agent steps ahead
    /// of the updates it granted), evaluations and the end of the call wait for every granted update; counts equal a
    /// run's without overlap, but the run is not reproducible bit for bit.</param>
    /// <returns>Agent steps, updates and episodes of this call, and its wall time.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="env"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="totalSteps"/> is zero or negative.</exception>
    /// <exception cref="ArgumentException">The environment's sizes differ from the agent's, or it returned an
    /// observation of the wrong length.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled; the steps
    /// and updates made so far are kept.</exception>
    /// <exception cref="ObjectDisposedException">The agent was disposed.</exception>
    public TrainingSummary Learn(
        IEnvironment env,
        long totalSteps,
        IProgress<TrainingProgress>? progress = null,
        CancellationToken cancellationToken = default,
        bool overlap = false) =>
        agent.Learn(
            Checked(env, nameof(env)),
            Check.Positive(totalSteps, nameof(totalSteps)),
            null,
            Observer(progress),
            FSharpOption<CancellationToken>.Some(cancellationToken),
            FSharpOption<bool>.Some(overlap));

    /// <summary>
    /// Trains like <see cref="Learn(IEnvironment, long, IProgress{TrainingProgress}?, CancellationToken, bool)"/>, and every
    /// <see cref="DqnOptions.EvalInterval"/> agent steps runs <see cref="DqnOptions.EvalEpisodes"/> episodes on
    /// <paramref name="evalEnv"/> with ε = <see cref="DqnOptions.EvalEpsilon"/> and no learning.
    /// </summary>
    /// <param name="env">The training environment; its sizes must equal the agent's.</param>
    /// <param name="evalEnv">A separate environment for evaluations; its sizes must equal the agent's.</param>
    /// <param name="totalSteps">Agent steps to take in this call, positive.</param>
    /// <param name="progress">Receives an <see cref="EpisodeProgress"/> at every training episode end and an
    /// <see cref="EvaluationProgress"/> after every evaluation, synchronously on the training thread; null for none.</param>
    /// <param name="cancellationToken">Checked before every agent step.</param>
    /// <param name="overlap">Learn on a thread of its own while this thread acts (the F# <c>Agent.Learn</c>'s overlap):
    /// the options' replay ratio held (acting runs at most <see cref="DqnOptions.TrainFrequency"/> agent steps ahead
    /// of the updates it granted), evaluations and the end of the call wait for every granted update; counts equal a
    /// run's without overlap, but the run is not reproducible bit for bit.</param>
    /// <returns>Agent steps, updates, episodes and wall time of this call, and its evaluations in order.</returns>
    /// <exception cref="ArgumentNullException">An environment is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="totalSteps"/> is zero or negative.</exception>
    /// <exception cref="ArgumentException">An environment's sizes differ from the agent's, or it returned an
    /// observation of the wrong length.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    /// <exception cref="ObjectDisposedException">The agent was disposed.</exception>
    public TrainingSummary Learn(
        IEnvironment env,
        IEnvironment evalEnv,
        long totalSteps,
        IProgress<TrainingProgress>? progress = null,
        CancellationToken cancellationToken = default,
        bool overlap = false) =>
        agent.Learn(
            Checked(env, nameof(env)),
            Check.Positive(totalSteps, nameof(totalSteps)),
            FSharpOption<IEnvironment>.Some(Check.NotNull(evalEnv, nameof(evalEnv))),
            Observer(progress),
            FSharpOption<CancellationToken>.Some(cancellationToken),
            FSharpOption<bool>.Some(overlap));

    /// <summary>
    /// Trains on a vector of environments (<see cref="SyncVectorEnvironment"/>, <c>Environments.makeVector</c>; SB3's
    /// <c>VecEnv</c>): every round the agent acts in all of them, and each environment's transition is one agent step,
    /// so ε, the schedules and the replay ratio (<see cref="DqnOptions.GradientSteps"/> updates per
    /// <see cref="DqnOptions.TrainFrequency"/> agent steps) follow the agent steps summed over the environments. Each
    /// environment keeps its own episode and return; the environments that exploit share one batched forward pass.
    /// </summary>
    /// <param name="env">The vector; its sizes must equal the agent's. Reset at the start of the call (env i with the
    /// call's seed + i).</param>
    /// <param name="totalSteps">Agent steps to take in this call, summed over the environments, positive; the last
    /// round takes a step in every environment, so up to NumEnvs − 1 more may be taken.</param>
    /// <param name="progress">Receives an <see cref="EpisodeProgress"/> at every episode end of any environment,
    /// synchronously on the training thread; null for none.</param>
    /// <param name="cancellationToken">Checked before every round.</param>
    /// <param name="overlap">Learn on a thread of its own while this thread acts, as the other overloads.</param>
    /// <returns>Agent steps, updates and episodes of this call, and its wall time.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="env"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="totalSteps"/> is zero or negative.</exception>
    /// <exception cref="ArgumentException">The vector's sizes differ from the agent's; a recurrent (DRQN) agent and
    /// more than one environment.</exception>
    /// <exception cref="ObjectDisposedException">The agent was disposed.</exception>
    public TrainingSummary Learn(
        IVectorEnvironment env,
        long totalSteps,
        IProgress<TrainingProgress>? progress = null,
        CancellationToken cancellationToken = default,
        bool overlap = false) =>
        agent.Learn(
            Checked(env, nameof(env)),
            Check.Positive(totalSteps, nameof(totalSteps)),
            null,
            Observer(progress),
            FSharpOption<CancellationToken>.Some(cancellationToken),
            FSharpOption<bool>.Some(overlap));

    /// <summary>The greedy action (argmax of Q, ties to the lowest action) for one observation.</summary>
    /// <param name="observation">Length <see cref="ObservationSize"/>.</param>
    /// <returns>An action in 0 .. <see cref="ActionCount"/> − 1.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="observation"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="observation"/>'s length is not <see cref="ObservationSize"/>.</exception>
    /// <exception cref="ObjectDisposedException">The agent was disposed.</exception>
    public int Act(float[] observation) => agent.Act(Checked(observation, nameof(observation)), null);

    /// <summary>The greedy action for one observation (copied to an array first).</summary>
    /// <param name="observation">Length <see cref="ObservationSize"/>.</param>
    /// <returns>An action in 0 .. <see cref="ActionCount"/> − 1.</returns>
    /// <exception cref="ArgumentException"><paramref name="observation"/>'s length is not <see cref="ObservationSize"/>.</exception>
    /// <exception cref="ObjectDisposedException">The agent was disposed.</exception>
    public int Act(ReadOnlySpan<float> observation) => Act(observation.ToArray());

    /// <summary>With <see cref="DqnOptions.Recurrent"/>, <see cref="Act(float[])"/> carries the LSTM state from call
    /// to call; this zeroes it: call it when an episode starts. No effect otherwise.</summary>
    /// <exception cref="ObjectDisposedException">The agent was disposed.</exception>
    public void ResetState()
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        agent.ResetState();
    }

    /// <summary>
    /// Runs <paramref name="episodes"/> full episodes on <paramref name="env"/> with ε =
    /// <see cref="DqnOptions.EvalEpsilon"/> and no learning. The first reset is seeded with
    /// <see cref="DqnOptions.Seed"/> + 1 000 000, so repeated calls start from the same state.
    /// </summary>
    /// <param name="env">Its sizes must equal the agent's.</param>
    /// <param name="episodes">Number of episodes, positive.</param>
    /// <returns>Each episode's return and length (agent steps), their mean and standard deviation.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="env"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="episodes"/> is zero or negative.</exception>
    /// <exception cref="ArgumentException">The environment's sizes differ from the agent's, or it returned an
    /// observation of the wrong length.</exception>
    /// <exception cref="ObjectDisposedException">The agent was disposed.</exception>
    public EvaluationResult Evaluate(IEnvironment env, int episodes) =>
        agent.Evaluate(Checked(env, nameof(env)), Check.Positive(episodes, nameof(episodes)), null, null);

    /// <summary>Saves the online Q-network (weights and architecture) to a .safetensors file, atomically.
    /// Options, replay and counters are not saved.</summary>
    /// <param name="path">The file to write (replaced if present).</param>
    /// <exception cref="ArgumentNullException"><paramref name="path"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="path"/> is empty or white space.</exception>
    /// <exception cref="IOException">The file cannot be written.</exception>
    /// <exception cref="ObjectDisposedException">The agent was disposed.</exception>
    public void Save(string path)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        agent.Save(CheckedPath(path));
    }

    /// <summary>Reads the parameters of a checkpoint into this agent's online network and copies them into its target
    /// network: for networks over modules of your own (<see cref="DqnOptions.Torso"/>, <see cref="DqnOptions.QNetwork"/>),
    /// whose checkpoints only such a network can read, or to start from saved weights.</summary>
    /// <param name="path">A file written by <see cref="Save"/> from an agent with the same networks.</param>
    /// <exception cref="ArgumentNullException"><paramref name="path"/> is null.</exception>
    /// <exception cref="FileNotFoundException">No file at <paramref name="path"/>.</exception>
    /// <exception cref="InvalidDataException">The file's tensors do not match this agent's parameters.</exception>
    /// <exception cref="ObjectDisposedException">The agent was disposed.</exception>
    public void LoadParameters(string path)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        agent.LoadParameters(CheckedPath(path));
    }

    /// <summary>The online Q-network, a TorchSharp module: [batch; ObservationSize] float32 to [batch; ActionCount]
    /// (or [batch; ActionCount; atoms] for the distributional heads). The agent owns it.</summary>
    /// <exception cref="ObjectDisposedException">The agent was disposed.</exception>
    public TorchSharp.torch.nn.Module<TorchSharp.torch.Tensor, TorchSharp.torch.Tensor> Network
    {
        get
        {
            ObjectDisposedException.ThrowIf(disposed, this);
            return agent.Network;
        }
    }

    /// <summary>Loads a Q-network saved by <see cref="Save"/> into a new agent, ready to act or to keep learning
    /// (with an empty replay buffer and counters at 0).</summary>
    /// <param name="path">A file written by <see cref="Save"/>.</param>
    /// <param name="options">Settings for the new agent; its <see cref="DqnOptions.HiddenLayers"/> are replaced by
    /// the checkpoint's. Null: <see cref="DqnOptions.Default"/>.</param>
    /// <returns>A new agent; the caller disposes it.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="path"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="path"/> is empty or white space.</exception>
    /// <exception cref="FileNotFoundException">No file at <paramref name="path"/>.</exception>
    /// <exception cref="InvalidDataException">The file is not a Dqn.Fun Q-network checkpoint.</exception>
    public static DqnAgent Load(string path, DqnOptions? options = null) =>
        new(Agent.Load(CheckedPath(path), options is null ? null : FSharpOption<DqnConfig>.Some(options.ToConfig())));

    /// <summary>Writes a training checkpoint into a run's checkpoint folder: a folder step-&lt;Steps&gt; holding the
    /// online network (model.safetensors, readable by <see cref="Load"/>) and everything else training needs to go on
    /// (state.safetensors: target network, the optimizer's state, learning rate, replay buffer and priorities, n-step steps,
    /// random generators, step, episode and update counters), written whole then renamed, so a crash mid-write leaves
    /// the checkpoints before it whole. The newest <paramref name="keep"/> checkpoints are kept.</summary>
    /// <param name="dir">The run's checkpoint folder (created if absent).</param>
    /// <param name="keep">How many checkpoints to keep, at least 1.</param>
    /// <returns>The folder of the checkpoint written.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="dir"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="dir"/> is empty or white space.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="keep"/> is less than 1.</exception>
    /// <exception cref="IOException">The folder cannot be written.</exception>
    /// <exception cref="ObjectDisposedException">The agent was disposed.</exception>
    public string SaveCheckpoint(string dir, int keep = 2)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        return agent.SaveCheckpoint(CheckedPath(dir), FSharpOption<int>.Some(Check.Positive(keep, nameof(keep))));
    }

    /// <summary>Continues a run from the training checkpoint <see cref="SaveCheckpoint"/> wrote: the new agent's
    /// <c>Learn</c> goes on exactly as the agent that wrote it would have (bit for bit on the CPU, on the same
    /// environment): ε, the learning rate and PER's β continue from the saved counters and learning-starts is not
    /// applied again.</summary>
    /// <param name="path">A checkpoint folder, or a run's checkpoint folder (its newest checkpoint is read).</param>
    /// <param name="options">The run's settings: every one but the evaluation settings must equal those the
    /// checkpoint was written with (for a <see cref="DqnOptions.Torso"/> or <see cref="DqnOptions.QNetwork"/> of your
    /// own, the same architecture).</param>
    /// <returns>A new agent; the caller disposes it.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="path"/> or <paramref name="options"/> is null.</exception>
    /// <exception cref="DirectoryNotFoundException">No checkpoint at <paramref name="path"/>.</exception>
    /// <exception cref="ArgumentException">The checkpoint was written with other settings (the message names the
    /// first that differs and both values).</exception>
    /// <exception cref="InvalidDataException">A file of the checkpoint is malformed.</exception>
    public static DqnAgent Resume(string path, DqnOptions options)
    {
        Check.NotNull(options, nameof(options));
        var sizes = TrainingCheckpoint.Sizes(CheckedPath(path));
        return new(Agent.Resume(path, options.ToConfig(), FSharpOption<QNetworkSource>.Some(options.SourceFor(sizes.Item1))), options);
    }

    /// <summary>Frees the networks' native memory. Idempotent; other members then throw
    /// <see cref="ObjectDisposedException"/>, except the counters and <see cref="Options"/>.</summary>
    public void Dispose()
    {
        disposed = true;
        agent.Dispose();
    }

    private T Checked<T>(T? argument, string name) where T : class
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        return Check.NotNull(argument, name);
    }

    private static string CheckedPath(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        return path;
    }

    // F# optional arguments are FSharpOption values in C#; null is None. (FSharpOption's implicit conversion
    // from T would turn a null function into Some null, so the options are built explicitly.)
    private static FSharpOption<FSharpFunc<TrainingEvent, Unit>>? Observer(IProgress<TrainingProgress>? progress) =>
        progress is null ? null : FSharpOption<FSharpFunc<TrainingEvent, Unit>>.Some(
            FuncConvert.FromAction<TrainingEvent>(e => progress.Report(TrainingProgress.From(e))));
}
