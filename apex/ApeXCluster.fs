namespace Dqn.Fun.ApeX

open System
open System.Diagnostics
open System.Threading
open Akka.Actor
open Akka.Cluster
open Akka.Configuration
open Dqn.Fun

/// <summary>The configuration of an Ape-X cluster node (Akka.NET 1.5: Akka.Cluster over Akka.Remote's DotNetty TCP
/// transport). Every node runs an actor system named ApeXConfig.SystemName; the learner's node is the cluster's
/// seed (it joins itself) with role "learner", actor nodes join it with role "actor". Ape-X's messages are bound to
/// ApeXSerializer (explicit bytes). A split-brain resolver (keep-oldest: the learner, which starts first, is never
/// downed) removes an actor node that stays unreachable for 3 s.</summary>
[<RequireQualifiedAccess>]
module ApeXCluster =

    /// <summary>The HOCON of a node binding `hostname`:`port` (0: a free port), reachable by others at
    /// `publicHostname` (null: hostname), with cluster role `role`.</summary>
    let hocon (hostname: string) (publicHostname: string) (port: int) (role: string) =
        let publicHost = if String.IsNullOrWhiteSpace publicHostname then hostname else publicHostname
        $"""
akka {{
  loglevel = WARNING
  stdout-loglevel = WARNING
  log-dead-letters = off
  log-dead-letters-during-shutdown = off
  remote.log-remote-lifecycle-events = off
  actor {{
    provider = cluster
    serializers {{
      dqnfun-apex = "Dqn.Fun.ApeX.ApeXSerializer, Dqn.Fun.ApeX"
    }}
    serialization-bindings {{
      "Dqn.Fun.ApeX.IApeXMessage, Dqn.Fun.ApeX" = dqnfun-apex
    }}
  }}
  remote.dot-netty.tcp {{
    hostname = "{hostname}"
    public-hostname = "{publicHost}"
    port = {port}
    maximum-frame-size = 33554432b
    send-buffer-size = 33554432b
    receive-buffer-size = 33554432b
  }}
  cluster {{
    roles = [ "{role}" ]
    log-info = off
    downing-provider-class = "Akka.Cluster.SBR.SplitBrainResolverProvider, Akka.Cluster"
    split-brain-resolver {{
      active-strategy = keep-oldest
      stable-after = 3s
      keep-oldest.down-if-alone = off
    }}
  }}
}}
"""

    /// Waits until `cluster`'s own member is Up (true) or `timeout` passes.
    let internal waitUp (cluster: Cluster) (timeout: TimeSpan) =
        use up = new ManualResetEventSlim()
        cluster.RegisterOnMemberUp(fun () -> up.Set())
        up.Wait timeout

/// <summary>An Ape-X learner node (Horgan et al. 2018): an actor system bound to config.Hostname:config.Port that
/// seeds the cluster, the learner actor at /user/learner, and the learning loop that <c>Run</c> drives. Start actors
/// with <c>ApeXActorNode.Run(Address, id)</c> (another process or machine: <c>dqnfun-bench apex-actor</c>). Dispose
/// it to leave the cluster and free the networks.</summary>
/// <exception cref="T:System.ArgumentException">An invalid config (ApeXConfig.validate).</exception>
[<Sealed>]
type ApeXLearner private (config: ApeXConfig, observer: Action<ApeXEvent>, resumeFrom: string option, emulators: ApeXEmulators.Factory) =
    let core = new LearnerCore(config, (fun e -> if not (isNull observer) then observer.Invoke e), resumeFrom, emulators)
    let config = core.Config
    let system =
        ActorSystem.Create(
            ApeXConfig.SystemName,
            ConfigurationFactory.ParseString(ApeXCluster.hocon config.Hostname config.PublicHostname config.Port "learner")
        )
    let cluster = Cluster.Get system
    do cluster.Join cluster.SelfAddress
    let _learner = system.ActorOf(Props.Create<LearnerActor>(fun () -> new LearnerActor(core)), "learner")
    do
        if not (ApeXCluster.waitUp cluster (TimeSpan.FromSeconds 30.0)) then
            system.Terminate().Wait(TimeSpan.FromSeconds 10.0) |> ignore
            core.Dispose()
            invalidOp $"the learner's node at {cluster.SelfAddress} did not come up within 30 s"
    let mutable disposed = false

    /// <summary>A learner node for a new run.</summary>
    new(config: ApeXConfig, observer: Action<ApeXEvent>) = new ApeXLearner(config, observer, None, ApeXEmulators.bridged)

    /// A learner whose Atari side reads the game's action count from emulators `emulators` makes (tests).
    static member internal Start(config: ApeXConfig, observer: Action<ApeXEvent>, emulators: ApeXEmulators.Factory) =
        new ApeXLearner(config, observer, None, emulators)

    /// <summary>A learner node that continues the run whose training checkpoint is at `path` (a checkpoint folder, or
    /// the folder of a run's checkpoints: its newest): the networks, optimizer, replay with its priorities and the
    /// counters come back; config.TotalSteps is the run's whole budget (the steps already stored count).</summary>
    /// <exception cref="T:System.IO.DirectoryNotFoundException">No checkpoint at `path`.</exception>
    /// <exception cref="T:System.ArgumentException">The checkpoint was written with another config (the message names
    /// the first field that differs) or environment.</exception>
    /// <exception cref="T:System.IO.InvalidDataException">A file of the checkpoint is malformed.</exception>
    static member Resume(path: string, config: ApeXConfig, observer: Action<ApeXEvent>) =
        new ApeXLearner(config, observer, Some path, ApeXEmulators.bridged)

    /// The learner node's address, akka.tcp://dqnfun-apex@host:port: what actors join.
    member _.Address = cluster.SelfAddress.ToString()
    /// The TCP port the node listens on.
    member _.Port = cluster.SelfAddress.Port.GetValueOrDefault()
    member _.Config = config
    member internal _.Core = core
    /// Actor nodes up and reachable now.
    member _.LiveActors = core.LiveActors
    /// The online network's torso: Mlp(observation size, Dqn.Hidden), or NatureCnn 4 for Atari.
    member _.Torso = core.Torso

    /// <summary>Learns until config.TotalSteps agent steps are stored and their updates made (LearnerCore.Run),
    /// then stops the actors. With `checkpoints`, writes training checkpoints into that folder every
    /// config.CheckpointInterval stored steps and at the end (Resume reads them). Blocks; call once.</summary>
    member _.Run(?cancel: CancellationToken, ?checkpoints: string) = core.Run(defaultArg cancel CancellationToken.None, checkpoints)

    /// Agent steps stored over the run's life (a resumed run's included).
    member _.Steps = core.Received
    /// Updates over the run's life.
    member _.Updates = core.Updates
    /// Transitions in the prioritized replay.
    member _.ReplayCount = core.ReplayCount

    /// Writes the online network as a model checkpoint (the format of Agent.Save).
    member _.SaveModel(path: string) = core.SaveModel path

    member _.Dispose() =
        if not disposed then
            disposed <- true
            (try CoordinatedShutdown.Get(system).Run(CoordinatedShutdown.ClrExitReason.Instance).Wait(TimeSpan.FromSeconds 10.0) |> ignore
             with _ -> ())
            system.Terminate().Wait(TimeSpan.FromSeconds 10.0) |> ignore
            core.Dispose()

    interface IDisposable with
        member this.Dispose() = this.Dispose()

/// <summary>Ape-X actor nodes.</summary>
[<RequireQualifiedAccess>]
module ApeXActorNode =

    /// <summary>Runs actor `actorId` until the learner stops it: starts an actor system bound to `hostname`:`port` (0: a
    /// free port; the learner connects back to it, so open it where a firewall stands between), reachable as
    /// `publicHostname` (null: hostname), joins the cluster at `learnerAddress`
    /// (akka.tcp://dqnfun-apex@host:port), registers with the learner (its Welcome says what to run), acts
    /// (ApeXActing.run), then leaves the cluster. Blocks.</summary>
    /// <exception cref="T:System.TimeoutException">The node did not come up in the cluster, or the learner did not
    /// answer, within 60 s.</exception>
    let internal runWith
        (emulators: ApeXEmulators.Factory)
        (rom: string)
        (learnerAddress: string)
        (actorId: int)
        (hostname: string)
        (publicHostname: string)
        (port: int)
        (cancel: CancellationToken)
        : ActorReport =
        if port < 0 || port > 65535 then raise (ArgumentOutOfRangeException("port", port, $"port must be in 0 .. 65535 (0: a free port), got {port}"))
        let learnerAt = Address.Parse learnerAddress
        let system =
            ActorSystem.Create(ApeXConfig.SystemName, ConfigurationFactory.ParseString(ApeXCluster.hocon hostname publicHostname port "actor"))
        try
            let cluster = Cluster.Get system
            cluster.Join learnerAt
            if not (ApeXCluster.waitUp cluster (TimeSpan.FromSeconds 60.0)) then
                raise (TimeoutException $"actor {actorId} did not come up in the cluster at {learnerAddress} within 60 s")
            let inbox = ActorInbox()
            let proxy = system.ActorOf(Props.Create<ActorProxy>(fun () -> new ActorProxy(inbox)), "actor")
            let learner = system.ActorSelection($"{learnerAddress}/user/learner")
            let deadline = DateTime.UtcNow.AddSeconds 60.0
            let mutable welcome = None
            while welcome.IsNone && isNull inbox.StopReason && DateTime.UtcNow < deadline do
                learner.Tell(({ ActorId = actorId }: Register), proxy)
                welcome <- inbox.WaitWelcome(TimeSpan.FromSeconds 1.0)
            match welcome with
            | None when not (isNull inbox.StopReason) ->
                { ActorId = actorId; Steps = 0L; Episodes = 0; Messages = 0; ParameterLoads = 0; Seconds = 0.0; Reason = inbox.StopReason }
            | None -> raise (TimeoutException $"the learner at {learnerAddress} did not answer actor {actorId} within 60 s")
            | Some w ->
                use side =
                    match w.Atari with
                    | None -> new ClassicActing(w) :> IActingSide
                    | Some a -> new AtariActing(w, (if String.IsNullOrWhiteSpace rom then a else { a with Rom = rom }), emulators)
                let report = ApeXActing.loop w side inbox (fun m -> learner.Tell(m, proxy)) (TimeSpan.FromSeconds 60.0) cancel
                use left = new ManualResetEventSlim()
                cluster.RegisterOnMemberRemoved(fun () -> left.Set())
                cluster.Leave cluster.SelfAddress
                left.Wait(TimeSpan.FromSeconds 10.0) |> ignore
                report
        finally
            system.Terminate().Wait(TimeSpan.FromSeconds 10.0) |> ignore

    /// <summary>Runs actor `actorId` until the learner stops it (runWithRom with the learner's ROM).</summary>
    [<CompiledName("Run")>]
    let run (learnerAddress: string) (actorId: int) (hostname: string) (publicHostname: string) (port: int) (cancel: CancellationToken) : ActorReport =
        runWith ApeXEmulators.bridged null learnerAddress actorId hostname publicHostname port cancel

    /// <summary>As run; in an Atari run the actor's bridge server loads the ROM file `rom` (this machine's copy; null
    /// or empty: the learner's ROM path, else ale_py's ROM of the game).</summary>
    [<CompiledName("RunWithRom")>]
    let runWithRom (learnerAddress: string) (actorId: int) (hostname: string) (publicHostname: string) (port: int) (rom: string) (cancel: CancellationToken) : ActorReport =
        runWith ApeXEmulators.bridged rom learnerAddress actorId hostname publicHostname port cancel

/// <summary>Actor processes on this machine.</summary>
[<RequireQualifiedAccess>]
module ApeXLocal =

    /// <summary>Starts an actor process: `fileName arguments` (e.g. <c>dotnet dqnfun-bench.dll apex-actor --learner
    /// ADDRESS --actor-id i</c>), its output piped to `log` line by line.</summary>
    let startProcess (fileName: string) (arguments: string list) (log: string -> unit) : Process =
        let info = ProcessStartInfo(fileName, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false)
        for a in arguments do
            info.ArgumentList.Add a
        let p = new Process(StartInfo = info, EnableRaisingEvents = true)
        p.OutputDataReceived.Add(fun e -> if not (isNull e.Data) then log e.Data)
        p.ErrorDataReceived.Add(fun e -> if not (isNull e.Data) then log e.Data)
        if not (p.Start()) then invalidOp $"could not start {fileName}"
        p.BeginOutputReadLine()
        p.BeginErrorReadLine()
        p
