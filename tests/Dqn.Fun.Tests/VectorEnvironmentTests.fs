module Dqn.Fun.Tests.VectorEnvironmentTests

open System
open Expecto
open FsCheck
open FsCheck.FSharp
open Dqn.Fun
open Dqn.Fun.Tests.TestConfig

/// An episode of `length` steps that ends terminated, or truncated when `truncates`; observation [steps taken; resets].
type private Countdown(length: int, truncates: bool) =
    let mutable t = 0
    let mutable resets = 0
    interface IEnvironment with
        member _.ObservationSize = 2
        member _.ActionCount = 2
        member _.Reset _ =
            t <- 0
            resets <- resets + 1
            [| 0f; float32 resets |]
        member _.Step action =
            t <- t + 1
            let ended = t = length
            { Observation = [| float32 t; float32 resets |]
              Reward = float action
              Terminated = ended && not truncates
              Truncated = ended && truncates }

let private row (a: float32[]) (size: int) (i: int) = a[i * size .. (i + 1) * size - 1]

/// The plain loop a vector environment stands for: each env stepped alone, reset by hand when its episode ends.
let private reference (envs: IEnvironment[]) (seed: int) (actions: int[] list) =
    let first = envs |> Array.mapi (fun i e -> e.Reset(Nullable(seed + i)))
    first,
    [ for a in actions ->
          [| for i in 0 .. envs.Length - 1 do
                 let r = envs[i].Step a[i]
                 let next = if r.Terminated || r.Truncated then envs[i].Reset(Nullable()) else r.Observation
                 yield r.Observation, next, r.Reward, r.Terminated, r.Truncated |] ]

[<Tests>]
let tests =
    testList "VectorEnvironment" [
        testPropertyWithConfig fsCheck "stepping a vector equals stepping each env alone with a reset where its episode ends (CartPole, Acrobot, GridWorld)" (
            Prop.forAll
                (Arb.fromGen (
                    gen {
                        let! envId = Gen.elements [ "CartPole-v1"; "Acrobot-v1"; "GridWorld-v0" ]
                        let! n = Gen.choose (1, 4)
                        let! seed = Gen.choose (0, 1000)
                        let actionCount = (Environments.make envId).ActionCount
                        let! actions = Gen.listOfLength 150 (Gen.arrayOfLength n (Gen.choose (0, actionCount - 1)))
                        return envId, n, seed, actions
                    }
                ))
                (fun (envId, n, seed, actions) ->
                    let v = Environments.makeVector envId n
                    let size = v.ObservationSize
                    let expectedFirst, expected = reference (Array.init n (fun _ -> Environments.make envId)) seed actions
                    let first = v.Reset(Nullable seed)
                    let steps = [ for a in actions -> v.Step a ]
                    let agree (s: VectorStep) (e: (float32[] * float32[] * float * bool * bool)[]) =
                        e
                        |> Array.mapi (fun i (final, next, reward, terminated, truncated) ->
                            row s.FinalObservations size i = final
                            && row s.Observations size i = next
                            && s.Rewards[i] = reward
                            && s.Terminated[i] = terminated
                            && s.Truncated[i] = truncated)
                        |> Array.forall id
                    Array.concat expectedFirst = first && List.forall2 agree steps expected)
        )

        testCase "autoreset in the step that ends an episode: the next episode's first observation, the final one apart, flags per env" <| fun () ->
            // Env 0 terminates after 2 steps, env 1 is truncated after 3, env 2 goes on for 10.
            let v = SyncVectorEnvironment([| Countdown(2, false); Countdown(3, true); Countdown(10, false) |]) :> IVectorEnvironment
            Expect.equal (v.Reset(Nullable())) [| 0f; 1f; 0f; 1f; 0f; 1f |] "first observations"
            let s1 = v.Step [| 1; 0; 1 |]
            Expect.equal s1.Observations [| 1f; 1f; 1f; 1f; 1f; 1f |] "step 1: no episode ended"
            Expect.equal s1.FinalObservations s1.Observations "step 1: final = next where no episode ended"
            Expect.equal s1.Rewards [| 1.0; 0.0; 1.0 |] "step 1: rewards"
            let s2 = v.Step [| 0; 0; 0 |]
            Expect.equal s2.Terminated [| true; false; false |] "step 2: terminated"
            Expect.equal s2.Truncated [| false; false; false |] "step 2: truncated"
            Expect.equal (row s2.FinalObservations 2 0) [| 2f; 1f |] "step 2: env 0's terminal observation"
            Expect.equal (row s2.Observations 2 0) [| 0f; 2f |] "step 2: env 0's next episode"
            Expect.equal (row s2.Observations 2 1) [| 2f; 1f |] "step 2: env 1 goes on"
            let s3 = v.Step [| 0; 0; 0 |]
            Expect.equal s3.Terminated [| false; false; false |] "step 3: terminated"
            Expect.equal s3.Truncated [| false; true; false |] "step 3: env 1 truncated, not terminated"
            Expect.equal (row s3.FinalObservations 2 1) [| 3f; 1f |] "step 3: env 1's last observation, to bootstrap from"
            Expect.equal (row s3.Observations 2 1) [| 0f; 2f |] "step 3: env 1's next episode"
            Expect.equal (row s3.Observations 2 0) [| 1f; 2f |] "step 3: env 0 one step into its second episode"

        testCase "Reset(seed) seeds env i with seed + i: the same seed gives the same episodes, the envs differ" <| fun () ->
            let a = Environments.makeVector "CartPole-v1" 3
            let b = Environments.makeVector "CartPole-v1" 3
            let oa, ob = a.Reset(Nullable 11), b.Reset(Nullable 11)
            Expect.equal oa ob "same seed, same first observations"
            Expect.equal (row oa 4 1) ((Environments.make "CartPole-v1").Reset(Nullable 12)) "env 1 is reset with seed 12"
            Expect.notEqual (row oa 4 0) (row oa 4 1) "envs 0 and 1 start apart"
            for _ in 1..300 do
                let sa, sb = a.Step [| 0; 1; 1 |], b.Step [| 0; 1; 1 |]
                Expect.equal sa.Observations sb.Observations "same seed, same steps"

        testCase "bad input is refused by name" <| fun () ->
            let v = Environments.makeVector "CartPole-v1" 2
            let e = Expect.wantThrows<InvalidOperationException> (fun () -> v.Step [| 0; 0 |] |> ignore) "Step before Reset"
            Expect.stringContains e.Message "Reset" "message"
            v.Reset(Nullable 0) |> ignore
            let e = Expect.wantThrows<ArgumentException> (fun () -> v.Step [| 0 |] |> ignore) "one action for two envs"
            Expect.stringContains e.Message "NumEnvs = 2" "message"
            let e = Expect.wantThrows<ArgumentOutOfRangeException> (fun () -> v.Step [| 0; 2 |] |> ignore) "action 2 of 2"
            Expect.equal e.ParamName "actions[1]" "ParamName"
            let e = Expect.wantThrows<ArgumentException> (fun () -> SyncVectorEnvironment([| CartPoleEnvironment() :> IEnvironment; AcrobotEnvironment() |]) |> ignore) "sizes differ"
            Expect.stringContains e.Message "envs[1] has ObservationSize = 6, ActionCount = 3" "message"
            let env = CartPoleEnvironment() :> IEnvironment
            let e = Expect.wantThrows<ArgumentException> (fun () -> SyncVectorEnvironment([| env; env |]) |> ignore) "one instance twice"
            Expect.stringContains e.Message "envs[1]" "message"
            Expect.throwsT<ArgumentOutOfRangeException> (fun () -> Environments.makeVector "CartPole-v1" 0 |> ignore) "no envs"
    ]
