module Dqn.Fun.Tests.MountainCarTests

open System
open Xunit
open FsCheck
open FsCheck.FSharp
open Dqn.Fun

let private check (property: Property) = Check.One(Config.QuickThrowOnFailure, property)

[<Fact>]
let ``one step follows Gymnasium's update in its operation order`` () =
    let s = MountainCar.step { Position = -0.5; Velocity = 0.0 } 2
    // Gymnasium 1.x, mountain_car.py, in float64: v = 0 + 1 * 0.001 + cos(-1.5) * -0.0025; p = -0.5 + v.
    Assert.Equal(0.0008231569958307428, s.Velocity, 15)
    Assert.Equal(-0.49917684300416926, s.Position, 15)
    let coast = MountainCar.step { Position = -0.5; Velocity = 0.01 } 1
    Assert.Equal(0.01 + cos (-1.5) * -0.0025, coast.Velocity)

[<Fact>]
let ``the left wall stops the car and the speed is capped`` () =
    let s = MountainCar.step { Position = -1.19; Velocity = -0.07 } 0
    Assert.Equal(MountainCar.minPosition, s.Position)
    Assert.Equal(0.0, s.Velocity)
    let fast = MountainCar.step { Position = -0.5; Velocity = 0.07 } 2
    Assert.Equal(MountainCar.maxSpeed, fast.Velocity)

[<Fact>]
let ``position and velocity stay in their ranges under any actions`` () =
    check (
        Prop.forAll (Arb.fromGen (Gen.listOfLength 300 (Gen.choose (0, 2)))) (fun actions ->
            let mutable s = MountainCar.initialState (Random 1)
            actions
            |> List.forall (fun a ->
                s <- MountainCar.step s a
                s.Position >= MountainCar.minPosition && s.Position <= MountainCar.maxPosition
                && abs s.Velocity <= MountainCar.maxSpeed))
    )

[<Fact>]
let ``an episode pays -1 a step, starts in the valley at rest, and truncates after 200 steps when the car coasts`` () =
    let env = MountainCarEnvironment()
    let o = env.Reset(Nullable 3)
    Assert.InRange(o[0], -0.6f, -0.4f)
    Assert.Equal(0.0f, o[1])
    let results = [ for _ in 1..200 -> env.Step 1 ]
    Assert.All(results, fun r -> Assert.Equal(-1.0, r.Reward))
    Assert.All(results[.. 198], fun r -> Assert.False(r.Terminated || r.Truncated))
    Assert.True(results[199].Truncated)
    Assert.False(results[199].Terminated)
    Assert.Throws<InvalidOperationException>(fun () -> env.Step 1 |> ignore) |> ignore
    Assert.Throws<ArgumentOutOfRangeException>(fun () -> env.Reset(Nullable 3) |> ignore; env.Step 3 |> ignore) |> ignore

[<Fact>]
let ``pushing along the velocity pumps energy and reaches the flag from every start, terminating there`` () =
    let env = MountainCarEnvironment()
    for seed in 0..19 do
        let mutable o = env.Reset(Nullable seed)
        let mutable finished = None
        while finished.IsNone do
            let r = env.Step(if o[1] < 0.0f then 0 else 2)
            o <- r.Observation
            if r.Terminated || r.Truncated then finished <- Some r
        let last = finished.Value
        Assert.True(last.Terminated, $"seed {seed}: truncated at {env.ElapsedSteps} steps")
        Assert.True(env.State.Position >= MountainCar.goalPosition)

[<Fact>]
let ``MountainCar-v0 is made by its id`` () =
    let env = Environments.make "MountainCar-v0"
    Assert.Equal((2, 3), (env.ObservationSize, env.ActionCount))
    Assert.Contains("MountainCar-v0", Environments.ids)
