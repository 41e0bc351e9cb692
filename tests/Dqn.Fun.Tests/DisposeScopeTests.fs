module Dqn.Fun.Tests.DisposeScopeTests

open System
open System.Threading
open Xunit
open TorchSharp
open Dqn.Fun
open Dqn.Fun.Tests.TorchTestSupport

// TorchSharp's DisposeScope, as the library uses it (one scope per hot path, results moved out), measured with
// its per-thread statistics (liveTensors): a tensor left to the finalizer never leaves the count.

[<Fact>]
let ``tensors created in a scope are freed when it ends`` () =
    let start = liveTensors ()
    let made =
        use scope = torch.NewDisposeScope()
        let a = f32 [ 3L ] [ 1f; 2f; 3f ]
        let b = a * 2.0
        let c = (a + b).relu().sum ()
        Assert.Equal(start + 5L, liveTensors ()) // a, b, a + b, relu, sum
        Assert.Equal(5, scope.DisposablesCount)
        Assert.Same(scope, torch.CurrentDisposeScope)
        [ a; b; c ]
    Assert.Equal(start, liveTensors ())
    Assert.All(made, fun t -> Assert.True(t.IsInvalid))
    Assert.Null(torch.CurrentDisposeScope)

[<Fact>]
let ``a tensor disposed early is not disposed again by its scope`` () =
    let start = liveTensors ()
    (use scope = torch.NewDisposeScope()
     let a = f32 [ 1L ] [ 1f ]
     let _b = f32 [ 1L ] [ 2f ]
     a.Dispose()
     Assert.Equal(1, scope.DisposablesCount)
     Assert.Equal(start + 1L, liveTensors ()))
    Assert.Equal(start, liveTensors ())

[<Fact>]
let ``MoveToOuterDisposeScope hands a tensor to the enclosing scope, which frees it`` () =
    let start = liveTensors ()
    use outer = torch.NewDisposeScope()
    let moved, freed =
        use inner = torch.NewDisposeScope()
        let keep = f32 [ 2L ] [ 1f; 2f ]
        let drop = keep * 3.0
        Assert.Same(keep, keep.MoveToOuterDisposeScope())
        Assert.Equal(1, inner.DisposablesCount)
        keep, drop
    Assert.False(moved.IsInvalid)
    Assert.True(freed.IsInvalid)
    Assert.Equal<float32[]>([| 1f; 2f |], values<float32> moved)
    Assert.Equal(1, outer.DisposablesCount)
    Assert.Equal(start + 1L, liveTensors ())
    outer.Dispose()
    Assert.True(moved.IsInvalid)
    Assert.Equal(start, liveTensors ())

[<Fact>]
let ``MoveToOuterDisposeScope survives only one level`` () =
    let start = liveTensors ()
    let moved =
        use _outer = torch.NewDisposeScope()
        let moved =
            use _middle = torch.NewDisposeScope()
            use _inner = torch.NewDisposeScope()
            (f32 [ 1L ] [ 1f ]).MoveToOuterDisposeScope()
        Assert.True(moved.IsInvalid) // it went to the middle scope, which has ended
        moved
    Assert.True(moved.IsInvalid)
    Assert.Equal(start, liveTensors ())

[<Fact>]
let ``MoveToOuterDisposeScope from the outermost scope hands the tensor to the caller`` () =
    let start = liveTensors ()
    let t =
        use _ = torch.NewDisposeScope()
        (f32 [ 1L ] [ 5f ]).MoveToOuterDisposeScope()
    Assert.False(t.IsInvalid)
    Assert.Equal(start + 1L, liveTensors ())
    t.Dispose()
    Assert.Equal(start, liveTensors ())

[<Fact>]
let ``DetachFromDisposeScope survives every enclosing scope`` () =
    let start = liveTensors ()
    let t =
        use _outer = torch.NewDisposeScope()
        use _inner = torch.NewDisposeScope()
        let t = (f32 [ 2L ] [ 1f; 2f ]).DetachFromDisposeScope()
        f32 [ 1L ] [ 0f ] |> ignore
        t
    Assert.False(t.IsInvalid)
    Assert.Equal(start + 1L, liveTensors ())
    Assert.Equal<float32[]>([| 1f; 2f |], values<float32> t)
    t.Dispose()
    Assert.Equal(start, liveTensors ())

[<Fact>]
let ``nested scopes free their own tensors in turn`` () =
    let start = liveTensors ()
    use outer = torch.NewDisposeScope()
    let a = f32 [ 1L ] [ 1f ]
    let b =
        use inner = torch.NewDisposeScope()
        Assert.Same(inner, torch.CurrentDisposeScope)
        let b = a + 1.0
        Assert.True(inner.Contains b)
        Assert.True(outer.Contains a)
        Assert.False(outer.Contains b)
        Assert.Equal(start + 2L, liveTensors ())
        b
    Assert.True(b.IsInvalid)
    Assert.False(a.IsInvalid)
    Assert.Same(outer, torch.CurrentDisposeScope)
    Assert.Equal(start + 1L, liveTensors ())
    outer.Dispose()
    Assert.True(a.IsInvalid)
    Assert.Equal(start, liveTensors ())
    Assert.Null(torch.CurrentDisposeScope)

/// Runs `body` on a thread of its own: the current scope is per thread, and a test that leaves it broken must
/// not break the tests that follow on the runner's thread.
let private onOwnThread (body: unit -> unit) =
    let mutable failure: exn = null
    let thread = Thread(fun () -> try body () with e -> failure <- e)
    thread.Start()
    thread.Join()
    if not (isNull failure) then raise (AggregateException("the test body failed on its own thread", failure))

// TorchSharp unlinks a scope disposed out of order (the old binding refused with InvalidOperationException):
// what matters is that both scopes still free everything and no dead scope stays current.
[<Fact>]
let ``after an out-of-order dispose the scopes can still be disposed in order and free everything`` () =
    onOwnThread (fun () ->
        let start = liveTensors ()
        let outer = torch.NewDisposeScope()
        let a = f32 [ 1L ] [ 1f ]
        let inner = torch.NewDisposeScope()
        let b = f32 [ 1L ] [ 2f ]
        outer.Dispose()
        inner.Dispose()
        outer.Dispose()
        Assert.True(b.IsInvalid)
        Assert.True(a.IsInvalid)
        Assert.Null(torch.CurrentDisposeScope)
        Assert.Equal(start, liveTensors ()))

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

[<Fact>]
let ``Learner.update leaves the live tensor count unchanged`` () =
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
        Assert.Equal(start, liveTensors ())
        settle ()
        Assert.Equal(start, liveTensors ())

[<Fact>]
let ``Agent.Learn leaves the live tensor count where construction left it and leaks nothing`` () =
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
    Assert.Equal(200L, summary.Updates)
    Assert.Equal(3, summary.Evaluations.Length)
    agent.Act(Array.zeroCreate 4) |> ignore
    Assert.Equal(afterConstruction, liveTensors ())
    settle ()
    Assert.Equal(afterConstruction, liveTensors ())

[<Fact>]
let ``disposing an agent frees its networks`` () =
    settle ()
    let start = liveTensors ()
    (use agent = new Agent(DqnConfig.defaults, 4, 2)
     // Online and target: 3 layers of weight and bias each; TorchSharp's Adam makes its state (exp_avg and
     // exp_avg_sq for each of the online network's 6 parameters) when it is constructed.
     Assert.Equal(start + 12L + 12L, liveTensors ()))
    Assert.Equal(start, liveTensors ())

[<Fact>]
let ``every preset learns and evaluates without leaking a tensor, and Dispose frees all it made`` () =
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
         Assert.True(summary.Updates > 0L, $"{name}: no update ran")
         agent.Act(Array.zeroCreate 4) |> ignore
         Assert.True((afterConstruction = liveTensors ()), $"{name}: {liveTensors () - afterConstruction} tensors left by Learn"))
        settle ()
        Assert.True((start = liveTensors ()), $"{name}: {liveTensors () - start} tensors left after Dispose")
