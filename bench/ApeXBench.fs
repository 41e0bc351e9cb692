/// `dqnfun-bench apex` and `apex-actor`: Ape-X (Horgan et al. 2018) on an Akka.NET cluster. `apex` runs the learner
/// in this process and starts `--local-actors` actor processes on this machine (over loopback by default); actors on
/// other machines join with `apex-actor --learner ADDRESS --actor-id I`. Writes summary.json and model.safetensors.
module Dqn.Fun.Bench.ApeXBench

open System
open System.Diagnostics
open System.IO
open System.Reflection
open System.Threading
open Argu
open TorchSharp
open Dqn.Fun
open Dqn.Fun.ApeX

type ApeXArgs =
    | Actors of int
    | Env of id: string
    | Game of name: string
    | Rom of path: string
    | Preset of name: string
    | Frames of int64
    | Learning_Starts of agentSteps: int
    | Buffer of transitions: int
    | Compare
    | Steps of int64
    | Envs_Per_Actor of int
    | Seed of int
    | Hostname of string
    | Public_Hostname of string
    | Port of int
    | Local_Actors of int
    | Kill_Actor_At of agentSteps: int64
    | Restart_Actor_At of agentSteps: int64
    | Threads of int
    | Checkpoint_Interval of agentSteps: int64
    | Resume of dir: string
    | Out of dir: string

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Checkpoint_Interval _ -> "write the learner's training checkpoint into <out>/checkpoints every N stored agent steps (default: at the end only; Ctrl-C or SIGTERM writes one where it stops)."
            | Resume _ -> "continue the run in this folder from its newest checkpoint, with its settings (run.json); only --steps (the whole budget), --threads, --local-actors, --hostname, --public-hostname and --port may be given beside it."
            | Actors _ -> "N, the actors of the run (their εᵢ = 0.4^(1 + 7i/(N-1))); default 2."
            | Env _ -> "the classic-control environment (default CartPole-v1)."
            | Game _ -> "an Atari run on this ALE game (e.g. breakout): actors step it through the bridge (ale_py), the learner keeps a prioritized frame replay."
            | Rom _ -> "Atari: the ROM file (default: ale_py's ROM of --game); local actors load it."
            | Preset _ -> "Atari: the AtariConfig preset the run starts from (default dopamine), with Ape-X's learner (Double DQN, 3-step, prioritized replay)."
            | Frames _ -> "Atari: the budget in emulator frames (agent steps = frames / frame skip; default the preset's 10M)."
            | Learning_Starts _ -> "Atari: agent steps stored before the first update (default the preset's)."
            | Buffer _ -> "Atari: frame replay capacity in frames (default the preset's)."
            | Compare -> "Atari: first run the single-process loop (AtariAgent, overlapped acting and learning, actors x envs-per-actor envs on one bridge server per actor) on the same config and frames, then Ape-X; summary.json gives both frames/s and their ratio."
            | Steps _ -> "budget: agent steps summed over actors (default 30000, the single agent's CartPole budget)."
            | Envs_Per_Actor _ -> "environments each actor steps as a vector (default 1)."
            | Seed _ -> "seed of the learner's network, replay and evaluations, and of the actors' exploration (default 0)."
            | Hostname _ -> "the address the learner binds (default 127.0.0.1: loopback only; 0.0.0.0 or an interface to take actors from other machines)."
            | Public_Hostname _ -> "the address other machines reach the learner at, when it differs from --hostname."
            | Port _ -> "the learner's TCP port (default 0: a free port; give one for actors on other machines)."
            | Local_Actors _ -> "actor processes to start on this machine, ids 0..K-1 (default --actors; 0: wait for remote actors)."
            | Kill_Actor_At _ -> "fault drill: kill the last local actor process (SIGKILL) once this many agent steps are stored."
            | Restart_Actor_At _ -> "fault drill: start a replacement for the killed actor (same id) once this many agent steps are stored."
            | Threads _ -> "LibTorch intra-op threads of the learner (default 1)."
            | Out _ -> "folder for summary.json and model.safetensors (default runs/apex)."

type ApeXActorArgs =
    | [<Mandatory>] Learner of address: string
    | [<Mandatory>] Actor_Id of int
    | Hostname of string
    | Public_Hostname of string
    | Port of int
    | Rom of path: string

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Port _ -> "the TCP port this actor binds (default 0: a free port; the learner connects back to it)."
            | Learner _ -> "the learner node's address, akka.tcp://dqnfun-apex@HOST:PORT (apex prints it)."
            | Actor_Id _ -> "this actor's index i in 0..N-1 (sets its εᵢ)."
            | ApeXActorArgs.Rom _ -> "Atari runs: this machine's ROM file of the game (default: the learner's --rom path, else ale_py's ROM)."
            | Hostname _ -> "the address this actor binds (default 127.0.0.1; an interface reachable from the learner when it runs elsewhere)."
            | Public_Hostname _ -> "the address the learner reaches this actor at, when it differs from --hostname."

let private inv (x: float) = x.ToString("0.###", Globalization.CultureInfo.InvariantCulture)

/// `dotnet dqnfun-bench.dll` (or the apphost) with `arguments`.
let private self (arguments: string list) =
    let processPath = Environment.ProcessPath
    let entry = Assembly.GetEntryAssembly().Location
    if Path.GetFileNameWithoutExtension(processPath) = "dotnet" then processPath, entry :: arguments
    else processPath, arguments

/// `apex-actor`: one actor process.
let runActor (a: ParseResults<ApeXActorArgs>) =
    torch.set_num_threads 1
    let learner = a.GetResult ApeXActorArgs.Learner
    let id = a.GetResult ApeXActorArgs.Actor_Id
    let host = a.GetResult(ApeXActorArgs.Hostname, "127.0.0.1")
    let publicHost = a.GetResult(ApeXActorArgs.Public_Hostname, null)
    if id < 0 then Cli.usage $"--actor-id {id}: expected a non-negative index"
    Cli.value "--learner" (fun () -> Akka.Actor.Address.Parse learner |> ignore)
    let port = a.GetResult(ApeXActorArgs.Port, 0)
    if port < 0 || port > 65535 then Cli.usage $"--port {port}: expected 0 (a free port) .. 65535"
    let rom = a.TryGetResult ApeXActorArgs.Rom |> Option.map (Cli.inputFile "--rom") |> Option.toObj
    let r = ApeXActorNode.runWithRom learner id host publicHost port rom CancellationToken.None
    printfn "actor %d: %d agent steps, %d episodes, %d messages, %d parameter loads in %.1f s (%s)" r.ActorId r.Steps r.Episodes r.Messages r.ParameterLoads r.Seconds r.Reason
    0

/// `apex`: the learner, and local actor processes.
let rec run (a: ParseResults<ApeXArgs>) =
    match a.TryGetResult Resume with
    | Some dir ->
        let allowed =
            function
            | ApeXArgs.Steps _ | ApeXArgs.Threads _ | ApeXArgs.Local_Actors _ | ApeXArgs.Hostname _ | ApeXArgs.Public_Hostname _
            | ApeXArgs.Port _ -> true
            | _ -> false
        start (Cli.resumeArgs a.Parser "apex" dir a (function Resume _ -> true | _ -> false) allowed (Out dir)) true
    | None -> start a false

and private start (a: ParseResults<ApeXArgs>) (resume: bool) =
    let seed = a.GetResult(Seed, 0)
    let threads = a.GetResult(Threads, 1)
    Cli.positive "--threads" (int64 threads)
    torch.set_num_threads threads
    let game = a.TryGetResult Game
    match game with
    | Some _ ->
        for bad, name in [ a.Contains Env, "--env"; a.Contains Steps, "--steps (give --frames)" ] do
            if bad then Cli.usage $"--game runs Atari: {name} does not apply"
    | None ->
        for bad, name in
            [ a.Contains ApeXArgs.Rom, "--rom"; a.Contains Preset, "--preset"; a.Contains Frames, "--frames"
              a.Contains Learning_Starts, "--learning-starts"; a.Contains Buffer, "--buffer"; a.Contains Compare, "--compare" ] do
            if bad then Cli.usage $"{name} needs --game (an Atari run)"
    let envId = a.GetResult(Env, "CartPole-v1")
    if game.IsNone then Cli.value "--env" (fun () -> Environments.make envId |> ignore)
    let actors = a.GetResult(Actors, 2)
    Cli.positive "--actors" (int64 actors)
    let atariBase =
        game
        |> Option.map (fun g ->
            let preset = Cli.value "--preset" (fun () -> Atari.AtariConfig.preset (a.GetResult(Preset, "dopamine")))
            let rom = a.TryGetResult ApeXArgs.Rom |> Option.map (Cli.inputFile "--rom") |> Option.toObj
            preset, Cli.value "--preset" (fun () -> ApeXConfig.atari preset g rom))
    let frameSkip = match atariBase with Some(p, _) -> int64 p.Environment.FrameSkip | None -> 1L
    let totalSteps =
        match atariBase with
        | Some(_, c) ->
            let frames = a.GetResult(Frames, c.TotalSteps * frameSkip)
            Cli.positive "--frames" frames
            frames / frameSkip
        | None -> a.GetResult(Steps, 30_000L)
    Cli.positive "--steps" totalSteps
    let envsPerActor = a.GetResult(Envs_Per_Actor, 1)
    Cli.positive "--envs-per-actor" (int64 envsPerActor)
    let port = a.GetResult(ApeXArgs.Port, 0)
    if port < 0 || port > 65535 then Cli.usage $"--port {port}: expected 0 (a free port) .. 65535"
    let checkpointInterval = a.GetResult(Checkpoint_Interval, 0L)
    if checkpointInterval < 0L then Cli.usage $"--checkpoint-interval {checkpointInterval}: expected a non-negative number (0: at the end only)"
    let start, dqn =
        match atariBase with
        | Some(_, c) ->
            let learningStarts = a.GetResult(Learning_Starts, c.Dqn.LearningStarts)
            let buffer = a.GetResult(Buffer, c.Dqn.BufferSize)
            c,
            { c.Dqn with
                Seed = seed
                LearningStarts = learningStarts
                BufferSize = buffer
                PriorityBeta = Schedule.linear 0.4 1.0 totalSteps }
        | None -> ApeXConfig.defaults, { ApeXConfig.defaults.Dqn with Seed = seed }
    let config =
        Cli.value "the settings" (fun () ->
            ApeXConfig.validate
                { start with
                    Dqn = dqn
                    Actors = actors
                    EnvironmentId = (if game.IsSome then start.EnvironmentId else envId)
                    TotalSteps = totalSteps
                    EnvsPerActor = envsPerActor
                    Hostname = a.GetResult(ApeXArgs.Hostname, "127.0.0.1")
                    PublicHostname = a.GetResult(ApeXArgs.Public_Hostname, null)
                    CheckpointInterval = checkpointInterval
                    Port = port })
    let localActors = a.GetResult(Local_Actors, config.Actors)
    if localActors < 0 || localActors > config.Actors then
        Cli.usage $"--local-actors {localActors}: expected 0 .. --actors ({config.Actors})"
    let killAt = a.TryGetResult Kill_Actor_At
    let restartAt = a.TryGetResult Restart_Actor_At
    if (killAt.IsSome || restartAt.IsSome) && localActors = 0 then Cli.usage "--kill-actor-at and --restart-actor-at need a local actor"
    if restartAt.IsSome && killAt.IsNone then Cli.usage "--restart-actor-at needs --kill-actor-at"
    let out = Cli.outputFolder "--out" (a.GetResult(Out, Path.Combine("runs", "apex")))
    let checkpoints = Path.Combine(out, "checkpoints")
    if not resume && (TrainingCheckpoint.tryLatest checkpoints).IsSome then
        Cli.usage $"--out {out} holds a run's checkpoints: go on with --resume {out}, or choose another folder"
    Directory.CreateDirectory out |> ignore
    Cli.writeRunArgs out "apex" a.Parser (a.GetAllResults())
    let sync = obj ()
    let log (line: string) = lock sync (fun () -> printfn "%s" line)
    let liveTimeline = ResizeArray<float * int64 * int>()
    let clock = Stopwatch.StartNew()
    let mutable lastSteps = 0L
    let processes = Collections.Generic.Dictionary<int, Process>()
    let mutable killedAt = None
    let mutable restartedAt = None
    let mutable registrations = 0
    let mutable replacedSteps = 0L
    let startActor (learnerAddress: string) (id: int) =
        let file, args = self [ "apex-actor"; "--learner"; learnerAddress; "--actor-id"; string id ]
        ApeXLocal.startProcess file args (fun line -> log $"  [actor {id}] {line}")
    let mutable learnerAddress = ""
    let observer (e: ApeXEvent) =
        match e with
        | Progress p ->
            lastSteps <- p.Steps
            let perActor = String.Join(" ", p.ActorSteps |> Array.map (fun (i, s) -> $"{i}:{s}"))
            log $"steps {p.Steps} updates {p.Updates} live actors {p.LiveActors} ({perActor}) steps/s {inv p.StepsPerSecond} updates/s {inv p.UpdatesPerSecond} episodes {p.Episodes} last-100 return {inv p.MeanReturn}"
            match killAt with
            | Some k when p.Steps >= k && killedAt.IsNone && processes.ContainsKey(localActors - 1) ->
                processes[localActors - 1].Kill()
                killedAt <- Some p.Steps
                log $"fault drill: killed actor {localActors - 1} at {p.Steps} agent steps"
            | _ -> ()
            match restartAt, killedAt with
            | Some r, Some _ when p.Steps >= r && restartedAt.IsNone ->
                processes[localActors - 1] <- startActor learnerAddress (localActors - 1)
                restartedAt <- Some p.Steps
                replacedSteps <- p.ActorSteps |> Array.tryFind (fst >> (=) (localActors - 1)) |> Option.map snd |> Option.defaultValue 0L
                log $"fault drill: restarted actor {localActors - 1} at {p.Steps} agent steps"
            | _ -> ()
        | Evaluated r -> log $"evaluation at {r.Step} agent steps: mean {inv r.MeanReturn} ± {inv r.StdReturn}"
        | ActorRegistered id ->
            Interlocked.Increment &registrations |> ignore
            log $"actor {id} registered"
        | LiveActorsChanged n ->
            lock sync (fun () -> liveTimeline.Add((clock.Elapsed.TotalSeconds, lastSteps, n)))
            log $"live actors: {n}"
    // --compare: the single-process loop first, on the same config, envs (one bridge server per actor) and budget.
    let single =
        match atariBase, config.Atari with
        | Some(preset, _), Some c when a.Contains Compare ->
            let atariConfig =
                Cli.value "--compare" (fun () ->
                    Atari.AtariConfig.validate
                        { preset with
                            Dqn = config.Dqn
                            EvalIntervalFrames = 0L
                            CheckpointIntervalFrames = 0L
                            Evaluation = Atari.Machado 100 })
            let envs = config.Actors * config.EnvsPerActor
            let romIsPath = not (String.IsNullOrWhiteSpace c.Rom)
            use emulator =
                Atari.BridgedVectorEmulator.Launch((if romIsPath then c.Rom else c.Game), envs, config.Actors, seed, c.RepeatActionProbability, romIsPath = romIsPath)
            let env = Atari.AtariVectorEnvironment(emulator, c.Settings, seed)
            use agent = new Atari.AtariAgent(atariConfig, env.ActionCount)
            log $"compare: the single-process loop (AtariAgent, overlap on) on {envs} envs, {config.Actors} bridge servers, {totalSteps} agent steps"
            let s = agent.Learn(env, totalSteps * frameSkip, overlap = true)
            log $"single-process loop: {s.AgentSteps} agent steps, {s.Updates} updates in {inv s.WallSeconds} s: {inv s.AgentStepsPerSecond} agent steps/s"
            Some s
        | _ -> None
    use learner =
        if resume then ApeXLearner.Resume(checkpoints, config, Action<ApeXEvent> observer)
        else new ApeXLearner(config, Action<ApeXEvent> observer)
    if resume then log $"resumed at {learner.Steps} stored agent steps, {learner.Updates} updates, {learner.ReplayCount} transitions in the replay"
    learnerAddress <- learner.Address
    log $"learner at {learner.Address} (actors join with: dqnfun-bench apex-actor --learner {learner.Address} --actor-id I)"
    for id in 0 .. localActors - 1 do
        processes[id] <- startActor learner.Address id
    use cancel = new CancellationTokenSource()
    // Ctrl+C or SIGTERM: the learner stops taking experience, makes the updates owed, evaluates and stops the actors.
    use _ = Cli.onStopSignals cancel
    let summary =
        try
            learner.Run(cancel.Token, checkpoints)
        finally
            for p in processes.Values do
                if not (p.WaitForExit 20_000) then (try p.Kill() with _ -> ())
    learner.SaveModel(Path.Combine(out, "model.safetensors"))
    let final = List.last summary.Evaluations
    Json.write (Path.Combine(out, "summary.json")) (fun w ->
        // NaN (an Atari run with no finished game) is written as null.
        let number (name: string) (v: float) = if Double.IsFinite v then w.WriteNumber(name, v) else w.WriteNull name
        w.WriteString("environment", config.EnvironmentId)
        w.WriteNumber("frames_per_agent_step", frameSkip)
        w.WriteNumber("frames_per_second", summary.StepsPerSecond * float frameSkip)
        match single with
        | Some s ->
            w.WriteNumber("single_process_agent_steps", s.AgentSteps)
            w.WriteNumber("single_process_updates", s.Updates)
            w.WriteNumber("single_process_seconds", s.WallSeconds)
            w.WriteNumber("single_process_agent_steps_per_second", s.AgentStepsPerSecond)
            w.WriteNumber("apex_over_single_process", summary.StepsPerSecond / s.AgentStepsPerSecond)
        | None -> ()
        w.WriteNumber("actors", config.Actors)
        w.WriteNumber("local_actors", localActors)
        w.WriteNumber("envs_per_actor", config.EnvsPerActor)
        w.WriteNumber("seed", seed)
        w.WriteNumber("agent_steps", summary.Steps)
        w.WriteNumber("updates", summary.Updates)
        w.WriteNumber("episodes", summary.Episodes)
        w.WriteNumber("seconds", summary.Seconds)
        w.WriteNumber("agent_steps_per_second", summary.StepsPerSecond)
        w.WriteNumber("max_live_actors", summary.MaxLiveActors)
        w.WriteNumber("min_live_actors", summary.MinLiveActors)
        match killedAt with
        | Some k -> w.WriteNumber("killed_at", k)
        | None -> ()
        match restartedAt with
        | Some k ->
            w.WriteNumber("restarted_at", k)
            let total = summary.ActorSteps |> Array.tryFind (fst >> (=) (localActors - 1)) |> Option.map snd |> Option.defaultValue 0L
            w.WriteNumber("actor_steps_after_restart", total - replacedSteps)
        | None -> ()
        w.WriteNumber("registrations", registrations)
        w.WriteStartObject "actor_steps"
        for id, s in summary.ActorSteps do
            w.WriteNumber(string id, s)
        w.WriteEndObject()
        w.WriteStartArray "live_actors"
        for seconds, steps, n in liveTimeline do
            w.WriteStartObject()
            w.WriteNumber("seconds", seconds)
            w.WriteNumber("agent_steps", steps)
            w.WriteNumber("live", n)
            w.WriteEndObject()
        w.WriteEndArray()
        w.WriteStartArray "evaluations"
        for e in summary.Evaluations do
            w.WriteStartObject()
            w.WriteNumber("agent_steps", e.Step)
            number "mean_return" e.MeanReturn
            number "std_return" e.StdReturn
            w.WriteEndObject()
        w.WriteEndArray()
        number "best_mean_return" summary.Best.MeanReturn
        w.WriteNumber("best_agent_steps", summary.Best.Step)
        number "final_mean_return" final.MeanReturn)
    match single with
    | Some s -> log $"Ape-X / single-process loop: {inv (summary.StepsPerSecond / s.AgentStepsPerSecond)} ({inv summary.StepsPerSecond} / {inv s.AgentStepsPerSecond} agent steps/s)"
    | None -> ()
    log $"done: {summary.Steps} agent steps ({inv summary.StepsPerSecond}/s), {summary.Updates} updates in {inv summary.Seconds} s; best evaluation {inv summary.Best.MeanReturn} at {summary.Best.Step}, final {inv final.MeanReturn}; {out}"
    0

type ApeXModelArgs =
    | Max_Actors of int
    | Bandwidth_Gbit of float
    | Steps of int
    | Actor_Steps_Per_Second of float
    | Update_Ms of float
    | Ingest_Us of float
    | Steps_Per_Update of float
    | Bytes_Per_Step of float
    | Parameter_Bytes of float
    | Parameter_Interval of float
    | Out of dir: string

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Max_Actors _ -> "the largest N of the table (default 64)."
            | Bandwidth_Gbit _ -> "the learner's network bandwidth, Gbit/s each way (default 1)."
            | Steps _ -> "agent steps the learner stores in each measuring run (default 20000)."
            | Actor_Steps_Per_Second _ -> "what-if: an actor's agent steps/s instead of measuring the CartPole actor here."
            | Update_Ms _ -> "what-if: milliseconds per learner update instead of measuring."
            | Ingest_Us _ -> "what-if: learner microseconds per stored agent step instead of measuring."
            | Steps_Per_Update _ -> "agent steps per update the replay ratio holds (default the config's TrainFrequency / GradientSteps; 0: learner not tied to the actors)."
            | Bytes_Per_Step _ -> "what-if: experience bytes per agent step instead of measuring."
            | Parameter_Bytes _ -> "what-if: bytes of a parameter snapshot instead of measuring."
            | Parameter_Interval _ -> "agent steps between an actor's parameter pulls (default the config's)."
            | Out _ -> "folder for apex-model.json (default runs/apex-model)."

/// `apex-model`: the costs of Ape-X's actor and learner measured here (CartPole, the default config), then the
/// throughput model (ApeXModel) for N = 1 .. max actors.
let runModel (a: ParseResults<ApeXModelArgs>) =
    torch.set_num_threads 1
    let maxActors = a.GetResult(Max_Actors, 64)
    Cli.positive "--max-actors" (int64 maxActors)
    let gbit = a.GetResult(Bandwidth_Gbit, 1.0)
    if not (gbit > 0.0) then Cli.usage $"--bandwidth-gbit {gbit}: expected a positive number"
    let steps = a.GetResult(ApeXModelArgs.Steps, 20_000)
    Cli.positive "--steps" (int64 steps)
    let out = Cli.outputFolder "--out" (a.GetResult(ApeXModelArgs.Out, Path.Combine("runs", "apex-model")))
    let config = { ApeXConfig.defaults with Dqn = { ApeXConfig.defaults.Dqn with EvalInterval = 0; EvalEpisodes = 1 } }
    let serializer = ApeXSerializer(null)
    // The actor: ApeXActing.run for 5 s against an inbox that acknowledges at once and offers fresh parameters on
    // every request (so loads are paid for), every message serialized as Akka would.
    use probe = new LearnerCore(config, ignore, None, ApeXEmulators.bridged)
    let welcome = (probe.Register(0, Akka.Actor.ActorRefs.Nobody)).Value
    let parameterBytes = float (serializer.ToBinary welcome.Parameters).Length
    let recorded = ResizeArray<Experience>()
    let mutable experienceBytes = 0L
    let inbox = ActorInbox()
    let mutable version = welcome.Parameters.Version
    let send (m: obj) =
        match m with
        | :? Experience as e ->
            experienceBytes <- experienceBytes + int64 (serializer.ToBinary e).Length
            recorded.Add e
            inbox.Acked()
        | :? ParametersRequest ->
            version <- version + 1L
            inbox.Offer { welcome.Parameters with Version = version }
        | _ -> ()
    use stopAfter = new CancellationTokenSource(TimeSpan.FromSeconds 5.0)
    let report =
        use side = new ClassicActing(welcome)
        ApeXActing.loop welcome side inbox send (TimeSpan.FromSeconds 10.0) stopAfter.Token
    let actorRate = float report.Steps / report.Seconds
    let recordedSteps = recorded |> Seq.sumBy (fun e -> int64 e.Steps)
    let bytesPerStep = float experienceBytes / float recordedSteps
    // The learner: the recorded messages fed again and again to LearnerCore.Run, once without updates (ingest) and
    // once with the config's (ingest + updates).
    let learnerSeconds (learningStarts: int) =
        let c = { config with TotalSteps = int64 steps; Dqn = { config.Dqn with LearningStarts = learningStarts } }
        use core = new LearnerCore(c, ignore, None, ApeXEmulators.bridged)
        use stop = new CancellationTokenSource()
        let feeder =
            Tasks.Task.Run(fun () ->
                let mutable i = 0
                while not stop.IsCancellationRequested do
                    core.Offer(recorded[i % recorded.Count], Akka.Actor.ActorRefs.Nobody)
                    i <- i + 1
                    if i % 8 = 0 then Thread.Sleep 1)
        let summary = core.Run(CancellationToken.None, None)
        stop.Cancel()
        feeder.Wait()
        summary.Seconds, summary.Updates
    let ingestOnly, _ = learnerSeconds steps
    let withUpdates, updates = learnerSeconds config.Dqn.LearningStarts
    let ingest = ingestOnly / float steps
    let update = (withUpdates - ingestOnly) / float updates
    let costs =
        { ActorStepsPerSecond = a.GetResult(Actor_Steps_Per_Second, actorRate)
          IngestSecondsPerStep = (match a.TryGetResult Ingest_Us with Some us -> us * 1e-6 | None -> ingest)
          UpdateSeconds = (match a.TryGetResult Update_Ms with Some ms -> ms * 1e-3 | None -> update)
          StepsPerUpdate = a.GetResult(Steps_Per_Update, float config.Dqn.TrainFrequency / float config.Dqn.GradientSteps)
          BytesInPerStep = a.GetResult(Bytes_Per_Step, bytesPerStep)
          ParameterBytes = a.GetResult(Parameter_Bytes, parameterBytes)
          ParameterInterval = a.GetResult(Parameter_Interval, float config.ParameterInterval)
          BandwidthBytesPerSecond = gbit * 1e9 / 8.0 }
    let rows = Cli.value "--actor-steps-per-second" (fun () -> ApeXModel.table costs maxActors)
    printfn "measured here (CartPole-v1, %d-unit MLP, one thread each): actor %s agent steps/s; learner %s µs a stored step, %s ms an update; %s bytes of experience a step, %s bytes a parameter snapshot"
        config.Dqn.Hidden.Head (inv actorRate) (inv (ingest * 1e6)) (inv (update * 1e3)) (inv bytesPerStep) (inv parameterBytes)
    printfn "model: steps/update %s, pull every %s steps, %s Gbit/s" (inv costs.StepsPerUpdate) (inv costs.ParameterInterval) (inv gbit)
    printfn "%8s %14s %14s %14s %14s %12s  %s" "actors" "actor-bound" "learner-bound" "network-bound" "steps/s" "updates/s" "bottleneck"
    for r in rows do
        printfn "%8d %14s %14s %14s %14s %12s  %s" r.Actors (inv r.ActorBound) (inv r.LearnerBound) (inv r.NetworkBound) (inv r.StepsPerSecond) (inv r.UpdatesPerSecond) r.Bottleneck
    Json.write (Path.Combine(out, "apex-model.json")) (fun w ->
        w.WriteNumber("measured_actor_steps_per_second", actorRate)
        w.WriteNumber("measured_ingest_seconds_per_step", ingest)
        w.WriteNumber("measured_update_seconds", update)
        w.WriteNumber("measured_bytes_per_step", bytesPerStep)
        w.WriteNumber("measured_parameter_bytes", parameterBytes)
        w.WriteNumber("bandwidth_gbit", gbit)
        w.WriteNumber("steps_per_update", costs.StepsPerUpdate)
        w.WriteStartArray "rows"
        for r in rows do
            w.WriteStartObject()
            w.WriteNumber("actors", r.Actors)
            w.WriteNumber("actor_bound", r.ActorBound)
            w.WriteNumber("learner_bound", r.LearnerBound)
            w.WriteNumber("network_bound", r.NetworkBound)
            w.WriteNumber("steps_per_second", r.StepsPerSecond)
            w.WriteNumber("updates_per_second", r.UpdatesPerSecond)
            w.WriteString("bottleneck", r.Bottleneck)
            w.WriteEndObject()
        w.WriteEndArray())
    0
