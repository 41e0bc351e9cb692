module Dqn.Fun.Atari.Tests.UnitsTests

open System
open Expecto
open FsCheck
open FsCheck.FSharp
open Dqn.Fun.Atari
open Dqn.Fun.Tests
open Dqn.Fun.Tests.TestConfig

[<Tests>]
let tests =
    testList "Units" [
        testCase "frames and agent steps convert at frameSkip frames per step" <| fun () ->
            Expect.equal (Units.agentStepsOfFrames 4 50_000_000L) 12_500_000L "Units.agentStepsOfFrames 4 50_000_000L"
            Expect.equal (Units.framesOfAgentSteps 4 27_000L) (27_000L * 4L) "Units.framesOfAgentSteps 4 27_000L"
            Expect.equal (Units.agentStepsOfFrames 4 11L) 2L "Units.agentStepsOfFrames 4 11L"

        testPropertyWithConfig fsCheck "converting agent steps to frames and back is the identity" (
            Prop.forAll (Arb.fromGen (Gen.zip (Gen.choose (1, 8)) (Gen.choose (0, Int32.MaxValue)))) (fun (skip, steps) ->
                Units.agentStepsOfFrames skip (Units.framesOfAgentSteps skip (int64 steps)) = int64 steps)
        )

        testCase "a frame skip below 1 or a negative count names the argument" <| fun () ->
            let e = Expect.wantThrows<ArgumentOutOfRangeException> (fun () -> Units.agentStepsOfFrames 0 10L |> ignore) "agentStepsOfFrames 0 10"
            Expect.equal e.ParamName "frameSkip" "e.ParamName"
            let e = Expect.wantThrows<ArgumentOutOfRangeException> (fun () -> Units.agentStepsOfFrames 4 -1L |> ignore) "agentStepsOfFrames 4 -1"
            Expect.equal e.ParamName "frames" "e.ParamName"
            let e = Expect.wantThrows<ArgumentOutOfRangeException> (fun () -> Units.framesOfAgentSteps 4 -1L |> ignore) "framesOfAgentSteps 4 -1"
            Expect.equal e.ParamName "agentSteps" "e.ParamName"
    ]
