namespace Dqn.Fun

open System
open TorchSharp

/// What a schedule's step counts.
type ScheduleUnit =
    /// Agent steps (one action each).
    | AgentSteps = 0
    /// Finished training episodes (games on Atari), counted over the agent's life.
    | Episodes = 1

/// The regression loss on the TD error.
type TdLoss =
    /// Huber loss with delta 1: the "error clipping" of Mnih et al. 2015 (SB3's smooth-L1).
    | Huber = 0
    /// Squared error.
    | Mse = 1

/// What the Q-network outputs per action.
type ValueHead =
    /// One expected return per action (DQN).
    | Expected = 0
    /// A categorical distribution over Atoms atoms evenly spaced on [VMin, VMax] (C51, Bellemare, Dabney and
    /// Munos 2017), trained with the projected cross-entropy.
    | Categorical = 1
    /// Atoms quantiles of the return at the midpoints (2i+1)/(2 Atoms) (QR-DQN, Dabney et al. 2018a),
    /// trained with the quantile Huber loss (kappa 1).
    | Quantile = 2
    /// Quantile values at quantile levels τ ~ U(0, 1) sampled afresh for every state, read through a cosine
    /// embedding of τ (IQN, Dabney, Ostrovski, Silver and Munos 2018, "Implicit Quantile Networks for
    /// Distributional Reinforcement Learning", eq. 4), trained with the quantile Huber loss (kappa 1) over
    /// IqnTauSamples online and IqnTargetTauSamples target levels (eq. 3); Q-values for acting are means over
    /// IqnPolicyTauSamples levels. Named for the paper's "implicit" quantile function; Atoms is ignored.
    | Implicit = 3

/// Everything a DQN run needs, immutable. Units: "agent steps" are environment steps taken by the agent
/// (one action each); "updates" are gradient steps. Change fields with `{ c with ... }` in F# or the
/// facade's `With...` methods in C#.
type DqnConfig =
    { /// Hidden layer widths of the MLP Q-network, e.g. [64; 64].
      Hidden: int list
      /// Discount factor gamma in [0, 1].
      Gamma: float
      /// Adam learning rate as a function of the agent step (Schedule.constant for a fixed one).
      LearningRate: Schedule
      /// Adam epsilon.
      AdamEpsilon: float
      /// Transitions per gradient update.
      BatchSize: int
      /// Replay capacity in transitions.
      BufferSize: int
      /// Agent steps taken (ε-greedy, no updates) before learning starts.
      LearningStarts: int
      /// Agent steps between training rounds.
      TrainFrequency: int
      /// Gradient updates per training round.
      GradientSteps: int
      /// Gradient updates between target-network updates (Mnih et al. 2015's C).
      TargetUpdateInterval: int
      /// Polyak weight: target <- tau * online + (1 - tau) * target; 1.0 is a hard copy.
      Tau: float
      /// ε for acting, as a function of the agent step (or of the training episode, see ExplorationUnit).
      Exploration: Schedule
      /// What Exploration counts: agent steps (the default, as CleanRL and SB3) or finished training episodes (the
      /// per-episode ε decay of tutorials, e.g. Schedule.multiplicative 1.0 0.05 0.995).
      ExplorationUnit: ScheduleUnit
      /// TD-error loss.
      Loss: TdLoss
      /// Clip the gradients' global L2 norm to this (None: no clipping).
      MaxGradNorm: float option
      /// Use the Double DQN target (van Hasselt et al. 2016) instead of the DQN one.
      DoubleDqn: bool
      /// Seed for torch, replay sampling, exploration and environment resets.
      Seed: int
      /// Device for the networks and updates (torch.CPU, or a CUDA device from Devices.parse).
      Device: Device
      /// Agent steps between evaluations during Agent.Learn (0: none).
      EvalInterval: int
      /// Episodes per evaluation.
      EvalEpisodes: int
      /// ε during evaluation (0: greedy).
      EvalEpsilon: float
      /// Dueling streams V(s) + A(s, a) - mean A (Wang et al. 2016).
      Dueling: bool
      /// NoisyLinear output layers (the streams with Dueling) with factorised Gaussian noise (Fortunato et al.
      /// 2018), resampled at every action and update, off (mean weights) during evaluation; set Exploration to Schedule.constant 0 to explore by
      /// noise alone, as Rainbow does.
      Noisy: bool
      /// σ0 of the noisy layers (0.5 in the paper).
      NoisySigma0: float
      /// What the network outputs (expected values, C51 atoms, QR quantiles or IQN's sampled quantiles).
      Head: ValueHead
      /// Atoms (C51) or quantiles (QR-DQN); ignored for Expected and Implicit (IQN samples its levels).
      Atoms: int
      /// Support bounds of C51.
      VMin: float
      VMax: float
      /// Steps of the bootstrapped return (1: one-step Q-learning; 3 in Rainbow). The n-step returns never
      /// cross a terminal and bootstrap from the state where an episode was truncated.
      NStep: int
      /// Proportional prioritized replay (Schaul et al. 2016) instead of uniform sampling.
      Prioritized: bool
      /// Priority exponent alpha (0.6 in the paper's proportional variant, 0.5 in Rainbow).
      PriorityAlpha: float
      /// Importance-sampling exponent beta by agent step (annealed towards 1).
      PriorityBeta: Schedule
      /// How the importance-sampling weights are normalised: by the buffer's largest weight (Schaul et al. 2016,
      /// the default) or by the batch's (Dopamine).
      PriorityWeightNormalization: ImportanceWeightNormalization
      /// Added to |TD error| before the exponent, so no transition has priority 0.
      PriorityEpsilon: float
      /// IQN's N: quantile levels τ_i sampled per transition for the online network's Z_τ(s, a) in the loss (64
      /// in Dabney et al. 2018b); used only with Head = Implicit.
      IqnTauSamples: int
      /// IQN's N': levels τ'_j sampled per transition for the target distribution Z_τ'(s', a*) (64 in the paper).
      IqnTargetTauSamples: int
      /// IQN's K: levels sampled per state for the Q-values that pick actions (the greedy action and the
      /// bootstrap action a*), Q = mean_k Z_τk (32 in the paper).
      IqnPolicyTauSamples: int
      /// IQN's n: cosines cos(π i τ), i = 0 .. n-1, in the embedding of τ (64 in the paper).
      IqnEmbeddingDim: int
      /// DRQN (Hausknecht and Stone 2015): an LSTM of LstmHidden units between the MLP torso and the Q head,
      /// carried through each episode while acting (zeroed at its start) and trained on sequence replay
      /// (SequenceLength trained steps after BurnIn warm-up steps, Kapturowski et al. 2019). BatchSize then counts
      /// sequences. Not combined with Dueling, Noisy, a distributional Head, NStep > 1 or Prioritized.
      Recurrent: bool
      /// LSTM units of the recurrent network.
      LstmHidden: int
      /// Trained steps T per replayed sequence (agent steps).
      SequenceLength: int
      /// Steps before each replayed sequence's trained part that only warm up the LSTM state (R2D2's burn-in).
      BurnIn: int }

[<RequireQualifiedAccess>]
module DqnConfig =

    /// Defaults tuned for CartPole-v1 (the README's tables): MLP 128-128, Adam with its learning rate decayed
    /// linearly from 1e-3 to 1e-5 over the first 30k agent steps (then held at 1e-5), the Huber loss (the error
    /// clipping of Mnih et al. 2015), hard target sync every 100 updates. On TorchSharp (LibTorch 2.10) with the
    /// fused MLP update, at 30k agent steps, its best model reached >= 475 on seeds 0-9 and 10-19 (20 of 20) and its
    /// final model on 9 of 10 and 9 of 10; the previous defaults (constant 5e-4, squared error) had 19 and 14 of 20.
    [<CompiledName("Default")>]
    let defaults =
        { Hidden = [ 128; 128 ]
          Gamma = 0.99
          LearningRate = Schedule.linear 1e-3 1e-5 30_000L
          AdamEpsilon = 1e-8
          BatchSize = 64
          BufferSize = 100_000
          LearningStarts = 1_000
          TrainFrequency = 1
          GradientSteps = 1
          TargetUpdateInterval = 100
          Tau = 1.0
          Exploration = Schedule.linear 1.0 0.04 5_000L
          ExplorationUnit = ScheduleUnit.AgentSteps
          Loss = TdLoss.Huber
          MaxGradNorm = Some 10.0
          DoubleDqn = false
          Seed = 0
          Device = Devices.cpu ()
          EvalInterval = 2_500
          EvalEpisodes = 20
          EvalEpsilon = 0.0
          Dueling = false
          Noisy = false
          NoisySigma0 = 0.5
          Head = ValueHead.Expected
          Atoms = 51
          VMin = 0.0
          VMax = 100.0
          NStep = 1
          Prioritized = false
          PriorityAlpha = 0.6
          PriorityBeta = Schedule.linear 0.4 1.0 30_000L
          PriorityWeightNormalization = ImportanceWeightNormalization.BufferMax
          PriorityEpsilon = 1e-6
          IqnTauSamples = 64
          IqnTargetTauSamples = 64
          IqnPolicyTauSamples = 32
          IqnEmbeddingDim = 64
          Recurrent = false
          LstmHidden = 64
          SequenceLength = 8
          BurnIn = 4 }

    /// Names accepted by `preset`.
    [<CompiledName("PresetNames")>]
    let presetNames =
        [ "dqn"; "double"; "dueling"; "prioritized"; "nstep"; "noisy"; "c51"; "qr"; "iqn"; "rainbow"; "drqn" ]

    /// The settings of the "drqn" preset (Hausknecht and Stone 2015), tuned on MaskedCartPole-v1 (seed 0): one
    /// hidden layer of 64 before a 64-unit LSTM, 32 sequences of 8 trained steps after 4 burn-in steps per update,
    /// an update every 2 agent steps, Adam 1e-3 (5e-4 and an update every 4 steps learned several times slower),
    /// squared error.
    let private drqn =
        { defaults with
            Recurrent = true
            Hidden = [ 64 ]
            LstmHidden = 64
            SequenceLength = 8
            BurnIn = 4
            BatchSize = 32
            TrainFrequency = 2
            LearningRate = Schedule.constant 1e-3
            // Tuned with the squared error (the defaults' loss then); with Huber, seed 0 reached 247 by 9k agent steps.
            Loss = TdLoss.Mse }

    /// <summary>The defaults with one family member switched on (the classic-control settings; each can be
    /// combined with the others by hand): dqn (Mnih et al. 2015), double (van Hasselt et al. 2016), dueling
    /// (Wang et al. 2016), prioritized (Schaul et al. 2016, alpha 0.6, beta 0.4 -> 1), nstep (3 steps), noisy
    /// (Fortunato et al. 2018, no ε), c51 (Bellemare et al. 2017, 51 atoms on [0, 100]), qr (Dabney et al.
    /// 2018a, 50 quantiles), iqn (Dabney et al. 2018b, N = N' = 8 levels in the loss, K = 32, 64 cosines),
    /// rainbow (Hessel et al. 2018: C51 + dueling + noisy (sigma0 0.1) + prioritized (alpha 0.5) + 3-step +
    /// Double, Adam 1e-3), drqn (Hausknecht and Stone 2015: MLP [64], LSTM 64, sequences of 8 trained steps after
    /// 4 burn-in steps (Kapturowski et al. 2019), 32 per update every 2 agent steps, Adam 1e-3; for partially
    /// observed tasks such as MaskedCartPole-v1).</summary>
    /// <exception cref="System.ArgumentException">An unknown name; the message lists the known ones.</exception>
    [<CompiledName("Preset")>]
    let preset (name: string) =
        let d = defaults
        match (if isNull name then "" else name.Trim().ToLowerInvariant()) with
        | "dqn" -> d
        | "double" -> { d with DoubleDqn = true }
        | "dueling" -> { d with Dueling = true }
        | "prioritized" -> { d with Prioritized = true }
        | "nstep" -> { d with NStep = 3 }
        | "noisy" -> { d with Noisy = true; Exploration = Schedule.constant 0.0 }
        | "c51" -> { d with Head = ValueHead.Categorical; Atoms = 51 }
        | "qr" -> { d with Head = ValueHead.Quantile; Atoms = 50 }
        | "iqn" ->
            // N = N' = 8 rather than the paper's 64: its ablation (Dabney et al. 2018b, Figure 2) finds N = N' = 8
            // close to 64, and each level costs a pass through the head (64 x 64 = 4096 rows a batch, ~8x slower
            // on a CPU core); Tianshou's CartPole IQN uses 8 and 8 too. K = 32 and 64 cosines as in the paper.
            { d with Head = ValueHead.Implicit; IqnTauSamples = 8; IqnTargetTauSamples = 8 }
        | "rainbow" ->
            { d with
                Head = ValueHead.Categorical
                Atoms = 51
                Dueling = true
                Noisy = true
                Exploration = Schedule.constant 0.0
                Prioritized = true
                PriorityAlpha = 0.5
                NStep = 3
                DoubleDqn = true
                // Tuned on CartPole-v1 seed 1 only: sigma0 0.5 and Adam 5e-4 reached 300 in 30k steps,
                // 0.1 and 1e-3 reach 500 by 5k (Tianshou's CartPole Rainbow also uses noise 0.1).
                NoisySigma0 = 0.1
                LearningRate = Schedule.constant 1e-3 }
        | "drqn" -> drqn
        | _ -> invalidArg "name" $"""unknown preset '{name}'; known: {String.Join(", ", presetNames)}"""

    let private positive (name: string) (v: int) =
        if v <= 0 then raise (ArgumentOutOfRangeException(name, v, $"{name} must be positive"))

    let private nonNegative (name: string) (v: int) =
        if v < 0 then raise (ArgumentOutOfRangeException(name, v, $"{name} must be non-negative"))

    let private inRange (name: string) (lo: float) (hi: float) (v: float) =
        if not (v >= lo && v <= hi) then raise (ArgumentOutOfRangeException(name, v, $"{name} must be in [{lo}, {hi}]"))

    /// Returns the config unchanged, or raises ArgumentOutOfRangeException / ArgumentException naming the
    /// first field whose value is out of range.
    [<CompiledName("Validate")>]
    let validate (c: DqnConfig) =
        if isNull (box c.Hidden) then nullArg "Hidden"
        c.Hidden |> List.iter (positive "Hidden")
        inRange "Gamma" 0.0 1.0 c.Gamma
        if isNull (box c.LearningRate) then nullArg "LearningRate"
        let lr0 = Schedule.value c.LearningRate 0L
        if not (lr0 > 0.0 && Double.IsFinite lr0) then
            raise (ArgumentOutOfRangeException("LearningRate", lr0, "LearningRate must start positive and finite"))
        if not (c.AdamEpsilon >= 0.0) then raise (ArgumentOutOfRangeException("AdamEpsilon", c.AdamEpsilon, "AdamEpsilon must be non-negative"))
        positive "BatchSize" c.BatchSize
        positive "BufferSize" c.BufferSize
        if c.BufferSize < c.BatchSize then
            raise (ArgumentOutOfRangeException("BufferSize", c.BufferSize, $"BufferSize must be at least BatchSize ({c.BatchSize})"))
        nonNegative "LearningStarts" c.LearningStarts
        positive "TrainFrequency" c.TrainFrequency
        positive "GradientSteps" c.GradientSteps
        positive "TargetUpdateInterval" c.TargetUpdateInterval
        if not (c.Tau > 0.0 && c.Tau <= 1.0) then raise (ArgumentOutOfRangeException("Tau", c.Tau, "Tau must be in (0, 1]"))
        if isNull (box c.Exploration) then nullArg "Exploration"
        for step in [ 0L; Int64.MaxValue ] do
            inRange "Exploration" 0.0 1.0 (Schedule.value c.Exploration step)
        if not (Enum.IsDefined c.ExplorationUnit) then
            raise (ArgumentOutOfRangeException("ExplorationUnit", c.ExplorationUnit, "ExplorationUnit must be AgentSteps or Episodes"))
        match c.MaxGradNorm with
        | Some m when not (m > 0.0) -> raise (ArgumentOutOfRangeException("MaxGradNorm", m, "MaxGradNorm must be positive"))
        | _ -> ()
        nonNegative "EvalInterval" c.EvalInterval
        nonNegative "EvalEpisodes" c.EvalEpisodes
        inRange "EvalEpsilon" 0.0 1.0 c.EvalEpsilon
        if not (c.NoisySigma0 >= 0.0 && Double.IsFinite c.NoisySigma0) then
            raise (ArgumentOutOfRangeException("NoisySigma0", c.NoisySigma0, "NoisySigma0 must be non-negative and finite"))
        if not (Enum.IsDefined c.Head) then raise (ArgumentOutOfRangeException("Head", c.Head, "unknown value head"))
        if (c.Head = ValueHead.Categorical || c.Head = ValueHead.Quantile) && c.Atoms < 2 then
            raise (ArgumentOutOfRangeException("Atoms", c.Atoms, "Atoms must be at least 2 for a distributional head"))
        if c.Head = ValueHead.Categorical && not (c.VMin < c.VMax && Double.IsFinite c.VMin && Double.IsFinite c.VMax) then
            raise (ArgumentOutOfRangeException("VMax", c.VMax, $"VMin ({c.VMin}) must be below VMax, both finite"))
        positive "NStep" c.NStep
        inRange "PriorityAlpha" 0.0 1.0 c.PriorityAlpha
        if isNull (box c.PriorityBeta) then nullArg "PriorityBeta"
        for step in [ 0L; Int64.MaxValue ] do
            inRange "PriorityBeta" 0.0 1.0 (Schedule.value c.PriorityBeta step)
        if not (Enum.IsDefined c.PriorityWeightNormalization) then
            raise (
                ArgumentOutOfRangeException("PriorityWeightNormalization", c.PriorityWeightNormalization, "PriorityWeightNormalization must be BufferMax or BatchMax")
            )
        if not (c.PriorityEpsilon > 0.0 && Double.IsFinite c.PriorityEpsilon) then
            raise (ArgumentOutOfRangeException("PriorityEpsilon", c.PriorityEpsilon, "PriorityEpsilon must be positive and finite"))
        positive "IqnTauSamples" c.IqnTauSamples
        positive "IqnTargetTauSamples" c.IqnTargetTauSamples
        positive "IqnPolicyTauSamples" c.IqnPolicyTauSamples
        positive "IqnEmbeddingDim" c.IqnEmbeddingDim
        if c.Head = ValueHead.Implicit && c.Hidden.IsEmpty then
            invalidArg "Hidden" "Head = Implicit needs at least one hidden layer (Hidden = []): the embedding of τ multiplies the features before the last hidden layer"
        positive "LstmHidden" c.LstmHidden
        positive "SequenceLength" c.SequenceLength
        nonNegative "BurnIn" c.BurnIn
        if c.Recurrent then
            let unsupported (field: string) (value: obj) =
                invalidArg field $"Recurrent (DRQN) does not support {field} = {value}; switch one of them off"
            if c.Dueling then unsupported "Dueling" true
            if c.Noisy then unsupported "Noisy" true
            if c.Head <> ValueHead.Expected then unsupported "Head" c.Head
            if c.NStep <> 1 then unsupported "NStep" c.NStep
            if c.Prioritized then unsupported "Prioritized" true
        c

    /// The fields a training checkpoint records and Agent.Resume checks, as text (F#'s %A; floats in full): every
    /// field but the evaluation settings (EvalInterval, EvalEpisodes, EvalEpsilon), which do not change training.
    let internal fingerprint (c: DqnConfig) : Map<string, string> =
        let text (v: obj) =
            match v with
            | :? float as f -> f.ToString("R", Globalization.CultureInfo.InvariantCulture)
            | :? Device as d -> string d
            | v -> sprintf "%A" v
        Reflection.FSharpType.GetRecordFields(typeof<DqnConfig>)
        |> Array.filter (fun p -> not (p.Name.StartsWith "Eval"))
        |> Array.map (fun p -> p.Name, text (p.GetValue c))
        |> Map.ofArray
