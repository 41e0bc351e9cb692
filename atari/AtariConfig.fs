namespace Dqn.Fun.Atari

open System
open System.Globalization
open Dqn.Fun

/// <summary>The optimizer of an Atari run (the learning rate is <c>Dqn.LearningRate</c>).</summary>
type AtariOptimizer =
    /// <summary>Adam (Kingma and Ba 2015) with this ε (Hessel et al. 2018 use 1.5e-4 = 0.01 / 64 with
    /// learning rate 6.25e-5).</summary>
    | Adam of epsilon: float
    /// <summary>RMSProp as <c>torch.optim.RMSprop</c>: squared-gradient smoothing <c>alpha</c>, <c>epsilon</c> and,
    /// when <c>centered</c>, the running mean of the gradient subtracted (the "gradient momentum" of Mnih et al.
    /// 2015, Extended Data Table 1: 0.95, 0.95, min squared gradient 0.01).</summary>
    | RmsProp of alpha: float * epsilon: float * centered: bool

/// <summary>How a run's agent is scored.</summary>
type EvaluationProtocol =
    /// <summary>Mnih et al. 2015 (Methods, evaluation procedure): separate evaluation games, each started with up
    /// to 30 no-op frames, played ε-greedily with ε = <c>Dqn.EvalEpsilon</c> (0.05) for at most 5 minutes of
    /// emulator time (18,000 frames), a lost life not ending the game; the score is the mean raw game return over
    /// <c>episodes</c> games.</summary>
    | Nature of episodes: int
    /// <summary>Machado et al. 2018 (section 5.2): no separate evaluation; the score is the mean raw return of the
    /// last <c>episodes</c> (100) training games, played with sticky actions.</summary>
    | Machado of episodes: int

/// <summary>
/// Everything an Atari run needs, immutable: the learning algorithm (a <see cref="T:Dqn.Fun.DqnConfig"/>), the
/// optimizer, the episode logic, sticky actions and the evaluation protocol. Start from
/// <c>AtariConfig.preset</c> and change fields with <c>{ c with ... }</c>.
/// </summary>
/// <remarks>Units. In <c>Dqn</c>, <c>LearningStarts</c>, <c>TrainFrequency</c>, the <c>Exploration</c>,
/// <c>LearningRate</c> and <c>PriorityBeta</c> schedules count <b>agent steps</b> (one action, FrameSkip = 4
/// emulator frames); <c>TargetUpdateInterval</c> counts <b>updates</b> (gradient steps); <c>BufferSize</c>
/// counts <b>transitions</b>. Fields of this record say their unit in their name. <c>AtariConfig.describe</c>
/// lists every value with its unit. <c>Dqn.Hidden</c> is unused (the torso is the Nature CNN), and so is
/// <c>Dqn.AdamEpsilon</c>: the optimizer and its ε are <c>Optimizer</c>.</remarks>
type AtariConfig =
    { /// <summary>The preset this config started from.</summary>
      Preset: string
      /// <summary>The learning algorithm; see the remarks for units.</summary>
      Dqn: DqnConfig
      Optimizer: AtariOptimizer
      /// <summary>Episode logic of training games.</summary>
      Environment: AtariSettings
      /// <summary>Sticky actions: the probability that the ALE repeats the previous action instead of the agent's,
      /// per emulator frame (Machado et al. 2018: 0.25; 0 is the deterministic ALE of Mnih et al. 2015). Applies
      /// to training and evaluation games.</summary>
      RepeatActionProbability: float
      Evaluation: EvaluationProtocol
      /// <summary>Emulator frames between evaluations (0: only at the end).</summary>
      EvalIntervalFrames: int64
      /// <summary>Emulator frames between checkpoints of the online network (0: only at the end).</summary>
      CheckpointIntervalFrames: int64 }

[<RequireQualifiedAccess>]
module AtariConfig =

    /// <summary>Names accepted by <c>preset</c>.</summary>
    [<CompiledName("PresetNames")>]
    let presetNames = [ "nature"; "dopamine"; "c51"; "qr"; "iqn"; "rainbow" ]

    /// <summary>Agent steps in a number of emulator frames at a frame skip.</summary>
    let private steps (frames: int) (frameSkip: int) = int64 (frames / frameSkip)

    /// <summary>Nature DQN (Mnih et al. 2015, Extended Data Table 1): RMSProp (learning rate 2.5e-4, gradient and
    /// squared-gradient momentum 0.95, min squared gradient 0.01, here torch's centered RMSprop), ε 1 → 0.1 over
    /// the first 1M frames (250k agent steps), replay of 1M transitions, learning from 50k agent steps on (the
    /// table's "replay start size"), an update every 4 agent steps, batch 32, target sync every 10k updates,
    /// γ 0.99, Huber loss (the "error clipping"), no gradient clipping; clipped rewards, life loss terminal,
    /// 30 no-op starts, no sticky actions; Nature evaluation (30 games, ε 0.05) every 1M frames.</summary>
    let private nature =
        let skip = AtariSettings.nature.FrameSkip
        { Preset = "nature"
          Dqn =
            { DqnConfig.defaults with
                Gamma = 0.99
                LearningRate = Schedule.constant 2.5e-4
                BatchSize = 32
                BufferSize = 1_000_000
                LearningStarts = 50_000
                TrainFrequency = 4
                GradientSteps = 1
                TargetUpdateInterval = 10_000
                Tau = 1.0
                Exploration = Schedule.linear 1.0 0.1 (steps 1_000_000 skip)
                Loss = TdLoss.Huber
                MaxGradNorm = None
                EvalEpsilon = 0.05
                EvalInterval = 0
                EvalEpisodes = 30 }
          Optimizer = RmsProp(0.95, 0.01, true)
          Environment = AtariSettings.nature
          RepeatActionProbability = 0.0
          Evaluation = Nature 30
          EvalIntervalFrames = 1_000_000L
          CheckpointIntervalFrames = 1_000_000L }

    /// <summary>Dopamine's DQN (Castro et al. 2018; its JAX <c>dqn.gin</c>): Adam (6.25e-5, ε 1.5e-4), ε 1 → 0.01
    /// over 250k agent steps (1M frames), learning from 20k agent steps, an update every 4 agent steps, target
    /// sync every 8k agent steps (2k updates), replay 1M, batch 32, γ 0.99, squared-error loss (Dopamine's JAX DQN
    /// default since 2022, after Obando-Ceron and Castro 2021, arXiv:2011.14826; its published Breakout curve, 5
    /// seeds, averages 6.5 over 1-2M frames and 15.2 over 2-3M, where its older RMSProp + Huber DQN averages 3.9);
    /// Machado et al. 2018's
    /// setting: sticky actions 0.25, no life-loss terminals, no no-op starts, no FIRE on reset; scored by
    /// Machado's protocol (last 100 training games); evaluation ε 0.001.</summary>
    let private dopamine =
        { nature with
            Preset = "dopamine"
            Dqn =
                { nature.Dqn with
                    LearningRate = Schedule.constant 6.25e-5
                    LearningStarts = 20_000
                    TargetUpdateInterval = 2_000
                    Loss = TdLoss.Mse
                    Exploration = Schedule.linear 1.0 0.01 250_000L
                    EvalEpsilon = 0.001 }
            Optimizer = Adam 1.5e-4
            Environment = { AtariSettings.machado with FireOnReset = false }
            RepeatActionProbability = 0.25
            Evaluation = Machado 100 }

    /// <summary>The config of a preset: <c>nature</c> (Mnih et al. 2015), <c>dopamine</c> (Castro et al. 2018),
    /// and on Dopamine's schedule (sticky actions, Machado scoring, ε 0.01, target sync 8k agent steps):
    /// <c>c51</c> (Bellemare et al. 2017: 51 atoms on [−10, 10], Adam 2.5e-4, ε 3.125e-4), <c>qr</c> (Dabney et al.
    /// 2018a: 200 quantiles, κ = 1, Adam 5e-5, ε 3.125e-4), <c>iqn</c> (Dabney et al. 2018b: N = N' = 64 sampled
    /// levels, K = 32 for acting, a 64-cosine embedding, κ = 1, Adam 5e-5, ε 3.125e-4), <c>rainbow</c> (Hessel et al. 2018: C51 + dueling +
    /// noisy nets σ₀ 0.5 without ε-greedy + prioritized replay α 0.5, β 0.4 → 1 + 3-step returns + Double, Adam
    /// 6.25e-5, ε 1.5e-4).</summary>
    /// <exception cref="T:System.ArgumentException">An unknown name; the message lists the known ones.</exception>
    [<CompiledName("Preset")>]
    let preset (name: string) : AtariConfig =
        /// A family member on Dopamine's schedule: the head's fields, Adam with a learning rate and an ε.
        let onDopamine (preset: string) (learningRate: float) (adamEpsilon: float) (head: DqnConfig -> DqnConfig) =
            { dopamine with
                Preset = preset
                Dqn = head { dopamine.Dqn with LearningRate = Schedule.constant learningRate }
                Optimizer = Adam adamEpsilon }
        let c51Head (c: DqnConfig) = { c with Head = ValueHead.Categorical; Atoms = 51; VMin = -10.0; VMax = 10.0 }
        match (if isNull name then "" else name.Trim().ToLowerInvariant()) with
        | "nature" -> nature
        | "dopamine" -> dopamine
        | "c51" -> onDopamine "c51" 2.5e-4 3.125e-4 c51Head
        | "qr" -> onDopamine "qr" 5e-5 3.125e-4 (fun c -> { c with Head = ValueHead.Quantile; Atoms = 200 })
        | "iqn" ->
            onDopamine "iqn" 5e-5 3.125e-4 (fun c ->
                { c with
                    Head = ValueHead.Implicit
                    IqnTauSamples = 64
                    IqnTargetTauSamples = 64
                    IqnPolicyTauSamples = 32
                    IqnEmbeddingDim = 64 })
        | "rainbow" ->
            onDopamine "rainbow" 6.25e-5 1.5e-4 (fun c ->
                { c51Head c with
                    Dueling = true
                    Noisy = true
                    NoisySigma0 = 0.5
                    Exploration = Schedule.constant 0.0
                    Prioritized = true
                    PriorityAlpha = 0.5
                    // β anneals over 50M agent steps (200M frames), the length of the paper's runs.
                    PriorityBeta = Schedule.linear 0.4 1.0 50_000_000L
                    NStep = 3
                    DoubleDqn = true })
        | _ -> invalidArg "name" $"""unknown Atari preset '{name}'; known: {String.Join(", ", presetNames)}"""

    /// <summary>Checks the config: <c>DqnConfig.validate</c> on <c>Dqn</c>, <c>AtariSettings.validate</c>, and
    /// this record's fields; returns it.</summary>
    /// <exception cref="T:System.ArgumentOutOfRangeException">A field out of range; the message names it and its
    /// value.</exception>
    [<CompiledName("Validate")>]
    let validate (c: AtariConfig) =
        DqnConfig.validate c.Dqn |> ignore
        AtariSettings.validate c.Environment |> ignore
        let bad (name: string) (value: obj) (expected: string) =
            raise (ArgumentOutOfRangeException(name, value, $"{name} must be {expected}, got {value}"))
        if not (c.RepeatActionProbability >= 0.0 && c.RepeatActionProbability <= 1.0) then
            bad "RepeatActionProbability" c.RepeatActionProbability "in [0, 1]"
        match c.Optimizer with
        | Adam e when not (e >= 0.0 && Double.IsFinite e) -> bad "Optimizer" c.Optimizer "Adam with a finite ε >= 0"
        | RmsProp(a, e, _) when not (a >= 0.0 && a < 1.0 && e >= 0.0 && Double.IsFinite e) ->
            bad "Optimizer" c.Optimizer "RmsProp with alpha in [0, 1) and a finite ε >= 0"
        | _ -> ()
        match c.Evaluation with
        | Nature n | Machado n when n < 1 -> bad "Evaluation" c.Evaluation "a protocol with at least 1 episode"
        | _ -> ()
        if c.EvalIntervalFrames < 0L then bad "EvalIntervalFrames" c.EvalIntervalFrames "non-negative"
        if c.CheckpointIntervalFrames < 0L then bad "CheckpointIntervalFrames" c.CheckpointIntervalFrames "non-negative"
        c

    /// <summary>The settings of evaluation games under the Nature protocol: the training settings without
    /// life-loss terminals, with up to 30 no-op frames and a 5-minute (18,000-frame) cap.</summary>
    [<CompiledName("NatureEvaluationSettings")>]
    let natureEvaluationSettings (training: AtariSettings) =
        { training with TerminalOnLifeLoss = false; NoopMaxFrames = 30; MaxEpisodeFrames = 18_000 }

    let private inv (x: float) = x.ToString("R", CultureInfo.InvariantCulture)

    let private schedule (s: Schedule) = (Schedule.describe s).Replace(" steps", " agent steps")

    /// <summary>Every value of the config as (name with its unit, value) pairs, in a fixed order: what
    /// <c>bench atari</c> prints and writes to config.json.</summary>
    [<CompiledName("Describe")>]
    let describe (c: AtariConfig) : (string * string) list =
        let d = c.Dqn
        let e = c.Environment
        let skip = int64 e.FrameSkip
        [ "preset", c.Preset
          "frame_skip_frames_per_agent_step", string e.FrameSkip
          "gamma", inv d.Gamma
          "learning_rate_by_agent_step", schedule d.LearningRate
          "optimizer",
          (match c.Optimizer with
           | Adam eps -> $"adam(eps={inv eps})"
           | RmsProp(a, eps, centered) -> $"rmsprop(alpha={inv a}, eps={inv eps}, centered={centered})")
          "batch_size_transitions", string d.BatchSize
          "replay_capacity_transitions", string d.BufferSize
          "min_replay_history_agent_steps", string d.LearningStarts
          "min_replay_history_frames", string (int64 d.LearningStarts * skip)
          "update_period_agent_steps", string d.TrainFrequency
          "target_update_period_updates", string d.TargetUpdateInterval
          "target_update_period_agent_steps", string (int64 d.TargetUpdateInterval * int64 d.TrainFrequency)
          "epsilon_train_by_agent_step", schedule d.Exploration
          "epsilon_eval", inv d.EvalEpsilon
          "loss", string d.Loss
          "max_grad_norm", (match d.MaxGradNorm with Some m -> inv m | None -> "none")
          "double_dqn", string d.DoubleDqn
          "dueling", string d.Dueling
          "noisy", (if d.Noisy then $"sigma0={inv d.NoisySigma0}" else "False")
          "head", string d.Head
          "atoms",
          (match d.Head with
           | ValueHead.Expected -> "-"
           | ValueHead.Implicit -> $"N={d.IqnTauSamples}, N'={d.IqnTargetTauSamples}, K={d.IqnPolicyTauSamples}, embedding {d.IqnEmbeddingDim}"
           | _ -> string d.Atoms)
          "support", (if d.Head = ValueHead.Categorical then $"[{inv d.VMin}, {inv d.VMax}]" else "-")
          "n_step_agent_steps", string d.NStep
          "prioritized", (if d.Prioritized then $"alpha={inv d.PriorityAlpha}, beta={schedule d.PriorityBeta}" else "False")
          "noop_max_frames", string e.NoopMaxFrames
          "fire_on_reset", string e.FireOnReset
          "terminal_on_life_loss", string e.TerminalOnLifeLoss
          "max_episode_frames", string e.MaxEpisodeFrames
          "clip_rewards", string e.ClipRewards
          "repeat_action_probability", inv c.RepeatActionProbability
          "evaluation",
          (match c.Evaluation with
           | Nature n -> $"nature({n} games, 30 no-op starts, 18000-frame cap)"
           | Machado n -> $"machado(last {n} training games)")
          "eval_interval_frames", string c.EvalIntervalFrames
          "checkpoint_interval_frames", string c.CheckpointIntervalFrames
          "seed", string d.Seed
          "device", Devices.name d.Device
          "threads", string (TorchSharp.torch.get_num_threads ()) ]
