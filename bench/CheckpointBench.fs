/// `dqnfun-bench checkpoint`: the size and the write and read seconds of an Atari training checkpoint whose frame
/// replay is full (1M transitions by default): real preprocessed frames of a random policy on the game through the ALE
/// bridge, replayed in order until the buffer holds that many transitions, then written and read back as
/// AtariAgent.SaveCheckpoint and Resume do (state.safetensors, frames.lz4) and checked equal; the networks and
/// optimizer of the Nature CNN (model.safetensors and the rest of state.safetensors) are timed apart.
module Dqn.Fun.Bench.CheckpointBench

open System
open System.Diagnostics
open System.IO
open Argu
open Spectre.Console
open Dqn.Fun
open Dqn.Fun.Atari

type CheckpointArgs =
    | Game of name: string
    | Rom of path: string
    | Bridge of auto_or_endpoint: string
    | Transitions of int
    | Record of agentSteps: int
    | Seed of int
    | Out of dir: string

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Game _ -> "the game whose frames fill the replay (default breakout)."
            | Rom _ -> "a ROM file to load instead of ale_py's ROM for the game."
            | Bridge _ -> "auto (start python3 atari/bridge/ale_bridge.py; default) or the endpoint of a running bridge server."
            | Transitions _ -> "replay capacity, filled (default 1000000: about 7.1 GB of frames, twice over while reading back)."
            | Record _ -> "agent steps of random play recorded from the game and replayed in order to fill it (default 20000)."
            | Seed _ -> "seed of the random policy and the ALE (default 0)."
            | Out _ -> "folder for the checkpoint files (removed at the end) and checkpoint.json (default runs/checkpoint-bench)."

/// One recorded step: a new episode's first frame, or an agent step's action, clipped reward, next frame and end.
type private Recorded =
    | Start of frame: byte[]
    | Step of action: int * reward: float32 * frame: byte[] * terminated: bool * truncated: bool

let private mb (bytes: int64) = float bytes / 1e6

let run (a: ParseResults<CheckpointArgs>) =
    let game = Cli.value "--game" (fun () -> AtariScores.gameId (a.GetResult(CheckpointArgs.Game, "breakout")))
    let capacity = a.GetResult(CheckpointArgs.Transitions, 1_000_000)
    Cli.positive "--transitions" (int64 capacity)
    let record = a.GetResult(CheckpointArgs.Record, 20_000)
    Cli.positive "--record" (int64 record)
    let seed = a.GetResult(CheckpointArgs.Seed, 0)
    let out = Cli.outputFolder "--out" (a.GetResult(CheckpointArgs.Out, Path.Combine("runs", "checkpoint-bench")))
    let rom = a.TryGetResult CheckpointArgs.Rom |> Option.map (Cli.inputFile "--rom")
    let config = AtariConfig.preset "dopamine"
    use bridge = AtariRun.openEmulator (a.GetResult(CheckpointArgs.Bridge, "auto")) game rom seed config.RepeatActionProbability
    Directory.CreateDirectory out |> ignore
    let env = AtariEnvironment(bridge.Emulator, config.Environment, seed)
    let frameBytes = 84 * 84
    let newest (stack: byte[]) = stack[stack.Length - frameBytes ..]
    // Random play: the frames a replay holds early in training.
    let random = Random seed
    let recorded = ResizeArray<Recorded>()
    recorded.Add(Start(newest (env.Reset())))
    for _ in 1..record do
        let action = random.Next env.ActionCount
        let s = env.Step action
        recorded.Add(Step(action, float32 s.Reward, newest s.Observation, s.Terminated, s.Truncated))
        if s.Terminated || s.Truncated then recorded.Add(Start(newest (env.Reset())))
    AnsiConsole.MarkupLineInterpolated($"recorded {record} agent steps of random play on {game} ({bridge.Bridge.Server})")
    // Fill: the recording over and over, each pass from an episode start.
    let fill () =
        let replay = FrameReplayBuffer(capacity, seed)
        let mutable added = 0L
        while added < int64 capacity do
            for r in recorded do
                match r with
                | Start frame -> replay.StartEpisode(ReadOnlySpan frame)
                | Step(action, reward, frame, terminated, truncated) ->
                    replay.Add(action, reward, ReadOnlySpan frame, terminated, truncated)
                    added <- added + 1L
        replay
    /// A 64-bit digest of every stored frame, to check the replay read back without keeping two in memory.
    let digest (replay: FrameReplayBuffer) =
        let mutable h = 14695981039346656037UL
        let frame = Array.zeroCreate<byte> frameBytes
        for slot in 0 .. capacity - 1 do
            replay.Gather([| slot |], Span frame)
            for w in Runtime.InteropServices.MemoryMarshal.Cast<byte, uint64>(ReadOnlySpan frame) do
                h <- (h ^^^ w) * 1099511628211UL
        h
    let folder = Path.Combine(out, $"replay-{Guid.NewGuid():N}")
    Directory.CreateDirectory folder |> ignore
    try
        let statePath = Path.Combine(folder, TrainingCheckpoint.StateFile)
        let framesPath = Path.Combine(folder, AtariAgent.FramesFile)
        // Written from a full buffer, then dropped: a resume holds one replay, not two.
        let writeSeconds, expected =
            let replay = fill ()
            let write = Stopwatch.StartNew()
            (use w = new StateWriter()
             replay.SaveState(w, "replay", framesPath)
             w.Save statePath)
            let seconds = write.Elapsed.TotalSeconds
            seconds, (replay.Count, digest replay, (replay.Sample 32).Indices)
        GC.Collect()
        GC.WaitForPendingFinalizers()
        let stateBytes, frameFileBytes = FileInfo(statePath).Length, FileInfo(framesPath).Length
        let read = Stopwatch.StartNew()
        let back = FrameReplayBuffer(capacity, seed)
        (use r = new StateReader(statePath)
         back.LoadState(r, "replay", framesPath))
        let readSeconds = read.Elapsed.TotalSeconds
        // The same buffer: the count, every frame and the next batch drawn.
        let actual = back.Count, digest back, (back.Sample 32).Indices
        if actual <> expected then failwith "the replay read back differs from the one written (count, frames or next batch)"
        // The networks and the optimizer (Nature CNN, Adam), without a replay.
        let agentFolder = Path.Combine(out, $"agent-{Guid.NewGuid():N}")
        use agent = new AtariAgent(config, env.ActionCount)
        let netWrite = Stopwatch.StartNew()
        let saved = agent.SaveCheckpoint agentFolder
        let netWriteSeconds = netWrite.Elapsed.TotalSeconds
        let netBytes = Directory.GetFiles saved |> Array.sumBy (fun f -> FileInfo(f).Length)
        let netRead = Stopwatch.StartNew()
        AtariAgent.Resume(saved, config).Dispose()
        let netReadSeconds = netRead.Elapsed.TotalSeconds
        Directory.Delete(agentFolder, true)
        let raw = int64 capacity * int64 frameBytes
        let t = Table().AddColumn("part").AddColumn("MB on disk").AddColumn("write s").AddColumn("read s")
        t.AddRow("replay frames (frames.lz4)", $"{mb frameFileBytes:F1} ({float raw / float frameFileBytes:F1}x smaller than {mb raw:F0})", "", "") |> ignore
        t.AddRow("replay records (state.safetensors)", $"{mb stateBytes:F1}", "", "") |> ignore
        t.AddRow($"replay, {capacity} transitions", $"{mb (stateBytes + frameFileBytes):F1}", $"{writeSeconds:F1}", $"{readSeconds:F1}") |> ignore
        t.AddRow("networks + Adam (Nature CNN)", $"{mb netBytes:F1}", $"{netWriteSeconds:F2}", $"{netReadSeconds:F2}") |> ignore
        AnsiConsole.Write t
        Json.write (Path.Combine(out, "checkpoint.json")) (fun w ->
            w.WriteString("game", game)
            w.WriteNumber("transitions", capacity)
            w.WriteNumber("recorded_agent_steps", record)
            w.WriteNumber("frames_raw_bytes", raw)
            w.WriteNumber("frames_lz4_bytes", frameFileBytes)
            w.WriteNumber("replay_state_bytes", stateBytes)
            w.WriteNumber("replay_write_seconds", writeSeconds)
            w.WriteNumber("replay_read_seconds", readSeconds)
            w.WriteNumber("networks_optimizer_bytes", netBytes)
            w.WriteNumber("networks_optimizer_write_seconds", netWriteSeconds)
            w.WriteNumber("networks_optimizer_read_seconds", netReadSeconds)
            w.WriteString("server", bridge.Bridge.Server))
    finally
        Directory.Delete(folder, true)
    0
