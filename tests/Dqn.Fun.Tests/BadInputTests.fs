/// Bad input at the public entry points must give a clear .NET exception that names the problem.
module Dqn.Fun.Tests.BadInputTests

open System
open Expecto
open Dqn.Fun

/// A user environment with CartPole's sizes whose every step returns `reward`, or an observation of
/// `observationLength` values.
type private Scripted(reward: float, observationLength: int) =
    interface IEnvironment with
        member _.ObservationSize = 4
        member _.ActionCount = 2
        member _.Reset _ = Array.zeroCreate 4
        member _.Step _ =
            { Observation = Array.zeroCreate observationLength
              Reward = reward
              Terminated = false
              Truncated = false }

let private smallConfig = { DqnConfig.defaults with Hidden = [ 8 ]; BufferSize = 1_000; EvalInterval = 0 }

/// An environment whose third observation holds a NaN.
type private NaNObservations() =
    let mutable t = 0
    interface IEnvironment with
        member _.ObservationSize = 4
        member _.ActionCount = 2
        member _.Reset(_: Nullable<int>) =
            t <- 0
            [| 0.0f; 0.0f; 0.0f; 0.0f |]
        member _.Step(_: int) =
            t <- t + 1
            { Observation = [| 0.0f; (if t = 3 then nanf else 0.0f); 0.0f; 0.0f |]
              Reward = 0.0
              Terminated = false
              Truncated = false }

[<Tests>]
let tests =
    testList "BadInput" [
        testCase "an observation of the wrong length given to Agent.Act is an ArgumentException naming both lengths" <| fun () ->
            use agent = new Agent(smallConfig, 4, 2)
            let e = Expect.wantThrows<ArgumentException> (fun () -> agent.Act([| 1f; 2f; 3f |]) |> ignore) "ArgumentException"
            Expect.equal e.ParamName "observation" "e.ParamName"
            Expect.stringContains e.Message "3 values" "e.Message"
            Expect.stringContains e.Message "observationSize = 4" "e.Message"
            Expect.throwsT<ArgumentNullException> (fun () -> agent.Act(null) |> ignore) "ArgumentNullException"

        testCase "an action out of range in CartPole's Step is an ArgumentOutOfRangeException naming the action" <| fun () ->
            let env = CartPoleEnvironment()
            env.Reset(Nullable 0) |> ignore
            for action in [ 2; -1 ] do
                let e = Expect.wantThrows<ArgumentOutOfRangeException> (fun () -> env.Step action |> ignore) "ArgumentOutOfRangeException"
                Expect.equal e.ParamName "action" "e.ParamName"
                Expect.equal e.ActualValue (box action) "e.ActualValue"
                Expect.stringContains e.Message "0..1" "e.Message"

        testCase "a NaN reward from a user environment stops Agent.Learn with an ArgumentException naming the value" <| fun () ->
            use agent = new Agent(smallConfig, 4, 2)
            let e = Expect.wantThrowsAny<ArgumentException> (fun () -> agent.Learn(Scripted(nan, 4), 10L) |> ignore) "ArgumentException"
            Expect.equal e.ParamName "reward" "e.ParamName"
            Expect.stringContains e.Message "NaN" "e.Message"
            Expect.equal agent.ReplayCount 0 "agent.ReplayCount"

        testCase "an infinite reward from a user environment is an ArgumentException" <| fun () ->
            use agent = new Agent(smallConfig, 4, 2)
            let e = Expect.wantThrowsAny<ArgumentException> (fun () -> agent.Learn(Scripted(-infinity, 4), 10L) |> ignore) "ArgumentException"
            Expect.equal e.ParamName "reward" "e.ParamName"

        testCase "an observation of the wrong length from a user environment is an ArgumentException" <| fun () ->
            use agent = new Agent(smallConfig, 4, 2)
            let e = Expect.wantThrowsAny<ArgumentException> (fun () -> agent.Learn(Scripted(1.0, 3), 10L) |> ignore) "ArgumentException"
            Expect.stringContains e.Message "the environment's observation" "e.Message"
            Expect.stringContains e.Message "3 values" "e.Message"

        testCase "an environment of other sizes than the agent's is an ArgumentException naming both" <| fun () ->
            use agent = new Agent(smallConfig, 4, 2)
            let e = Expect.wantThrows<ArgumentException> (fun () -> agent.Learn(GridWorldEnvironment(), 10L) |> ignore) "ArgumentException"
            Expect.equal e.ParamName "env" "e.ParamName"
            Expect.stringContains e.Message "ObservationSize = 25" "e.Message"
            Expect.stringContains e.Message "expects 4 and 2" "e.Message"
            let e = Expect.wantThrows<ArgumentOutOfRangeException> (fun () -> agent.Learn(CartPoleEnvironment(), 0L) |> ignore) "ArgumentOutOfRangeException"
            Expect.equal e.ParamName "totalSteps" "e.ParamName"

        testCase "a disposed agent refuses to learn" <| fun () ->
            let agent = new Agent(smallConfig, 4, 2)
            agent.Dispose()
            Expect.throwsT<ObjectDisposedException> (fun () -> agent.Learn(CartPoleEnvironment(), 10L) |> ignore) "ObjectDisposedException"
            Expect.throwsT<ObjectDisposedException> (fun () -> agent.Act(Array.zeroCreate 4) |> ignore) "ObjectDisposedException"

        testCase "a negative replay capacity is an ArgumentOutOfRangeException naming capacity" <| fun () ->
            let e = Expect.wantThrows<ArgumentOutOfRangeException> (fun () -> ReplayBuffer(-1, 4, 0) |> ignore) "ArgumentOutOfRangeException"
            Expect.equal e.ParamName "capacity" "e.ParamName"
            Expect.equal e.ActualValue (box -1) "e.ActualValue"

        testCase "a gamma of 1.5 fails validation with an ArgumentOutOfRangeException naming Gamma" <| fun () ->
            let e = Expect.wantThrows<ArgumentOutOfRangeException> (fun () -> DqnConfig.validate { DqnConfig.defaults with Gamma = 1.5 } |> ignore) "ArgumentOutOfRangeException"
            Expect.equal e.ParamName "Gamma" "e.ParamName"
            Expect.equal e.ActualValue (box 1.5) "e.ActualValue"
            Expect.stringContains e.Message "Gamma must be in [0, 1]" "e.Message"
            let e = Expect.wantThrows<ArgumentOutOfRangeException> (fun () -> new Agent({ DqnConfig.defaults with Gamma = 1.5 }, 4, 2) |> ignore) "ArgumentOutOfRangeException"
            Expect.equal e.ParamName "Gamma" "e.ParamName"

        testCase "every out-of-range config field is named by validate" <| fun () ->
            let d = DqnConfig.defaults
            let cases =
                [ "Hidden", { d with Hidden = [ 64; 0 ] }
                  "Gamma", { d with Gamma = nan }
                  "LearningRate", { d with LearningRate = Schedule.constant 0.0 }
                  "LearningRate", { d with LearningRate = Schedule.constant -1e-3 }
                  "AdamEpsilon", { d with AdamEpsilon = -1e-8 }
                  "BatchSize", { d with BatchSize = 0 }
                  "BufferSize", { d with BufferSize = -5 }
                  "BufferSize", { d with BufferSize = 10; BatchSize = 64 }
                  "LearningStarts", { d with LearningStarts = -1 }
                  "TrainFrequency", { d with TrainFrequency = 0 }
                  "GradientSteps", { d with GradientSteps = 0 }
                  "TargetUpdateInterval", { d with TargetUpdateInterval = 0 }
                  "Tau", { d with Tau = 0.0 }
                  "Tau", { d with Tau = 1.5 }
                  "MaxGradNorm", { d with MaxGradNorm = Some 0.0 }
                  "ExplorationUnit", { d with ExplorationUnit = enum<ScheduleUnit> 9 }
                  "PriorityWeightNormalization", { d with PriorityWeightNormalization = enum<ImportanceWeightNormalization> 9 }
                  "EvalInterval", { d with EvalInterval = -1 }
                  "EvalEpisodes", { d with EvalEpisodes = -1 }
                  "EvalEpsilon", { d with EvalEpsilon = 1.5 } ]
            for name, config in cases do
                let e = Expect.wantThrowsAny<ArgumentException> (fun () -> DqnConfig.validate config |> ignore) "ArgumentException"
                Expect.equal e.ParamName name "e.ParamName"
            Expect.isTrue (obj.ReferenceEquals(d, DqnConfig.validate d)) "same: DqnConfig.validate d"

        testCase "non-positive agent sizes are ArgumentOutOfRangeException naming them" <| fun () ->
            let e = Expect.wantThrows<ArgumentOutOfRangeException> (fun () -> new Agent(smallConfig, 0, 2) |> ignore) "ArgumentOutOfRangeException"
            Expect.equal e.ParamName "observationSize" "e.ParamName"
            let e = Expect.wantThrows<ArgumentOutOfRangeException> (fun () -> new Agent(smallConfig, 4, 0) |> ignore) "ArgumentOutOfRangeException"
            Expect.equal e.ParamName "actionCount" "e.ParamName"

        testCase "a NaN or infinite observation stops training with a message naming the value and its index" <| fun () ->
            use agent = new Agent({ DqnConfig.defaults with EvalInterval = 0 }, 4, 2)
            let e = Expect.wantThrows<ArgumentException> (fun () -> agent.Learn(NaNObservations(), 100L) |> ignore) "ArgumentException"
            Expect.stringContains e.Message "NaN at index 1" "e.Message"
            Expect.equal agent.Steps 2L "agent.Steps"
            let e = Expect.wantThrows<ArgumentException> (fun () -> agent.Act([| 0.0f; 0.0f; infinityf; 0.0f |]) |> ignore) "ArgumentException"
            Expect.stringContains e.Message "at index 2" "e.Message"
    ]
