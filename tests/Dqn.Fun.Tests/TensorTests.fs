module Dqn.Fun.Tests.TensorTests

open System
open Xunit
open FsCheck
open FsCheck.FSharp
open Dqn.Fun.Torch
open Dqn.Fun.Tests.TorchTestSupport

let private check (property: Property) = Check.One(Config.QuickThrowOnFailure, property)

// Floats with two decimals in [-100, 100]: exact enough to compare, free of NaN and infinities.
let private smallFloat = Gen.choose (-10000, 10000) |> Gen.map (fun i -> float32 i / 100.0f)

let private floatArray =
    gen {
        let! n = Gen.choose (1, 24)
        return! Gen.arrayOfLength n smallFloat
    }

let private pairOfArrays =
    gen {
        let! n = Gen.choose (1, 24)
        let! a = Gen.arrayOfLength n smallFloat
        let! b = Gen.arrayOfLength n smallFloat
        return a, b
    }

// ---- creation and copy back ---------------------------------------------------------------------------

[<Fact>]
let ``a float32 array round-trips through a tensor of the given shape`` () =
    use _ = new DisposeScope()
    let data = [| 1.5f; -2.0f; 0.0f; 3.25f; 1e-7f; -1e7f |]
    let t = torch.tensor (data, [| 2L; 3L |])
    Assert.Equal<int64[]>([| 2L; 3L |], t.shape)
    Assert.Equal(DType.Float32, t.dtype)
    Assert.Equal(2, t.dim ())
    Assert.Equal(6L, t.numel ())
    Assert.Equal(Device.CPU, t.device)
    Assert.Equal<float32[]>(data, t.data<float32> ())

[<Fact>]
let ``random float32 arrays round-trip exactly`` () =
    check (
        Prop.forAll (Arb.fromGen floatArray) (fun data ->
            use _ = new DisposeScope()
            torch.tensor(data).data<float32> () = data)
    )

[<Fact>]
let ``int64, uint8 and bool arrays round-trip with their dtypes`` () =
    use _ = new DisposeScope()
    let longs = [| Int64.MinValue; -1L; 0L; 1L; Int64.MaxValue; 42L |]
    let l = torch.tensor (longs, [| 3L; 2L |])
    Assert.Equal(DType.Int64, l.dtype)
    Assert.Equal<int64[]>([| 3L; 2L |], l.shape)
    Assert.Equal<int64[]>(longs, l.data<int64> ())
    let bytes = [| 0uy; 1uy; 127uy; 128uy; 255uy |]
    let b = torch.tensor bytes
    Assert.Equal(DType.UInt8, b.dtype)
    Assert.Equal<byte[]>(bytes, b.data<byte> ())
    let bools = [| true; false; false; true |]
    let c = torch.tensor (bools, [| 2L; 2L |])
    Assert.Equal(DType.Bool, c.dtype)
    Assert.Equal<bool[]>(bools, c.data<bool> ())

[<Fact>]
let ``item reads a one-element tensor as the requested type`` () =
    use _ = new DisposeScope()
    Assert.Equal(2.5f, (f32 [] [ 2.5f ]).item<float32> ())
    Assert.Equal(2.5, (f32 [ 1L; 1L ] [ 2.5f ]).item<float> ())
    Assert.Equal(7L, torch.tensor([| 7L |]).item<int64> ())
    Assert.True(torch.tensor([| true |]).item<bool> ())

[<Fact>]
let ``a shape whose element count differs from the data length is an ArgumentException naming both`` () =
    let e = Assert.Throws<ArgumentException>(fun () -> torch.tensor ([| 1f; 2f; 3f |], [| 2L; 2L |]) |> ignore)
    Assert.Equal("shape", e.ParamName)
    Assert.Contains("[2; 2]", e.Message)
    Assert.Contains("4 elements", e.Message)
    Assert.Contains("has 3", e.Message)

[<Fact>]
let ``a negative dimension is an ArgumentException`` () =
    let e = Assert.Throws<ArgumentException>(fun () -> torch.zeros [| 2L; -1L |] |> ignore)
    Assert.Contains("negative", e.Message)

[<Fact>]
let ``reading a tensor into an array of another element type is a TorchException naming both dtypes`` () =
    use _ = new DisposeScope()
    let t = f32 [ 2L ] [ 1f; 2f ]
    let e = Assert.Throws<TorchException>(fun () -> t.data<int64> () |> ignore)
    Assert.Contains("Float", e.Message)
    Assert.Contains("Long", e.Message)

[<Fact>]
let ``a .NET element type without a tensor dtype is an ArgumentException naming it`` () =
    let e = Assert.Throws<ArgumentException>(fun () -> torch.tensor<uint16> (ReadOnlySpan [| 1us |], [| 1L |]) |> ignore)
    Assert.Contains("UInt16", e.Message)

// ---- element-wise arithmetic -----------------------------------------------------------------------------

[<Fact>]
let ``add, sub, mul and div of two tensors give the known values`` () =
    use _ = new DisposeScope()
    let a = f32 [ 4L ] [ 1f; -2f; 3f; 8f ]
    let b = f32 [ 4L ] [ 4f; 5f; -6f; 0.5f ]
    Assert.Equal<float32[]>([| 5f; 3f; -3f; 8.5f |], (a + b).data<float32> ())
    Assert.Equal<float32[]>([| -3f; -7f; 9f; 7.5f |], (a - b).data<float32> ())
    Assert.Equal<float32[]>([| 4f; -10f; -18f; 4f |], (a * b).data<float32> ())
    Assert.Equal<float32[]>([| 0.25f; -0.4f; -0.5f; 16f |], (a / b).data<float32> ())
    Assert.Equal<float32[]>([| -1f; 2f; -3f; -8f |], (-a).data<float32> ())

[<Fact>]
let ``scalar forms on either side give the known values, including 1.0 - t`` () =
    use _ = new DisposeScope()
    let t = f32 [ 3L ] [ 0f; 1f; 4f ]
    Assert.Equal<float32[]>([| 2f; 3f; 6f |], (t + 2.0).data<float32> ())
    Assert.Equal<float32[]>([| 2f; 3f; 6f |], (2.0 + t).data<float32> ())
    Assert.Equal<float32[]>([| -2f; -1f; 2f |], (t - 2.0).data<float32> ())
    Assert.Equal<float32[]>([| 1f; 0f; -3f |], (1.0 - t).data<float32> ())
    Assert.Equal<float32[]>([| 0f; 3f; 12f |], (t * 3.0).data<float32> ())
    Assert.Equal<float32[]>([| 0f; 3f; 12f |], (3.0 * t).data<float32> ())
    Assert.Equal<float32[]>([| 0f; 0.5f; 2f |], (t / 2.0).data<float32> ())
    let u = f32 [ 3L ] [ 1f; 2f; 4f ]
    Assert.Equal<float32[]>([| 2f; 1f; 0.5f |], (2.0 / u).data<float32> ())

[<Fact>]
let ``element-wise operators agree with float32 arithmetic on random arrays`` () =
    check (
        Prop.forAll (Arb.fromGen pairOfArrays) (fun (a, b) ->
            use _ = new DisposeScope()
            let ta, tb = torch.tensor a, torch.tensor b
            let same (expected: float32[]) (t: Tensor) = t.data<float32> () = expected
            same (Array.map2 (+) a b) (ta + tb)
            && same (Array.map2 (-) a b) (ta - tb)
            && same (Array.map2 (*) a b) (ta * tb)
            && same (Array.map (fun x -> 1.0f - x) a) (1.0 - ta)
            && same (Array.map (fun x -> x * 0.5f) a) (ta * 0.5)
            && same (Array.map (fun x -> max x 0.0f) a) (ta.relu ()))
    )

[<Fact>]
let ``binary ops broadcast a row over a matrix`` () =
    use _ = new DisposeScope()
    let m = f32 [ 2L; 3L ] [ 1f; 2f; 3f; 4f; 5f; 6f ]
    let row = f32 [ 3L ] [ 10f; 20f; 30f ]
    let s = m + row
    Assert.Equal<int64[]>([| 2L; 3L |], s.shape)
    Assert.Equal<float32[]>([| 11f; 22f; 33f; 14f; 25f; 36f |], s.data<float32> ())

[<Fact>]
let ``matmul of [2; 3] by [3; 2] gives the known product`` () =
    use _ = new DisposeScope()
    let a = f32 [ 2L; 3L ] [ 1f; 2f; 3f; 4f; 5f; 6f ]
    let b = f32 [ 3L; 2L ] [ 7f; 8f; 9f; 10f; 11f; 12f ]
    let c = a.matmul b
    Assert.Equal<int64[]>([| 2L; 2L |], c.shape)
    Assert.Equal<float32[]>([| 58f; 64f; 139f; 154f |], c.data<float32> ())

[<Fact>]
let ``relu zeroes the negative elements`` () =
    use _ = new DisposeScope()
    Assert.Equal<float32[]>([| 0f; 0f; 0.5f; 3f |], (f32 [ 4L ] [ -1f; 0f; 0.5f; 3f ]).relu().data<float32> ())

[<Fact>]
let ``clamp bounds from below, above or both`` () =
    use _ = new DisposeScope()
    let t = f32 [ 5L ] [ -3f; -1f; 0f; 1f; 3f ]
    Assert.Equal<float32[]>([| -1f; -1f; 0f; 1f; 3f |], t.clamp(min = -1.0).data<float32> ())
    Assert.Equal<float32[]>([| -3f; -1f; 0f; 1f; 1f |], t.clamp(max = 1.0).data<float32> ())
    Assert.Equal<float32[]>([| -2f; -1f; 0f; 1f; 2f |], t.clamp(-2.0, 2.0).data<float32> ())

[<Fact>]
let ``comparisons give Bool tensors and where selects by them`` () =
    use _ = new DisposeScope()
    let x = f32 [ 4L ] [ -2f; 0f; 1f; 5f ]
    let positive = x.gt 0.0
    Assert.Equal(DType.Bool, positive.dtype)
    Assert.Equal<bool[]>([| false; false; true; true |], positive.data<bool> ())
    let y = f32 [ 4L ] [ 10f; 20f; 30f; 40f ]
    Assert.Equal<float32[]>([| 10f; 20f; 1f; 5f |], torch.where(positive, x, y).data<float32> ())

// ---- reductions and indexing --------------------------------------------------------------------------------

let private matrix () = f32 [ 2L; 3L ] [ 1f; 5f; 3f; 7f; 2f; 7f ]

[<Fact>]
let ``max along a dimension gives the values and the first index of each maximum`` () =
    use _ = new DisposeScope()
    let struct (values, indices) = (matrix ()).max 1L
    Assert.Equal<float32[]>([| 5f; 7f |], values.data<float32> ())
    Assert.Equal(DType.Int64, indices.dtype)
    Assert.Equal<int64[]>([| 1L; 0L |], indices.data<int64> ())
    let struct (kept, _) = (matrix ()).max(1L, keepdim = true)
    Assert.Equal<int64[]>([| 2L; 1L |], kept.shape)

[<Fact>]
let ``argmax and amax agree with max`` () =
    use _ = new DisposeScope()
    let m = matrix ()
    Assert.Equal<int64[]>([| 1L; 0L |], m.argmax(1L).data<int64> ())
    Assert.Equal<int64[]>([| 2L; 1L |], m.argmax(1L, keepdim = true).shape)
    Assert.Equal(3L, m.argmax().item<int64> ())
    Assert.Equal<float32[]>([| 5f; 7f |], m.amax(1L).data<float32> ())
    Assert.Equal<float32[]>([| 7f; 5f; 7f |], m.amax(0L).data<float32> ())
    Assert.Equal(7f, m.max().item<float32> ())
    Assert.Equal(1f, m.min().item<float32> ())

[<Fact>]
let ``sum and mean over everything and along a dimension`` () =
    use _ = new DisposeScope()
    let m = matrix ()
    Assert.Equal(25f, m.sum().item<float32> ())
    Assert.Equal(25.0 / 6.0, m.mean().item<float> (), 6)
    Assert.Equal<float32[]>([| 9f; 16f |], m.sum(1L).data<float32> ())
    Assert.Equal<float32[]>([| 4f; 3.5f; 5f |], m.mean(0L).data<float32> ())
    Assert.Equal<int64[]>([| 1L; 3L |], m.mean(0L, keepdim = true).shape)

[<Fact>]
let ``gather picks one element per row`` () =
    use _ = new DisposeScope()
    let m = f32 [ 2L; 3L ] [ 1f; 2f; 3f; 4f; 5f; 6f ]
    let index = torch.tensor ([| 2L; 0L |], [| 2L; 1L |])
    let g = m.gather (1L, index)
    Assert.Equal<int64[]>([| 2L; 1L |], g.shape)
    Assert.Equal<float32[]>([| 3f; 4f |], g.data<float32> ())

[<Fact>]
let ``softmax matches exp(x - max) / sum on random rows`` () =
    let gen =
        gen {
            let! rows = Gen.choose (1, 5)
            let! cols = Gen.choose (1, 6)
            let! data = Gen.arrayOfLength (rows * cols) smallFloat
            return rows, cols, data
        }
    check (
        Prop.forAll (Arb.fromGen gen) (fun (rows, cols, data) ->
            use _ = new DisposeScope()
            let s = torch.tensor(data, [| int64 rows; int64 cols |]).softmax(1L) |> floats
            let expected =
                [| for r in 0 .. rows - 1 do
                       let row = data[r * cols .. r * cols + cols - 1] |> Array.map float
                       let m = Array.max row
                       let e = row |> Array.map (fun x -> exp (x - m))
                       let total = Array.sum e
                       yield! e |> Array.map (fun x -> x / total) |]
            Array.forall2 (fun e a -> abs (e - a) <= 1e-6) expected s)
    )

// ---- shapes and conversions ----------------------------------------------------------------------------

[<Fact>]
let ``reshape and view keep row-major order`` () =
    use _ = new DisposeScope()
    let t = torch.arange (6L, DType.Float32)
    Assert.Equal<float32[]>([| 0f; 1f; 2f; 3f; 4f; 5f |], t.data<float32> ())
    let r = t.reshape (2L, 3L)
    Assert.Equal<int64[]>([| 2L; 3L |], r.shape)
    Assert.Equal<float32[]>(t.data<float32> (), r.data<float32> ())
    Assert.Equal<int64[]>([| 3L; 2L |], r.view(3L, 2L).shape)
    Assert.Equal<int64[]>([| 6L |], r.reshape(-1L).shape)

[<Fact>]
let ``a transposed tensor reshapes in its new order but cannot be viewed`` () =
    use _ = new DisposeScope()
    let t = torch.arange(6L, DType.Float32).reshape (2L, 3L)
    let tt = t.transpose (0L, 1L)
    Assert.Equal<float32[]>([| 0f; 3f; 1f; 4f; 2f; 5f |], tt.reshape(6L).data<float32> ())
    let e = Assert.Throws<TorchException>(fun () -> tt.view (6L) |> ignore)
    Assert.Contains("view", e.Message)

[<Fact>]
let ``cat joins along an existing dimension and stack along a new one`` () =
    use _ = new DisposeScope()
    let a = f32 [ 2L; 2L ] [ 1f; 2f; 3f; 4f ]
    let b = f32 [ 1L; 2L ] [ 5f; 6f ]
    let c = torch.cat ([ a; b ], 0L)
    Assert.Equal<int64[]>([| 3L; 2L |], c.shape)
    Assert.Equal<float32[]>([| 1f; 2f; 3f; 4f; 5f; 6f |], c.data<float32> ())
    let x = f32 [ 2L ] [ 1f; 2f ]
    let y = f32 [ 2L ] [ 3f; 4f ]
    Assert.Equal<float32[]>([| 1f; 2f; 3f; 4f |], torch.stack([ x; y ], 0L).data<float32> ())
    let s1 = torch.stack ([ x; y ], 1L)
    Assert.Equal<int64[]>([| 2L; 2L |], s1.shape)
    Assert.Equal<float32[]>([| 1f; 3f; 2f; 4f |], s1.data<float32> ())
    Assert.Throws<TorchException>(fun () -> torch.cat ([ a; x ], 0L) |> ignore) |> ignore
    Assert.Throws<ArgumentException>(fun () -> torch.cat (List.empty<Tensor>, 0L) |> ignore) |> ignore

[<Fact>]
let ``squeeze removes and unsqueeze inserts a dimension of size one`` () =
    use _ = new DisposeScope()
    let t = f32 [ 3L ] [ 1f; 2f; 3f ]
    Assert.Equal<int64[]>([| 1L; 3L |], t.unsqueeze(0L).shape)
    Assert.Equal<int64[]>([| 3L; 1L |], t.unsqueeze(1L).shape)
    Assert.Equal<int64[]>([| 3L |], t.unsqueeze(1L).squeeze(1L).shape)
    Assert.Equal<int64[]>([| 3L |], t.squeeze(0L).shape)

[<Fact>]
let ``to converts dtypes, truncating floats toward zero`` () =
    use _ = new DisposeScope()
    let t = f32 [ 4L ] [ 1.7f; -1.7f; 2.5f; 0f ]
    let l = t.``to`` DType.Int64
    Assert.Equal(DType.Int64, l.dtype)
    Assert.Equal<int64[]>([| 1L; -1L; 2L; 0L |], l.data<int64> ())
    Assert.Equal<bool[]>([| true; true; true; false |], t.``to``(DType.Bool).data<bool> ())
    Assert.Equal<float32[]>([| 1f; -1f; 2f; 0f |], l.``to``(DType.Float32).data<float32> ())
    Assert.Equal<float[]>([| 1.0; 0.0 |], torch.tensor([| true; false |]).``to``(DType.Float64).data<float> ())

// ---- losses -----------------------------------------------------------------------------------------------------

// d = input - target = [-0.5; 1; -3; 4]; with threshold 2 the last two take the linear branch.
let private lossInput () = f32 [ 4L ] [ 0f; 0f; 0f; 0f ]
let private lossTarget () = f32 [ 4L ] [ 0.5f; -1f; 3f; -4f ]

[<Fact>]
let ``mse loss is the mean of squared differences`` () =
    use _ = new DisposeScope()
    Assert.Equal(6.5625f, nn.functional.mse_loss(lossInput (), lossTarget ()).item<float32> ())
    Assert.Equal<float32[]>([| 0.25f; 1f; 9f; 16f |], nn.functional.mse_loss(lossInput (), lossTarget (), nn.Reduction.None).data<float32> ())
    Assert.Equal(26.25f, nn.functional.mse_loss(lossInput (), lossTarget (), nn.Reduction.Sum).item<float32> ())

[<Fact>]
let ``huber loss is 0.5 d^2 inside delta and delta (|d| - delta/2) outside`` () =
    use _ = new DisposeScope()
    let none = nn.functional.huber_loss(lossInput (), lossTarget (), nn.Reduction.None, delta = 2.0)
    Assert.Equal<float32[]>([| 0.125f; 0.5f; 4f; 6f |], none.data<float32> ())
    // delta = 1 (the default): all but the first take the linear branch.
    let unit = nn.functional.huber_loss(lossInput (), lossTarget (), nn.Reduction.None)
    Assert.Equal<float32[]>([| 0.125f; 0.5f; 2.5f; 3.5f |], unit.data<float32> ())
    Assert.Equal(6.625f / 4.0f, nn.functional.huber_loss(lossInput (), lossTarget ()).item<float32> ())

[<Fact>]
let ``smooth L1 loss is 0.5 d^2 / beta inside beta and |d| - beta/2 outside`` () =
    use _ = new DisposeScope()
    let none = nn.functional.smooth_l1_loss(lossInput (), lossTarget (), nn.Reduction.None, beta = 2.0)
    Assert.Equal<float32[]>([| 0.0625f; 0.25f; 2f; 3f |], none.data<float32> ())
    Assert.Equal(5.3125f, nn.functional.smooth_l1_loss(lossInput (), lossTarget (), nn.Reduction.Sum, beta = 2.0).item<float32> ())

[<Fact>]
let ``losses agree with their scalar formulas on random data`` () =
    let gen =
        gen {
            let! a, b = pairOfArrays
            let! delta = Gen.choose (1, 300) |> Gen.map (fun i -> float i / 100.0)
            return a, b, delta
        }
    check (
        Prop.forAll (Arb.fromGen gen) (fun (a, b, delta) ->
            use _ = new DisposeScope()
            let ta, tb = torch.tensor a, torch.tensor b
            let d = Array.map2 (fun x y -> float x - float y) a b
            let huber x = if abs x <= delta then 0.5 * x * x else delta * (abs x - 0.5 * delta)
            let smooth x = if abs x < delta then 0.5 * x * x / delta else abs x - 0.5 * delta
            let mean f = d |> Array.averageBy f
            let near expected (t: Tensor) = abs (t.item<float> () - expected) <= 1e-5 * max 1.0 (abs expected)
            near (mean (fun x -> x * x)) (nn.functional.mse_loss (ta, tb))
            && near (mean huber) (nn.functional.huber_loss (ta, tb, delta = delta))
            && near (mean smooth) (nn.functional.smooth_l1_loss (ta, tb, beta = delta)))
    )

// ---- autograd ---------------------------------------------------------------------------------------------------

[<Fact>]
let ``a leaf has no gradient before backward`` () =
    use _ = new DisposeScope()
    let x = f32 [ 3L ] [ 1f; -2f; 3f ]
    x.requires_grad <- true
    Assert.True(x.requires_grad)
    Assert.True(x.grad.IsNone)

[<Fact>]
let ``the gradient of sum(x * x) is 2x, and backward accumulates`` () =
    use _ = new DisposeScope()
    let x = f32 [ 3L ] [ 1f; -2f; 3f ]
    x.requires_grad <- true
    (x * x).sum().backward ()
    Assert.Equal<float32[]>([| 2f; -4f; 6f |], x.grad.Value.data<float32> ())
    (x * x).sum().backward ()
    Assert.Equal<float32[]>([| 4f; -8f; 12f |], x.grad.Value.data<float32> ())

[<Fact>]
let ``zero_grad clears accumulated gradients`` () =
    use _ = new DisposeScope()
    let x = f32 [ 3L ] [ 1f; -2f; 3f ]
    x.requires_grad <- true
    use opt = new optim.Adam([ x ])
    (x * x).sum().backward ()
    opt.zero_grad ()
    // libtorch 1.13 zeroes the gradient; PyTorch 2 sets it to None. Either clears it.
    match x.grad with
    | None -> ()
    | Some g -> Assert.Equal<float32[]>([| 0f; 0f; 0f |], g.data<float32> ())
    (x * x).sum().backward ()
    Assert.Equal<float32[]>([| 2f; -4f; 6f |], x.grad.Value.data<float32> ())

[<Fact>]
let ``backward of a non-scalar is a TorchException`` () =
    use _ = new DisposeScope()
    let x = f32 [ 2L ] [ 1f; 2f ]
    x.requires_grad <- true
    let e = Assert.Throws<TorchException>(fun () -> (x * 2.0).backward ())
    Assert.Contains("scalar", e.Message)

[<Fact>]
let ``no_grad stops requires_grad from propagating and restores the previous mode`` () =
    use _ = new DisposeScope()
    let x = f32 [ 2L ] [ 1f; 2f ]
    x.requires_grad <- true
    Assert.True(torch.is_grad_enabled ())
    (use _ = torch.no_grad ()
     Assert.False(torch.is_grad_enabled ())
     Assert.False((x * 2.0).requires_grad)
     (use _ = torch.no_grad ()
      ())
     // Leaving a nested guard restores "disabled", not "enabled".
     Assert.False(torch.is_grad_enabled ())
     Assert.False((x + x).requires_grad))
    Assert.True(torch.is_grad_enabled ())
    Assert.True((x * 2.0).requires_grad)

// Gradients [3; 0] and [4] have joint L2 norm 5.
let private withGradients () =
    let a = f32 [ 2L ] [ 1f; 1f ]
    let b = f32 [ 1L ] [ 1f ]
    a.requires_grad <- true
    b.requires_grad <- true
    ((a * f32 [ 2L ] [ 3f; 0f ]).sum () + (b * f32 [ 1L ] [ 4f ]).sum ()).backward ()
    a, b

[<Fact>]
let ``clip_grad_norm_ returns the norm before clipping and scales the gradients to max_norm`` () =
    use _ = new DisposeScope()
    let a, b = withGradients ()
    let norm = nn.utils.clip_grad_norm_ ([ a; b ], 1.0)
    Assert.Equal(5.0, norm, 5)
    assertAllClose 1e-5 [| 0.6; 0.0 |] (floats a.grad.Value)
    assertAllClose 1e-5 [| 0.8 |] (floats b.grad.Value)

[<Fact>]
let ``clip_grad_norm_ leaves gradients below max_norm unchanged`` () =
    use _ = new DisposeScope()
    let a, b = withGradients ()
    Assert.Equal(5.0, nn.utils.clip_grad_norm_ ([ a; b ], 10.0), 5)
    Assert.Equal<float32[]>([| 3f; 0f |], a.grad.Value.data<float32> ())
    Assert.Equal<float32[]>([| 4f |], b.grad.Value.data<float32> ())

// ---- optimizers against hand-computed scalar updates ---------------------------------------------------------

/// Makes the gradient of the parameter exactly `g` (d/dp sum(p * g) = g) and takes one optimizer step.
let private stepWithGradient (opt: optim.Optimizer) (p: Tensor) (g: float32[]) =
    use _ = new DisposeScope()
    opt.zero_grad ()
    (p * torch.tensor g).sum().backward ()
    opt.step ()

let private gradients =
    [ [| 0.5f; -2.0f; 0.0f; 1e-3f |]; [| 0.1f; 3.0f; -1.0f; 1e-3f |]; [| -0.4f; 0.2f; 2.0f; -5.0f |] ]

[<Fact>]
let ``one Adam step moves each parameter by lr * g / (|g| + eps)`` () =
    use _ = new DisposeScope()
    let p = f32 [ 4L ] [ 1f; 1f; 1f; 1f ]
    p.requires_grad <- true
    use opt = new optim.Adam([ p ], lr = 0.1)
    stepWithGradient opt p gradients.Head
    // Step 1: m = 0.1 g, v = 0.001 g^2; bias-corrected m/sqrt(v) = g/|g|; a zero gradient leaves p alone.
    let expected = gradients.Head |> Array.map (fun g -> let g = float g in 1.0 - 0.1 * g / (abs g + 1e-8))
    assertAllClose 1e-6 expected (floats p)

[<Fact>]
let ``Adam agrees with the scalar Adam rule over several steps, with and without weight decay`` () =
    for wd in [ 0.0; 0.1 ] do
        use _ = new DisposeScope()
        let start = [| 0.5f; -1.0f; 2.0f; 0.25f |]
        let p = torch.tensor start
        p.requires_grad <- true
        let lr, b1, b2, eps = 0.01, 0.8, 0.9, 1e-3
        use opt = new optim.Adam([ p ], lr = lr, beta1 = b1, beta2 = b2, eps = eps, weight_decay = wd)
        let q = start |> Array.map float
        let m = Array.zeroCreate 4
        let v = Array.zeroCreate 4
        gradients
        |> List.iteri (fun k g ->
            stepWithGradient opt p g
            let t = float (k + 1)
            for j in 0..3 do
                let gj = float g[j] + wd * q[j]
                m[j] <- b1 * m[j] + (1.0 - b1) * gj
                v[j] <- b2 * v[j] + (1.0 - b2) * gj * gj
                let mHat = m[j] / (1.0 - b1 ** t)
                let vHat = v[j] / (1.0 - b2 ** t)
                q[j] <- q[j] - lr * mHat / (sqrt vHat + eps)
            assertAllClose 1e-5 q (floats p))

[<Fact>]
let ``one RMSprop step moves each parameter by lr * g / (sqrt((1 - alpha) g^2) + eps)`` () =
    use _ = new DisposeScope()
    let p = f32 [ 4L ] [ 1f; 1f; 1f; 1f ]
    p.requires_grad <- true
    use opt = new optim.RMSprop([ p ], lr = 0.01, alpha = 0.99)
    stepWithGradient opt p gradients.Head
    let expected =
        gradients.Head |> Array.map (fun g -> let g = float g in 1.0 - 0.01 * g / (sqrt (0.01 * g * g) + 1e-8))
    assertAllClose 1e-6 expected (floats p)

[<Fact>]
let ``RMSprop agrees with the scalar rule over several steps, plain, with momentum and centered`` () =
    for momentum, centered in [ 0.0, false; 0.9, false; 0.0, true ] do
        use _ = new DisposeScope()
        let start = [| 0.5f; -1.0f; 2.0f; 0.25f |]
        let p = torch.tensor start
        p.requires_grad <- true
        let lr, alpha, eps = 0.01, 0.9, 1e-3
        use opt = new optim.RMSprop([ p ], lr = lr, alpha = alpha, eps = eps, momentum = momentum, centered = centered)
        let q = start |> Array.map float
        let sq = Array.zeroCreate 4
        let avg = Array.zeroCreate 4
        let buf = Array.zeroCreate 4
        for g in gradients do
            stepWithGradient opt p g
            for j in 0..3 do
                let gj = float g[j]
                sq[j] <- alpha * sq[j] + (1.0 - alpha) * gj * gj
                avg[j] <- alpha * avg[j] + (1.0 - alpha) * gj
                let denom = (if centered then sqrt (sq[j] - avg[j] * avg[j]) else sqrt sq[j]) + eps
                if momentum > 0.0 then
                    buf[j] <- momentum * buf[j] + gj / denom
                    q[j] <- q[j] - lr * buf[j]
                else
                    q[j] <- q[j] - lr * gj / denom
            assertAllClose 1e-5 q (floats p)

[<Fact>]
let ``optimizers reject out-of-range hyperparameters naming them`` () =
    use _ = new DisposeScope()
    let p = f32 [ 1L ] [ 1f ]
    p.requires_grad <- true
    let e = Assert.Throws<ArgumentOutOfRangeException>(fun () -> new optim.Adam([ p ], lr = -1.0) |> ignore)
    Assert.Equal("lr", e.ParamName)
    let e = Assert.Throws<ArgumentOutOfRangeException>(fun () -> new optim.Adam([ p ], beta1 = 1.0) |> ignore)
    Assert.Equal("beta1", e.ParamName)
    let e = Assert.Throws<ArgumentOutOfRangeException>(fun () -> new optim.RMSprop([ p ], alpha = 1.5) |> ignore)
    Assert.Equal("alpha", e.ParamName)
    Assert.Throws<ArgumentException>(fun () -> new optim.Adam(List.empty<Tensor>) |> ignore) |> ignore

// ---- errors and disposal ----------------------------------------------------------------------------------------

[<Fact>]
let ``a libtorch error becomes a TorchException carrying torch's message without its backtrace`` () =
    use _ = new DisposeScope()
    let a = f32 [ 2L; 3L ] [ 1f; 2f; 3f; 4f; 5f; 6f ]
    let e = Assert.Throws<TorchException>(fun () -> a.matmul a |> ignore)
    Assert.Contains("mat1 and mat2 shapes cannot be multiplied (2x3 and 2x3)", e.Message)
    Assert.DoesNotContain("Exception raised from", e.Message)

[<Fact>]
let ``an out-of-range gather index is a TorchException`` () =
    use _ = new DisposeScope()
    let m = f32 [ 1L; 3L ] [ 1f; 2f; 3f ]
    let e = Assert.Throws<TorchException>(fun () -> m.gather(1L, torch.tensor ([| 5L |], [| 1L; 1L |])) |> ignore)
    Assert.Contains("out of bounds", e.Message)

[<Fact>]
let ``a disposed tensor raises ObjectDisposedException when used`` () =
    use _ = new DisposeScope()
    let t = f32 [ 2L ] [ 1f; 2f ]
    let other = f32 [ 2L ] [ 3f; 4f ]
    t.Dispose()
    Assert.True(t.IsDisposed)
    Assert.Throws<ObjectDisposedException>(fun () -> t.shape |> ignore) |> ignore
    Assert.Throws<ObjectDisposedException>(fun () -> t.data<float32> () |> ignore) |> ignore
    Assert.Throws<ObjectDisposedException>(fun () -> other + t |> ignore) |> ignore
    Assert.Equal("Tensor(disposed)", t.ToString())
    t.Dispose() // a second Dispose is harmless
