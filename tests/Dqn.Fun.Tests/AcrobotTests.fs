module Dqn.Fun.Tests.AcrobotTests

open System
open Expecto
open FsCheck
open FsCheck.FSharp
open Dqn.Fun
open Dqn.Fun.Tests.TestConfig

let private state t1 t2 w1 w2 : Acrobot.State =
    { Theta1 = t1; Theta2 = t2; Theta1Dot = w1; Theta2Dot = w2 }

let private zero = state 0.0 0.0 0.0 0.0

let private toArray (s: Acrobot.State) = [| s.Theta1; s.Theta2; s.Theta1Dot; s.Theta2Dot |]

// A second, independent derivation of the book's equations (Sutton & Barto 1998, 11.3) with the
// constants substituted by hand: m1 = m2 = l1 = 1, lc1 = lc2 = 0.5, I1 = I2 = 1, g = 9.8, so
// d1 = 0.25 + (1 + 0.25 + cos θ2) + 2, d2 = (0.25 + 0.5 cos θ2) + 1, cos(x − π/2) = sin x,
// m2·lc2·g = 4.9, (m1·lc1 + m2·l1)·g = 14.7, m2·lc2² + I2 = 1.25. Plain float arrays, no module code.
let private handDerivatives (torque: float) (y: float[]) =
    let t1, t2, w1, w2 = y[0], y[1], y[2], y[3]
    let d1 = 3.5 + cos t2
    let d2 = 1.25 + 0.5 * cos t2
    let phi2 = 4.9 * sin (t1 + t2)
    let phi1 = -0.5 * w2 ** 2.0 * sin t2 - w2 * w1 * sin t2 + 14.7 * sin t1 + phi2
    let dd2 = (torque + d2 / d1 * phi1 - 0.5 * w1 ** 2.0 * sin t2 - phi2) / (1.25 - d2 ** 2.0 / d1)
    let dd1 = -(d2 * dd2 + phi1) / d1
    [| w1; w2; dd1; dd2 |]

// The classical RK4 step over h = 0.2 s, written out on arrays.
let private handRk4 (torque: float) (y: float[]) =
    let h = 0.2
    let at (k: float[]) c = Array.map2 (fun yi ki -> yi + c * ki) y k
    let k1 = handDerivatives torque y
    let k2 = handDerivatives torque (at k1 (h / 2.0))
    let k3 = handDerivatives torque (at k2 (h / 2.0))
    let k4 = handDerivatives torque (at k3 h)
    Array.init 4 (fun i -> y[i] + h / 6.0 * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i]))

let private handWrap (x: float) =
    let mutable v = x
    while v > Math.PI do
        v <- v - 2.0 * Math.PI
    while v < -Math.PI do
        v <- v + 2.0 * Math.PI
    v

let private assertClose (expected: float[]) (actual: float[]) =
    Expect.equal actual.Length expected.Length "actual.Length"
    for i in 0 .. expected.Length - 1 do
        Expect.isTrue (abs (expected[i] - actual[i]) < 1e-12) $"component {i}: expected {expected[i]:R}, got {actual[i]:R}"

// Pumps energy: torque against the first link's swing. Reaches the goal in well under 500 steps.
let private pumping (s: Acrobot.State) = if s.Theta1Dot > 0.0 then 0 else 2

[<Tests>]
let tests =
    testList "Acrobot" [
        testCase "the actions apply torques -1, 0 and +1" <| fun () ->
            Expect.equal (Acrobot.torque 0) (-1.0) "Acrobot.torque 0"
            Expect.equal (Acrobot.torque 1) 0.0 "Acrobot.torque 1"
            Expect.equal (Acrobot.torque 2) 1.0 "Acrobot.torque 2"

        testCase "the constants are Gymnasium's" <| fun () ->
            Expect.equal Acrobot.dt 0.2 "Acrobot.dt"
            Expect.equal Acrobot.maxVelocity1 (4.0 * Math.PI) "Acrobot.maxVelocity1"
            Expect.equal Acrobot.maxVelocity2 (9.0 * Math.PI) "Acrobot.maxVelocity2"
            Expect.equal Acrobot.maxEpisodeSteps 500 "Acrobot.maxEpisodeSteps"
            Expect.equal Acrobot.actionCount 3 "Acrobot.actionCount"
            Expect.equal Acrobot.observationSize 6 "Acrobot.observationSize"
            Expect.equal
                [ Acrobot.linkLength1; Acrobot.linkLength2; Acrobot.linkMass1; Acrobot.linkMass2
                  Acrobot.linkComPosition1; Acrobot.linkComPosition2; Acrobot.linkMomentOfInertia; Acrobot.gravity ]
                [ 1.0; 1.0; 1.0; 1.0; 0.5; 0.5; 1.0; 9.8 ]
                "link lengths, masses, centres of mass, moment of inertia, gravity"

        testCase "the derivatives match the hand derivation of the book equations" <| fun () ->
            for s in [ state 0.3 -0.2 0.5 -1.0; state 2.5 1.7 -3.0 7.0; state -1.2 3.0 12.0 -25.0 ] do
                for torque in [ -1.0; 0.0; 1.0 ] do
                    assertClose (handDerivatives torque (toArray s)) (toArray (Acrobot.derivatives torque s))

        testCase "one RK4 step from a fixed state matches the hand computation for every action" <| fun () ->
            let s0 = state 0.3 -0.2 0.5 -1.0
            for a in 0..2 do
                let expected = handRk4 (float (a - 1)) (toArray s0)
                // Nothing to wrap or clip from this state, so the agent step is the bare RK4 step.
                Expect.isTrue (expected[0] > -Math.PI && expected[0] < Math.PI && expected[1] > -Math.PI && expected[1] < Math.PI) "expected[0] > -Math.PI && expected[0] < Math.PI && expect..."
                Expect.isTrue (abs expected[2] < 4.0 * Math.PI && abs expected[3] < 9.0 * Math.PI) "abs expected[2] < 4.0 * Math.PI && abs expected[3] < 9.0..."
                assertClose expected (toArray (Acrobot.rk4 (Acrobot.torque a) 0.2 s0))
                assertClose expected (toArray (Acrobot.step s0 a))
            // The three torques give three different successors.
            let successors = [ for a in 0..2 -> Acrobot.step s0 a ]
            Expect.equal (List.distinct successors |> List.length) 3 "List.distinct successors |> List.length"

        testCase "hanging at rest with no torque stays at rest, and positive torque turns joint 2 forward and link 1 back" <| fun () ->
            let rest = Acrobot.step zero 1
            assertClose [| 0.0; 0.0; 0.0; 0.0 |] (toArray rest)
            let pushed = Acrobot.step zero 2
            Expect.isTrue (pushed.Theta2Dot > 0.0) "pushed.Theta2Dot > 0.0"
            Expect.isTrue (pushed.Theta1Dot < 0.0) "pushed.Theta1Dot < 0.0"
            assertClose (handRk4 1.0 [| 0.0; 0.0; 0.0; 0.0 |]) (toArray pushed)

        testPropertyWithConfig fsCheck "the dynamics are mirror-symmetric in the torque" (
            let small = Gen.choose (-1_000_000, 1_000_000) |> Gen.map (fun i -> float i / 1_000_000.0)
            let gen = Gen.zip (Gen.four small) (Gen.elements [ 0; 1; 2 ])
            Prop.forAll (Arb.fromGen gen) (fun ((t1, t2, w1, w2), a) ->
                let s = Acrobot.step (state t1 t2 w1 w2) a
                let m = Acrobot.step (state -t1 -t2 -w1 -w2) (2 - a)
                Array.forall2 (fun x y -> abs (x + y) < 1e-12) (toArray s) (toArray m))
        )

        testCase "wrap keeps angles in the closed interval from -pi to pi by whole turns, as Gymnasium's loop does" <| fun () ->
            let turn = 2.0 * Math.PI
            Expect.equal (Acrobot.wrap 0.5) 0.5 "Acrobot.wrap 0.5"
            Expect.equal (Acrobot.wrap Math.PI) Math.PI "Acrobot.wrap Math.PI"
            Expect.equal (Acrobot.wrap -Math.PI) (-Math.PI) "Acrobot.wrap -Math.PI"
            Expect.equal (Acrobot.wrap 4.0) (4.0 - turn) "Acrobot.wrap 4.0"
            Expect.equal (Acrobot.wrap -4.0) (-4.0 + turn) "Acrobot.wrap -4.0"
            Expect.equal (Acrobot.wrap (Math.BitIncrement Math.PI)) (Math.BitIncrement Math.PI - turn) "Acrobot.wrap (Math.BitIncrement Math.PI)"
            // Two turns are subtracted one at a time (not 10 − 4π in one go).
            Expect.equal (Acrobot.wrap 10.0) (10.0 - turn - turn) "Acrobot.wrap 10.0"
            Expect.equal (Acrobot.wrap -10.0) (-10.0 + turn + turn) "Acrobot.wrap -10.0"
            for huge in [ 1e7; -1e7; 1e300 ] do
                let w = Acrobot.wrap huge
                Expect.isTrue (w >= -Math.PI && w <= Math.PI) $"wrap {huge} = {w}"
            for bad in [ nan; infinity; -infinity ] do
                Expect.isTrue (Double.IsNaN(Acrobot.wrap bad)) "Double.IsNaN(Acrobot.wrap bad)"

        testCase "a step wraps both angles and clips both velocities after the RK4 step" <| fun () ->
            let s0 = state 3.0 -3.1 (4.0 * Math.PI) (-9.0 * Math.PI)
            let raw = handRk4 1.0 (toArray s0)
            // The raw RK4 result leaves every range: θ1 above π, θ2 below −3π (two turns), both speeds too fast.
            Expect.isTrue (raw[0] > Math.PI) "raw[0] > Math.PI"
            Expect.isTrue (raw[1] < -3.0 * Math.PI) "raw[1] < -3.0 * Math.PI"
            Expect.isTrue (raw[2] > 4.0 * Math.PI) "raw[2] > 4.0 * Math.PI"
            Expect.isTrue (raw[3] < -9.0 * Math.PI) "raw[3] < -9.0 * Math.PI"
            assertClose raw (toArray (Acrobot.rk4 1.0 0.2 s0))
            let s = Acrobot.step s0 2
            Expect.isTrue (abs (handWrap raw[0] - s.Theta1) < 1e-12) "abs (handWrap raw[0] - s.Theta1) < 1e-12"
            Expect.isTrue (abs (handWrap raw[1] - s.Theta2) < 1e-12) "abs (handWrap raw[1] - s.Theta2) < 1e-12"
            Expect.equal s.Theta1Dot (4.0 * Math.PI) "s.Theta1Dot"
            Expect.equal s.Theta2Dot (-9.0 * Math.PI) "s.Theta2Dot"
            // And the mirror image clips at the opposite bounds.
            let m = Acrobot.step (state -3.0 3.1 (-4.0 * Math.PI) (9.0 * Math.PI)) 0
            Expect.equal m.Theta1Dot (-4.0 * Math.PI) "m.Theta1Dot"
            Expect.equal m.Theta2Dot (9.0 * Math.PI) "m.Theta2Dot"
            Expect.isTrue (abs (m.Theta1 + s.Theta1) < 1e-12 && abs (m.Theta2 + s.Theta2) < 1e-12) "abs (m.Theta1 + s.Theta1) < 1e-12 && abs (m.Theta2 + s.Th..."

        testPropertyWithConfig fsCheck "any step lands inside the state bounds" (
            let wide = Gen.choose (-1_000_000, 1_000_000) |> Gen.map (fun i -> float i / 1_000_000.0)
            let gen = Gen.zip (Gen.four wide) (Gen.elements [ 0; 1; 2 ])
            Prop.forAll (Arb.fromGen gen) (fun ((u1, u2, u3, u4), a) ->
                let s = Acrobot.step (state (4.0 * u1) (4.0 * u2) (13.0 * u3) (29.0 * u4)) a
                abs s.Theta1 <= Math.PI
                && abs s.Theta2 <= Math.PI
                && abs s.Theta1Dot <= 4.0 * Math.PI
                && abs s.Theta2Dot <= 9.0 * Math.PI)
        )

        testCase "termination needs the tip strictly above one link length over the pivot" <| fun () ->
            Expect.isFalse (Acrobot.isTerminated zero) "Acrobot.isTerminated zero"
            Expect.equal (Acrobot.tipHeight zero) (-2.0) "Acrobot.tipHeight zero"
            Expect.isTrue (Acrobot.isTerminated (state Math.PI 0.0 0.0 0.0)) "Acrobot.isTerminated (state Math.PI 0.0 0.0 0.0)"
            Expect.equal (Acrobot.tipHeight (state Math.PI 0.0 0.0 0.0)) 2.0 "Acrobot.tipHeight (state Math.PI 0.0 0.0 0.0)"
            // θ2 is relative to link 1: link 1 up and link 2 folded back down puts the tip at the pivot.
            Expect.isFalse (Acrobot.isTerminated (state Math.PI Math.PI 0.0 0.0)) "Acrobot.isTerminated (state Math.PI Math.PI 0.0 0.0)"
            // Just above and just below the line, links aligned: −2 cos θ1 = 1 ± 1e-9.
            let aligned h = state (Math.Acos(-h / 2.0)) 0.0 0.0 0.0
            Expect.isTrue (Acrobot.isTerminated (aligned (1.0 + 1e-9))) "Acrobot.isTerminated (aligned (1.0 + 1e-9))"
            Expect.isFalse (Acrobot.isTerminated (aligned (1.0 - 1e-9))) "Acrobot.isTerminated (aligned (1.0 - 1e-9))"
            // Exactly on the line is not terminal (>, not >=): find an angle whose tip height is exactly 1.0.
            // Pairs of neighbouring doubles a (= θ1) and b (= θ1 + θ2, exact since b − a is) around 2π/3.
            let neighbours =
                let mutable lo = Math.Acos -0.5
                let mutable hi = lo
                [ yield lo
                  for _ in 1..60 do
                      lo <- Math.BitDecrement lo
                      hi <- Math.BitIncrement hi
                      yield lo
                      yield hi ]
            let exact =
                Seq.allPairs neighbours neighbours
                |> Seq.map (fun (a, b) -> state a (b - a) 0.0 0.0)
                |> Seq.tryFind (fun s -> Acrobot.tipHeight s = 1.0)
            Expect.isTrue exact.IsSome "no angle with tip height exactly 1.0 near acos(-0.5)"
            Expect.isFalse (Acrobot.isTerminated exact.Value) "Acrobot.isTerminated exact.Value"
            // Velocities never matter.
            Expect.isFalse (Acrobot.isTerminated (state 0.0 0.0 12.0 -28.0)) "Acrobot.isTerminated (state 0.0 0.0 12.0 -28.0)"

        testPropertyWithConfig fsCheck "the tip height is -cos theta1 - cos(theta1 + theta2)" (
            let gen = Gen.choose (-3_141_592, 3_141_592) |> Gen.map (fun i -> float i / 1_000_000.0)
            Prop.forAll (Arb.fromGen (Gen.two gen)) (fun (t1, t2) ->
                let s = state t1 t2 0.0 0.0
                let h = -cos t1 - cos (t1 + t2)
                abs (Acrobot.tipHeight s - h) < 1e-15 && Acrobot.isTerminated s = (h > 1.0))
        )

        testCase "the observation is cos and sin of both angles then both velocities, as float32" <| fun () ->
            let s = state 0.3 -1.2 2.5 -7.0
            Expect.equal
                (Acrobot.observation s)
                [| float32 (cos 0.3); float32 (sin 0.3); float32 (cos -1.2); float32 (sin -1.2); 2.5f; -7.0f |]
                "Acrobot.observation s"

        testPropertyWithConfig fsCheck "reset draws every component uniformly in the interval from -0.1 to 0.1 rounded to float32" (
            Prop.forAll (Arb.fromGen (Gen.choose (0, Int32.MaxValue))) (fun seed ->
                let env = AcrobotEnvironment()
                let obs = env.Reset(Nullable seed)
                let s = env.State
                let components = toArray s
                obs.Length = 6
                && components |> Array.forall (fun v -> -float 0.1f <= v && v <= float 0.1f && v = float (float32 v))
                && obs = Acrobot.observation s)
        )

        testCase "over many resets the draws spread over the whole interval from -0.1 to 0.1" <| fun () ->
            let env = AcrobotEnvironment()
            env.Reset(Nullable 5) |> ignore
            let draws = [| for _ in 1..2000 -> env.Reset(Nullable()) |> ignore; env.State.Theta2Dot |]
            Expect.isTrue (Array.min draws < -0.09 && Array.max draws > 0.09) "Array.min draws < -0.09 && Array.max draws > 0.09"

        testCase "reset with the same seed gives the same initial observation and a different seed does not" <| fun () ->
            let env = AcrobotEnvironment()
            let a = env.Reset(Nullable 7)
            let sa = env.State
            let b = env.Reset(Nullable 7)
            Expect.equal env.State sa "env.State"
            let c = env.Reset(Nullable 8)
            Expect.equal b a "b"
            Expect.notEqual c a "c"
            // A fresh environment with the same seed replays the same episode.
            let replay (e: AcrobotEnvironment) =
                e.Reset(Nullable 11) |> ignore
                [ for a in [ 2; 0; 1; 2; 2; 0 ] -> (e.Step a).Observation ]
            Expect.equal (replay (AcrobotEnvironment())) (replay env) "replay (AcrobotEnvironment())"
            // An unseeded reset continues the seeded generator, so it is reproducible too.
            env.Reset(Nullable 7) |> ignore
            let d = env.Reset(Nullable())
            let env2 = AcrobotEnvironment()
            env2.Reset(Nullable 7) |> ignore
            Expect.equal (env2.Reset(Nullable())) d "env2.Reset(Nullable())"

        testCase "the environment applies the pure physics step and reports its state as float32" <| fun () ->
            let env = AcrobotEnvironment()
            env.Reset(Nullable 3) |> ignore
            for a in [ 2; 0; 1; 2; 2; 1; 0 ] do
                let before = env.State
                let r = env.Step a
                Expect.equal env.State (Acrobot.step before a) "env.State"
                Expect.equal r.Observation (Acrobot.observation env.State) "r.Observation"

        testCase "every step costs -1 and the terminating step pays 0" <| fun () ->
            let env = AcrobotEnvironment()
            env.Reset(Nullable 0) |> ignore
            let results =
                List.unfold (fun fin -> if fin then None else let r = env.Step(pumping env.State) in Some(r, r.Terminated || r.Truncated)) false
            let last = List.last results
            Expect.isTrue last.Terminated "last.Terminated"
            Expect.isFalse last.Truncated "last.Truncated"
            Expect.equal last.Reward 0.0 "last.Reward"
            Expect.isTrue (Acrobot.isTerminated env.State) "Acrobot.isTerminated env.State"
            Expect.isTrue (results.Length < 500) "results.Length < 500"
            Expect.equal env.ElapsedSteps results.Length "env.ElapsedSteps"
            for r in List.take (results.Length - 1) results do
                Expect.isFalse r.Terminated "r.Terminated"
                Expect.isFalse r.Truncated "r.Truncated"
                Expect.equal r.Reward (-1.0) "r.Reward"

        testCase "an episode that never reaches the line is truncated at exactly step 500 and not terminated" <| fun () ->
            let env = AcrobotEnvironment()
            env.Reset(Nullable 0) |> ignore
            for step in 1..500 do
                // No torque: the acrobot just swings a little around hanging down.
                let r = env.Step 1
                Expect.isFalse r.Terminated $"terminated at step {step}"
                Expect.equal r.Truncated (step = 500) "r.Truncated"
                Expect.equal r.Reward (-1.0) "r.Reward"
            Expect.equal env.ElapsedSteps 500 "env.ElapsedSteps"
            Expect.throwsT<InvalidOperationException> (fun () -> env.Step 1 |> ignore) "InvalidOperationException"
            env.Reset(Nullable()) |> ignore
            Expect.equal env.ElapsedSteps 0 "env.ElapsedSteps"
            Expect.isFalse ((env.Step 1).Truncated) "(env.Step 1).Truncated"

        testCase "stepping before reset or after the episode ended asks for Reset" <| fun () ->
            let env = AcrobotEnvironment()
            let e = Expect.wantThrows<InvalidOperationException> (fun () -> env.Step 1 |> ignore) "InvalidOperationException"
            Expect.stringContains e.Message "Reset" "e.Message"
            Expect.throwsT<InvalidOperationException> (fun () -> env.State |> ignore) "InvalidOperationException"
            Expect.equal env.ElapsedSteps 0 "env.ElapsedSteps"
            env.Reset(Nullable 1) |> ignore
            while not (env.Step(pumping env.State)).Terminated do ()
            let e = Expect.wantThrows<InvalidOperationException> (fun () -> env.Step 1 |> ignore) "InvalidOperationException"
            Expect.stringContains e.Message "Reset" "e.Message"

        testCase "the physics rejects actions other than 0, 1 and 2" <| fun () ->
            for a in [ -1; 3; Int32.MaxValue ] do
                let e = Expect.wantThrows<ArgumentOutOfRangeException> (fun () -> Acrobot.step zero a |> ignore) "ArgumentOutOfRangeException"
                Expect.equal e.ParamName "action" "e.ParamName"
                Expect.equal e.ActualValue (box a) "e.ActualValue"
                Expect.throwsT<ArgumentOutOfRangeException> (fun () -> Acrobot.torque a |> ignore) "ArgumentOutOfRangeException"

        testCase "the environment rejects an invalid action and names it" <| fun () ->
            let concrete = AcrobotEnvironment()
            let env = concrete :> IEnvironment
            Expect.equal env.ObservationSize 6 "env.ObservationSize"
            Expect.equal env.ActionCount 3 "env.ActionCount"
            // Checked before the running state: a bad action is reported as such even before Reset.
            Expect.throwsT<ArgumentOutOfRangeException> (fun () -> env.Step 3 |> ignore) "ArgumentOutOfRangeException"
            env.Reset(Nullable 1) |> ignore
            let before = concrete.State
            for a in [ -1; 3 ] do
                let e = Expect.wantThrows<ArgumentOutOfRangeException> (fun () -> env.Step a |> ignore) "ArgumentOutOfRangeException"
                Expect.equal e.ParamName "action" "e.ParamName"
                Expect.equal e.ActualValue (box a) "e.ActualValue"
            // The rejected actions neither moved the state nor consumed a step.
            Expect.equal concrete.State before "concrete.State"
            Expect.equal concrete.ElapsedSteps 0 "concrete.ElapsedSteps"
    ]
