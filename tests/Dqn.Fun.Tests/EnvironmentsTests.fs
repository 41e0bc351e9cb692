module Dqn.Fun.Tests.EnvironmentsTests

open System
open Expecto
open Dqn.Fun

[<Tests>]
let tests =
    testList "Environments" [
        testCase "the known ids are CartPole-v1, GridWorld-v0, Acrobot-v1, MaskedCartPole-v1 and MountainCar-v0" <| fun () ->
            Expect.equal Environments.ids [ "CartPole-v1"; "GridWorld-v0"; "Acrobot-v1"; "MaskedCartPole-v1"; "MountainCar-v0" ] "Environments.ids"

        testCase "CartPole-v1 makes a cart-pole with 4 observations and 2 actions" <| fun () ->
            let env = Environments.make "CartPole-v1"
            Expect.equal (env.GetType()) typeof<CartPoleEnvironment> "env"
            Expect.equal env.ObservationSize 4 "env.ObservationSize"
            Expect.equal env.ActionCount 2 "env.ActionCount"
            Expect.equal ((env.Reset(Nullable 0)).Length) 4 "(env.Reset(Nullable 0)).Length"

        testCase "GridWorld-v0 makes a 5 by 5 grid world with 4 actions" <| fun () ->
            let env = Environments.make "GridWorld-v0"
            Expect.equal (env.GetType()) typeof<GridWorldEnvironment> "env"
            Expect.equal env.ObservationSize 25 "env.ObservationSize"
            Expect.equal env.ActionCount 4 "env.ActionCount"

        testCase "Acrobot-v1 makes an acrobot with 6 observations and 3 actions" <| fun () ->
            let env = Environments.make "Acrobot-v1"
            Expect.equal (env.GetType()) typeof<AcrobotEnvironment> "env"
            Expect.equal env.ObservationSize 6 "env.ObservationSize"
            Expect.equal env.ActionCount 3 "env.ActionCount"
            Expect.equal ((env.Reset(Nullable 0)).Length) 6 "(env.Reset(Nullable 0)).Length"
            Expect.equal ((env.Step 1).Reward) (-1.0) "(env.Step 1).Reward"

        testCase "every make returns a fresh environment" <| fun () ->
            for id in Environments.ids do
                Expect.isFalse (obj.ReferenceEquals(Environments.make id, Environments.make id)) "not same: Environments.make id"

        testCase "an unknown id is rejected with a message naming it and the known ids" <| fun () ->
            for id in [ "MountainCar-v1"; "cartpole-v1"; "acrobot-v1"; "Acrobot-v0"; "" ] do
                let e = Expect.wantThrows<ArgumentException> (fun () -> Environments.make id |> ignore) "ArgumentException"
                Expect.equal e.ParamName "id" "e.ParamName"
                Expect.stringContains e.Message $"'{id}'" "e.Message"
                Expect.stringContains e.Message "CartPole-v1" "e.Message"
                Expect.stringContains e.Message "GridWorld-v0" "e.Message"
                Expect.stringContains e.Message "Acrobot-v1" "e.Message"
    ]
