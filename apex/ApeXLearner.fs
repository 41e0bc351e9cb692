namespace Dqn.Fun.ApeX

open System
open System.Collections.Concurrent
open System.Collections.Generic
open System.Diagnostics
open System.Threading
open Akka.Actor
open Akka.Cluster
open TorchSharp
open Dqn.Fun

/// What the learner reports every few seconds.
type ApeXProgress =
    { /// Agent steps stored, summed over actors.
      Steps: int64
      /// Gradient updates made.
      Updates: int64
      /// Actor nodes up and reachable in the cluster now.
      LiveActors: int
      /// Agent steps stored per actor id, in id order.
      ActorSteps: (int * int64)[]
      /// Agent steps stored per second since the run began (all actors).
      StepsPerSecond: float
      /// Updates per second since the run began.
      UpdatesPerSecond: float
      /// Training episodes the actors finished.
      Episodes: int
      /// Mean return of the last 100 training episodes (NaN before the first).
      MeanReturn: float
      /// Seconds since the run began.
      Seconds: float }

/// What an Ape-X run reports as it goes.
type ApeXEvent =
    | Progress of ApeXProgress
    | Evaluated of EvaluationResult
    /// An actor registered (its id); late joiners too.
    | ActorRegistered of int
    /// The count of actor nodes up and reachable changed (the new count).
    | LiveActorsChanged of int

/// The outcome of an Ape-X run.
type ApeXSummary =
    { /// Agent steps stored, summed over actors (the budget, overshot by at most one message).
      Steps: int64
      Updates: int64
      /// Training episodes the actors finished.
      Episodes: int
      /// Seconds of the run, evaluations included.
      Seconds: float
      /// Agent steps stored per second by this Run (all actors).
      StepsPerSecond: float
      /// Agent steps stored per actor id.
      ActorSteps: (int * int64)[]
      /// The most actor nodes up at once, and the fewest after the first registration.
      MaxLiveActors: int
      MinLiveActors: int
      /// Periodic evaluations (every Dqn.EvalInterval agent steps) and the final one, in order.
      Evaluations: EvaluationResult list
      /// The evaluation with the highest mean return.
      Best: EvaluationResult }

/// <summary>The learner of Ape-X (Horgan et al. 2018, Algorithm 2): the online and target networks and optimizer
/// (core's Trainer, as Agent has them), a prioritized replay filled at the actors' initial priorities (the side's:
/// PrioritizedReplayBuffer for classic control, FrameReplayBuffer for Atari), Double DQN n-step updates on
/// stratified prioritized batches with importance weights and priority write-back, parameter snapshots for the
/// actors, evaluation. Shared by the LearnerActor (Akka's threads: messages in) and the learning loop (`Run`, its own
/// thread: all training state); they meet only in thread-safe queues and fields. `emulators` makes the emulator the
/// Atari side reads the game's action count from.</summary>
type internal LearnerCore(config: ApeXConfig, observer: ApeXEvent -> unit, resumeFrom: string option, emulators: ApeXEmulators.Factory) =
    let config = ApeXConfig.validate config
    let dqn = config.Dqn
    let side: ILearningSide =
        match config.Atari with
        | None -> new ClassicLearning(config)
        | Some a -> new AtariLearning(config, a, ApeXEmulators.actionCount emulators a dqn.Seed)
    let trainer = side.Trainer
    let incoming = new BlockingCollection<struct (IExperience * IActorRef)>()
    let registered = ConcurrentDictionary<int, IActorRef>()
    let actorSteps = ConcurrentDictionary<int, int64>()
    let liveSync = obj ()
    let live = HashSet<Address>()
    let mutable maxLive = 0
    let mutable minLive = Int32.MaxValue
    let mutable anyRegistered = false

    /// Agent steps stored, updates made, training episodes and the next evaluation's step, over the run's life
    /// (a resumed run goes on from its checkpoint's).
    let mutable received = 0L
    let mutable made = 0L
    let mutable episodes = 0
    let mutable nextEval = if dqn.EvalInterval > 0 then int64 dqn.EvalInterval else Int64.MaxValue
    let fingerprint =
        DqnConfig.fingerprint dqn
        |> Map.add "apex.environment" config.EnvironmentId
        |> fun f ->
            match config.Atari with
            | Some a -> f |> Map.add "apex.atari" (sprintf "%A" { a with Rom = null })
            | None -> f

    do
        match resumeFrom with
        | None -> ()
        | Some path ->
            let folder = TrainingCheckpoint.resolve path
            try
                let file = Safetensors.load (IO.Path.Combine(folder, TrainingCheckpoint.ModelFile)) torch.CPU
                try
                    Checkpoint.loadParameters trainer.Online file.Tensors
                finally
                    for _, t in file.Tensors do
                        t.Dispose()
                use r = new StateReader(IO.Path.Combine(folder, TrainingCheckpoint.StateFile))
                side.LoadState(r, folder)
                trainer.LoadState(r, fingerprint) |> ignore
                received <- r.Int64 "apex.received"
                made <- r.Int64 "apex.updates"
                episodes <- int (r.Int64 "apex.episodes")
                nextEval <- r.Int64 "apex.next_eval"
            with _ ->
                side.Dispose()
                reraise ()

    let snapshotOf (version: int64) : Parameters =
        { Version = version
          Bytes = Safetensors.serialize (Checkpoint.namedParameters trainer.Online) Map.empty }

    let mutable snapshot = snapshotOf 0L

    member _.ActionCount = side.ActionCount
    /// The learning side (tests).
    member _.Side = side
    member _.Config = config
    /// The online network (read it only when Run is not running).
    member _.Online = trainer.Online
    /// The online network's torso: Mlp(observation size, Dqn.Hidden), or NatureCnn 4 for Atari.
    member _.Torso = side.Torso

    /// The newest parameter snapshot (any thread).
    member _.Snapshot = Volatile.Read &snapshot

    /// The Welcome of actor `actorId`, or None when the id is outside 0 .. Actors−1.
    member _.Register(actorId: int, actor: IActorRef) : Welcome option =
        if actorId < 0 || actorId >= config.Actors then None
        else
            registered[actorId] <- actor
            lock liveSync (fun () -> anyRegistered <- true)
            observer (ActorRegistered actorId)
            Some
                { ActorId = actorId
                  Actors = config.Actors
                  EnvironmentId = config.EnvironmentId
                  Envs = config.EnvsPerActor
                  Epsilon = ApeXConfig.actorEpsilon config.Epsilon config.EpsilonAlpha actorId config.Actors
                  Hidden = Array.ofList dqn.Hidden
                  Dueling = dqn.Dueling
                  NStep = dqn.NStep
                  Gamma = dqn.Gamma
                  SendInterval = config.SendInterval
                  ParameterInterval = config.ParameterInterval
                  MaxInFlight = config.MaxInFlight
                  Seed = dqn.Seed
                  Atari = config.Atari
                  Parameters = Volatile.Read &snapshot }

    /// Queues an actor's experience for the learning loop (any thread); `sender` gets the Ack.
    member _.Offer(e: IExperience, sender: IActorRef) =
        if not incoming.IsAddingCompleted then
            try incoming.Add(struct (e, sender)) with :? InvalidOperationException -> ()

    /// Records a cluster member event of an actor node.
    member _.MemberChanged(address: Address, up: bool) =
        let count =
            lock liveSync (fun () ->
                let changed = if up then live.Add address else live.Remove address
                if changed then
                    maxLive <- max maxLive live.Count
                    if anyRegistered then minLive <- min minLive live.Count
                    Some live.Count
                else None)
        count |> Option.iter (fun c -> observer (LiveActorsChanged c))

    /// Actor nodes up and reachable now.
    member _.LiveActors = lock liveSync (fun () -> live.Count)

    /// Writes the online network as a model checkpoint (Checkpoint.save; read it with Agent.Load or QNetwork loaders).
    member _.SaveModel(path: string) = Checkpoint.saveFor path side.Torso side.ActionCount dqn trainer.Online Map.empty

    /// Agent steps stored over the run's life.
    member _.Received = received
    /// Updates made over the run's life.
    member _.Updates = made
    /// Transitions in the replay.
    member _.ReplayCount = side.ReplayCount

    /// <summary>Writes a training checkpoint of the learner into `dir` (TrainingCheckpoint's folders step-&lt;stored
    /// agent steps&gt;, the newest 2 kept): model.safetensors (the online network) and state.safetensors (the target
    /// network, optimizer, generator, learning rate and update count as Agent writes them; the prioritized replay with
    /// its priorities and sampling generator; the stored-step, update, episode and next-evaluation counters; the
    /// config's fingerprint and the environment). Only between updates (the learning loop calls it).</summary>
    member this.SaveCheckpoint(dir: string) =
        TrainingCheckpoint.write dir received 2 (fun folder ->
            this.SaveModel(IO.Path.Combine(folder, TrainingCheckpoint.ModelFile))
            use w = new StateWriter()
            side.SaveState(w, folder)
            trainer.SaveState(w, fingerprint, SeededRandom dqn.Seed)
            w.Int64("apex.received", received)
            w.Int64("apex.updates", made)
            w.Int64("apex.episodes", int64 episodes)
            w.Int64("apex.next_eval", nextEval)
            w.Save(IO.Path.Combine(folder, TrainingCheckpoint.StateFile)))

    /// <summary>The learning loop, on the calling thread, until the budget is stored and its updates made: stores
    /// each message's n-step transitions at their actors' priorities; makes the updates the stored agent steps
    /// grant (Trainer.Grants' count: past LearningStarts, GradientSteps per TrainFrequency steps, a batch in the
    /// replay), each on a batch drawn with β at the stored step count, Double DQN n-step targets, importance weights
    /// and the batch's new priorities written back; acknowledges a message once its updates are made; snapshots the
    /// parameters every PublishInterval updates; evaluates every Dqn.EvalInterval stored steps and at the end; with
    /// `checkpoints`, writes a checkpoint there every config.CheckpointInterval stored steps (0: none on the way) and
    /// at the end. Then tells every registered actor to stop. Cancelling stops taking experience: the owed updates,
    /// the final evaluation and checkpoint still run.</summary>
    member this.Run(cancel: CancellationToken, checkpoints: string option) : ApeXSummary =
        let clock = Stopwatch.StartNew()
        let tf, ls, gs = int64 dqn.TrainFrequency, int64 dqn.LearningStarts, int64 dqn.GradientSteps
        let allowed () = if received <= ls then 0L else (received / tf - ls / tf) * gs
        let startSteps = received
        let acks = Queue<IActorRef>()
        let returns = Queue<float>()
        let evaluations = ResizeArray<EvaluationResult>()
        let interval = config.CheckpointInterval
        let mutable nextCheckpoint = if interval > 0L then (received / interval + 1L) * interval else Int64.MaxValue
        let mutable budgetReached = received >= config.TotalSteps
        let mutable finished = false
        let mutable lastProgress = 0.0
        let evaluate () =
            let e = side.Evaluate(received, returns.ToArray())
            evaluations.Add e
            observer (Evaluated e)
        let progress () =
            let seconds = clock.Elapsed.TotalSeconds
            observer (
                Progress
                    { Steps = received
                      Updates = made
                      LiveActors = lock liveSync (fun () -> live.Count)
                      ActorSteps = actorSteps |> Seq.map (fun kv -> kv.Key, kv.Value) |> Seq.sortBy fst |> Array.ofSeq
                      StepsPerSecond = float (received - startSteps) / max seconds 1e-9
                      UpdatesPerSecond = float made / max seconds 1e-9
                      Episodes = episodes
                      MeanReturn = (if returns.Count = 0 then nan else Seq.average returns)
                      Seconds = seconds }
            )
        let store (e: IExperience) =
            side.Store e
            received <- received + int64 e.Steps
            actorSteps.AddOrUpdate(e.ActorId, int64 e.Steps, fun _ s -> s + int64 e.Steps) |> ignore
            for r in e.EpisodeReturns do
                returns.Enqueue r
                if returns.Count > 100 then returns.Dequeue() |> ignore
            episodes <- episodes + e.EpisodeReturns.Length
        while not finished do
            if cancel.IsCancellationRequested then
                budgetReached <- true
            if made < allowed () && side.ReplayCount >= dqn.BatchSize then
                trainer.FollowSchedule received
                side.Update received
                trainer.Record()
                made <- made + 1L
                if made % int64 config.PublishInterval = 0L then Volatile.Write(&snapshot, snapshotOf trainer.Updates)
            else
                while acks.Count > 0 do
                    acks.Dequeue().Tell({ Received = received }: Ack)
                while received >= nextEval do
                    evaluate ()
                    nextEval <- nextEval + int64 dqn.EvalInterval
                if received >= nextCheckpoint then
                    checkpoints |> Option.iter (fun dir -> this.SaveCheckpoint dir |> ignore)
                    nextCheckpoint <- (received / interval + 1L) * interval
                if budgetReached then finished <- true
                else
                    let mutable item = Unchecked.defaultof<struct (IExperience * IActorRef)>
                    if incoming.TryTake(&item, 50) then
                        let struct (e, sender) = item
                        store e
                        acks.Enqueue sender
                        if received >= config.TotalSteps then budgetReached <- true
            if clock.Elapsed.TotalSeconds - lastProgress >= 2.0 then
                lastProgress <- clock.Elapsed.TotalSeconds
                progress ()
        incoming.CompleteAdding()
        for KeyValue(_, actor) in registered do
            actor.Tell({ Reason = "the learner reached its budget of agent steps" }: Stop)
        if evaluations.Count = 0 || evaluations[evaluations.Count - 1].Step <> received then evaluate ()
        checkpoints |> Option.iter (fun dir -> this.SaveCheckpoint dir |> ignore)
        progress ()
        let seconds = clock.Elapsed.TotalSeconds
        let liveMax, liveMin = lock liveSync (fun () -> maxLive, (if minLive = Int32.MaxValue then live.Count else minLive))
        { Steps = received
          Updates = made
          Episodes = episodes
          Seconds = seconds
          StepsPerSecond = float (received - startSteps) / max seconds 1e-9
          ActorSteps = actorSteps |> Seq.map (fun kv -> kv.Key, kv.Value) |> Seq.sortBy fst |> Array.ofSeq
          MaxLiveActors = liveMax
          MinLiveActors = liveMin
          Evaluations = List.ofSeq evaluations
          Best = evaluations |> Seq.maxBy (fun e -> e.MeanReturn) }

    member _.Dispose() =
        incoming.Dispose()
        side.Dispose()

    interface IDisposable with
        member this.Dispose() = this.Dispose()

/// The Akka actor of the learner node (path /user/learner): registers actors, queues their experience, answers
/// parameter requests with newer snapshots, and counts the actor nodes that are up and reachable.
type internal LearnerActor(core: LearnerCore) =
    inherit UntypedActor()

    override this.PreStart() =
        Cluster.Get(UntypedActor.Context.System).Subscribe(
            this.Self,
            ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents,
            [| typeof<ClusterEvent.IMemberEvent>; typeof<ClusterEvent.IReachabilityEvent> |]
        )

    override this.PostStop() = Cluster.Get(UntypedActor.Context.System).Unsubscribe this.Self

    override this.OnReceive(message: obj) =
        match message with
        | :? IExperience as e -> core.Offer(e, this.Sender)
        | :? ParametersRequest as r ->
            let s = core.Snapshot
            if s.Version > r.Have then this.Sender.Tell s
        | :? Register as r ->
            match core.Register(r.ActorId, this.Sender) with
            | Some w -> this.Sender.Tell w
            | None ->
                this.Sender.Tell(
                    { Reason = $"actor id {r.ActorId} is outside 0 .. {core.Config.Actors - 1} (the run's Actors)" }: Stop
                )
        | :? ClusterEvent.MemberUp as m when m.Member.HasRole "actor" -> core.MemberChanged(m.Member.Address, true)
        | :? ClusterEvent.IMemberEvent as m when m.Member.HasRole "actor" && m.Member.Status <> MemberStatus.Up ->
            core.MemberChanged(m.Member.Address, false)
        | :? ClusterEvent.UnreachableMember as u when u.Member.HasRole "actor" -> core.MemberChanged(u.Member.Address, false)
        | :? ClusterEvent.ReachableMember as r when r.Member.HasRole "actor" && r.Member.Status = MemberStatus.Up ->
            core.MemberChanged(r.Member.Address, true)
        | :? ClusterEvent.IMemberEvent
        | :? ClusterEvent.IReachabilityEvent -> ()
        | _ -> this.Unhandled message
