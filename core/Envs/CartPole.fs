namespace Dqn.Fun

open System

[<RequireQualifiedAccess>]
module CartPole =

    type State =
        { X: float
          XDot: float
          Theta: float
          ThetaDot: float }

    [<CompiledName("Gravity")>]
    let gravity = 9.8
    [<CompiledName("MassCart")>]
    let massCart = 1.0
    [<CompiledName("MassPole")>]
    let massPole = 0.1
    let private totalMass = massPole + massCart
    [<CompiledName("Length")>]
    let length = 0.5
    let private poleMassLength = massPole * length
    [<CompiledName("ForceMag")>]
    let forceMag = 10.0
    [<CompiledName("Tau")>]
    let tau = 0.02
    [<CompiledName("XThreshold")>]
    let xThreshold = 2.4
    [<CompiledName("ThetaThresholdRadians")>]
    let thetaThresholdRadians = 12.0 * 2.0 * Math.PI / 360.0
    [<CompiledName("MaxEpisodeSteps")>]
    let maxEpisodeSteps = 500
    [<CompiledName("ActionCount")>]
    let actionCount = 2
    [<CompiledName("ObservationSize")>]
    let observationSize = 4

    [<CompiledName("Step")>]
    let step (state: State) (action: int) : State =
        Check.action "action" actionCount action
        let force = if action = 1 then forceMag else -forceMag
        let cosTheta = cos state.Theta
        let sinTheta = sin state.Theta
        // Same operation order as Gymnasium, so results agree to the last bit where libm does.
        let temp =
            (force + poleMassLength * (state.ThetaDot * state.ThetaDot) * sinTheta) / totalMass
        let thetaAcc =
            (gravity * sinTheta - cosTheta * temp)
            / (length * (4.0 / 3.0 - massPole * (cosTheta * cosTheta) / totalMass))
        let xAcc = temp - poleMassLength * thetaAcc * cosTheta / totalMass
        { X = state.X + tau * state.XDot
          XDot = state.XDot + tau * xAcc
          Theta = state.Theta + tau * state.ThetaDot
          ThetaDot = state.ThetaDot + tau * thetaAcc }

    [<CompiledName("IsTerminated")>]
    let isTerminated (state: State) =
        state.X < -xThreshold
        || state.X > xThreshold
        || state.Theta < -thetaThresholdRadians
        || state.Theta > thetaThresholdRadians

    [<CompiledName("Observation")>]
    let observation (state: State) =
        [| float32 state.X; float32 state.XDot; float32 state.Theta; float32 state.ThetaDot |]

    [<CompiledName("InitialState")>]
    let initialState (random: Random) =
        let uniform () = -0.05 + 0.1 * random.NextDouble()
        let x = uniform ()
        let xDot = uniform ()
        let theta = uniform ()
        let thetaDot = uniform ()
        { X = x; XDot = xDot; Theta = theta; ThetaDot = thetaDot }

[<Sealed>]
type CartPoleEnvironment() =
    let episode = Episode<CartPole.State>("CartPole", CartPole.actionCount, CartPole.maxEpisodeSteps)

    member _.ObservationSize = CartPole.observationSize
    member _.ActionCount = CartPole.actionCount
    member _.State = episode.State
    member _.ElapsedSteps = episode.Elapsed
    member _.Reset(seed: Nullable<int>) = CartPole.observation (episode.Reset(seed, CartPole.initialState))

    member _.Step(action: int) =
        let struct (s, terminated, truncated) = episode.Step(action, CartPole.step, CartPole.isTerminated)
        { Observation = CartPole.observation s
          Reward = 1.0
          Terminated = terminated
          Truncated = truncated }

    interface IEnvironment with
        member this.ObservationSize = this.ObservationSize
        member this.ActionCount = this.ActionCount
        member this.Reset(seed) = this.Reset(seed)
        member this.Step(action) = this.Step(action)
