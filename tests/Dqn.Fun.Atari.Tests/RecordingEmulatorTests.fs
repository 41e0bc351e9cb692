module Dqn.Fun.Atari.Tests.RecordingEmulatorTests

open System
open Expecto
open Dqn.Fun
open Dqn.Fun.Atari
open Dqn.Fun.Atari.Tests.AtariAgentTests
open Dqn.Fun.Tests

/// Keeps every recorded game's frames (copies) and counts the games ended.
type KeepingSink() =
    let games = Collections.Generic.List<Collections.Generic.List<byte[]>>()
    member _.Games = games |> Seq.map List.ofSeq |> List.ofSeq
    member val Ends = 0 with get, set
    member val Sizes = Collections.Generic.List<int * int * float>()
    interface IVideoSink with
        member this.BeginEpisode(width, height, fps) =
            this.Sizes.Add((width, height, fps))
            games.Add(Collections.Generic.List())
            true
        member _.AddFrame rgb = games[games.Count - 1].Add(Array.copy rgb)
        member this.EndEpisode() = this.Ends <- this.Ends + 1

let private settings = { AtariSettings.nature with FireOnReset = false; TerminalOnLifeLoss = false; NoopMaxFrames = 0 }

let private config = { AtariConfig.preset "nature" with Environment = settings }

[<Tests>]
let tests =
    testList "RecordingEmulator" [
        testCase "evaluation scores are equal with and without recording the emulator" <| fun () ->
            use agent = new AtariAgent(config, 6)
            let noops = { settings with NoopMaxFrames = 30 }
            let plain = AtariEnvironment(AtariEmulator.ofAle (BanditAle(5, 400)), noops, 9)
            let without = agent.Evaluate(plain, 3, 0.2, 4)
            let sink = KeepingSink()
            let recorder = RecordingEmulator(AtariEmulator.ofAle (BanditAle(5, 400)), sink, 15.0)
            let recorded = AtariEnvironment(recorder, noops, 9)
            let withVideo = agent.Evaluate(recorded, 3, 0.2, 4)
            Expect.equal withVideo without "scores with the video"
            Expect.equal sink.Games.Length 3 "sink.Games.Length"
            for s in sink.Sizes do Expect.equal s (160, 210, 15.0) "width, height, fps"

        testCase "a recorded game is the screen after the reset and the last raw screen of every agent step" <| fun () ->
            use agent = new AtariAgent(config, 6)
            let sink = KeepingSink()
            let recorder = RecordingEmulator(AtariEmulator.ofAle (BanditAle(5, 400)), sink, 15.0)
            let env = AtariEnvironment(recorder, settings, 9)
            agent.Evaluate(env, 1, 0.0, 4) |> ignore
            // 400 frames = 100 agent steps of 4 frames; the game over ends the recording.
            Expect.equal sink.Ends 1 "sink.Ends"
            let frames = sink.Games.Head
            Expect.equal frames.Length 101 "frames.Length"
            // BanditAle lights half of the screen on every fourth frame: the last frame of each step.
            for f in frames do
                Expect.equal (f |> Array.filter (fun b -> b = 200uy) |> Array.length) (210 * 80 * 3) "lit bytes of a frame"

        testCase "a game cut by the time limit ends at the next reset or at EndEpisode" <| fun () ->
            use agent = new AtariAgent(config, 6)
            let sink = KeepingSink()
            let recorder = RecordingEmulator(AtariEmulator.ofAle (BanditAle(5, 400)), sink, 15.0)
            let env = AtariEnvironment(recorder, { settings with MaxEpisodeFrames = 200 }, 9)
            agent.Evaluate(env, 2, 0.0, 4) |> ignore
            Expect.equal sink.Ends 1 "sink.Ends after the evaluation"
            recorder.EndEpisode()
            Expect.equal sink.Ends 2 "sink.Ends after EndEpisode"
            recorder.EndEpisode()
            Expect.equal sink.Ends 2 "sink.Ends after a second EndEpisode"
            Expect.equal (sink.Games |> List.map List.length) [ 51; 51 ] "frames of each game"
    ]
