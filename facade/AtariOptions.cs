using System;
using System.Collections.Generic;
using Dqn.Fun.Atari;

namespace Dqn.Fun;

/// <summary>The optimizer of an Atari run (its learning rate is <see cref="DqnOptions.LearningRate"/> of
/// <see cref="AtariOptions.Dqn"/>).</summary>
public enum AtariOptimizerKind
{
    /// <summary>Adam (Kingma and Ba 2015) with ε = <see cref="AtariOptions.OptimizerEpsilon"/>.</summary>
    Adam,

    /// <summary>RMSProp as <c>torch.optim.RMSprop</c>: squared-gradient smoothing <see cref="AtariOptions.RmsPropAlpha"/>,
    /// ε = <see cref="AtariOptions.OptimizerEpsilon"/>, centered when <see cref="AtariOptions.RmsPropCentered"/> (Mnih et
    /// al. 2015: 0.95, 0.01, centered).</summary>
    RmsProp,
}

/// <summary>How an Atari run's agent is scored.</summary>
public enum AtariEvaluationProtocol
{
    /// <summary>Mnih et al. 2015: separate evaluation games (on the evaluation environment given to
    /// <c>Learn</c>), each started with up to 30 no-op frames, ε = <see cref="DqnOptions.EvalEpsilon"/>, at most
    /// 18 000 emulator frames, a lost life not ending the game; the score is the mean raw score of
    /// <see cref="AtariOptions.EvaluationGames"/> games.</summary>
    Nature,

    /// <summary>Machado et al. 2018: no separate games; the score is the mean raw score of the last
    /// <see cref="AtariOptions.EvaluationGames"/> training games.</summary>
    Machado,
}

/// <summary>
/// The settings of a DQN run on Atari, immutable: start from <see cref="Preset"/> and change values with the
/// <c>WithX</c> methods or a <c>with</c> expression; both return a new value and leave this one unchanged. The C# face
/// of <see cref="AtariConfig"/>.
/// </summary>
/// <remarks>
/// <para>Units: an <em>emulator frame</em> is one frame of the Atari (60 a second of game time); an <em>agent
/// step</em> is one action, repeated for <see cref="FrameSkip"/> frames; an <em>update</em> is one gradient step.
/// Atari budgets are quoted in frames (Mnih et al. 2015: 50M; Machado et al. 2018: 200M), the learner counts agent
/// steps: the settings of <see cref="Dqn"/> (<c>LearningStarts</c>, <c>TrainFrequency</c>, the <c>Exploration</c>,
/// <c>LearningRate</c> and <c>PriorityBeta</c> schedules) count agent steps, <c>TargetUpdateInterval</c> counts updates,
/// <c>BufferSize</c> transitions (one an agent step); the settings of this record say their unit in their name.</para>
/// <para>The network is the Nature CNN (Mnih et al. 2015) over stacks of four 84×84 grayscale frames, so
/// <see cref="Dqn"/>'s <c>HiddenLayers</c>, <c>AdamEpsilon</c> (see <see cref="OptimizerEpsilon"/>),
/// <c>EvalInterval</c> and <c>EvalEpisodes</c> (see <see cref="EvalIntervalFrames"/> and <see cref="EvaluationGames"/>)
/// are not used, and <c>Recurrent</c> is refused when an agent is built.</para>
/// <para>Every property checks its value when it is set (by <c>WithX</c>, <c>with</c> or <see cref="Preset"/>), so an
/// out-of-range value fails where it is written; <see cref="ToConfig"/> checks the whole (the core's
/// <c>AtariConfig.validate</c>). Equality is by value.</para>
/// </remarks>
public sealed record AtariOptions
{
    private AtariOptions(AtariConfig c)
    {
        PresetName = c.Preset;
        Dqn = DqnOptions.FromConfig(c.Dqn);
        (Optimizer, OptimizerEpsilon, RmsPropAlpha, RmsPropCentered) = c.Optimizer switch
        {
            AtariOptimizer.Adam a => (AtariOptimizerKind.Adam, a.epsilon, DefaultRmsPropAlpha, DefaultRmsPropCentered),
            AtariOptimizer.RmsProp r => (AtariOptimizerKind.RmsProp, r.epsilon, r.alpha, r.centered),
            _ => throw new ArgumentException($"unknown optimizer {c.Optimizer}", nameof(c)),
        };
        var e = c.Environment;
        FrameSkip = e.FrameSkip;
        NoopMaxFrames = e.NoopMaxFrames;
        FireOnReset = e.FireOnReset;
        TerminalOnLifeLoss = e.TerminalOnLifeLoss;
        MaxEpisodeFrames = e.MaxEpisodeFrames;
        ClipRewards = e.ClipRewards;
        Padding = e.Padding;
        RepeatActionProbability = c.RepeatActionProbability;
        (Evaluation, EvaluationGames) = c.Evaluation switch
        {
            EvaluationProtocol.Nature n => (AtariEvaluationProtocol.Nature, n.episodes),
            EvaluationProtocol.Machado m => (AtariEvaluationProtocol.Machado, m.episodes),
            _ => throw new ArgumentException($"unknown evaluation protocol {c.Evaluation}", nameof(c)),
        };
        EvalIntervalFrames = c.EvalIntervalFrames;
        CheckpointIntervalFrames = c.CheckpointIntervalFrames;
    }

    private const double DefaultRmsPropAlpha = 0.95;
    private const bool DefaultRmsPropCentered = true;

    /// <summary>The settings of a preset (the core's <c>AtariConfig.preset</c>, which cites each paper):
    /// "nature" (Mnih et al. 2015: RMSProp, ε 1 → 0.1 over 1M frames, life loss terminal, 30 no-op starts, no sticky
    /// actions, Nature evaluation every 1M frames), "dopamine" (Castro et al. 2018: Adam, sticky actions 0.25, Machado
    /// scoring), and on Dopamine's schedule "c51", "qr", "iqn" and "rainbow". Every preset runs on the CPU with seed 0
    /// and a replay of 1M transitions (about 7 GB of frames).</summary>
    /// <param name="name">One of <see cref="PresetNames"/> (case-insensitive).</param>
    /// <exception cref="ArgumentNullException"><paramref name="name"/> is null.</exception>
    /// <exception cref="ArgumentException">An unknown name; the message lists the known ones.</exception>
    public static AtariOptions Preset(string name) => FromConfig(AtariConfigModule.Preset(Check.NotNull(name, nameof(name))));

    /// <summary>Names accepted by <see cref="Preset"/>.</summary>
    public static IReadOnlyList<string> PresetNames { get; } = [.. AtariConfigModule.PresetNames];

    /// <summary>The preset these settings started from; recorded in checkpoints, where
    /// <see cref="AtariDqnAgent.Load"/> without options finds it.</summary>
    /// <exception cref="ArgumentNullException">The value is null.</exception>
    public string PresetName { get; init => field = Check.NotNull(value, nameof(PresetName)); }

    /// <summary>The learning algorithm: γ, learning rate, batch, replay, exploration, target updates, the Rainbow
    /// components, seed and device (see the remarks for the units and the settings not used on Atari). Change it with
    /// <see cref="WithDqn(Func{DqnOptions, DqnOptions})"/> or the shortcuts (<see cref="WithLearningStarts"/>, ...).</summary>
    /// <exception cref="ArgumentNullException">The value is null.</exception>
    /// <exception cref="ArgumentException">The value has a <see cref="DqnOptions.Torso"/> or
    /// <see cref="DqnOptions.QNetwork"/> of its own: the Atari network is the Nature CNN.</exception>
    public DqnOptions Dqn { get; init => field = CheckDqn(value); }

    /// <summary>Adam or RMSProp; set with <see cref="WithAdam"/> or <see cref="WithRmsProp"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is not a defined <see cref="AtariOptimizerKind"/>.</exception>
    public AtariOptimizerKind Optimizer
    {
        get;
        init => field = Enum.IsDefined(value) ? value : throw Check.OutOfRange(nameof(Optimizer), value, "must be Adam or RmsProp");
    }

    /// <summary>The optimizer's ε (numerical stability term), non-negative and finite (Hessel et al. 2018: Adam with
    /// 1.5e-4; Mnih et al. 2015: RMSProp with 0.01).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is negative, infinite or NaN.</exception>
    public double OptimizerEpsilon { get; init => field = Check.NonNegativeFinite(value, nameof(OptimizerEpsilon)); }

    /// <summary>RMSProp's squared-gradient smoothing, in [0, 1); not used with Adam.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is outside [0, 1) or NaN.</exception>
    public double RmsPropAlpha { get; init => field = Check.InRangeBelowHigh(value, 0.0, 1.0, nameof(RmsPropAlpha)); }

    /// <summary>RMSProp subtracts the running mean of the gradient (Mnih et al. 2015's "gradient momentum"); not used
    /// with Adam.</summary>
    public bool RmsPropCentered { get; init; }

    /// <summary>Emulator frames per agent step, the action repeated on each (Mnih et al. 2015: 4), positive.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is zero or negative.</exception>
    public int FrameSkip { get; init => field = Check.Positive(value, nameof(FrameSkip)); }

    /// <summary>Most no-op frames at a game's reset (Mnih et al. 2015: 30; the count is drawn from 1 ..
    /// NoopMaxFrames), non-negative; 0 turns no-op starts off.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is negative.</exception>
    public int NoopMaxFrames { get; init => field = Check.NonNegative(value, nameof(NoopMaxFrames)); }

    /// <summary>Press FIRE, then the third action, one agent step each after every reset, in games whose minimal
    /// action set has FIRE at index 1 (Stable-Baselines3's <c>FireResetEnv</c>).</summary>
    public bool FireOnReset { get; init; }

    /// <summary>A lost life ends the training episode (terminal for learning) but not the game (Mnih et al. 2015).</summary>
    public bool TerminalOnLifeLoss { get; init; }

    /// <summary>Emulator frames since a game's reset after which it is truncated (Machado et al. 2018: 108 000 =
    /// 30 minutes), non-negative; 0: no limit.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is negative.</exception>
    public int MaxEpisodeFrames { get; init => field = Check.NonNegative(value, nameof(MaxEpisodeFrames)); }

    /// <summary>Learn from the sign of each agent step's reward (−1, 0, +1; Mnih et al. 2015); scores stay raw.</summary>
    public bool ClipRewards { get; init; }

    /// <summary>How the frame stack is filled at a reset: <see cref="StackPadding.RepeatFirst"/> (every preset) or
    /// <see cref="StackPadding.Zeros"/>.</summary>
    /// <exception cref="ArgumentNullException">The value is null.</exception>
    public StackPadding Padding { get; init => field = Check.NotNull(value, nameof(Padding)); }

    /// <summary>Sticky actions: the probability, per emulator frame, that the ALE repeats the previous action instead
    /// of the agent's, in [0, 1] (Machado et al. 2018: 0.25; 0 is the deterministic ALE of Mnih et al. 2015). Applies to
    /// training and evaluation games.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is outside [0, 1] or NaN.</exception>
    public double RepeatActionProbability
    {
        get;
        init => field = Check.InRange(value, 0.0, 1.0, nameof(RepeatActionProbability));
    }

    /// <summary>How the agent is scored during <c>Learn</c>; set with <see cref="WithEvaluation"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is not a defined <see cref="AtariEvaluationProtocol"/>.</exception>
    public AtariEvaluationProtocol Evaluation
    {
        get;
        init => field = Enum.IsDefined(value) ? value : throw Check.OutOfRange(nameof(Evaluation), value, "must be Nature or Machado");
    }

    /// <summary>Games a score averages: evaluation games (Nature) or last training games (Machado), positive.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is zero or negative.</exception>
    public int EvaluationGames { get; init => field = Check.Positive(value, nameof(EvaluationGames)); }

    /// <summary>Emulator frames between evaluations, counted from the start of each <c>Learn</c> call (one more runs at
    /// its end), non-negative; 0: only at the end.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is negative.</exception>
    public long EvalIntervalFrames { get; init => field = Check.NonNegative(value, nameof(EvalIntervalFrames)); }

    /// <summary>Emulator frames between <see cref="AtariCheckpointProgress"/> reports (save the agent then, if you keep
    /// checkpoints), counted from the start of each <c>Learn</c> call, non-negative; 0: none.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is negative.</exception>
    public long CheckpointIntervalFrames { get; init => field = Check.NonNegative(value, nameof(CheckpointIntervalFrames)); }

    /// <summary>Returns a copy with <see cref="Dqn"/> = <paramref name="dqn"/>.</summary>
    /// <param name="dqn">The learning algorithm's settings (units in the remarks).</param>
    /// <exception cref="ArgumentNullException"><paramref name="dqn"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="dqn"/> has a torso or Q-network of its own.</exception>
    public AtariOptions WithDqn(DqnOptions dqn) => this with { Dqn = dqn };

    /// <summary>Returns a copy whose <see cref="Dqn"/> is <paramref name="change"/>(<see cref="Dqn"/>), e.g.
    /// <c>o.WithDqn(d =&gt; d.WithDoubleDqn().WithMaxGradNorm(10))</c>.</summary>
    /// <param name="change">Makes the new DQN settings from the current ones.</param>
    /// <exception cref="ArgumentNullException"><paramref name="change"/> is null or returns null.</exception>
    /// <exception cref="ArgumentException">The result has a torso or Q-network of its own.</exception>
    public AtariOptions WithDqn(Func<DqnOptions, DqnOptions> change) =>
        this with { Dqn = Check.NotNull(change, nameof(change))(Dqn) };

    /// <summary>Returns a copy with a constant learning rate (<see cref="DqnOptions.WithLearningRate(double)"/>).</summary>
    /// <param name="learningRate">Positive and finite (Adam presets: 5e-5 to 2.5e-4).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="learningRate"/> is not positive and finite.</exception>
    public AtariOptions WithLearningRate(double learningRate) => WithDqn(d => d.WithLearningRate(learningRate));

    /// <summary>Returns a copy with <see cref="DqnOptions.BatchSize"/> = <paramref name="batchSize"/>.</summary>
    /// <param name="batchSize">Transitions per update, positive, at most the replay's capacity.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="batchSize"/> is zero or negative.</exception>
    public AtariOptions WithBatchSize(int batchSize) => WithDqn(d => d.WithBatchSize(batchSize));

    /// <summary>Returns a copy with <see cref="DqnOptions.BufferSize"/> = <paramref name="transitions"/>: the replay's
    /// capacity, one transition an agent step, each holding one 84×84 frame (7 056 bytes).</summary>
    /// <param name="transitions">Positive, at least the batch size.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="transitions"/> is zero or negative.</exception>
    public AtariOptions WithBufferSize(int transitions) => WithDqn(d => d.WithBufferSize(transitions));

    /// <summary>Returns a copy with <see cref="DqnOptions.LearningStarts"/> = <paramref name="agentSteps"/>: agent steps
    /// (each <see cref="FrameSkip"/> emulator frames) taken before the first update.</summary>
    /// <param name="agentSteps">Non-negative.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="agentSteps"/> is negative.</exception>
    public AtariOptions WithLearningStarts(int agentSteps) => WithDqn(d => d.WithLearningStarts(agentSteps));

    /// <summary>Returns a copy with <see cref="DqnOptions.TrainFrequency"/> = <paramref name="agentSteps"/>: agent steps
    /// between updates (Mnih et al. 2015: 4).</summary>
    /// <param name="agentSteps">Positive.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="agentSteps"/> is zero or negative.</exception>
    public AtariOptions WithTrainFrequency(int agentSteps) => WithDqn(d => d.WithTrainFrequency(agentSteps));

    /// <summary>Returns a copy with <see cref="DqnOptions.TargetUpdateInterval"/> = <paramref name="updates"/>: updates
    /// (not agent steps) between target-network updates.</summary>
    /// <param name="updates">Positive.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="updates"/> is zero or negative.</exception>
    public AtariOptions WithTargetUpdateInterval(int updates) => WithDqn(d => d.WithTargetUpdateInterval(updates));

    /// <summary>Returns a copy whose ε anneals linearly from <paramref name="start"/> to <paramref name="end"/> over the
    /// first <paramref name="agentSteps"/> agent steps (<see cref="FrameSkip"/> · <paramref name="agentSteps"/> emulator
    /// frames), then stays at <paramref name="end"/>.</summary>
    /// <param name="start">ε at agent step 0, in [0, 1].</param>
    /// <param name="end">ε from agent step <paramref name="agentSteps"/> on, in [0, 1].</param>
    /// <param name="agentSteps">Positive.</param>
    /// <exception cref="ArgumentOutOfRangeException">A value out of its range (named by its parameter).</exception>
    public AtariOptions WithExploration(double start, double end, long agentSteps) =>
        WithDqn(d => d.WithExploration(start, end, Check.Positive(agentSteps, nameof(agentSteps))));

    /// <summary>Returns a copy with <see cref="DqnOptions.Gamma"/> = <paramref name="gamma"/> (discount per agent step).</summary>
    /// <param name="gamma">In [0, 1].</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="gamma"/> is outside [0, 1] or NaN.</exception>
    public AtariOptions WithGamma(double gamma) => WithDqn(d => d.WithGamma(gamma));

    /// <summary>Returns a copy with <see cref="DqnOptions.EvalEpsilon"/> = <paramref name="epsilon"/>: ε of evaluation
    /// games (Nature: 0.05; Dopamine: 0.001).</summary>
    /// <param name="epsilon">In [0, 1].</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="epsilon"/> is outside [0, 1] or NaN.</exception>
    public AtariOptions WithEvalEpsilon(double epsilon) => WithDqn(d => d.WithEvalEpsilon(epsilon));

    /// <summary>Returns a copy with <see cref="DqnOptions.Seed"/> = <paramref name="seed"/>: the networks' initial
    /// weights, exploration and replay sampling; the environments made by <see cref="BridgedAtariEnvironment"/> take
    /// their seeds from it too.</summary>
    /// <param name="seed">Any value (non-negative for <see cref="BridgedAtariEnvironment"/>: the ALE's seed).</param>
    public AtariOptions WithSeed(int seed) => WithDqn(d => d.WithSeed(seed));

    /// <summary>Returns a copy with <see cref="DqnOptions.Device"/> = <paramref name="device"/>.</summary>
    /// <param name="device">"cpu", "cuda", "cuda:N" or "auto".</param>
    /// <exception cref="ArgumentNullException"><paramref name="device"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="device"/> is not one of "cpu", "cuda", "cuda:N", "auto".</exception>
    public AtariOptions WithDevice(string device) => WithDqn(d => d.WithDevice(device));

    /// <summary>Returns a copy that trains with Adam of ε <paramref name="epsilon"/> (RMSProp's settings back to
    /// their defaults).</summary>
    /// <param name="epsilon">Non-negative and finite (Hessel et al. 2018: 1.5e-4).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="epsilon"/> is negative, infinite or NaN.</exception>
    public AtariOptions WithAdam(double epsilon) =>
        this with
        {
            Optimizer = AtariOptimizerKind.Adam,
            OptimizerEpsilon = Check.NonNegativeFinite(epsilon, nameof(epsilon)),
            RmsPropAlpha = DefaultRmsPropAlpha,
            RmsPropCentered = DefaultRmsPropCentered,
        };

    /// <summary>Returns a copy that trains with RMSProp (defaults: Mnih et al. 2015's).</summary>
    /// <param name="alpha">Squared-gradient smoothing, in [0, 1).</param>
    /// <param name="epsilon">Non-negative and finite.</param>
    /// <param name="centered">Subtract the running mean of the gradient.</param>
    /// <exception cref="ArgumentOutOfRangeException">A value out of its range (named by its parameter).</exception>
    public AtariOptions WithRmsProp(double alpha = DefaultRmsPropAlpha, double epsilon = 0.01, bool centered = DefaultRmsPropCentered) =>
        this with
        {
            Optimizer = AtariOptimizerKind.RmsProp,
            RmsPropAlpha = Check.InRangeBelowHigh(alpha, 0.0, 1.0, nameof(alpha)),
            OptimizerEpsilon = Check.NonNegativeFinite(epsilon, nameof(epsilon)),
            RmsPropCentered = centered,
        };

    /// <summary>Returns a copy with <see cref="FrameSkip"/> = <paramref name="frames"/>.</summary>
    /// <param name="frames">Emulator frames per agent step, positive.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="frames"/> is zero or negative.</exception>
    public AtariOptions WithFrameSkip(int frames) => this with { FrameSkip = frames };

    /// <summary>Returns a copy with <see cref="NoopMaxFrames"/> = <paramref name="frames"/>.</summary>
    /// <param name="frames">Most no-op frames at a reset, non-negative; 0: none.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="frames"/> is negative.</exception>
    public AtariOptions WithNoopMaxFrames(int frames) => this with { NoopMaxFrames = frames };

    /// <summary>Returns a copy with <see cref="FireOnReset"/> = <paramref name="fireOnReset"/>.</summary>
    public AtariOptions WithFireOnReset(bool fireOnReset = true) => this with { FireOnReset = fireOnReset };

    /// <summary>Returns a copy with <see cref="TerminalOnLifeLoss"/> = <paramref name="terminalOnLifeLoss"/>.</summary>
    public AtariOptions WithTerminalOnLifeLoss(bool terminalOnLifeLoss = true) => this with { TerminalOnLifeLoss = terminalOnLifeLoss };

    /// <summary>Returns a copy with <see cref="MaxEpisodeFrames"/> = <paramref name="frames"/>.</summary>
    /// <param name="frames">Emulator frames after which a game is truncated, non-negative; 0: no limit.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="frames"/> is negative.</exception>
    public AtariOptions WithMaxEpisodeFrames(int frames) => this with { MaxEpisodeFrames = frames };

    /// <summary>Returns a copy with <see cref="ClipRewards"/> = <paramref name="clipRewards"/>.</summary>
    public AtariOptions WithClipRewards(bool clipRewards = true) => this with { ClipRewards = clipRewards };

    /// <summary>Returns a copy with <see cref="Padding"/> = <paramref name="padding"/>.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="padding"/> is null.</exception>
    public AtariOptions WithPadding(StackPadding padding) => this with { Padding = padding };

    /// <summary>Returns a copy with <see cref="RepeatActionProbability"/> = <paramref name="probability"/> (sticky actions).</summary>
    /// <param name="probability">Per emulator frame, in [0, 1].</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="probability"/> is outside [0, 1] or NaN.</exception>
    public AtariOptions WithRepeatActionProbability(double probability) => this with { RepeatActionProbability = probability };

    /// <summary>Returns a copy scored by <paramref name="protocol"/> over <paramref name="games"/> games.</summary>
    /// <param name="protocol">Nature (separate evaluation games) or Machado (the last training games).</param>
    /// <param name="games">Positive (Nature: 30; Machado: 100).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="protocol"/> is not defined, or
    /// <paramref name="games"/> is zero or negative.</exception>
    public AtariOptions WithEvaluation(AtariEvaluationProtocol protocol, int games) =>
        this with { Evaluation = protocol, EvaluationGames = Check.Positive(games, nameof(games)) };

    /// <summary>Returns a copy with <see cref="EvalIntervalFrames"/> = <paramref name="frames"/>.</summary>
    /// <param name="frames">Emulator frames between evaluations, non-negative; 0: only at the end.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="frames"/> is negative.</exception>
    public AtariOptions WithEvalIntervalFrames(long frames) => this with { EvalIntervalFrames = frames };

    /// <summary>Returns a copy with <see cref="CheckpointIntervalFrames"/> = <paramref name="frames"/>.</summary>
    /// <param name="frames">Emulator frames between checkpoint reports, non-negative; 0: none.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="frames"/> is negative.</exception>
    public AtariOptions WithCheckpointIntervalFrames(long frames) => this with { CheckpointIntervalFrames = frames };

    /// <summary>The episode logic of training games, for an <see cref="AtariEnvironment"/> of your own
    /// (<c>new AtariEnvironment(emulator, options.TrainingSettings(), seed)</c>).</summary>
    public AtariSettings TrainingSettings() =>
        new(FrameSkip, NoopMaxFrames, FireOnReset, TerminalOnLifeLoss, MaxEpisodeFrames, ClipRewards, Padding);

    /// <summary>The episode logic of evaluation games: under the Nature protocol the training settings without
    /// life-loss terminals, with up to 30 no-op frames and an 18 000-frame cap (<c>AtariConfig.natureEvaluationSettings</c>);
    /// under Machado's (which plays no evaluation games) the training settings.</summary>
    public AtariSettings EvaluationSettings() =>
        Evaluation == AtariEvaluationProtocol.Nature
            ? AtariConfigModule.NatureEvaluationSettings(TrainingSettings())
            : TrainingSettings();

    /// <summary>The core's config for these options, checked by <c>AtariConfig.validate</c> (which also checks
    /// BufferSize &gt;= BatchSize): what the F# <see cref="AtariAgent"/> and <c>AtariConfig.describe</c> take.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A value, or the pair BufferSize/BatchSize, is out of range.</exception>
    public AtariConfig ToConfig() =>
        AtariConfigModule.Validate(new AtariConfig(
            PresetName,
            Dqn.ToConfig(),
            Optimizer == AtariOptimizerKind.Adam
                ? AtariOptimizer.NewAdam(OptimizerEpsilon)
                : AtariOptimizer.NewRmsProp(RmsPropAlpha, OptimizerEpsilon, RmsPropCentered),
            TrainingSettings(),
            RepeatActionProbability,
            Evaluation == AtariEvaluationProtocol.Nature
                ? EvaluationProtocol.NewNature(EvaluationGames)
                : EvaluationProtocol.NewMachado(EvaluationGames),
            EvalIntervalFrames,
            CheckpointIntervalFrames));

    /// <summary>The options mirroring a core config (e.g. an F# agent's <c>Config</c>); each value is checked.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="config"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of range (named).</exception>
    public static AtariOptions FromConfig(AtariConfig config) => new(Check.NotNull(config, nameof(config)));

    private static DqnOptions CheckDqn(DqnOptions value) =>
        Check.NotNull(value, nameof(Dqn)) is { Torso: not null } or { QNetwork: not null }
            ? throw new ArgumentException(
                "Dqn has a torso or Q-network of its own; on Atari the network is the Nature CNN (leave Dqn.Torso and Dqn.QNetwork null).",
                nameof(Dqn))
            : value;
}
