module Dqn.Fun.Tests.DuelingTests

open System
open Expecto
open FsCheck
open FsCheck.FSharp
open Dqn.Fun
open TorchSharp
open Dqn.Fun.Tests.TorchTestSupport
open Dqn.Fun.Tests.TestConfig

let private spec obs hidden actions = { ObservationSize = obs; Hidden = hidden; ActionCount = actions }

/// The network of the zero-mean property, one for all its cases: made at the first (seed 7, the cases' inputs then
/// drawn after it from torch's global generator), disposed when the property ends.
let private zeroMeanNetwork =
    lazy
        (torch.manual_seed 7L |> ignore
         Dueling.mlp (spec 3 [ 8 ] 4) torch.CPU)

[<Tests>]
let tests =
    testList "Dueling" [
        testCase "a dueling MLP has a torso, a value and an advantage stream with prefixed names and shapes" <| fun () ->
            use net = Dueling.mlp (spec 4 [ 16; 8 ] 3) torch.CPU
            let named = namedParameters net |> List.map (fun (n, p) -> n, List.ofArray p.shape)
            Expect.equal
                named
                [ "torso.0.weight", [ 16L; 4L ]
                  "torso.0.bias", [ 16L ]
                  "torso.2.weight", [ 8L; 16L ]
                  "torso.2.bias", [ 8L ]
                  "value.weight", [ 1L; 8L ]
                  "value.bias", [ 1L ]
                  "advantage.weight", [ 3L; 8L ]
                  "advantage.bias", [ 3L ] ]
                "named"
            for p in parameters net do Expect.isTrue p.requires_grad "p.requires_grad"

        testCase "a dueling MLP maps [batch; observationSize] to [batch; actionCount], with or without hidden layers" <| fun () ->
            use _ = torch.NewDisposeScope()
            use net = Dueling.mlp (spec 4 [ 8 ] 3) torch.CPU
            Expect.equal ((net.forward (torch.zeros [| 5L; 4L |])).shape) [| 5L; 3L |] "(net.forward (torch.zeros [| 5L; 4L |])).shape"
            use flat = Dueling.mlp (spec 4 [] 2) torch.CPU
            Expect.equal ((flat.forward (torch.randn [| 7L; 4L |])).shape) [| 7L; 2L |] "(flat.forward (torch.randn [| 7L; 4L |])).shape"
            Expect.equal (namedParameters flat |> List.map fst) [ "value.weight"; "value.bias"; "advantage.weight"; "advantage.bias" ] "namedParameters flat |> List.map fst"

        testPropertyWithConfig (disposingAfter zeroMeanNetwork fsCheck) "Q - V has zero mean over actions and Q = V + A - mean A" (
            Prop.forAll (Arb.fromGen (Gen.choose (1, 16))) (fun batch ->
                let net = zeroMeanNetwork.Value
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

        testCase "gradients reach both streams and the torso" <| fun () ->
            use _ = torch.NewDisposeScope()
            torch.manual_seed 3L |> ignore
            use net = Dueling.mlp (spec 3 [ 8 ] 2) torch.CPU
            let q = net.forward (torch.randn [| 4L; 3L |])
            // weights per action keep the advantage's gradient from cancelling out in the mean
            (q * f32 [ 1L; 2L ] [ 1f; 3f ]).sum().backward ()
            for n, p in namedParameters net do
                Expect.isTrue (not (isNull p.grad)) $"{n} has no gradient"

        testCase "the network checks sizes and its streams' shapes" <| fun () ->
            use _ = torch.NewDisposeScope()
            Expect.throwsT<ArgumentOutOfRangeException> (fun () -> Dueling.mlp (spec 0 [] 2) torch.CPU |> ignore) "ArgumentOutOfRangeException"
            Expect.throwsT<ArgumentOutOfRangeException> (fun () -> Dueling.mlp (spec 2 [ 0 ] 2) torch.CPU |> ignore) "ArgumentOutOfRangeException"
            Expect.throwsT<ArgumentOutOfRangeException> (fun () -> Dueling.mlp (spec 2 [] 0) torch.CPU |> ignore) "ArgumentOutOfRangeException"
            // a value stream with two outputs is rejected at forward
            use bad = new DuelingNetwork(torch.nn.Sequential(List.empty<torch.nn.Module<Tensor, Tensor>>), torch.nn.Linear(2L, 2L), torch.nn.Linear(2L, 3L))
            Expect.throwsT<InvalidOperationException> (fun () -> bad.forward (torch.zeros [| 1L; 2L |]) |> ignore) "InvalidOperationException"
    ]
