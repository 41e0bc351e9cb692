module Dqn.Fun.Tests.CartPoleTests

open System
open Expecto
open FsCheck
open FsCheck.FSharp
open Dqn.Fun
open Dqn.Fun.Tests.TestConfig

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
    Expect.floatClose (Accuracy.places 12) actual.X expected.X "actual.X"
    Expect.floatClose (Accuracy.places 12) actual.XDot expected.XDot "actual.XDot"
    Expect.floatClose (Accuracy.places 12) actual.Theta expected.Theta "actual.Theta"
    Expect.floatClose (Accuracy.places 12) actual.ThetaDot expected.ThetaDot "actual.ThetaDot"

// Balances the pole for the whole 500-step limit from Gymnasium-sized initial states.
let private balancing (s: CartPole.State) =
    if s.Theta + 0.5 * s.ThetaDot + 0.01 * s.X + 0.1 * s.XDot > 0.0 then 1 else 0

[<Tests>]
let tests =
    testList "CartPole" [
        testCase "pushing right from rest gives the exact accelerations 400/41 and -600/41" <| fun () ->
            // From rest: temp = 100/11, thetaAcc = -(100/11) / (41/66) = -600/41, xAcc = 400/41.
            let s = CartPole.step zero 1
            assertClose (state 0.0 (0.02 * 400.0 / 41.0) 0.0 (0.02 * -600.0 / 41.0)) s

        testCase "one Euler step from a tilted moving state matches the hand computation" <| fun () ->
            let s0 = state 0.01 -0.02 0.03 0.04
            assertClose (handStep s0 1) (CartPole.step s0 1)
            assertClose (handStep s0 0) (CartPole.step s0 0)

        testCase "two Euler steps update position with the old velocity in Gymnasium's order" <| fun () ->
            let s0 = state 0.01 -0.02 0.03 0.04
            let s1 = CartPole.step s0 1
            let s2 = CartPole.step s1 0
            assertClose (handStep (handStep s0 1) 0) s2
            // Explicit Euler: the new position uses the velocity before the update.
            Expect.floatClose (Accuracy.places 15) s2.X (s1.X + 0.02 * s1.XDot) "s2.X"
            Expect.floatClose (Accuracy.places 15) s2.Theta (s1.Theta + 0.02 * s1.ThetaDot) "s2.Theta"

        testPropertyWithConfig fsCheck "the dynamics are mirror-symmetric in the two actions" (
            let small = Gen.choose (-100_000, 100_000) |> Gen.map (fun i -> float i / 1_000_000.0)
            let gen = Gen.zip (Gen.four small) (Gen.elements [ 0; 1 ])
            Prop.forAll (Arb.fromGen gen) (fun ((x, xd, th, thd), a) ->
                let s = CartPole.step (state x xd th thd) a
                let m = CartPole.step (state -x -xd -th -thd) (1 - a)
                abs (s.X + m.X) < 1e-12
                && abs (s.XDot + m.XDot) < 1e-12
                && abs (s.Theta + m.Theta) < 1e-12
                && abs (s.ThetaDot + m.ThetaDot) < 1e-12)
        )

        testCase "the physics step rejects actions other than 0 and 1" <| fun () ->
            for a in [ -1; 2 ] do
                let e = Expect.wantThrows<ArgumentOutOfRangeException> (fun () -> CartPole.step zero a |> ignore) "ArgumentOutOfRangeException"
                Expect.equal e.ParamName "action" "e.ParamName"
                Expect.equal e.ActualValue (box a) "e.ActualValue"

        testCase "termination happens strictly beyond 2.4 m and 12 degrees" <| fun () ->
            let limit = 12.0 * 2.0 * Math.PI / 360.0
            Expect.equal CartPole.thetaThresholdRadians limit "CartPole.thetaThresholdRadians"
            Expect.isFalse (CartPole.isTerminated (state 2.4 0.0 0.0 0.0)) "CartPole.isTerminated (state 2.4 0.0 0.0 0.0)"
            Expect.isFalse (CartPole.isTerminated (state -2.4 0.0 0.0 0.0)) "CartPole.isTerminated (state -2.4 0.0 0.0 0.0)"
            Expect.isTrue (CartPole.isTerminated (state (Math.BitIncrement 2.4) 0.0 0.0 0.0)) "CartPole.isTerminated (state (Math.BitIncrement 2.4) 0.0..."
            Expect.isTrue (CartPole.isTerminated (state (Math.BitDecrement -2.4) 0.0 0.0 0.0)) "CartPole.isTerminated (state (Math.BitDecrement -2.4) 0.0..."
            Expect.isFalse (CartPole.isTerminated (state 0.0 0.0 limit 0.0)) "CartPole.isTerminated (state 0.0 0.0 limit 0.0)"
            Expect.isFalse (CartPole.isTerminated (state 0.0 0.0 -limit 0.0)) "CartPole.isTerminated (state 0.0 0.0 -limit 0.0)"
            Expect.isTrue (CartPole.isTerminated (state 0.0 0.0 (Math.BitIncrement limit) 0.0)) "CartPole.isTerminated (state 0.0 0.0 (Math.BitIncrement l..."
            Expect.isTrue (CartPole.isTerminated (state 0.0 0.0 (Math.BitDecrement -limit) 0.0)) "CartPole.isTerminated (state 0.0 0.0 (Math.BitDecrement -..."
            // Velocities never terminate an episode.
            Expect.isFalse (CartPole.isTerminated (state 0.0 100.0 0.0 -100.0)) "CartPole.isTerminated (state 0.0 100.0 0.0 -100.0)"

        testCase "the observation is the state rounded to float32 in the order x, x_dot, theta, theta_dot" <| fun () ->
            let s = state 0.1 -0.2 0.03 0.4
            Expect.equal (CartPole.observation s) [| 0.1f; -0.2f; 0.03f; 0.4f |] "CartPole.observation s"

        testPropertyWithConfig fsCheck "reset draws every component uniformly in the interval from -0.05 to 0.05" (
            Prop.forAll (Arb.fromGen (Gen.choose (0, Int32.MaxValue))) (fun seed ->
                let env = CartPoleEnvironment()
                let obs = env.Reset(Nullable seed)
                let s = env.State
                obs.Length = 4
                && [ s.X; s.XDot; s.Theta; s.ThetaDot ] |> List.forall (fun v -> -0.05 <= v && v < 0.05)
                && obs = CartPole.observation s)
        )

        testCase "reset with the same seed gives the same initial observation and a different seed does not" <| fun () ->
            let env = CartPoleEnvironment()
            let a = env.Reset(Nullable 7)
            let b = env.Reset(Nullable 7)
            let c = env.Reset(Nullable 8)
            Expect.equal b a "b"
            Expect.notEqual c a "c"
            // An unseeded reset continues the seeded generator, so it is reproducible too.
            env.Reset(Nullable 7) |> ignore
            let d = env.Reset(Nullable())
            let env2 = CartPoleEnvironment()
            env2.Reset(Nullable 7) |> ignore
            Expect.equal (env2.Reset(Nullable())) d "env2.Reset(Nullable())"

        testCase "the environment applies the pure physics step and reports its state as float32" <| fun () ->
            let env = CartPoleEnvironment()
            env.Reset(Nullable 3) |> ignore
            for a in [ 1; 0; 0; 1; 1 ] do
                let before = env.State
                let r = env.Step a
                Expect.equal env.State (CartPole.step before a) "env.State"
                Expect.equal r.Observation (CartPole.observation env.State) "r.Observation"

        testCase "every step pays 1.0, the terminating one included, and the pole falls when always pushed right" <| fun () ->
            let env = CartPoleEnvironment()
            env.Reset(Nullable 0) |> ignore
            let results = List.unfold (fun fin -> if fin then None else let r = env.Step 1 in Some(r, r.Terminated || r.Truncated)) false
            let last = List.last results
            Expect.isTrue last.Terminated "last.Terminated"
            Expect.isFalse last.Truncated "last.Truncated"
            Expect.isTrue (CartPole.isTerminated env.State) "CartPole.isTerminated env.State"
            Expect.isTrue (results.Length < 50) "results.Length < 50"
            for r in results do Expect.equal r.Reward 1.0 "r.Reward"
            for r in List.take (results.Length - 1) results do Expect.isFalse r.Terminated "r.Terminated"

        testCase "an episode that keeps the pole up is truncated at exactly step 500 and not terminated" <| fun () ->
            let env = CartPoleEnvironment()
            env.Reset(Nullable 0) |> ignore
            for step in 1..500 do
                let r = env.Step(balancing env.State)
                Expect.isFalse r.Terminated $"terminated at step {step}"
                Expect.equal r.Truncated (step = 500) "r.Truncated"
                Expect.equal r.Reward 1.0 "r.Reward"
            Expect.equal env.ElapsedSteps 500 "env.ElapsedSteps"
            Expect.throwsT<InvalidOperationException> (fun () -> env.Step 0 |> ignore) "InvalidOperationException"
            env.Reset(Nullable()) |> ignore
            Expect.equal env.ElapsedSteps 0 "env.ElapsedSteps"
            Expect.isFalse ((env.Step 0).Truncated) "(env.Step 0).Truncated"

        testCase "stepping before reset or after the episode ended asks for Reset" <| fun () ->
            let env = CartPoleEnvironment()
            let e = Expect.wantThrows<InvalidOperationException> (fun () -> env.Step 0 |> ignore) "InvalidOperationException"
            Expect.stringContains e.Message "Reset" "e.Message"
            Expect.throwsT<InvalidOperationException> (fun () -> env.State |> ignore) "InvalidOperationException"
            env.Reset(Nullable 1) |> ignore
            while not (env.Step 1).Terminated do ()
            let e = Expect.wantThrows<InvalidOperationException> (fun () -> env.Step 1 |> ignore) "InvalidOperationException"
            Expect.stringContains e.Message "Reset" "e.Message"

        testCase "the environment rejects an invalid action and names it" <| fun () ->
            let concrete = CartPoleEnvironment()
            let env = concrete :> IEnvironment
            Expect.equal env.ObservationSize 4 "env.ObservationSize"
            Expect.equal env.ActionCount 2 "env.ActionCount"
            env.Reset(Nullable 1) |> ignore
            let before = concrete.State
            let e = Expect.wantThrows<ArgumentOutOfRangeException> (fun () -> env.Step 2 |> ignore) "ArgumentOutOfRangeException"
            Expect.equal e.ParamName "action" "e.ParamName"
            Expect.equal e.ActualValue (box 2) "e.ActualValue"
            // The rejected action neither moved the state nor consumed a step.
            Expect.equal concrete.State before "concrete.State"
            Expect.equal concrete.ElapsedSteps 0 "concrete.ElapsedSteps"
    ]
