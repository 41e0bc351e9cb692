/// `dqnfun-bench atari` and `dqnfun-bench atari-eval`: DQN and its family on Atari games through the ALE bridge.
module Dqn.Fun.Bench.AtariRun

open System
open System.IO
open System.Text.Json
open Argu
open Spectre.Console
open Dqn.Fun
open Dqn.Fun.Atari
open TorchSharp

type AtariArgs =
    | Game of name: string
    | Frames of emulatorFrames: int64
    | Preset of name: string
    | Seed of int
    | Out of dir: string
    | Bridge of auto_or_endpoint: string
    | Eval_Bridge of endpoint: string
    | Rom of path: string
    | Device of string
    | Threads of int
    | Eval_Interval of emulatorFrames: int64
    | Eval_Episodes of games: int
    | Checkpoint_Interval of emulatorFrames: int64
    | Learning_Starts of agentSteps: int
    | Buffer_Size of transitions: int
    | Restart_Bridge
    | Video of dir: string
    | Video_Episodes of games: int
    | Resume of dir: string
    | Overlap
    | Envs of count: int
    | Servers of count: int
    | Quiet

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Game _ -> "the game (required unless --resume): an ale_py ROM id or its CamelCase name (pong, breakout, SpaceInvaders, ...)."
            | Frames _ -> "emulator frames to train for (default 10000000; 4 frames per agent step)."
            | Preset _ -> $"""{String.Join(", ", AtariConfig.presetNames)} (default nature)."""
            | Seed _ -> "seed for torch, the replay, exploration, no-op starts and the ALE (default 0)."
            | Out _ -> "output folder (default runs/atari-<game>-<preset>-seed<seed>)."
            | Bridge _ -> "auto (start python3 atari/bridge/ale_bridge.py; default) or the endpoint of a running bridge server."
            | Eval_Bridge _ -> "endpoint of a second running server for evaluation games (default: start one)."
            | Rom _ -> "a ROM file to load instead of ale_py's ROM for the game."
            | Device _ -> "cpu (default), cuda, cuda:N, or auto."
            | Threads _ -> "libtorch intra-op threads (default 1)."
            | Eval_Interval _ -> "emulator frames between evaluations (default: the preset's)."
            | Eval_Episodes _ -> "games per evaluation (default: the preset's protocol, 30 for nature, 100 for machado)."
            | Checkpoint_Interval _ -> "emulator frames between training checkpoints in <out>/checkpoints (networks, optimizer, replay with its frames LZ4-compressed, generators, counters; default: the preset's). Ctrl-C or SIGTERM (kill PID) writes one where it stops."
            | Learning_Starts _ -> "agent steps before learning starts (default: the preset's)."
            | Buffer_Size _ -> "replay capacity in transitions (default: the preset's, 1000000; about 7.1 GB)."
            | Restart_Bridge -> "when the bridge server dies, restart it and go on with a fresh episode (default: stop)."
            | Video _ -> "write evaluation games (Nature protocol) as animated GIFs of the raw screens into this folder: frames<N>-game<K>.gif."
            | Video_Episodes _ -> "with --video: games recorded of each evaluation, the first ones (default 1)."
            | Resume _ -> "continue the run in this folder from its newest checkpoint, with its settings (run.json); only --frames (the run's total), --bridge, --eval-bridge, --threads, --restart-bridge, --overlap and --quiet may be given beside it. metrics.csv is cut back to the checkpoint and appended to."
            | Overlap -> "learn on a thread of its own while acting (AtariAgent.Learn overlap): the preset's replay ratio held, the actor at most one training period ahead; not reproducible bit for bit."
            | Envs _ -> "training environments stepped together (AtariVectorEnvironment; default 1): each env's step is one agent step, the greedy actions of all come from one forward pass, each env's frames go to its own stream of the replay. Needs --bridge auto."
            | Servers _ -> "with --envs: bridge servers the envs are split over, stepped in parallel (default: min(envs, cores))."
            | Quiet -> "print only the summary."

and AtariEvalArgs =
    | [<Mandatory>] Model of path: string
    | [<Mandatory>] Game of name: string
    | Games of int
    | Epsilon of float
    | Seed of int
    | Bridge of auto_or_endpoint: string
    | Rom of path: string
    | Sticky of probability: float
    | Device of string
    | Out of path: string
    | Video of dir: string
    | Video_Episodes of games: int

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Model _ -> "a model.safetensors written by `dqnfun-bench atari`."
            | Game _ -> "the game it was trained on."
            | Games _ -> "evaluation games (default 30)."
            | Epsilon _ -> "ε of the ε-greedy evaluation policy (default 0.05, Mnih et al. 2015)."
            | Seed _ -> "seed of the no-op starts, the ALE and exploration (default 0)."
            | Bridge _ -> "auto (default) or the endpoint of a running bridge server."
            | Rom _ -> "a ROM file to load instead of ale_py's ROM for the game."
            | Sticky _ -> "repeat_action_probability of the ALE (default 0: the Nature protocol)."
            | Device _ -> "cpu (default), cuda, cuda:N, or auto."
            | Out _ -> "write the result as JSON to this file."
            | Video _ -> "write the games as animated GIFs of the raw screens into this folder: game<K>.gif."
            | Video_Episodes _ -> "with --video: record only the first N games (default: every one)."

let private parseDevice (s: string) = Devices.parse s

/// One emulator on its own bridge (BridgedEmulator): the ROM file when given, else the game id.
let openEmulator (bridgeArg: string) (game: string) (rom: string option) (seed: int) (sticky: float) =
    BridgedEmulator.Open(defaultArg rom game, seed, sticky, endpoint = bridgeArg, romIsPath = rom.IsSome)

/// Restart a dead server (not one that refused a request) and go on.
let private restartOn (b: BridgedEmulator) (e: exn) =
    let restarted = b.RestartAfter e
    if restarted then AnsiConsole.MarkupLineInterpolated($"[yellow]bridge failed[/] ({e.Message}); restarted it")
    restarted

let private writeJson = Json.write

/// An emulator that records its games into GIFs (RecordingEmulator at 60 Hz / frame skip), when `video` asks for it.
let private recorded (video: Video.VideoOptions option) (frameSkip: int) (emulator: IAtariEmulator) =
    match video with
    | Some v ->
        let gifs = Video.GifRecorder(v.Dir, v.EpisodesPerEvaluation, "game")
        let recorder = RecordingEmulator(emulator, gifs, 60.0 / float frameSkip)
        recorder :> IAtariEmulator, Some(gifs, recorder)
    | None -> emulator, None

/// Names the GIFs of the evaluation that just ended (a last game cut by the time limit included).
let private videosOf (recording: (Video.GifRecorder * RecordingEmulator) option) (label: string) =
    match recording with
    | Some(gifs, recorder) ->
        recorder.EndEpisode()
        gifs.NextEvaluation label |> ignore
    | None -> ()

/// An evaluation as summary.json reports it.
type private Score =
    { Protocol: string; Frames: int64; Mean: float; Std: float; Games: int }
    static member Of(r: AtariEvaluation) = { Protocol = r.Protocol; Frames = r.Frames; Mean = r.Mean; Std = r.Std; Games = r.Returns.Length }

/// The evaluations in an Atari run's metrics.csv (AtariMetricsCsvWriter's columns), in order.
let private scoresIn (path: string) =
    let lines = File.ReadAllLines path
    let header = lines[0].Split ','
    let column (name: string) = Array.IndexOf(header, name)
    let number (s: string) = Double.Parse(s, Globalization.CultureInfo.InvariantCulture)
    [| for l in lines[1..] do
           let f = l.Split ','
           if f[0] = "eval" then
               { Protocol = f[column "protocol"]
                 Frames = int64 f[column "frames"]
                 Mean = number f[column "eval_mean"]
                 Std = number f[column "eval_std"]
                 Games = int f[column "eval_games"] } |]

let rec runAtari (a: ParseResults<AtariArgs>) =
    match a.TryGetResult AtariArgs.Resume with
    | Some dir ->
        let allowed =
            function
            | AtariArgs.Frames _ | AtariArgs.Bridge _ | AtariArgs.Eval_Bridge _ | AtariArgs.Threads _ | AtariArgs.Restart_Bridge
            | AtariArgs.Overlap | AtariArgs.Quiet -> true
            | _ -> false
        startAtari (Cli.resumeArgs a.Parser "atari" dir a (function AtariArgs.Resume _ -> true | _ -> false) allowed (AtariArgs.Out dir)) true
    | None -> startAtari a false

and private startAtari (a: ParseResults<AtariArgs>) (resume: bool) =
    // Every value is checked before anything is created (Cli).
    let game =
        match a.TryGetResult AtariArgs.Game with
        | Some g -> Cli.value "--game" (fun () -> AtariScores.gameId g)
        | None -> Cli.usage "--game is required (the game to train on)"
    let presetName = a.GetResult(AtariArgs.Preset, "nature")
    let seed = a.GetResult(AtariArgs.Seed, 0)
    let frames = a.GetResult(AtariArgs.Frames, 10_000_000L)
    Cli.positive "--frames" frames
    let out = a.GetResult(AtariArgs.Out, Path.Combine("runs", $"atari-{game}-{presetName}-seed{seed}"))
    let preset = Cli.value "--preset" (fun () -> AtariConfig.preset presetName)
    let threads = a.GetResult(AtariArgs.Threads, 1)
    if threads < 1 then Cli.usage $"--threads {threads}: expected at least 1"
    a.TryGetResult AtariArgs.Rom |> Option.iter (Cli.inputFile "--rom" >> ignore)
    // LibTorch's intra-op threads are a process setting, made once here.
    torch.set_num_threads threads
    let dqn =
        { preset.Dqn with
            Seed = seed
            Device = Cli.device "--device" (a.GetResult(AtariArgs.Device, "cpu"))
            LearningStarts = a.GetResult(AtariArgs.Learning_Starts, preset.Dqn.LearningStarts)
            BufferSize = a.GetResult(AtariArgs.Buffer_Size, preset.Dqn.BufferSize) }
    let evaluation =
        match preset.Evaluation, a.TryGetResult AtariArgs.Eval_Episodes with
        | Nature _, Some n -> Nature n
        | Machado _, Some n -> Machado n
        | e, None -> e
    let config =
        Cli.value "the settings" (fun () ->
            AtariConfig.validate
                { preset with
                    Dqn = dqn
                    Evaluation = evaluation
                    EvalIntervalFrames = a.GetResult(AtariArgs.Eval_Interval, preset.EvalIntervalFrames)
                    CheckpointIntervalFrames = a.GetResult(AtariArgs.Checkpoint_Interval, preset.CheckpointIntervalFrames) })
    let quiet = a.Contains AtariArgs.Quiet
    let rom = a.TryGetResult AtariArgs.Rom
    a.TryGetResult AtariArgs.Video |> Option.iter (Cli.outputFolder "--video" >> ignore)
    Cli.outputFolder "--out" out |> ignore
    let checkpoints = Path.Combine(out, "checkpoints")
    if not resume && (TrainingCheckpoint.tryLatest checkpoints).IsSome then
        Cli.usage $"--out {out} holds a run's checkpoints: go on with --resume {out}, or choose another folder"
    let envs = a.GetResult(AtariArgs.Envs, 1)
    if envs < 1 then Cli.usage $"--envs {envs}: expected at least 1"
    let servers = a.GetResult(AtariArgs.Servers, min envs Environment.ProcessorCount)
    if servers < 1 || servers > envs then Cli.usage $"--servers {servers}: expected 1 .. --envs ({envs})"
    let bridgeArg = a.GetResult(AtariArgs.Bridge, "auto")
    if envs > 1 && bridgeArg <> "auto" then Cli.usage $"--envs {envs} launches its own servers: give --bridge auto (or leave it out)"
    // The bridges come first: an unknown game or a missing ale_py stops the run before any file is written.
    let train =
        if envs = 1 then Choice1Of2(openEmulator bridgeArg game rom seed config.RepeatActionProbability)
        else Choice2Of2(BridgedVectorEmulator.Launch(defaultArg rom game, envs, servers, seed, config.RepeatActionProbability, romIsPath = rom.IsSome))
    use _ =
        match train with
        | Choice1Of2 b -> b :> IDisposable
        | Choice2Of2 v -> v :> IDisposable
    let server =
        match train with
        | Choice1Of2 b -> b.Bridge.Server
        | Choice2Of2 v -> $"{envs} envs on {servers} servers, {v.Bridges[0].Server}"
    // Under the Machado protocol there is no evaluation environment.
    let evalBridge =
        match config.Evaluation with
        | Nature _ -> Some(openEmulator (a.GetResult(AtariArgs.Eval_Bridge, "auto")) game rom (seed + 1_000) config.RepeatActionProbability)
        | Machado _ -> None
    use _ = { new IDisposable with member _.Dispose() = evalBridge |> Option.iter (fun b -> (b :> IDisposable).Dispose()) }
    Directory.CreateDirectory out |> ignore
    Cli.writeRunArgs out "atari" a.Parser (a.GetAllResults())
    let describe = AtariConfig.describe config
    writeJson (Path.Combine(out, "config.json")) (fun w ->
        w.WriteString("game", game)
        w.WriteNumber("frames", frames)
        for k, v in describe do
            w.WriteString(k, v))
    if not quiet then
        let t = Table().AddColumn("setting (unit)").AddColumn("value")
        for k, v in describe do
            t.AddRow(Markup.Escape k, Markup.Escape v) |> ignore
        AnsiConsole.Write t
    let env, vectorEnv =
        match train with
        | Choice1Of2 b -> Some(AtariEnvironment(b.Emulator, config.Environment, seed)), None
        | Choice2Of2 v -> None, Some(AtariVectorEnvironment(v, config.Environment, seed))
    let actionCount = match env, vectorEnv with Some e, _ -> e.ActionCount | _, Some v -> v.ActionCount | _ -> 0
    let video =
        a.TryGetResult AtariArgs.Video
        |> Option.map (fun dir -> { Video.Dir = dir; Video.EpisodesPerEvaluation = Some(a.GetResult(AtariArgs.Video_Episodes, 1)) })
    if video.IsSome && evalBridge.IsNone then
        AnsiConsole.MarkupLine "[yellow]warning[/]: the Machado protocol plays no evaluation games: --video records nothing"
    let evalEmulator, recording =
        match evalBridge with
        | Some b -> let e, r = recorded video config.Environment.FrameSkip b.Emulator in Some e, r
        | None -> None, None
    let evalEnv =
        evalEmulator |> Option.map (fun e -> AtariEnvironment(e, AtariConfig.natureEvaluationSettings config.Environment, seed + 1_000))
    AnsiConsole.MarkupLineInterpolated(
        $"[bold]{game}[/] ({server}), {actionCount} actions, preset {config.Preset}, {frames} frames = {frames / int64 config.Environment.FrameSkip} agent steps, seed {seed}, torch {torch.__version__} on {config.Dqn.Device}"
    )
    use agent = if resume then AtariAgent.Resume(checkpoints, config) else new AtariAgent(config, actionCount)
    if agent.Frames >= frames then
        Cli.usage $"--frames {frames}: the run in {out} has {agent.Frames} frames already; give a larger total"
    let metricsPath = Path.Combine(out, "metrics.csv")
    use csv =
        if resume then new AtariMetricsCsvWriter(metricsPath, game, agent.Frames) else new AtariMetricsCsvWriter(metricsPath, game)
    let tb = AtariTensorBoardWriter(out, game)
    let modelPath = Path.Combine(out, "model.safetensors")
    let bestPath = Path.Combine(out, "best_model.safetensors")
    let extra = Map [ "game", game ]
    // The best evaluation so far: a resumed run's are in metrics.csv up to its checkpoint.
    let mutable best: Score option =
        if resume then scoresIn metricsPath |> Array.fold (fun b r -> if Option.forall (fun b -> r.Mean > b.Mean) b then Some r else b) None
        else None
    let mutable lastPrint = 0L
    let hns (score: float) =
        match AtariScores.humanNormalized game score with
        | Some h -> $"{h:F1}%% human"
        | None -> "no human reference"
    let observe (e: AtariEvent) =
        csv.Write e
        tb.Write e
        match e with
        | GameEnded m when not quiet && (m.Frames - lastPrint >= 50_000L || m.Game <= 3) ->
            lastPrint <- m.Frames
            // Before learning starts there is no loss or Q to show.
            let num (format: string) (x: float) = if Double.IsNaN x then "-" else x.ToString(format, Globalization.CultureInfo.InvariantCulture)
            let loss, q = num "F4" m.Loss, num "F2" m.MeanQ
            AnsiConsole.MarkupLineInterpolated(
                $"[grey]frames[/] {m.Frames,10} [grey]steps[/] {m.AgentSteps,9} [grey]game[/] {m.Game,5} [grey]score[/] {m.Return,7:F1} [grey]ε[/] {m.Epsilon:F3} [grey]loss[/] {loss} [grey]Q[/] {q,6} [grey]frames/s[/] {m.FramesPerSecond:F0}"
            )
        | Evaluated r ->
            videosOf recording $"frames{r.Frames:D9}"
            AnsiConsole.MarkupLineInterpolated(
                $"[green]eval[/] ({r.Protocol}) frames {r.Frames}: {r.Mean:F1} ± {r.Std:F1} over {r.Returns.Length} games, {hns r.Mean}"
            )
            if best.IsNone || r.Mean > best.Value.Mean then
                best <- Some(Score.Of r)
                agent.Save(bestPath, extra |> Map.add "frames" (string r.Frames))
        | CheckpointDue f ->
            agent.Save(modelPath, extra |> Map.add "frames" (string f))
            agent.SaveCheckpoint(checkpoints, extra = (extra |> Map.add "frames" (string f))) |> ignore
        | Recovered _ -> ()
        | GameEnded _ -> ()
    let restart = a.Contains AtariArgs.Restart_Bridge
    let recover (e: exn) =
        restart
        && match train with
           | Choice1Of2 b -> restartOn b e
           | Choice2Of2 v ->
               let restarted = v.RestartAfter e
               if restarted then AnsiConsole.MarkupLineInterpolated($"[yellow]bridge failed[/] ({e.Message}); restarted the servers")
               restarted
    let recoverEvaluation (e: exn) =
        match evalBridge with
        | Some b -> restart && restartOn b e
        | None -> false
    let clock = Diagnostics.Stopwatch.StartNew()
    // Ctrl-C or SIGTERM stops training at the next agent step; a checkpoint is written there.
    use cancel = new Threading.CancellationTokenSource()
    use _ = Cli.onStopSignals cancel
    let summary =
        try
            let acting =
                match env, vectorEnv with
                | Some env, _ -> AtariActing.ofEnvironment env
                | _, Some vectorEnv -> AtariActing.ofVector vectorEnv
                | None, None -> failwith "no training environment"
            agent.LearnOn(
                acting,
                frames - agent.Frames,
                evalEnv,
                Some observe,
                Some recover,
                Some cancel.Token,
                Some recoverEvaluation,
                Some(a.Contains AtariArgs.Overlap)
            )
        with
        | :? OperationCanceledException ->
            let folder = agent.SaveCheckpoint(checkpoints, extra = (extra |> Map.add "frames" (string agent.Frames)))
            eprintfn $"dqnfun-bench: interrupted at {agent.Frames} frames; checkpoint {folder}; go on with: dqnfun-bench atari --resume {out}"
            reraise ()
        | e ->
            // Keep what was learned (the network as it is now) and what the run reached, then report the failure.
            let reached = agent.Frames
            agent.Save(modelPath, extra |> Map.add "frames" (string reached) |> Map.add "status" "failed")
            writeJson (Path.Combine(out, "summary.json")) (fun w ->
                w.WriteString("status", "failed")
                w.WriteString("error", Cli.oneLine e)
                w.WriteString("game", game)
                w.WriteString("preset", config.Preset)
                w.WriteNumber("seed", seed)
                w.WriteNumber("frames", reached)
                w.WriteNumber("agent_steps", agent.AgentSteps)
                w.WriteNumber("updates", agent.Updates)
                w.WriteNumber("wall_seconds", clock.Elapsed.TotalSeconds)
                w.WriteString("server", server))
            raise (Cli.RuntimeError $"training stopped after {reached} frames: {Cli.oneLine e} (saved the network to {modelPath}, the run's state to summary.json)")
    agent.Save(modelPath, extra |> Map.add "frames" (string agent.Frames))
    // The run's end is a checkpoint too, so that --resume with more frames extends it.
    if TrainingCheckpoint.tryLatest checkpoints <> Some(Path.Combine(Path.GetFullPath checkpoints, TrainingCheckpoint.folderName agent.AgentSteps)) then
        agent.SaveCheckpoint(checkpoints, extra = (extra |> Map.add "frames" (string agent.Frames))) |> ignore
    let final = List.tryLast summary.Evaluations
    writeJson (Path.Combine(out, "summary.json")) (fun w ->
        w.WriteString("status", "completed")
        w.WriteString("game", game)
        w.WriteString("preset", config.Preset)
        w.WriteNumber("seed", seed)
        // The run's counts (a resumed run's included); games and the times are this invocation's.
        w.WriteNumber("frames", agent.Frames)
        w.WriteNumber("agent_steps", agent.AgentSteps)
        w.WriteNumber("updates", agent.Updates)
        w.WriteNumber("games", summary.Games)
        w.WriteNumber("wall_seconds", summary.WallSeconds)
        // Throughput over training time: the evaluations' seconds are not in it.
        w.WriteNumber("evaluation_seconds", summary.EvaluationSeconds)
        w.WriteNumber("frames_per_second", summary.FramesPerSecond)
        w.WriteNumber("agent_steps_per_second", summary.AgentStepsPerSecond)
        w.WriteString("server", server)
        w.WriteString("torch", torch.__version__)
        w.WriteString("device", Devices.name config.Dqn.Device)
        let score (name: string) (r: Score option) =
            match r with
            | Some r ->
                w.WriteStartObject name
                w.WriteString("protocol", r.Protocol)
                w.WriteNumber("frames", r.Frames)
                w.WriteNumber("mean", r.Mean)
                w.WriteNumber("std", r.Std)
                w.WriteNumber("games", r.Games)
                match AtariScores.humanNormalized game r.Mean with
                | Some h -> w.WriteNumber("human_normalized", h)
                | None -> w.WriteNull "human_normalized"
                w.WriteEndObject()
            | None -> w.WriteNull name
        score "final_evaluation" (final |> Option.map Score.Of)
        score "best_evaluation" best
        w.WriteStartArray "evaluations"
        for e in summary.Evaluations do
            w.WriteStartObject()
            w.WriteNumber("frames", e.Frames)
            w.WriteNumber("mean", e.Mean)
            w.WriteNumber("std", e.Std)
            w.WriteEndObject()
        w.WriteEndArray())
    let finalText =
        match final with
        | Some r -> $"final score ({r.Protocol}) {r.Mean:F1} ± {r.Std:F1} over {r.Returns.Length} games, {hns r.Mean}"
        | None -> "no evaluation"
    AnsiConsole.MarkupLineInterpolated(
        $"[bold]{game}[/] {config.Preset} seed {seed}: {summary.Frames} frames, {summary.AgentSteps} agent steps, {summary.Updates} updates, {summary.Games} games in {summary.WallSeconds:F0} s ({summary.FramesPerSecond:F0} frames/s); {finalText}. Wrote {out}"
    )
    recording |> Option.iter (fun (gifs, _) -> AnsiConsole.MarkupLineInterpolated($"{gifs.Written.Length} game videos in {gifs.Dir}"))
    0

let runAtariEval (a: ParseResults<AtariEvalArgs>) =
    let game = Cli.value "--game" (fun () -> AtariScores.gameId (a.GetResult AtariEvalArgs.Game))
    let path = Cli.inputFile "--model" (a.GetResult AtariEvalArgs.Model)
    let seed = a.GetResult(AtariEvalArgs.Seed, 0)
    let games = a.GetResult(AtariEvalArgs.Games, 30)
    Cli.positive "--games" (int64 games)
    let epsilon = a.GetResult(AtariEvalArgs.Epsilon, 0.05)
    if not (epsilon >= 0.0 && epsilon <= 1.0) then Cli.usage $"--epsilon {epsilon}: expected a value in [0, 1]"
    let sticky = a.GetResult(AtariEvalArgs.Sticky, 0.0)
    if not (sticky >= 0.0 && sticky <= 1.0) then Cli.usage $"--sticky {sticky}: expected a value in [0, 1]"
    a.TryGetResult AtariEvalArgs.Rom |> Option.iter (Cli.inputFile "--rom" >> ignore)
    a.TryGetResult AtariEvalArgs.Video |> Option.iter (Cli.outputFolder "--video" >> ignore)
    let agent, metadata = Cli.value "--model" (fun () -> try AtariAgent.Load path with :? InvalidDataException as e -> invalidArg "model" e.Message)
    use agent = agent
    match metadata.TryFind "game" with
    | Some g when g <> game -> AnsiConsole.MarkupLineInterpolated($"[yellow]warning[/]: the model was trained on {g}, evaluating on {game}")
    | _ -> ()
    use b = openEmulator (a.GetResult(AtariEvalArgs.Bridge, "auto")) game (a.TryGetResult AtariEvalArgs.Rom) seed sticky
    let video =
        a.TryGetResult AtariEvalArgs.Video
        |> Option.map (fun dir -> { Video.Dir = dir; Video.EpisodesPerEvaluation = a.TryGetResult AtariEvalArgs.Video_Episodes })
    let emulator, recording = recorded video agent.Config.Environment.FrameSkip b.Emulator
    let env = AtariEnvironment(emulator, AtariConfig.natureEvaluationSettings agent.Config.Environment, seed)
    if env.ActionCount <> agent.ActionCount then
        Cli.usage $"--model {path} has {agent.ActionCount} actions, {game} has {env.ActionCount}: wrong game?"
    let scores = agent.Evaluate(env, games, epsilon, seed)
    videosOf recording ""
    recording |> Option.iter (fun (gifs, _) -> AnsiConsole.MarkupLineInterpolated($"{gifs.Written.Length} game videos in {gifs.Dir}"))
    let mean = Array.average scores
    let std = sqrt (scores |> Array.averageBy (fun s -> (s - mean) ** 2.0))
    let hns = AtariScores.humanNormalized game mean
    let hnsText = match hns with Some h -> $"{h:F1}%% of human" | None -> "no human reference"
    AnsiConsole.MarkupLineInterpolated(
        $"[bold]{game}[/] {path}: {mean:F1} ± {std:F1} over {games} games (Nature protocol: up to 30 no-op starts, ε {epsilon}, 18000-frame cap, sticky {sticky}); {hnsText}"
    )
    match a.TryGetResult AtariEvalArgs.Out with
    | Some file ->
        writeJson file (fun w ->
            w.WriteString("game", game)
            w.WriteString("model", path)
            w.WriteNumber("games", games)
            w.WriteNumber("epsilon", epsilon)
            w.WriteNumber("repeat_action_probability", sticky)
            w.WriteNumber("mean", mean)
            w.WriteNumber("std", std)
            match hns with
            | Some h -> w.WriteNumber("human_normalized", h)
            | None -> w.WriteNull "human_normalized"
            w.WriteStartArray "scores"
            for s in scores do
                w.WriteNumberValue s
            w.WriteEndArray())
    | None -> ()
    0
