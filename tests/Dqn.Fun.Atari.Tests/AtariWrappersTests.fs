module Dqn.Fun.Atari.Tests.AtariWrappersTests

open System
open System.Collections.Generic
open Xunit
open Dqn.Fun.Atari

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

[<Fact>]
let ``frame skip sums the rewards of k frames and reads only the last two screens`` () =
    let ale = FakeAle(pong, (fun f -> [| 0; 1; 2; -5; 3 |][f % 5]), (fun _ -> 0), 0)
    let a, b = Array.zeroCreate rgbLength, Array.zeroCreate rgbLength
    let result = AtariWrappers.frameSkip ale 3 4 a b
    Assert.Equal({ RewardSum = 1; Frames = 4; GameOver = false }, result)
    Assert.Equal<int>([ 3; 3; 3; 3 ], ale.Actions)
    Assert.Equal(2, ale.ScreenReads)
    Assert.Equal<byte[]>(screen 3, a)
    Assert.Equal<byte[]>(screen 4, b)

[<Fact>]
let ``frame skip stops at game over and then pools the final screen with itself`` () =
    let ale = FakeAle(pong, (fun _ -> 1), (fun _ -> 0), 2)
    let a, b = Array.zeroCreate rgbLength, Array.zeroCreate rgbLength
    Assert.Equal({ RewardSum = 2; Frames = 2; GameOver = true }, AtariWrappers.frameSkip ale 0 4 a b)
    Assert.Equal<byte[]>(screen 2, a)
    Assert.Equal<byte[]>(screen 2, b)

[<Fact>]
let ``an agent step observes the max of the last two frames, gray, resized, newest in the stack`` () =
    let ale = FakeAle(pong, (fun _ -> 0), (fun _ -> 0), 0)
    let env = AtariEnvironment(ale, plain, 0)
    let first = env.Reset()
    let obs (rgb: byte[]) = AreaResize.resize AreaResize.atari84 (Grayscale.rgbToGray rgb)
    Assert.Equal<byte[]>(Array.concat (List.replicate 4 (obs (screen 0))), first)
    let step = env.Step 2
    let pooled = MaxPool.max (screen 3) (screen 4)
    Assert.NotEqual<byte[]>(screen 4, pooled)
    Assert.Equal<byte[]>(Array.concat [ obs (screen 0); obs (screen 0); obs (screen 0); obs pooled ], step.Observation)
    Assert.Equal<int>([ 3; 3; 3; 3 ], ale.Actions)

[<Fact>]
let ``step rewards are the clipped sum of frame rewards, raw sum kept`` () =
    let ale = FakeAle(pong, (fun f -> if f <= 2 then 3 else 0), (fun _ -> 0), 0)
    let env = AtariEnvironment(ale, plain, 0)
    env.Reset() |> ignore
    let step = env.Step 0
    Assert.Equal(6, step.RawReward)
    Assert.Equal(1, step.Reward)
    let unclipped = AtariEnvironment(FakeAle(pong, (fun f -> if f <= 2 then 3 else 0), (fun _ -> 0), 0), { plain with ClipRewards = false }, 0)
    unclipped.Reset() |> ignore
    Assert.Equal(6, (unclipped.Step 0).Reward)

[<Fact>]
let ``no-op starts take between 1 and 30 NOOP frames, the same for the same seed`` () =
    let noopsOf seed =
        let ale = FakeAle(pong, (fun _ -> 0), (fun _ -> 0), 0)
        let env = AtariEnvironment(ale, { plain with NoopMaxFrames = 30 }, seed)
        env.Reset() |> ignore
        Assert.True(ale.Actions |> Seq.forall ((=) AleAction.noop))
        Assert.Equal(ale.Actions.Count, env.EpisodeFrames)
        ale.Actions.Count
    let counts = [ for seed in 0..199 -> noopsOf seed ]
    Assert.True(List.min counts >= 1 && List.max counts <= 30, $"counts in {List.min counts}..{List.max counts}")
    Assert.True((List.distinct counts).Length > 20)
    Assert.Equal<int list>(counts, [ for seed in 0..199 -> noopsOf seed ])
    Assert.Equal(0, AtariWrappers.noopCount (Random 0) 0)

[<Fact>]
let ``fire on reset presses FIRE then action 2 for one agent step each, only where FIRE is at index 1`` () =
    let ale = FakeAle(pong, (fun _ -> 0), (fun _ -> 0), 0)
    AtariEnvironment(ale, { plain with FireOnReset = true }, 0).Reset() |> ignore
    Assert.Equal<int>([ 1; 1; 1; 1; 3; 3; 3; 3 ], ale.Actions)
    let noFire = FakeAle([| 0; 2; 5 |], (fun _ -> 0), (fun _ -> 0), 0)
    AtariEnvironment(noFire, { plain with FireOnReset = true }, 0).Reset() |> ignore
    Assert.Empty(noFire.Actions)

[<Fact>]
let ``episodic life: a lost life is terminal but the game goes on at the next reset`` () =
    // 3 lives, one lost on episode frame 6 (inside the second agent step, frames 5..8).
    let ale = FakeAle(pong, (fun _ -> 0), (fun f -> if f >= 6 then 2 else 3), 0)
    let env = AtariEnvironment(ale, { plain with TerminalOnLifeLoss = true }, 0)
    env.Reset() |> ignore
    let first = env.Step 1
    Assert.False(first.Terminated || first.LifeLost)
    let second = env.Step 1
    Assert.True(second.Terminated && second.LifeLost)
    Assert.False(second.GameOver || second.Truncated)
    Assert.Throws<InvalidOperationException>(fun () -> env.Step 1 |> ignore) |> ignore
    env.Reset() |> ignore
    Assert.Equal(1, ale.Resets)
    Assert.Equal(12, ale.Frame) // one NOOP agent step, no game reset
    Assert.Equal<int>([ 0; 0; 0; 0 ], ale.Actions |> Seq.skip 8)
    Assert.False((env.Step 1).Terminated)

[<Fact>]
let ``a reset that does not follow a life-loss terminal restarts the game`` () =
    let ale = FakeAle(pong, (fun _ -> 0), (fun _ -> 3), 0)
    let env = AtariEnvironment(ale, { plain with TerminalOnLifeLoss = true }, 0)
    env.Reset() |> ignore
    env.Step 0 |> ignore
    env.Reset() |> ignore
    Assert.Equal(2, ale.Resets)
    Assert.Equal(0, env.EpisodeFrames)

[<Fact>]
let ``without episodic life a lost life is reported but not terminal`` () =
    let ale = FakeAle(pong, (fun _ -> 0), (fun f -> if f >= 2 then 2 else 3), 0)
    let env = AtariEnvironment(ale, plain, 0)
    env.Reset() |> ignore
    let step = env.Step 0
    Assert.True(step.LifeLost)
    Assert.False(step.Terminated)

[<Fact>]
let ``game over terminates and the next reset restarts the game`` () =
    let ale = FakeAle(pong, (fun _ -> 0), (fun _ -> 0), 6)
    let env = AtariEnvironment(ale, plain, 0)
    env.Reset() |> ignore
    env.Step 0 |> ignore
    let last = env.Step 0
    Assert.True(last.Terminated && last.GameOver)
    Assert.False(last.Truncated)
    Assert.Equal(2, last.Frames)
    env.Reset() |> ignore
    Assert.Equal(2, ale.Resets)
    Assert.Equal(0, env.EpisodeFrames)

[<Fact>]
let ``the time limit truncates, not terminates, counting frames since the game reset`` () =
    let ale = FakeAle(pong, (fun _ -> 0), (fun _ -> 0), 0)
    let env = AtariEnvironment(ale, { plain with MaxEpisodeFrames = 12 }, 0)
    env.Reset() |> ignore
    Assert.False((env.Step 0).Truncated)
    Assert.False((env.Step 0).Truncated)
    let third = env.Step 0
    Assert.True(third.Truncated)
    Assert.False(third.Terminated)
    Assert.Equal(12, env.EpisodeFrames)
    Assert.Equal(3L, env.AgentSteps)
    Assert.Equal(12L, env.TotalFrames)
    env.Reset() |> ignore
    Assert.Equal(2, ale.Resets)
    Assert.Equal(27_000L, Units.agentStepsOfFrames AtariSettings.nature.FrameSkip (int64 AtariSettings.nature.MaxEpisodeFrames))

[<Fact>]
let ``arguments and call order are checked`` () =
    let ale = FakeAle(pong, (fun _ -> 0), (fun _ -> 0), 0)
    let env = AtariEnvironment(ale, plain, 0)
    Assert.Throws<InvalidOperationException>(fun () -> env.Step 0 |> ignore) |> ignore
    env.Reset() |> ignore
    let e = Assert.Throws<ArgumentOutOfRangeException>(fun () -> env.Step 6 |> ignore)
    Assert.Equal("actionIndex", e.ParamName)
    Assert.Contains("0..5", e.Message)
    let e = Assert.Throws<ArgumentOutOfRangeException>(fun () -> AtariEnvironment(ale, { plain with FrameSkip = 0 }, 0) |> ignore)
    Assert.Equal("settings.FrameSkip", e.ParamName)
    Assert.Equal("frames", Assert.Throws<ArgumentOutOfRangeException>(fun () -> AtariWrappers.frameSkip ale 0 0 (Array.zeroCreate rgbLength) (Array.zeroCreate rgbLength) |> ignore).ParamName)
    Assert.Equal("last", Assert.Throws<ArgumentException>(fun () -> AtariWrappers.frameSkip ale 0 4 (Array.zeroCreate rgbLength) (Array.zeroCreate 3) |> ignore).ParamName)
