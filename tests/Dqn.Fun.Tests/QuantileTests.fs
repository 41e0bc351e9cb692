module Dqn.Fun.Tests.QuantileTests

open System
open Expecto
open FsCheck
open FsCheck.FSharp
open Dqn.Fun
open TorchSharp
open Dqn.Fun.Tests.TorchTestSupport
open Dqn.Fun.Tests.TestConfig

type private Case =
    { Batch: int
      N: int
      NTarget: int
      Kappa: float
      Predicted: float32[]
      Target: float32[] }

let private caseGen =
    gen {
        let! b = Gen.choose (1, 8)
        let! n = Gen.choose (1, 12)
        let! n' = Gen.choose (1, 12)
        let! kappa = Gen.elements [ 1.0; 0.5; 2.0 ]
        let value = Gen.choose (-500, 500) |> Gen.map (fun i -> float32 i / 100.0f)
        let! predicted = Gen.arrayOfLength (b * n) value
        let! target = Gen.arrayOfLength (b * n') value
        return { Batch = b; N = n; NTarget = n'; Kappa = kappa; Predicted = predicted; Target = target }
    }

/// Eq. 10 of Dabney et al. 2018 with the DQN Zoo reduction, one pair at a time in float64.
let private reference (c: Case) =
    let huber (u: float) = if abs u <= c.Kappa then 0.5 * u * u else c.Kappa * (abs u - 0.5 * c.Kappa)
    Array.init c.Batch (fun b ->
        let mutable total = 0.0
        for i in 0 .. c.N - 1 do
            let tau = float (2 * i + 1) / float (2 * c.N)
            let mutable row = 0.0
            for j in 0 .. c.NTarget - 1 do
                let u = float c.Target[b * c.NTarget + j] - float c.Predicted[b * c.N + i]
                row <- row + abs (tau - (if u < 0.0 then 1.0 else 0.0)) * huber u / c.Kappa
            total <- total + row / float c.NTarget
        total)

let private tensors (c: Case) =
    (tensor c.Predicted [| int64 c.Batch; int64 c.N |]), (tensor c.Target [| int64 c.Batch; int64 c.NTarget |])

[<Tests>]
let tests =
    testList "Quantile" [
        testCase "midpoints are (2i + 1) / 2N (the documented example)" <| fun () ->
            use _ = torch.NewDisposeScope()
            Expect.equal (values<float32> (Quantile.midpoints 4 torch.CPU)) [| 0.125f; 0.375f; 0.625f; 0.875f |] "values<float32> (Quantile.midpoints 4 torch.CPU)"
            Expect.equal (values<float32> (Quantile.midpoints 1 torch.CPU)) [| 0.5f |] "values<float32> (Quantile.midpoints 1 torch.CPU)"
            let taus = values<float32> (Quantile.midpoints 200 torch.CPU)
            assertAllClose 1e-7 (Array.init 200 (fun i -> (2.0 * float i + 1.0) / 400.0)) (Array.map float taus)

        testPropertyWithConfig fsCheck "huberLosses equals the scalar quantile Huber loss on random batches" (
            Prop.forAll (Arb.fromGen caseGen) (fun c ->
                use _ = torch.NewDisposeScope()
                let p, t = tensors c
                let losses = Quantile.huberLosses c.Kappa p t
                let expected = reference c
                losses.shape = [| int64 c.Batch |]
                && Array.forall2 (fun e a -> closeTo 1e-5 e a) expected (floats losses)
                && closeTo 1e-5 (Array.average expected) ((Quantile.huberLoss c.Kappa p t).ToDouble()))
        )

        testCase "the documented example: one quantile at 0, one target at 3" <| fun () ->
            use _ = torch.NewDisposeScope()
            assertAllClose 1e-6 [| 1.25 |] (floats (Quantile.huberLosses 1.0 (f32 [ 1L; 1L ] [ 0f ]) (f32 [ 1L; 1L ] [ 3f ])))

        testCase "the loss is zero when predictions equal targets, and weighs each error by |tau - 1{u < 0}|" <| fun () ->
            use _ = torch.NewDisposeScope()
            Expect.equal ((Quantile.huberLoss 1.0 (f32 [ 1L; 2L ] [ 1f; 1f ]) (f32 [ 1L; 3L ] [ 1f; 1f; 1f ])).item<float32> ()) 0f "(Quantile.huberLoss 1.0 (f32 [ 1L; 2L ] [ 1f; 1f ]) (f32..."
            // N = 2 (taus 0.25, 0.75), small errors u = 0.5 (target above): 0.25 * 0.125 + 0.75 * 0.125; below: the reverse
            let above = Quantile.huberLosses 1.0 (f32 [ 1L; 2L ] [ 0f; 0f ]) (f32 [ 1L; 1L ] [ 0.5f ])
            let below = Quantile.huberLosses 1.0 (f32 [ 1L; 2L ] [ 0f; 0f ]) (f32 [ 1L; 1L ] [ -0.5f ])
            assertAllClose 1e-7 [| 0.125 |] (floats above)
            assertAllClose 1e-7 [| 0.125 |] (floats below)
            let both = Quantile.huberLosses 1.0 (f32 [ 1L; 2L ] [ 0.5f; -3f ]) (f32 [ 1L; 1L ] [ 0f ])
            // quantile 0 (tau 0.25) at 0.5: u = -0.5, weight 0.75, huber 0.125; quantile 1 (tau 0.75) at -3: u = 3, weight 0.75, huber 2.5
            assertAllClose 1e-6 [| 0.75 * 0.125 + 0.75 * 2.5 |] (floats both)

        testCase "gradients reach the predictions and not the targets" <| fun () ->
            use _ = torch.NewDisposeScope()
            let p = f32 [ 1L; 2L ] [ 0f; 0f ]
            let t = f32 [ 1L; 1L ] [ 3f ]
            p.requires_grad <- true
            t.requires_grad <- true
            (Quantile.huberLoss 1.0 p t).backward ()
            // d/dθ_i of |tau_i| * (u - 0.5) with u = 3 - θ_i: -tau_i
            assertAllClose 1e-6 [| -0.25; -0.75 |] (floats p.grad)
            Expect.isTrue (isNull t.grad) "isNull t.grad"

        testCase "bad arguments name the argument" <| fun () ->
            use _ = torch.NewDisposeScope()
            let p = f32 [ 2L; 2L ] [ 0f; 0f; 0f; 0f ]
            let argError name f = Expect.equal (Expect.wantThrowsAny<ArgumentException> (fun () -> f () |> ignore) "ArgumentException").ParamName name "ParamName"
            argError "count" (fun () -> Quantile.midpoints 0 torch.CPU)
            for kappa in [ 0.0; -1.0; nan; infinity ] do
                argError "kappa" (fun () -> Quantile.huberLoss kappa p p)
            argError "target" (fun () -> Quantile.huberLosses 1.0 p (f32 [ 3L; 2L ] [ 0f; 0f; 0f; 0f; 0f; 0f ]))
            argError "predicted" (fun () -> Quantile.huberLosses 1.0 (f32 [ 4L ] [ 0f; 0f; 0f; 0f ]) p)
            argError "target" (fun () -> Quantile.huberLosses 1.0 p (p.to_type ScalarType.Float64))
    ]
