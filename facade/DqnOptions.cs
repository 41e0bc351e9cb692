using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.FSharp.Collections;
using Microsoft.FSharp.Core;

namespace Dqn.Fun;

/// <summary>
/// The settings of a DQN run, immutable: start from <see cref="Default"/> and change values with the
/// <c>WithX</c> methods or a <c>with</c> expression; both return a new value and leave this one unchanged.
/// </summary>
/// <remarks>
/// <para>Units: an <em>agent step</em> is one environment step taken by the agent (one action); an
/// <em>update</em> is one gradient step on a minibatch.</para>
/// <para>Every property checks its value when it is set (by <c>WithX</c>, <c>with</c> or
/// <see cref="Default"/>), so an out-of-range value fails where it is written. The one rule that spans two
/// properties (<see cref="BufferSize"/> &gt;= <see cref="BatchSize"/>) is checked when an agent is built.</para>
/// <para>Equality is by value, <see cref="HiddenLayers"/> included.</para>
/// </remarks>
public sealed record DqnOptions
{
    private DqnOptions(DqnConfig c)
    {
        HiddenLayers = c.Hidden;
        Gamma = c.Gamma;
        LearningRate = c.LearningRate;
        AdamEpsilon = c.AdamEpsilon;
        BatchSize = c.BatchSize;
        BufferSize = c.BufferSize;
        LearningStarts = c.LearningStarts;
        TrainFrequency = c.TrainFrequency;
        GradientSteps = c.GradientSteps;
        TargetUpdateInterval = c.TargetUpdateInterval;
        Tau = c.Tau;
        Exploration = c.Exploration;
        ExplorationUnit = c.ExplorationUnit;
        Loss = c.Loss;
        MaxGradNorm = OptionModule.ToNullable(c.MaxGradNorm);
        DoubleDqn = c.DoubleDqn;
        Seed = c.Seed;
        Device = Devices.Name(c.Device);
        EvalInterval = c.EvalInterval;
        EvalEpisodes = c.EvalEpisodes;
        EvalEpsilon = c.EvalEpsilon;
        Dueling = c.Dueling;
        Noisy = c.Noisy;
        NoisySigma0 = c.NoisySigma0;
        Head = c.Head;
        Atoms = c.Atoms;
        VMin = c.VMin;
        VMax = c.VMax;
        NStep = c.NStep;
        Prioritized = c.Prioritized;
        PriorityAlpha = c.PriorityAlpha;
        PriorityWeightNormalization = c.PriorityWeightNormalization;
        PriorityBeta = c.PriorityBeta;
        PriorityEpsilon = c.PriorityEpsilon;
        IqnTauSamples = c.IqnTauSamples;
        IqnTargetTauSamples = c.IqnTargetTauSamples;
        IqnPolicyTauSamples = c.IqnPolicyTauSamples;
        IqnEmbeddingDim = c.IqnEmbeddingDim;
        Recurrent = c.Recurrent;
        LstmHidden = c.LstmHidden;
        SequenceLength = c.SequenceLength;
        BurnIn = c.BurnIn;
    }

    /// <summary>
    /// The core's defaults (<c>DqnConfig.defaults</c>), tuned for CartPole-v1: a [64, 64] MLP, gamma 0.99,
    /// learning rate 2.3e-3, batch 64, replay 100 000, learning from agent step 1 000, a hard target copy
    /// every 100 updates, ε from 1.0 to 0.04 over 5 000 agent steps, Huber loss, seed 0, CPU.
    /// </summary>
    public static DqnOptions Default { get; } = FromConfig(DqnConfigModule.Default);

    /// <summary>Hidden layer widths of the MLP Q-network, input side first (e.g. [64, 64]); may be empty
    /// (a linear Q-function). The list is copied.</summary>
    /// <exception cref="ArgumentNullException">The value is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A width is zero or negative.</exception>
    public IReadOnlyList<int> HiddenLayers
    {
        get;
        init => field = CopyWidths(value);
    }

    /// <summary>Discount factor γ, in [0, 1].</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is outside [0, 1] or NaN.</exception>
    public double Gamma { get; init => field = Check.InRange(value, 0.0, 1.0, nameof(Gamma)); }

    /// <summary>Adam learning rate as a function of the agent step (<c>ScheduleModule.Constant(1e-3)</c> for a
    /// fixed one). Set a constant with <see cref="WithLearningRate(double)"/>.</summary>
    /// <exception cref="ArgumentNullException">The value is null.</exception>
    public Schedule LearningRate { get; init => field = Check.NotNull(value, nameof(LearningRate)); }

    /// <summary>Adam's ε (numerical stability term), non-negative.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is negative or NaN.</exception>
    public double AdamEpsilon { get; init => field = Check.NonNegative(value, nameof(AdamEpsilon)); }

    /// <summary>Transitions per update (minibatch size), positive; at most <see cref="BufferSize"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is zero or negative.</exception>
    public int BatchSize { get; init => field = Check.Positive(value, nameof(BatchSize)); }

    /// <summary>Replay capacity in transitions (one per agent step), positive; at least
    /// <see cref="BatchSize"/> (checked when an agent is built).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is zero or negative.</exception>
    public int BufferSize { get; init => field = Check.Positive(value, nameof(BufferSize)); }

    /// <summary>Agent steps taken (ε-greedy, no updates) before learning starts; non-negative.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is negative.</exception>
    public int LearningStarts { get; init => field = Check.NonNegative(value, nameof(LearningStarts)); }

    /// <summary>Agent steps between training rounds, positive.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is zero or negative.</exception>
    public int TrainFrequency { get; init => field = Check.Positive(value, nameof(TrainFrequency)); }

    /// <summary>Updates per training round, positive.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is zero or negative.</exception>
    public int GradientSteps { get; init => field = Check.Positive(value, nameof(GradientSteps)); }

    /// <summary>Updates (not agent steps) between target-network updates, positive (Mnih et al. 2015's C).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is zero or negative.</exception>
    public int TargetUpdateInterval { get; init => field = Check.Positive(value, nameof(TargetUpdateInterval)); }

    /// <summary>Polyak weight of a target update, in (0, 1]: target ← τ·online + (1 − τ)·target; 1 is a hard copy.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is outside (0, 1] or NaN.</exception>
    public double Tau { get; init => field = Check.InRangeAboveLow(value, 0.0, 1.0, nameof(Tau)); }

    /// <summary>ε of ε-greedy acting during training, as a function of the agent's cumulative agent steps (or of its
    /// finished training episodes, see <see cref="ExplorationUnit"/>). Build one with
    /// <see cref="WithExploration(double, double, long)"/>, <see cref="WithMultiplicativeExploration"/> or
    /// <c>ScheduleModule</c> (<c>Linear</c>, <c>Exponential</c>, <c>Multiplicative</c>, <c>PiecewiseLinear</c>,
    /// <c>Constant</c>); its values must lie in [0, 1].</summary>
    /// <exception cref="ArgumentNullException">The value is null.</exception>
    public Schedule Exploration { get; init => field = Check.NotNull(value, nameof(Exploration)); }

    /// <summary>What <see cref="Exploration"/> counts: <see cref="ScheduleUnit.AgentSteps"/> (default) or finished
    /// training <see cref="ScheduleUnit.Episodes"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is not a defined <see cref="ScheduleUnit"/>.</exception>
    public ScheduleUnit ExplorationUnit
    {
        get;
        init => field = Enum.IsDefined(value) ? value : throw Check.OutOfRange(nameof(ExplorationUnit), value, "must be AgentSteps or Episodes");
    }

    /// <summary>The loss on the TD error: <see cref="TdLoss.Huber"/> (default) or <see cref="TdLoss.Mse"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is not a defined <see cref="TdLoss"/>.</exception>
    public TdLoss Loss
    {
        get;
        init => field = Enum.IsDefined(value) ? value : throw Check.OutOfRange(nameof(Loss), value, "must be Huber or Mse");
    }

    /// <summary>Clip the gradients' global L2 norm to this, positive; null: no clipping.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is zero, negative or NaN.</exception>
    public double? MaxGradNorm
    {
        get;
        init => field = value is { } v ? Check.Positive(v, nameof(MaxGradNorm)) : null;
    }

    /// <summary>Use the Double DQN target (van Hasselt et al. 2016) instead of the DQN one.</summary>
    public bool DoubleDqn { get; init; }

    /// <summary>Seed for torch, replay sampling, exploration and the first environment reset; any value.</summary>
    public int Seed { get; init; }

    /// <summary>Device for the networks and updates: "cpu", "cuda", "cuda:N" or "auto" (a GPU when there is one)
    /// (case-insensitive); stored normalised as "cpu", "cuda:N" or "auto". Whether the GPU exists is checked when an
    /// agent is built (an <see cref="ArgumentException"/> that says what this process sees).</summary>
    /// <exception cref="ArgumentNullException">The value is null.</exception>
    /// <exception cref="ArgumentException">The value is not one of "cpu", "cuda", "cuda:N", "auto".</exception>
    public string Device
    {
        get;
        init => field = Devices.Normalize(Check.NotNull(value, nameof(Device)));
    }


    /// <summary>Agent steps between evaluations during <c>Learn</c> with an evaluation environment;
    /// non-negative; 0 turns periodic evaluation off.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is negative.</exception>
    public int EvalInterval { get; init => field = Check.NonNegative(value, nameof(EvalInterval)); }

    /// <summary>Episodes per periodic evaluation, non-negative; 0 turns periodic evaluation off.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is negative.</exception>
    public int EvalEpisodes { get; init => field = Check.NonNegative(value, nameof(EvalEpisodes)); }

    /// <summary>ε during evaluation, in [0, 1] (0: greedy).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is outside [0, 1] or NaN.</exception>
    public double EvalEpsilon { get; init => field = Check.InRange(value, 0.0, 1.0, nameof(EvalEpsilon)); }

    /// <summary>Dueling streams V(s) + A(s, a) − mean A (Wang et al. 2016).</summary>
    public bool Dueling { get; init; }

    /// <summary>NoisyLinear layers (Fortunato et al. 2018): noise resampled at every action and update, mean weights
    /// during evaluation. Set <see cref="Exploration"/> to a constant 0 to explore by noise alone (Rainbow).</summary>
    public bool Noisy { get; init; }

    /// <summary>σ0 of the noisy layers, non-negative (0.5 in the paper).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is negative or NaN.</exception>
    public double NoisySigma0 { get; init => field = Check.NonNegative(value, nameof(NoisySigma0)); }

    /// <summary>What the network outputs: expected values, a C51 distribution, QR-DQN quantiles or IQN's sampled
    /// quantiles (<see cref="WithImplicitQuantiles"/>).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is not a defined <see cref="ValueHead"/>.</exception>
    public ValueHead Head
    {
        get;
        init => field = Enum.IsDefined(value) ? value : throw Check.OutOfRange(nameof(Head), value, "must be a defined ValueHead");
    }

    /// <summary>Atoms (C51) or quantiles (QR-DQN), at least 2 for those heads; ignored for Expected and Implicit.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is zero or negative.</exception>
    public int Atoms { get; init => field = Check.Positive(value, nameof(Atoms)); }

    /// <summary>Lower bound of the C51 support (returns, undiscounted units of reward).</summary>
    public double VMin { get; init; }

    /// <summary>Upper bound of the C51 support; must exceed <see cref="VMin"/> (checked when an agent is built).</summary>
    public double VMax { get; init; }

    /// <summary>Steps of the bootstrapped return, positive (1: one-step; 3 in Rainbow).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is zero or negative.</exception>
    public int NStep { get; init => field = Check.Positive(value, nameof(NStep)); }

    /// <summary>Proportional prioritized replay (Schaul et al. 2016) instead of uniform sampling.</summary>
    public bool Prioritized { get; init; }

    /// <summary>Priority exponent α in [0, 1].</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is outside [0, 1] or NaN.</exception>
    public double PriorityAlpha { get; init => field = Check.InRange(value, 0.0, 1.0, nameof(PriorityAlpha)); }

    /// <summary>Importance-sampling exponent β by agent step, values in [0, 1] (annealed towards 1).</summary>
    /// <exception cref="ArgumentNullException">The value is null.</exception>
    public Schedule PriorityBeta { get; init => field = Check.NotNull(value, nameof(PriorityBeta)); }

    /// <summary>How importance-sampling weights are normalised: by the buffer's largest weight
    /// (<see cref="ImportanceWeightNormalization.BufferMax"/>, Schaul et al. 2016, the default) or by the batch's
    /// (<see cref="ImportanceWeightNormalization.BatchMax"/>, Dopamine).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is not a defined normalization.</exception>
    public ImportanceWeightNormalization PriorityWeightNormalization
    {
        get;
        init => field = Enum.IsDefined(value) ? value : throw Check.OutOfRange(nameof(PriorityWeightNormalization), value, "must be BufferMax or BatchMax");
    }

    /// <summary>Added to |TD error| before the exponent, positive.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is zero, negative, infinite or NaN.</exception>
    public double PriorityEpsilon { get; init => field = Check.PositiveFinite(value, nameof(PriorityEpsilon)); }

    /// <summary>IQN's N: quantile levels τ ~ U(0, 1) sampled per transition for the online network in the loss,
    /// positive (64 in Dabney et al. 2018b); used with <see cref="ValueHead.Implicit"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is zero or negative.</exception>
    public int IqnTauSamples { get; init => field = Check.Positive(value, nameof(IqnTauSamples)); }

    /// <summary>IQN's N': levels sampled per transition for the target distribution, positive (64 in the paper).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is zero or negative.</exception>
    public int IqnTargetTauSamples { get; init => field = Check.Positive(value, nameof(IqnTargetTauSamples)); }

    /// <summary>IQN's K: levels sampled per state for the Q-values that pick actions (acting and the bootstrap
    /// action), positive (32 in the paper); evaluation uses the K quantile midpoints.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is zero or negative.</exception>
    public int IqnPolicyTauSamples { get; init => field = Check.Positive(value, nameof(IqnPolicyTauSamples)); }

    /// <summary>IQN's n: cosines cos(π i τ), i = 0 .. n − 1, embedding each level, positive (64 in the paper).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is zero or negative.</exception>
    public int IqnEmbeddingDim { get; init => field = Check.Positive(value, nameof(IqnEmbeddingDim)); }

    /// <summary>DRQN (Hausknecht and Stone 2015): an LSTM of <see cref="LstmHidden"/> units between the MLP torso and
    /// the Q head, carried through each episode while acting and trained on replayed sequences of
    /// <see cref="SequenceLength"/> steps after <see cref="BurnIn"/> warm-up steps (Kapturowski et al. 2019);
    /// <see cref="BatchSize"/> then counts sequences. For partially observed tasks such as MaskedCartPole-v1. Not
    /// combined with dueling, noisy, distributional, n-step or prioritized (checked when an agent is built).</summary>
    public bool Recurrent { get; init; }

    /// <summary>LSTM units of the recurrent network, positive.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is zero or negative.</exception>
    public int LstmHidden { get; init => field = Check.Positive(value, nameof(LstmHidden)); }

    /// <summary>Trained steps per replayed sequence (agent steps), positive.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is zero or negative.</exception>
    public int SequenceLength { get; init => field = Check.Positive(value, nameof(SequenceLength)); }

    /// <summary>Burn-in steps before each replayed sequence's trained part (agent steps), non-negative.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is negative.</exception>
    public int BurnIn { get; init => field = Check.NonNegative(value, nameof(BurnIn)); }

    /// <summary>Returns a copy with <see cref="Recurrent"/> = <paramref name="recurrent"/> (DRQN on or off).</summary>
    public DqnOptions WithRecurrent(bool recurrent = true) => this with { Recurrent = recurrent };

    /// <summary>Returns a copy with <see cref="LstmHidden"/> = <paramref name="units"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="units"/> is zero or negative.</exception>
    public DqnOptions WithLstmHidden(int units) => this with { LstmHidden = units };

    /// <summary>Returns a copy with <see cref="SequenceLength"/> = <paramref name="steps"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="steps"/> is zero or negative.</exception>
    public DqnOptions WithSequenceLength(int steps) => this with { SequenceLength = steps };

    /// <summary>Returns a copy with <see cref="BurnIn"/> = <paramref name="steps"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="steps"/> is negative.</exception>
    public DqnOptions WithBurnIn(int steps) => this with { BurnIn = steps };

    /// <summary>A TorchSharp module of your own under the library's heads (dueling, noisy, C51, QR, IQN, or the plain
    /// linear output), or null for the MLP of <see cref="HiddenLayers"/>. It maps observations [batch; observationSize]
    /// (float32) to features [batch; <see cref="TorsoFeatures"/>]; the agent calls it once for the online network and
    /// once for the target network, each call returning a fresh module with its own parameters. Its parameters are
    /// named "torso.*" in checkpoints.</summary>
    public Func<TorchSharp.torch.nn.Module<TorchSharp.torch.Tensor, TorchSharp.torch.Tensor>>? Torso { get; init; }

    /// <summary>Width of the features <see cref="Torso"/> returns; used only with a torso of your own.</summary>
    public int TorsoFeatures { get; init; }

    /// <summary>A whole Q-network of your own, or null for the library's: a TorchSharp module mapping [batch;
    /// observationSize] float32 observations to Q-values [batch; actions] (or [batch; actions; atoms] for the
    /// distributional heads). The agent calls it once for the online and once for the target network; each call
    /// returns a fresh module. Takes precedence over <see cref="Torso"/>.</summary>
    public Func<TorchSharp.torch.nn.Module<TorchSharp.torch.Tensor, TorchSharp.torch.Tensor>>? QNetwork { get; init; }

    /// <summary>Returns a copy whose networks put the library's heads over a torso of your own (see
    /// <see cref="Torso"/>).</summary>
    /// <param name="create">Makes a fresh torso module each time it is called.</param>
    /// <param name="features">Width of the torso's output, positive.</param>
    /// <exception cref="ArgumentNullException"><paramref name="create"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="features"/> is zero or negative.</exception>
    public DqnOptions WithTorso(Func<TorchSharp.torch.nn.Module<TorchSharp.torch.Tensor, TorchSharp.torch.Tensor>> create, int features) =>
        this with { Torso = Check.NotNull(create, nameof(create)), TorsoFeatures = Check.Positive(features, nameof(features)) };

    /// <summary>Returns a copy whose Q-networks are your own (see <see cref="QNetwork"/>).</summary>
    /// <param name="create">Makes a fresh Q-network each time it is called.</param>
    /// <exception cref="ArgumentNullException"><paramref name="create"/> is null.</exception>
    public DqnOptions WithQNetwork(Func<TorchSharp.torch.nn.Module<TorchSharp.torch.Tensor, TorchSharp.torch.Tensor>> create) =>
        this with { QNetwork = Check.NotNull(create, nameof(create)) };

    /// <summary>Where the core agent's networks come from: <see cref="QNetwork"/>, else the heads over
    /// <see cref="Torso"/>, else over the MLP of <see cref="HiddenLayers"/>.</summary>
    internal QNetworkSource SourceFor(int observationSize) =>
        QNetwork is not null ? QNetworkSource.NewNetwork(QNetwork)
        : Torso is not null ? QNetworkSource.NewBuilt(Dqn.Fun.Torso.NewCustom(Torso, TorsoFeatures))
        : QNetworkSource.NewBuilt(Dqn.Fun.Torso.NewMlp(observationSize, (FSharpList<int>)HiddenLayers));

    /// <summary>The defaults with one member of the DQN family switched on: "dqn", "double", "dueling",
    /// "prioritized", "nstep", "noisy", "c51", "qr", "iqn", "rainbow" or "drqn" (the core's <c>DqnConfig.preset</c>; each cites
    /// its paper there).</summary>
    /// <exception cref="ArgumentException">An unknown name; the message lists the known ones.</exception>
    public static DqnOptions Preset(string name) => FromConfig(DqnConfigModule.Preset(Check.NotNull(name, nameof(name))));

    /// <summary>Names accepted by <see cref="Preset"/>.</summary>
    public static IReadOnlyList<string> PresetNames { get; } = [.. DqnConfigModule.PresetNames];

    /// <summary>Returns a copy with <see cref="Dueling"/> = <paramref name="dueling"/>.</summary>
    public DqnOptions WithDueling(bool dueling = true) => this with { Dueling = dueling };

    /// <summary>Returns a copy with <see cref="Noisy"/> = <paramref name="noisy"/>.</summary>
    public DqnOptions WithNoisy(bool noisy = true) => this with { Noisy = noisy };

    /// <summary>Returns a copy with a C51 head of <paramref name="atoms"/> atoms on [<paramref name="vMin"/>, <paramref name="vMax"/>].</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="atoms"/> is below 2, or the bounds are not finite and increasing.</exception>
    public DqnOptions WithCategorical(int atoms = 51, double vMin = 0.0, double vMax = 100.0) =>
        atoms < 2 ? throw Check.OutOfRange(nameof(atoms), atoms, "must be at least 2")
        : !(vMin < vMax && double.IsFinite(vMin) && double.IsFinite(vMax)) ? throw Check.OutOfRange(nameof(vMax), vMax, $"must exceed vMin ({vMin}), both finite")
        : this with { Head = ValueHead.Categorical, Atoms = atoms, VMin = vMin, VMax = vMax };

    /// <summary>Returns a copy with a QR-DQN head of <paramref name="quantiles"/> quantiles.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="quantiles"/> is below 2.</exception>
    public DqnOptions WithQuantiles(int quantiles = 200) =>
        quantiles < 2 ? throw Check.OutOfRange(nameof(quantiles), quantiles, "must be at least 2")
        : this with { Head = ValueHead.Quantile, Atoms = quantiles };

    /// <summary>Returns a copy with an IQN head (Dabney, Ostrovski, Silver, Munos 2018, "Implicit Quantile Networks
    /// for Distributional Reinforcement Learning"): quantile values at sampled levels τ through a cosine embedding
    /// of <paramref name="embeddingDim"/> cosines; <paramref name="tauSamples"/> (N) online and
    /// <paramref name="targetTauSamples"/> (N') target levels per transition in the loss,
    /// <paramref name="policyTauSamples"/> (K) levels per state for acting. Needs at least one hidden layer.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A count is zero or negative (named by its parameter).</exception>
    public DqnOptions WithImplicitQuantiles(int tauSamples = 64, int targetTauSamples = 64, int policyTauSamples = 32, int embeddingDim = 64) =>
        this with
        {
            Head = ValueHead.Implicit,
            IqnTauSamples = Check.Positive(tauSamples, nameof(tauSamples)),
            IqnTargetTauSamples = Check.Positive(targetTauSamples, nameof(targetTauSamples)),
            IqnPolicyTauSamples = Check.Positive(policyTauSamples, nameof(policyTauSamples)),
            IqnEmbeddingDim = Check.Positive(embeddingDim, nameof(embeddingDim)),
        };

    /// <summary>Returns a copy with <see cref="NStep"/> = <paramref name="n"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="n"/> is zero or negative.</exception>
    public DqnOptions WithNStep(int n) => this with { NStep = Check.Positive(n, nameof(NStep)) };

    /// <summary>Returns a copy with prioritized replay on (α, β from 0.4 to 1 over <paramref name="betaSteps"/> agent steps) or off.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="alpha"/> is outside [0, 1] or <paramref name="betaSteps"/> is not positive.</exception>
    public DqnOptions WithPrioritized(bool prioritized = true, double alpha = 0.6, long betaSteps = 30_000) =>
        this with
        {
            Prioritized = prioritized,
            PriorityAlpha = alpha,
            PriorityBeta = ScheduleModule.Linear(0.4, 1.0, Check.Positive(betaSteps, nameof(betaSteps))),
        };

    /// <summary>Returns a copy with <see cref="HiddenLayers"/> = <paramref name="widths"/> (copied).</summary>
    /// <param name="widths">Positive layer widths, input side first; none for a linear Q-function.</param>
    /// <exception cref="ArgumentNullException"><paramref name="widths"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A width is zero or negative.</exception>
    public DqnOptions WithHiddenLayers(params int[] widths) => this with { HiddenLayers = widths };

    /// <summary>Returns a copy with <see cref="Gamma"/> = <paramref name="gamma"/>.</summary>
    /// <param name="gamma">Discount factor in [0, 1].</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="gamma"/> is outside [0, 1] or NaN.</exception>
    public DqnOptions WithGamma(double gamma) => this with { Gamma = gamma };

    /// <summary>Returns a copy with a constant <see cref="LearningRate"/> = <paramref name="learningRate"/>.</summary>
    /// <param name="learningRate">Adam learning rate, positive and finite.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="learningRate"/> is not positive and finite.</exception>
    public DqnOptions WithLearningRate(double learningRate) =>
        this with { LearningRate = ScheduleModule.Constant(Check.PositiveFinite(learningRate, nameof(LearningRate))) };

    /// <summary>Returns a copy with <see cref="LearningRate"/> following <paramref name="learningRate"/> (agent steps).</summary>
    /// <param name="learningRate">The schedule; its value at step 0 must be positive (checked when an agent is built).</param>
    /// <exception cref="ArgumentNullException"><paramref name="learningRate"/> is null.</exception>
    public DqnOptions WithLearningRate(Schedule learningRate) => this with { LearningRate = learningRate };

    /// <summary>Returns a copy with <see cref="AdamEpsilon"/> = <paramref name="adamEpsilon"/>.</summary>
    /// <param name="adamEpsilon">Adam's ε, non-negative.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="adamEpsilon"/> is negative or NaN.</exception>
    public DqnOptions WithAdamEpsilon(double adamEpsilon) => this with { AdamEpsilon = adamEpsilon };

    /// <summary>Returns a copy with <see cref="BatchSize"/> = <paramref name="batchSize"/>.</summary>
    /// <param name="batchSize">Transitions per update, positive.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="batchSize"/> is zero or negative.</exception>
    public DqnOptions WithBatchSize(int batchSize) => this with { BatchSize = batchSize };

    /// <summary>Returns a copy with <see cref="BufferSize"/> = <paramref name="bufferSize"/>.</summary>
    /// <param name="bufferSize">Replay capacity in transitions, positive, at least <see cref="BatchSize"/>.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="bufferSize"/> is zero or negative.</exception>
    public DqnOptions WithBufferSize(int bufferSize) => this with { BufferSize = bufferSize };

    /// <summary>Returns a copy with <see cref="LearningStarts"/> = <paramref name="learningStarts"/>.</summary>
    /// <param name="learningStarts">Agent steps before the first update, non-negative.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="learningStarts"/> is negative.</exception>
    public DqnOptions WithLearningStarts(int learningStarts) => this with { LearningStarts = learningStarts };

    /// <summary>Returns a copy with <see cref="TrainFrequency"/> = <paramref name="trainFrequency"/>.</summary>
    /// <param name="trainFrequency">Agent steps between training rounds, positive.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="trainFrequency"/> is zero or negative.</exception>
    public DqnOptions WithTrainFrequency(int trainFrequency) => this with { TrainFrequency = trainFrequency };

    /// <summary>Returns a copy with <see cref="GradientSteps"/> = <paramref name="gradientSteps"/>.</summary>
    /// <param name="gradientSteps">Updates per training round, positive.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="gradientSteps"/> is zero or negative.</exception>
    public DqnOptions WithGradientSteps(int gradientSteps) => this with { GradientSteps = gradientSteps };

    /// <summary>Returns a copy with <see cref="TargetUpdateInterval"/> = <paramref name="targetUpdateInterval"/>.</summary>
    /// <param name="targetUpdateInterval">Updates between target-network updates, positive.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="targetUpdateInterval"/> is zero or negative.</exception>
    public DqnOptions WithTargetUpdateInterval(int targetUpdateInterval) => this with { TargetUpdateInterval = targetUpdateInterval };

    /// <summary>Returns a copy with <see cref="Tau"/> = <paramref name="tau"/>.</summary>
    /// <param name="tau">Polyak weight in (0, 1]; 1 is a hard copy.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="tau"/> is outside (0, 1] or NaN.</exception>
    public DqnOptions WithTau(double tau) => this with { Tau = tau };

    /// <summary>Returns a copy with <see cref="Exploration"/> = <paramref name="exploration"/>.</summary>
    /// <param name="exploration">ε as a function of agent steps; its values must lie in [0, 1].</param>
    /// <exception cref="ArgumentNullException"><paramref name="exploration"/> is null.</exception>
    public DqnOptions WithExploration(Schedule exploration) => this with { Exploration = exploration };

    /// <summary>Returns a copy whose <see cref="Exploration"/> anneals ε linearly from <paramref name="start"/>
    /// to <paramref name="end"/> over the first <paramref name="steps"/> agent steps, then stays at <paramref name="end"/>.</summary>
    /// <param name="start">ε at agent step 0, in [0, 1].</param>
    /// <param name="end">ε from agent step <paramref name="steps"/> on, in [0, 1].</param>
    /// <param name="steps">Length of the annealing in agent steps, positive.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="start"/> or <paramref name="end"/> is outside
    /// [0, 1] or NaN, or <paramref name="steps"/> is zero or negative.</exception>
    public DqnOptions WithExploration(double start, double end, long steps) =>
        this with { Exploration = ScheduleModule.Linear(Check.InRange(start, 0.0, 1.0, nameof(start)), Check.InRange(end, 0.0, 1.0, nameof(end)), Check.Positive(steps, nameof(steps))) };

    /// <summary>Returns a copy whose <see cref="Exploration"/> is the multiplicative decay of tutorials,
    /// ε = max(<paramref name="end"/>, <paramref name="start"/> · <paramref name="factor"/>^t), with t counted in
    /// <paramref name="unit"/> (default: finished training episodes).</summary>
    /// <param name="start">ε at t = 0, in [0, 1].</param>
    /// <param name="end">The floor, in [0, <paramref name="start"/>].</param>
    /// <param name="factor">The factor per step of t, in (0, 1] (e.g. 0.995).</param>
    /// <param name="unit">What t counts.</param>
    /// <exception cref="ArgumentOutOfRangeException">A value out of its range.</exception>
    public DqnOptions WithMultiplicativeExploration(double start, double end, double factor, ScheduleUnit unit = ScheduleUnit.Episodes) =>
        this with
        {
            Exploration = ScheduleModule.Multiplicative(Check.InRange(start, 0.0, 1.0, nameof(start)), Check.InRange(end, 0.0, 1.0, nameof(end)), factor),
            ExplorationUnit = unit
        };

    /// <summary>Returns a copy with <see cref="Loss"/> = <paramref name="loss"/>.</summary>
    /// <param name="loss"><see cref="TdLoss.Huber"/> or <see cref="TdLoss.Mse"/>.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="loss"/> is not a defined <see cref="TdLoss"/>.</exception>
    public DqnOptions WithLoss(TdLoss loss) => this with { Loss = loss };

    /// <summary>Returns a copy with <see cref="MaxGradNorm"/> = <paramref name="maxGradNorm"/>.</summary>
    /// <param name="maxGradNorm">Global L2 gradient-norm bound, positive; null: no clipping.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxGradNorm"/> is zero, negative or NaN.</exception>
    public DqnOptions WithMaxGradNorm(double? maxGradNorm) => this with { MaxGradNorm = maxGradNorm };

    /// <summary>Returns a copy with <see cref="DoubleDqn"/> = <paramref name="doubleDqn"/>.</summary>
    /// <param name="doubleDqn">True for the Double DQN target.</param>
    public DqnOptions WithDoubleDqn(bool doubleDqn = true) => this with { DoubleDqn = doubleDqn };

    /// <summary>Returns a copy with <see cref="Seed"/> = <paramref name="seed"/>.</summary>
    /// <param name="seed">Any value.</param>
    public DqnOptions WithSeed(int seed) => this with { Seed = seed };

    /// <summary>Returns a copy with <see cref="Device"/> = <paramref name="device"/>.</summary>
    /// <param name="device">"cpu", "cuda", "cuda:N" or "auto".</param>
    /// <exception cref="ArgumentNullException"><paramref name="device"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="device"/> is not one of "cpu", "cuda", "cuda:N", "auto".</exception>
    public DqnOptions WithDevice(string device) => this with { Device = device };


    /// <summary>Returns a copy with <see cref="EvalInterval"/> = <paramref name="evalInterval"/>.</summary>
    /// <param name="evalInterval">Agent steps between evaluations, non-negative; 0: none.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="evalInterval"/> is negative.</exception>
    public DqnOptions WithEvalInterval(int evalInterval) => this with { EvalInterval = evalInterval };

    /// <summary>Returns a copy with <see cref="EvalEpisodes"/> = <paramref name="evalEpisodes"/>.</summary>
    /// <param name="evalEpisodes">Episodes per evaluation, non-negative; 0: none.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="evalEpisodes"/> is negative.</exception>
    public DqnOptions WithEvalEpisodes(int evalEpisodes) => this with { EvalEpisodes = evalEpisodes };

    /// <summary>Returns a copy with <see cref="EvalEpsilon"/> = <paramref name="evalEpsilon"/>.</summary>
    /// <param name="evalEpsilon">ε during evaluation, in [0, 1].</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="evalEpsilon"/> is outside [0, 1] or NaN.</exception>
    public DqnOptions WithEvalEpsilon(double evalEpsilon) => this with { EvalEpsilon = evalEpsilon };

    /// <summary>The core's config for these options, checked by the core's <c>DqnConfig.validate</c>
    /// (which also checks BufferSize &gt;= BatchSize).</summary>
    /// <exception cref="ArgumentOutOfRangeException">A value, or the pair BufferSize/BatchSize, is out of range.</exception>
    internal DqnConfig ToConfig() =>
        DqnConfigModule.Validate(new DqnConfig(
            (FSharpList<int>)HiddenLayers, Gamma, LearningRate, AdamEpsilon, BatchSize, BufferSize, LearningStarts,
            TrainFrequency, GradientSteps, TargetUpdateInterval, Tau, Exploration, ExplorationUnit, Loss, OptionModule.OfNullable(MaxGradNorm),
            DoubleDqn, Seed, Devices.Parse(Device), EvalInterval, EvalEpisodes, EvalEpsilon,
            Dueling, Noisy, NoisySigma0, Head, Atoms, VMin, VMax, NStep, Prioritized, PriorityAlpha, PriorityBeta, PriorityWeightNormalization,
            PriorityEpsilon, IqnTauSamples, IqnTargetTauSamples, IqnPolicyTauSamples, IqnEmbeddingDim, Recurrent, LstmHidden,
            SequenceLength, BurnIn));

    /// <summary>The options mirroring a core config.</summary>
    internal static DqnOptions FromConfig(DqnConfig config) => new(config);

    private static FSharpList<int> CopyWidths(IEnumerable<int> widths)
    {
        var list = ListModule.OfSeq(Check.NotNull(widths, nameof(HiddenLayers)));
        foreach (var w in list.Where(w => w <= 0))
            throw Check.OutOfRange(nameof(HiddenLayers), w, "must contain only positive widths");
        return list;
    }
}
