module Dqn.Fun.Tests.DisposeScopeTests

open System
open System.Threading
open Xunit
open Dqn.Fun
open Dqn.Fun.Torch
open Dqn.Fun.Tests.TorchTestSupport

// Every test records LiveCount after settle (), so tensors earlier tests left to the finalizer are gone.

[<Fact>]
let ``tensors created in a scope are freed when it ends`` () =
    settle ()
    let start = Tensor.LiveCount
    let made =
        use scope = new DisposeScope()
        let a = f32 [ 3L ] [ 1f; 2f; 3f ]
        let b = a * 2.0
        let c = (a + b).relu().sum ()
        Assert.Equal(start + 5L, Tensor.LiveCount) // a, b, a + b, relu, sum
        Assert.Equal(5, scope.Count)
        Assert.Same(scope, DisposeScope.Current)
        [ a; b; c ]
    Assert.Equal(start, Tensor.LiveCount)
    Assert.All(made, fun t -> Assert.True(t.IsDisposed))
    Assert.Null(DisposeScope.Current)

[<Fact>]
let ``a tensor disposed early is not disposed again by its scope`` () =
    settle ()
    let start = Tensor.LiveCount
    (use scope = new DisposeScope()
     let a = f32 [ 1L ] [ 1f ]
     let _b = f32 [ 1L ] [ 2f ]
     a.Dispose()
     Assert.Equal(1, scope.Count)
     Assert.Equal(start + 1L, Tensor.LiveCount))
    Assert.Equal(start, Tensor.LiveCount)

[<Fact>]
let ``MoveToOuterScope hands a tensor to the enclosing scope, which frees it`` () =
    settle ()
    let start = Tensor.LiveCount
    use outer = new DisposeScope()
    let moved, freed =
        use inner = new DisposeScope()
        let keep = f32 [ 2L ] [ 1f; 2f ]
        let drop = keep * 3.0
        Assert.Same(keep, keep.MoveToOuterScope())
        Assert.Equal(1, inner.Count)
        keep, drop
    Assert.False(moved.IsDisposed)
    Assert.True(freed.IsDisposed)
    Assert.Equal<float32[]>([| 1f; 2f |], moved.data<float32> ())
    Assert.Equal(1, outer.Count)
    Assert.Equal(start + 1L, Tensor.LiveCount)
    outer.Dispose()
    Assert.True(moved.IsDisposed)
    Assert.Equal(start, Tensor.LiveCount)

[<Fact>]
let ``MoveToOuterScope survives only one level`` () =
    settle ()
    let start = Tensor.LiveCount
    let moved =
        use _outer = new DisposeScope()
        let moved =
            use _middle = new DisposeScope()
            use _inner = new DisposeScope()
            (f32 [ 1L ] [ 1f ]).MoveToOuterScope()
        Assert.True(moved.IsDisposed) // it went to the middle scope, which has ended
        moved
    Assert.True(moved.IsDisposed)
    Assert.Equal(start, Tensor.LiveCount)

[<Fact>]
let ``MoveToOuterScope from the outermost scope hands the tensor to the caller`` () =
    settle ()
    let start = Tensor.LiveCount
    let t =
        use _ = new DisposeScope()
        (f32 [ 1L ] [ 5f ]).MoveToOuterScope()
    Assert.False(t.IsDisposed)
    Assert.Equal(start + 1L, Tensor.LiveCount)
    t.Dispose()
    Assert.Equal(start, Tensor.LiveCount)

[<Fact>]
let ``DetachFromDisposeScope survives every enclosing scope`` () =
    settle ()
    let start = Tensor.LiveCount
    let t =
        use _outer = new DisposeScope()
        use _inner = new DisposeScope()
        let t = (f32 [ 2L ] [ 1f; 2f ]).DetachFromDisposeScope()
        f32 [ 1L ] [ 0f ] |> ignore
        t
    Assert.False(t.IsDisposed)
    Assert.Equal(start + 1L, Tensor.LiveCount)
    Assert.Equal<float32[]>([| 1f; 2f |], t.data<float32> ())
    t.Dispose()
    Assert.Equal(start, Tensor.LiveCount)

[<Fact>]
let ``nested scopes free their own tensors in turn`` () =
    settle ()
    let start = Tensor.LiveCount
    use outer = new DisposeScope()
    let a = f32 [ 1L ] [ 1f ]
    let b =
        use inner = new DisposeScope()
        Assert.Same(outer, inner.Parent)
        Assert.Same(inner, DisposeScope.Current)
        let b = a + 1.0
        Assert.Equal(start + 2L, Tensor.LiveCount)
        b
    Assert.True(b.IsDisposed)
    Assert.False(a.IsDisposed)
    Assert.Same(outer, DisposeScope.Current)
    Assert.Equal(start + 1L, Tensor.LiveCount)
    outer.Dispose()
    Assert.True(a.IsDisposed)
    Assert.Equal(start, Tensor.LiveCount)
    Assert.Null(DisposeScope.Current)

/// Runs `body` on a thread of its own: DisposeScope.Current is per thread, and a test that leaves it
/// broken must not break the tests that follow on the runner's thread.
let private onOwnThread (body: unit -> unit) =
    let mutable failure: exn = null
    let thread = Thread(fun () -> try body () with e -> failure <- e)
    thread.Start()
    thread.Join()
    if not (isNull failure) then raise (AggregateException("the test body failed on its own thread", failure))

[<Fact>]
let ``disposing an outer scope while an inner one is open raises InvalidOperationException`` () =
    onOwnThread (fun () ->
        let outer = new DisposeScope()
        let inner = new DisposeScope()
        let e = Assert.Throws<InvalidOperationException>(fun () -> outer.Dispose())
        Assert.Contains("out of order", e.Message)
        inner.Dispose())

// CORE BUG (core/Torch/Tensor.fs, DisposeScope.Dispose): `disposed <- true` is set before the order check,
// so after the InvalidOperationException the outer scope counts as disposed: disposing it again in the
// right order does nothing, its tensors are never freed, and it stays DisposeScope.Current on the thread,
// so every later tensor on that thread is registered in a dead scope and leaks.
[<Fact>]
let ``after an out-of-order dispose the scopes can still be disposed in order and free everything`` () =
    settle ()
    let start = Tensor.LiveCount
    onOwnThread (fun () ->
        let outer = new DisposeScope()
        let a = f32 [ 1L ] [ 1f ]
        let inner = new DisposeScope()
        let b = f32 [ 1L ] [ 2f ]
        Assert.Throws<InvalidOperationException>(fun () -> outer.Dispose()) |> ignore
        inner.Dispose()
        outer.Dispose()
        Assert.True(b.IsDisposed)
        Assert.True(a.IsDisposed)
        Assert.Null(DisposeScope.Current))
    Assert.Equal(start, Tensor.LiveCount)

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
    use online = QNetwork.mlp spec Device.CPU
    use target = QNetwork.mlp spec Device.CPU
    use optimizer = new optim.Adam(online.parameters (), lr = 1e-3)
    let rng = Random 3
    for config in [ DqnConfig.defaults; { DqnConfig.defaults with DoubleDqn = true; Loss = TdLoss.Mse; MaxGradNorm = None } ] do
        let start = Tensor.LiveCount
        let finalized = Tensor.FinalizedCount
        for _ in 1..5 do
            Learner.update config online target optimizer Device.CPU (randomBatch rng 32 4 2) |> ignore
        Assert.Equal(start, Tensor.LiveCount)
        settle ()
        Assert.Equal(start, Tensor.LiveCount)
        Assert.Equal(finalized, Tensor.FinalizedCount)

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
    let finalized = Tensor.FinalizedCount
    use agent = new Agent(config, 4, 2)
    let afterConstruction = Tensor.LiveCount
    let summary = agent.Learn(CartPoleEnvironment(), 300L, evalEnv = CartPoleEnvironment())
    Assert.Equal(200L, summary.Updates)
    Assert.Equal(3, summary.Evaluations.Length)
    agent.Act(Array.zeroCreate 4) |> ignore
    Assert.Equal(afterConstruction, Tensor.LiveCount)
    settle ()
    Assert.Equal(afterConstruction, Tensor.LiveCount)
    Assert.Equal(finalized, Tensor.FinalizedCount)

[<Fact>]
let ``disposing an agent frees its networks`` () =
    settle ()
    let start = Tensor.LiveCount
    (use agent = new Agent(DqnConfig.defaults, 4, 2)
     // Online and target: 3 layers of weight and bias each.
     Assert.Equal(start + 12L, Tensor.LiveCount))
    Assert.Equal(start, Tensor.LiveCount)

[<Fact>]
let ``every preset learns and evaluates without leaking a tensor, and Dispose frees all it made`` () =
    // The variant paths own more: a C51 support, noise buffers, distributional and prioritized updates.
    for name in DqnConfig.presetNames do
        settle ()
        let start = Tensor.LiveCount
        let finalized = Tensor.FinalizedCount
        (let config =
            { DqnConfig.preset name with
                Hidden = [ 16 ]
                LearningStarts = 50
                BatchSize = 16
                BufferSize = 500
                EvalInterval = 100
                EvalEpisodes = 1 }
         use agent = new Agent(config, 4, 2)
         let afterConstruction = Tensor.LiveCount
         let summary = agent.Learn(CartPoleEnvironment(), 150L, evalEnv = CartPoleEnvironment())
         Assert.True(summary.Updates > 0L, $"{name}: no update ran")
         agent.Act(Array.zeroCreate 4) |> ignore
         Assert.True((afterConstruction = Tensor.LiveCount), $"{name}: {Tensor.LiveCount - afterConstruction} tensors left by Learn"))
        settle ()
        Assert.True((start = Tensor.LiveCount), $"{name}: {Tensor.LiveCount - start} tensors left after Dispose")
        Assert.Equal(finalized, Tensor.FinalizedCount)
