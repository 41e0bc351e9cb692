/// What the library relies on from TorchSharp's tensors (argmax ties, gather, no_grad, the losses, gradient
/// clipping and the optimizers against scalar rules) and the library's own array helpers (Tensors.ofArray,
/// toArray, copyTo) with their errors.
module Dqn.Fun.Tests.TensorTests

open System
open Expecto
open FsCheck
open FsCheck.FSharp
open TorchSharp
open Dqn.Fun
open Dqn.Fun.Tests.TorchTestSupport
open Dqn.Fun.Tests.TestConfig

// Floats with two decimals in [-100, 100]: exact enough to compare, free of NaN and infinities.
let private smallFloat = Gen.choose (-10000, 10000) |> Gen.map (fun i -> float32 i / 100.0f)

let private floatArray =
    gen {
        let! n = Gen.choose (1, 24)
        return! Gen.arrayOfLength n smallFloat
    }

// ---- argmax and gather ----------------------------------------------------------------------------------------

let private matrix () = f32 [ 2L; 3L ] [ 1f; 5f; 3f; 7f; 2f; 7f ]

// ---- losses -----------------------------------------------------------------------------------------------------

// d = input - target = [-0.5; 1; -3; 4]; with threshold 2 the last two take the linear branch.
let private lossInput () = f32 [ 4L ] [ 0f; 0f; 0f; 0f ]
let private lossTarget () = f32 [ 4L ] [ 0.5f; -1f; 3f; -4f ]

// Gradients [3; 0] and [4] have joint L2 norm 5.
let private withGradients () =
    let a = torch.nn.Parameter(f32 [ 2L ] [ 1f; 1f ])
    let b = torch.nn.Parameter(f32 [ 1L ] [ 1f ])
    ((a * f32 [ 2L ] [ 3f; 0f ]).sum () + (b * f32 [ 1L ] [ 4f ]).sum ()).backward ()
    a, b

// ---- optimizers against hand-computed scalar updates ---------------------------------------------------------

/// Makes the gradient of the parameter exactly `g` (d/dp sum(p * g) = g) and takes one optimizer step.
let private stepWithGradient (opt: torch.optim.Optimizer) (p: Tensor) (g: float32[]) =
    use _ = torch.NewDisposeScope()
    opt.zero_grad ()
    (p * vector g).sum().backward ()
    opt.step () |> ignore

let private gradients =
    [ [| 0.5f; -2.0f; 0.0f; 1e-3f |]; [| 0.1f; 3.0f; -1.0f; 1e-3f |]; [| -0.4f; 0.2f; 2.0f; -5.0f |] ]

[<Tests>]
let tests =
    testList "Tensor" [
        // ---- Tensors.ofArray, toArray, copyTo -------------------------------------------------------------------
        testCase "a float32 array round-trips through a tensor of the given shape" <| fun () ->
            use _ = torch.NewDisposeScope()
            let data = [| 1.5f; -2.0f; 0.0f; 3.25f; 1e-7f; -1e7f |]
            let t = Tensors.ofArray data [| 2L; 3L |] torch.CPU
            Expect.equal t.shape [| 2L; 3L |] "t.shape"
            Expect.equal t.dtype ScalarType.Float32 "t.dtype"
            Expect.equal (t.dim ()) 2L "t.dim ()"
            Expect.equal (t.numel ()) 6L "t.numel ()"
            Expect.equal t.device_type DeviceType.CPU "t.device_type"
            Expect.equal (Tensors.toArray<float32> t) data "Tensors.toArray<float32> t"

        testPropertyWithConfig fsCheck "random float32 arrays round-trip exactly" (
            Prop.forAll (Arb.fromGen floatArray) (fun data ->
                use _ = torch.NewDisposeScope()
                Tensors.toArray<float32> (vector data) = data)
        )

        testCase "int64, uint8 and bool arrays round-trip with their dtypes" <| fun () ->
            use _ = torch.NewDisposeScope()
            let longs = [| Int64.MinValue; -1L; 0L; 1L; Int64.MaxValue; 42L |]
            let l = tensor longs [| 3L; 2L |]
            Expect.equal l.dtype ScalarType.Int64 "l.dtype"
            Expect.equal l.shape [| 3L; 2L |] "l.shape"
            Expect.equal (values<int64> l) longs "values<int64> l"
            let bytes = [| 0uy; 1uy; 127uy; 128uy; 255uy |]
            let b = vector bytes
            Expect.equal b.dtype ScalarType.Byte "b.dtype"
            Expect.equal (values<byte> b) bytes "values<byte> b"
            let bools = [| true; false; false; true |]
            let c = tensor bools [| 2L; 2L |]
            Expect.equal c.dtype ScalarType.Bool "c.dtype"
            Expect.equal (values<bool> c) bools "values<bool> c"

        testCase "item reads a one-element tensor as its own element type and refuses another" <| fun () ->
            use _ = torch.NewDisposeScope()
            Expect.equal ((f32 [] [ 2.5f ]).item<float32> ()) 2.5f "(f32 [] [ 2.5f ]).item<float32> ()"
            Expect.equal ((f32 [ 1L; 1L ] [ 2.5f ]).ToDouble()) 2.5 "(f32 [ 1L; 1L ] [ 2.5f ]).ToDouble()"
            Expect.equal ((vector [| 7L |]).item<int64> ()) 7L "(vector [| 7L |]).item<int64> ()"
            Expect.isTrue ((vector [| true |]).item<bool> ()) "(vector [| true |]).item<bool> ()"
            // TorchSharp does not convert: a Float32 tensor read as a double is an error (use ToDouble).
            let e = Expect.wantThrows<ArgumentException> (fun () -> (f32 [ 1L ] [ 2.5f ]).item<float> () |> ignore) "ArgumentException"
            Expect.stringContains e.Message "Float32" "e.Message"

        testCase "a shape whose element count differs from the data length is an ArgumentException naming both" <| fun () ->
            let e = Expect.wantThrows<ArgumentException> (fun () -> Tensors.ofArray [| 1f; 2f; 3f |] [| 2L; 2L |] torch.CPU |> ignore) "ArgumentException"
            Expect.equal e.ParamName "shape" "e.ParamName"
            Expect.stringContains e.Message "[2; 2]" "e.Message"
            Expect.stringContains e.Message "4 elements" "e.Message"
            Expect.stringContains e.Message "has 3" "e.Message"

        testCase "reading a tensor into an array of another element type is an ArgumentException naming both dtypes" <| fun () ->
            use _ = torch.NewDisposeScope()
            let t = f32 [ 2L ] [ 1f; 2f ]
            let e = Expect.wantThrows<ArgumentException> (fun () -> Tensors.toArray<int64> t |> ignore) "ArgumentException"
            Expect.stringContains e.Message "Float32" "e.Message"
            Expect.stringContains e.Message "Int64" "e.Message"

        testCase "a .NET element type without a tensor dtype is an ArgumentException naming it" <| fun () ->
            let e = Expect.wantThrows<ArgumentException> (fun () -> Tensors.ofArray [| 1us |] [| 1L |] torch.CPU |> ignore) "ArgumentException"
            Expect.stringContains e.Message "UInt16" "e.Message"

        testCase "copyTo reads a non-contiguous tensor in row-major order and checks the destination's length" <| fun () ->
            use _ = torch.NewDisposeScope()
            let t = (f32 [ 2L; 3L ] [ 0f; 1f; 2f; 3f; 4f; 5f ]).transpose (0L, 1L)
            Expect.isFalse (t.is_contiguous ()) "t.is_contiguous ()"
            let destination = Array.zeroCreate<float32> 6
            Tensors.copyTo t (Span destination)
            Expect.equal destination [| 0f; 3f; 1f; 4f; 2f; 5f |] "destination"
            let e = Expect.wantThrows<ArgumentException> (fun () -> Tensors.copyTo t (Span(Array.zeroCreate<float32> 5))) "ArgumentException"
            Expect.equal e.ParamName "destination" "e.ParamName"
            Expect.stringContains e.Message "6 elements" "e.Message"

        testCase "copyTo and toArray free the copies they make of a non-contiguous tensor" <| fun () ->
            let t = f32 [ 2L; 3L ] [ 0f; 1f; 2f; 3f; 4f; 5f ]
            let transposed = t.transpose (0L, 1L)
            let start = liveTensors ()
            Expect.equal (Tensors.toArray<float32> transposed) [| 0f; 3f; 1f; 4f; 2f; 5f |] "Tensors.toArray<float32> transposed"
            Tensors.copyTo transposed (Span(Array.zeroCreate<float32> 6))
            Expect.equal (liveTensors ()) start "liveTensors ()"
            transposed.Dispose()
            t.Dispose()

        // The greedy action and the bootstrap action a* are argmaxes: ties must go to the lowest index.
        testCase "argmax and amax agree with max, and argmax breaks ties toward the lowest index" <| fun () ->
            use _ = torch.NewDisposeScope()
            let m = matrix ()
            Expect.equal (values<int64> (m.argmax 1L)) [| 1L; 0L |] "values<int64> (m.argmax 1L)"
            Expect.equal (m.argmax(1L, keepdim = true).shape) [| 2L; 1L |] "m.argmax(1L, keepdim = true).shape"
            Expect.equal (m.argmax().item<int64> ()) 3L "m.argmax().item<int64> ()"
            Expect.equal (values<float32> (m.amax [| 1L |])) [| 5f; 7f |] "values<float32> (m.amax [| 1L |])"
            Expect.equal (values<float32> (m.amax [| 0L |])) [| 7f; 5f; 7f |] "values<float32> (m.amax [| 0L |])"
            Expect.equal (m.max().item<float32> ()) 7f "m.max().item<float32> ()"
            Expect.equal (m.min().item<float32> ()) 1f "m.min().item<float32> ()"
            Expect.equal (values<int64> ((f32 [ 2L; 3L ] [ 2f; 2f; 2f; 0f; 0f; 0f ]).argmax 1L)) [| 0L; 0L |] "values<int64> ((f32 [ 2L; 3L ] [ 2f; 2f; 2f; 0f; 0f; 0f ]..."

        testCase "gather picks one element per row" <| fun () ->
            use _ = torch.NewDisposeScope()
            let m = f32 [ 2L; 3L ] [ 1f; 2f; 3f; 4f; 5f; 6f ]
            let index = tensor [| 2L; 0L |] [| 2L; 1L |]
            let g = m.gather (1L, index)
            Expect.equal g.shape [| 2L; 1L |] "g.shape"
            Expect.equal (values<float32> g) [| 3f; 4f |] "values<float32> g"

        testCase "mse loss is the mean of squared differences" <| fun () ->
            use _ = torch.NewDisposeScope()
            Expect.equal ((torch.nn.functional.mse_loss (lossInput (), lossTarget ())).item<float32> ()) 6.5625f "(torch.nn.functional.mse_loss (lossInput (), lossTarget (..."
            Expect.equal (values<float32> (torch.nn.functional.mse_loss (lossInput (), lossTarget (), torch.nn.Reduction.None))) [| 0.25f; 1f; 9f; 16f |] "values<float32> (torch.nn.functional.mse_loss (lossInput..."
            Expect.equal ((torch.nn.functional.mse_loss (lossInput (), lossTarget (), torch.nn.Reduction.Sum)).item<float32> ()) 26.25f "(torch.nn.functional.mse_loss (lossInput (), lossTarget (..."

        testCase "huber loss is 0.5 d^2 inside delta and delta (|d| - delta/2) outside" <| fun () ->
            use _ = torch.NewDisposeScope()
            let none = torch.nn.functional.huber_loss (lossInput (), lossTarget (), delta = 2.0, reduction = torch.nn.Reduction.None)
            Expect.equal (values<float32> none) [| 0.125f; 0.5f; 4f; 6f |] "values<float32> none"
            // delta = 1 (the default): all but the first take the linear branch.
            let unit = torch.nn.functional.huber_loss (lossInput (), lossTarget (), reduction = torch.nn.Reduction.None)
            Expect.equal (values<float32> unit) [| 0.125f; 0.5f; 2.5f; 3.5f |] "values<float32> unit"
            Expect.equal ((torch.nn.functional.huber_loss (lossInput (), lossTarget ())).item<float32> ()) (6.625f / 4.0f) "(torch.nn.functional.huber_loss (lossInput (), lossTarget..."

        // ---- autograd ---------------------------------------------------------------------------------------------------
        testCase "zero_grad clears accumulated gradients" <| fun () ->
            use _ = torch.NewDisposeScope()
            let x = torch.nn.Parameter(f32 [ 3L ] [ 1f; -2f; 3f ])
            use opt = torch.optim.Adam([ x ])
            (x * x).sum().backward ()
            opt.zero_grad ()
            // TorchSharp's optimizers zero the gradient; PyTorch 2 sets it to None. Either clears it.
            match x.grad with
            | null -> ()
            | g -> Expect.equal (values<float32> g) [| 0f; 0f; 0f |] "values<float32> g"
            (x * x).sum().backward ()
            Expect.equal (values<float32> x.grad) [| 2f; -4f; 6f |] "values<float32> x.grad"

        testCase "no_grad stops requires_grad from propagating and restores the previous mode" <| fun () ->
            use _ = torch.NewDisposeScope()
            let x = f32 [ 2L ] [ 1f; 2f ]
            x.requires_grad <- true
            Expect.isTrue (torch.is_grad_enabled ()) "torch.is_grad_enabled ()"
            (use _ = torch.no_grad ()
             Expect.isFalse (torch.is_grad_enabled ()) "torch.is_grad_enabled ()"
             Expect.isFalse ((x * 2.0).requires_grad) "(x * 2.0).requires_grad"
             (use _ = torch.no_grad ()
              ())
             // Leaving a nested guard restores "disabled", not "enabled".
             Expect.isFalse (torch.is_grad_enabled ()) "torch.is_grad_enabled ()"
             Expect.isFalse ((x + x).requires_grad) "(x + x).requires_grad")
            Expect.isTrue (torch.is_grad_enabled ()) "torch.is_grad_enabled ()"
            Expect.isTrue ((x * 2.0).requires_grad) "(x * 2.0).requires_grad"

        testCase "clip_grad_norm_ returns the norm before clipping and scales the gradients to max_norm" <| fun () ->
            use _ = torch.NewDisposeScope()
            let a, b = withGradients ()
            let norm = torch.nn.utils.clip_grad_norm_ ([ a; b ], 1.0)
            Expect.floatClose (Accuracy.places 5) norm 5.0 "norm"
            assertAllClose 1e-5 [| 0.6; 0.0 |] (floats a.grad)
            assertAllClose 1e-5 [| 0.8 |] (floats b.grad)

        testCase "clip_grad_norm_ leaves gradients below max_norm unchanged" <| fun () ->
            use _ = torch.NewDisposeScope()
            let a, b = withGradients ()
            Expect.floatClose (Accuracy.places 5) (torch.nn.utils.clip_grad_norm_ ([ a; b ], 10.0)) 5.0 "torch.nn.utils.clip_grad_norm_ ([ a; b ], 10.0)"
            Expect.equal (values<float32> a.grad) [| 3f; 0f |] "values<float32> a.grad"
            Expect.equal (values<float32> b.grad) [| 4f |] "values<float32> b.grad"

        testCase "one Adam step moves each parameter by lr * g / (|g| + eps)" <| fun () ->
            use _ = torch.NewDisposeScope()
            let p = torch.nn.Parameter(f32 [ 4L ] [ 1f; 1f; 1f; 1f ])
            use opt = torch.optim.Adam([ p ], lr = 0.1)
            stepWithGradient opt p gradients.Head
            // Step 1: m = 0.1 g, v = 0.001 g^2; bias-corrected m/sqrt(v) = g/|g|; a zero gradient leaves p alone.
            let expected = gradients.Head |> Array.map (fun g -> let g = float g in 1.0 - 0.1 * g / (abs g + 1e-8))
            assertAllClose 1e-6 expected (floats p)

        testCase "Adam agrees with the scalar Adam rule over several steps, with and without weight decay" <| fun () ->
            for wd in [ 0.0; 0.1 ] do
                use _ = torch.NewDisposeScope()
                let start = [| 0.5f; -1.0f; 2.0f; 0.25f |]
                let p = torch.nn.Parameter(vector start)
                let lr, b1, b2, eps = 0.01, 0.8, 0.9, 1e-3
                use opt = torch.optim.Adam([ p ], lr = lr, beta1 = b1, beta2 = b2, eps = eps, weight_decay = wd)
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

        testCase "one RMSprop step moves each parameter by lr * g / (sqrt((1 - alpha) g^2) + eps)" <| fun () ->
            use _ = torch.NewDisposeScope()
            let p = torch.nn.Parameter(f32 [ 4L ] [ 1f; 1f; 1f; 1f ])
            use opt = torch.optim.RMSProp([ p ], lr = 0.01, alpha = 0.99)
            stepWithGradient opt p gradients.Head
            let expected =
                gradients.Head |> Array.map (fun g -> let g = float g in 1.0 - 0.01 * g / (sqrt (0.01 * g * g) + 1e-8))
            assertAllClose 1e-6 expected (floats p)

        testCase "RMSprop agrees with the scalar rule over several steps, plain, with momentum and centered" <| fun () ->
            for momentum, centered in [ 0.0, false; 0.9, false; 0.0, true ] do
                use _ = torch.NewDisposeScope()
                let start = [| 0.5f; -1.0f; 2.0f; 0.25f |]
                let p = torch.nn.Parameter(vector start)
                let lr, alpha, eps = 0.01, 0.9, 1e-3
                use opt = torch.optim.RMSProp([ p ], lr = lr, alpha = alpha, eps = eps, momentum = momentum, centered = centered)
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
    ]
