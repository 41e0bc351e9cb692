module Dqn.Fun.Atari.Tests.AtariWrappersTests

open System
open System.Collections.Generic
open Expecto
open Dqn.Fun.Atari
open Dqn.Fun.Tests

let private rgbLength = 210 * 160 * 3

/// The deterministic screen after episode frame f (0 = right after a game reset).
let screen (f: int) = Array.init rgbLength (fun i -> byte ((i * 31 + f * 97) &&& 255))

/// A scripted emulator: frame rewards, lives and game over as functions of the episode frame (frames
/// since the last game reset); records every action and every game reset.
type FakeAle(actionSet: int[], reward: int -> int, lives: int -> int, gameOverAt: int) =
    let mutable frame = 0
    member val Actions = List<int>()
    member val Resets = 0 with get, set
    member val ScreenReads = 0 with get, set
    member _.Frame = frame
    interface IAle with
        member _.MinimalActionSet = actionSet
        member this.Act action =
            frame <- frame + 1
            this.Actions.Add action
            reward frame
        member _.Lives() = lives frame
        member _.IsGameOver() = gameOverAt > 0 && frame >= gameOverAt
        member this.GetScreenRgb buffer =
            this.ScreenReads <- this.ScreenReads + 1
            Array.blit (screen frame) 0 buffer 0 rgbLength
        member this.ResetGame() =
            this.Resets <- this.Resets + 1
            frame <- 0

let private pong = [| 0; 1; 3; 4; 11; 12 |]
let private plain = { AtariSettings.nature with NoopMaxFrames = 0; FireOnReset = false; TerminalOnLifeLoss = false; MaxEpisodeFrames = 0 }

[<Tests>]
let tests =
    testList "AtariWrappers" [
        testCase "frame skip sums the rewards of k frames and reads only the last two screens" <| fun () ->
            let ale = FakeAle(pong, (fun f -> [| 0; 1; 2; -5; 3 |][f % 5]), (fun _ -> 0), 0)
            let a, b = Array.zeroCreate rgbLength, Array.zeroCreate rgbLength
            let result = AtariWrappers.frameSkip ale 3 4 a b
            Expect.equal result { RewardSum = 1; Frames = 4; GameOver = false } "result"
            Expect.equal (List.ofSeq ale.Actions) [ 3; 3; 3; 3 ] "ale.Actions"
            Expect.equal ale.ScreenReads 2 "ale.ScreenReads"
            Expect.equal a (screen 3) "a"
            Expect.equal b (screen 4) "b"

        testCase "frame skip stops at game over and then pools the final screen with itself" <| fun () ->
            let ale = FakeAle(pong, (fun _ -> 1), (fun _ -> 0), 2)
            let a, b = Array.zeroCreate rgbLength, Array.zeroCreate rgbLength
            Expect.equal (AtariWrappers.frameSkip ale 0 4 a b) { RewardSum = 2; Frames = 2; GameOver = true } "AtariWrappers.frameSkip ale 0 4 a b"
            Expect.equal a (screen 2) "a"
            Expect.equal b (screen 2) "b"

        testCase "an agent step observes the max of the last two frames, gray, resized, newest in the stack" <| fun () ->
            let ale = FakeAle(pong, (fun _ -> 0), (fun _ -> 0), 0)
            let env = AtariEnvironment(ale, plain, 0)
            let first = env.Reset()
            let obs (rgb: byte[]) = AreaResize.resize AreaResize.atari84 (Grayscale.rgbToGray rgb)
            Expect.equal first (Array.concat (List.replicate 4 (obs (screen 0)))) "first"
            let step = env.Step 2
            let pooled = MaxPool.max (screen 3) (screen 4)
            Expect.notEqual pooled (screen 4) "pooled"
            Expect.equal step.Observation (Array.concat [ obs (screen 0); obs (screen 0); obs (screen 0); obs pooled ]) "step.Observation"
            Expect.equal (List.ofSeq ale.Actions) [ 3; 3; 3; 3 ] "ale.Actions"

        testCase "step rewards are the clipped sum of frame rewards, raw sum kept" <| fun () ->
            let ale = FakeAle(pong, (fun f -> if f <= 2 then 3 else 0), (fun _ -> 0), 0)
            let env = AtariEnvironment(ale, plain, 0)
            env.Reset() |> ignore
            let step = env.Step 0
            Expect.equal step.RawReward 6 "step.RawReward"
            Expect.equal step.Reward 1 "step.Reward"
            let unclipped = AtariEnvironment(FakeAle(pong, (fun f -> if f <= 2 then 3 else 0), (fun _ -> 0), 0), { plain with ClipRewards = false }, 0)
            unclipped.Reset() |> ignore
            Expect.equal ((unclipped.Step 0).Reward) 6 "(unclipped.Step 0).Reward"

        testCase "no-op starts take between 1 and 30 NOOP frames, the same for the same seed" <| fun () ->
            let noopsOf seed =
                let ale = FakeAle(pong, (fun _ -> 0), (fun _ -> 0), 0)
                let env = AtariEnvironment(ale, { plain with NoopMaxFrames = 30 }, seed)
                env.Reset() |> ignore
                Expect.isTrue (ale.Actions |> Seq.forall ((=) AleAction.noop)) "every action is NOOP"
                Expect.equal env.EpisodeFrames ale.Actions.Count "env.EpisodeFrames"
                ale.Actions.Count
            let counts = [ for seed in 0..199 -> noopsOf seed ]
            Expect.isTrue (List.min counts >= 1 && List.max counts <= 30) $"counts in {List.min counts}..{List.max counts}"
            Expect.isTrue ((List.distinct counts).Length > 20) "(List.distinct counts).Length > 20"
            Expect.equal [ for seed in 0..199 -> noopsOf seed ] counts "counts of a second run"
            Expect.equal (AtariWrappers.noopCount (Random 0) 0) 0 "AtariWrappers.noopCount (Random 0) 0"

        testCase "fire on reset presses FIRE then action 2 for one agent step each, only where FIRE is at index 1" <| fun () ->
            let ale = FakeAle(pong, (fun _ -> 0), (fun _ -> 0), 0)
            AtariEnvironment(ale, { plain with FireOnReset = true }, 0).Reset() |> ignore
            Expect.equal (List.ofSeq ale.Actions) [ 1; 1; 1; 1; 3; 3; 3; 3 ] "ale.Actions"
            let noFire = FakeAle([| 0; 2; 5 |], (fun _ -> 0), (fun _ -> 0), 0)
            AtariEnvironment(noFire, { plain with FireOnReset = true }, 0).Reset() |> ignore
            Expect.isEmpty noFire.Actions "noFire.Actions"

        testCase "episodic life: a lost life is terminal but the game goes on at the next reset" <| fun () ->
            // 3 lives, one lost on episode frame 6 (inside the second agent step, frames 5..8).
            let ale = FakeAle(pong, (fun _ -> 0), (fun f -> if f >= 6 then 2 else 3), 0)
            let env = AtariEnvironment(ale, { plain with TerminalOnLifeLoss = true }, 0)
            env.Reset() |> ignore
            let first = env.Step 1
            Expect.isFalse (first.Terminated || first.LifeLost) "first.Terminated || first.LifeLost"
            let second = env.Step 1
            Expect.isTrue (second.Terminated && second.LifeLost) "second.Terminated && second.LifeLost"
            Expect.isFalse (second.GameOver || second.Truncated) "second.GameOver || second.Truncated"
            Expect.throwsT<InvalidOperationException> (fun () -> env.Step 1 |> ignore) "a step after the terminal"
            env.Reset() |> ignore
            Expect.equal ale.Resets 1 "ale.Resets"
            Expect.equal ale.Frame 12 "ale.Frame" // one NOOP agent step, no game reset
            Expect.equal (ale.Actions |> Seq.skip 8 |> List.ofSeq) [ 0; 0; 0; 0 ] "the actions after the second step"
            Expect.isFalse ((env.Step 1).Terminated) "(env.Step 1).Terminated"

        testCase "a reset that does not follow a life-loss terminal restarts the game" <| fun () ->
            let ale = FakeAle(pong, (fun _ -> 0), (fun _ -> 3), 0)
            let env = AtariEnvironment(ale, { plain with TerminalOnLifeLoss = true }, 0)
            env.Reset() |> ignore
            env.Step 0 |> ignore
            env.Reset() |> ignore
            Expect.equal ale.Resets 2 "ale.Resets"
            Expect.equal env.EpisodeFrames 0 "env.EpisodeFrames"

        testCase "without episodic life a lost life is reported but not terminal" <| fun () ->
            let ale = FakeAle(pong, (fun _ -> 0), (fun f -> if f >= 2 then 2 else 3), 0)
            let env = AtariEnvironment(ale, plain, 0)
            env.Reset() |> ignore
            let step = env.Step 0
            Expect.isTrue step.LifeLost "step.LifeLost"
            Expect.isFalse step.Terminated "step.Terminated"

        testCase "game over terminates and the next reset restarts the game" <| fun () ->
            let ale = FakeAle(pong, (fun _ -> 0), (fun _ -> 0), 6)
            let env = AtariEnvironment(ale, plain, 0)
            env.Reset() |> ignore
            env.Step 0 |> ignore
            let last = env.Step 0
            Expect.isTrue (last.Terminated && last.GameOver) "last.Terminated && last.GameOver"
            Expect.isFalse last.Truncated "last.Truncated"
            Expect.equal last.Frames 2 "last.Frames"
            env.Reset() |> ignore
            Expect.equal ale.Resets 2 "ale.Resets"
            Expect.equal env.EpisodeFrames 0 "env.EpisodeFrames"

        testCase "the time limit truncates, not terminates, counting frames since the game reset" <| fun () ->
            let ale = FakeAle(pong, (fun _ -> 0), (fun _ -> 0), 0)
            let env = AtariEnvironment(ale, { plain with MaxEpisodeFrames = 12 }, 0)
            env.Reset() |> ignore
            Expect.isFalse ((env.Step 0).Truncated) "first step truncated"
            Expect.isFalse ((env.Step 0).Truncated) "second step truncated"
            let third = env.Step 0
            Expect.isTrue third.Truncated "third.Truncated"
            Expect.isFalse third.Terminated "third.Terminated"
            Expect.equal env.EpisodeFrames 12 "env.EpisodeFrames"
            Expect.equal env.AgentSteps 3L "env.AgentSteps"
            Expect.equal env.TotalFrames 12L "env.TotalFrames"
            env.Reset() |> ignore
            Expect.equal ale.Resets 2 "ale.Resets"
            Expect.equal
                (Units.agentStepsOfFrames AtariSettings.nature.FrameSkip (int64 AtariSettings.nature.MaxEpisodeFrames))
                27_000L
                "the Nature time limit in agent steps"

        testCase "arguments and call order are checked" <| fun () ->
            let ale = FakeAle(pong, (fun _ -> 0), (fun _ -> 0), 0)
            let env = AtariEnvironment(ale, plain, 0)
            Expect.throwsT<InvalidOperationException> (fun () -> env.Step 0 |> ignore) "a step before the reset"
            env.Reset() |> ignore
            let e = Expect.wantThrows<ArgumentOutOfRangeException> (fun () -> env.Step 6 |> ignore) "env.Step 6"
            Expect.equal e.ParamName "actionIndex" "e.ParamName"
            Expect.stringContains e.Message "0..5" "e.Message"
            let e = Expect.wantThrows<ArgumentOutOfRangeException> (fun () -> AtariEnvironment(ale, { plain with FrameSkip = 0 }, 0) |> ignore) "FrameSkip = 0"
            Expect.equal e.ParamName "settings.FrameSkip" "e.ParamName"
            let e =
                Expect.wantThrows<ArgumentOutOfRangeException>
                    (fun () -> AtariWrappers.frameSkip ale 0 0 (Array.zeroCreate rgbLength) (Array.zeroCreate rgbLength) |> ignore)
                    "frameSkip of 0 frames"
            Expect.equal e.ParamName "frames" "e.ParamName"
            let e =
                Expect.wantThrows<ArgumentException>
                    (fun () -> AtariWrappers.frameSkip ale 0 4 (Array.zeroCreate rgbLength) (Array.zeroCreate 3) |> ignore)
                    "frameSkip into a 3-byte screen"
            Expect.equal e.ParamName "last" "e.ParamName"
    ]
