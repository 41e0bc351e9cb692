module Dqn.Fun.Tests.CategoricalTests

open System
open Expecto
open FsCheck
open FsCheck.FSharp
open Dqn.Fun
open TorchSharp
open Dqn.Fun.Tests.TorchTestSupport
open Dqn.Fun.Tests.TestConfig

/// A random batch for the projection: a support, returns (some beyond it), discounts in [0, 1] (some 0, some 1),
/// and next-state distributions as normalised random weights (with zeros).
type private Case =
    { Batch: int
      Atoms: int
      VMin: float
      VMax: float
      Rewards: float32[]
      Discounts: float32[]
      Probs: float32[] }

let private caseGen =
    gen {
        let! b = Gen.choose (1, 16)
        let! n = Gen.choose (2, 21)
        let! vMin = Gen.choose (-2000, 0) |> Gen.map (fun i -> float i / 100.0)
        let! width = Gen.choose (100, 3000) |> Gen.map (fun i -> float i / 100.0)
        let! rewards = Gen.arrayOfLength b (Gen.choose (-3000, 3000) |> Gen.map (fun i -> float32 i / 100.0f))
        let! discounts =
            Gen.arrayOfLength b (Gen.oneof [ Gen.constant 0f; Gen.constant 1f; Gen.choose (0, 1000) |> Gen.map (fun i -> float32 i / 1000.0f) ])
        let! weights = Gen.arrayOfLength (b * n) (Gen.frequency [ 1, Gen.constant 0; 3, Gen.choose (1, 1000) ])
        let probs =
            Array.init (b * n) (fun k ->
                let row = weights[k / n * n .. k / n * n + n - 1]
                let total = Array.sum row
                if total = 0 then (if k % n = 0 then 1f else 0f) else float32 (float weights[k] / float total))
        return
            { Batch = b
              Atoms = n
              VMin = vMin
              VMax = vMin + width
              Rewards = rewards
              Discounts = discounts
              Probs = probs }
    }

/// Algorithm 1 of Bellemare et al. 2017 in float64, one atom at a time (l = u when b_j lands on an atom).
let private reference (c: Case) =
    let n = c.Atoms
    let z = values<float32> (Categorical.support c.VMin c.VMax n torch.CPU) |> Array.map float
    let vMin, vMax = z[0], z[n - 1]
    let dz = (vMax - vMin) / float (n - 1)
    Array.init c.Batch (fun i ->
        let m = Array.zeroCreate<float> n
        for j in 0 .. n - 1 do
            let p = float c.Probs[i * n + j]
            let tz = min vMax (max vMin (float c.Rewards[i] + float c.Discounts[i] * z[j]))
            let b = min (float (n - 1)) ((tz - vMin) / dz)
            let l, u = int (floor b), int (ceil b)
            if l = u then
                m[l] <- m[l] + p
            else
                m[l] <- m[l] + p * (float u - b)
                m[u] <- m[u] + p * (b - float l)
        m)
    |> Array.concat

let private projectCase (c: Case) =
    let support = Categorical.support c.VMin c.VMax c.Atoms torch.CPU
    Categorical.project (vector c.Rewards) (vector c.Discounts) (tensor c.Probs [| int64 c.Batch; int64 c.Atoms |]) support

/// Supports whose atoms and spacing are exact in float32: vMin an integer, dz a power of two.
let private dyadicGen =
    gen {
        let! c = caseGen
        let! vMin = Gen.choose (-20, 0)
        let! k = Gen.choose (-3, 2)
        let dz = Math.Pow(2.0, float k)
        return { c with VMin = float vMin; VMax = float vMin + dz * float (c.Atoms - 1) }, dz
    }

[<Tests>]
let tests =
    testList "Categorical" [
        testCase "support is evenly spaced from vMin to vMax (the documented example)" <| fun () ->
            use _ = torch.NewDisposeScope()
            Expect.equal (values<float32> (Categorical.support -1.0 1.0 5 torch.CPU)) [| -1f; -0.5f; 0f; 0.5f; 1f |] "values<float32> (Categorical.support -1.0 1.0 5 torch.CPU)"
            let z = values<float32> (Categorical.support -10.0 10.0 51 torch.CPU)
            Expect.equal z.Length 51 "z.Length"
            assertAllClose 1e-6 (Array.init 51 (fun i -> -10.0 + 0.4 * float i)) (Array.map float z)

        testPropertyWithConfig fsCheck "projected rows are distributions" (
            Prop.forAll (Arb.fromGen caseGen) (fun c ->
                use _ = torch.NewDisposeScope()
                let m = values<float32> (projectCase c)
                m.Length = c.Batch * c.Atoms
                && Array.forall (fun p -> p >= 0f) m
                && Seq.forall (fun i -> abs (Array.sum m[i * c.Atoms .. i * c.Atoms + c.Atoms - 1] - 1f) <= 1e-5f) (seq { 0 .. c.Batch - 1 }))
        )

        testPropertyWithConfig fsCheck "project equals the scalar Algorithm 1 on random batches" (
            Prop.forAll (Arb.fromGen caseGen) (fun c ->
                use _ = torch.NewDisposeScope()
                let m = values<float32> (projectCase c)
                let dz = (c.VMax - c.VMin) / float (c.Atoms - 1)
                let zMax = max (abs c.VMin) (abs c.VMax)
                // float32 rounds r + discount z (and its distance to vMin): an error of about 3e-7 (|r| + |z|) in
                // value, (|r| + |z|) / dz times that in atom units, which moves at most that much probability.
                let tolerance i = 1e-5 + 3e-7 * (abs (float c.Rewards[i]) + zMax) / dz
                Seq.forall2 (fun k (e: float, a: float32) -> abs (e - float a) <= tolerance (k / c.Atoms)) (Seq.initInfinite id) (Array.zip (reference c) m))
        )

        testPropertyWithConfig fsCheck "with reward 0 and discount 1 the projection is the identity" (
            Prop.forAll (Arb.fromGen dyadicGen) (fun (c, _) ->
                use _ = torch.NewDisposeScope()
                let c = { c with Rewards = Array.zeroCreate c.Batch; Discounts = Array.create c.Batch 1f }
                values<float32> (projectCase c) = c.Probs)
        )

        testPropertyWithConfig fsCheck "targets that land on atoms are projected exactly, equal to Algorithm 1" (
            Prop.forAll (Arb.fromGen dyadicGen) (fun (c, dz) ->
                use _ = torch.NewDisposeScope()
                // r a whole number of atoms (some beyond the support), discount 0 or 1: every r + discount z_j is an atom.
                let shifts = c.Rewards |> Array.map (fun r -> float32 (Math.Round(float r / 2.0) * dz))
                let c = { c with Rewards = shifts; Discounts = c.Discounts |> Array.map (fun d -> if d < 0.5f then 0f else 1f) }
                let m = values<float32> (projectCase c)
                Seq.forall2 (fun (e: float) (a: float32) -> abs (e - float a) <= 1e-6) (reference c) m)
        )

        testCase "targets that land on atoms are projected exactly (a worked example)" <| fun () ->
            use _ = torch.NewDisposeScope()
            // support [-2; -1; 0; 1; 2]; row 0: r = 0, discount 1 (identity); row 1: r = 1, discount 1 (shift right by
            // one atom, the top atom's mass clamped onto 2); row 2: terminal at r = -1 (a point mass).
            let support = Categorical.support -2.0 2.0 5 torch.CPU
            let probs = f32 [ 3L; 5L ] [ 0.1f; 0.2f; 0.3f; 0.25f; 0.15f; 0.5f; 0f; 0.25f; 0f; 0.25f; 0.25f; 0.25f; 0.25f; 0.125f; 0.125f ]
            let m = Categorical.project (f32 [ 3L ] [ 0f; 1f; -1f ]) (f32 [ 3L ] [ 1f; 1f; 0f ]) probs support
            Expect.equal
                (values<float32> m)
                [| 0.1f; 0.2f; 0.3f; 0.25f; 0.15f; 0f; 0.5f; 0f; 0.25f; 0.25f; 0f; 1f; 0f; 0f; 0f |]
                "values<float32> m"

        testCase "the documented projection example" <| fun () ->
            use _ = torch.NewDisposeScope()
            let support = f32 [ 3L ] [ -1f; 0f; 1f ]
            let m = Categorical.project (f32 [ 1L ] [ 0.5f ]) (f32 [ 1L ] [ 1f ]) (f32 [ 1L; 3L ] [ 0f; 1f; 0f ]) support
            assertAllClose 1e-6 [| 0.0; 0.5; 0.5 |] (floats m)

        testCase "project is detached from the autograd graph" <| fun () ->
            use _ = torch.NewDisposeScope()
            let probs = f32 [ 1L; 3L ] [ 0.2f; 0.3f; 0.5f ]
            probs.requires_grad <- true
            let m = Categorical.project (f32 [ 1L ] [ 0.5f ]) (f32 [ 1L ] [ 0.9f ]) probs (Categorical.support -1.0 1.0 3 torch.CPU)
            Expect.isFalse m.requires_grad "m.requires_grad"

        testPropertyWithConfig fsCheck "crossEntropy is -sum m log softmax(logits); loss is its mean, with gradient softmax - m over the batch" (
            Prop.forAll (Arb.fromGen caseGen) (fun c ->
                use _ = torch.NewDisposeScope()
                let n = c.Atoms
                let logitsData = Array.init (c.Batch * n) (fun k -> float32 (sin (float k * 1.7) * 3.0))
                let logits = tensor logitsData [| int64 c.Batch; int64 n |]
                logits.requires_grad <- true
                let target = tensor c.Probs [| int64 c.Batch; int64 n |]
                let softmax i =
                    let row = logitsData[i * n .. i * n + n - 1] |> Array.map float
                    let mx = Array.max row
                    let total = row |> Array.sumBy (fun x -> exp (x - mx))
                    row |> Array.map (fun x -> exp (x - mx) / total)
                let expected =
                    Array.init c.Batch (fun i ->
                        let p = softmax i
                        -(Array.init n (fun j -> float c.Probs[i * n + j] * log p[j]) |> Array.sum))
                let ce = floats (Categorical.crossEntropy logits target)
                let loss = Categorical.loss logits target
                loss.backward ()
                let grad = floats logits.grad
                let expectedGrad =
                    Array.init (c.Batch * n) (fun k -> ((softmax (k / n))[k % n] - float c.Probs[k]) / float c.Batch)
                Array.forall2 (fun e a -> closeTo 1e-5 e a) expected ce
                && closeTo 1e-5 (Array.average expected) (loss.ToDouble())
                && Array.forall2 (fun e a -> abs (e - a) <= 1e-6) expectedGrad grad)
        )

        testCase "the documented crossEntropy example" <| fun () ->
            use _ = torch.NewDisposeScope()
            assertAllClose 1e-6 [| log 2.0 |] (floats (Categorical.crossEntropy (f32 [ 1L; 2L ] [ 0f; 0f ]) (f32 [ 1L; 2L ] [ 1f; 0f ])))

        testCase "qValues are the expectations over the support" <| fun () ->
            use _ = torch.NewDisposeScope()
            let support = f32 [ 3L ] [ -1f; 0f; 2f ]
            let probs = f32 [ 1L; 2L; 3L ] [ 0.5f; 0.5f; 0f; 0.25f; 0.25f; 0.5f ]
            let q = Categorical.qValues probs support
            Expect.equal q.shape [| 1L; 2L |] "q.shape"
            assertAllClose 1e-6 [| -0.5; 0.75 |] (floats q)

        testCase "bad arguments name the argument" <| fun () ->
            use _ = torch.NewDisposeScope()
            let z = Categorical.support -1.0 1.0 3 torch.CPU
            let p = f32 [ 2L; 3L ] [ 1f; 0f; 0f; 0f; 1f; 0f ]
            let r = f32 [ 2L ] [ 0f; 0f ]
            let argError name f = Expect.equal (Expect.wantThrowsAny<ArgumentException> (fun () -> f () |> ignore) "ArgumentException").ParamName name "ParamName"
            argError "atoms" (fun () -> Categorical.support -1.0 1.0 1 torch.CPU)
            argError "vMax" (fun () -> Categorical.support 1.0 1.0 3 torch.CPU)
            argError "vMin" (fun () -> Categorical.support nan 1.0 3 torch.CPU)
            argError "support" (fun () -> Categorical.project r r p (f32 [ 2L ] [ -1f; 1f ]))
            argError "support" (fun () -> Categorical.project r r p (f32 [ 3L ] [ 1f; 0f; -1f ]))
            argError "rewards" (fun () -> Categorical.project (f32 [ 3L ] [ 0f; 0f; 0f ]) r p z)
            argError "discounts" (fun () -> Categorical.project r (vector [| 0L; 0L |]) p z)
            argError "nextProbs" (fun () -> Categorical.project r r (f32 [ 6L ] [ 1f; 0f; 0f; 0f; 1f; 0f ]) z)
            argError "targetProbs" (fun () -> Categorical.crossEntropy p (f32 [ 2L; 2L ] [ 1f; 0f; 0f; 1f ]))
            argError "logits" (fun () -> Categorical.loss r p)
            argError "support" (fun () -> Categorical.qValues (p.unsqueeze 0L) (f32 [ 2L ] [ 0f; 1f ]))
    ]
