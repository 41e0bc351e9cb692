module Dqn.Fun.Tests.DisposeScopeTests

open System
open System.Threading
open Expecto
open TorchSharp
open Dqn.Fun
open Dqn.Fun.Tests.TorchTestSupport

/// Runs `body` on a thread of its own: the current scope is per thread, and a test that leaves it broken must
/// not break the tests that follow on the runner's thread.
let private onOwnThread (body: unit -> unit) =
    let mutable failure: exn = null
    let thread = Thread(fun () -> try body () with e -> failure <- e)
    thread.Start()
    thread.Join()
    if not (isNull failure) then raise (AggregateException("the test body failed on its own thread", failure))

// ---- whole learning steps ------------------------------------------------------------------------------------

let private randomBatch (rng: Random) size observationSize actionCount : Batch =
    let floats n = Array.init n (fun _ -> float32 (rng.NextDouble() * 2.0 - 1.0))
    { Size = size
      ObservationSize = observationSize
      Observations = floats (size * observationSize)
      Actions = Array.init size (fun _ -> int64 (rng.Next actionCount))
      Rewards = floats size
      NextObservations = floats (size * observationSize)
      Terminated = Array.init size (fun _ -> if rng.Next 4 = 0 then 1.0f else 0.0f)
      Steps = Array.create size 1
      Indices = Array.init size id }

[<Tests>]
let tests =
    testList "DisposeScope" [
        // TorchSharp's DisposeScope, as the library uses it (one scope per hot path, results moved out), measured with
        // its per-thread statistics (liveTensors): a tensor left to the finalizer never leaves the count.
        testCase "tensors created in a scope are freed when it ends" <| fun () ->
            let start = liveTensors ()
            let made =
                use scope = torch.NewDisposeScope()
                let a = f32 [ 3L ] [ 1f; 2f; 3f ]
                let b = a * 2.0
                let c = (a + b).relu().sum ()
                Expect.equal (liveTensors ()) (start + 5L) "liveTensors ()" // a, b, a + b, relu, sum
                Expect.equal scope.DisposablesCount 5 "scope.DisposablesCount"
                Expect.isTrue (obj.ReferenceEquals(scope, torch.CurrentDisposeScope)) "same: torch.CurrentDisposeScope"
                [ a; b; c ]
            Expect.equal (liveTensors ()) start "liveTensors ()"
            for t in made do Expect.isTrue t.IsInvalid "t.IsInvalid"
            Expect.isNull torch.CurrentDisposeScope "torch.CurrentDisposeScope"

        testCase "a tensor disposed early is not disposed again by its scope" <| fun () ->
            let start = liveTensors ()
            (use scope = torch.NewDisposeScope()
             let a = f32 [ 1L ] [ 1f ]
             let _b = f32 [ 1L ] [ 2f ]
             a.Dispose()
             Expect.equal scope.DisposablesCount 1 "scope.DisposablesCount"
             Expect.equal (liveTensors ()) (start + 1L) "liveTensors ()")
            Expect.equal (liveTensors ()) start "liveTensors ()"

        testCase "MoveToOuterDisposeScope hands a tensor to the enclosing scope, which frees it" <| fun () ->
            let start = liveTensors ()
            use outer = torch.NewDisposeScope()
            let moved, freed =
                use inner = torch.NewDisposeScope()
                let keep = f32 [ 2L ] [ 1f; 2f ]
                let drop = keep * 3.0
                Expect.isTrue (obj.ReferenceEquals(keep, keep.MoveToOuterDisposeScope())) "same: keep.MoveToOuterDisposeScope()"
                Expect.equal inner.DisposablesCount 1 "inner.DisposablesCount"
                keep, drop
            Expect.isFalse moved.IsInvalid "moved.IsInvalid"
            Expect.isTrue freed.IsInvalid "freed.IsInvalid"
            Expect.equal (values<float32> moved) [| 1f; 2f |] "values<float32> moved"
            Expect.equal outer.DisposablesCount 1 "outer.DisposablesCount"
            Expect.equal (liveTensors ()) (start + 1L) "liveTensors ()"
            outer.Dispose()
            Expect.isTrue moved.IsInvalid "moved.IsInvalid"
            Expect.equal (liveTensors ()) start "liveTensors ()"

        testCase "MoveToOuterDisposeScope survives only one level" <| fun () ->
            let start = liveTensors ()
            let moved =
                use _outer = torch.NewDisposeScope()
                let moved =
                    use _middle = torch.NewDisposeScope()
                    use _inner = torch.NewDisposeScope()
                    (f32 [ 1L ] [ 1f ]).MoveToOuterDisposeScope()
                Expect.isTrue moved.IsInvalid "moved.IsInvalid" // it went to the middle scope, which has ended
                moved
            Expect.isTrue moved.IsInvalid "moved.IsInvalid"
            Expect.equal (liveTensors ()) start "liveTensors ()"

        testCase "MoveToOuterDisposeScope from the outermost scope hands the tensor to the caller" <| fun () ->
            let start = liveTensors ()
            let t =
                use _ = torch.NewDisposeScope()
                (f32 [ 1L ] [ 5f ]).MoveToOuterDisposeScope()
            Expect.isFalse t.IsInvalid "t.IsInvalid"
            Expect.equal (liveTensors ()) (start + 1L) "liveTensors ()"
            t.Dispose()
            Expect.equal (liveTensors ()) start "liveTensors ()"

        testCase "DetachFromDisposeScope survives every enclosing scope" <| fun () ->
            let start = liveTensors ()
            let t =
                use _outer = torch.NewDisposeScope()
                use _inner = torch.NewDisposeScope()
                let t = (f32 [ 2L ] [ 1f; 2f ]).DetachFromDisposeScope()
                f32 [ 1L ] [ 0f ] |> ignore
                t
            Expect.isFalse t.IsInvalid "t.IsInvalid"
            Expect.equal (liveTensors ()) (start + 1L) "liveTensors ()"
            Expect.equal (values<float32> t) [| 1f; 2f |] "values<float32> t"
            t.Dispose()
            Expect.equal (liveTensors ()) start "liveTensors ()"

        testCase "nested scopes free their own tensors in turn" <| fun () ->
            let start = liveTensors ()
            use outer = torch.NewDisposeScope()
            let a = f32 [ 1L ] [ 1f ]
            let b =
                use inner = torch.NewDisposeScope()
                Expect.isTrue (obj.ReferenceEquals(inner, torch.CurrentDisposeScope)) "same: torch.CurrentDisposeScope"
                let b = a + 1.0
                Expect.isTrue (inner.Contains b) "inner.Contains b"
                Expect.isTrue (outer.Contains a) "outer.Contains a"
                Expect.isFalse (outer.Contains b) "outer.Contains b"
                Expect.equal (liveTensors ()) (start + 2L) "liveTensors ()"
                b
            Expect.isTrue b.IsInvalid "b.IsInvalid"
            Expect.isFalse a.IsInvalid "a.IsInvalid"
            Expect.isTrue (obj.ReferenceEquals(outer, torch.CurrentDisposeScope)) "same: torch.CurrentDisposeScope"
            Expect.equal (liveTensors ()) (start + 1L) "liveTensors ()"
            outer.Dispose()
            Expect.isTrue a.IsInvalid "a.IsInvalid"
            Expect.equal (liveTensors ()) start "liveTensors ()"
            Expect.isNull torch.CurrentDisposeScope "torch.CurrentDisposeScope"

        // TorchSharp unlinks a scope disposed out of order (the old binding refused with InvalidOperationException):
        // what matters is that both scopes still free everything and no dead scope stays current.
        testCase "after an out-of-order dispose the scopes can still be disposed in order and free everything" <| fun () ->
            onOwnThread (fun () ->
                let start = liveTensors ()
                let outer = torch.NewDisposeScope()
                let a = f32 [ 1L ] [ 1f ]
                let inner = torch.NewDisposeScope()
                let b = f32 [ 1L ] [ 2f ]
                outer.Dispose()
                inner.Dispose()
                outer.Dispose()
                Expect.isTrue b.IsInvalid "b.IsInvalid"
                Expect.isTrue a.IsInvalid "a.IsInvalid"
                Expect.isNull torch.CurrentDisposeScope "torch.CurrentDisposeScope"
                Expect.equal (liveTensors ()) start "liveTensors ()")

        testCase "Learner.update leaves the live tensor count unchanged" <| fun () ->
            settle ()
            let spec = { ObservationSize = 4; Hidden = [ 16; 16 ]; ActionCount = 2 }
            use online = QNetwork.mlp spec torch.CPU
            use target = QNetwork.mlp spec torch.CPU
            use optimizer = torch.optim.Adam(online.parameters (), lr = 1e-3)
            let rng = Random 3
            for config in [ DqnConfig.defaults; { DqnConfig.defaults with DoubleDqn = true; Loss = TdLoss.Mse; MaxGradNorm = None } ] do
                let start = liveTensors ()
                for _ in 1..5 do
                    Learner.update config online target optimizer torch.CPU (randomBatch rng 32 4 2) |> ignore
                // Nothing made on this thread is left undisposed (a tensor left to the finalizer would stay counted).
                Expect.equal (liveTensors ()) start "liveTensors ()"
                settle ()
                Expect.equal (liveTensors ()) start "liveTensors ()"

        testCase "Agent.Learn leaves the live tensor count where construction left it and leaks nothing" <| fun () ->
            settle ()
            let config =
                { DqnConfig.defaults with
                    LearningStarts = 100
                    BatchSize = 32
                    BufferSize = 1_000
                    TargetUpdateInterval = 50
                    EvalInterval = 100
                    EvalEpisodes = 2 }
            use agent = new Agent(config, 4, 2)
            let afterConstruction = liveTensors ()
            let summary = agent.Learn(CartPoleEnvironment(), 300L, evalEnv = CartPoleEnvironment())
            Expect.equal summary.Updates 200L "summary.Updates"
            Expect.equal summary.Evaluations.Length 3 "summary.Evaluations.Length"
            agent.Act(Array.zeroCreate 4) |> ignore
            Expect.equal (liveTensors ()) afterConstruction "liveTensors ()"
            settle ()
            Expect.equal (liveTensors ()) afterConstruction "liveTensors ()"

        testCase "disposing an agent frees its networks" <| fun () ->
            settle ()
            let start = liveTensors ()
            (use agent = new Agent(DqnConfig.defaults, 4, 2)
             // Online and target: 3 layers of weight and bias each; TorchSharp's Adam makes its state (exp_avg and
             // exp_avg_sq for each of the online network's 6 parameters) when it is constructed.
             Expect.equal (liveTensors ()) (start + 12L + 12L) "liveTensors ()")
            Expect.equal (liveTensors ()) start "liveTensors ()"

        testCase "every preset learns and evaluates without leaking a tensor, and Dispose frees all it made" <| fun () ->
            // The variant paths own more: a C51 support, noise buffers, distributional and prioritized updates.
            for name in DqnConfig.presetNames do
                settle ()
                let start = liveTensors ()
                (let config =
                    { DqnConfig.preset name with
                        Hidden = [ 16 ]
                        LearningStarts = 50
                        BatchSize = 16
                        BufferSize = 500
                        EvalInterval = 100
                        EvalEpisodes = 1 }
                 use agent = new Agent(config, 4, 2)
                 let afterConstruction = liveTensors ()
                 let summary = agent.Learn(CartPoleEnvironment(), 150L, evalEnv = CartPoleEnvironment())
                 Expect.isTrue (summary.Updates > 0L) $"{name}: no update ran"
                 agent.Act(Array.zeroCreate 4) |> ignore
                 Expect.isTrue (afterConstruction = liveTensors ()) $"{name}: {liveTensors () - afterConstruction} tensors left by Learn")
                settle ()
                Expect.isTrue (start = liveTensors ()) $"{name}: {liveTensors () - start} tensors left after Dispose"
    ]
