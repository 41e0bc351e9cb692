/// Bad input at the public entry points must give a clear .NET exception that names the problem.
module Dqn.Fun.Tests.BadInputTests

open System
open Xunit
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

[<Fact>]
let ``an observation of the wrong length given to Agent.Act is an ArgumentException naming both lengths`` () =
    use agent = new Agent(smallConfig, 4, 2)
    let e = Assert.Throws<ArgumentException>(fun () -> agent.Act([| 1f; 2f; 3f |]) |> ignore)
    Assert.Equal("observation", e.ParamName)
    Assert.Contains("3 values", e.Message)
    Assert.Contains("observationSize = 4", e.Message)
    Assert.Throws<ArgumentNullException>(fun () -> agent.Act(null) |> ignore) |> ignore

[<Fact>]
let ``an action out of range in CartPole's Step is an ArgumentOutOfRangeException naming the action`` () =
    let env = CartPoleEnvironment()
    env.Reset(Nullable 0) |> ignore
    for action in [ 2; -1 ] do
        let e = Assert.Throws<ArgumentOutOfRangeException>(fun () -> env.Step action |> ignore)
        Assert.Equal("action", e.ParamName)
        Assert.Equal(box action, e.ActualValue)
        Assert.Contains("0..1", e.Message)

[<Fact>]
let ``a NaN reward from a user environment stops Agent.Learn with an ArgumentException naming the value`` () =
    use agent = new Agent(smallConfig, 4, 2)
    let e = Assert.ThrowsAny<ArgumentException>(fun () -> agent.Learn(Scripted(nan, 4), 10L) |> ignore)
    Assert.Equal("reward", e.ParamName)
    Assert.Contains("NaN", e.Message)
    Assert.Equal(0, agent.ReplayCount)

[<Fact>]
let ``an infinite reward from a user environment is an ArgumentException`` () =
    use agent = new Agent(smallConfig, 4, 2)
    let e = Assert.ThrowsAny<ArgumentException>(fun () -> agent.Learn(Scripted(-infinity, 4), 10L) |> ignore)
    Assert.Equal("reward", e.ParamName)

[<Fact>]
let ``an observation of the wrong length from a user environment is an ArgumentException`` () =
    use agent = new Agent(smallConfig, 4, 2)
    let e = Assert.ThrowsAny<ArgumentException>(fun () -> agent.Learn(Scripted(1.0, 3), 10L) |> ignore)
    Assert.Contains("the environment's observation", e.Message)
    Assert.Contains("3 values", e.Message)

[<Fact>]
let ``an environment of other sizes than the agent's is an ArgumentException naming both`` () =
    use agent = new Agent(smallConfig, 4, 2)
    let e = Assert.Throws<ArgumentException>(fun () -> agent.Learn(GridWorldEnvironment(), 10L) |> ignore)
    Assert.Equal("env", e.ParamName)
    Assert.Contains("ObservationSize = 25", e.Message)
    Assert.Contains("expects 4 and 2", e.Message)
    let e = Assert.Throws<ArgumentOutOfRangeException>(fun () -> agent.Learn(CartPoleEnvironment(), 0L) |> ignore)
    Assert.Equal("totalSteps", e.ParamName)

[<Fact>]
let ``a disposed agent refuses to learn`` () =
    let agent = new Agent(smallConfig, 4, 2)
    agent.Dispose()
    Assert.Throws<ObjectDisposedException>(fun () -> agent.Learn(CartPoleEnvironment(), 10L) |> ignore) |> ignore
    Assert.Throws<ObjectDisposedException>(fun () -> agent.Act(Array.zeroCreate 4) |> ignore) |> ignore

[<Fact>]
let ``a negative replay capacity is an ArgumentOutOfRangeException naming capacity`` () =
    let e = Assert.Throws<ArgumentOutOfRangeException>(fun () -> ReplayBuffer(-1, 4, 0) |> ignore)
    Assert.Equal("capacity", e.ParamName)
    Assert.Equal(box -1, e.ActualValue)

[<Fact>]
let ``a gamma of 1.5 fails validation with an ArgumentOutOfRangeException naming Gamma`` () =
    let e = Assert.Throws<ArgumentOutOfRangeException>(fun () -> DqnConfig.validate { DqnConfig.defaults with Gamma = 1.5 } |> ignore)
    Assert.Equal("Gamma", e.ParamName)
    Assert.Equal(box 1.5, e.ActualValue)
    Assert.Contains("Gamma must be in [0, 1]", e.Message)
    let e = Assert.Throws<ArgumentOutOfRangeException>(fun () -> new Agent({ DqnConfig.defaults with Gamma = 1.5 }, 4, 2) |> ignore)
    Assert.Equal("Gamma", e.ParamName)

[<Fact>]
let ``every out-of-range config field is named by validate`` () =
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
        let e = Assert.ThrowsAny<ArgumentException>(fun () -> DqnConfig.validate config |> ignore)
        Assert.Equal(name, e.ParamName)
    Assert.Same(d, DqnConfig.validate d)

[<Fact>]
let ``non-positive agent sizes are ArgumentOutOfRangeException naming them`` () =
    let e = Assert.Throws<ArgumentOutOfRangeException>(fun () -> new Agent(smallConfig, 0, 2) |> ignore)
    Assert.Equal("observationSize", e.ParamName)
    let e = Assert.Throws<ArgumentOutOfRangeException>(fun () -> new Agent(smallConfig, 4, 0) |> ignore)
    Assert.Equal("actionCount", e.ParamName)

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

[<Fact>]
let ``a NaN or infinite observation stops training with a message naming the value and its index`` () =
    use agent = new Agent({ DqnConfig.defaults with EvalInterval = 0 }, 4, 2)
    let e = Assert.Throws<ArgumentException>(fun () -> agent.Learn(NaNObservations(), 100L) |> ignore)
    Assert.Contains("NaN at index 1", e.Message)
    Assert.Equal(2L, agent.Steps)
    let e = Assert.Throws<ArgumentException>(fun () -> agent.Act([| 0.0f; 0.0f; infinityf; 0.0f |]) |> ignore)
    Assert.Contains("at index 2", e.Message)
