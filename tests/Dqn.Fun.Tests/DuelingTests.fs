module Dqn.Fun.Tests.DuelingTests

open System
open Xunit
open FsCheck
open FsCheck.FSharp
open Dqn.Fun
open TorchSharp
open Dqn.Fun.Tests.TorchTestSupport

let private check (property: Property) = Check.One(Config.QuickThrowOnFailure, property)

let private spec obs hidden actions = { ObservationSize = obs; Hidden = hidden; ActionCount = actions }

[<Fact>]
let ``a dueling MLP has a torso, a value and an advantage stream with prefixed names and shapes`` () =
    use net = Dueling.mlp (spec 4 [ 16; 8 ] 3) torch.CPU
    let named = namedParameters net |> List.map (fun (n, p) -> n, List.ofArray p.shape)
    Assert.Equal<(string * int64 list) list>(
        [ "torso.0.weight", [ 16L; 4L ]
          "torso.0.bias", [ 16L ]
          "torso.2.weight", [ 8L; 16L ]
          "torso.2.bias", [ 8L ]
          "value.weight", [ 1L; 8L ]
          "value.bias", [ 1L ]
          "advantage.weight", [ 3L; 8L ]
          "advantage.bias", [ 3L ] ],
        named
    )
    Assert.All(parameters net, fun p -> Assert.True(p.requires_grad))

[<Fact>]
let ``a dueling MLP maps [batch; observationSize] to [batch; actionCount], with or without hidden layers`` () =
    use _ = torch.NewDisposeScope()
    use net = Dueling.mlp (spec 4 [ 8 ] 3) torch.CPU
    Assert.Equal<int64[]>([| 5L; 3L |], (net.forward (torch.zeros [| 5L; 4L |])).shape)
    use flat = Dueling.mlp (spec 4 [] 2) torch.CPU
    Assert.Equal<int64[]>([| 7L; 2L |], (flat.forward (torch.randn [| 7L; 4L |])).shape)
    Assert.Equal<string list>([ "value.weight"; "value.bias"; "advantage.weight"; "advantage.bias" ], namedParameters flat |> List.map fst)

[<Fact>]
let ``Q - V has zero mean over actions and Q = V + A - mean A`` () =
    torch.manual_seed 7L |> ignore
    use net = Dueling.mlp (spec 3 [ 8 ] 4) torch.CPU
    check (
        Prop.forAll (Arb.fromGen (Gen.choose (1, 16))) (fun batch ->
            use _ = torch.NewDisposeScope()
            let x = torch.randn [| int64 batch; 3L |] * 3.0
            let q = floats (net.forward x)
            let struct (v, a) = net.streams x
            let v, a = floats v, floats a
            Seq.forall
                (fun i ->
                    let qi = q[i * 4 .. i * 4 + 3]
                    let ai = a[i * 4 .. i * 4 + 3]
                    let meanA = Array.average ai
                    abs (Array.average qi - v[i]) <= 1e-5 * (1.0 + abs v[i])
                    && Array.forall2 (fun qv av -> abs (qv - (v[i] + av - meanA)) <= 1e-5 * (1.0 + abs qv)) qi ai)
                (seq { 0 .. batch - 1 }))
    )

[<Fact>]
let ``gradients reach both streams and the torso`` () =
    use _ = torch.NewDisposeScope()
    torch.manual_seed 3L |> ignore
    use net = Dueling.mlp (spec 3 [ 8 ] 2) torch.CPU
    let q = net.forward (torch.randn [| 4L; 3L |])
    // weights per action keep the advantage's gradient from cancelling out in the mean
    (q * f32 [ 1L; 2L ] [ 1f; 3f ]).sum().backward ()
    for n, p in namedParameters net do
        Assert.True(not (isNull p.grad), $"{n} has no gradient")

[<Fact>]
let ``the network checks sizes and its streams' shapes`` () =
    use _ = torch.NewDisposeScope()
    Assert.Throws<ArgumentOutOfRangeException>(fun () -> Dueling.mlp (spec 0 [] 2) torch.CPU |> ignore) |> ignore
    Assert.Throws<ArgumentOutOfRangeException>(fun () -> Dueling.mlp (spec 2 [ 0 ] 2) torch.CPU |> ignore) |> ignore
    Assert.Throws<ArgumentOutOfRangeException>(fun () -> Dueling.mlp (spec 2 [] 0) torch.CPU |> ignore) |> ignore
    // a value stream with two outputs is rejected at forward
    use bad = new DuelingNetwork(torch.nn.Sequential(List.empty<torch.nn.Module<Tensor, Tensor>>), torch.nn.Linear(2L, 2L), torch.nn.Linear(2L, 3L))
    Assert.Throws<InvalidOperationException>(fun () -> bad.forward (torch.zeros [| 1L; 2L |]) |> ignore) |> ignore
