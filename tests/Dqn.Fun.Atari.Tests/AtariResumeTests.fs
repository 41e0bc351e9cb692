/// Atari training checkpoints: a run stopped after k frames, written to disk (frames LZ4-compressed), dropped and
/// resumed on a new emulator goes on bit for bit as the run left alone, when the emulator is deterministic after a
/// reset (the no-op generator is reseeded by Learn; the ALE's sticky actions are not).
module Dqn.Fun.Atari.Tests.AtariResumeTests

open System
open System.IO
open Expecto
open Dqn.Fun
open Dqn.Fun.Atari
open Dqn.Fun.Tests

/// A bandit drawn on the screen, as AtariAgentTests.BanditAle, whose lit sides are a fixed function of the frame since
/// the reset: a fresh emulator and one that played before give the same game after ResetGame. A life is lost every
/// 150 frames (of 3), so life-loss terminals and game overs both happen.
type ReplayableAle(gameFrames: int) =
    let mutable frame = 0
    let right (block: int) = ((uint32 block * 2654435761u) >>> 13) &&& 1u = 1u
    interface IAle with
        member _.MinimalActionSet = [| 0; 1; 3; 4; 11; 12 |]
        member _.Act action =
            frame <- frame + 1
            let r = right ((frame - 1) / 4)
            if (r && action = 3) || (not r && action = 4) then 1 else 0
        member _.Lives() = 3 - min 3 (frame / 150)
        member _.IsGameOver() = frame >= gameFrames
        member _.GetScreenRgb buffer =
            Array.Clear buffer
            if frame % 4 = 0 then
                let r = right (frame / 4)
                for y in 0..209 do
                    for x in (if r then 80 else 0) .. (if r then 159 else 79) do
                        let i = (y * 160 + x) * 3
                        buffer[i] <- 200uy
                        buffer[i + 1] <- 200uy
                        buffer[i + 2] <- 200uy
        member _.ResetGame() = frame <- 0

let private settings = { AtariSettings.nature with NoopMaxFrames = 30; FireOnReset = false; TerminalOnLifeLoss = true }

let private configOf (preset: string) =
    let c = AtariConfig.preset preset
    { c with
        Dqn =
            { c.Dqn with
                BufferSize = 1_000
                BatchSize = 8
                LearningStarts = 60
                TrainFrequency = 2
                TargetUpdateInterval = 40
                Exploration = Schedule.linear 1.0 0.05 300L
                Seed = 5 }
        Environment = settings
        Evaluation = Machado 5
        EvalIntervalFrames = 1_000L
        CheckpointIntervalFrames = 0L }

let private envOf (config: AtariConfig) = AtariEnvironment(ReplayableAle 420, config.Environment, 9)

/// A game's row without its throughput, or a score (floats as bits: NaN equals itself).
let private row (e: AtariEvent) =
    let bits = BitConverter.DoubleToInt64Bits
    match e with
    | GameEnded g -> Some $"game {g.Frames} {g.AgentSteps} {g.Updates} {g.Game} {bits g.Return} {g.AgentStepsInGame} {bits g.Epsilon} {bits g.Loss} {bits g.MeanQ}"
    | Evaluated r -> Some $"score {r.Frames} {r.AgentSteps} {r.Protocol} {bits r.Mean} {bits r.Std} {r.Returns.Length}"
    | _ -> None

let private files (agent: AtariAgent) =
    let dir = Path.Combine(Path.GetTempPath(), $"dqnfun-atari-resume-{Guid.NewGuid():N}")
    try
        let folder = agent.SaveCheckpoint dir
        [ for f in [ TrainingCheckpoint.ModelFile; TrainingCheckpoint.StateFile; AtariAgent.FramesFile ] -> f, File.ReadAllBytes(Path.Combine(folder, f)) ]
    finally
        if Directory.Exists dir then Directory.Delete(dir, true)

[<Tests>]
let tests =
    testList "AtariResume" [
        for preset in [ "dopamine"; "nature"; "rainbow" ] do
            testCase $"{preset}: stopped at 1200 frames, saved, dropped and resumed on a new emulator, it goes on bit for bit as the run left alone" <| fun () ->
                let config = configOf preset
                let rows = ResizeArray()
                let observe e = row e |> Option.iter rows.Add
                use alone = new AtariAgent(config, 6)
                let env = envOf config
                alone.Learn(env, 1_200L, observer = observe) |> ignore
                alone.Learn(env, 1_200L, observer = observe) |> ignore
                let aloneRows = List.ofSeq rows
                rows.Clear()
                let dir = Path.Combine(Path.GetTempPath(), $"dqnfun-atari-resume-{Guid.NewGuid():N}")
                try
                    let stoppedAt =
                        use first = new AtariAgent(config, 6)
                        first.Learn(envOf config, 1_200L, observer = observe) |> ignore
                        first.SaveCheckpoint dir |> ignore
                        first.AgentSteps, first.Frames
                    use resumed = AtariAgent.Resume(dir, config)
                    Expect.equal (resumed.AgentSteps, resumed.Frames) stoppedAt "agent steps and frames of the checkpoint"
                    resumed.Learn(envOf config, 1_200L, observer = observe) |> ignore
                    Expect.equal (resumed.AgentSteps, resumed.Frames, resumed.Updates) (alone.AgentSteps, alone.Frames, alone.Updates) "counters"
                    Expect.isGreaterThan alone.Updates 200L "updates made in both calls"
                    Expect.equal (List.ofSeq rows) aloneRows "games (frames, agent steps, updates, game, return, length, ε, loss, mean Q) and Machado scores"
                    for (name, a), (_, r) in List.zip (files alone) (files resumed) do
                        Expect.isTrue (a = r) $"{name} of the resumed run differs from the run left alone's"
                finally
                    if Directory.Exists dir then Directory.Delete(dir, true)

        testCase "the frame file round-trips the replay's frames, compressed, and refuses another replay's size" <| fun () ->
            let config = configOf "dopamine"
            use agent = new AtariAgent(config, 6)
            agent.Learn(envOf config, 1_200L) |> ignore
            let dir = Path.Combine(Path.GetTempPath(), $"dqnfun-atari-resume-{Guid.NewGuid():N}")
            try
                let folder = agent.SaveCheckpoint dir
                let frames = FileInfo(Path.Combine(folder, AtariAgent.FramesFile)).Length
                // 300 agent steps and the resets' first frames: about 300 frames of 84x84 bytes, compressed.
                Expect.isLessThan frames (300L * 84L * 84L / 4L) "compressed frame bytes"
                let other = { config with Dqn = { config.Dqn with BufferSize = 2_000 } }
                let e = Expect.wantThrows<ArgumentException> (fun () -> AtariAgent.Resume(dir, other) |> ignore) "another buffer size"
                Expect.stringContains e.Message "BufferSize = 1000" "the saved value"
            finally
                if Directory.Exists dir then Directory.Delete(dir, true)
    ]
