module Dqn.Fun.Tests.MountainCarTests

open System
open Expecto
open FsCheck
open FsCheck.FSharp
open Dqn.Fun
open Dqn.Fun.Tests.TestConfig

[<Tests>]
let tests =
    testList "MountainCar" [
        testCase "one step follows Gymnasium's update in its operation order" <| fun () ->
            let s = MountainCar.step { Position = -0.5; Velocity = 0.0 } 2
            // Gymnasium 1.x, mountain_car.py, in float64: v = 0 + 1 * 0.001 + cos(-1.5) * -0.0025; p = -0.5 + v.
            Expect.floatClose (Accuracy.places 15) s.Velocity 0.0008231569958307428 "s.Velocity"
            Expect.floatClose (Accuracy.places 15) s.Position (-0.49917684300416926) "s.Position"
            let coast = MountainCar.step { Position = -0.5; Velocity = 0.01 } 1
            Expect.equal coast.Velocity (0.01 + cos (-1.5) * -0.0025) "coast.Velocity"

        testCase "the left wall stops the car and the speed is capped" <| fun () ->
            let s = MountainCar.step { Position = -1.19; Velocity = -0.07 } 0
            Expect.equal s.Position MountainCar.minPosition "s.Position"
            Expect.equal s.Velocity 0.0 "s.Velocity"
            let fast = MountainCar.step { Position = -0.5; Velocity = 0.07 } 2
            Expect.equal fast.Velocity MountainCar.maxSpeed "fast.Velocity"

        testPropertyWithConfig fsCheck "position and velocity stay in their ranges under any actions" (
            Prop.forAll (Arb.fromGen (Gen.listOfLength 300 (Gen.choose (0, 2)))) (fun actions ->
                let mutable s = MountainCar.initialState (Random 1)
                actions
                |> List.forall (fun a ->
                    s <- MountainCar.step s a
                    s.Position >= MountainCar.minPosition && s.Position <= MountainCar.maxPosition
                    && abs s.Velocity <= MountainCar.maxSpeed))
        )

        testCase "an episode pays -1 a step, starts in the valley at rest, and truncates after 200 steps when the car coasts" <| fun () ->
            let env = MountainCarEnvironment()
            let o = env.Reset(Nullable 3)
            Expect.inRange (o[0]) (-0.6f) (-0.4f) "o[0]"
            Expect.equal (o[1]) 0.0f "o[1]"
            let results = [ for _ in 1..200 -> env.Step 1 ]
            for r in results do Expect.equal r.Reward (-1.0) "r.Reward"
            for r in results[.. 198] do Expect.isFalse (r.Terminated || r.Truncated) "r.Terminated || r.Truncated"
            Expect.isTrue (results[199].Truncated) "results[199].Truncated"
            Expect.isFalse (results[199].Terminated) "results[199].Terminated"
            Expect.throwsT<InvalidOperationException> (fun () -> env.Step 1 |> ignore) "InvalidOperationException"
            Expect.throwsT<ArgumentOutOfRangeException> (fun () -> env.Reset(Nullable 3) |> ignore; env.Step 3 |> ignore) "ArgumentOutOfRangeException"

        testCase "pushing along the velocity pumps energy and reaches the flag from every start, terminating there" <| fun () ->
            let env = MountainCarEnvironment()
            for seed in 0..19 do
                let mutable o = env.Reset(Nullable seed)
                let mutable finished = None
                while finished.IsNone do
                    let r = env.Step(if o[1] < 0.0f then 0 else 2)
                    o <- r.Observation
                    if r.Terminated || r.Truncated then finished <- Some r
                let last = finished.Value
                Expect.isTrue last.Terminated $"seed {seed}: truncated at {env.ElapsedSteps} steps"
                Expect.isTrue (env.State.Position >= MountainCar.goalPosition) "env.State.Position >= MountainCar.goalPosition"

        testCase "MountainCar-v0 is made by its id" <| fun () ->
            let env = Environments.make "MountainCar-v0"
            Expect.equal (env.ObservationSize, env.ActionCount) (2, 3) "(env.ObservationSize, env.ActionCount)"
            Expect.contains Environments.ids "MountainCar-v0" "Environments.ids"
    ]
