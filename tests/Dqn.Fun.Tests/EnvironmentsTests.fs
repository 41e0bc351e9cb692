module Dqn.Fun.Tests.EnvironmentsTests

open System
open Xunit
open Dqn.Fun

[<Fact>]
let ``the known ids are CartPole-v1, GridWorld-v0, Acrobot-v1, MaskedCartPole-v1 and MountainCar-v0`` () =
    Assert.Equal<string list>([ "CartPole-v1"; "GridWorld-v0"; "Acrobot-v1"; "MaskedCartPole-v1"; "MountainCar-v0" ], Environments.ids)

[<Fact>]
let ``CartPole-v1 makes a cart-pole with 4 observations and 2 actions`` () =
    let env = Environments.make "CartPole-v1"
    Assert.IsType<CartPoleEnvironment>(env) |> ignore
    Assert.Equal(4, env.ObservationSize)
    Assert.Equal(2, env.ActionCount)
    Assert.Equal(4, (env.Reset(Nullable 0)).Length)

[<Fact>]
let ``GridWorld-v0 makes a 5 by 5 grid world with 4 actions`` () =
    let env = Environments.make "GridWorld-v0"
    Assert.IsType<GridWorldEnvironment>(env) |> ignore
    Assert.Equal(25, env.ObservationSize)
    Assert.Equal(4, env.ActionCount)

[<Fact>]
let ``Acrobot-v1 makes an acrobot with 6 observations and 3 actions`` () =
    let env = Environments.make "Acrobot-v1"
    Assert.IsType<AcrobotEnvironment>(env) |> ignore
    Assert.Equal(6, env.ObservationSize)
    Assert.Equal(3, env.ActionCount)
    Assert.Equal(6, (env.Reset(Nullable 0)).Length)
    Assert.Equal(-1.0, (env.Step 1).Reward)

[<Fact>]
let ``every make returns a fresh environment`` () =
    for id in Environments.ids do
        Assert.NotSame(Environments.make id, Environments.make id)

[<Fact>]
let ``an unknown id is rejected with a message naming it and the known ids`` () =
    for id in [ "MountainCar-v1"; "cartpole-v1"; "acrobot-v1"; "Acrobot-v0"; "" ] do
        let e = Assert.Throws<ArgumentException>(fun () -> Environments.make id |> ignore)
        Assert.Equal("id", e.ParamName)
        Assert.Contains($"'{id}'", e.Message)
        Assert.Contains("CartPole-v1", e.Message)
        Assert.Contains("GridWorld-v0", e.Message)
        Assert.Contains("Acrobot-v1", e.Message)
