module Dqn.Fun.Tests.QNetworkTests

open System
open Expecto
open FsCheck
open FsCheck.FSharp
open Dqn.Fun
open TorchSharp
open Dqn.Fun.Tests.TorchTestSupport
open Dqn.Fun.Tests.TestConfig

let private spec obs hidden actions = { ObservationSize = obs; Hidden = hidden; ActionCount = actions }

// ---- target updates -----------------------------------------------------------------------------------------------

let private pair () =
    torch.manual_seed 1L |> ignore
    let online = QNetwork.mlp (spec 3 [ 5 ] 2) torch.CPU
    let target = QNetwork.mlp (spec 3 [ 5 ] 2) torch.CPU
    online, target

let private parameterValues (net: torch.nn.Module) = parameters net |> List.map floats

/// The network of the greedyAction property, one for all its cases: made at the first (seed 5), disposed when the
/// property ends.
let private greedyNetwork =
    lazy
        (torch.manual_seed 5L |> ignore
         QNetwork.mlp (spec 4 [ 16 ] 5) torch.CPU)

[<Tests>]
let tests =
    testList "QNetwork" [
        testCase "an MLP's parameters have torch.nn.Sequential's names and shapes" <| fun () ->
            use net = QNetwork.mlp (spec 4 [ 64; 32 ] 2) torch.CPU
            let named = namedParameters net |> List.map (fun (n, p) -> n, List.ofArray p.shape)
            Expect.equal
                named
                [ "0.weight", [ 64L; 4L ]
                  "0.bias", [ 64L ]
                  "2.weight", [ 32L; 64L ]
                  "2.bias", [ 32L ]
                  "4.weight", [ 2L; 32L ]
                  "4.bias", [ 2L ] ]
                "named"
            for p in parameters net do Expect.isTrue p.requires_grad "p.requires_grad"
            for p in parameters net do Expect.equal p.dtype ScalarType.Float32 "p.dtype"

        testCase "an MLP without hidden layers is one Linear" <| fun () ->
            use net = QNetwork.mlp (spec 3 [] 5) torch.CPU
            Expect.equal (namedParameters net |> List.map fst) [ "0.weight"; "0.bias" ] "namedParameters net |> List.map fst"
            Expect.equal ((snd (namedParameters net).Head).shape) [| 5L; 3L |] "(snd (namedParameters net).Head).shape"

        testCase "an MLP maps [batch; observationSize] to [batch; actionCount]" <| fun () ->
            use _ = torch.NewDisposeScope()
            use net = QNetwork.mlp (spec 4 [ 8 ] 3) torch.CPU
            Expect.equal ((net.forward (torch.zeros [| 5L; 4L |])).shape) [| 5L; 3L |] "(net.forward (torch.zeros [| 5L; 4L |])).shape"

        testCase "an MLP computes Linear-ReLU-Linear" <| fun () ->
            use _ = torch.NewDisposeScope()
            use net = QNetwork.mlp (spec 2 [ 2 ] 1) torch.CPU
            // W0 = [[1; -1]; [2; 0]], b0 = [0; -1], W1 = [[1; 3]], b1 = [0.5]
            let weights = [ [ 1f; -1f; 2f; 0f ]; [ 0f; -1f ]; [ 1f; 3f ]; [ 0.5f ] ]
            (use _ = torch.no_grad ()
             for (_, p), v in List.zip (namedParameters net) weights do
                 p.copy_ (f32 (List.ofArray p.shape) v) |> ignore)
            // x = [3; 1]: h = relu([2; 5]) = [2; 5], y = 2 + 15 + 0.5. x = [-1; 2]: h = relu([-3; -3]) = 0, y = 0.5.
            let y = net.forward (f32 [ 2L; 2L ] [ 3f; 1f; -1f; 2f ])
            Expect.equal (values<float32> y) [| 17.5f; 0.5f |] "values<float32> y"

        testCase "with manual_seed 0, Linear(4, 3) has PyTorch's initial weights and biases" <| fun () ->
            // Printed by PyTorch 1.13: torch.manual_seed(0); l = torch.nn.Linear(4, 3); l.weight, l.bias
            torch.manual_seed 0L |> ignore
            use layer = torch.nn.Linear(4L, 3L)
            let weight =
                [| -0.00374341; 0.2682218; -0.41152257; -0.3679695; -0.19257718; 0.13407868; -0.00990659; 0.39644474
                   -0.04437202; 0.13230628; -0.15110654; -0.09828269 |]
            Expect.equal layer.weight.shape [| 3L; 4L |] "layer.weight.shape"
            assertAllClose 1e-7 weight (floats layer.weight)
            assertAllClose 1e-7 [| -0.47767425; -0.33114105; -0.20611155 |] (floats layer.bias)

        testCase "initial weights lie within PyTorch's bounds 1/sqrt(fan_in)" <| fun () ->
            torch.manual_seed 7L |> ignore
            use layer = torch.nn.Linear(16L, 8L)
            let bound = 1.0 / sqrt 16.0
            for w in floats layer.weight do Expect.inRange (abs w) 0.0 bound "abs w"
            for b in floats layer.bias do Expect.inRange (abs b) 0.0 bound "abs b"
            Expect.isTrue (floats layer.weight |> Array.distinct |> Array.length > 100) "floats layer.weight |> Array.distinct |> Array.length > 100"

        testCase "equal seeds give equal networks and different seeds different ones" <| fun () ->
            let weights seed =
                torch.manual_seed seed |> ignore
                use net = QNetwork.mlp (spec 4 [ 8 ] 2) torch.CPU
                parameters net |> List.collect (floats >> List.ofArray)
            Expect.equal (weights 3L) (weights 3L) "weights 3L"
            Expect.notEqual (weights 4L) (weights 3L) "weights 4L"

        testCase "non-positive sizes are ArgumentOutOfRangeException naming the field" <| fun () ->
            let e = Expect.wantThrows<ArgumentOutOfRangeException> (fun () -> QNetwork.mlp (spec 0 [ 8 ] 2) torch.CPU |> ignore) "ArgumentOutOfRangeException"
            Expect.equal e.ParamName "ObservationSize" "e.ParamName"
            let e = Expect.wantThrows<ArgumentOutOfRangeException> (fun () -> QNetwork.mlp (spec 4 [ 8 ] 0) torch.CPU |> ignore) "ArgumentOutOfRangeException"
            Expect.equal e.ParamName "ActionCount" "e.ParamName"
            Expect.wantThrowsAny<ArgumentOutOfRangeException> (fun () -> QNetwork.mlp (spec 4 [ 0 ] 2) torch.CPU |> ignore) "ArgumentOutOfRangeException" |> ignore

        testCase "updateTarget with tau 1 copies the online parameters" <| fun () ->
            let online, target = pair ()
            use _ = online
            use _ = target
            Expect.notEqual (parameterValues target) (parameterValues online) "parameterValues target"
            QNetwork.updateTarget 1.0 target online
            Expect.equal (parameterValues target) (parameterValues online) "parameterValues target"

        testCase "updateTarget with tau 0.5 averages the two networks" <| fun () ->
            let online, target = pair ()
            use _ = online
            use _ = target
            let before = parameterValues target
            QNetwork.updateTarget 0.5 target online
            for (o, t0), t1 in List.zip (List.zip (parameterValues online) before) (parameterValues target) do
                assertAllClose 1e-6 (Array.map2 (fun a b -> 0.5 * (a + b)) o t0) t1
            QNetwork.updateTarget 0.25 target online
            // A second update moves a quarter of the remaining distance.
            for (o, t0), t2 in List.zip (List.zip (parameterValues online) before) (parameterValues target) do
                assertAllClose 1e-6 (Array.map2 (fun a b -> 0.5 * (a + b) + 0.25 * (a - 0.5 * (a + b))) o t0) t2

        testCase "updateTarget records no gradient and leaves the online network alone" <| fun () ->
            let online, target = pair ()
            use _ = online
            use _ = target
            let onlineBefore = parameterValues online
            QNetwork.updateTarget 0.5 target online
            Expect.equal (parameterValues online) onlineBefore "parameterValues online"
            for p in parameters target do Expect.isTrue (isNull p.grad) "isNull p.grad"

        testCase "updateTarget rejects tau outside (0, 1]" <| fun () ->
            let online, target = pair ()
            use _ = online
            use _ = target
            for tau in [ 0.0; -0.5; 1.5; nan ] do
                let e = Expect.wantThrows<ArgumentOutOfRangeException> (fun () -> QNetwork.updateTarget tau target online) "ArgumentOutOfRangeException"
                Expect.equal e.ParamName "tau" "e.ParamName"

        // ---- greedy actions ------------------------------------------------------------------------------------------------
        testPropertyWithConfig (disposingAfter greedyNetwork fsCheck) "greedyAction is the argmax of the network's output" (
            let obs = Gen.arrayOfLength 4 (Gen.choose (-300, 300) |> Gen.map (fun i -> float32 i / 100.0f))
            Prop.forAll (Arb.fromGen obs) (fun o ->
                let net = greedyNetwork.Value
                use _ = torch.NewDisposeScope()
                let q = values<float32> (net.forward(tensor o [| 1L; 4L |]))
                let best = q |> Array.indexed |> Array.maxBy snd |> fst
                QNetwork.greedyAction net torch.CPU o = best)
        )

        testCase "greedyAction breaks ties toward the lowest action" <| fun () ->
            use net = QNetwork.mlp (spec 2 [ 4 ] 3) torch.CPU
            (use _ = torch.no_grad ()
             for p in parameters net do
                 p.fill_ 0.0 |> ignore)
            Expect.equal (QNetwork.greedyAction net torch.CPU [| 1f; -1f |]) 0 "QNetwork.greedyAction net torch.CPU [| 1f; -1f |]"
            // Make actions 1 and 2 tie above action 0.
            let bias = snd (namedParameters net |> List.last)
            use _ = torch.NewDisposeScope()
            (use _ = torch.no_grad ()
             bias.copy_ (f32 [ 3L ] [ 0f; 2f; 2f ]) |> ignore)
            Expect.equal (QNetwork.greedyAction net torch.CPU [| 1f; -1f |]) 1 "QNetwork.greedyAction net torch.CPU [| 1f; -1f |]"

        testCase "greedyAction frees every tensor it makes and records no gradient" <| fun () ->
            use net = QNetwork.mlp (spec 4 [ 8 ] 2) torch.CPU
            settle ()
            let before = liveTensors ()
            for i in 1..20 do
                QNetwork.greedyAction net torch.CPU [| float32 i; 0f; 1f; -1f |] |> ignore
            Expect.equal (liveTensors ()) before "liveTensors ()"
            for p in parameters net do Expect.isTrue (isNull p.grad) "isNull p.grad"
    ]
