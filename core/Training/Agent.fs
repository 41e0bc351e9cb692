namespace Dqn.Fun

open System
open System.Diagnostics
open System.Threading
open TorchSharp

/// One finished training episode. Steps are agent steps.
type EpisodeMetrics =
    { /// Agent steps taken so far (cumulative) when the episode ended.
      Step: int64
      /// 1-based number of the training episode over the agent's life (across Learn calls and resumes).
      Episode: int
      /// Undiscounted sum of rewards.
      Return: float
      /// Agent steps in the episode.
      Length: int
      /// ε used at the episode's last step.
      Epsilon: float
      /// Mean TD loss over the updates made during the episode (NaN if none).
      Loss: float
      /// Mean Q(s, a) over those updates (NaN if none).
      MeanQ: float
      /// Gradient updates so far (cumulative).
      Updates: int64
      /// Agent steps per second of training time since Learn began (time in evaluations excluded).
      StepsPerSecond: float }

/// Returns of evaluation episodes, run with ε = EvalEpsilon and no learning.
type EvaluationResult =
    { /// Agent steps of training when the evaluation ran.
      Step: int64
      MeanReturn: float
      StdReturn: float
      Returns: float[]
      Lengths: int[] }

/// What a training run reports as it goes.
type TrainingEvent =
    | EpisodeEnded of EpisodeMetrics
    | Evaluated of EvaluationResult

/// The outcome of Agent.Learn.
type TrainingSummary =
    { /// Agent steps taken by this call.
      Steps: int64
      /// Gradient updates made by this call.
      Updates: int64
      /// Training episodes finished by this call.
      Episodes: int
      /// Seconds of the whole call, evaluations included.
      WallSeconds: float
      /// Seconds spent in periodic evaluations.
      EvaluationSeconds: float
      /// Agent steps per second of training time (WallSeconds - EvaluationSeconds).
      StepsPerSecond: float
      /// Periodic evaluations, in order (empty without an evaluation environment).
      Evaluations: EvaluationResult list }

/// Evaluation episodes, written once for Agent.Evaluate and the learners that evaluate without an Agent (Ape-X).
[<RequireQualifiedAccess>]
module internal Evaluation =
    /// The result of episodes with these returns and lengths at training step `steps`: mean and population standard
    /// deviation of the returns (NaN for none).
    let result (steps: int64) (returns: float[]) (lengths: int[]) : EvaluationResult =
        let mean = if returns.Length = 0 then nan else Array.average returns
        let std = if returns.Length = 0 then nan else sqrt (returns |> Array.averageBy (fun r -> (r - mean) ** 2.0))
        { Step = steps; MeanReturn = mean; StdReturn = std; Returns = returns; Lengths = lengths }

    /// <summary>Runs `episodes` episodes (each to termination or truncation) acting with `act random observation`,
    /// where `random` = Random(seed) is the exploration's generator of the evaluation alone; the first `reset` is
    /// seeded with `seed`, so equal seeds give equal start states; `startEpisode ()` runs before each episode (a
    /// recurrent state's reset). `steps` is recorded as the result's training step.</summary>
    let run
        (episodes: int)
        (seed: int)
        (steps: int64)
        (reset: Nullable<int> -> float32[])
        (step: int -> StepResult)
        (startEpisode: unit -> unit)
        (act: Random -> float32[] -> int)
        : EvaluationResult =
        if episodes <= 0 then raise (ArgumentOutOfRangeException("episodes", episodes, "episodes must be positive"))
        let random = Random(seed)
        let returns = Array.zeroCreate episodes
        let lengths = Array.zeroCreate episodes
        for i in 0 .. episodes - 1 do
            let mutable o = reset (if i = 0 then Nullable seed else Nullable())
            startEpisode ()
            let mutable fin = false
            while not fin do
                let r = step (act random o)
                returns[i] <- returns[i] + r.Reward
                lengths[i] <- lengths[i] + 1
                o <- r.Observation
                fin <- r.Terminated || r.Truncated
        result steps returns lengths

/// A DQN agent (Mnih et al. 2015) and its Rainbow-family variants (Hessel et al. 2018: Double, dueling,
/// prioritized replay, n-step returns, noisy nets, C51; and QR-DQN), switched on by the config: the stateful
/// shell around the pure parts. It owns (through Trainer, shared with AtariAgent) the online and target networks and
/// the optimizer, and itself the replay buffer (uniform or prioritized), the n-step accumulators and the exploration
/// RNG; Learn runs the training loop over one environment or a vector of them, where all mutation (environment
/// steps, replay writes, optimizer steps, priority updates) happens in plain sight. Dispose it to free the networks' native memory. With config.Recurrent (DRQN, Hausknecht and Stone 2015)
/// the network is a DrqnNetwork whose LSTM state is carried through each episode (zeroed at its start; Act carries
/// its own, zeroed by ResetState) and learning replays sequences (SequenceReplayBuffer, DrqnLearner.update).
[<Sealed>]
type Agent private (config: DqnConfig, observationSize: int, actionCount: int, source: QNetworkSource, network: torch.nn.Module<Tensor, Tensor> option) =
    let config = DqnConfig.validate config
    do
        if observationSize <= 0 then
            raise (ArgumentOutOfRangeException("observationSize", observationSize, "observationSize must be positive"))
        if actionCount <= 0 then raise (ArgumentOutOfRangeException("actionCount", actionCount, "actionCount must be positive"))
    let device = config.Device
    let spec = { ObservationSize = observationSize; Hidden = config.Hidden; ActionCount = actionCount }
    /// The networks, the optimizer, the schedules and the updates (shared with AtariAgent).
    let trainer =
        let builtIn =
            match source with
            | QNetworkSource.Built(Torso.Mlp _ | Torso.NatureCnn _) -> true
            | _ -> false
        new Trainer(
            config,
            (fun () -> QNetworkSource.create config observationSize actionCount device source),
            network,
            builtIn,
            fun online lr -> torch.optim.Adam(online.parameters (), lr = lr, eps = config.AdamEpsilon)
        )
    let online, target, optimizer, support = trainer.Online, trainer.Target, trainer.Optimizer, trainer.Support
    // Exactly one of the two buffers exists.
    let uniform =
        if config.Prioritized || config.Recurrent then None else Some(ReplayBuffer(config.BufferSize, observationSize, config.Seed))
    // DRQN (config.Recurrent): sequence replay, and the LSTM states of training and of Act.
    let drqn = match online with :? DrqnNetwork as n -> Some(n, target :?> DrqnNetwork) | _ -> None
    let sequences =
        if config.Recurrent then Some(SequenceReplayBuffer(config.BufferSize, observationSize, config.Seed)) else None
    let trainState = RecurrentState()
    let actState = RecurrentState()
    /// Whether the next stored step is the first of an episode.
    let mutable episodeStart = true
    let prioritized =
        if config.Prioritized then
            Some(PrioritizedReplayBuffer(config.BufferSize, observationSize, config.PriorityAlpha, config.PriorityEpsilon, config.Seed))
        else
            None
    let replayCount () =
        match uniform, prioritized with
        | Some u, _ -> u.Count
        | _, Some p -> p.Count
        | _ -> sequences |> Option.map (fun s -> s.Count) |> Option.defaultValue 0
    /// Guards the replay while a learner thread samples it (Learn with overlap).
    let replayLock = obj ()
    let store (o: float32[]) (a: int) (r: float32) (next: float32[]) (terminated: bool) (steps: int) =
        let start = episodeStart
        lock replayLock (fun () ->
            match uniform, prioritized with
            | Some u, _ -> u.Add(o, a, r, next, terminated, steps)
            | _, Some p -> p.Add(o, a, r, next, terminated, steps)
            | _ -> sequences |> Option.iter (fun s -> s.Add(o, a, r, next, terminated, start)))
        episodeStart <- false
    /// The n-step accumulators, one per environment of the Learn call under way (one outside Learn).
    let mutable accumulators = [| NStep.create config.NStep config.Gamma |]
    /// Stores the transitions the n-step accumulator completed.
    let storeCompleted (completed: NStepTransition list) =
        for e in completed do
            store e.Observation e.Action (float32 e.Return) e.NextObservation e.Terminated e.Steps
    /// Exploration's generator (ε-greedy draws while training and in Act).
    let mutable rng = SeededRandom config.Seed
    let mutable steps = 0L
    /// Training episodes finished over the agent's life (the step of Exploration with ExplorationUnit = Episodes).
    let mutable lifetimeEpisodes = 0L
    let mutable disposed = false

    let checkAlive () = if disposed then raise (ObjectDisposedException "Agent")

    let checkObservation (what: string) (o: float32[]) =
        if isNull o then nullArg what
        if o.Length <> observationSize then
            invalidArg what $"{what} has {o.Length} values but the agent expects observationSize = {observationSize}"
        for i in 0 .. o.Length - 1 do
            if not (Single.IsFinite o[i]) then
                invalidArg what $"{what} has {o[i]} at index {i}; observations must be finite (a NaN or infinity would reach every weight)"

    let plain = QNetworks.isPlain config

    /// The greedy action of `network` (the online network or the actor's copy of it) for one observation: a plain
    /// CPU MLP through FusedMlp's matrix-vector path.
    let greedy (network: torch.nn.Module<Tensor, Tensor>) (o: float32[]) =
        if plain then QNetwork.greedyAction network device o
        else trainer.Greedy(network, fun () -> Tensors.ofArray o [| 1L; int64 o.Length |] device)

    /// One gradient update from the replay at agent step `at` (uniform, or prioritized with importance weights and a
    /// priority update for the sampled transitions); the replay is read under `replayLock`, the update runs outside it.
    let learnOnce (at: int64) =
        match uniform, prioritized with
        | Some u, _ ->
            let b = lock replayLock (fun () -> u.Sample config.BatchSize)
            Learner.learn config online target optimizer device support b (Learner.discounts config.Gamma b) null null
        | _, Some p ->
            let pb =
                lock replayLock (fun () ->
                    p.Sample(config.BatchSize, Schedule.value config.PriorityBeta at, config.PriorityWeightNormalization))
            let priorities = Array.zeroCreate<float32> config.BatchSize
            let m =
                Learner.learn config online target optimizer device support pb.Batch (Learner.discounts config.Gamma pb.Batch) pb.Weights priorities
            lock replayLock (fun () -> p.UpdatePriorities(pb.Batch.Indices, priorities))
            m
        | _ ->
            match sequences, drqn with
            | Some s, Some(net, targetNet) ->
                let batch = lock replayLock (fun () -> s.Sample(config.BatchSize, config.BurnIn, config.SequenceLength))
                DrqnLearner.update config net targetNet optimizer device batch
            | _ -> invalidOp "no replay buffer"

    /// ε-greedy with `network`; for DRQN stepping `state` with every observation (random actions included).
    let actWith (network: torch.nn.Module<Tensor, Tensor>) (state: RecurrentState) (random: Random) (o: float32[]) (epsilon: float) =
        match network with
        | :? DrqnNetwork as net ->
            let a = Drqn.greedyAction net device state o
            Actor.epsilonGreedy random epsilon actionCount (fun () -> a)
        | _ -> Actor.epsilonGreedy random epsilon actionCount (fun () -> greedy network o)

    let actIn (state: RecurrentState) (random: Random) (o: float32[]) (epsilon: float) = actWith online state random o epsilon

    let checkEnv (env: IEnvironment) =
        if isNull (box env) then nullArg "env"
        if env.ObservationSize <> observationSize || env.ActionCount <> actionCount then
            invalidArg
                "env"
                $"the environment has ObservationSize = {env.ObservationSize}, ActionCount = {env.ActionCount}; the agent expects {observationSize} and {actionCount}"

    let stepEnv (env: IEnvironment) (action: int) =
        let r = env.Step action
        checkObservation "the environment's observation" r.Observation
        if not (Double.IsFinite r.Reward) then
            invalidArg "reward" $"the environment returned reward {r.Reward} for action {action}; rewards must be finite"
        r

    /// Writes everything but the online network (saved in its own file) under names of `w`.
    let saveState (w: StateWriter) =
        w.Int64("observation_size", int64 observationSize)
        w.Int64("action_count", int64 actionCount)
        trainer.SaveState(w, DqnConfig.fingerprint config, rng)
        w.Int64("steps", steps)
        w.Int64("episodes", lifetimeEpisodes)
        uniform |> Option.iter (fun u -> u.SaveState(w, "replay"))
        prioritized |> Option.iter (fun p -> p.SaveState(w, "replay"))
        sequences |> Option.iter (fun q -> q.SaveState(w, "replay"))
        // The n-step steps still waiting for their return (a checkpoint taken inside Learn), with their environments.
        let pending = accumulators |> Array.collect (fun a -> Array.ofList a.Pending)
        w.Ints("nstep.envs", accumulators |> Array.mapi (fun i a -> Array.create a.Pending.Length i) |> Array.concat)
        w.Floats("nstep.observations", pending |> Array.collect (fun t -> t.Observation))
        w.Floats("nstep.next_observations", pending |> Array.collect (fun t -> t.NextObservation))
        w.Ints("nstep.actions", pending |> Array.map (fun t -> t.Action))
        w.Floats("nstep.rewards", pending |> Array.map (fun t -> t.Reward))

    /// Reads what saveState wrote, after checking it was written by an agent of this config and these sizes.
    let loadState (r: StateReader) =
        let bad (msg: string) : 'a = raise (IO.InvalidDataException($"{r.Path}: {msg}"))
        let sizes = r.Int64 "observation_size", r.Int64 "action_count"
        if sizes <> (int64 observationSize, int64 actionCount) then
            bad $"written for observationSize = {fst sizes}, actionCount = {snd sizes}; this agent has {observationSize} and {actionCount}"
        rng <- trainer.LoadState(r, DqnConfig.fingerprint config)
        uniform |> Option.iter (fun u -> u.LoadState(r, "replay"))
        prioritized |> Option.iter (fun p -> p.LoadState(r, "replay"))
        sequences |> Option.iter (fun q -> q.LoadState(r, "replay"))
        steps <- r.Int64 "steps"
        lifetimeEpisodes <- r.Int64 "episodes"
        // Steps still waiting for their n-step return are stored as the end of a Learn call stores them.
        let o = r.Floats "nstep.observations"
        let next = r.Floats "nstep.next_observations"
        let actions = r.Ints "nstep.actions"
        let rewards = r.Floats "nstep.rewards"
        r.RequireLength("nstep.observations", actions.Length * observationSize, o)
        r.RequireLength("nstep.next_observations", actions.Length * observationSize, next)
        r.RequireLength("nstep.rewards", actions.Length, rewards)
        // Checkpoints written before vector environments hold one environment's steps.
        let envs = if r.Has "nstep.envs" then r.Ints "nstep.envs" else Array.zeroCreate actions.Length
        r.RequireLength("nstep.envs", actions.Length, envs)
        for env, count in Array.countBy id envs do
            if count >= config.NStep then bad $"{count} pending n-step steps of environment {env} for NStep = {config.NStep}"
        let mutable accs = Map.empty
        for i in 0 .. actions.Length - 1 do
            let step =
                { Observation = o[i * observationSize .. (i + 1) * observationSize - 1]
                  Action = actions[i]
                  Reward = rewards[i]
                  NextObservation = next[i * observationSize .. (i + 1) * observationSize - 1]
                  Terminated = false
                  Truncated = false }
            let acc = accs |> Map.tryFind envs[i] |> Option.defaultWith (fun () -> NStep.create config.NStep config.Gamma)
            accs <- accs |> Map.add envs[i] (fst (NStep.push acc step))
        accumulators <- [| NStep.create config.NStep config.Gamma |]
        episodeStart <- true
        for KeyValue(_, acc) in accs do
            storeCompleted (snd (NStep.flush acc))

    /// A new agent with freshly initialised networks for observations of `observationSize` values and
    /// `actionCount` actions, initialised from the agent's own generator (seeded with config.Seed; nothing
    /// process-wide is touched: LibTorch's thread count is the host's to set, torch.set_num_threads). Raises
    /// ArgumentOutOfRangeException / ArgumentException naming the first invalid config field or size.
    new(config: DqnConfig, observationSize: int, actionCount: int) =
        new Agent(config, observationSize, actionCount, QNetworkSource.Built(Torso.Mlp(observationSize, config.Hidden)), None)

    /// <summary>A new agent whose Q-networks come from `source`: the library's heads over a torso (Torso.Mlp,
    /// Torso.Custom with a TorchSharp module of your own), or a whole Q-network of your own
    /// (QNetworkSource.Network). Otherwise as the constructor without it.</summary>
    /// <exception cref="T:System.ArgumentException">The network's output for a batch of observations is not
    /// [batch; actionCount] (Expected head) or [batch; actionCount; atoms].</exception>
    new(config: DqnConfig, observationSize: int, actionCount: int, source: QNetworkSource) =
        new Agent(config, observationSize, actionCount, source, None)

    member _.Config = config
    member _.Spec = spec
    /// Where the Q-networks come from.
    member _.Source = source
    /// The online Q-network (a TorchSharp module): [batch; observationSize] -> [batch; actionCount] (or
    /// [batch; actionCount; atoms] for the distributional heads).
    member _.Network = online
    /// The target network θ⁻ (Mnih et al. 2015): the same architecture, parameters out of autograd.
    member _.TargetNetwork = target
    /// Agent steps taken by Learn, over the agent's life.
    member _.Steps = steps
    /// Gradient updates made, over the agent's life.
    member _.Updates = trainer.Updates
    member _.ReplayCount = replayCount ()
    /// The learning rate of the last update.
    member _.LearningRate = trainer.LearningRate

    /// The action for one observation (float32[observationSize]): greedy by default, ε-greedy when epsilon > 0.
    /// Raises ArgumentException when the observation has the wrong length.
    /// With config.Recurrent the LSTM state carries from call to call: call ResetState at every episode start.
    member _.Act(observation: float32[], ?epsilon: float) =
        checkAlive ()
        checkObservation "observation" observation
        actIn actState rng observation (defaultArg epsilon 0.0)

    /// Zeroes the LSTM state that Act carries (config.Recurrent; no effect otherwise): call it when an episode starts.
    member _.ResetState() =
        checkAlive ()
        actState.Reset()

    /// Runs `episodes` episodes with ε = epsilon and no learning. The first reset is seeded with `seed`, so
    /// equal seeds give equal start states; exploration draws from its own generator seeded with `seed`,
    /// so evaluating never changes the course of training.
    member _.Evaluate(env: IEnvironment, episodes: int, ?epsilon: float, ?seed: int) : EvaluationResult =
        checkAlive ()
        checkEnv env
        if episodes <= 0 then raise (ArgumentOutOfRangeException("episodes", episodes, "episodes must be positive"))
        let epsilon = defaultArg epsilon config.EvalEpsilon
        let seed = defaultArg seed (config.Seed + 1_000_000)
        // Noisy layers act with their mean weights while evaluating.
        QNetworks.setDeterministic online true
        use _ = { new IDisposable with member _.Dispose() = QNetworks.setDeterministic online false }
        let state = RecurrentState()
        let reset (s: Nullable<int>) =
            let o = env.Reset s
            checkObservation "the environment's observation" o
            o
        Evaluation.run episodes seed steps reset (stepEnv env) state.Reset (fun random o -> actIn state random o epsilon)

    /// <summary>Trains for `totalSteps` agent steps on `env` (Mnih et al. 2015, Algorithm 1, with the
    /// conventions of SB3/CleanRL): act ε-greedily with ε = config.Exploration at the agent's cumulative
    /// step; store (s, a, r, s', terminated); reset at episode end (terminated or truncated); once more than
    /// LearningStarts steps were taken, every TrainFrequency steps make GradientSteps updates; every
    /// TargetUpdateInterval updates move the target network towards the online one with weight Tau.
    /// With `evalEnv` and EvalInterval > 0, evaluates every EvalInterval agent steps (EvalEpisodes episodes,
    /// ε = EvalEpsilon, with its own generator: evaluations do not change training). The single-environment form of
    /// the vector Learn (a vector of one: the same loop, the same numbers as ever).</summary>
    /// <param name="env">Training environment; reset at the start of every call with a seed drawn from config.Seed and
    /// the agent's step count (Agent.ResetSeed: config.Seed itself on the first call), so a run resumed from a
    /// checkpoint (Resume) goes on exactly as the run that was never stopped.</param>
    /// <param name="totalSteps">Agent steps to take (not frames).</param>
    /// <param name="evalEnv">Optional separate environment for evaluations.</param>
    /// <param name="observer">Called on the training thread with every event.</param>
    /// <param name="cancellationToken">Checked before every agent step (before every round of a vector environment); raises OperationCanceledException.</param>
    /// <param name="overlap">Learn on a thread of its own while this thread acts (default false), as AtariAgent.Learn
    /// does (TrainingRun): the replay ratio is the config's (acting runs at most TrainFrequency agent steps ahead of
    /// the updates it granted), evaluations and the end of the call wait for every granted update, and the actor acts
    /// with its own copy of the online network refreshed after every update. Counts are those of a run without
    /// overlap; the order of acting and learning is not, so such a run is not reproducible bit for bit.</param>
    /// <exception cref="System.ArgumentException">env's sizes differ from the agent's, an observation has the
    /// wrong length, or a reward is NaN or infinite.</exception>
    member this.Learn
        (
            env: IEnvironment,
            totalSteps: int64,
            ?evalEnv: IEnvironment,
            ?observer: TrainingEvent -> unit,
            ?cancellationToken: CancellationToken,
            ?overlap: bool
        ) : TrainingSummary =
        checkAlive ()
        checkEnv env
        this.Learn(SingleVector env, totalSteps, ?evalEnv = evalEnv, ?observer = observer, ?cancellationToken = cancellationToken, ?overlap = overlap)

    /// <summary>Trains on a vector of environments (Gymnasium's vector environments, SB3's <c>VecEnv</c>): every
    /// round the agent acts in all NumEnvs environments at once (ε-greedy per environment, one batched forward pass
    /// for those that exploit), and each environment's transition counts as one agent step, in environment order:
    /// ε, the schedules, LearningStarts, TrainFrequency and EvalInterval follow the agent steps summed over the
    /// environments, so the replay ratio (GradientSteps updates per TrainFrequency agent steps) is the config's
    /// whatever NumEnvs (as in Horgan et al. 2018 and SB3's counting of num_timesteps). Each environment has its own
    /// episode, n-step accumulator and return; the vector's autoreset gives s' (FinalObservations) and the next
    /// episode's first observation apart. Otherwise as the single-environment Learn, which is this with a vector of
    /// one.</summary>
    /// <param name="env">The vector; reset at the start of every call with Agent.ResetSeed (env i gets that seed + i).</param>
    /// <param name="totalSteps">Agent steps to take, summed over the environments; the last round takes all NumEnvs
    /// steps, so a call may take up to NumEnvs - 1 more (TrainingSummary.Steps says how many).</param>
    /// <exception cref="System.ArgumentException">env's sizes differ from the agent's; an observation has the wrong
    /// length or a value that is not finite; a reward is NaN or infinite; DRQN (config.Recurrent) with more than one
    /// environment (its sequence replay holds one episode at a time).</exception>
    member this.Learn
        (
            env: IVectorEnvironment,
            totalSteps: int64,
            ?evalEnv: IEnvironment,
            ?observer: TrainingEvent -> unit,
            ?cancellationToken: CancellationToken,
            ?overlap: bool
        ) : TrainingSummary =
        checkAlive ()
        if isNull (box env) then nullArg "env"
        if env.ObservationSize <> observationSize || env.ActionCount <> actionCount then
            invalidArg
                "env"
                $"the vector environment has ObservationSize = {env.ObservationSize}, ActionCount = {env.ActionCount}; the agent expects {observationSize} and {actionCount}"
        let n = env.NumEnvs
        if n < 1 then invalidArg "env" $"the vector environment has NumEnvs = {n}; it needs at least one environment"
        if config.Recurrent && n > 1 then
            invalidArg "env" $"DRQN (config.Recurrent) learns from one environment (its sequence replay holds one episode at a time); the vector has NumEnvs = {n}"
        evalEnv |> Option.iter checkEnv
        if totalSteps <= 0L then raise (ArgumentOutOfRangeException("totalSteps", totalSteps, "totalSteps must be positive"))
        let observe = defaultArg observer ignore
        let ct = defaultArg cancellationToken CancellationToken.None
        let clock = Stopwatch.StartNew()
        // Time in evaluations, kept out of the throughput figures.
        let evaluationClock = Stopwatch()
        let trainingSeconds () = clock.Elapsed.TotalSeconds - evaluationClock.Elapsed.TotalSeconds
        let startSteps, startUpdates = steps, trainer.Updates
        let evaluations = ResizeArray()
        /// Row i of [n; observationSize] values (the array itself for a vector of one).
        let row (a: float32[]) (i: int) = if n = 1 then a else Array.sub a (i * observationSize) observationSize
        let checkObservations (a: float32[]) =
            if isNull a || a.Length <> n * observationSize then
                let values = if isNull a then 0 else a.Length
                let expected = if n = 1 then $"observationSize = {observationSize}" else $"NumEnvs * observationSize = {n} * {observationSize}"
                invalidArg "the environment's observation" $"the environment's observation has {values} values but the agent expects {expected}"
            for i in 0 .. a.Length - 1 do
                if not (Single.IsFinite a[i]) then
                    invalidArg
                        "the environment's observation"
                        $"the environment's observation has {a[i]} at index {i % observationSize} (environment {i / observationSize}); observations must be finite (a NaN or infinity would reach every weight)"
        let mutable obs = env.Reset(Nullable(Agent.ResetSeed(config.Seed, steps)))
        checkObservations obs
        trainState.Reset()
        episodeStart <- true
        // Every call starts fresh episodes: n-step returns never join a step of an earlier call (cut short by the
        // budget, an exception or a cancellation) to this one.
        accumulators <- Array.init n (fun _ -> NStep.create config.NStep config.Gamma)
        use run = trainer.Begin(learnOnce, defaultArg overlap false)
        let mutable episodes = 0
        let episodeReturns = Array.zeroCreate<float> n
        let episodeLengths = Array.zeroCreate<int> n
        let evaluate () =
            match evalEnv with
            | Some e when config.EvalEpisodes > 0 ->
                run.Quiesce()
                evaluationClock.Start()
                let r = try this.Evaluate(e, config.EvalEpisodes) finally evaluationClock.Stop()
                evaluations.Add r
                observe (Evaluated r)
            | _ -> ()
        /// The actions of one round, ε-greedy per environment with `network`; the greedy actions of all environments
        /// come from one forward pass, run only when some environment exploits.
        let actAll (network: torch.nn.Module<Tensor, Tensor>) (o: float32[]) (epsilon: float) =
            if n = 1 then [| actWith network trainState rng o epsilon |]
            else trainer.EpsilonGreedyActions(network, rng, epsilon, actionCount, n, fun () -> Tensors.ofArray o [| int64 n; int64 observationSize |] device)
        while steps - startSteps < totalSteps do
            ct.ThrowIfCancellationRequested()
            let epsilon = trainer.Epsilon(steps, lifetimeEpisodes)
            let o = obs
            let actions = run.Act(fun network -> actAll network o epsilon)
            let r = env.Step actions
            if isNull (box r) then invalidOp "the vector environment's Step returned null"
            checkObservations r.FinalObservations
            // A vector of one passes the step's array as both while no episode ends: check it once.
            if not (obj.ReferenceEquals(r.Observations, r.FinalObservations)) then checkObservations r.Observations
            for i in 0 .. n - 1 do
                if not (Double.IsFinite r.Rewards[i]) then
                    invalidArg "reward" $"the environment returned reward {r.Rewards[i]} for action {actions[i]}; rewards must be finite"
                let current, final = row o i, row r.FinalObservations i
                if config.NStep = 1 then
                    store current actions[i] (float32 r.Rewards[i]) final r.Terminated[i] 1
                else
                    let next, emitted =
                        NStep.push
                            accumulators[i]
                            { Observation = current
                              Action = actions[i]
                              Reward = float32 r.Rewards[i]
                              NextObservation = final
                              Terminated = r.Terminated[i]
                              Truncated = r.Truncated[i] }
                    accumulators[i] <- next
                    storeCompleted emitted
                steps <- steps + 1L
                episodeReturns[i] <- episodeReturns[i] + r.Rewards[i]
                episodeLengths[i] <- episodeLengths[i] + 1
                if trainer.Grants(steps, replayCount ()) then run.Train steps
                if r.Terminated[i] || r.Truncated[i] then
                    episodes <- episodes + 1
                    lifetimeEpisodes <- lifetimeEpisodes + 1L
                    let tally = run.TakeTally()
                    observe (
                        EpisodeEnded
                            { Step = steps
                              Episode = int lifetimeEpisodes
                              Return = episodeReturns[i]
                              Length = episodeLengths[i]
                              Epsilon = epsilon
                              Loss = tally.Loss
                              MeanQ = tally.MeanQ
                              Updates = tally.Updates
                              StepsPerSecond = float (steps - startSteps) / trainingSeconds () }
                    )
                    episodeReturns[i] <- 0.0
                    episodeLengths[i] <- 0
                    trainState.Reset()
                    episodeStart <- true
                if config.EvalInterval > 0 && steps % int64 config.EvalInterval = 0L then evaluate ()
            obs <- r.Observations
        run.Quiesce()
        // The budget ended mid-episode: the steps still waiting for their n-step return are stored with the partial
        // returns, bootstrapped from the last observation, as a truncation would store them.
        for i in 0 .. n - 1 do
            let rest, emitted = NStep.flush accumulators[i]
            accumulators[i] <- rest
            storeCompleted emitted
        let wall = clock.Elapsed.TotalSeconds
        let training = trainingSeconds ()
        { Steps = steps - startSteps
          Updates = trainer.Updates - startUpdates
          Episodes = episodes
          WallSeconds = wall
          EvaluationSeconds = evaluationClock.Elapsed.TotalSeconds
          StepsPerSecond = float (steps - startSteps) / training
          Evaluations = List.ofSeq evaluations }

    /// Every transition in the uniform replay buffer, in slot order (tests).
    member internal _.StoredTransitions() =
        match uniform with
        | Some u -> u.Stored()
        | None -> invalidOp "StoredTransitions reads the uniform replay buffer"

    /// Saves the online Q-network to a .safetensors file (atomically: temporary file, then rename). A network over
    /// a module of your own is saved in Checkpoint.FormatCustom: read it back with LoadParameters.
    member _.Save(path: string) =
        checkAlive ()
        let extra = Map [ "gamma", string config.Gamma; "steps", string steps ]
        match source with
        | QNetworkSource.Built torso -> Checkpoint.saveFor path torso actionCount config online extra
        | QNetworkSource.Network _ -> Checkpoint.saveCustom path actionCount config online extra

    /// <summary>Reads a checkpoint's parameters into the online network and copies them into the target network
    /// (Checkpoint.loadInto): for networks over modules of your own, or to start from saved weights.</summary>
    /// <exception cref="T:System.IO.InvalidDataException">The file's tensors do not match the network's parameters.</exception>
    member _.LoadParameters(path: string) =
        checkAlive ()
        let metadata = Checkpoint.loadInto path online
        QNetwork.updateTarget 1.0 target online
        metadata

    /// <summary>Writes a training checkpoint into the run's checkpoint folder `dir`: a folder step-&lt;Steps&gt; holding
    /// model.safetensors (the online network, as Save writes it) and state.safetensors (format
    /// dqnfun.training-state.v1: the target network, the optimizer's state in TorchSharp's state-dict format, the learning rate, the replay buffer with its priorities, the n-step steps waiting for their
    /// return, the agent's torch.Generator and exploration and replay generators, and the agent-step, episode and
    /// update counters), written whole and then renamed (TrainingCheckpoint); the newest `keep` (default 2)
    /// checkpoints are kept. Resume reads it back. Returns the checkpoint's folder.</summary>
    /// <exception cref="T:System.IO.IOException">The folder cannot be written.</exception>
    member this.SaveCheckpoint(dir: string, ?keep: int) : string =
        checkAlive ()
        TrainingCheckpoint.write dir steps (defaultArg keep 2) (fun folder ->
            this.Save(IO.Path.Combine(folder, TrainingCheckpoint.ModelFile))
            use w = new StateWriter()
            saveState w
            w.Save(IO.Path.Combine(folder, TrainingCheckpoint.StateFile)))

    /// <summary>Continues a run from a training checkpoint (SaveCheckpoint): `path` is a checkpoint folder or a run's
    /// checkpoint folder (its newest checkpoint is read). The agent gets back everything the checkpoint holds, so
    /// that Learn goes on exactly as it would have in the agent that wrote it (bit for bit on the CPU, given the same
    /// environment): ε, the learning rate and PER's β continue from the step counters, LearningStarts is not applied
    /// again, and n-step steps still waiting for their return are stored as the end of a Learn call stores them.
    /// `config` must be the run's (every field but the evaluation settings is checked); `source` as for the
    /// constructor (for a network of your own, the same module architecture).</summary>
    /// <exception cref="T:System.IO.DirectoryNotFoundException">No checkpoint at `path`.</exception>
    /// <exception cref="T:System.ArgumentException">The checkpoint was written with another config (the message
    /// names the first field that differs).</exception>
    /// <exception cref="T:System.IO.InvalidDataException">A file of the checkpoint is malformed or does not fit the
    /// networks and sizes it records.</exception>
    static member Resume(path: string, config: DqnConfig, ?source: QNetworkSource) : Agent =
        let folder = TrainingCheckpoint.resolve path
        let config = DqnConfig.validate config
        let observationSize, actionCount = TrainingCheckpoint.sizes folder
        let source = defaultArg source (QNetworkSource.Built(Torso.Mlp(observationSize, config.Hidden)))
        let agent = new Agent(config, observationSize, actionCount, source, None)
        try
            agent.LoadParameters(IO.Path.Combine(folder, TrainingCheckpoint.ModelFile)) |> ignore
            agent.LoadState(IO.Path.Combine(folder, TrainingCheckpoint.StateFile))
            agent
        with _ ->
            agent.Dispose()
            reraise ()

    member private _.LoadState(path: string) =
        use r = new StateReader(path)
        loadState r

    /// <summary>The seed of the environment reset that starts a Learn call after `steps` agent steps of an agent
    /// seeded with `seed`: `seed` itself at step 0, else a mix of the two (so that a resumed run resets as the run
    /// that went on would).</summary>
    static member ResetSeed(seed: int, steps: int64) : int =
        if steps = 0L then seed
        else int (uint32 seed * 2654435761u + uint32 steps + uint32 (steps >>> 32) * 40503u)

    /// Loads a Q-network saved by Save into a new agent with `config` (default: DqnConfig.defaults) whose
    /// architecture fields (Hidden, Dueling, Noisy, Head, Atoms, support) are those recorded in the file,
    /// ready to act or to keep learning.
    static member Load(path: string, ?config: DqnConfig) =
        let config = defaultArg config DqnConfig.defaults
        let spec, network, metadata = Checkpoint.load path config.Device
        let config = Checkpoint.withArchitecture metadata { config with Hidden = spec.Hidden }
        new Agent(config, spec.ObservationSize, spec.ActionCount, QNetworkSource.Built(Torso.Mlp(spec.ObservationSize, spec.Hidden)), Some network)

    member _.Dispose() =
        if not disposed then
            disposed <- true
            trainer.Dispose()

    interface IDisposable with
        member this.Dispose() = this.Dispose()
