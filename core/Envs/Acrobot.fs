namespace Dqn.Fun

open System

[<RequireQualifiedAccess>]
module Acrobot =

    type State =
        { Theta1: float
          Theta2: float
          Theta1Dot: float
          Theta2Dot: float }

    [<CompiledName("Dt")>]
    let dt = 0.2
    [<CompiledName("Gravity")>]
    let gravity = 9.8
    [<CompiledName("LinkLength1")>]
    let linkLength1 = 1.0
    [<CompiledName("LinkLength2")>]
    let linkLength2 = 1.0
    [<CompiledName("LinkMass1")>]
    let linkMass1 = 1.0
    [<CompiledName("LinkMass2")>]
    let linkMass2 = 1.0
    [<CompiledName("LinkComPosition1")>]
    let linkComPosition1 = 0.5
    [<CompiledName("LinkComPosition2")>]
    let linkComPosition2 = 0.5
    [<CompiledName("LinkMomentOfInertia")>]
    let linkMomentOfInertia = 1.0
    [<CompiledName("MaxVelocity1")>]
    let maxVelocity1 = 4.0 * Math.PI
    [<CompiledName("MaxVelocity2")>]
    let maxVelocity2 = 9.0 * Math.PI
    [<CompiledName("MaxEpisodeSteps")>]
    let maxEpisodeSteps = 500
    [<CompiledName("ActionCount")>]
    let actionCount = 3
    [<CompiledName("ObservationSize")>]
    let observationSize = 6

    [<CompiledName("Torque")>]
    let torque (action: int) =
        Check.action "action" actionCount action
        match action with
        | 0 -> -1.0
        | 1 -> 0.0
        | _ -> 1.0

    [<CompiledName("Derivatives")>]
    let derivatives (torque: float) (state: State) : State =
        let m1 = linkMass1
        let m2 = linkMass2
        let l1 = linkLength1
        let lc1 = linkComPosition1
        let lc2 = linkComPosition2
        let i1 = linkMomentOfInertia
        let i2 = linkMomentOfInertia
        let g = gravity
        let theta1 = state.Theta1
        let theta2 = state.Theta2
        let dtheta1 = state.Theta1Dot
        let dtheta2 = state.Theta2Dot
        // Gymnasium's operation order (left to right, squares as products), book dynamics.
        let d1 = m1 * (lc1 * lc1) + m2 * (l1 * l1 + lc2 * lc2 + 2.0 * l1 * lc2 * cos theta2) + i1 + i2
        let d2 = m2 * (lc2 * lc2 + l1 * lc2 * cos theta2) + i2
        let phi2 = m2 * lc2 * g * cos (theta1 + theta2 - Math.PI / 2.0)
        let coriolis2 = -m2 * l1 * lc2 * (dtheta2 * dtheta2) * sin theta2
        let coriolis12 = 2.0 * m2 * l1 * lc2 * dtheta2 * dtheta1 * sin theta2
        let gravity1 = (m1 * lc1 + m2 * l1) * g * cos (theta1 - Math.PI / 2.0)
        let phi1 = coriolis2 - coriolis12 + gravity1 + phi2
        // The book's term, absent from the NIPS paper's equation.
        let centrifugal = m2 * l1 * lc2 * (dtheta1 * dtheta1) * sin theta2
        let ddtheta2 =
            (torque + d2 / d1 * phi1 - centrifugal - phi2) / (m2 * (lc2 * lc2) + i2 - (d2 * d2) / d1)
        let ddtheta1 = -(d2 * ddtheta2 + phi1) / d1
        { Theta1 = dtheta1
          Theta2 = dtheta2
          Theta1Dot = ddtheta1
          Theta2Dot = ddtheta2 }

    // y + h·k, componentwise.
    let private advance (y: State) (h: float) (k: State) =
        { Theta1 = y.Theta1 + h * k.Theta1
          Theta2 = y.Theta2 + h * k.Theta2
          Theta1Dot = y.Theta1Dot + h * k.Theta1Dot
          Theta2Dot = y.Theta2Dot + h * k.Theta2Dot }

    [<CompiledName("Rk4")>]
    let rk4 (torque: float) (duration: float) (state: State) : State =
        let half = duration / 2.0
        let k1 = derivatives torque state
        let k2 = derivatives torque (advance state half k1)
        let k3 = derivatives torque (advance state half k2)
        let k4 = derivatives torque (advance state duration k3)
        let sixth = duration / 6.0
        // Gymnasium: y0 + dt / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4).
        let combine a b c d = a + 2.0 * b + 2.0 * c + d
        { Theta1 = state.Theta1 + sixth * combine k1.Theta1 k2.Theta1 k3.Theta1 k4.Theta1
          Theta2 = state.Theta2 + sixth * combine k1.Theta2 k2.Theta2 k3.Theta2 k4.Theta2
          Theta1Dot = state.Theta1Dot + sixth * combine k1.Theta1Dot k2.Theta1Dot k3.Theta1Dot k4.Theta1Dot
          Theta2Dot = state.Theta2Dot + sixth * combine k1.Theta2Dot k2.Theta2Dot k3.Theta2Dot k4.Theta2Dot }

    [<CompiledName("Wrap")>]
    let wrap (angle: float) =
        let lo = -Math.PI
        let hi = Math.PI
        let span = hi - lo
        if Double.IsNaN angle || Double.IsInfinity angle then
            Double.NaN
        else
            let mutable x = angle
            // Far outside any reachable range: one modular reduction instead of ~10⁶ loop turns.
            if abs x > 1e6 then
                x <- lo + (((x - lo) % span) + span) % span
            while x > hi do
                x <- x - span
            while x < lo do
                x <- x + span
            x

    // Python's min(max(x, lo), hi): NaN passes through.
    let private bound (lo: float) (hi: float) (x: float) =
        let y = if lo > x then lo else x
        if hi < y then hi else y

    [<CompiledName("Step")>]
    let step (state: State) (action: int) : State =
        let next = rk4 (torque action) dt state
        { Theta1 = wrap next.Theta1
          Theta2 = wrap next.Theta2
          Theta1Dot = bound -maxVelocity1 maxVelocity1 next.Theta1Dot
          Theta2Dot = bound -maxVelocity2 maxVelocity2 next.Theta2Dot }

    [<CompiledName("TipHeight")>]
    let tipHeight (state: State) =
        -(cos state.Theta1) - cos (state.Theta2 + state.Theta1)

    [<CompiledName("IsTerminated")>]
    let isTerminated (state: State) = tipHeight state > 1.0

    [<CompiledName("Observation")>]
    let observation (state: State) =
        [| float32 (cos state.Theta1)
           float32 (sin state.Theta1)
           float32 (cos state.Theta2)
           float32 (sin state.Theta2)
           float32 state.Theta1Dot
           float32 state.Theta2Dot |]

    [<CompiledName("InitialState")>]
    let initialState (random: Random) =
        // Gymnasium draws float64 uniforms and stores them as float32.
        let uniform () = float (float32 (-0.1 + 0.2 * random.NextDouble()))
        let theta1 = uniform ()
        let theta2 = uniform ()
        let theta1Dot = uniform ()
        let theta2Dot = uniform ()
        { Theta1 = theta1
          Theta2 = theta2
          Theta1Dot = theta1Dot
          Theta2Dot = theta2Dot }

[<Sealed>]
type AcrobotEnvironment() =
    let episode = Episode<Acrobot.State>("Acrobot", Acrobot.actionCount, Acrobot.maxEpisodeSteps)

    member _.ObservationSize = Acrobot.observationSize
    member _.ActionCount = Acrobot.actionCount
    member _.State = episode.State
    member _.ElapsedSteps = episode.Elapsed
    member _.Reset(seed: Nullable<int>) = Acrobot.observation (episode.Reset(seed, Acrobot.initialState))

    member _.Step(action: int) =
        let struct (s, terminated, truncated) = episode.Step(action, Acrobot.step, Acrobot.isTerminated)
        { Observation = Acrobot.observation s
          Reward = (if terminated then 0.0 else -1.0)
          Terminated = terminated
          Truncated = truncated }

    interface IEnvironment with
        member this.ObservationSize = this.ObservationSize
        member this.ActionCount = this.ActionCount
        member this.Reset(seed) = this.Reset(seed)
        member this.Step(action) = this.Step(action)
