/// Shared helpers for the tests that touch libtorch.
///
/// Parallelism: Tensor.LiveCount and Tensor.FinalizedCount are process-wide, so a test asserting on them
/// would see tensors created by any test running beside it. Rather than keep every torch-touching module
/// in one xunit collection (easy to forget for a new file), the whole assembly runs its tests one at a
/// time. The pure tests are fast, so little is lost.
module Dqn.Fun.Tests.TorchTestSupport

open System
open Xunit
open Dqn.Fun.Torch

[<assembly: CollectionBehavior(DisableTestParallelization = true)>]
do ()

/// Runs the finalizers of tensors other tests may have left to the GC, so that they are not freed
/// (changing LiveCount and FinalizedCount) in the middle of the calling test.
let settle () =
    GC.Collect()
    GC.WaitForPendingFinalizers()
    GC.Collect()
    GC.WaitForPendingFinalizers()

/// |expected - actual| within tolerance, relative to max(1, |expected|).
let closeTo (tolerance: float) (expected: float) (actual: float) =
    abs (expected - actual) <= tolerance * max 1.0 (abs expected)

/// Element-wise closeTo, failing with the first differing index.
let assertAllClose (tolerance: float) (expected: float[]) (actual: float[]) =
    Assert.Equal(expected.Length, actual.Length)
    for i in 0 .. expected.Length - 1 do
        if not (closeTo tolerance expected[i] actual[i]) then
            Assert.Fail $"element {i}: expected {expected[i]:R}, got {actual[i]:R} (tolerance {tolerance})"

/// A Float32 tensor of the given shape.
let f32 (shape: int64 list) (data: float32 list) =
    torch.tensor<float32> (ReadOnlySpan(Array.ofList data), Array.ofList shape)

/// The elements of a Float32 tensor as doubles.
let floats (t: Tensor) = t.data<float32> () |> Array.map float

/// A fresh temporary folder, deleted by the returned IDisposable.
let tempFolder () =
    let dir = IO.Path.Combine(IO.Path.GetTempPath(), "dqnfun-tests-" + Guid.NewGuid().ToString "N")
    IO.Directory.CreateDirectory dir |> ignore
    dir,
    { new IDisposable with
        member _.Dispose() =
            if IO.Directory.Exists dir then IO.Directory.Delete(dir, true) }
