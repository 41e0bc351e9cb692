namespace Dqn.Fun.ApeX

open System
open Dqn.Fun
open Dqn.Fun.Atari

/// <summary>What makes an Ape-X run an Atari run: the game, where its ROM lies, the training games' episode logic
/// and the learner's optimizer (Ape-X's actors step the ALE through the bridge, the learner keeps a prioritized
/// frame replay).</summary>
type ApeXAtari =
    { /// The ALE game (the ROM's name without .bin, e.g. "breakout").
      Game: string
      /// A ROM file on the learner's machine, which actor processes on the same machine use; null or empty: ale_py's
      /// own ROM of Game. An actor on another machine may name its own copy (apex-actor --rom).
      Rom: string
      /// The training games' episode logic (frame skip, no-ops, FIRE, life loss, frame limit, reward clipping, stack
      /// padding) of every actor.
      Settings: AtariSettings
      /// Sticky actions (Machado et al. 2018: 0.25).
      RepeatActionProbability: float
      /// The learner's optimizer.
      Optimizer: AtariOptimizer }

/// <summary>
/// Everything an Ape-X run needs (Horgan et al. 2018, "Distributed Prioritized Experience Replay", ICLR), immutable.
/// The learning settings are the single-machine agent's <c>DqnConfig</c> (<c>Dqn</c>): the learner uses its
/// network, optimizer, learning-rate schedule, n-step, γ, Double DQN, prioritized replay (α, β, ε, capacity), batch,
/// LearningStarts, TrainFrequency, GradientSteps, target sync and evaluation settings exactly as <c>Agent</c> does;
/// its Exploration schedule is replaced by each actor's fixed εᵢ. Units: agent steps are environment steps summed
/// over every env of every actor; updates are gradient steps.
/// </summary>
type ApeXConfig =
    { /// The DQN settings of the learner (and the network the actors copy). Prioritized must be true (Ape-X's replay)
      /// and Head Expected (actors compute priorities from expected values); Recurrent is not supported.
      Dqn: DqnConfig
      /// The classic-control environment every actor steps (Environments.ids, e.g. "CartPole-v1"); with Atari, a
      /// label of the run ("ALE/&lt;game&gt;").
      EnvironmentId: string
      /// Some: an Atari run (the Nature CNN over stacks of 84x84 frames, actors on the ALE through the bridge, a
      /// prioritized frame replay; agent steps are Settings.FrameSkip frames each). None: classic control.
      Atari: ApeXAtari option
      /// N, the number of actors the run expects (sets εᵢ; actors may join late or die).
      Actors: int
      /// Environments each actor steps as a vector (one agent step each per round).
      EnvsPerActor: int
      /// ε of the exploration formula εᵢ = ε^(1 + α·i/(N−1)) (Horgan et al. 2018, §4.1: 0.4).
      Epsilon: float
      /// α of that formula (Horgan et al. 2018: 7).
      EpsilonAlpha: float
      /// Agent steps an actor collects (per env) before it sends its transitions with their priorities (Horgan et al.
      /// 2018, Algorithm 1, B: 50).
      SendInterval: int
      /// Agent steps (per env) between an actor's requests for fresh parameters (Horgan et al. 2018: every 400 frames,
      /// 100 agent steps on Atari).
      ParameterInterval: int
      /// Experience messages an actor may have unacknowledged (flow control that holds the replay ratio: the learner
      /// acknowledges a message once the updates it granted are made).
      MaxInFlight: int
      /// Updates between the learner's parameter snapshots (what a request receives).
      PublishInterval: int
      /// The budget: agent steps summed over all actors; the learner stops the actors when it is reached, makes the
      /// updates still owed and evaluates.
      TotalSteps: int64
      /// Stored agent steps between the learner's training checkpoints when it is given a checkpoint folder; 0: at the
      /// end of the run only.
      CheckpointInterval: int64
      /// The address the learner's node binds (loopback by default; an interface or 0.0.0.0 to reach other machines).
      Hostname: string
      /// The address other nodes use to reach this one when it differs from Hostname (NAT, 0.0.0.0); null: Hostname.
      PublicHostname: string
      /// The learner's TCP port; 0 takes a free port (single-machine runs). Actors always bind a free port.
      Port: int }

/// <summary>Ape-X settings and the exploration formula.</summary>
[<RequireQualifiedAccess>]
module ApeXConfig =

    /// The actor system's name: every node of an Ape-X cluster runs one of this name.
    [<Literal>]
    let SystemName = "dqnfun-apex"

    /// <summary>εᵢ = ε^(1 + α·i/(N−1)) for actor i of N (Horgan et al. 2018, §4.1); ε for a lone actor.</summary>
    /// <exception cref="T:System.ArgumentOutOfRangeException">i outside 0 .. N−1, or N &lt; 1.</exception>
    [<CompiledName("ActorEpsilon")>]
    let actorEpsilon (epsilon: float) (alpha: float) (i: int) (n: int) =
        if n < 1 then raise (ArgumentOutOfRangeException("n", n, "the actor count must be positive"))
        if i < 0 || i >= n then raise (ArgumentOutOfRangeException("i", i, $"the actor index must be in 0 .. {n - 1}"))
        if n = 1 then epsilon else Math.Pow(epsilon, 1.0 + alpha * float i / float (n - 1))

    /// <summary>Ape-X on CartPole-v1: the classic-control defaults (DqnConfig.defaults, the single agent's 30k-step
    /// budget) with Ape-X's learner (Double DQN, 3-step returns, prioritized replay α 0.6, β 0.4 → 1), 2 actors of
    /// one env each, ε 0.4 and α 7, transitions sent every 50 agent steps, parameters pulled every 100, published
    /// every 10 updates, 2 messages in flight per actor; the learner on 127.0.0.1 at a free port.</summary>
    [<CompiledName("Defaults")>]
    let defaults =
        { Dqn = { DqnConfig.defaults with DoubleDqn = true; NStep = 3; Prioritized = true }
          EnvironmentId = "CartPole-v1"
          Atari = None
          Actors = 2
          EnvsPerActor = 1
          Epsilon = 0.4
          EpsilonAlpha = 7.0
          SendInterval = 50
          ParameterInterval = 100
          MaxInFlight = 2
          PublishInterval = 10
          TotalSteps = 30_000L
          CheckpointInterval = 0L
          Hostname = "127.0.0.1"
          PublicHostname = null
          Port = 0 }

    /// <summary>Ape-X on an Atari game from a preset of <c>AtariConfig</c> (e.g. dopamine): the preset's DQN settings,
    /// optimizer, episode logic and sticky actions with Ape-X's learner (Double DQN, 3-step returns, prioritized replay
    /// α 0.6, β 0.4 → 1; Horgan et al. 2018, §4.1) and the transport settings of <c>defaults</c>; TotalSteps the
    /// preset's 10M frames in agent steps. A preset with noisy nets or a distributional head is refused by
    /// <c>validate</c>.</summary>
    [<CompiledName("Atari")>]
    let atari (preset: AtariConfig) (game: string) (rom: string) =
        let steps = 10_000_000L / int64 preset.Environment.FrameSkip
        { defaults with
            Dqn =
                { preset.Dqn with
                    DoubleDqn = true
                    NStep = 3
                    Prioritized = true
                    PriorityAlpha = 0.6
                    PriorityBeta = Schedule.linear 0.4 1.0 steps }
            EnvironmentId = $"ALE/{game}"
            Atari =
                Some
                    { Game = game
                      Rom = rom
                      Settings = preset.Environment
                      RepeatActionProbability = preset.RepeatActionProbability
                      Optimizer = preset.Optimizer }
            TotalSteps = steps }

    /// <summary>Checks every field; returns the config unchanged.</summary>
    /// <exception cref="T:System.ArgumentException">An unknown environment, Prioritized off, a head other than
    /// Expected, Recurrent on, or an empty Hostname (the message names the field and its value).</exception>
    /// <exception cref="T:System.ArgumentOutOfRangeException">A count or interval that is not positive, ε outside
    /// [0, 1], α negative, Port outside 0 .. 65535.</exception>
    [<CompiledName("Validate")>]
    let validate (c: ApeXConfig) =
        let dqn = DqnConfig.validate c.Dqn
        match c.Atari with
        | Some a ->
            if String.IsNullOrWhiteSpace a.Game then invalidArg "Atari" "Atari.Game must name an ALE game (e.g. breakout)"
            AtariSettings.validate a.Settings |> ignore
            if not (a.RepeatActionProbability >= 0.0 && a.RepeatActionProbability < 1.0) then
                raise (ArgumentOutOfRangeException("Atari", a.RepeatActionProbability, $"Atari.RepeatActionProbability must be in [0, 1), got {a.RepeatActionProbability}"))
        | None when not (List.contains c.EnvironmentId Environments.ids) ->
            invalidArg "EnvironmentId" $"""EnvironmentId '{c.EnvironmentId}' is not a known environment; known: {String.Join(", ", Environments.ids)}"""
        | None -> ()
        if not dqn.Prioritized then invalidArg "Dqn" "Ape-X learns from prioritized replay: Dqn.Prioritized must be true"
        if dqn.Head <> ValueHead.Expected then
            invalidArg "Dqn" $"Ape-X's actors compute priorities from expected values: Dqn.Head must be Expected, got {dqn.Head}"
        if dqn.Noisy then invalidArg "Dqn" "Ape-X explores with each actor's εᵢ: Dqn.Noisy must be false"
        if dqn.Recurrent then invalidArg "Dqn" "Ape-X does not train recurrent networks (R2D2): Dqn.Recurrent must be false"
        let positive (name: string) (v: int64) =
            if v <= 0L then raise (ArgumentOutOfRangeException(name, v, $"{name} must be positive, got {v}"))
        positive "Actors" (int64 c.Actors)
        positive "EnvsPerActor" (int64 c.EnvsPerActor)
        positive "SendInterval" (int64 c.SendInterval)
        positive "ParameterInterval" (int64 c.ParameterInterval)
        positive "PublishInterval" (int64 c.PublishInterval)
        positive "MaxInFlight" (int64 c.MaxInFlight)
        positive "TotalSteps" c.TotalSteps
        if c.CheckpointInterval < 0L then
            raise (ArgumentOutOfRangeException("CheckpointInterval", c.CheckpointInterval, $"CheckpointInterval must be non-negative (0: at the end only), got {c.CheckpointInterval}"))
        if not (c.Epsilon >= 0.0 && c.Epsilon <= 1.0) then
            raise (ArgumentOutOfRangeException("Epsilon", c.Epsilon, $"Epsilon must be in [0, 1], got {c.Epsilon}"))
        if not (c.EpsilonAlpha >= 0.0) || Double.IsInfinity c.EpsilonAlpha then
            raise (ArgumentOutOfRangeException("EpsilonAlpha", c.EpsilonAlpha, $"EpsilonAlpha must be finite and non-negative, got {c.EpsilonAlpha}"))
        if String.IsNullOrWhiteSpace c.Hostname then invalidArg "Hostname" "Hostname must name an address to bind (127.0.0.1 for loopback)"
        if c.Port < 0 || c.Port > 65535 then
            raise (ArgumentOutOfRangeException("Port", c.Port, $"Port must be in 0 .. 65535 (0: a free port), got {c.Port}"))
        { c with Dqn = dqn }
