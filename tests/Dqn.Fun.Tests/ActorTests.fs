module Dqn.Fun.Tests.ActorTests

open System
open Expecto
open FsCheck
open FsCheck.FSharp
open Dqn.Fun
open Dqn.Fun.Tests.TestConfig

[<Tests>]
let tests =
    testList "Actor" [
        testPropertyWithConfig fsCheck "epsilon 0 always calls greedy once and returns its action" (
            let gen = Gen.zip3 (Gen.choose (0, 100_000)) (Gen.choose (1, 10)) (Gen.choose (0, 9))
            Prop.forAll (Arb.fromGen gen) (fun (seed, count, g) ->
                let greedyAction = g % count
                let calls = ref 0
                let a = Actor.epsilonGreedy (Random seed) 0.0 count (fun () -> calls.Value <- calls.Value + 1; greedyAction)
                a = greedyAction && calls.Value = 1)
        )

        testCase "epsilon 1 never calls greedy" <| fun () ->
            let rng = Random 0
            for _ in 1..1000 do
                let a = Actor.epsilonGreedy rng 1.0 4 (fun () -> failwith "greedy must not run when exploring")
                Expect.inRange a 0 3 "a"

        testCase "epsilon 1 picks actions uniformly (chi-square at a fixed seed)" <| fun () ->
            let rng = Random 12345
            let k, n = 6, 60_000
            let counts = Array.zeroCreate k
            for _ in 1..n do
                let a = Actor.epsilonGreedy rng 1.0 k (fun () -> failwith "greedy must not run")
                counts[a] <- counts[a] + 1
            let expected = float n / float k
            let chi2 = counts |> Array.sumBy (fun c -> (float c - expected) ** 2.0 / expected)
            // 5 degrees of freedom: P(chi2 > 20.515) = 0.001.
            Expect.isTrue (chi2 < 20.515) $"chi-square {chi2} for counts %A{counts}"

        testCase "epsilon 0.25 explores about a quarter of the time" <| fun () ->
            let rng = Random 7
            let n = 40_000
            let greedyCalls = ref 0
            for _ in 1..n do
                Actor.epsilonGreedy rng 0.25 3 (fun () -> greedyCalls.Value <- greedyCalls.Value + 1; 0) |> ignore
            // Binomial(n, 0.75): standard deviation sqrt(n * 0.75 * 0.25) ~ 87; allow 5 of them.
            Expect.inRange greedyCalls.Value (30_000 - 433) (30_000 + 433) "greedyCalls.Value"

        testCase "the generator advances by one double when exploiting and one double and one int when exploring" <| fun () ->
            let reference = Random 99
            let rng = Random 99
            Actor.epsilonGreedy rng 0.0 5 (fun () -> 2) |> ignore
            reference.NextDouble() |> ignore
            Expect.equal (rng.Next()) (reference.Next()) "rng.Next()"
            let reference = Random 99
            let rng = Random 99
            let a = Actor.epsilonGreedy rng 1.0 5 (fun () -> 2)
            reference.NextDouble() |> ignore
            Expect.equal a (reference.Next 5) "a"
            Expect.equal (rng.Next()) (reference.Next()) "rng.Next()"

        testCase "epsilon outside [0, 1] or NaN is ArgumentOutOfRangeException naming epsilon" <| fun () ->
            for eps in [ -0.01; 1.01; nan; infinity ] do
                let e = Expect.wantThrows<ArgumentOutOfRangeException> (fun () -> Actor.epsilonGreedy (Random 0) eps 2 (fun () -> 0) |> ignore) "ArgumentOutOfRangeException"
                Expect.equal e.ParamName "epsilon" "e.ParamName"

        testCase "an action count below 1 is ArgumentOutOfRangeException naming actionCount" <| fun () ->
            let e = Expect.wantThrows<ArgumentOutOfRangeException> (fun () -> Actor.epsilonGreedy (Random 0) 0.5 0 (fun () -> 0) |> ignore) "ArgumentOutOfRangeException"
            Expect.equal e.ParamName "actionCount" "e.ParamName"
    ]
