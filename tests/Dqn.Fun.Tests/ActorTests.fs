module Dqn.Fun.Tests.ActorTests

open System
open Xunit
open FsCheck
open FsCheck.FSharp
open Dqn.Fun

let private check (property: Property) = Check.One(Config.QuickThrowOnFailure, property)

[<Fact>]
let ``epsilon 0 always calls greedy once and returns its action`` () =
    let gen = Gen.zip3 (Gen.choose (0, 100_000)) (Gen.choose (1, 10)) (Gen.choose (0, 9))
    check (
        Prop.forAll (Arb.fromGen gen) (fun (seed, count, g) ->
            let greedyAction = g % count
            let calls = ref 0
            let a = Actor.epsilonGreedy (Random seed) 0.0 count (fun () -> calls.Value <- calls.Value + 1; greedyAction)
            a = greedyAction && calls.Value = 1)
    )

[<Fact>]
let ``epsilon 1 never calls greedy`` () =
    let rng = Random 0
    for _ in 1..1000 do
        let a = Actor.epsilonGreedy rng 1.0 4 (fun () -> failwith "greedy must not run when exploring")
        Assert.InRange(a, 0, 3)

[<Fact>]
let ``epsilon 1 picks actions uniformly (chi-square at a fixed seed)`` () =
    let rng = Random 12345
    let k, n = 6, 60_000
    let counts = Array.zeroCreate k
    for _ in 1..n do
        let a = Actor.epsilonGreedy rng 1.0 k (fun () -> failwith "greedy must not run")
        counts[a] <- counts[a] + 1
    let expected = float n / float k
    let chi2 = counts |> Array.sumBy (fun c -> (float c - expected) ** 2.0 / expected)
    // 5 degrees of freedom: P(chi2 > 20.515) = 0.001.
    Assert.True(chi2 < 20.515, $"chi-square {chi2} for counts %A{counts}")

[<Fact>]
let ``epsilon 0.25 explores about a quarter of the time`` () =
    let rng = Random 7
    let n = 40_000
    let greedyCalls = ref 0
    for _ in 1..n do
        Actor.epsilonGreedy rng 0.25 3 (fun () -> greedyCalls.Value <- greedyCalls.Value + 1; 0) |> ignore
    // Binomial(n, 0.75): standard deviation sqrt(n * 0.75 * 0.25) ~ 87; allow 5 of them.
    Assert.InRange(greedyCalls.Value, 30_000 - 433, 30_000 + 433)

[<Fact>]
let ``the generator advances by one double when exploiting and one double and one int when exploring`` () =
    let reference = Random 99
    let rng = Random 99
    Actor.epsilonGreedy rng 0.0 5 (fun () -> 2) |> ignore
    reference.NextDouble() |> ignore
    Assert.Equal(reference.Next(), rng.Next())
    let reference = Random 99
    let rng = Random 99
    let a = Actor.epsilonGreedy rng 1.0 5 (fun () -> 2)
    reference.NextDouble() |> ignore
    Assert.Equal(reference.Next 5, a)
    Assert.Equal(reference.Next(), rng.Next())

[<Fact>]
let ``epsilon outside [0, 1] or NaN is ArgumentOutOfRangeException naming epsilon`` () =
    for eps in [ -0.01; 1.01; nan; infinity ] do
        let e = Assert.Throws<ArgumentOutOfRangeException>(fun () -> Actor.epsilonGreedy (Random 0) eps 2 (fun () -> 0) |> ignore)
        Assert.Equal("epsilon", e.ParamName)

[<Fact>]
let ``an action count below 1 is ArgumentOutOfRangeException naming actionCount`` () =
    let e = Assert.Throws<ArgumentOutOfRangeException>(fun () -> Actor.epsilonGreedy (Random 0) 0.5 0 (fun () -> 0) |> ignore)
    Assert.Equal("actionCount", e.ParamName)
