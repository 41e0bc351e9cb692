module Dqn.Fun.Atari.Tests.UnitsTests

open System
open FsCheck
open FsCheck.FSharp
open Xunit
open Dqn.Fun.Atari

[<Fact>]
let ``frames and agent steps convert at frameSkip frames per step`` () =
    Assert.Equal(12_500_000L, Units.agentStepsOfFrames 4 50_000_000L)
    Assert.Equal(27_000L * 4L, Units.framesOfAgentSteps 4 27_000L)
    Assert.Equal(2L, Units.agentStepsOfFrames 4 11L)

[<Fact>]
let ``converting agent steps to frames and back is the identity`` () =
    let prop =
        Prop.forAll (Arb.fromGen (Gen.zip (Gen.choose (1, 8)) (Gen.choose (0, Int32.MaxValue)))) (fun (skip, steps) ->
            Units.agentStepsOfFrames skip (Units.framesOfAgentSteps skip (int64 steps)) = int64 steps)
    Check.One(Config.QuickThrowOnFailure, prop)

[<Fact>]
let ``a frame skip below 1 or a negative count names the argument`` () =
    Assert.Equal("frameSkip", Assert.Throws<ArgumentOutOfRangeException>(fun () -> Units.agentStepsOfFrames 0 10L |> ignore).ParamName)
    Assert.Equal("frames", Assert.Throws<ArgumentOutOfRangeException>(fun () -> Units.agentStepsOfFrames 4 -1L |> ignore).ParamName)
    Assert.Equal("agentSteps", Assert.Throws<ArgumentOutOfRangeException>(fun () -> Units.framesOfAgentSteps 4 -1L |> ignore).ParamName)
