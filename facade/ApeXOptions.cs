using System;
using Dqn.Fun.ApeX;
using Dqn.Fun.Atari;
using Microsoft.FSharp.Core;

namespace Dqn.Fun;

/// <summary>
/// The settings of an Ape-X run (Horgan et al. 2018, "Distributed Prioritized Experience Replay"), immutable: start
/// from <see cref="Default"/> and change values with the <c>WithX</c> methods or a <c>with</c> expression. The C# face
/// of <see cref="ApeXConfig"/>; its learning settings are the single-machine agent's <see cref="DqnOptions"/>.
/// </summary>
/// <remarks>
/// <para>Units: agent steps are environment steps summed over every env of every actor (<see cref="TotalSteps"/>,
/// and <see cref="Dqn"/>'s <c>LearningStarts</c>, <c>TrainFrequency</c>, <c>EvalInterval</c>, schedules);
/// <see cref="SendInterval"/> and <see cref="ParameterInterval"/> count one actor's rounds (an agent step per env).</para>
/// <para><see cref="Dqn"/>'s <c>Exploration</c> is replaced by each actor's εᵢ = <see cref="Epsilon"/>^(1 +
/// <see cref="EpsilonAlpha"/>·i/(N−1)). <see cref="ToConfig"/> checks the whole (Prioritized on, an expected-value
/// head, no noisy or recurrent network, no torso or Q-network of your own: actors rebuild the MLP of
/// <c>HiddenLayers</c>).</para>
/// </remarks>
public sealed record ApeXOptions
{
    private ApeXOptions(ApeXConfig c)
    {
        Dqn = DqnOptions.FromConfig(c.Dqn);
        EnvironmentId = c.EnvironmentId;
        Atari = c.Atari?.Value;
        Actors = c.Actors;
        EnvsPerActor = c.EnvsPerActor;
        Epsilon = c.Epsilon;
        EpsilonAlpha = c.EpsilonAlpha;
        SendInterval = c.SendInterval;
        ParameterInterval = c.ParameterInterval;
        MaxInFlight = c.MaxInFlight;
        PublishInterval = c.PublishInterval;
        TotalSteps = c.TotalSteps;
        CheckpointInterval = c.CheckpointInterval;
        Hostname = c.Hostname;
        PublicHostname = c.PublicHostname;
        Port = c.Port;
    }

    /// <summary>Ape-X on CartPole-v1 (<c>ApeXConfig.defaults</c>): Double DQN, 3-step returns, prioritized replay, 2
    /// actors, ε 0.4, α 7, a budget of 30 000 agent steps, the learner on 127.0.0.1 at a free port.</summary>
    public static ApeXOptions Default { get; } = new(ApeXConfigModule.Defaults);

    /// <summary>Ape-X on an Atari game (<c>ApeXConfig.atari</c>): <paramref name="preset"/>'s DQN settings, optimizer,
    /// episode logic and sticky actions (e.g. <c>AtariOptions.Preset("dopamine")</c>) with Ape-X's learner (Double DQN,
    /// 3-step returns, prioritized replay α 0.6, β 0.4 → 1); actors step the ALE through the bridge, each on a bridge
    /// server of its own; the learner keeps a prioritized frame replay. <paramref name="rom"/>: a ROM file (null:
    /// ale_py's ROM of <paramref name="game"/>).</summary>
    /// <exception cref="ArgumentNullException"><paramref name="preset"/> or <paramref name="game"/> is null.</exception>
    /// <exception cref="ArgumentException">A preset Ape-X cannot run (its message names the setting: e.g. rainbow's
    /// distributional head).</exception>
    public static ApeXOptions ForAtari(AtariOptions preset, string game, string? rom = null) =>
        new(ApeXConfigModule.Validate(ApeXConfigModule.Atari(Check.NotNull(preset, nameof(preset)).ToConfig(), Check.NotNull(game, nameof(game)), rom!)));

    /// <summary>The learner's DQN settings (the network the actors copy).</summary>
    public DqnOptions Dqn { get; init; }

    /// <summary>The classic-control environment every actor steps (e.g. <c>"CartPole-v1"</c>).</summary>
    public string EnvironmentId { get; init; }

    /// <summary>The Atari game and its settings (<see cref="ForAtari"/>), or null for classic control
    /// (<see cref="EnvironmentId"/>).</summary>
    public ApeXAtari? Atari { get; init; }

    /// <summary>N, the actors the run expects (sets each εᵢ).</summary>
    public int Actors { get; init; }

    /// <summary>Environments each actor steps as a vector.</summary>
    public int EnvsPerActor { get; init; }

    /// <summary>ε of εᵢ = ε^(1 + α·i/(N−1)) (the paper: 0.4).</summary>
    public double Epsilon { get; init; }

    /// <summary>α of εᵢ (the paper: 7).</summary>
    public double EpsilonAlpha { get; init; }

    /// <summary>Rounds an actor collects before sending its transitions with their priorities.</summary>
    public int SendInterval { get; init; }

    /// <summary>Rounds between an actor's requests for fresh parameters.</summary>
    public int ParameterInterval { get; init; }

    /// <summary>Experience messages an actor may have unacknowledged (holds the replay ratio).</summary>
    public int MaxInFlight { get; init; }

    /// <summary>Updates between the learner's parameter snapshots.</summary>
    public int PublishInterval { get; init; }

    /// <summary>The budget in agent steps, summed over actors.</summary>
    public long TotalSteps { get; init; }

    /// <summary>Stored agent steps between the learner's training checkpoints (when <see cref="ApeXLearnerNode.Run"/>
    /// is given a folder); 0: at the end only.</summary>
    public long CheckpointInterval { get; init; }

    /// <summary>The address the learner binds (127.0.0.1: loopback only).</summary>
    public string Hostname { get; init; }

    /// <summary>The address other machines reach the learner at, or null for <see cref="Hostname"/>.</summary>
    public string? PublicHostname { get; init; }

    /// <summary>The learner's TCP port; 0 takes a free one.</summary>
    public int Port { get; init; }

    /// <summary>Returns a copy with <see cref="Dqn"/> changed by <paramref name="change"/>.</summary>
    public ApeXOptions WithDqn(Func<DqnOptions, DqnOptions> change) => this with { Dqn = Check.NotNull(change, nameof(change))(Dqn) };

    /// <summary>Returns a copy with <see cref="Actors"/> = <paramref name="actors"/>.</summary>
    public ApeXOptions WithActors(int actors) => this with { Actors = actors };

    /// <summary>Returns a copy with <see cref="TotalSteps"/> = <paramref name="agentSteps"/>.</summary>
    public ApeXOptions WithTotalSteps(long agentSteps) => this with { TotalSteps = agentSteps };

    /// <summary>Returns a copy with <see cref="EnvironmentId"/> = <paramref name="id"/>.</summary>
    public ApeXOptions WithEnvironment(string id) => this with { EnvironmentId = id };

    /// <summary>Returns a copy binding <paramref name="hostname"/>:<paramref name="port"/>, reachable at
    /// <paramref name="publicHostname"/> (null: the hostname).</summary>
    public ApeXOptions WithEndpoint(string hostname, int port, string? publicHostname = null) =>
        this with { Hostname = hostname, Port = port, PublicHostname = publicHostname };

    /// <summary>The core's config, checked by <c>ApeXConfig.validate</c>.</summary>
    /// <exception cref="ArgumentException">A setting Ape-X cannot run (named), or a torso or Q-network of your own.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of range (named).</exception>
    public ApeXConfig ToConfig()
    {
        if (Dqn is { Torso: not null } or { QNetwork: not null })
            throw new ArgumentException("Dqn has a torso or Q-network of its own; Ape-X's actors rebuild the MLP of Dqn.HiddenLayers (leave Torso and QNetwork null).", nameof(Dqn));
        return ApeXConfigModule.Validate(new ApeXConfig(
            Dqn.ToConfig(), EnvironmentId, Atari is null ? FSharpOption<ApeXAtari>.None : FSharpOption<ApeXAtari>.Some(Atari), Actors, EnvsPerActor, Epsilon, EpsilonAlpha, SendInterval, ParameterInterval,
            MaxInFlight, PublishInterval, TotalSteps, CheckpointInterval, Hostname, PublicHostname!, Port));
    }

    /// <summary>The options mirroring a core config.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="config"/> is null.</exception>
    public static ApeXOptions FromConfig(ApeXConfig config) => new(Check.NotNull(config, nameof(config)));
}

/// <summary>
/// An Ape-X learner node for C#: an Akka.NET cluster seed at <see cref="Address"/> (role <c>learner</c>) with the
/// learner of Horgan et al. 2018 (prioritized replay, Double DQN n-step updates, parameters published for the
/// actors). Start actors with <see cref="RunActor"/> (another thread, process or machine), then call
/// <see cref="Run"/>. Dispose it to leave the cluster and free the networks.
/// </summary>
public sealed class ApeXLearnerNode : IDisposable
{
    private readonly ApeXLearner learner;

    /// <summary>Starts the learner's node (binding <see cref="ApeXOptions.Hostname"/>:<see cref="ApeXOptions.Port"/>).</summary>
    /// <param name="options">The run's settings.</param>
    /// <param name="progress">Receives a report every 2 s (steps, updates, live actors, throughput), or null.</param>
    /// <param name="evaluated">Receives every evaluation, or null.</param>
    /// <exception cref="ArgumentException">Invalid options (named).</exception>
    public ApeXLearnerNode(ApeXOptions options, IProgress<ApeXProgress>? progress = null, Action<EvaluationResult>? evaluated = null)
        : this(null, options, progress, evaluated)
    {
    }

    private ApeXLearnerNode(string? resumeFrom, ApeXOptions options, IProgress<ApeXProgress>? progress, Action<EvaluationResult>? evaluated)
    {
        var config = Check.NotNull(options, nameof(options)).ToConfig();
        Action<ApeXEvent> observer = e =>
        {
            if (e is ApeXEvent.Progress p) progress?.Report(p.Item);
            else if (e is ApeXEvent.Evaluated r) evaluated?.Invoke(r.Item);
        };
        learner = resumeFrom is null ? new ApeXLearner(config, observer) : ApeXLearner.Resume(resumeFrom, config, observer);
    }

    /// <summary>A learner node that continues the run whose checkpoint is at <paramref name="path"/> (a checkpoint
    /// folder or a folder of them: the newest); <see cref="ApeXOptions.TotalSteps"/> is the run's whole budget.</summary>
    /// <exception cref="System.IO.DirectoryNotFoundException">No checkpoint at <paramref name="path"/>.</exception>
    /// <exception cref="ArgumentException">The checkpoint was written with other options (the first field that
    /// differs is named).</exception>
    public static ApeXLearnerNode Resume(string path, ApeXOptions options, IProgress<ApeXProgress>? progress = null, Action<EvaluationResult>? evaluated = null) =>
        new(Check.NotNull(path, nameof(path)), options, progress, evaluated);

    /// <summary>The node's address, <c>akka.tcp://dqnfun-apex@host:port</c>: what actors join.</summary>
    public string Address => learner.Address;

    /// <summary>The TCP port the node listens on.</summary>
    public int Port => learner.Port;

    /// <summary>Actor nodes up and reachable now.</summary>
    public int LiveActors => learner.LiveActors;

    /// <summary>Learns until the budget is stored and its updates made, then stops the actors. Blocks; call once.
    /// Cancelling stops taking experience early (the owed updates, a final evaluation and checkpoint still run). With
    /// <paramref name="checkpoints"/>, writes training checkpoints there every
    /// <see cref="ApeXOptions.CheckpointInterval"/> stored steps and at the end (<see cref="Resume"/> reads them).</summary>
    public ApeXSummary Run(System.Threading.CancellationToken cancellationToken = default, string? checkpoints = null) =>
        learner.Run(cancellationToken, checkpoints is null ? Microsoft.FSharp.Core.FSharpOption<string>.None : Microsoft.FSharp.Core.FSharpOption<string>.Some(checkpoints));

    /// <summary>Writes the online network as a model checkpoint (<see cref="DqnAgent.Load"/> reads it).</summary>
    public void SaveModel(string path) => learner.SaveModel(Check.NotNull(path, nameof(path)));

    /// <summary>Runs actor <paramref name="actorId"/> until the learner at <paramref name="learnerAddress"/> stops it:
    /// joins its cluster (binding <paramref name="hostname"/>:<paramref name="port"/>, 0: a free port), acts with εᵢ and sends prioritized
    /// n-step transitions. Blocks.</summary>
    /// <exception cref="TimeoutException">The cluster or the learner did not answer within 60 s.</exception>
    public static ActorReport RunActor(string learnerAddress, int actorId, string hostname = "127.0.0.1", string? publicHostname = null,
        int port = 0, System.Threading.CancellationToken cancellationToken = default, string? rom = null) =>
        ApeXActorNode.RunWithRom(Check.NotNull(learnerAddress, nameof(learnerAddress)), actorId, Check.NotNull(hostname, nameof(hostname)), publicHostname!, port, rom!, cancellationToken);

    /// <inheritdoc/>
    public void Dispose() => learner.Dispose();
}
