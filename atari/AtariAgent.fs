namespace Dqn.Fun.Atari

open System
open System.Diagnostics
open System.Threading
open Dqn.Fun
open TorchSharp

/// <summary>One finished training game (several training episodes when a lost life is terminal).</summary>
type AtariGameMetrics =
    { /// <summary>Emulator frames of training so far over the agent's life (reset actions included) when the game
      /// ended.</summary>
      Frames: int64
      /// <summary>Agent steps so far (cumulative).</summary>
      AgentSteps: int64
      /// <summary>Gradient updates so far (cumulative).</summary>
      Updates: int64
      /// <summary>1-based number of the training game over the agent's life (across Learn calls and resumes).</summary>
      Game: int
      /// <summary>The game's raw score: the sum of unclipped ALE rewards.</summary>
      Return: float
      /// <summary>Agent steps the game took.</summary>
      AgentStepsInGame: int
      /// <summary>ε at the game's last agent step.</summary>
      Epsilon: float
      /// <summary>Mean loss of the updates made during the game (NaN if none).</summary>
      Loss: float
      /// <summary>Mean Q(s, a) of those updates (NaN if none).</summary>
      MeanQ: float
      /// <summary>Emulator frames per second of training time since Learn began (time in evaluations excluded).</summary>
      FramesPerSecond: float
      /// <summary>Agent steps per second of training time since Learn began.</summary>
      AgentStepsPerSecond: float }

/// <summary>A score under an evaluation protocol.</summary>
type AtariEvaluation =
    { /// <summary>Emulator frames of training over the agent's life when it was taken.</summary>
      Frames: int64
      AgentSteps: int64
      /// <summary>"nature" or "machado".</summary>
      Protocol: string
      /// <summary>Raw game scores it averages.</summary>
      Returns: float[]
      Mean: float
      Std: float }

/// <summary>What an Atari run reports as it goes.</summary>
type AtariEvent =
    | GameEnded of AtariGameMetrics
    | Evaluated of AtariEvaluation
    /// <summary>The agent's lifetime frames reached a multiple of CheckpointIntervalFrames (the frames): save now if you
    /// keep checkpoints.</summary>
    | CheckpointDue of frames: int64
    /// <summary>The emulator failed and <c>recover</c> brought it back; a fresh episode starts (the error).</summary>
    | Recovered of error: exn

/// <summary>The outcome of <c>AtariAgent.Learn</c>.</summary>
type AtariTrainingSummary =
    { Frames: int64
      AgentSteps: int64
      Updates: int64
      Games: int
      /// <summary>Seconds of the whole call, evaluations included.</summary>
      WallSeconds: float
      /// <summary>Seconds spent in evaluations (Nature games on evalEnv).</summary>
      EvaluationSeconds: float
      /// <summary>Training frames per second of training time (WallSeconds - EvaluationSeconds).</summary>
      FramesPerSecond: float
      /// <summary>Agent steps per second of training time.</summary>
      AgentStepsPerSecond: float
      Evaluations: AtariEvaluation list }

/// <summary>What AtariAgent's training loop steps: one AtariEnvironment (a vector of one, reset by the loop's step
/// as a vector environment resets) or an AtariVectorEnvironment. Stacks are [NumEnvs; stack; 84; 84] bytes.</summary>
type internal IAtariActing =
    abstract NumEnvs: int
    abstract Padding: StackPadding
    /// Emulator frames over the environments' lives, reset actions included.
    abstract TotalFrames: int64
    abstract Reset: seed: int option -> byte[]
    abstract Step: actions: int[] -> AtariVectorStep

module internal AtariActing =
    let ofEnvironment (env: AtariEnvironment) =
        { new IAtariActing with
            member _.NumEnvs = 1
            member _.Padding = env.Settings.Padding
            member _.TotalFrames = env.TotalFrames
            member _.Reset seed = match seed with Some s -> env.Reset s | None -> env.Reset()
            member _.Step actions =
                let s = env.Step actions[0]
                // A life-loss terminal resumes the game; a game over or a truncation starts a new one.
                { Observations = (if s.Terminated || s.Truncated then env.Reset() else s.Observation)
                  FinalObservations = s.Observation
                  Rewards = [| s.Reward |]
                  RawRewards = [| s.RawReward |]
                  Terminated = [| s.Terminated |]
                  Truncated = [| s.Truncated |]
                  GameOver = [| s.GameOver |]
                  LifeLost = [| s.LifeLost |]
                  Frames = [| s.Frames |] } }

    let ofVector (env: AtariVectorEnvironment) =
        { new IAtariActing with
            member _.NumEnvs = env.NumEnvs
            member _.Padding = env.Settings.Padding
            member _.TotalFrames = env.TotalFrames
            member _.Reset seed = env.Reset(match seed with Some s -> Nullable s | None -> Nullable())
            member _.Step actions = env.Step actions }

/// <summary>The frame-replay half of an Atari update, shared by AtariAgent and Ape-X's learner: a batch drawn from a
/// FrameReplayBuffer (uniform, or prioritized with β at the given agent step; n-step returns), its stacks' pixels
/// gathered straight into CPU staging tensors ([batch; frames; 84; 84] UInt8), the update on the trainer's networks
/// (Learner.updateOnTensors: importance weights when prioritized) and the batch's new priorities written back. Owns
/// the staging tensors; dispose it.</summary>
type internal FrameUpdater(dqn: DqnConfig, trainer: Trainer, frames: int) =
    let device = dqn.Device
    let batchShape = [| int64 dqn.BatchSize; int64 frames; 84L; 84L |]
    let obsBatch = torch.empty(batchShape, dtype = ScalarType.Byte).DetachFromDisposeScope()
    let nextBatch = torch.empty(batchShape, dtype = ScalarType.Byte).DetachFromDisposeScope()
    let priorities = Array.zeroCreate<float32> dqn.BatchSize

    /// Draws a batch for an update at agent step `at` and gathers its stacks' pixels into the staging tensors.
    member _.Sample(replay: FrameReplayBuffer, at: int64) =
        let b =
            if dqn.Prioritized then
                replay.SamplePrioritized(
                    dqn.BatchSize,
                    dqn.NStep,
                    dqn.Gamma,
                    Schedule.value dqn.PriorityBeta at,
                    dqn.PriorityWeightNormalization
                )
            else
                replay.Sample(dqn.BatchSize, dqn.NStep, dqn.Gamma)
        replay.Gather(b.ObservationSlots, Tensors.span<byte> obsBatch)
        replay.Gather(b.NextObservationSlots, Tensors.span<byte> nextBatch)
        b

    /// The gradient update on a batch Sample drew; when prioritized, the new priorities are left in Priorities.
    member _.UpdateOn(b: FrameBatch) =
        use scope = torch.NewDisposeScope()
        let onDevice (t: Tensor) = if device.``type`` = DeviceType.CPU then t else t.``to`` device
        let vector (a: float32[]) = Tensors.ofArray a [| int64 a.Length |] device
        Learner.updateOnTensors
            dqn
            trainer.Online
            trainer.Target
            trainer.Optimizer
            trainer.Support
            (onDevice obsBatch)
            (onDevice nextBatch)
            (Tensors.ofArray b.Actions [| int64 b.Actions.Length |] device)
            (vector b.Rewards)
            (vector b.Discounts)
            (if dqn.Prioritized then vector b.Weights else null)
            (if dqn.Prioritized then priorities else null)

    /// One gradient update from `replay` at agent step `at`; the replay is touched only under `replayLock` (the
    /// sampling and the new priorities), the update itself runs outside it.
    member this.LearnOnce(replay: FrameReplayBuffer, replayLock: obj, at: int64) =
        let b = lock replayLock (fun () -> this.Sample(replay, at))
        let m = this.UpdateOn b
        if dqn.Prioritized then lock replayLock (fun () -> replay.UpdatePriorities(b.Indices, priorities))
        m

    /// The torch optimizer of an AtariOptimizer over `online`'s parameters at learning rate `lr` (Trainer's factory).
    static member MakeOptimizer (optimizer: AtariOptimizer) (online: torch.nn.Module<Tensor, Tensor>) (lr: float) : torch.optim.Optimizer =
        match optimizer with
        | Adam eps -> torch.optim.Adam(online.parameters (), lr = lr, eps = eps)
        | RmsProp(alpha, eps, centered) -> torch.optim.RMSProp(online.parameters (), lr = lr, alpha = alpha, eps = eps, centered = centered)

    member _.Dispose() =
        obsBatch.Dispose()
        nextBatch.Dispose()

    interface IDisposable with
        member this.Dispose() = this.Dispose()

/// <summary>
/// DQN on Atari (Mnih et al. 2015, Algorithm 1) and its Rainbow-family variants over the Nature CNN: the
/// mutable shell that owns the online and target networks, the optimizer and the frame replay, and runs the
/// training loop over an <see cref="T:Dqn.Fun.Atari.AtariEnvironment"/> or an
/// <see cref="T:Dqn.Fun.Atari.AtariVectorEnvironment"/> counting emulator frames. The
/// algorithm and its units are those of <see cref="T:Dqn.Fun.Atari.AtariConfig"/>. Not thread-safe; dispose it
/// to free native memory.
/// </summary>
[<Sealed>]
type AtariAgent private (config: AtariConfig, actionCount: int, frames: int, network: torch.nn.Module<Tensor, Tensor> option) =
    let config = AtariConfig.validate config
    let dqn = config.Dqn
    do
        if actionCount <= 0 then raise (ArgumentOutOfRangeException("actionCount", actionCount, "actionCount must be positive"))
    let device = dqn.Device
    let torso = Torso.NatureCnn frames
    /// The networks, the optimizer, the schedules and the updates (shared with Agent).
    let trainer =
        new Trainer(
            dqn,
            (fun () -> QNetworks.createFor dqn torso actionCount device),
            network,
            true,
            FrameUpdater.MakeOptimizer config.Optimizer
        )
    let online, target, optimizer, support = trainer.Online, trainer.Target, trainer.Optimizer, trainer.Support
    let frameBytes = 84 * 84
    let stackBytes = frames * frameBytes
    let mutable replayBuffer: FrameReplayBuffer option = None
    /// Exploration's generator (ε-greedy draws while training and in Act).
    let mutable rng = SeededRandom dqn.Seed
    let mutable agentSteps = 0L
    /// Emulator frames of training over the agent's life (reset actions included).
    let mutable lifetimeFrames = 0L
    /// The raw scores of the last training games (Machado's n, else 100), over the agent's life.
    let recentGames = Collections.Generic.Queue<float>()
    /// Training games finished over the agent's life (the step of Exploration with ExplorationUnit = Episodes).
    let mutable lifetimeGames = 0L
    let mutable disposed = false
    let updater = new FrameUpdater(dqn, trainer, frames)

    let checkAlive () = if disposed then raise (ObjectDisposedException "AtariAgent")

    let checkStack (what: string) (o: byte[]) =
        if isNull o then nullArg what
        if o.Length <> stackBytes then invalidArg what $"{what} has {o.Length} bytes, expected [{frames}; 84; 84] = {stackBytes}"

    /// ε-greedy with `network` (the online network or the actor's copy) on a frame stack.
    let actWith (network: torch.nn.Module<Tensor, Tensor>) (random: Random) (o: byte[]) (epsilon: float) =
        Actor.epsilonGreedy random epsilon actionCount (fun () ->
            trainer.Greedy(network, fun () -> Tensors.ofArray o [| 1L; int64 frames; 84L; 84L |] device))

    let act (random: Random) (o: byte[]) (epsilon: float) = actWith online random o epsilon

    /// The frame replay, made by the first Learn (its stack padding is the environment's).
    let ensureReplay (padding: StackPadding) (streams: int) =
        match replayBuffer with
        | Some r ->
            if r.Streams <> streams then
                invalidArg "env" $"the agent's frame replay keeps {r.Streams} episode streams (the environments it first learned from); this environment has {streams}"
            r
        | None ->
            let r =
                if dqn.Prioritized then
                    FrameReplayBuffer(dqn.BufferSize, dqn.Seed, frames, frameBytes, padding, dqn.PriorityAlpha, dqn.PriorityEpsilon, streams)
                else
                    FrameReplayBuffer(dqn.BufferSize, dqn.Seed, frames, frameBytes, padding, streams = streams)
            replayBuffer <- Some r
            r

    /// The newest frame of env i's stack in [n; stack; 84; 84] bytes.
    let newestFrame (stacks: byte[]) (i: int) = ReadOnlySpan(stacks, (i + 1) * stackBytes - frameBytes, frameBytes)

    let meanStd (xs: float[]) =
        let mean = Array.average xs
        mean, sqrt (xs |> Array.averageBy (fun r -> (r - mean) ** 2.0))

    /// The settings a checkpoint records and Resume checks: the DQN fields (DqnConfig.fingerprint) and the Atari ones
    /// that change training (the evaluation settings aside).
    let fingerprint () =
        DqnConfig.fingerprint dqn
        |> Map.add "Optimizer" (sprintf "%A" config.Optimizer)
        |> Map.add "Environment" (sprintf "%A" config.Environment)
        |> Map.add "RepeatActionProbability" (config.RepeatActionProbability.ToString("R", Globalization.CultureInfo.InvariantCulture))

    /// Writes everything but the online network and the replay's frames under names of `w`.
    let saveState (w: StateWriter) (framesPath: string) =
        w.Int64("action_count", int64 actionCount)
        w.Int64("stack_frames", int64 frames)
        trainer.SaveState(w, fingerprint (), rng)
        w.Int64("agent_steps", agentSteps)
        w.Int64("frames", lifetimeFrames)
        w.Int64("games", lifetimeGames)
        w.Doubles("recent_games", recentGames.ToArray())
        match replayBuffer with
        | Some r ->
            w.Text("replay.padding", string r.Padding)
            r.SaveState(w, "replay", framesPath)
        | None -> w.Text("replay.padding", "none")

    /// Reads what saveState wrote, after checking it was written by an agent of these settings.
    let loadState (r: StateReader) (framesPath: string) =
        let bad (msg: string) : 'a = raise (IO.InvalidDataException($"{r.Path}: {msg}"))
        let sizes = r.Int64 "action_count", r.Int64 "stack_frames"
        if sizes <> (int64 actionCount, int64 frames) then
            bad $"written for {fst sizes} actions and stacks of {snd sizes} frames; this agent has {actionCount} and {frames}"
        rng <- trainer.LoadState(r, fingerprint ())
        match r.Text "replay.padding" with
        | "none" -> ()
        | padding ->
            match [ StackPadding.Zeros; StackPadding.RepeatFirst ] |> List.tryFind (fun p -> string p = padding) with
            | Some p ->
                let streams = if r.Has "replay.streams" then r.Int("replay.streams", 1, Int32.MaxValue) else 1
                (ensureReplay p streams).LoadState(r, "replay", framesPath)
            | None -> bad $"replay.padding = '{padding}' is not a StackPadding"
        agentSteps <- r.Int64 "agent_steps"
        lifetimeFrames <- r.Int64 "frames"
        lifetimeGames <- r.Int64 "games"
        recentGames.Clear()
        for g in r.Doubles "recent_games" do
            recentGames.Enqueue g

    /// <summary>A new agent with fresh networks for <c>actionCount</c> actions over stacks of <c>frames</c>
    /// (default 4) 84×84 frames, initialised from the agent's own generator (seeded with <c>Dqn.Seed</c>; nothing
    /// process-wide is touched: LibTorch's thread count is the host's to set, <c>torch.set_num_threads</c>).</summary>
    /// <exception cref="T:System.ArgumentOutOfRangeException">A config field or actionCount out of range.</exception>
    new(config: AtariConfig, actionCount: int, ?frames: int) = new AtariAgent(config, actionCount, defaultArg frames 4, None)

    member _.Config = config
    member _.ActionCount = actionCount
    /// <summary>The online network: [batch; frames; 84; 84] UInt8 → [batch; actions] (or [batch; actions; atoms]).</summary>
    member _.Network = online
    member _.AgentSteps = agentSteps
    /// <summary>Emulator frames of training over the agent's life (reset actions included).</summary>
    member _.Frames = lifetimeFrames
    member _.Updates = trainer.Updates
    /// The frame replay (None before the first Learn; tests).
    member internal _.Replay = replayBuffer
    /// <summary>Transitions in the replay (0 before Learn).</summary>
    member _.ReplayCount = match replayBuffer with Some r -> r.Count | None -> 0

    /// <summary>The action index for a frame stack (byte[frames·84·84], oldest frame first): greedy by default,
    /// ε-greedy with <c>epsilon</c>; noisy layers act with their mean weights.</summary>
    member _.Act(stack: byte[], ?epsilon: float) =
        checkAlive ()
        checkStack "stack" stack
        QNetworks.setDeterministic online true
        try act rng stack (defaultArg epsilon 0.0) finally QNetworks.setDeterministic online false

    /// <summary>Plays <c>games</c> whole games on <c>env</c> with ε = <c>epsilon</c> (default Dqn.EvalEpsilon),
    /// no learning, noisy layers at their mean weights, exploration from its own Random(seed); a game ends at
    /// game over or when env truncates it (under the Nature protocol give env
    /// <c>AtariConfig.natureEvaluationSettings</c>). Returns the raw scores.</summary>
    /// <exception cref="T:System.ArgumentOutOfRangeException">games &lt; 1.</exception>
    member _.Evaluate(env: AtariEnvironment, games: int, ?epsilon: float, ?seed: int) : float[] =
        checkAlive ()
        if isNull (box env) then nullArg "env"
        if env.ActionCount <> actionCount then
            invalidArg "env" $"the environment has {env.ActionCount} actions, the agent {actionCount}"
        if games < 1 then raise (ArgumentOutOfRangeException("games", games, "games must be at least 1"))
        let epsilon = defaultArg epsilon dqn.EvalEpsilon
        let random = Random(defaultArg seed (dqn.Seed + 1_000_000))
        QNetworks.setDeterministic online true
        use _ = { new IDisposable with member _.Dispose() = QNetworks.setDeterministic online false }
        [| for _ in 1..games do
               let mutable o = env.Reset()
               let mutable score = 0.0
               let mutable over = false
               while not over do
                   let s = env.Step(act random o epsilon)
                   score <- score + float s.RawReward
                   o <- s.Observation
                   over <- s.GameOver || s.Truncated
                   if s.Terminated && not over then o <- env.Reset() // a life-loss terminal: the game goes on
               score |]

    /// <summary>Trains for <c>totalFrames</c> emulator frames of <c>env</c> (counted by env.TotalFrames, reset
    /// actions included): act ε-greedily (ε = Dqn.Exploration at the agent step; noisy layers draw fresh noise per
    /// action), store each step's newest frame, action, (clipped) reward and end in the frame replay; after
    /// Dqn.LearningStarts agent steps, every Dqn.TrainFrequency agent steps make Dqn.GradientSteps updates
    /// (uniform or prioritized sampling, n-step returns); every Dqn.TargetUpdateInterval updates copy the online
    /// network into the target. When the agent's lifetime frames (AtariAgent.Frames, which events report) pass a
    /// multiple of EvalIntervalFrames (and at the end) score the agent by config.Evaluation: Nature plays games on
    /// <c>evalEnv</c>, Machado averages the last training games (over the agent's life). The first call resets <c>env</c> as it is;
    /// every later call (and the first after Resume) starts a new game with the no-op generator seeded from Dqn.Seed
    /// and the agent steps (Agent.ResetSeed).</summary>
    /// <param name="env">Training environment (its settings should be config.Environment).</param>
    /// <param name="totalFrames">Emulator frames to train for in this call.</param>
    /// <param name="evalEnv">Evaluation environment for the Nature protocol (none: no Nature evaluations).</param>
    /// <param name="observer">Called on the training thread with every event.</param>
    /// <param name="recover">Called when env raises; returning true (after restarting the emulator) starts a fresh
    /// episode and training goes on, false rethrows. The replay keeps everything stored.</param>
    /// <param name="recoverEvaluation">Called when evalEnv raises during an evaluation; returning true (after
    /// restarting its emulator) plays that evaluation again from its first game, false rethrows.</param>
    /// <param name="cancellationToken">Checked before every agent step (before every round of a vector environment).</param>
    /// <param name="overlap">Learn on a thread of its own while this thread acts (default false). The replay ratio is
    /// the config's: the updates an agent step grants (Dqn.GradientSteps every Dqn.TrainFrequency steps) are made by
    /// the learner thread, and acting waits whenever the learner is more than one training period behind, so the actor
    /// runs at most Dqn.TrainFrequency agent steps ahead of the updates; evaluations, checkpoint events and the end
    /// of the call wait for every granted update. The actor acts with its own copy of the online network, refreshed
    /// after every update (its noisy layers and IQN levels draw from a generator of their own, seeded Dqn.Seed + 1).
    /// Counts (agent steps, updates, frames) are those of a run without overlap; the order of acting and learning is
    /// not, so a seeded run with overlap is not reproducible bit for bit (one without it is).</param>
    member this.Learn
        (
            env: AtariEnvironment,
            totalFrames: int64,
            ?evalEnv: AtariEnvironment,
            ?observer: AtariEvent -> unit,
            ?recover: exn -> bool,
            ?cancellationToken: CancellationToken,
            ?recoverEvaluation: exn -> bool,
            ?overlap: bool
        ) : AtariTrainingSummary =
        checkAlive ()
        if isNull (box env) then nullArg "env"
        if env.ActionCount <> actionCount then
            invalidArg "env" $"the environment has {env.ActionCount} actions, the agent {actionCount}"
        this.LearnOn(AtariActing.ofEnvironment env, totalFrames, evalEnv, observer, recover, cancellationToken, recoverEvaluation, overlap)

    /// <summary>Trains on a vector of Atari environments (AtariVectorEnvironment: N envs stepped together, e.g. over
    /// several bridge servers) as the single-environment Learn trains on one, which is this loop over a vector of
    /// one: every round the agent acts in all envs (ε-greedy per env; one batched forward pass of the envs that
    /// exploit), and each env's step is one agent step, so ε, the schedules, LearningStarts and the replay ratio
    /// (Dqn.GradientSteps updates every Dqn.TrainFrequency agent steps) follow the agent steps summed over the envs.
    /// Each env's frames go once into its own stream of the frame replay (FrameReplayBuffer with Streams = NumEnvs,
    /// each stream a region of Dqn.BufferSize / NumEnvs slots), so stacks and n-step windows never mix envs; games
    /// are scored per env. Frames are env.TotalFrames, summed over the envs; evaluations and checkpoint events are
    /// checked after every round. `recover` restarts the vector (every env starts a fresh game).</summary>
    /// <exception cref="T:System.ArgumentException">The vector's action count differs from the agent's, or the agent's
    /// replay was made for another number of envs.</exception>
    member this.Learn
        (
            env: AtariVectorEnvironment,
            totalFrames: int64,
            ?evalEnv: AtariEnvironment,
            ?observer: AtariEvent -> unit,
            ?recover: exn -> bool,
            ?cancellationToken: CancellationToken,
            ?recoverEvaluation: exn -> bool,
            ?overlap: bool
        ) : AtariTrainingSummary =
        checkAlive ()
        if isNull (box env) then nullArg "env"
        if env.ActionCount <> actionCount then
            invalidArg "env" $"the vector environment has {env.ActionCount} actions, the agent {actionCount}"
        this.LearnOn(AtariActing.ofVector env, totalFrames, evalEnv, observer, recover, cancellationToken, recoverEvaluation, overlap)

    /// The training loop of both Learn overloads (and of dqnfun-bench atari, which has either kind of environment).
    member internal this.LearnOn
        (
            env: IAtariActing,
            totalFrames: int64,
            evalEnv: AtariEnvironment option,
            observer: (AtariEvent -> unit) option,
            recover: (exn -> bool) option,
            cancellationToken: CancellationToken option,
            recoverEvaluation: (exn -> bool) option,
            overlap: bool option
        ) : AtariTrainingSummary =
        if totalFrames <= 0L then raise (ArgumentOutOfRangeException("totalFrames", totalFrames, "totalFrames must be positive"))
        let n = env.NumEnvs
        let replay = ensureReplay env.Padding n
        let observe = defaultArg observer ignore
        let recover = defaultArg recover (fun _ -> false)
        let recoverEvaluation = defaultArg recoverEvaluation (fun _ -> false)
        let ct = defaultArg cancellationToken CancellationToken.None
        let clock = Stopwatch.StartNew()
        // Time in evaluations, kept out of the throughput figures.
        let evaluationClock = Stopwatch()
        let trainingSeconds () = clock.Elapsed.TotalSeconds - evaluationClock.Elapsed.TotalSeconds
        let startFrames, startSteps, startUpdates, startLifetime = env.TotalFrames, agentSteps, trainer.Updates, lifetimeFrames
        let framesSoFar () = env.TotalFrames - startFrames
        /// Frames over the agent's life, this call's included.
        let lifetime () = startLifetime + framesSoFar ()
        let evaluations = ResizeArray<AtariEvaluation>()
        let mutable games = 0
        let gameReturns = Array.zeroCreate<float> n
        let gameSteps = Array.zeroCreate<int> n
        /// The replay is written here and sampled by the learner thread under overlap: both under this lock.
        let replayLock = obj ()
        use run = trainer.Begin((fun at -> updater.LearnOnce(replay, replayLock, at)), defaultArg overlap false)
        let evaluate () =
            let frames = lifetime ()
            evaluationClock.Start()
            let rec play (e: AtariEnvironment) (n: int) =
                try
                    this.Evaluate(e, n, dqn.EvalEpsilon, dqn.Seed + 1_000_000 + evaluations.Count)
                with ex when recoverEvaluation ex ->
                    observe (Recovered ex)
                    play e n
            let result =
                try
                    match config.Evaluation, evalEnv with
                    | Nature n, Some e -> Some("nature", play e n)
                    | Machado _, _ when recentGames.Count > 0 -> Some("machado", recentGames.ToArray())
                    | _ -> None
                finally
                    evaluationClock.Stop()
            match result with
            | Some(protocol, returns) ->
                let mean, std = meanStd returns
                let r = { Frames = frames; AgentSteps = agentSteps; Protocol = protocol; Returns = returns; Mean = mean; Std = std }
                evaluations.Add r
                observe (Evaluated r)
            | None -> ()
        /// Resets every env (a new game each, with the no-op generator seeded when `seed` is given) and starts an
        /// episode in each replay stream.
        let resetWith (seed: int option) =
            let rec attempt () =
                try
                    env.Reset seed
                with e when recover e ->
                    observe (Recovered e)
                    attempt ()
            let o = attempt ()
            lock replayLock (fun () ->
                for i in 0 .. n - 1 do
                    replay.StartEpisode(i, newestFrame o i))
            o
        // A later call (or a resumed agent) starts a new game with the no-op generator seeded from the seed and the
        // agent steps, so that a resumed run goes on as the run that was never stopped.
        let mutable obs = resetWith (if agentSteps = 0L then None else Some(Agent.ResetSeed(dqn.Seed, agentSteps)))
        lifetimeFrames <- lifetime ()
        /// The first multiple of `interval` after the agent's lifetime frames (never when interval <= 0).
        let nextMultiple (interval: int64) = if interval > 0L then (lifetime () / interval + 1L) * interval else Int64.MaxValue
        let mutable nextEval = nextMultiple config.EvalIntervalFrames
        let mutable nextCheckpoint = nextMultiple config.CheckpointIntervalFrames
        /// The actions of one round, ε-greedy per env with `network`; the greedy actions of all envs come from one
        /// forward pass, run only when some env exploits.
        let actAll (network: torch.nn.Module<Tensor, Tensor>) (o: byte[]) (epsilon: float) =
            if n = 1 then [| actWith network rng o epsilon |]
            else trainer.EpsilonGreedyActions(network, rng, epsilon, actionCount, n, fun () -> Tensors.ofArray o [| int64 n; int64 frames; 84L; 84L |] device)
        while framesSoFar () < totalFrames do
            ct.ThrowIfCancellationRequested()
            let epsilon = trainer.Epsilon(agentSteps, lifetimeGames)
            let o = obs
            let roundStart = lifetime ()
            let actions = run.Act(fun network -> actAll network o epsilon)
            match (try Ok(env.Step actions) with e when recover e -> Error e) with
            | Error e ->
                observe (Recovered e)
                // The games are lost: their scores are not reported; the replay keeps what it stored.
                Array.fill gameReturns 0 n 0.0
                Array.fill gameSteps 0 n 0
                obs <- resetWith None
            | Ok s ->
            // Frames of the round up to env i's step, the resets that ended episodes made aside (they count from
            // the next round's start on).
            let mutable stepFrames = roundStart
            for i in 0 .. n - 1 do
                stepFrames <- stepFrames + int64 s.Frames[i]
                lock replayLock (fun () ->
                    replay.Add(i, actions[i], float32 s.Rewards[i], newestFrame s.FinalObservations i, s.Terminated[i], s.Truncated[i]))
                agentSteps <- agentSteps + 1L
                lifetimeFrames <- stepFrames
                gameReturns[i] <- gameReturns[i] + float s.RawRewards[i]
                gameSteps[i] <- gameSteps[i] + 1
                if trainer.Grants(agentSteps, replay.Count) then run.Train agentSteps
                if s.GameOver[i] || s.Truncated[i] then
                    games <- games + 1
                    lifetimeGames <- lifetimeGames + 1L
                    let kept = match config.Evaluation with Machado n -> n | Nature _ -> 100
                    recentGames.Enqueue gameReturns[i]
                    while recentGames.Count > kept do
                        recentGames.Dequeue() |> ignore
                    let seconds = trainingSeconds ()
                    let tally = run.TakeTally()
                    observe (
                        GameEnded
                            { Frames = stepFrames
                              AgentSteps = agentSteps
                              Updates = tally.Updates
                              Game = int lifetimeGames
                              Return = gameReturns[i]
                              AgentStepsInGame = gameSteps[i]
                              Epsilon = epsilon
                              Loss = tally.Loss
                              MeanQ = tally.MeanQ
                              FramesPerSecond = float (stepFrames - startLifetime) / seconds
                              AgentStepsPerSecond = float (agentSteps - startSteps) / seconds }
                    )
                    gameReturns[i] <- 0.0
                    gameSteps[i] <- 0
                if s.Terminated[i] || s.Truncated[i] then
                    lock replayLock (fun () -> replay.StartEpisode(i, newestFrame s.Observations i))
            obs <- s.Observations
            lifetimeFrames <- lifetime ()
            if lifetime () >= nextEval then
                nextEval <- nextMultiple config.EvalIntervalFrames
                run.Quiesce()
                evaluate ()
            if lifetime () >= nextCheckpoint then
                nextCheckpoint <- nextMultiple config.CheckpointIntervalFrames
                run.Quiesce()
                observe (CheckpointDue(lifetime ()))
        run.Quiesce()
        lifetimeFrames <- lifetime ()
        // The final score (unless an evaluation just ran at this very frame count).
        if evaluations.Count = 0 || evaluations[evaluations.Count - 1].Frames <> lifetime () then evaluate ()
        let training = trainingSeconds ()
        { Frames = framesSoFar ()
          AgentSteps = agentSteps - startSteps
          Updates = trainer.Updates - startUpdates
          Games = games
          WallSeconds = clock.Elapsed.TotalSeconds
          EvaluationSeconds = evaluationClock.Elapsed.TotalSeconds
          FramesPerSecond = float (framesSoFar ()) / training
          AgentStepsPerSecond = float (agentSteps - startSteps) / training
          Evaluations = List.ofSeq evaluations }

    /// <summary>Saves the online network (atomically: a temporary file, then a rename) with its architecture
    /// and <c>extra</c> metadata (e.g. the game), readable by <c>AtariAgent.Load</c> and by
    /// <c>safetensors.torch.load_file</c>.</summary>
    member _.Save(path: string, ?extra: Map<string, string>) =
        checkAlive ()
        let extra =
            defaultArg extra Map.empty
            |> Map.add "preset" config.Preset
            |> Map.add "agent_steps" (string agentSteps)
            |> Map.add "gamma" (string dqn.Gamma)
        Checkpoint.saveFor path torso actionCount dqn online extra

    /// <summary>Writes a training checkpoint into the run's checkpoint folder `dir`: a folder step-&lt;AgentSteps&gt;
    /// holding model.safetensors (the online network, as Save writes it, with `extra`), state.safetensors (the target
    /// network, the optimizer's state, the learning rate, the frame replay's records and priorities, the agent's
    /// generators and its agent-step, frame, game and update counters) and frames.lz4 (the replay's frames,
    /// LZ4-compressed), written whole then renamed (TrainingCheckpoint); the newest `keep` (default 2) are kept.
    /// Returns the checkpoint's folder.</summary>
    member this.SaveCheckpoint(dir: string, ?keep: int, ?extra: Map<string, string>) : string =
        checkAlive ()
        TrainingCheckpoint.write dir agentSteps (defaultArg keep 2) (fun folder ->
            this.Save(IO.Path.Combine(folder, TrainingCheckpoint.ModelFile), defaultArg extra Map.empty)
            use w = new StateWriter()
            saveState w (IO.Path.Combine(folder, AtariAgent.FramesFile))
            w.Save(IO.Path.Combine(folder, TrainingCheckpoint.StateFile)))

    /// <summary>The file of a training checkpoint that holds the frame replay's frames.</summary>
    static member FramesFile = "frames.lz4"

    /// <summary>Continues an Atari run from a training checkpoint (SaveCheckpoint): `path` is a checkpoint folder or a
    /// run's checkpoint folder (its newest is read). Learn then goes on as the agent that wrote it would have: its
    /// first call starts a new game with the no-op generator seeded from the seed and the agent steps, as a later
    /// Learn call of that agent does (bit for bit when the emulator is deterministic after a reset; the ALE's sticky
    /// actions draw from the emulator's own generator, which the bridge does not reseed). `config` must be the run's
    /// (every training field is checked).</summary>
    /// <exception cref="T:System.IO.DirectoryNotFoundException">No checkpoint at `path`.</exception>
    /// <exception cref="T:System.ArgumentException">The checkpoint was written with another config (the message names
    /// the first field that differs).</exception>
    /// <exception cref="T:System.IO.InvalidDataException">A file of the checkpoint is malformed.</exception>
    static member Resume(path: string, config: AtariConfig) : AtariAgent =
        let folder = TrainingCheckpoint.resolve path
        let actions, frames =
            use r = new StateReader(IO.Path.Combine(folder, TrainingCheckpoint.StateFile))
            r.Int("action_count", 1, Int32.MaxValue), r.Int("stack_frames", 1, 64)
        let agent = new AtariAgent(config, actions, frames, None)
        try
            Checkpoint.loadInto (IO.Path.Combine(folder, TrainingCheckpoint.ModelFile)) agent.Network |> ignore
            agent.LoadState folder
            agent
        with _ ->
            agent.Dispose()
            reraise ()

    member private _.LoadState(folder: string) =
        use r = new StateReader(IO.Path.Combine(folder, TrainingCheckpoint.StateFile))
        loadState r (IO.Path.Combine(folder, AtariAgent.FramesFile))

    /// <summary>An agent with the network saved at <c>path</c> (by <c>Save</c>) and <c>config</c> (default: the
    /// preset recorded in the file, else "dopamine"), its architecture fields taken from the file; returns the
    /// agent and the file's metadata.</summary>
    /// <exception cref="T:System.IO.InvalidDataException">The file is not a Nature-CNN Q-network checkpoint.</exception>
    static member Load(path: string, ?config: AtariConfig) =
        // Read on the device the agent will use: the given config's (a preset's default is the CPU).
        let device = match config with Some c -> c.Dqn.Device | None -> torch.CPU
        let torsoOf, actions, network, metadata = Checkpoint.loadAny path device
        match torsoOf with
        | Torso.NatureCnn frames ->
            let config =
                match config with
                | Some c -> c
                | None -> AtariConfig.preset (defaultArg (metadata.TryFind "preset") "dopamine")
            let dqn = Checkpoint.withArchitecture metadata config.Dqn
            new AtariAgent({ config with Dqn = dqn }, actions, frames, Some network), metadata
        | _ ->
            network.Dispose()
            raise (IO.InvalidDataException($"{path}: an MLP checkpoint, not an Atari (Nature CNN) one"))

    member _.Dispose() =
        if not disposed then
            disposed <- true
            trainer.Dispose()
            updater.Dispose()

    interface IDisposable with
        member this.Dispose() = this.Dispose()
