/// Shared helpers for the tests that touch TorchSharp.
///
/// Leaks are measured with TorchSharp's per-thread statistics (DisposeScopeManager.Statistics): a tensor made on
/// the test's thread counts as live until it is disposed on that thread. A tensor left to the garbage collector
/// is finalized on the finalizer thread, so it never leaves the test thread's count: "live count unchanged"
/// means "everything made was disposed, nothing was left to the finalizer". The count is per thread, so tests
/// running beside each other would not disturb it; the test executable still runs its tests one at a time
/// (TestConfig.runTests), because torch's global generator (torch.manual_seed) and thread count are process-wide
/// and several tests rely on them.
module Dqn.Fun.Tests.TorchTestSupport

#nowarn "9"

open System
open Expecto
open TorchSharp
open Dqn.Fun

/// Runs the finalizers of objects earlier tests left to the GC (freeing their native memory). The leak counts
/// are per thread and finalizers run on their own thread, so this does not move liveTensors ().
let settle () =
    GC.Collect()
    GC.WaitForPendingFinalizers()
    GC.Collect()
    GC.WaitForPendingFinalizers()

/// Tensors made on this thread and not yet disposed on it (TorchSharp's ThreadTotalLiveCount: created minus
/// disposed, inside and outside dispose scopes).
let liveTensors () = DisposeScopeManager.Statistics.ThreadTotalLiveCount

/// |expected - actual| within tolerance, relative to max(1, |expected|).
let closeTo (tolerance: float) (expected: float) (actual: float) =
    abs (expected - actual) <= tolerance * max 1.0 (abs expected)

/// Element-wise closeTo, failing with the first differing index.
let assertAllClose (tolerance: float) (expected: float[]) (actual: float[]) =
    Expect.equal actual.Length expected.Length "length"
    for i in 0 .. expected.Length - 1 do
        if not (closeTo tolerance expected[i] actual[i]) then
            failtest $"element {i}: expected {expected[i]:R}, got {actual[i]:R} (tolerance {tolerance})"

/// A CPU tensor of `shape` holding `data` (row-major), its dtype from the element type (Tensors.ofArray).
let tensor<'T when 'T: unmanaged and 'T: (new: unit -> 'T) and 'T: struct and 'T :> ValueType> (data: 'T[]) (shape: int64[]) : Tensor =
    Tensors.ofArray data shape torch.CPU

/// A one-dimensional CPU tensor holding `data`.
let vector<'T when 'T: unmanaged and 'T: (new: unit -> 'T) and 'T: struct and 'T :> ValueType> (data: 'T[]) : Tensor =
    Tensors.ofArray data [| int64 data.Length |] torch.CPU

/// A Float32 tensor of the given shape.
let f32 (shape: int64 list) (data: float32 list) = tensor (Array.ofList data) (Array.ofList shape)

/// The elements of a tensor (row-major) as 'T, which must match its dtype (Tensors.toArray).
let values<'T when 'T: unmanaged and 'T: (new: unit -> 'T) and 'T: struct and 'T :> ValueType> (t: Tensor) : 'T[] =
    Tensors.toArray<'T> t

/// The elements of a Float32 tensor as doubles.
let floats (t: Tensor) = values<float32> t |> Array.map float

/// A module's parameters with their names, in registration order.
let namedParameters (m: torch.nn.Module) : (string * Tensor) list =
    [ for struct (n, p) in m.named_parameters () -> n, (p :> Tensor) ]

/// A module's parameters, in registration order.
let parameters (m: torch.nn.Module) : Tensor list = namedParameters m |> List.map snd

/// A fresh temporary folder, deleted by the returned IDisposable.
let tempFolder () =
    let dir = IO.Path.Combine(IO.Path.GetTempPath(), "dqnfun-tests-" + Guid.NewGuid().ToString "N")
    IO.Directory.CreateDirectory dir |> ignore
    dir,
    { new IDisposable with
        member _.Dispose() =
            if IO.Directory.Exists dir then IO.Directory.Delete(dir, true) }

/// Episodes of 2 to 12 steps (lengths from Random(seed)), observation [id; episode; t] (Reset starts the next episode
/// at t = 0), reward t after step t, terminated at the episode's length: the environment, the episode and the step of
/// every stored observation can be read back (n-step and vector tests).
type TaggedEpisodes(id: int, seed: int) =
    let lengths = Random seed
    let mutable episode = -1
    let mutable t = 0
    let mutable length = 0
    interface IEnvironment with
        member _.ObservationSize = 3
        member _.ActionCount = 2
        member _.Reset(_: Nullable<int>) =
            episode <- episode + 1
            t <- 0
            length <- lengths.Next(2, 13)
            [| float32 id; float32 episode; 0.0f |]
        member _.Step(_: int) =
            t <- t + 1
            { Observation = [| float32 id; float32 episode; float32 t |]; Reward = float t; Terminated = (t = length); Truncated = false }

/// The GridWorld-v0 settings under which plain DQN walks the shortest path (8 steps) after 3000 agent steps
/// (LearningTests). Gamma is 0.9 rather than the default 0.99: bumping into a wall only costs a factor gamma, and
/// with 0.99 the 1% gap between the best action and a bump at the start cell is within the network's approximation
/// error, so the greedy policy may loop.
let gridWorldConfig =
    { DqnConfig.defaults with
        Gamma = 0.9
        LearningStarts = 100
        Exploration = Schedule.linear 1.0 0.05 1_000L
        TargetUpdateInterval = 50
        EvalInterval = 0 }
