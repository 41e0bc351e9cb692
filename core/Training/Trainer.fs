namespace Dqn.Fun

open System
open System.Threading
open TorchSharp

/// <summary>What the updates made since the last <c>TrainingRun.TakeTally</c> measured (an episode's or a game's
/// updates, for its metrics).</summary>
[<Struct>]
type internal UpdateTally =
    { /// Mean TD loss of those updates (NaN if none).
      Loss: float
      /// Mean Q(s, a) of those updates (NaN if none).
      MeanQ: float
      /// Gradient updates over the agent's life when the tally was taken.
      Updates: int64 }

/// <summary>
/// The learning half of a DQN agent, one implementation for <c>Agent</c> (vectors of float32) and <c>AtariAgent</c>
/// (stacks of frames): the online and target networks and the agent's torch.Generator they draw from, the optimizer
/// and the learning-rate schedule, when agent steps grant gradient steps (Mnih et al. 2015, Algorithm 1; SB3's
/// <c>learning_starts</c>, <c>train_freq</c>, <c>gradient_steps</c>), the target sync every TargetUpdateInterval
/// updates, the tally of losses for episode metrics, the greedy action, and the part of a training checkpoint these
/// hold. An agent brings what differs: how a batch is drawn from its replay and learned from (<c>Begin</c>'s
/// <c>learnOnce</c>). Not thread-safe but for <c>TrainingRun</c>'s documented use; dispose it to free the networks.
/// </summary>
[<Sealed>]
type internal Trainer
    (
        config: DqnConfig,
        make: unit -> torch.nn.Module<Tensor, Tensor>,
        loaded: torch.nn.Module<Tensor, Tensor> option,
        reinitialise: bool,
        makeOptimizer: torch.nn.Module<Tensor, Tensor> -> float -> torch.optim.Optimizer
    ) =
    let device = config.Device
    /// The agent's own generator, seeded with config.Seed: the library's layers are initialised from it and noisy
    /// layers and IQN draw from it, so agents in one process do not change each other's numbers.
    let generator = new torch.Generator(uint64 (uint32 config.Seed), device)
    let online, target = QNetworks.onlineAndTarget generator make loaded reinitialise
    /// The C51 support [atoms] (null for other heads); owned here.
    let support = QNetworks.ownedSupportOf config device
    let mutable learningRate = Schedule.value config.LearningRate 0L
    let optimizer = makeOptimizer online learningRate
    let mutable updates = 0L
    let mutable disposed = false

    member _.Config = config
    member _.Device = device
    member _.Generator = generator
    member _.Online = online
    member _.Target = target
    /// The C51 support [atoms], or null.
    member _.Support = support
    member _.Optimizer = optimizer
    /// The learning rate of the last update.
    member _.LearningRate = learningRate
    /// Gradient updates over the agent's life.
    member _.Updates = updates
    /// Makes a fresh network of the online network's architecture (the actor's copy under overlap).
    member internal _.Make() = make ()

    /// ε at agent step `steps` after `episodes` training episodes (the step of config.Exploration in its unit).
    member _.Epsilon(steps: int64, episodes: int64) =
        Schedule.value config.Exploration (if config.ExplorationUnit = ScheduleUnit.Episodes then episodes else steps)

    /// Whether agent step `steps` (1-based, over the agent's life) grants updates: past LearningStarts, on a
    /// multiple of TrainFrequency, with at least a batch in the replay.
    member _.Grants(steps: int64, replayCount: int) =
        steps > int64 config.LearningStarts && steps % int64 config.TrainFrequency = 0L && replayCount >= config.BatchSize

    /// Sets the optimizer's learning rate to the schedule's at agent step `at`.
    member _.FollowSchedule(at: int64) =
        let lr = Schedule.value config.LearningRate at
        if lr <> learningRate then
            learningRate <- lr
            Learner.setLearningRate optimizer lr

    /// Counts an update and syncs the target network every TargetUpdateInterval updates (on the thread that updates).
    member internal _.Record() =
        updates <- updates + 1L
        if updates % int64 config.TargetUpdateInterval = 0L then QNetwork.updateTarget config.Tau target online

    /// <summary>The greedy action of `network` for one observation: the argmax of its Q-values (the expectation over
    /// atoms or quantiles for the distributional heads) for the [1; ...] input `input ()` makes, without gradient
    /// recording; every tensor made is freed.</summary>
    member this.Greedy(network: torch.nn.Module<Tensor, Tensor>, input: unit -> Tensor) = this.GreedyActions(network, input)[0]

    /// <summary>The greedy actions of `network` for a batch: the argmax per row of its Q-values for the [batch; ...]
    /// input `input ()` makes, without gradient recording; every tensor made is freed. int[batch].</summary>
    member _.GreedyActions(network: torch.nn.Module<Tensor, Tensor>, input: unit -> Tensor) : int[] =
        use _ = torch.no_grad ()
        use scope = torch.NewDisposeScope()
        let best = (QNetworks.qValues config.Head support (network.call (input ()))).argmax(1L)
        best.data<int64>().ToArray() |> Array.map int

    /// <summary>ε-greedy actions for the observations of n environments (Actor.epsilonGreedy per env, in env order,
    /// drawing from `rng`): the greedy actions of all come from one forward pass of `network` on the [n; ...] input
    /// `input ()`, made only when some env exploits. int[n].</summary>
    member this.EpsilonGreedyActions(network: torch.nn.Module<Tensor, Tensor>, rng: Random, epsilon: float, actionCount: int, n: int, input: unit -> Tensor) =
        Actor.epsilonGreedyBatch rng epsilon actionCount n (fun () -> this.GreedyActions(network, input))

    /// Writes `fingerprint`, the target network, the optimizer, the generators, the update count and the learning
    /// rate under names of `w` (AgentState).
    member _.SaveState(w: StateWriter, fingerprint: Map<string, string>, exploration: SeededRandom) =
        AgentState.save w fingerprint target optimizer generator exploration
        w.Int64("updates", updates)
        w.Float("learning_rate", learningRate)

    /// Reads what SaveState wrote (checking `fingerprint`); returns the exploration generator.
    member _.LoadState(r: StateReader, fingerprint: Map<string, string>) : SeededRandom =
        let rng = AgentState.load r fingerprint target optimizer generator config.Seed
        updates <- r.Int64 "updates"
        learningRate <- r.Float "learning_rate"
        Learner.setLearningRate optimizer learningRate
        rng

    /// <summary>Starts the updates of one Learn call: `learnOnce at` draws a batch and makes one gradient update for
    /// agent step `at` (it must guard its replay if the replay is written while it runs). With `overlap` the updates
    /// run on a learner thread of their own (TrainingRun). Dispose the run at the end of the call.</summary>
    member this.Begin(learnOnce: int64 -> UpdateMetrics, overlap: bool) = new TrainingRun(this, learnOnce, overlap)

    member _.Dispose() =
        if not disposed then
            disposed <- true
            optimizer.Dispose()
            online.Dispose()
            target.Dispose()
            generator.Dispose()
            if not (isNull support) then support.Dispose()

    interface IDisposable with
        member this.Dispose() = this.Dispose()

/// <summary>
/// The updates of one Learn call. Without overlap, <c>Train</c> makes the GradientSteps updates an agent step granted
/// on the calling thread, and acting uses the online network. With overlap (Horgan et al. 2018 separate acting from
/// learning the same way, across machines): a learner thread makes the granted updates, each at the agent step that
/// granted it (the learning rate and PER's β follow that step); <c>Train</c> waits whenever the learner is more than
/// one training period behind, so the replay ratio is the config's and acting runs at most TrainFrequency agent
/// steps ahead of the updates; the actor acts with its own copy of the online network, refreshed after every update
/// (its noisy layers and IQN levels draw from a generator of its own, seeded config.Seed + 1); <c>Quiesce</c> waits
/// for every granted update (evaluations, checkpoints, the end of the call).
/// </summary>
and [<Sealed>] internal TrainingRun(trainer: Trainer, learnOnce: int64 -> UpdateMetrics, overlap: bool) =
    let config = trainer.Config
    let online = trainer.Online
    // `sync` guards the grants, the counts and the tally; `netLock` the actor's network.
    let sync = obj ()
    let netLock = obj ()
    let grants = Collections.Generic.Queue<int64>()
    let mutable inFlight = false
    let mutable stopping = false
    let mutable learnerError: exn = null
    let mutable lossSum = 0.0
    let mutable qSum = 0.0
    let mutable tallied = 0
    let mutable disposed = false

    let record (m: UpdateMetrics) =
        lossSum <- lossSum + m.Loss
        qSum <- qSum + m.MeanQ
        tallied <- tallied + 1
        trainer.Record()

    let actorGenerator = if overlap then new torch.Generator(uint64 (uint32 config.Seed) + 1UL, trainer.Device) else null
    let actorNet =
        if overlap then
            let n = trainer.Make()
            QNetworks.drawFrom actorGenerator n
            QNetwork.updateTarget 1.0 n online
            n
        else null

    let learnerLoop () =
        try
            let mutable running = true
            while running do
                let next =
                    lock sync (fun () ->
                        while grants.Count = 0 && not stopping do
                            Monitor.Wait sync |> ignore
                        if grants.Count = 0 then None
                        else
                            inFlight <- true
                            Some(grants.Dequeue()))
                match next with
                | None -> running <- false
                | Some at ->
                    trainer.FollowSchedule at
                    QNetworks.resetNoise online
                    let m = learnOnce at
                    lock netLock (fun () -> QNetwork.updateTarget 1.0 actorNet online)
                    lock sync (fun () ->
                        record m
                        inFlight <- false
                        Monitor.PulseAll sync)
        with e ->
            lock sync (fun () ->
                learnerError <- e
                inFlight <- false
                grants.Clear()
                Monitor.PulseAll sync)

    let learner =
        if overlap then
            let t = Thread(learnerLoop, IsBackground = true, Name = "dqnfun-learner")
            t.Start()
            t
        else null

    let checkLearner () =
        if not (isNull learnerError) then
            raise (InvalidOperationException($"the learner thread failed: {learnerError.Message}", learnerError))

    /// Whether the updates run on a learner thread.
    member _.Overlapped = overlap

    /// <summary>The GradientSteps updates agent step `at` granted (Trainer.Grants): made here, or handed to the
    /// learner thread, which may then be at most one training period behind.</summary>
    /// <exception cref="T:System.InvalidOperationException">The learner thread failed (its error inside).</exception>
    member _.Train(at: int64) =
        if overlap then
            lock sync (fun () ->
                for _ in 1 .. config.GradientSteps do
                    grants.Enqueue at
                Monitor.PulseAll sync
                while grants.Count + (if inFlight then 1 else 0) > config.GradientSteps && isNull learnerError do
                    Monitor.Wait sync |> ignore)
            checkLearner ()
        else
            trainer.FollowSchedule at
            for _ in 1 .. config.GradientSteps do
                record (learnOnce at)

    /// Waits until every granted update is made (returns at once without overlap).
    member _.Quiesce() =
        if overlap then
            lock sync (fun () ->
                while (grants.Count > 0 || inFlight) && isNull learnerError do
                    Monitor.Wait sync |> ignore)
            checkLearner ()

    /// <summary>`act network` with the network that acts while training: the actor's copy under overlap (its noisy
    /// layers drawing fresh noise first, Fortunato et al. 2018, and no update writing it meanwhile), else the online
    /// network (fresh noise first).</summary>
    member _.Act(act: torch.nn.Module<Tensor, Tensor> -> 'a) : 'a =
        if overlap then
            lock netLock (fun () ->
                QNetworks.resetNoise actorNet
                act actorNet)
        else
            QNetworks.resetNoise online
            act online

    /// The mean loss and Q of the updates made since the last call (an episode's), and the update count; restarts it.
    member _.TakeTally() : UpdateTally =
        lock sync (fun () ->
            let t =
                { Loss = (if tallied > 0 then lossSum / float tallied else nan)
                  MeanQ = (if tallied > 0 then qSum / float tallied else nan)
                  Updates = trainer.Updates }
            lossSum <- 0.0
            qSum <- 0.0
            tallied <- 0
            t)

    /// Waits for the granted updates (errors ignored: Dispose runs while another may be in flight), stops the learner
    /// thread and frees the actor's copy.
    member this.Dispose() =
        if not disposed then
            disposed <- true
            if overlap then
                (try this.Quiesce() with _ -> ())
                lock sync (fun () ->
                    stopping <- true
                    Monitor.PulseAll sync)
                learner.Join()
                actorNet.Dispose()
                actorGenerator.Dispose()

    interface IDisposable with
        member this.Dispose() = this.Dispose()
