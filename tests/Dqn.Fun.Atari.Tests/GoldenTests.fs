/// Byte-for-byte comparisons with reference outputs recorded from the real ALE and OpenCV 4.6.0
/// (fixtures/<game>/manifest.json names the pipeline behind each array).
module Dqn.Fun.Atari.Tests.GoldenTests

open Expecto
open Dqn.Fun.Atari
open Dqn.Fun.Atari.Tests.Fixtures
open Dqn.Fun.Tests

let private rgbLength = 210 * 160 * 3
let private grayLength = 210 * 160
let private obsLength = 84 * 84

/// Index of the first differing byte and the two values, or None.
let private firstDifference (expected: byte[]) (actual: byte[]) =
    if expected.Length <> actual.Length then Some(-1, 0uy, 0uy)
    else
        Seq.init expected.Length id
        |> Seq.tryFind (fun i -> expected[i] <> actual[i])
        |> Option.map (fun i -> i, expected[i], actual[i])

let private assertBytes (what: string) (expected: byte[]) (actual: byte[]) =
    match firstDifference expected actual with
    | None -> ()
    | Some(i, e, a) -> failtest $"{what}: first difference at byte {i} (expected {e}, got {a}; lengths {expected.Length}, {actual.Length})"

let private stackOf (padding: StackPadding) (reset84: byte[]) (resized: byte[]) =
    let stack = FrameStack.atari ()
    stack.Reset(padding, reset84)
    [| yield stack.ToArray()
       for k in 0..99 do
           stack.Push(item resized obsLength k)
           yield stack.ToArray() |]
    |> Array.concat

/// Replays the recording as an emulator: per-frame rewards, lives and game-over flags; screens only
/// for frames 4k+2 and 4k+3 (the ones a frame skip of 4 reads) and the reset screen; it fails on an
/// action other than the recorded one or on a screen read it cannot answer.
type ReplayAle(game: string) =
    let actions = i32 game "actions_ale.i32.gz"
    let rewards = i32 game "rewards.i32.gz"
    let lives = i32 game "lives.i32.gz"
    let _, terminal = u8 game "terminal.u8.gz"
    let _, last2 = u8 game "rgb_last2.u8.gz"
    let _, resetRgb = u8 game "reset_rgb.u8.gz"
    let minimal =
        use doc = System.Text.Json.JsonDocument.Parse(System.IO.File.ReadAllText(System.IO.Path.Combine(directory game, "manifest.json")))
        [| for a in doc.RootElement.GetProperty("minimal_action_set").EnumerateArray() -> a.GetProperty("ale_action_id").GetInt32() |]
    let resetLives =
        use doc = System.Text.Json.JsonDocument.Parse(System.IO.File.ReadAllText(System.IO.Path.Combine(directory game, "manifest.json")))
        doc.RootElement.GetProperty("reset").GetProperty("lives").GetInt32()
    let mutable frame = -1 // index of the last emulated frame; -1 = at reset
    member _.Frame = frame
    interface IAle with
        member _.MinimalActionSet = minimal
        member _.Act action =
            frame <- frame + 1
            if action <> actions[frame] then failwith $"frame {frame}: action {action}, recorded {actions[frame]}"
            rewards[frame]
        member _.Lives() = if frame < 0 then resetLives else lives[frame]
        member _.IsGameOver() = frame >= 0 && terminal[frame] <> 0uy
        member _.GetScreenRgb buffer =
            if frame < 0 then Array.blit resetRgb 0 buffer 0 rgbLength
            elif frame % 4 >= 2 then Array.blit last2 ((2 * (frame / 4) + frame % 4 - 2) * rgbLength) buffer 0 rgbLength
            else failwith $"frame {frame}: screen not recorded (only frames 4k+2, 4k+3 are)"
        member _.ResetGame() = if frame <> -1 then failwith "unexpected game reset"

/// A theory row per game: a test list of one test case per game.
let private perGame (name: string) (test: string -> unit) =
    testList name [ for game in games -> testCase game <| fun () -> test game ]

[<Tests>]
let tests =
    testList "Golden" [
        perGame "max-pooling RGB frames 4k+2 and 4k+3 equals sb3_maxpool_rgb" <| fun game ->
            let _, last2 = u8 game "rgb_last2.u8.gz"
            let _, expected = u8 game "sb3_maxpool_rgb.u8.gz"
            for k in 0..99 do
                let pooled = MaxPool.max (item last2 rgbLength (2 * k)) (item last2 rgbLength (2 * k + 1))
                assertBytes $"{game} step {k}" (item expected rgbLength k) pooled

        perGame "RGB2GRAY of the max-pooled RGB equals cv2's sb3_maxpool_gray" <| fun game ->
            let _, pooled = u8 game "sb3_maxpool_rgb.u8.gz"
            let _, expected = u8 game "sb3_maxpool_gray.u8.gz"
            assertBytes game expected (Grayscale.rgbToGray pooled)

        perGame "RGB2GRAY of raw frames equals the ALE's own grayscale screens" <| fun game ->
            let _, rgb = u8 game "rgb_last2.u8.gz"
            let _, gray = u8 game "gray_ale_last2.u8.gz"
            assertBytes game gray (Grayscale.rgbToGray rgb)
            let _, resetRgb = u8 game "reset_rgb.u8.gz"
            let _, resetGray = u8 game "reset_gray_ale.u8.gz"
            assertBytes $"{game} reset" resetGray (Grayscale.rgbToGray resetRgb)

        perGame "the 84x84 area resize equals cv2 INTER_AREA's sb3_resized84 and sb3_reset84" <| fun game ->
            let _, gray = u8 game "sb3_maxpool_gray.u8.gz"
            let _, expected = u8 game "sb3_resized84.u8.gz"
            for k in 0..99 do
                assertBytes $"{game} step {k}" (item expected obsLength k) (AreaResize.resize AreaResize.atari84 (item gray grayLength k))
            let _, resetRgb = u8 game "reset_rgb.u8.gz"
            let _, reset84 = u8 game "sb3_reset84.u8.gz"
            assertBytes $"{game} reset" reset84 (AreaResize.resize AreaResize.atari84 (Grayscale.rgbToGray resetRgb))

        perGame "the Gymnasium pipeline (max of ALE gray, then resize) equals gym_maxpool_gray_ale and gym_resized84" <| fun game ->
            let _, last2 = u8 game "gray_ale_last2.u8.gz"
            let _, expectedPooled = u8 game "gym_maxpool_gray_ale.u8.gz"
            let _, expected84 = u8 game "gym_resized84.u8.gz"
            for k in 0..99 do
                let pooled = MaxPool.max (item last2 grayLength (2 * k)) (item last2 grayLength (2 * k + 1))
                assertBytes $"{game} pooled step {k}" (item expectedPooled grayLength k) pooled
                assertBytes $"{game} resized step {k}" (item expected84 obsLength k) (AreaResize.resize AreaResize.atari84 pooled)
            let _, resetGray = u8 game "reset_gray_ale.u8.gz"
            let _, reset84 = u8 game "gym_reset84.u8.gz"
            assertBytes $"{game} reset" reset84 (AreaResize.resize AreaResize.atari84 resetGray)

        perGame "4-frame stacks with zero and repeat padding equal the recorded [101;4;84;84] arrays" <| fun game ->
            let _, reset84 = u8 game "sb3_reset84.u8.gz"
            let _, resized = u8 game "sb3_resized84.u8.gz"
            let _, zero = u8 game "sb3_stack_zero_pad.u8.gz"
            let _, repeat = u8 game "sb3_stack_repeat_pad.u8.gz"
            assertBytes $"{game} zero pad" zero (stackOf Zeros reset84 resized)
            assertBytes $"{game} repeat pad" repeat (stackOf RepeatFirst reset84 resized)
            let _, gymReset = u8 game "gym_reset84.u8.gz"
            let _, gymResized = u8 game "gym_resized84.u8.gz"
            let _, gymRepeat = u8 game "gym_stack_repeat_pad.u8.gz"
            assertBytes $"{game} gym repeat pad" gymRepeat (stackOf RepeatFirst gymReset gymResized)

        perGame "clipped step rewards equal the recorded sign of the sum and sum of signs" <| fun game ->
            let rewards = i32 game "rewards.i32.gz"
            let groups = Array.chunkBySize 4 rewards
            Expect.equal (groups |> Array.map Array.sum) (i32 game "step_rewards_raw_sum.i32.gz") "raw sums"
            Expect.equal (groups |> Array.map (Array.sum >> RewardClip.sign)) (i32 game "step_rewards_clipped.i32.gz") "signs of the sums"
            Expect.equal (groups |> Array.map RewardClip.sumOfSigns) (i32 game "step_rewards_sum_of_signs.i32.gz") "sums of the signs"

        perGame "AtariEnvironment replaying the recording yields the recorded stacks and clipped rewards" <| fun game ->
            let recordedSteps = i32 game "actions_index.i32.gz"
            for padding, file in [ Zeros, "sb3_stack_zero_pad.u8.gz"; RepeatFirst, "sb3_stack_repeat_pad.u8.gz" ] do
                let settings =
                    { AtariSettings.nature with NoopMaxFrames = 0; FireOnReset = false; TerminalOnLifeLoss = false; Padding = padding }
                let ale = ReplayAle game
                let env = AtariEnvironment(ale, settings, 0)
                let _, stacks = u8 game file
                let stackLength = 4 * obsLength
                assertBytes $"{game} {padding} reset" (item stacks stackLength 0) (env.Reset())
                let clipped = i32 game "step_rewards_clipped.i32.gz"
                for k in 0..99 do
                    let step = env.Step recordedSteps[4 * k]
                    assertBytes $"{game} {padding} step {k}" (item stacks stackLength (k + 1)) step.Observation
                    Expect.equal step.Reward (clipped[k]) $"{game} {padding} step {k}: step.Reward"
                    Expect.isFalse (step.Terminated || step.Truncated) $"{game} {padding} step {k}: step.Terminated || step.Truncated"
                    Expect.equal step.Frames 4 $"{game} {padding} step {k}: step.Frames"
                Expect.equal ale.Frame 399 "ale.Frame"
                Expect.equal env.TotalFrames 400L "env.TotalFrames"
    ]
