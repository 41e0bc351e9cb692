namespace Dqn.Fun

open System

[<RequireQualifiedAccess>]
module MountainCar =

    type State = { Position: float; Velocity: float }

    [<CompiledName("MinPosition")>]
    let minPosition = -1.2
    [<CompiledName("MaxPosition")>]
    let maxPosition = 0.6
    [<CompiledName("MaxSpeed")>]
    let maxSpeed = 0.07
    [<CompiledName("GoalPosition")>]
    let goalPosition = 0.5
    [<CompiledName("GoalVelocity")>]
    let goalVelocity = 0.0
    [<CompiledName("Force")>]
    let force = 0.001
    [<CompiledName("Gravity")>]
    let gravity = 0.0025
    [<CompiledName("MaxEpisodeSteps")>]
    let maxEpisodeSteps = 200
    [<CompiledName("ActionCount")>]
    let actionCount = 3
    [<CompiledName("ObservationSize")>]
    let observationSize = 2

    [<CompiledName("Step")>]
    let step (state: State) (action: int) : State =
        Check.action "action" actionCount action
        // Same operation order as Gymnasium's step.
        let velocity = state.Velocity + float (action - 1) * force + cos (3.0 * state.Position) * -gravity
        let velocity = Math.Clamp(velocity, -maxSpeed, maxSpeed)
        let position = Math.Clamp(state.Position + velocity, minPosition, maxPosition)
        let velocity = if position = minPosition && velocity < 0.0 then 0.0 else velocity
        { Position = position; Velocity = velocity }

    [<CompiledName("IsTerminated")>]
    let isTerminated (state: State) = state.Position >= goalPosition && state.Velocity >= goalVelocity

    [<CompiledName("Observation")>]
    let observation (state: State) = [| float32 state.Position; float32 state.Velocity |]

    [<CompiledName("InitialState")>]
    let initialState (random: Random) = { Position = -0.6 + 0.2 * random.NextDouble(); Velocity = 0.0 }

[<Sealed>]
type MountainCarEnvironment() =
    let episode = Episode<MountainCar.State>("MountainCar", MountainCar.actionCount, MountainCar.maxEpisodeSteps)

    member _.ObservationSize = MountainCar.observationSize
    member _.ActionCount = MountainCar.actionCount
    member _.State = episode.State
    member _.ElapsedSteps = episode.Elapsed
    member _.Reset(seed: Nullable<int>) = MountainCar.observation (episode.Reset(seed, MountainCar.initialState))

    member _.Step(action: int) =
        let struct (s, terminated, truncated) = episode.Step(action, MountainCar.step, MountainCar.isTerminated)
        { Observation = MountainCar.observation s
          Reward = -1.0
          Terminated = terminated
          Truncated = truncated }

    interface IEnvironment with
        member this.ObservationSize = this.ObservationSize
        member this.ActionCount = this.ActionCount
        member this.Reset(seed) = this.Reset(seed)
        member this.Step(action) = this.Step(action)
