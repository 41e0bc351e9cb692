module Dqn.Fun.Tests.CartPoleTests

open System
open Xunit
open FsCheck
open FsCheck.FSharp
open Dqn.Fun

let private check (property: Property) = Check.One(Config.QuickThrowOnFailure, property)

let private state x xDot theta thetaDot : CartPole.State =
    { X = x; XDot = xDot; Theta = theta; ThetaDot = thetaDot }

let private zero = state 0.0 0.0 0.0 0.0

// Gymnasium's equations, written out again from the paper-level formulas with literal constants.
let private handStep (s: CartPole.State) action =
    let force = if action = 1 then 10.0 else -10.0
    let totalMass = 1.1
    let poleMassLength = 0.1 * 0.5
    let c, sn = cos s.Theta, sin s.Theta
    let temp = (force + poleMassLength * s.ThetaDot ** 2.0 * sn) / totalMass
    let thetaAcc = (9.8 * sn - c * temp) / (0.5 * (4.0 / 3.0 - 0.1 * c ** 2.0 / totalMass))
    let xAcc = temp - poleMassLength * thetaAcc * c / totalMass
    state (s.X + 0.02 * s.XDot) (s.XDot + 0.02 * xAcc) (s.Theta + 0.02 * s.ThetaDot) (s.ThetaDot + 0.02 * thetaAcc)

let private assertClose (expected: CartPole.State) (actual: CartPole.State) =
    Assert.Equal(expected.X, actual.X, 12)
    Assert.Equal(expected.XDot, actual.XDot, 12)
    Assert.Equal(expected.Theta, actual.Theta, 12)
    Assert.Equal(expected.ThetaDot, actual.ThetaDot, 12)

// Balances the pole for the whole 500-step limit from Gymnasium-sized initial states.
let private balancing (s: CartPole.State) =
    if s.Theta + 0.5 * s.ThetaDot + 0.01 * s.X + 0.1 * s.XDot > 0.0 then 1 else 0

[<Fact>]
let ``pushing right from rest gives the exact accelerations 400/41 and -600/41`` () =
    // From rest: temp = 100/11, thetaAcc = -(100/11) / (41/66) = -600/41, xAcc = 400/41.
    let s = CartPole.step zero 1
    assertClose (state 0.0 (0.02 * 400.0 / 41.0) 0.0 (0.02 * -600.0 / 41.0)) s

[<Fact>]
let ``one Euler step from a tilted moving state matches the hand computation`` () =
    let s0 = state 0.01 -0.02 0.03 0.04
    assertClose (handStep s0 1) (CartPole.step s0 1)
    assertClose (handStep s0 0) (CartPole.step s0 0)

[<Fact>]
let ``two Euler steps update position with the old velocity in Gymnasium's order`` () =
    let s0 = state 0.01 -0.02 0.03 0.04
    let s1 = CartPole.step s0 1
    let s2 = CartPole.step s1 0
    assertClose (handStep (handStep s0 1) 0) s2
    // Explicit Euler: the new position uses the velocity before the update.
    Assert.Equal(s1.X + 0.02 * s1.XDot, s2.X, 15)
    Assert.Equal(s1.Theta + 0.02 * s1.ThetaDot, s2.Theta, 15)

[<Fact>]
let ``the dynamics are mirror-symmetric in the two actions`` () =
    let small = Gen.choose (-100_000, 100_000) |> Gen.map (fun i -> float i / 1_000_000.0)
    let gen = Gen.zip (Gen.four small) (Gen.elements [ 0; 1 ])
    check (
        Prop.forAll (Arb.fromGen gen) (fun ((x, xd, th, thd), a) ->
            let s = CartPole.step (state x xd th thd) a
            let m = CartPole.step (state -x -xd -th -thd) (1 - a)
            abs (s.X + m.X) < 1e-12
            && abs (s.XDot + m.XDot) < 1e-12
            && abs (s.Theta + m.Theta) < 1e-12
            && abs (s.ThetaDot + m.ThetaDot) < 1e-12)
    )

[<Fact>]
let ``the physics step rejects actions other than 0 and 1`` () =
    for a in [ -1; 2 ] do
        let e = Assert.Throws<ArgumentOutOfRangeException>(fun () -> CartPole.step zero a |> ignore)
        Assert.Equal("action", e.ParamName)
        Assert.Equal(box a, e.ActualValue)

[<Fact>]
let ``termination happens strictly beyond 2.4 m and 12 degrees`` () =
    let limit = 12.0 * 2.0 * Math.PI / 360.0
    Assert.Equal(limit, CartPole.thetaThresholdRadians)
    Assert.False(CartPole.isTerminated (state 2.4 0.0 0.0 0.0))
    Assert.False(CartPole.isTerminated (state -2.4 0.0 0.0 0.0))
    Assert.True(CartPole.isTerminated (state (Math.BitIncrement 2.4) 0.0 0.0 0.0))
    Assert.True(CartPole.isTerminated (state (Math.BitDecrement -2.4) 0.0 0.0 0.0))
    Assert.False(CartPole.isTerminated (state 0.0 0.0 limit 0.0))
    Assert.False(CartPole.isTerminated (state 0.0 0.0 -limit 0.0))
    Assert.True(CartPole.isTerminated (state 0.0 0.0 (Math.BitIncrement limit) 0.0))
    Assert.True(CartPole.isTerminated (state 0.0 0.0 (Math.BitDecrement -limit) 0.0))
    // Velocities never terminate an episode.
    Assert.False(CartPole.isTerminated (state 0.0 100.0 0.0 -100.0))

[<Fact>]
let ``the observation is the state rounded to float32 in the order x, x_dot, theta, theta_dot`` () =
    let s = state 0.1 -0.2 0.03 0.4
    Assert.Equal<float32[]>([| 0.1f; -0.2f; 0.03f; 0.4f |], CartPole.observation s)

[<Fact>]
let ``reset draws every component uniformly in the interval from -0.05 to 0.05`` () =
    check (
        Prop.forAll (Arb.fromGen (Gen.choose (0, Int32.MaxValue))) (fun seed ->
            let env = CartPoleEnvironment()
            let obs = env.Reset(Nullable seed)
            let s = env.State
            obs.Length = 4
            && [ s.X; s.XDot; s.Theta; s.ThetaDot ] |> List.forall (fun v -> -0.05 <= v && v < 0.05)
            && obs = CartPole.observation s)
    )

[<Fact>]
let ``reset with the same seed gives the same initial observation and a different seed does not`` () =
    let env = CartPoleEnvironment()
    let a = env.Reset(Nullable 7)
    let b = env.Reset(Nullable 7)
    let c = env.Reset(Nullable 8)
    Assert.Equal<float32[]>(a, b)
    Assert.NotEqual<float32[]>(a, c)
    // An unseeded reset continues the seeded generator, so it is reproducible too.
    env.Reset(Nullable 7) |> ignore
    let d = env.Reset(Nullable())
    let env2 = CartPoleEnvironment()
    env2.Reset(Nullable 7) |> ignore
    Assert.Equal<float32[]>(d, env2.Reset(Nullable()))

[<Fact>]
let ``the environment applies the pure physics step and reports its state as float32`` () =
    let env = CartPoleEnvironment()
    env.Reset(Nullable 3) |> ignore
    for a in [ 1; 0; 0; 1; 1 ] do
        let before = env.State
        let r = env.Step a
        Assert.Equal(CartPole.step before a, env.State)
        Assert.Equal<float32[]>(CartPole.observation env.State, r.Observation)

[<Fact>]
let ``every step pays 1.0, the terminating one included, and the pole falls when always pushed right`` () =
    let env = CartPoleEnvironment()
    env.Reset(Nullable 0) |> ignore
    let results = List.unfold (fun fin -> if fin then None else let r = env.Step 1 in Some(r, r.Terminated || r.Truncated)) false
    let last = List.last results
    Assert.True(last.Terminated)
    Assert.False(last.Truncated)
    Assert.True(CartPole.isTerminated env.State)
    Assert.True(results.Length < 50)
    Assert.All(results, fun r -> Assert.Equal(1.0, r.Reward))
    Assert.All(List.take (results.Length - 1) results, fun r -> Assert.False(r.Terminated))

[<Fact>]
let ``an episode that keeps the pole up is truncated at exactly step 500 and not terminated`` () =
    let env = CartPoleEnvironment()
    env.Reset(Nullable 0) |> ignore
    for step in 1..500 do
        let r = env.Step(balancing env.State)
        Assert.False(r.Terminated, $"terminated at step {step}")
        Assert.Equal((step = 500), r.Truncated)
        Assert.Equal(1.0, r.Reward)
    Assert.Equal(500, env.ElapsedSteps)
    Assert.Throws<InvalidOperationException>(fun () -> env.Step 0 |> ignore) |> ignore
    env.Reset(Nullable()) |> ignore
    Assert.Equal(0, env.ElapsedSteps)
    Assert.False((env.Step 0).Truncated)

[<Fact>]
let ``stepping before reset or after the episode ended asks for Reset`` () =
    let env = CartPoleEnvironment()
    let e = Assert.Throws<InvalidOperationException>(fun () -> env.Step 0 |> ignore)
    Assert.Contains("Reset", e.Message)
    Assert.Throws<InvalidOperationException>(fun () -> env.State |> ignore) |> ignore
    env.Reset(Nullable 1) |> ignore
    while not (env.Step 1).Terminated do ()
    let e = Assert.Throws<InvalidOperationException>(fun () -> env.Step 1 |> ignore)
    Assert.Contains("Reset", e.Message)

[<Fact>]
let ``the environment rejects an invalid action and names it`` () =
    let concrete = CartPoleEnvironment()
    let env = concrete :> IEnvironment
    Assert.Equal(4, env.ObservationSize)
    Assert.Equal(2, env.ActionCount)
    env.Reset(Nullable 1) |> ignore
    let before = concrete.State
    let e = Assert.Throws<ArgumentOutOfRangeException>(fun () -> env.Step 2 |> ignore)
    Assert.Equal("action", e.ParamName)
    Assert.Equal(box 2, e.ActualValue)
    // The rejected action neither moved the state nor consumed a step.
    Assert.Equal(before, concrete.State)
    Assert.Equal(0, concrete.ElapsedSteps)
