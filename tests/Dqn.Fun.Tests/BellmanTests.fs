module Dqn.Fun.Tests.BellmanTests

open System
open Expecto
open FsCheck
open FsCheck.FSharp
open Dqn.Fun
open TorchSharp
open Dqn.Fun.Tests.TorchTestSupport
open Dqn.Fun.Tests.TestConfig

/// A random replay batch as plain arrays: rewards and Q-values with two decimals, terminated 0 or 1.
type private Case =
    { Batch: int
      Actions: int
      Gamma: float
      Rewards: float32[]
      Terminated: float32[]
      NextQOnline: float32[]
      NextQTarget: float32[]
      Taken: int64[] }

let private scaled (range: int) = Gen.choose (-range * 100, range * 100) |> Gen.map (fun i -> float32 i / 100.0f)

let private caseGen =
    gen {
        let! b = Gen.choose (1, 32)
        let! a = Gen.choose (1, 6)
        let! gamma = Gen.oneof [ Gen.constant 0.0; Gen.constant 1.0; Gen.choose (0, 1000) |> Gen.map (fun i -> float i / 1000.0) ]
        let! rewards = Gen.arrayOfLength b (scaled 10)
        let! terminated = Gen.arrayOfLength b (Gen.elements [ 0.0f; 1.0f ])
        let! online = Gen.arrayOfLength (b * a) (scaled 100)
        let! target = Gen.arrayOfLength (b * a) (scaled 100)
        let! taken = Gen.arrayOfLength b (Gen.choose (0, a - 1) |> Gen.map int64)
        return
            { Batch = b
              Actions = a
              Gamma = gamma
              Rewards = rewards
              Terminated = terminated
              NextQOnline = online
              NextQTarget = target
              Taken = taken }
    }

let private row (c: Case) (q: float32[]) i = q[i * c.Actions .. i * c.Actions + c.Actions - 1]

/// The first index of the largest element (torch.argmax's tie rule).
let private argmaxFirst (xs: float32[]) =
    let mutable best = 0
    for j in 1 .. xs.Length - 1 do
        if xs[j] > xs[best] then best <- j
    best

// Scalar references: y = r + gamma (1 - terminated) v', in float64, one loop per row.
let private dqnReference (c: Case) =
    Array.init c.Batch (fun i ->
        let v = row c c.NextQTarget i |> Array.max |> float
        float c.Rewards[i] + c.Gamma * (1.0 - float c.Terminated[i]) * v)

let private doubleReference (c: Case) =
    Array.init c.Batch (fun i ->
        let pick = argmaxFirst (row c c.NextQOnline i)
        let v = float (row c c.NextQTarget i).[pick]
        float c.Rewards[i] + c.Gamma * (1.0 - float c.Terminated[i]) * v)

type private Tensors =
    { R: Tensor; T: Tensor; Online: Tensor; Target: Tensor; Taken: Tensor }

let private tensorsOf (c: Case) =
    let q = [| int64 c.Batch; int64 c.Actions |]
    { R = vector c.Rewards
      T = vector c.Terminated
      Online = tensor c.NextQOnline q
      Target = tensor c.NextQTarget q
      Taken = vector c.Taken }

/// Within 1e-5 of the reference, relative to the size of the terms (float32 rounds each of them).
let private agrees (c: Case) (reference: float[]) (y: float32[]) =
    y.Length = reference.Length
    && Array.forall2
        (fun (e: float) (a: float32) -> abs (e - float a) <= 1e-5 * (1.0 + abs e + 100.0 * c.Gamma))
        reference
        y

// ---- argument errors -------------------------------------------------------------------------------------------

let private argError (name: string) (fragments: string list) (f: unit -> Tensor) =
    let e = Expect.wantThrowsAny<ArgumentException> (fun () -> f () |> ignore) "ArgumentException"
    Expect.equal e.ParamName name "e.ParamName"
    for fragment in fragments do
        Expect.stringContains e.Message fragment "e.Message"

[<Tests>]
let tests =
    testList "Bellman" [
        // ---- targets against the scalar reference ------------------------------------------------------------------
        testPropertyWithConfig fsCheck "dqnTarget equals the scalar reference on random batches" (
            Prop.forAll (Arb.fromGen caseGen) (fun c ->
                use _ = torch.NewDisposeScope()
                let t = tensorsOf c
                let y = Bellman.dqnTarget c.Gamma t.R t.T t.Target
                y.shape = [| int64 c.Batch |] && agrees c (dqnReference c) (values<float32> y))
        )

        testPropertyWithConfig fsCheck "doubleDqnTarget equals the scalar reference on random batches" (
            Prop.forAll (Arb.fromGen caseGen) (fun c ->
                use _ = torch.NewDisposeScope()
                let t = tensorsOf c
                let y = Bellman.doubleDqnTarget c.Gamma t.R t.T t.Online t.Target
                y.shape = [| int64 c.Batch |] && agrees c (doubleReference c) (values<float32> y))
        )

        testPropertyWithConfig fsCheck "terminated rows equal the reward exactly" (
            Prop.forAll (Arb.fromGen caseGen) (fun c ->
                use _ = torch.NewDisposeScope()
                let t = tensorsOf c
                let y = values<float32> (Bellman.dqnTarget c.Gamma t.R t.T t.Target)
                let yd = values<float32> (Bellman.doubleDqnTarget c.Gamma t.R t.T t.Online t.Target)
                Seq.forall
                    (fun i -> c.Terminated[i] = 0.0f || (y[i] = c.Rewards[i] && yd[i] = c.Rewards[i]))
                    (seq { 0 .. c.Batch - 1 }))
        )

        testPropertyWithConfig fsCheck "gamma 0 gives the rewards" (
            Prop.forAll (Arb.fromGen caseGen) (fun c ->
                use _ = torch.NewDisposeScope()
                let t = tensorsOf c
                values<float32> (Bellman.dqnTarget 0.0 t.R t.T t.Target) = c.Rewards
                && values<float32> (Bellman.doubleDqnTarget 0.0 t.R t.T t.Online t.Target) = c.Rewards)
        )

        testCase "the documented examples evaluate as documented" <| fun () ->
            use _ = torch.NewDisposeScope()
            let q = f32 [ 2L; 2L ] [ 2f; 5f; 3f; 4f ]
            let y = Bellman.dqnTarget 0.9 (f32 [ 2L ] [ 1f; 1f ]) (f32 [ 2L ] [ 0f; 1f ]) q
            assertAllClose 1e-6 [| 5.5; 1.0 |] (floats y)
            let yd = Bellman.doubleDqnTarget 0.9 (f32 [ 1L ] [ 1f ]) (f32 [ 1L ] [ 0f ]) (f32 [ 1L; 2L ] [ 9f; 1f ]) (f32 [ 1L; 2L ] [ 2f; 5f ])
            assertAllClose 1e-6 [| 2.8 |] (floats yd)

        testCase "Double DQN values the online network's choice with the target network" <| fun () ->
            use _ = torch.NewDisposeScope()
            // Row 0: online prefers action 2, the target's maximum is action 0 (10) but it values action 2 at 1.
            // Row 1: online prefers action 0, valued 4 by the target, whose maximum (6) is action 1.
            let online = f32 [ 2L; 3L ] [ 0f; 1f; 7f; 3f; 2f; 1f ]
            let target = f32 [ 2L; 3L ] [ 10f; -5f; 1f; 4f; 6f; 5f ]
            let r = f32 [ 2L ] [ 0.5f; -1f ]
            let notDone = f32 [ 2L ] [ 0f; 0f ]
            assertAllClose 1e-6 [| 0.5 + 0.5 * 1.0; -1.0 + 0.5 * 4.0 |] (floats (Bellman.doubleDqnTarget 0.5 r notDone online target))
            assertAllClose 1e-6 [| 0.5 + 0.5 * 10.0; -1.0 + 0.5 * 6.0 |] (floats (Bellman.dqnTarget 0.5 r notDone target))

        testCase "targets are detached from the autograd graph" <| fun () ->
            use _ = torch.NewDisposeScope()
            let q = f32 [ 1L; 2L ] [ 1f; 2f ]
            q.requires_grad <- true
            let r, d = f32 [ 1L ] [ 0f ], f32 [ 1L ] [ 0f ]
            Expect.isFalse ((Bellman.dqnTarget 0.9 r d q).requires_grad) "(Bellman.dqnTarget 0.9 r d q).requires_grad"
            Expect.isFalse ((Bellman.doubleDqnTarget 0.9 r d q q).requires_grad) "(Bellman.doubleDqnTarget 0.9 r d q q).requires_grad"

        testCase "targets free their temporaries" <| fun () ->
            use _ = torch.NewDisposeScope()
            let c =
                { Batch = 2
                  Actions = 3
                  Gamma = 0.9
                  Rewards = [| 1f; 2f |]
                  Terminated = [| 0f; 1f |]
                  NextQOnline = [| 1f; 2f; 3f; 4f; 5f; 6f |]
                  NextQTarget = [| 6f; 5f; 4f; 3f; 2f; 1f |]
                  Taken = [| 0L; 2L |] }
            let t = tensorsOf c
            settle ()
            let before = liveTensors ()
            Bellman.dqnTarget 0.9 t.R t.T t.Target |> ignore
            Bellman.doubleDqnTarget 0.9 t.R t.T t.Online t.Target |> ignore
            Bellman.selectActions t.Online t.Taken |> ignore
            Expect.equal (liveTensors ()) (before + 3L) "liveTensors ()" // only the three results

        // ---- selectActions -----------------------------------------------------------------------------------------
        testPropertyWithConfig fsCheck "selectActions equals indexing row i at actions[i]" (
            Prop.forAll (Arb.fromGen caseGen) (fun c ->
                use _ = torch.NewDisposeScope()
                let t = tensorsOf c
                let expected = Array.init c.Batch (fun i -> (row c c.NextQOnline i)[int c.Taken[i]])
                values<float32> (Bellman.selectActions t.Online t.Taken) = expected)
        )

        testCase "selectActions keeps the gradient path to the chosen entries" <| fun () ->
            use _ = torch.NewDisposeScope()
            let q = f32 [ 2L; 3L ] [ 1f; 2f; 3f; 4f; 5f; 6f ]
            q.requires_grad <- true
            let chosen = Bellman.selectActions q (vector [| 2L; 0L |])
            Expect.isTrue chosen.requires_grad "chosen.requires_grad"
            chosen.sum().backward ()
            Expect.equal (values<float32> q.grad) [| 0f; 0f; 1f; 1f; 0f; 0f |] "values<float32> q.grad"

        testCase "mismatched shapes and dtypes name the argument and show expected and received" <| fun () ->
            use _ = torch.NewDisposeScope()
            let q = f32 [ 2L; 3L ] [ 1f; 2f; 3f; 4f; 5f; 6f ]
            let r2, d2 = f32 [ 2L ] [ 0f; 0f ], f32 [ 2L ] [ 0f; 0f ]
            argError "rewards" [ "Float32 [2]"; "got Float32 [3]" ] (fun () -> Bellman.dqnTarget 0.9 (f32 [ 3L ] [ 0f; 0f; 0f ]) d2 q)
            argError "terminated" [ "Float32 [2]"; "got Int64 [2]" ] (fun () -> Bellman.dqnTarget 0.9 r2 (vector [| 0L; 1L |]) q)
            argError "terminated" [ "Float32 [2]"; "got Float32 [2; 1]" ] (fun () -> Bellman.dqnTarget 0.9 r2 (f32 [ 2L; 1L ] [ 0f; 0f ]) q)
            argError "nextQTarget" [ "[batch; actions]"; "got Float32 [6]" ] (fun () -> Bellman.dqnTarget 0.9 r2 d2 (q.reshape (6L)))
            argError "nextQTarget" [ "got Float64 [2; 3]" ] (fun () -> Bellman.dqnTarget 0.9 r2 d2 (q.to_type ScalarType.Float64))
            argError "nextQOnline" [ "Float32 [2; 3]"; "got Float32 [2; 2]" ] (fun () ->
                Bellman.doubleDqnTarget 0.9 r2 d2 (f32 [ 2L; 2L ] [ 0f; 0f; 0f; 0f ]) q)
            argError "actions" [ "Int64 [2]"; "got Float32 [2]" ] (fun () -> Bellman.selectActions q r2)
            argError "actions" [ "Int64 [2]"; "got Int64 [3]" ] (fun () -> Bellman.selectActions q (vector [| 0L; 1L; 2L |]))
            argError "qValues" [ "[batch; actions]"; "got Float32 [2]" ] (fun () -> Bellman.selectActions r2 (vector [| 0L; 1L |]))
            argError "rewards" [] (fun () -> Bellman.dqnTarget 0.9 null d2 q)

        testCase "gamma outside [0, 1] or not finite is ArgumentOutOfRangeException naming gamma" <| fun () ->
            use _ = torch.NewDisposeScope()
            let q = f32 [ 1L; 2L ] [ 1f; 2f ]
            let r, d = f32 [ 1L ] [ 0f ], f32 [ 1L ] [ 0f ]
            for gamma in [ -0.1; 1.5; nan; infinity ] do
                let e = Expect.wantThrows<ArgumentOutOfRangeException> (fun () -> Bellman.dqnTarget gamma r d q |> ignore) "ArgumentOutOfRangeException"
                Expect.equal e.ParamName "gamma" "e.ParamName"
                let e = Expect.wantThrows<ArgumentOutOfRangeException> (fun () -> Bellman.doubleDqnTarget gamma r d q q |> ignore) "ArgumentOutOfRangeException"
                Expect.equal e.ParamName "gamma" "e.ParamName"
    ]
