namespace Dqn.Fun.ApeX

open System
open System.Threading
open Akka.Actor
open Akka.Cluster
open TorchSharp
open Dqn.Fun

/// What an actor's acting loop did.
type ActorReport =
    { ActorId: int
      /// Agent steps taken, summed over the actor's envs.
      Steps: int64
      /// Training episodes finished.
      Episodes: int
      /// Experience messages sent.
      Messages: int
      /// Parameter snapshots loaded after the first.
      ParameterLoads: int
      /// Seconds the loop ran.
      Seconds: float
      /// Why it stopped (the learner's Stop reason, or what went wrong).
      Reason: string }

/// <summary>What an actor node's acting loop hears from the learner. The ActorProxy writes it on Akka's threads; the
/// loop reads it on its own.</summary>
type internal ActorInbox() =
    let sync = obj ()
    let mutable welcome: Welcome option = None
    let mutable latest: Parameters option = None
    let mutable stop: string = null
    let mutable inFlight = 0

    /// The learner's Welcome, or None.
    member _.Welcome = lock sync (fun () -> welcome)
    member _.Welcomed(w: Welcome) =
        lock sync (fun () ->
            if welcome.IsNone then welcome <- Some w
            Monitor.PulseAll sync)

    /// Keeps `p` if it is newer than what is held.
    member _.Offer(p: Parameters) =
        lock sync (fun () ->
            match latest with
            | Some l when l.Version >= p.Version -> ()
            | _ -> latest <- Some p)

    /// Parameters newer than `version`, or None.
    member _.Newer(version: int64) =
        lock sync (fun () ->
            match latest with
            | Some l when l.Version > version -> Some l
            | _ -> None)

    /// Why the loop must stop, or null.
    member _.StopReason = lock sync (fun () -> stop)
    member _.Stopped(reason: string) =
        lock sync (fun () ->
            if isNull stop then stop <- reason
            Monitor.PulseAll sync)

    /// Counts a sent message.
    member _.Sent() = lock sync (fun () -> inFlight <- inFlight + 1)
    member _.Acked() =
        lock sync (fun () ->
            inFlight <- max 0 (inFlight - 1)
            Monitor.PulseAll sync)

    /// Waits until fewer than `limit` messages are unacknowledged (true), the loop must stop, or `timeout` passes
    /// (false).
    member _.WaitBelow(limit: int, timeout: TimeSpan) =
        let deadline = DateTime.UtcNow + timeout
        lock sync (fun () ->
            while inFlight >= limit && isNull stop && DateTime.UtcNow < deadline do
                Monitor.Wait(sync, TimeSpan.FromMilliseconds 100.0) |> ignore
            inFlight < limit)

    /// Waits for the Welcome (or a stop) at most `timeout`.
    member _.WaitWelcome(timeout: TimeSpan) =
        let deadline = DateTime.UtcNow + timeout
        lock sync (fun () ->
            while welcome.IsNone && isNull stop && DateTime.UtcNow < deadline do
                Monitor.Wait(sync, TimeSpan.FromMilliseconds 100.0) |> ignore
            welcome)

/// The Akka actor of an actor node: hands the learner's messages to the acting loop and stops it when the learner
/// leaves the cluster or becomes unreachable.
type internal ActorProxy(inbox: ActorInbox) =
    inherit UntypedActor()

    override this.PreStart() =
        Cluster.Get(UntypedActor.Context.System).Subscribe(
            this.Self,
            ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents,
            [| typeof<ClusterEvent.UnreachableMember>; typeof<ClusterEvent.MemberRemoved> |]
        )

    override this.PostStop() = Cluster.Get(UntypedActor.Context.System).Unsubscribe this.Self

    override this.OnReceive(message: obj) =
        match message with
        | :? Welcome as w -> inbox.Welcomed w
        | :? Parameters as p -> inbox.Offer p
        | :? Ack -> inbox.Acked()
        | :? Stop as s -> inbox.Stopped s.Reason
        | :? ClusterEvent.UnreachableMember as u when u.Member.HasRole "learner" -> inbox.Stopped "the learner became unreachable"
        | :? ClusterEvent.MemberRemoved as r when r.Member.HasRole "learner" -> inbox.Stopped "the learner left the cluster"
        | _ -> this.Unhandled message

/// <summary>The running return and length of each of an actor's n envs, and the episodes (Atari: games) finished
/// since the last message.</summary>
type internal EpisodeTally(n: int) =
    let running = Array.zeroCreate<float> n
    let lengths = Array.zeroCreate<int> n
    let returns = ResizeArray<float>()
    let finished = ResizeArray<int>()

    /// Adds a step of env i with `reward`; when `ended`, its episode is recorded and restarts (returns 1, else 0).
    member _.Step(i: int, reward: float, ended: bool) =
        running[i] <- running[i] + reward
        lengths[i] <- lengths[i] + 1
        if ended then
            returns.Add running[i]
            finished.Add lengths[i]
            running[i] <- 0.0
            lengths[i] <- 0
            1
        else 0

    /// The returns of the episodes finished since the last Clear.
    member _.Returns = returns.ToArray()
    /// Their lengths in agent steps.
    member _.Lengths = finished.ToArray()

    member _.Clear() =
        returns.Clear()
        finished.Clear()

/// <summary>One actor's environments, its copy of the network and the experience it has not sent: what the acting
/// loop (ApeXActing.loop) drives, for classic control or Atari. Owns the network (and the environments).</summary>
type internal IActingSide =
    inherit IDisposable
    /// Environments stepped per round (agent steps per round).
    abstract NumEnvs: int
    /// The actor's copy of the network, which fresh parameters are loaded into.
    abstract Network: torch.nn.Module
    /// One agent step in every env, ε-greedy with `epsilon` and the network; returns the training episodes that
    /// ended.
    abstract Round: epsilon: float -> int
    /// The experience message of what was collected since the last Sent (TD errors computed now); `steps`: the agent
    /// steps taken since the last message.
    abstract Message: steps: int -> obj
    /// The last Message went out: forget what it held.
    abstract Sent: unit -> unit

/// The acting half of Ape-X (Horgan et al. 2018, Algorithm 1).
[<RequireQualifiedAccess>]
module ApeXActing =

    /// <summary>TD errors δ = R + γᵐ(1 − terminated)·max_a Q(s′, a) − Q(s, a) of k n-step transitions under one network
    /// (the actor's copy, which has no target network: Horgan et al. 2018 compute initial priorities with the actor's
    /// local parameters): `input false` makes the [k; ...] batch of s, `input true` that of s′ (any torso's input);
    /// discounts are γᵐ(1 − terminated). float32[k]; every tensor made is freed, the inputs included.</summary>
    let tdErrorsWith
        (network: torch.nn.Module<Tensor, Tensor>)
        (device: Device)
        (input: bool -> Tensor)
        (actions: int[])
        (returns: float32[])
        (discounts: float32[])
        : float32[] =
        let k = int64 actions.Length
        if k = 0L then [||]
        else
            use _ = torch.no_grad ()
            use scope = torch.NewDisposeScope()
            let q = network.call (input false)
            let a = Tensors.ofArray (Array.map int64 actions) [| k; 1L |] device
            let qa = q.gather(1L, a).squeeze 1L
            let next = (network.call (input true)).amax 1L
            let y = Tensors.ofArray returns [| k |] device + Tensors.ofArray discounts [| k |] device * next
            (y - qa).cpu().data<float32>().ToArray()

    /// <summary>tdErrorsWith for MLP observations: observations and nextObservations are [k; observationSize]
    /// Float32. float32[k].</summary>
    let tdErrors
        (network: torch.nn.Module<Tensor, Tensor>)
        (device: Device)
        (observationSize: int)
        (observations: float32[])
        (actions: int[])
        (returns: float32[])
        (discounts: float32[])
        (nextObservations: float32[])
        : float32[] =
        let shape = [| int64 actions.Length; int64 observationSize |]
        tdErrorsWith network device (fun next -> Tensors.ofArray (if next then nextObservations else observations) shape device) actions returns discounts

    /// Loads a safetensors parameter snapshot into `network` (names and shapes checked).
    let internal load (network: torch.nn.Module) (p: Parameters) =
        let file = Safetensors.deserialize "parameters" (ReadOnlySpan p.Bytes) torch.CPU
        try
            Checkpoint.loadParameters network file.Tensors
        finally
            for _, t in file.Tensors do
                t.Dispose()

    /// The network an actor builds from the learner's Welcome (the learner's architecture), initialised from the
    /// Welcome's parameters.
    let internal networkFor (w: Welcome) (observationSize: int) (actionCount: int) =
        let config = { DqnConfig.defaults with Hidden = List.ofArray w.Hidden; Dueling = w.Dueling }
        let device = torch.CPU
        let network = QNetworks.createFor config (Torso.Mlp(observationSize, config.Hidden)) actionCount device
        load network w.Parameters
        network

    /// <summary>The acting loop of one actor (Horgan et al. 2018, Algorithm 1) over `side` (its envs, its copy of the
    /// network and its unsent experience): a round steps every env ε-greedily with εᵢ; every SendInterval rounds the
    /// experience goes out with its TD errors under the actor's copy (the initial priorities) through `send`, waiting
    /// while MaxInFlight messages are unacknowledged; every ParameterInterval rounds it asks for fresh parameters and
    /// loads the newest that arrived. Runs until the inbox says stop (the learner's Stop, the learner unreachable),
    /// `cancel` fires, or no acknowledgement comes for `ackTimeout`.</summary>
    let internal loop (w: Welcome) (side: IActingSide) (inbox: ActorInbox) (send: obj -> unit) (ackTimeout: TimeSpan) (cancel: CancellationToken) : ActorReport =
        let clock = Diagnostics.Stopwatch.StartNew()
        let n = side.NumEnvs
        let mutable version = w.Parameters.Version
        let mutable loads = 0
        let mutable steps = 0L
        let mutable stepsAtLastSend = 0L
        let mutable rounds = 0L
        let mutable episodes = 0
        let mutable messages = 0
        let mutable reason: string = null
        let flush () =
            let message = side.Message(int (steps - stepsAtLastSend))
            if inbox.WaitBelow(w.MaxInFlight, ackTimeout) then
                inbox.Sent()
                send message
                messages <- messages + 1
                stepsAtLastSend <- steps
                side.Sent()
            elif isNull inbox.StopReason then
                reason <- $"no acknowledgement from the learner for {ackTimeout.TotalSeconds} s"
        while isNull reason do
            match inbox.StopReason with
            | null when cancel.IsCancellationRequested -> reason <- "cancelled"
            | null ->
                match inbox.Newer version with
                | Some p ->
                    load side.Network p
                    version <- p.Version
                    loads <- loads + 1
                | None -> ()
                episodes <- episodes + side.Round w.Epsilon
                steps <- steps + int64 n
                rounds <- rounds + 1L
                if rounds % int64 w.SendInterval = 0L then flush ()
                if rounds % int64 w.ParameterInterval = 0L then
                    send (box ({ ActorId = w.ActorId; Have = version }: ParametersRequest))
            | stop -> reason <- stop
        let report: ActorReport =
            { ActorId = w.ActorId
              Steps = steps
              Episodes = episodes
              Messages = messages
              ParameterLoads = loads
              Seconds = clock.Elapsed.TotalSeconds
              Reason = reason }
        report

/// <summary>A classic-control actor's side of the acting loop: its vector of environments (Environments.makeVector),
/// its copy of the MLP network, each env's n-step accumulator (NStep, never across episodes) and the n-step
/// transitions not sent yet.</summary>
type internal ClassicActing(w: Welcome) =
    let envs = Environments.makeVector w.EnvironmentId w.Envs
    let n = envs.NumEnvs
    let d = envs.ObservationSize
    let actionCount = envs.ActionCount
    let network = ApeXActing.networkFor w d actionCount
    let device = torch.CPU
    let seed = w.Seed + 1_000 * (w.ActorId + 1)
    let rng = Random(seed)
    let mutable obs = envs.Reset(Nullable seed)
    let accumulators = Array.init n (fun _ -> NStep.create w.NStep w.Gamma)
    let pending = ResizeArray<NStepTransition>()
    let episodes = EpisodeTally n
    let row (a: float32[]) (i: int) = Array.sub a (i * d) d

    interface IActingSide with
        member _.NumEnvs = n
        member _.Network = network

        member _.Round(epsilon: float) =
            let actions =
                if n = 1 then [| Actor.epsilonGreedy rng epsilon actionCount (fun () -> QNetwork.greedyAction network device obs) |]
                else
                    Actor.epsilonGreedyBatch rng epsilon actionCount n (fun () ->
                        QNetwork.greedyActions network (fun () -> Tensors.ofArray obs [| int64 n; int64 d |] device))
            let step = envs.Step actions
            let mutable ended = 0
            for i in 0 .. n - 1 do
                let transition =
                    { Observation = row obs i
                      Action = actions[i]
                      Reward = float32 step.Rewards[i]
                      NextObservation = row step.FinalObservations i
                      Terminated = step.Terminated[i]
                      Truncated = step.Truncated[i] }
                let acc, completed = NStep.push accumulators[i] transition
                accumulators[i] <- acc
                pending.AddRange completed
                ended <- ended + episodes.Step(i, step.Rewards[i], step.Terminated[i] || step.Truncated[i])
            obs <- step.Observations
            ended

        member _.Message(steps: int) =
            let k = pending.Count
            let observations = Array.zeroCreate<float32> (k * d)
            let next = Array.zeroCreate<float32> (k * d)
            for j in 0 .. k - 1 do
                Array.blit pending[j].Observation 0 observations (j * d) d
                Array.blit pending[j].NextObservation 0 next (j * d) d
            let actions = Array.init k (fun j -> pending[j].Action)
            let returns = Array.init k (fun j -> float32 pending[j].Return)
            let terminated = Array.init k (fun j -> pending[j].Terminated)
            let discounts = Array.init k (fun j -> if pending[j].Terminated then 0.0f else float32 pending[j].Discount)
            let errors = ApeXActing.tdErrors network device d observations actions returns discounts next
            box<Experience>
                { ActorId = w.ActorId
                  Steps = steps
                  ObservationSize = d
                  Observations = observations
                  Actions = actions
                  Returns = returns
                  NextObservations = next
                  Terminated = terminated
                  NSteps = Array.init k (fun j -> pending[j].Steps)
                  TdErrors = errors
                  EpisodeReturns = episodes.Returns
                  EpisodeLengths = episodes.Lengths }

        member _.Sent() =
            pending.Clear()
            episodes.Clear()

        member _.Dispose() = network.Dispose()
