module Dqn.Fun.FusedMlp

open System
open System.Runtime.CompilerServices
open System.Runtime.InteropServices
open System.Runtime.Intrinsics
open System.Runtime.Intrinsics.X86

// Layout. Activations are feature-major: layer l's output for a batch is [w_l; columns] with the batch along
// the rows' contiguous dimension (padded to a multiple of 8 columns, pad columns finite, never read back).
// Then every product is C = A·B with B and C row-major and A read element by element through two strides:
//   forward        H_l   [w_l; n]         = W_l [w_l; w_(l-1)] · H_(l-1) [w_(l-1); n]     (A = W_l)
//   input gradient G_(l-1) [w_(l-1); n]   = W_lᵀ · G_l [w_l; n], masked by H_(l-1) > 0    (A = W_lᵀ: strides 1, w_(l-1))
//   weight grad.   dW_l  [w_l; w_(l-1)p]  = G_l [w_l; B] · Hb_(l-1) [B; w_(l-1)p]         (Hb: H transposed, batch-major)
// with C = epilogue(init + Σ_p A[r, p] B[p, ·]), init the bias or 0. The micro-kernels broadcast A's elements
// and keep a 6-row × 2-vector block of C in registers. Weight gradients are stored with rows padded to a
// multiple of 8 columns; the clipping and Adam passes skip the pads.

type internal SimdLevel =
    | Scalar = 0
    | Vector128 = 1
    | Vector256 = 2
    | Vector512 = 3

let internal bestSimd =
    if Vector512.IsHardwareAccelerated then SimdLevel.Vector512
    elif Vector256.IsHardwareAccelerated then SimdLevel.Vector256
    elif Vector128.IsHardwareAccelerated then SimdLevel.Vector128
    else SimdLevel.Scalar

[<RequireQualifiedAccess>]
type LossKind =
    | Huber
    | Mse

type ParameterSpans = delegate of index: int -> Span<float32>

type Settings =
    { Loss: LossKind
      DoubleDqn: bool
      MaxGradNorm: float
      LearningRate: float
      Beta1: float
      Beta2: float
      Epsilon: float }

let defaultSettings =
    { Loss = LossKind.Huber
      DoubleDqn = false
      MaxGradNorm = 0.0
      LearningRate = 1e-3
      Beta1 = 0.9
      Beta2 = 0.999
      Epsilon = 1e-8 }

[<Struct>]
type UpdateResult = { Loss: float; MeanQ: float; Step: int64 }

// Epilogues of a product's output block.
[<Literal>]
let private EpiStore = 0 // C = A·B

[<Literal>]
let private EpiRelu = 1 // C = max(bias + A·B, 0)

[<Literal>]
let private EpiBias = 2 // C = bias + A·B

[<Literal>]
let private EpiMask = 3 // C = A·B where mask > 0, else 0 (ReLU's backward)

/// The smallest normal float32, 2^-126: Adam's moments below it are stored as 0 (when eps > 0).
[<Literal>]
let private SmallestNormal = 1.17549435e-38f

/// The scalar fallback of the kernels, summing in the same order (without fused multiply-adds).
module private KScalar =

    let gemm
        (m: int) (n: int) (k: int)
        (a: byref<float32>) (sam: int) (sak: int)
        (b: byref<float32>) (ldb: int)
        (c: byref<float32>) (ldc: int) (epi: int) (bias: byref<float32>) (mask: byref<float32>) (ldm: int) =
        for i in 0 .. m - 1 do
            let init = if epi = EpiRelu || epi = EpiBias then Unsafe.Add(&bias, i) else 0.0f
            let ci = i * ldc
            for j in 0 .. n - 1 do
                let cr = &Unsafe.Add(&c, ci + j)
                cr <- init
            for p in 0 .. k - 1 do
                let av = Unsafe.Add(&a, i * sam + p * sak)
                let bp = p * ldb
                for j in 0 .. n - 1 do
                    let cr = &Unsafe.Add(&c, ci + j)
                    cr <- cr + av * Unsafe.Add(&b, bp + j)
            if epi = EpiRelu then
                for j in 0 .. n - 1 do
                    let cr = &Unsafe.Add(&c, ci + j)
                    if cr <= 0.0f then cr <- 0.0f
            elif epi = EpiMask then
                for j in 0 .. n - 1 do
                    if Unsafe.Add(&mask, i * ldm + j) <= 0.0f then
                        let cr = &Unsafe.Add(&c, ci + j)
                        cr <- 0.0f
        n

    let gemv (w: byref<float32>) (m: int) (k: int) (x: byref<float32>) (bias: byref<float32>) (relu: bool) (y: byref<float32>) =
        for i in 0 .. m - 1 do
            let mutable t = 0.0f
            for p in 0 .. k - 1 do
                t <- t + Unsafe.Add(&w, i * k + p) * Unsafe.Add(&x, p)
            let v = t + Unsafe.Add(&bias, i)
            let yr = &Unsafe.Add(&y, i)
            yr <- if relu && v <= 0.0f then 0.0f else v

// BEGIN GENERATED KERNELS
/// SIMD kernels on Vector512<float32> (16 lanes). Generated from FusedMlpKernels/kernels.template.fs by FusedMlpKernels/splice.sh:
/// edit the template, not the copies.
module private K512 =

    [<Literal>]
    let Lanes = 16

    /// Stores one accumulator row vector with the epilogue applied.
    [<MethodImpl(MethodImplOptions.AggressiveInlining)>]
    let store (c: byref<float32>) (off: int) (v: Vector512<float32>) (epi: int) (mask: byref<float32>) (moff: int) =
        let r =
            if epi = EpiRelu then
                Vector512.Max(v, Vector512<float32>.Zero)
            elif epi = EpiMask then
                // threshold_backward(grad, h, 0): grad where h > 0 (h <= 0 or not: PyTorch keeps grad for NaN h)
                Vector512.AndNot(v, Vector512.LessThanOrEqual(Vector512.LoadUnsafe(&mask, unativeint moff), Vector512<float32>.Zero))
            else
                v
        Vector512.StoreUnsafe(r, &c, unativeint off)

    /// The 6 × (2·Lanes) micro-kernel: C[r, 0..2·Lanes) = epilogue(init_r + Σ_p A[r·sam + p·sak] · B[p·ldb + ·])
    /// for r < rows (rows in 1..6; rows past the last are computed on the last row's data and not stored).
    /// init_r = bias[r] for the bias epilogues, else 0. Sums run over p in order.
    let kernelWide
        (a: byref<float32>) (sam: int) (sak: int) (rows: int)
        (b: byref<float32>) (ldb: int) (k: int)
        (c: byref<float32>) (ldc: int) (epi: int) (bias: byref<float32>) (mask: byref<float32>) (ldm: int) =
        let last = rows - 1
        let r1 = min 1 last
        let r2 = min 2 last
        let r3 = min 3 last
        let r4 = min 4 last
        let r5 = min 5 last
        // Row base addresses; the loop walks one shared offset along k.
        let a0 = &a
        let a1 = &Unsafe.Add(&a, r1 * sam)
        let a2 = &Unsafe.Add(&a, r2 * sam)
        let a3 = &Unsafe.Add(&a, r3 * sam)
        let a4 = &Unsafe.Add(&a, r4 * sam)
        let a5 = &Unsafe.Add(&a, r5 * sam)
        let mutable c00 = Vector512<float32>.Zero
        let mutable c01 = Vector512<float32>.Zero
        let mutable c10 = Vector512<float32>.Zero
        let mutable c11 = Vector512<float32>.Zero
        let mutable c20 = Vector512<float32>.Zero
        let mutable c21 = Vector512<float32>.Zero
        let mutable c30 = Vector512<float32>.Zero
        let mutable c31 = Vector512<float32>.Zero
        let mutable c40 = Vector512<float32>.Zero
        let mutable c41 = Vector512<float32>.Zero
        let mutable c50 = Vector512<float32>.Zero
        let mutable c51 = Vector512<float32>.Zero
        if epi = EpiRelu || epi = EpiBias then
            c00 <- Vector512.Create(Unsafe.Add(&bias, 0))
            c01 <- c00
            c10 <- Vector512.Create(Unsafe.Add(&bias, r1))
            c11 <- c10
            c20 <- Vector512.Create(Unsafe.Add(&bias, r2))
            c21 <- c20
            c30 <- Vector512.Create(Unsafe.Add(&bias, r3))
            c31 <- c30
            c40 <- Vector512.Create(Unsafe.Add(&bias, r4))
            c41 <- c40
            c50 <- Vector512.Create(Unsafe.Add(&bias, r5))
            c51 <- c50
        let stepA = nativeint sak
        let stepB = unativeint ldb
        let mutable pa = 0n
        let mutable pb = 0un
        let mutable left = k
        while left > 0 do
            let b0 = Vector512.LoadUnsafe(&b, pb)
            let b1 = Vector512.LoadUnsafe(&b, pb + unativeint Lanes)
            let x0 = Vector512.Create(Unsafe.Add(&a0, pa))
            c00 <- Vector512.MultiplyAddEstimate(x0, b0, c00)
            c01 <- Vector512.MultiplyAddEstimate(x0, b1, c01)
            let x1 = Vector512.Create(Unsafe.Add(&a1, pa))
            c10 <- Vector512.MultiplyAddEstimate(x1, b0, c10)
            c11 <- Vector512.MultiplyAddEstimate(x1, b1, c11)
            let x2 = Vector512.Create(Unsafe.Add(&a2, pa))
            c20 <- Vector512.MultiplyAddEstimate(x2, b0, c20)
            c21 <- Vector512.MultiplyAddEstimate(x2, b1, c21)
            let x3 = Vector512.Create(Unsafe.Add(&a3, pa))
            c30 <- Vector512.MultiplyAddEstimate(x3, b0, c30)
            c31 <- Vector512.MultiplyAddEstimate(x3, b1, c31)
            let x4 = Vector512.Create(Unsafe.Add(&a4, pa))
            c40 <- Vector512.MultiplyAddEstimate(x4, b0, c40)
            c41 <- Vector512.MultiplyAddEstimate(x4, b1, c41)
            let x5 = Vector512.Create(Unsafe.Add(&a5, pa))
            c50 <- Vector512.MultiplyAddEstimate(x5, b0, c50)
            c51 <- Vector512.MultiplyAddEstimate(x5, b1, c51)
            pa <- pa + stepA
            pb <- pb + stepB
            left <- left - 1
        store &c 0 c00 epi &mask 0
        store &c Lanes c01 epi &mask Lanes
        if rows > 1 then
            store &c ldc c10 epi &mask ldm
            store &c (ldc + Lanes) c11 epi &mask (ldm + Lanes)
        if rows > 2 then
            store &c (2 * ldc) c20 epi &mask (2 * ldm)
            store &c (2 * ldc + Lanes) c21 epi &mask (2 * ldm + Lanes)
        if rows > 3 then
            store &c (3 * ldc) c30 epi &mask (3 * ldm)
            store &c (3 * ldc + Lanes) c31 epi &mask (3 * ldm + Lanes)
        if rows > 4 then
            store &c (4 * ldc) c40 epi &mask (4 * ldm)
            store &c (4 * ldc + Lanes) c41 epi &mask (4 * ldm + Lanes)
        if rows > 5 then
            store &c (5 * ldc) c50 epi &mask (5 * ldm)
            store &c (5 * ldc + Lanes) c51 epi &mask (5 * ldm + Lanes)

    /// kernelWide for one vector of columns (6 × Lanes).
    let kernelNarrow
        (a: byref<float32>) (sam: int) (sak: int) (rows: int)
        (b: byref<float32>) (ldb: int) (k: int)
        (c: byref<float32>) (ldc: int) (epi: int) (bias: byref<float32>) (mask: byref<float32>) (ldm: int) =
        let last = rows - 1
        let r1 = min 1 last
        let r2 = min 2 last
        let r3 = min 3 last
        let r4 = min 4 last
        let r5 = min 5 last
        let a0 = &a
        let a1 = &Unsafe.Add(&a, r1 * sam)
        let a2 = &Unsafe.Add(&a, r2 * sam)
        let a3 = &Unsafe.Add(&a, r3 * sam)
        let a4 = &Unsafe.Add(&a, r4 * sam)
        let a5 = &Unsafe.Add(&a, r5 * sam)
        let mutable c0 = Vector512<float32>.Zero
        let mutable c1 = Vector512<float32>.Zero
        let mutable c2 = Vector512<float32>.Zero
        let mutable c3 = Vector512<float32>.Zero
        let mutable c4 = Vector512<float32>.Zero
        let mutable c5 = Vector512<float32>.Zero
        if epi = EpiRelu || epi = EpiBias then
            c0 <- Vector512.Create(Unsafe.Add(&bias, 0))
            c1 <- Vector512.Create(Unsafe.Add(&bias, r1))
            c2 <- Vector512.Create(Unsafe.Add(&bias, r2))
            c3 <- Vector512.Create(Unsafe.Add(&bias, r3))
            c4 <- Vector512.Create(Unsafe.Add(&bias, r4))
            c5 <- Vector512.Create(Unsafe.Add(&bias, r5))
        let stepA = nativeint sak
        let stepB = unativeint ldb
        let mutable pa = 0n
        let mutable pb = 0un
        let mutable left = k
        while left > 0 do
            let b0 = Vector512.LoadUnsafe(&b, pb)
            c0 <- Vector512.MultiplyAddEstimate(Vector512.Create(Unsafe.Add(&a0, pa)), b0, c0)
            c1 <- Vector512.MultiplyAddEstimate(Vector512.Create(Unsafe.Add(&a1, pa)), b0, c1)
            c2 <- Vector512.MultiplyAddEstimate(Vector512.Create(Unsafe.Add(&a2, pa)), b0, c2)
            c3 <- Vector512.MultiplyAddEstimate(Vector512.Create(Unsafe.Add(&a3, pa)), b0, c3)
            c4 <- Vector512.MultiplyAddEstimate(Vector512.Create(Unsafe.Add(&a4, pa)), b0, c4)
            c5 <- Vector512.MultiplyAddEstimate(Vector512.Create(Unsafe.Add(&a5, pa)), b0, c5)
            pa <- pa + stepA
            pb <- pb + stepB
            left <- left - 1
        store &c 0 c0 epi &mask 0
        if rows > 1 then store &c ldc c1 epi &mask ldm
        if rows > 2 then store &c (2 * ldc) c2 epi &mask (2 * ldm)
        if rows > 3 then store &c (3 * ldc) c3 epi &mask (3 * ldm)
        if rows > 4 then store &c (4 * ldc) c4 epi &mask (4 * ldm)
        if rows > 5 then store &c (5 * ldc) c5 epi &mask (5 * ldm)

    /// C[m; n] = epilogue(init + A B) over the leading columns that whole vectors cover (panels of 2·Lanes,
    /// then at most one of Lanes); returns how many columns it did. A is read as A[r·sam + p·sak]. When B
    /// (k × n) fits in L1 (32 KB: the 128-wide layers at batch 64), blocks of 6 rows go outside and column
    /// panels inside, so that a row block of A stays in L1 while B is swept once per row block; otherwise
    /// column panels go outside, each k × 2·Lanes panel of B staying in L1 while A streams from L2.
    let gemm
        (m: int) (n: int) (k: int)
        (a: byref<float32>) (sam: int) (sak: int)
        (b: byref<float32>) (ldb: int)
        (c: byref<float32>) (ldc: int) (epi: int) (bias: byref<float32>) (mask: byref<float32>) (ldm: int) =
        let wide = n / (2 * Lanes) * (2 * Lanes)
        let narrow = if n - wide >= Lanes then Lanes else 0
        if int64 k * int64 n <= 8192L then
            let mutable i = 0
            while i < m do
                let rows = min 6 (m - i)
                let ai = &Unsafe.Add(&a, i * sam)
                let biasi = &Unsafe.Add(&bias, i)
                let mutable j = 0
                while j < wide do
                    let bj = &Unsafe.Add(&b, j)
                    let cij = &Unsafe.Add(&c, i * ldc + j)
                    let mij = &Unsafe.Add(&mask, i * ldm + j)
                    kernelWide &ai sam sak rows &bj ldb k &cij ldc epi &biasi &mij ldm
                    j <- j + 2 * Lanes
                if narrow > 0 then
                    let bj = &Unsafe.Add(&b, j)
                    let cij = &Unsafe.Add(&c, i * ldc + j)
                    let mij = &Unsafe.Add(&mask, i * ldm + j)
                    kernelNarrow &ai sam sak rows &bj ldb k &cij ldc epi &biasi &mij ldm
                i <- i + 6
        else
            let mutable j = 0
            while j < wide + narrow do
                let bj = &Unsafe.Add(&b, j)
                let mutable i = 0
                while i < m do
                    let rows = min 6 (m - i)
                    let ai = &Unsafe.Add(&a, i * sam)
                    let biasi = &Unsafe.Add(&bias, i)
                    let cij = &Unsafe.Add(&c, i * ldc + j)
                    let mij = &Unsafe.Add(&mask, i * ldm + j)
                    if j < wide then
                        kernelWide &ai sam sak rows &bj ldb k &cij ldc epi &biasi &mij ldm
                    else
                        kernelNarrow &ai sam sak rows &bj ldb k &cij ldc epi &biasi &mij ldm
                    i <- i + 6
                j <- j + (if j < wide then 2 * Lanes else Lanes)
        wide + narrow

    /// y[i] = act(Σ_p W[i·k + p] x[p] + bias[i]) for i &lt; m (act: ReLU or identity): the matrix-vector product of
    /// a batch of one, four rows at a time with the sums along k in vectors.
    let gemv (w: byref<float32>) (m: int) (k: int) (x: byref<float32>) (bias: byref<float32>) (relu: bool) (y: byref<float32>) =
        let kv = k - k % Lanes
        let inline act (v: float32) = if relu && v <= 0.0f then 0.0f else v
        let mutable i = 0
        while i + 4 <= m do
            let r0 = i * k
            let r1 = r0 + k
            let r2 = r1 + k
            let r3 = r2 + k
            let mutable s0 = Vector512<float32>.Zero
            let mutable s1 = Vector512<float32>.Zero
            let mutable s2 = Vector512<float32>.Zero
            let mutable s3 = Vector512<float32>.Zero
            let mutable p = 0
            while p < kv do
                let xv = Vector512.LoadUnsafe(&x, unativeint p)
                s0 <- Vector512.MultiplyAddEstimate(Vector512.LoadUnsafe(&w, unativeint (r0 + p)), xv, s0)
                s1 <- Vector512.MultiplyAddEstimate(Vector512.LoadUnsafe(&w, unativeint (r1 + p)), xv, s1)
                s2 <- Vector512.MultiplyAddEstimate(Vector512.LoadUnsafe(&w, unativeint (r2 + p)), xv, s2)
                s3 <- Vector512.MultiplyAddEstimate(Vector512.LoadUnsafe(&w, unativeint (r3 + p)), xv, s3)
                p <- p + Lanes
            let mutable t0 = Vector512.Sum s0
            let mutable t1 = Vector512.Sum s1
            let mutable t2 = Vector512.Sum s2
            let mutable t3 = Vector512.Sum s3
            while p < k do
                let xp = Unsafe.Add(&x, p)
                t0 <- t0 + Unsafe.Add(&w, r0 + p) * xp
                t1 <- t1 + Unsafe.Add(&w, r1 + p) * xp
                t2 <- t2 + Unsafe.Add(&w, r2 + p) * xp
                t3 <- t3 + Unsafe.Add(&w, r3 + p) * xp
                p <- p + 1
            Unsafe.Add(&y, i) <- act (t0 + Unsafe.Add(&bias, i))
            Unsafe.Add(&y, i + 1) <- act (t1 + Unsafe.Add(&bias, i + 1))
            Unsafe.Add(&y, i + 2) <- act (t2 + Unsafe.Add(&bias, i + 2))
            Unsafe.Add(&y, i + 3) <- act (t3 + Unsafe.Add(&bias, i + 3))
            i <- i + 4
        while i < m do
            let r0 = i * k
            let mutable s0 = Vector512<float32>.Zero
            let mutable p = 0
            while p < kv do
                s0 <- Vector512.MultiplyAddEstimate(Vector512.LoadUnsafe(&w, unativeint (r0 + p)), Vector512.LoadUnsafe(&x, unativeint p), s0)
                p <- p + Lanes
            let mutable t0 = Vector512.Sum s0
            while p < k do
                t0 <- t0 + Unsafe.Add(&w, r0 + p) * Unsafe.Add(&x, p)
                p <- p + 1
            Unsafe.Add(&y, i) <- act (t0 + Unsafe.Add(&bias, i))
            i <- i + 1

    /// Σ x[0..n) over whole vectors, in float32; returns (sum, elements done).
    let sum (x: byref<float32>) (n: int) =
        let mutable s0 = Vector512<float32>.Zero
        let mutable s1 = Vector512<float32>.Zero
        let mutable p = 0
        while p + 2 * Lanes <= n do
            s0 <- s0 + Vector512.LoadUnsafe(&x, unativeint p)
            s1 <- s1 + Vector512.LoadUnsafe(&x, unativeint (p + Lanes))
            p <- p + 2 * Lanes
        if p + Lanes <= n then
            s0 <- s0 + Vector512.LoadUnsafe(&x, unativeint p)
            p <- p + Lanes
        struct (Vector512.Sum(s0 + s1), p)

    /// Σ x[0..n)² over whole vectors, accumulated in float64; returns (sum, elements done).
    let sumSquares (x: byref<float32>) (n: int) =
        let mutable s0 = Vector512<float>.Zero
        let mutable s1 = Vector512<float>.Zero
        let mutable p = 0
        while p + Lanes <= n do
            let struct (lo, hi) = Vector512.Widen(Vector512.LoadUnsafe(&x, unativeint p))
            s0 <- Vector512.MultiplyAddEstimate(lo, lo, s0)
            s1 <- Vector512.MultiplyAddEstimate(hi, hi, s1)
            p <- p + Lanes
        struct (Vector512.Sum(s0 + s1), p)

    /// One Adam step over whole vectors of p, m, v with gradient g (times `scale` when `scaled`), in
    /// TorchSharp's order (see Adam.cs): m = m·β1 + (1−β1)·g (fused, as ATen's add_ with alpha);
    /// v = v·β2 + (1−β2)·g·g (addcmul_); denom = sqrt(v) / sqrt(bc2) + eps; p = p + (−lr/bc1)·m / denom
    /// (addcdiv_). m and v below `tiny` in magnitude are stored as 0 (the smallest normal float32 when eps > 0,
    /// else 0: subnormals cost a microcode assist per operation on x86; NaN is kept). Returns the elements
    /// done.
    let adam
        (p: byref<float32>) (m: byref<float32>) (v: byref<float32>) (g: byref<float32>) (n: int)
        (scaled: bool) (scale: float32) (beta1: float32) (oneMinusBeta1: float32) (beta2: float32)
        (oneMinusBeta2: float32) (sqrtBc2: float32) (eps: float32) (negStepSize: float32) (tiny: float32) =
        let vb1 = Vector512.Create beta1
        let vob1 = Vector512.Create oneMinusBeta1
        let vb2 = Vector512.Create beta2
        let vob2 = Vector512.Create oneMinusBeta2
        let vsq = Vector512.Create sqrtBc2
        let veps = Vector512.Create eps
        let vstep = Vector512.Create negStepSize
        let vscale = Vector512.Create scale
        let vtiny = Vector512.Create tiny
        let mutable i = 0
        while i + Lanes <= n do
            let o = unativeint i
            let gv0 = Vector512.LoadUnsafe(&g, o)
            let gv = if scaled then gv0 * vscale else gv0
            let mv0 = Vector512.MultiplyAddEstimate(gv, vob1, Vector512.LoadUnsafe(&m, o) * vb1)
            let mv = Vector512.AndNot(mv0, Vector512.LessThan(Vector512.Abs mv0, vtiny))
            let vv0 = Vector512.LoadUnsafe(&v, o) * vb2 + vob2 * gv * gv
            let vv = Vector512.AndNot(vv0, Vector512.LessThan(vv0, vtiny))
            let denom = Vector512.Sqrt vv / vsq + veps
            let pv = Vector512.LoadUnsafe(&p, o) + vstep * mv / denom
            Vector512.StoreUnsafe(mv, &m, o)
            Vector512.StoreUnsafe(vv, &v, o)
            Vector512.StoreUnsafe(pv, &p, o)
            i <- i + Lanes
        i

/// SIMD kernels on Vector256<float32> (8 lanes). Generated from FusedMlpKernels/kernels.template.fs by FusedMlpKernels/splice.sh:
/// edit the template, not the copies.
module private K256 =

    [<Literal>]
    let Lanes = 8

    /// Stores one accumulator row vector with the epilogue applied.
    [<MethodImpl(MethodImplOptions.AggressiveInlining)>]
    let store (c: byref<float32>) (off: int) (v: Vector256<float32>) (epi: int) (mask: byref<float32>) (moff: int) =
        let r =
            if epi = EpiRelu then
                Vector256.Max(v, Vector256<float32>.Zero)
            elif epi = EpiMask then
                // threshold_backward(grad, h, 0): grad where h > 0 (h <= 0 or not: PyTorch keeps grad for NaN h)
                Vector256.AndNot(v, Vector256.LessThanOrEqual(Vector256.LoadUnsafe(&mask, unativeint moff), Vector256<float32>.Zero))
            else
                v
        Vector256.StoreUnsafe(r, &c, unativeint off)

    /// The 6 × (2·Lanes) micro-kernel: C[r, 0..2·Lanes) = epilogue(init_r + Σ_p A[r·sam + p·sak] · B[p·ldb + ·])
    /// for r < rows (rows in 1..6; rows past the last are computed on the last row's data and not stored).
    /// init_r = bias[r] for the bias epilogues, else 0. Sums run over p in order.
    let kernelWide
        (a: byref<float32>) (sam: int) (sak: int) (rows: int)
        (b: byref<float32>) (ldb: int) (k: int)
        (c: byref<float32>) (ldc: int) (epi: int) (bias: byref<float32>) (mask: byref<float32>) (ldm: int) =
        let last = rows - 1
        let r1 = min 1 last
        let r2 = min 2 last
        let r3 = min 3 last
        let r4 = min 4 last
        let r5 = min 5 last
        // Row base addresses; the loop walks one shared offset along k.
        let a0 = &a
        let a1 = &Unsafe.Add(&a, r1 * sam)
        let a2 = &Unsafe.Add(&a, r2 * sam)
        let a3 = &Unsafe.Add(&a, r3 * sam)
        let a4 = &Unsafe.Add(&a, r4 * sam)
        let a5 = &Unsafe.Add(&a, r5 * sam)
        let mutable c00 = Vector256<float32>.Zero
        let mutable c01 = Vector256<float32>.Zero
        let mutable c10 = Vector256<float32>.Zero
        let mutable c11 = Vector256<float32>.Zero
        let mutable c20 = Vector256<float32>.Zero
        let mutable c21 = Vector256<float32>.Zero
        let mutable c30 = Vector256<float32>.Zero
        let mutable c31 = Vector256<float32>.Zero
        let mutable c40 = Vector256<float32>.Zero
        let mutable c41 = Vector256<float32>.Zero
        let mutable c50 = Vector256<float32>.Zero
        let mutable c51 = Vector256<float32>.Zero
        if epi = EpiRelu || epi = EpiBias then
            c00 <- Vector256.Create(Unsafe.Add(&bias, 0))
            c01 <- c00
            c10 <- Vector256.Create(Unsafe.Add(&bias, r1))
            c11 <- c10
            c20 <- Vector256.Create(Unsafe.Add(&bias, r2))
            c21 <- c20
            c30 <- Vector256.Create(Unsafe.Add(&bias, r3))
            c31 <- c30
            c40 <- Vector256.Create(Unsafe.Add(&bias, r4))
            c41 <- c40
            c50 <- Vector256.Create(Unsafe.Add(&bias, r5))
            c51 <- c50
        let stepA = nativeint sak
        let stepB = unativeint ldb
        let mutable pa = 0n
        let mutable pb = 0un
        let mutable left = k
        while left > 0 do
            let b0 = Vector256.LoadUnsafe(&b, pb)
            let b1 = Vector256.LoadUnsafe(&b, pb + unativeint Lanes)
            let x0 = Vector256.Create(Unsafe.Add(&a0, pa))
            c00 <- Vector256.MultiplyAddEstimate(x0, b0, c00)
            c01 <- Vector256.MultiplyAddEstimate(x0, b1, c01)
            let x1 = Vector256.Create(Unsafe.Add(&a1, pa))
            c10 <- Vector256.MultiplyAddEstimate(x1, b0, c10)
            c11 <- Vector256.MultiplyAddEstimate(x1, b1, c11)
            let x2 = Vector256.Create(Unsafe.Add(&a2, pa))
            c20 <- Vector256.MultiplyAddEstimate(x2, b0, c20)
            c21 <- Vector256.MultiplyAddEstimate(x2, b1, c21)
            let x3 = Vector256.Create(Unsafe.Add(&a3, pa))
            c30 <- Vector256.MultiplyAddEstimate(x3, b0, c30)
            c31 <- Vector256.MultiplyAddEstimate(x3, b1, c31)
            let x4 = Vector256.Create(Unsafe.Add(&a4, pa))
            c40 <- Vector256.MultiplyAddEstimate(x4, b0, c40)
            c41 <- Vector256.MultiplyAddEstimate(x4, b1, c41)
            let x5 = Vector256.Create(Unsafe.Add(&a5, pa))
            c50 <- Vector256.MultiplyAddEstimate(x5, b0, c50)
            c51 <- Vector256.MultiplyAddEstimate(x5, b1, c51)
            pa <- pa + stepA
            pb <- pb + stepB
            left <- left - 1
        store &c 0 c00 epi &mask 0
        store &c Lanes c01 epi &mask Lanes
        if rows > 1 then
            store &c ldc c10 epi &mask ldm
            store &c (ldc + Lanes) c11 epi &mask (ldm + Lanes)
        if rows > 2 then
            store &c (2 * ldc) c20 epi &mask (2 * ldm)
            store &c (2 * ldc + Lanes) c21 epi &mask (2 * ldm + Lanes)
        if rows > 3 then
            store &c (3 * ldc) c30 epi &mask (3 * ldm)
            store &c (3 * ldc + Lanes) c31 epi &mask (3 * ldm + Lanes)
        if rows > 4 then
            store &c (4 * ldc) c40 epi &mask (4 * ldm)
            store &c (4 * ldc + Lanes) c41 epi &mask (4 * ldm + Lanes)
        if rows > 5 then
            store &c (5 * ldc) c50 epi &mask (5 * ldm)
            store &c (5 * ldc + Lanes) c51 epi &mask (5 * ldm + Lanes)

    /// kernelWide for one vector of columns (6 × Lanes).
    let kernelNarrow
        (a: byref<float32>) (sam: int) (sak: int) (rows: int)
        (b: byref<float32>) (ldb: int) (k: int)
        (c: byref<float32>) (ldc: int) (epi: int) (bias: byref<float32>) (mask: byref<float32>) (ldm: int) =
        let last = rows - 1
        let r1 = min 1 last
        let r2 = min 2 last
        let r3 = min 3 last
        let r4 = min 4 last
        let r5 = min 5 last
        let a0 = &a
        let a1 = &Unsafe.Add(&a, r1 * sam)
        let a2 = &Unsafe.Add(&a, r2 * sam)
        let a3 = &Unsafe.Add(&a, r3 * sam)
        let a4 = &Unsafe.Add(&a, r4 * sam)
        let a5 = &Unsafe.Add(&a, r5 * sam)
        let mutable c0 = Vector256<float32>.Zero
        let mutable c1 = Vector256<float32>.Zero
        let mutable c2 = Vector256<float32>.Zero
        let mutable c3 = Vector256<float32>.Zero
        let mutable c4 = Vector256<float32>.Zero
        let mutable c5 = Vector256<float32>.Zero
        if epi = EpiRelu || epi = EpiBias then
            c0 <- Vector256.Create(Unsafe.Add(&bias, 0))
            c1 <- Vector256.Create(Unsafe.Add(&bias, r1))
            c2 <- Vector256.Create(Unsafe.Add(&bias, r2))
            c3 <- Vector256.Create(Unsafe.Add(&bias, r3))
            c4 <- Vector256.Create(Unsafe.Add(&bias, r4))
            c5 <- Vector256.Create(Unsafe.Add(&bias, r5))
        let stepA = nativeint sak
        let stepB = unativeint ldb
        let mutable pa = 0n
        let mutable pb = 0un
        let mutable left = k
        while left > 0 do
            let b0 = Vector256.LoadUnsafe(&b, pb)
            c0 <- Vector256.MultiplyAddEstimate(Vector256.Create(Unsafe.Add(&a0, pa)), b0, c0)
            c1 <- Vector256.MultiplyAddEstimate(Vector256.Create(Unsafe.Add(&a1, pa)), b0, c1)
            c2 <- Vector256.MultiplyAddEstimate(Vector256.Create(Unsafe.Add(&a2, pa)), b0, c2)
            c3 <- Vector256.MultiplyAddEstimate(Vector256.Create(Unsafe.Add(&a3, pa)), b0, c3)
            c4 <- Vector256.MultiplyAddEstimate(Vector256.Create(Unsafe.Add(&a4, pa)), b0, c4)
            c5 <- Vector256.MultiplyAddEstimate(Vector256.Create(Unsafe.Add(&a5, pa)), b0, c5)
            pa <- pa + stepA
            pb <- pb + stepB
            left <- left - 1
        store &c 0 c0 epi &mask 0
        if rows > 1 then store &c ldc c1 epi &mask ldm
        if rows > 2 then store &c (2 * ldc) c2 epi &mask (2 * ldm)
        if rows > 3 then store &c (3 * ldc) c3 epi &mask (3 * ldm)
        if rows > 4 then store &c (4 * ldc) c4 epi &mask (4 * ldm)
        if rows > 5 then store &c (5 * ldc) c5 epi &mask (5 * ldm)

    /// C[m; n] = epilogue(init + A B) over the leading columns that whole vectors cover (panels of 2·Lanes,
    /// then at most one of Lanes); returns how many columns it did. A is read as A[r·sam + p·sak]. When B
    /// (k × n) fits in L1 (32 KB: the 128-wide layers at batch 64), blocks of 6 rows go outside and column
    /// panels inside, so that a row block of A stays in L1 while B is swept once per row block; otherwise
    /// column panels go outside, each k × 2·Lanes panel of B staying in L1 while A streams from L2.
    let gemm
        (m: int) (n: int) (k: int)
        (a: byref<float32>) (sam: int) (sak: int)
        (b: byref<float32>) (ldb: int)
        (c: byref<float32>) (ldc: int) (epi: int) (bias: byref<float32>) (mask: byref<float32>) (ldm: int) =
        let wide = n / (2 * Lanes) * (2 * Lanes)
        let narrow = if n - wide >= Lanes then Lanes else 0
        if int64 k * int64 n <= 8192L then
            let mutable i = 0
            while i < m do
                let rows = min 6 (m - i)
                let ai = &Unsafe.Add(&a, i * sam)
                let biasi = &Unsafe.Add(&bias, i)
                let mutable j = 0
                while j < wide do
                    let bj = &Unsafe.Add(&b, j)
                    let cij = &Unsafe.Add(&c, i * ldc + j)
                    let mij = &Unsafe.Add(&mask, i * ldm + j)
                    kernelWide &ai sam sak rows &bj ldb k &cij ldc epi &biasi &mij ldm
                    j <- j + 2 * Lanes
                if narrow > 0 then
                    let bj = &Unsafe.Add(&b, j)
                    let cij = &Unsafe.Add(&c, i * ldc + j)
                    let mij = &Unsafe.Add(&mask, i * ldm + j)
                    kernelNarrow &ai sam sak rows &bj ldb k &cij ldc epi &biasi &mij ldm
                i <- i + 6
        else
            let mutable j = 0
            while j < wide + narrow do
                let bj = &Unsafe.Add(&b, j)
                let mutable i = 0
                while i < m do
                    let rows = min 6 (m - i)
                    let ai = &Unsafe.Add(&a, i * sam)
                    let biasi = &Unsafe.Add(&bias, i)
                    let cij = &Unsafe.Add(&c, i * ldc + j)
                    let mij = &Unsafe.Add(&mask, i * ldm + j)
                    if j < wide then
                        kernelWide &ai sam sak rows &bj ldb k &cij ldc epi &biasi &mij ldm
                    else
                        kernelNarrow &ai sam sak rows &bj ldb k &cij ldc epi &biasi &mij ldm
                    i <- i + 6
                j <- j + (if j < wide then 2 * Lanes else Lanes)
        wide + narrow

    /// y[i] = act(Σ_p W[i·k + p] x[p] + bias[i]) for i &lt; m (act: ReLU or identity): the matrix-vector product of
    /// a batch of one, four rows at a time with the sums along k in vectors.
    let gemv (w: byref<float32>) (m: int) (k: int) (x: byref<float32>) (bias: byref<float32>) (relu: bool) (y: byref<float32>) =
        let kv = k - k % Lanes
        let inline act (v: float32) = if relu && v <= 0.0f then 0.0f else v
        let mutable i = 0
        while i + 4 <= m do
            let r0 = i * k
            let r1 = r0 + k
            let r2 = r1 + k
            let r3 = r2 + k
            let mutable s0 = Vector256<float32>.Zero
            let mutable s1 = Vector256<float32>.Zero
            let mutable s2 = Vector256<float32>.Zero
            let mutable s3 = Vector256<float32>.Zero
            let mutable p = 0
            while p < kv do
                let xv = Vector256.LoadUnsafe(&x, unativeint p)
                s0 <- Vector256.MultiplyAddEstimate(Vector256.LoadUnsafe(&w, unativeint (r0 + p)), xv, s0)
                s1 <- Vector256.MultiplyAddEstimate(Vector256.LoadUnsafe(&w, unativeint (r1 + p)), xv, s1)
                s2 <- Vector256.MultiplyAddEstimate(Vector256.LoadUnsafe(&w, unativeint (r2 + p)), xv, s2)
                s3 <- Vector256.MultiplyAddEstimate(Vector256.LoadUnsafe(&w, unativeint (r3 + p)), xv, s3)
                p <- p + Lanes
            let mutable t0 = Vector256.Sum s0
            let mutable t1 = Vector256.Sum s1
            let mutable t2 = Vector256.Sum s2
            let mutable t3 = Vector256.Sum s3
            while p < k do
                let xp = Unsafe.Add(&x, p)
                t0 <- t0 + Unsafe.Add(&w, r0 + p) * xp
                t1 <- t1 + Unsafe.Add(&w, r1 + p) * xp
                t2 <- t2 + Unsafe.Add(&w, r2 + p) * xp
                t3 <- t3 + Unsafe.Add(&w, r3 + p) * xp
                p <- p + 1
            Unsafe.Add(&y, i) <- act (t0 + Unsafe.Add(&bias, i))
            Unsafe.Add(&y, i + 1) <- act (t1 + Unsafe.Add(&bias, i + 1))
            Unsafe.Add(&y, i + 2) <- act (t2 + Unsafe.Add(&bias, i + 2))
            Unsafe.Add(&y, i + 3) <- act (t3 + Unsafe.Add(&bias, i + 3))
            i <- i + 4
        while i < m do
            let r0 = i * k
            let mutable s0 = Vector256<float32>.Zero
            let mutable p = 0
            while p < kv do
                s0 <- Vector256.MultiplyAddEstimate(Vector256.LoadUnsafe(&w, unativeint (r0 + p)), Vector256.LoadUnsafe(&x, unativeint p), s0)
                p <- p + Lanes
            let mutable t0 = Vector256.Sum s0
            while p < k do
                t0 <- t0 + Unsafe.Add(&w, r0 + p) * Unsafe.Add(&x, p)
                p <- p + 1
            Unsafe.Add(&y, i) <- act (t0 + Unsafe.Add(&bias, i))
            i <- i + 1

    /// Σ x[0..n) over whole vectors, in float32; returns (sum, elements done).
    let sum (x: byref<float32>) (n: int) =
        let mutable s0 = Vector256<float32>.Zero
        let mutable s1 = Vector256<float32>.Zero
        let mutable p = 0
        while p + 2 * Lanes <= n do
            s0 <- s0 + Vector256.LoadUnsafe(&x, unativeint p)
            s1 <- s1 + Vector256.LoadUnsafe(&x, unativeint (p + Lanes))
            p <- p + 2 * Lanes
        if p + Lanes <= n then
            s0 <- s0 + Vector256.LoadUnsafe(&x, unativeint p)
            p <- p + Lanes
        struct (Vector256.Sum(s0 + s1), p)

    /// Σ x[0..n)² over whole vectors, accumulated in float64; returns (sum, elements done).
    let sumSquares (x: byref<float32>) (n: int) =
        let mutable s0 = Vector256<float>.Zero
        let mutable s1 = Vector256<float>.Zero
        let mutable p = 0
        while p + Lanes <= n do
            let struct (lo, hi) = Vector256.Widen(Vector256.LoadUnsafe(&x, unativeint p))
            s0 <- Vector256.MultiplyAddEstimate(lo, lo, s0)
            s1 <- Vector256.MultiplyAddEstimate(hi, hi, s1)
            p <- p + Lanes
        struct (Vector256.Sum(s0 + s1), p)

    /// One Adam step over whole vectors of p, m, v with gradient g (times `scale` when `scaled`), in
    /// TorchSharp's order (see Adam.cs): m = m·β1 + (1−β1)·g (fused, as ATen's add_ with alpha);
    /// v = v·β2 + (1−β2)·g·g (addcmul_); denom = sqrt(v) / sqrt(bc2) + eps; p = p + (−lr/bc1)·m / denom
    /// (addcdiv_). m and v below `tiny` in magnitude are stored as 0 (the smallest normal float32 when eps > 0,
    /// else 0: subnormals cost a microcode assist per operation on x86; NaN is kept). Returns the elements
    /// done.
    let adam
        (p: byref<float32>) (m: byref<float32>) (v: byref<float32>) (g: byref<float32>) (n: int)
        (scaled: bool) (scale: float32) (beta1: float32) (oneMinusBeta1: float32) (beta2: float32)
        (oneMinusBeta2: float32) (sqrtBc2: float32) (eps: float32) (negStepSize: float32) (tiny: float32) =
        let vb1 = Vector256.Create beta1
        let vob1 = Vector256.Create oneMinusBeta1
        let vb2 = Vector256.Create beta2
        let vob2 = Vector256.Create oneMinusBeta2
        let vsq = Vector256.Create sqrtBc2
        let veps = Vector256.Create eps
        let vstep = Vector256.Create negStepSize
        let vscale = Vector256.Create scale
        let vtiny = Vector256.Create tiny
        let mutable i = 0
        while i + Lanes <= n do
            let o = unativeint i
            let gv0 = Vector256.LoadUnsafe(&g, o)
            let gv = if scaled then gv0 * vscale else gv0
            let mv0 = Vector256.MultiplyAddEstimate(gv, vob1, Vector256.LoadUnsafe(&m, o) * vb1)
            let mv = Vector256.AndNot(mv0, Vector256.LessThan(Vector256.Abs mv0, vtiny))
            let vv0 = Vector256.LoadUnsafe(&v, o) * vb2 + vob2 * gv * gv
            let vv = Vector256.AndNot(vv0, Vector256.LessThan(vv0, vtiny))
            let denom = Vector256.Sqrt vv / vsq + veps
            let pv = Vector256.LoadUnsafe(&p, o) + vstep * mv / denom
            Vector256.StoreUnsafe(mv, &m, o)
            Vector256.StoreUnsafe(vv, &v, o)
            Vector256.StoreUnsafe(pv, &p, o)
            i <- i + Lanes
        i

/// SIMD kernels on Vector128<float32> (4 lanes). Generated from FusedMlpKernels/kernels.template.fs by FusedMlpKernels/splice.sh:
/// edit the template, not the copies.
module private K128 =

    [<Literal>]
    let Lanes = 4

    /// Stores one accumulator row vector with the epilogue applied.
    [<MethodImpl(MethodImplOptions.AggressiveInlining)>]
    let store (c: byref<float32>) (off: int) (v: Vector128<float32>) (epi: int) (mask: byref<float32>) (moff: int) =
        let r =
            if epi = EpiRelu then
                Vector128.Max(v, Vector128<float32>.Zero)
            elif epi = EpiMask then
                // threshold_backward(grad, h, 0): grad where h > 0 (h <= 0 or not: PyTorch keeps grad for NaN h)
                Vector128.AndNot(v, Vector128.LessThanOrEqual(Vector128.LoadUnsafe(&mask, unativeint moff), Vector128<float32>.Zero))
            else
                v
        Vector128.StoreUnsafe(r, &c, unativeint off)

    /// The 6 × (2·Lanes) micro-kernel: C[r, 0..2·Lanes) = epilogue(init_r + Σ_p A[r·sam + p·sak] · B[p·ldb + ·])
    /// for r < rows (rows in 1..6; rows past the last are computed on the last row's data and not stored).
    /// init_r = bias[r] for the bias epilogues, else 0. Sums run over p in order.
    let kernelWide
        (a: byref<float32>) (sam: int) (sak: int) (rows: int)
        (b: byref<float32>) (ldb: int) (k: int)
        (c: byref<float32>) (ldc: int) (epi: int) (bias: byref<float32>) (mask: byref<float32>) (ldm: int) =
        let last = rows - 1
        let r1 = min 1 last
        let r2 = min 2 last
        let r3 = min 3 last
        let r4 = min 4 last
        let r5 = min 5 last
        // Row base addresses; the loop walks one shared offset along k.
        let a0 = &a
        let a1 = &Unsafe.Add(&a, r1 * sam)
        let a2 = &Unsafe.Add(&a, r2 * sam)
        let a3 = &Unsafe.Add(&a, r3 * sam)
        let a4 = &Unsafe.Add(&a, r4 * sam)
        let a5 = &Unsafe.Add(&a, r5 * sam)
        let mutable c00 = Vector128<float32>.Zero
        let mutable c01 = Vector128<float32>.Zero
        let mutable c10 = Vector128<float32>.Zero
        let mutable c11 = Vector128<float32>.Zero
        let mutable c20 = Vector128<float32>.Zero
        let mutable c21 = Vector128<float32>.Zero
        let mutable c30 = Vector128<float32>.Zero
        let mutable c31 = Vector128<float32>.Zero
        let mutable c40 = Vector128<float32>.Zero
        let mutable c41 = Vector128<float32>.Zero
        let mutable c50 = Vector128<float32>.Zero
        let mutable c51 = Vector128<float32>.Zero
        if epi = EpiRelu || epi = EpiBias then
            c00 <- Vector128.Create(Unsafe.Add(&bias, 0))
            c01 <- c00
            c10 <- Vector128.Create(Unsafe.Add(&bias, r1))
            c11 <- c10
            c20 <- Vector128.Create(Unsafe.Add(&bias, r2))
            c21 <- c20
            c30 <- Vector128.Create(Unsafe.Add(&bias, r3))
            c31 <- c30
            c40 <- Vector128.Create(Unsafe.Add(&bias, r4))
            c41 <- c40
            c50 <- Vector128.Create(Unsafe.Add(&bias, r5))
            c51 <- c50
        let stepA = nativeint sak
        let stepB = unativeint ldb
        let mutable pa = 0n
        let mutable pb = 0un
        let mutable left = k
        while left > 0 do
            let b0 = Vector128.LoadUnsafe(&b, pb)
            let b1 = Vector128.LoadUnsafe(&b, pb + unativeint Lanes)
            let x0 = Vector128.Create(Unsafe.Add(&a0, pa))
            c00 <- Vector128.MultiplyAddEstimate(x0, b0, c00)
            c01 <- Vector128.MultiplyAddEstimate(x0, b1, c01)
            let x1 = Vector128.Create(Unsafe.Add(&a1, pa))
            c10 <- Vector128.MultiplyAddEstimate(x1, b0, c10)
            c11 <- Vector128.MultiplyAddEstimate(x1, b1, c11)
            let x2 = Vector128.Create(Unsafe.Add(&a2, pa))
            c20 <- Vector128.MultiplyAddEstimate(x2, b0, c20)
            c21 <- Vector128.MultiplyAddEstimate(x2, b1, c21)
            let x3 = Vector128.Create(Unsafe.Add(&a3, pa))
            c30 <- Vector128.MultiplyAddEstimate(x3, b0, c30)
            c31 <- Vector128.MultiplyAddEstimate(x3, b1, c31)
            let x4 = Vector128.Create(Unsafe.Add(&a4, pa))
            c40 <- Vector128.MultiplyAddEstimate(x4, b0, c40)
            c41 <- Vector128.MultiplyAddEstimate(x4, b1, c41)
            let x5 = Vector128.Create(Unsafe.Add(&a5, pa))
            c50 <- Vector128.MultiplyAddEstimate(x5, b0, c50)
            c51 <- Vector128.MultiplyAddEstimate(x5, b1, c51)
            pa <- pa + stepA
            pb <- pb + stepB
            left <- left - 1
        store &c 0 c00 epi &mask 0
        store &c Lanes c01 epi &mask Lanes
        if rows > 1 then
            store &c ldc c10 epi &mask ldm
            store &c (ldc + Lanes) c11 epi &mask (ldm + Lanes)
        if rows > 2 then
            store &c (2 * ldc) c20 epi &mask (2 * ldm)
            store &c (2 * ldc + Lanes) c21 epi &mask (2 * ldm + Lanes)
        if rows > 3 then
            store &c (3 * ldc) c30 epi &mask (3 * ldm)
            store &c (3 * ldc + Lanes) c31 epi &mask (3 * ldm + Lanes)
        if rows > 4 then
            store &c (4 * ldc) c40 epi &mask (4 * ldm)
            store &c (4 * ldc + Lanes) c41 epi &mask (4 * ldm + Lanes)
        if rows > 5 then
            store &c (5 * ldc) c50 epi &mask (5 * ldm)
            store &c (5 * ldc + Lanes) c51 epi &mask (5 * ldm + Lanes)

    /// kernelWide for one vector of columns (6 × Lanes).
    let kernelNarrow
        (a: byref<float32>) (sam: int) (sak: int) (rows: int)
        (b: byref<float32>) (ldb: int) (k: int)
        (c: byref<float32>) (ldc: int) (epi: int) (bias: byref<float32>) (mask: byref<float32>) (ldm: int) =
        let last = rows - 1
        let r1 = min 1 last
        let r2 = min 2 last
        let r3 = min 3 last
        let r4 = min 4 last
        let r5 = min 5 last
        let a0 = &a
        let a1 = &Unsafe.Add(&a, r1 * sam)
        let a2 = &Unsafe.Add(&a, r2 * sam)
        let a3 = &Unsafe.Add(&a, r3 * sam)
        let a4 = &Unsafe.Add(&a, r4 * sam)
        let a5 = &Unsafe.Add(&a, r5 * sam)
        let mutable c0 = Vector128<float32>.Zero
        let mutable c1 = Vector128<float32>.Zero
        let mutable c2 = Vector128<float32>.Zero
        let mutable c3 = Vector128<float32>.Zero
        let mutable c4 = Vector128<float32>.Zero
        let mutable c5 = Vector128<float32>.Zero
        if epi = EpiRelu || epi = EpiBias then
            c0 <- Vector128.Create(Unsafe.Add(&bias, 0))
            c1 <- Vector128.Create(Unsafe.Add(&bias, r1))
            c2 <- Vector128.Create(Unsafe.Add(&bias, r2))
            c3 <- Vector128.Create(Unsafe.Add(&bias, r3))
            c4 <- Vector128.Create(Unsafe.Add(&bias, r4))
            c5 <- Vector128.Create(Unsafe.Add(&bias, r5))
        let stepA = nativeint sak
        let stepB = unativeint ldb
        let mutable pa = 0n
        let mutable pb = 0un
        let mutable left = k
        while left > 0 do
            let b0 = Vector128.LoadUnsafe(&b, pb)
            c0 <- Vector128.MultiplyAddEstimate(Vector128.Create(Unsafe.Add(&a0, pa)), b0, c0)
            c1 <- Vector128.MultiplyAddEstimate(Vector128.Create(Unsafe.Add(&a1, pa)), b0, c1)
            c2 <- Vector128.MultiplyAddEstimate(Vector128.Create(Unsafe.Add(&a2, pa)), b0, c2)
            c3 <- Vector128.MultiplyAddEstimate(Vector128.Create(Unsafe.Add(&a3, pa)), b0, c3)
            c4 <- Vector128.MultiplyAddEstimate(Vector128.Create(Unsafe.Add(&a4, pa)), b0, c4)
            c5 <- Vector128.MultiplyAddEstimate(Vector128.Create(Unsafe.Add(&a5, pa)), b0, c5)
            pa <- pa + stepA
            pb <- pb + stepB
            left <- left - 1
        store &c 0 c0 epi &mask 0
        if rows > 1 then store &c ldc c1 epi &mask ldm
        if rows > 2 then store &c (2 * ldc) c2 epi &mask (2 * ldm)
        if rows > 3 then store &c (3 * ldc) c3 epi &mask (3 * ldm)
        if rows > 4 then store &c (4 * ldc) c4 epi &mask (4 * ldm)
        if rows > 5 then store &c (5 * ldc) c5 epi &mask (5 * ldm)

    /// C[m; n] = epilogue(init + A B) over the leading columns that whole vectors cover (panels of 2·Lanes,
    /// then at most one of Lanes); returns how many columns it did. A is read as A[r·sam + p·sak]. When B
    /// (k × n) fits in L1 (32 KB: the 128-wide layers at batch 64), blocks of 6 rows go outside and column
    /// panels inside, so that a row block of A stays in L1 while B is swept once per row block; otherwise
    /// column panels go outside, each k × 2·Lanes panel of B staying in L1 while A streams from L2.
    let gemm
        (m: int) (n: int) (k: int)
        (a: byref<float32>) (sam: int) (sak: int)
        (b: byref<float32>) (ldb: int)
        (c: byref<float32>) (ldc: int) (epi: int) (bias: byref<float32>) (mask: byref<float32>) (ldm: int) =
        let wide = n / (2 * Lanes) * (2 * Lanes)
        let narrow = if n - wide >= Lanes then Lanes else 0
        if int64 k * int64 n <= 8192L then
            let mutable i = 0
            while i < m do
                let rows = min 6 (m - i)
                let ai = &Unsafe.Add(&a, i * sam)
                let biasi = &Unsafe.Add(&bias, i)
                let mutable j = 0
                while j < wide do
                    let bj = &Unsafe.Add(&b, j)
                    let cij = &Unsafe.Add(&c, i * ldc + j)
                    let mij = &Unsafe.Add(&mask, i * ldm + j)
                    kernelWide &ai sam sak rows &bj ldb k &cij ldc epi &biasi &mij ldm
                    j <- j + 2 * Lanes
                if narrow > 0 then
                    let bj = &Unsafe.Add(&b, j)
                    let cij = &Unsafe.Add(&c, i * ldc + j)
                    let mij = &Unsafe.Add(&mask, i * ldm + j)
                    kernelNarrow &ai sam sak rows &bj ldb k &cij ldc epi &biasi &mij ldm
                i <- i + 6
        else
            let mutable j = 0
            while j < wide + narrow do
                let bj = &Unsafe.Add(&b, j)
                let mutable i = 0
                while i < m do
                    let rows = min 6 (m - i)
                    let ai = &Unsafe.Add(&a, i * sam)
                    let biasi = &Unsafe.Add(&bias, i)
                    let cij = &Unsafe.Add(&c, i * ldc + j)
                    let mij = &Unsafe.Add(&mask, i * ldm + j)
                    if j < wide then
                        kernelWide &ai sam sak rows &bj ldb k &cij ldc epi &biasi &mij ldm
                    else
                        kernelNarrow &ai sam sak rows &bj ldb k &cij ldc epi &biasi &mij ldm
                    i <- i + 6
                j <- j + (if j < wide then 2 * Lanes else Lanes)
        wide + narrow

    /// y[i] = act(Σ_p W[i·k + p] x[p] + bias[i]) for i &lt; m (act: ReLU or identity): the matrix-vector product of
    /// a batch of one, four rows at a time with the sums along k in vectors.
    let gemv (w: byref<float32>) (m: int) (k: int) (x: byref<float32>) (bias: byref<float32>) (relu: bool) (y: byref<float32>) =
        let kv = k - k % Lanes
        let inline act (v: float32) = if relu && v <= 0.0f then 0.0f else v
        let mutable i = 0
        while i + 4 <= m do
            let r0 = i * k
            let r1 = r0 + k
            let r2 = r1 + k
            let r3 = r2 + k
            let mutable s0 = Vector128<float32>.Zero
            let mutable s1 = Vector128<float32>.Zero
            let mutable s2 = Vector128<float32>.Zero
            let mutable s3 = Vector128<float32>.Zero
            let mutable p = 0
            while p < kv do
                let xv = Vector128.LoadUnsafe(&x, unativeint p)
                s0 <- Vector128.MultiplyAddEstimate(Vector128.LoadUnsafe(&w, unativeint (r0 + p)), xv, s0)
                s1 <- Vector128.MultiplyAddEstimate(Vector128.LoadUnsafe(&w, unativeint (r1 + p)), xv, s1)
                s2 <- Vector128.MultiplyAddEstimate(Vector128.LoadUnsafe(&w, unativeint (r2 + p)), xv, s2)
                s3 <- Vector128.MultiplyAddEstimate(Vector128.LoadUnsafe(&w, unativeint (r3 + p)), xv, s3)
                p <- p + Lanes
            let mutable t0 = Vector128.Sum s0
            let mutable t1 = Vector128.Sum s1
            let mutable t2 = Vector128.Sum s2
            let mutable t3 = Vector128.Sum s3
            while p < k do
                let xp = Unsafe.Add(&x, p)
                t0 <- t0 + Unsafe.Add(&w, r0 + p) * xp
                t1 <- t1 + Unsafe.Add(&w, r1 + p) * xp
                t2 <- t2 + Unsafe.Add(&w, r2 + p) * xp
                t3 <- t3 + Unsafe.Add(&w, r3 + p) * xp
                p <- p + 1
            Unsafe.Add(&y, i) <- act (t0 + Unsafe.Add(&bias, i))
            Unsafe.Add(&y, i + 1) <- act (t1 + Unsafe.Add(&bias, i + 1))
            Unsafe.Add(&y, i + 2) <- act (t2 + Unsafe.Add(&bias, i + 2))
            Unsafe.Add(&y, i + 3) <- act (t3 + Unsafe.Add(&bias, i + 3))
            i <- i + 4
        while i < m do
            let r0 = i * k
            let mutable s0 = Vector128<float32>.Zero
            let mutable p = 0
            while p < kv do
                s0 <- Vector128.MultiplyAddEstimate(Vector128.LoadUnsafe(&w, unativeint (r0 + p)), Vector128.LoadUnsafe(&x, unativeint p), s0)
                p <- p + Lanes
            let mutable t0 = Vector128.Sum s0
            while p < k do
                t0 <- t0 + Unsafe.Add(&w, r0 + p) * Unsafe.Add(&x, p)
                p <- p + 1
            Unsafe.Add(&y, i) <- act (t0 + Unsafe.Add(&bias, i))
            i <- i + 1

    /// Σ x[0..n) over whole vectors, in float32; returns (sum, elements done).
    let sum (x: byref<float32>) (n: int) =
        let mutable s0 = Vector128<float32>.Zero
        let mutable s1 = Vector128<float32>.Zero
        let mutable p = 0
        while p + 2 * Lanes <= n do
            s0 <- s0 + Vector128.LoadUnsafe(&x, unativeint p)
            s1 <- s1 + Vector128.LoadUnsafe(&x, unativeint (p + Lanes))
            p <- p + 2 * Lanes
        if p + Lanes <= n then
            s0 <- s0 + Vector128.LoadUnsafe(&x, unativeint p)
            p <- p + Lanes
        struct (Vector128.Sum(s0 + s1), p)

    /// Σ x[0..n)² over whole vectors, accumulated in float64; returns (sum, elements done).
    let sumSquares (x: byref<float32>) (n: int) =
        let mutable s0 = Vector128<float>.Zero
        let mutable s1 = Vector128<float>.Zero
        let mutable p = 0
        while p + Lanes <= n do
            let struct (lo, hi) = Vector128.Widen(Vector128.LoadUnsafe(&x, unativeint p))
            s0 <- Vector128.MultiplyAddEstimate(lo, lo, s0)
            s1 <- Vector128.MultiplyAddEstimate(hi, hi, s1)
            p <- p + Lanes
        struct (Vector128.Sum(s0 + s1), p)

    /// One Adam step over whole vectors of p, m, v with gradient g (times `scale` when `scaled`), in
    /// TorchSharp's order (see Adam.cs): m = m·β1 + (1−β1)·g (fused, as ATen's add_ with alpha);
    /// v = v·β2 + (1−β2)·g·g (addcmul_); denom = sqrt(v) / sqrt(bc2) + eps; p = p + (−lr/bc1)·m / denom
    /// (addcdiv_). m and v below `tiny` in magnitude are stored as 0 (the smallest normal float32 when eps > 0,
    /// else 0: subnormals cost a microcode assist per operation on x86; NaN is kept). Returns the elements
    /// done.
    let adam
        (p: byref<float32>) (m: byref<float32>) (v: byref<float32>) (g: byref<float32>) (n: int)
        (scaled: bool) (scale: float32) (beta1: float32) (oneMinusBeta1: float32) (beta2: float32)
        (oneMinusBeta2: float32) (sqrtBc2: float32) (eps: float32) (negStepSize: float32) (tiny: float32) =
        let vb1 = Vector128.Create beta1
        let vob1 = Vector128.Create oneMinusBeta1
        let vb2 = Vector128.Create beta2
        let vob2 = Vector128.Create oneMinusBeta2
        let vsq = Vector128.Create sqrtBc2
        let veps = Vector128.Create eps
        let vstep = Vector128.Create negStepSize
        let vscale = Vector128.Create scale
        let vtiny = Vector128.Create tiny
        let mutable i = 0
        while i + Lanes <= n do
            let o = unativeint i
            let gv0 = Vector128.LoadUnsafe(&g, o)
            let gv = if scaled then gv0 * vscale else gv0
            let mv0 = Vector128.MultiplyAddEstimate(gv, vob1, Vector128.LoadUnsafe(&m, o) * vb1)
            let mv = Vector128.AndNot(mv0, Vector128.LessThan(Vector128.Abs mv0, vtiny))
            let vv0 = Vector128.LoadUnsafe(&v, o) * vb2 + vob2 * gv * gv
            let vv = Vector128.AndNot(vv0, Vector128.LessThan(vv0, vtiny))
            let denom = Vector128.Sqrt vv / vsq + veps
            let pv = Vector128.LoadUnsafe(&p, o) + vstep * mv / denom
            Vector128.StoreUnsafe(mv, &m, o)
            Vector128.StoreUnsafe(vv, &v, o)
            Vector128.StoreUnsafe(pv, &p, o)
            i <- i + Lanes
        i

// END GENERATED KERNELS

/// C[m; n] = epilogue(init + A·B) on the workspace's level; n a multiple of 8 for the vector levels (the
/// widest kernels take what they can, narrower ones the rest).
let private gemm
    (level: SimdLevel) (m: int) (n: int) (k: int)
    (a: byref<float32>) (sam: int) (sak: int)
    (b: byref<float32>) (ldb: int)
    (c: byref<float32>) (ldc: int) (epi: int) (bias: byref<float32>) (mask: byref<float32>) (ldm: int) =
    let mutable j = 0
    if level = SimdLevel.Vector512 then
        j <- K512.gemm m n k &a sam sak &b ldb &c ldc epi &bias &mask ldm
    if j < n && level >= SimdLevel.Vector256 then
        let bj = &Unsafe.Add(&b, j)
        let cj = &Unsafe.Add(&c, j)
        let mj = &Unsafe.Add(&mask, j)
        j <- j + K256.gemm m (n - j) k &a sam sak &bj ldb &cj ldc epi &bias &mj ldm
    if j < n && level >= SimdLevel.Vector128 then
        let bj = &Unsafe.Add(&b, j)
        let cj = &Unsafe.Add(&c, j)
        let mj = &Unsafe.Add(&mask, j)
        j <- j + K128.gemm m (n - j) k &a sam sak &bj ldb &cj ldc epi &bias &mj ldm
    if j < n then
        let bj = &Unsafe.Add(&b, j)
        let cj = &Unsafe.Add(&c, j)
        let mj = &Unsafe.Add(&mask, j)
        KScalar.gemm m (n - j) k &a sam sak &bj ldb &cj ldc epi &bias &mj ldm |> ignore

/// gemv for AVX: eight rows at a time, eight accumulators along k, the eight sums gathered into one vector
/// by horizontal adds (bias, ReLU and the store vectorised too); the rows past a multiple of 8 by K256.gemv.
let private gemvAvx (w: byref<float32>) (m: int) (k: int) (x: byref<float32>) (bias: byref<float32>) (relu: bool) (y: byref<float32>) =
    let kv = k - k % 8
    let m8 = m - m % 8
    let mutable i = 0
    while i < m8 do
        let r0 = &Unsafe.Add(&w, i * k)
        let r1 = &Unsafe.Add(&r0, k)
        let r2 = &Unsafe.Add(&r1, k)
        let r3 = &Unsafe.Add(&r2, k)
        let r4 = &Unsafe.Add(&r3, k)
        let r5 = &Unsafe.Add(&r4, k)
        let r6 = &Unsafe.Add(&r5, k)
        let r7 = &Unsafe.Add(&r6, k)
        let mutable s0 = Vector256<float32>.Zero
        let mutable s1 = Vector256<float32>.Zero
        let mutable s2 = Vector256<float32>.Zero
        let mutable s3 = Vector256<float32>.Zero
        let mutable s4 = Vector256<float32>.Zero
        let mutable s5 = Vector256<float32>.Zero
        let mutable s6 = Vector256<float32>.Zero
        let mutable s7 = Vector256<float32>.Zero
        let mutable p = 0un
        while int p < kv do
            let xv = Vector256.LoadUnsafe(&x, p)
            s0 <- Vector256.MultiplyAddEstimate(Vector256.LoadUnsafe(&r0, p), xv, s0)
            s1 <- Vector256.MultiplyAddEstimate(Vector256.LoadUnsafe(&r1, p), xv, s1)
            s2 <- Vector256.MultiplyAddEstimate(Vector256.LoadUnsafe(&r2, p), xv, s2)
            s3 <- Vector256.MultiplyAddEstimate(Vector256.LoadUnsafe(&r3, p), xv, s3)
            s4 <- Vector256.MultiplyAddEstimate(Vector256.LoadUnsafe(&r4, p), xv, s4)
            s5 <- Vector256.MultiplyAddEstimate(Vector256.LoadUnsafe(&r5, p), xv, s5)
            s6 <- Vector256.MultiplyAddEstimate(Vector256.LoadUnsafe(&r6, p), xv, s6)
            s7 <- Vector256.MultiplyAddEstimate(Vector256.LoadUnsafe(&r7, p), xv, s7)
            p <- p + 8un
        let q0 = Avx.HorizontalAdd(Avx.HorizontalAdd(s0, s1), Avx.HorizontalAdd(s2, s3))
        let q1 = Avx.HorizontalAdd(Avx.HorizontalAdd(s4, s5), Avx.HorizontalAdd(s6, s7))
        let mutable sums = Avx.Permute2x128(q0, q1, 0x20uy) + Avx.Permute2x128(q0, q1, 0x31uy)
        if kv < k then
            let mutable t = Vector256<float32>.Zero
            for p in kv .. k - 1 do
                let xp = Unsafe.Add(&x, p)
                t <-
                    t
                    + Vector256.Create(
                        Unsafe.Add(&r0, p) * xp,
                        Unsafe.Add(&r1, p) * xp,
                        Unsafe.Add(&r2, p) * xp,
                        Unsafe.Add(&r3, p) * xp,
                        Unsafe.Add(&r4, p) * xp,
                        Unsafe.Add(&r5, p) * xp,
                        Unsafe.Add(&r6, p) * xp,
                        Unsafe.Add(&r7, p) * xp
                    )
            sums <- sums + t
        let v = sums + Vector256.LoadUnsafe(&bias, unativeint i)
        Vector256.StoreUnsafe((if relu then Vector256.Max(v, Vector256<float32>.Zero) else v), &y, unativeint i)
        i <- i + 8
    if i < m then
        let wi = &Unsafe.Add(&w, i * k)
        let bi = &Unsafe.Add(&bias, i)
        let yi = &Unsafe.Add(&y, i)
        K256.gemv &wi (m - i) k &x &bi relu &yi

let private gemv (level: SimdLevel) (w: byref<float32>) (m: int) (k: int) (x: byref<float32>) (bias: byref<float32>) (relu: bool) (y: byref<float32>) =
    if level >= SimdLevel.Vector256 && Avx.IsSupported then gemvAvx &w m k &x &bias relu &y
    elif level >= SimdLevel.Vector256 then K256.gemv &w m k &x &bias relu &y
    elif level = SimdLevel.Vector128 then K128.gemv &w m k &x &bias relu &y
    else KScalar.gemv &w m k &x &bias relu &y

/// Σ x[0..n) in float32.
let private sum (level: SimdLevel) (x: byref<float32>) (n: int) =
    let struct (s, d) =
        if level = SimdLevel.Vector512 then K512.sum &x n
        elif level = SimdLevel.Vector256 then K256.sum &x n
        elif level = SimdLevel.Vector128 then K128.sum &x n
        else struct (0.0f, 0)
    let mutable t = s
    for p in d .. n - 1 do
        t <- t + Unsafe.Add(&x, p)
    t

/// Σ x[0..n)² in float64.
let private sumSquares (level: SimdLevel) (x: byref<float32>) (n: int) =
    let struct (s, d) =
        if level = SimdLevel.Vector512 then K512.sumSquares &x n
        elif level = SimdLevel.Vector256 then K256.sumSquares &x n
        elif level = SimdLevel.Vector128 then K128.sumSquares &x n
        else struct (0.0, 0)
    let mutable t = s
    for p in d .. n - 1 do
        let v = float (Unsafe.Add(&x, p))
        t <- t + v * v
    t

/// The Adam constants of one step, as float32 where ATen converts them.
[<Struct>]
type private AdamStep =
    { Beta1: float32
      OneMinusBeta1: float32
      Beta2: float32
      OneMinusBeta2: float32
      SqrtBc2: float32
      Eps: float32
      NegStepSize: float32
      Scaled: bool
      Scale: float32
      /// m and v below this are stored as 0: SmallestNormal when eps > 0 (then sqrt(v) of a subnormal v is
      /// below half an ulp of eps, and m's share of the step below 1e-30), else 0 (nothing flushed).
      Tiny: float32 }

/// Adam on n consecutive elements (see the kernels' adam for the order of operations).
let private adam (level: SimdLevel) (c: inref<AdamStep>) (p: byref<float32>) (m: byref<float32>) (v: byref<float32>) (g: byref<float32>) (n: int) =
    let mutable i = 0
    if level = SimdLevel.Vector512 then
        i <- K512.adam &p &m &v &g n c.Scaled c.Scale c.Beta1 c.OneMinusBeta1 c.Beta2 c.OneMinusBeta2 c.SqrtBc2 c.Eps c.NegStepSize c.Tiny
    if i < n && level >= SimdLevel.Vector256 then
        let pi = &Unsafe.Add(&p, i)
        let mi = &Unsafe.Add(&m, i)
        let vi = &Unsafe.Add(&v, i)
        let gi = &Unsafe.Add(&g, i)
        i <- i + K256.adam &pi &mi &vi &gi (n - i) c.Scaled c.Scale c.Beta1 c.OneMinusBeta1 c.Beta2 c.OneMinusBeta2 c.SqrtBc2 c.Eps c.NegStepSize c.Tiny
    if i < n && level >= SimdLevel.Vector128 then
        let pi = &Unsafe.Add(&p, i)
        let mi = &Unsafe.Add(&m, i)
        let vi = &Unsafe.Add(&v, i)
        let gi = &Unsafe.Add(&g, i)
        i <- i + K128.adam &pi &mi &vi &gi (n - i) c.Scaled c.Scale c.Beta1 c.OneMinusBeta1 c.Beta2 c.OneMinusBeta2 c.SqrtBc2 c.Eps c.NegStepSize c.Tiny
    while i < n do
        let g0 = Unsafe.Add(&g, i)
        let gi = if c.Scaled then g0 * c.Scale else g0
        let mr = &Unsafe.Add(&m, i)
        let vr = &Unsafe.Add(&v, i)
        let pr = &Unsafe.Add(&p, i)
        let mi0 = mr * c.Beta1 + gi * c.OneMinusBeta1
        let mi = if abs mi0 < c.Tiny then 0.0f else mi0
        let vi0 = vr * c.Beta2 + c.OneMinusBeta2 * gi * gi
        let vi = if vi0 < c.Tiny then 0.0f else vi0
        let denom = MathF.Sqrt vi / c.SqrtBc2 + c.Eps
        mr <- mi
        vr <- vi
        pr <- pr + c.NegStepSize * mi / denom
        i <- i + 1

/// dst[c·ldd + r] = src[r·lds + c] for r < rows, c < cols, in 8 × 8 tiles.
let private transposeScalar (src: byref<float32>) (lds: int) (rows: int) (cols: int) (dst: byref<float32>) (ldd: int) =
    let mutable r0 = 0
    while r0 < rows do
        let r1 = min rows (r0 + 8)
        let mutable c0 = 0
        while c0 < cols do
            let c1 = min cols (c0 + 8)
            for r in r0 .. r1 - 1 do
                for c in c0 .. c1 - 1 do
                    let d = &Unsafe.Add(&dst, c * ldd + r)
                    d <- Unsafe.Add(&src, r * lds + c)
            c0 <- c0 + 8
        r0 <- r0 + 8

/// Transposes the 8 × 8 tile at src (row stride lds) to dst (row stride ldd) with AVX shuffles.
let private transposeTile (src: byref<float32>) (lds: int) (dst: byref<float32>) (ldd: int) =
    let r0 = Vector256.LoadUnsafe(&src, 0un)
    let r1 = Vector256.LoadUnsafe(&src, unativeint lds)
    let r2 = Vector256.LoadUnsafe(&src, unativeint (2 * lds))
    let r3 = Vector256.LoadUnsafe(&src, unativeint (3 * lds))
    let r4 = Vector256.LoadUnsafe(&src, unativeint (4 * lds))
    let r5 = Vector256.LoadUnsafe(&src, unativeint (5 * lds))
    let r6 = Vector256.LoadUnsafe(&src, unativeint (6 * lds))
    let r7 = Vector256.LoadUnsafe(&src, unativeint (7 * lds))
    let t0 = Avx.UnpackLow(r0, r1)
    let t1 = Avx.UnpackHigh(r0, r1)
    let t2 = Avx.UnpackLow(r2, r3)
    let t3 = Avx.UnpackHigh(r2, r3)
    let t4 = Avx.UnpackLow(r4, r5)
    let t5 = Avx.UnpackHigh(r4, r5)
    let t6 = Avx.UnpackLow(r6, r7)
    let t7 = Avx.UnpackHigh(r6, r7)
    let u0 = Avx.Shuffle(t0, t2, 0x44uy)
    let u1 = Avx.Shuffle(t0, t2, 0xEEuy)
    let u2 = Avx.Shuffle(t1, t3, 0x44uy)
    let u3 = Avx.Shuffle(t1, t3, 0xEEuy)
    let u4 = Avx.Shuffle(t4, t6, 0x44uy)
    let u5 = Avx.Shuffle(t4, t6, 0xEEuy)
    let u6 = Avx.Shuffle(t5, t7, 0x44uy)
    let u7 = Avx.Shuffle(t5, t7, 0xEEuy)
    Vector256.StoreUnsafe(Avx.Permute2x128(u0, u4, 0x20uy), &dst, 0un)
    Vector256.StoreUnsafe(Avx.Permute2x128(u1, u5, 0x20uy), &dst, unativeint ldd)
    Vector256.StoreUnsafe(Avx.Permute2x128(u2, u6, 0x20uy), &dst, unativeint (2 * ldd))
    Vector256.StoreUnsafe(Avx.Permute2x128(u3, u7, 0x20uy), &dst, unativeint (3 * ldd))
    Vector256.StoreUnsafe(Avx.Permute2x128(u0, u4, 0x31uy), &dst, unativeint (4 * ldd))
    Vector256.StoreUnsafe(Avx.Permute2x128(u1, u5, 0x31uy), &dst, unativeint (5 * ldd))
    Vector256.StoreUnsafe(Avx.Permute2x128(u2, u6, 0x31uy), &dst, unativeint (6 * ldd))
    Vector256.StoreUnsafe(Avx.Permute2x128(u3, u7, 0x31uy), &dst, unativeint (7 * ldd))

/// dst[c·ldd + r] = src[r·lds + c] for r < rows, c < cols; with AVX, whole 8 × 8 tiles through shuffles
/// (cols a multiple of 8 there: the caller passes the padded batch, whose pad columns are finite).
let private transpose (level: SimdLevel) (src: byref<float32>) (lds: int) (rows: int) (cols: int) (dst: byref<float32>) (ldd: int) =
    if level >= SimdLevel.Vector256 && Avx.IsSupported then
        let rows8 = rows / 8 * 8
        let cols8 = cols / 8 * 8
        let mutable r = 0
        while r < rows8 do
            let mutable c = 0
            while c < cols8 do
                let s = &Unsafe.Add(&src, r * lds + c)
                let d = &Unsafe.Add(&dst, c * ldd + r)
                transposeTile &s lds &d ldd
                c <- c + 8
            r <- r + 8
        if rows8 < rows then
            let s = &Unsafe.Add(&src, rows8 * lds)
            let d = &Unsafe.Add(&dst, rows8)
            transposeScalar &s lds (rows - rows8) cols &d ldd
        if cols8 < cols then
            let s = &Unsafe.Add(&src, cols8)
            let d = &Unsafe.Add(&dst, cols8 * ldd)
            transposeScalar &s lds rows8 (cols - cols8) &d ldd
    else
        transposeScalar &src lds rows cols &dst ldd

/// The first index of the largest of count values at off, off + stride, ...; NaN is the largest (torch.argmax).
let private argmax (buf: float32[]) (off: int) (stride: int) (count: int) =
    let mutable best = buf[off]
    let mutable bi = 0
    for a in 1 .. count - 1 do
        let v = buf[off + a * stride]
        if v > best || (Single.IsNaN v && not (Single.IsNaN best)) then
            best <- v
            bi <- a
    bi

let private roundUp8 (n: int) = (n + 7) / 8 * 8

/// n rounded up to an odd multiple of 16.
let private padLd (n: int) =
    let r = (n + 15) / 16 * 16
    if (r / 16) % 2 = 0 then r + 16 else r

[<Sealed>]
type Workspace internal (widths: int[], maxBatch: int, simd: SimdLevel) =
    do
        if isNull widths then nullArg "widths"
        if widths.Length < 2 then
            invalidArg "widths" $"widths must have at least two entries (the observation size and the action count), got {widths.Length}"
        for i in 0 .. widths.Length - 1 do
            if widths[i] <= 0 then
                raise (ArgumentOutOfRangeException("widths", widths[i], $"widths[{i}] must be positive, got {widths[i]}"))
        if maxBatch <= 0 then
            raise (ArgumentOutOfRangeException("maxBatch", maxBatch, $"maxBatch must be positive, got {maxBatch}"))
        for l in 0 .. widths.Length - 2 do
            if int64 widths[l] * int64 widths[l + 1] > int64 Array.MaxLength then
                raise (
                    ArgumentOutOfRangeException(
                        "widths",
                        $"W{l + 1} would be [{widths[l + 1]}; {widths[l]}], more elements than an array or a span holds"
                    )
                )

    let w = Array.copy widths
    let layers = w.Length - 1
    // Leading dimensions of the matrices the kernels read as B are odd multiples of 16 floats (64 bytes), so
    // that the rows of a panel spread over all L1 sets instead of a few (a 512-byte stride maps 128 rows
    // onto 16 of the 64 sets, more than their 12 ways).
    let bs = padLd (roundUp8 maxBatch)
    let cs = padLd (2 * roundUp8 maxBatch)
    let wp = w |> Array.map roundUp8
    let hbLd = wp |> Array.map padLd
    let maxW = Array.max w[1..]
    // Offsets (in floats) of the buffers within one array, each on a 64-byte boundary.
    let sizes = ResizeArray<int64>()
    let slot (n: int64) =
        sizes.Add n
        sizes.Count - 1
    let xsSlot = slot (int64 w[0] * int64 cs) // online input: s in columns [0, Bp), s' (Double DQN) in [Bp, 2Bp)
    let xnSlot = slot (int64 w[0] * int64 bs) // target input s' (and the acting input)
    let hSlots = Array.init layers (fun l -> slot (int64 w[l + 1] * int64 cs)) // online outputs at s (and s')
    let hbSlots = Array.init layers (fun l -> slot (int64 (roundUp8 maxBatch) * int64 hbLd[l])) // batch-major layer inputs
    let t1Slot = slot (int64 maxW * int64 bs)
    let t2Slot = slot (int64 maxW * int64 bs)
    let qnSlot = slot (int64 w[layers] * int64 bs) // the target's Q at s'
    let qaSlot = slot (int64 maxBatch * int64 w[layers]) // acting: Q row-major
    let g1Slot = slot (int64 maxW * int64 bs)
    let g2Slot = slot (int64 maxW * int64 bs)
    let gwSlots = Array.init layers (fun l -> slot (int64 w[l + 1] * int64 wp[l]))
    let gbSlots = Array.init layers (fun l -> slot (int64 w[l + 1]))
    let offsets = Array.zeroCreate<int64> sizes.Count
    let total =
        let mutable t = 0L
        for i in 0 .. sizes.Count - 1 do
            offsets[i] <- t
            t <- t + (sizes[i] + 15L) / 16L * 16L
        t + 16L
    do
        if total > int64 Array.MaxLength then
            raise (
                ArgumentOutOfRangeException(
                    "widths",
                    $"the buffers for the {String.Join('-', w)} MLP and maxBatch {maxBatch} would need {total} floats, more than an array holds"
                )
            )
    let buf = GC.AllocateArray<float32>(int total, pinned = true)
    let baseOffset =
        let address = Marshal.UnsafeAddrOfPinnedArrayElement(buf, 0).ToInt64()
        int ((64L - address % 64L) % 64L) / 4
    let at (s: int) = baseOffset + int offsets[s]

    member _.Widths = Array.copy w
    member _.MaxBatch = maxBatch
    member _.ObservationSize = w[0]
    member _.ActionCount = w[layers]
    member _.ParameterCount = 2 * layers
    member _.ParameterLength(index: int) =
        if index < 0 || index >= 2 * layers then
            raise (ArgumentOutOfRangeException("index", index, $"index must be in 0..{2 * layers - 1}, got {index}"))
        if index % 2 = 0 then w[index / 2 + 1] * w[index / 2] else w[index / 2 + 1]
    member internal _.Simd = simd

    new(widths: int[], maxBatch: int) = Workspace(widths, maxBatch, bestSimd)

    // Internals (not in the signature).
    member _.W = w
    member _.Wp = wp
    member _.HbLd = hbLd
    member _.Layers = layers
    member _.MaxW = maxW
    member _.Bs = bs
    member _.Cs = cs
    member _.Buf = buf
    member val Xs = at xsSlot
    member val Xn = at xnSlot
    member val H = Array.append [| at xsSlot |] (hSlots |> Array.map at)
    member val Hb = hbSlots |> Array.map at
    member val T1 = at t1Slot
    member val T2 = at t2Slot
    member val Qn = at qnSlot
    member val Qa = at qaSlot
    member val G1 = at g1Slot
    member val G2 = at g2Slot
    member val Gw = gwSlots |> Array.map at
    member val Gb = gbSlots |> Array.map at
    member val Act = Array.zeroCreate<int> maxBatch
    member _.Architecture = String.Join("-", w)

let private refAt (buf: float32[]) (off: int) : byref<float32> = &Unsafe.Add(&MemoryMarshal.GetArrayDataReference buf, off)

let private parameterName (ws: Workspace) (index: int) =
    let l = index / 2 + 1
    if index % 2 = 0 then $"W{l} [{ws.W[l]}; {ws.W[l - 1]}]" else $"b{l} [{ws.W[l]}]"

/// The span of parameter `index` from `spans`, checked against the architecture.
let private fetch (spans: ParameterSpans) (role: string) (ws: Workspace) (index: int) : Span<float32> =
    let s = spans.Invoke index
    let expected = ws.ParameterLength index
    if s.Length <> expected then
        raise (
            ArgumentException(
                $"{role}'s parameter {index}, {parameterName ws index}, has {s.Length} elements; the {ws.Architecture} MLP needs {expected}",
                role
            )
        )
    s

let private checkAll (spans: ParameterSpans) (role: string) (ws: Workspace) =
    if isNull (box spans) then nullArg role
    for i in 0 .. ws.ParameterCount - 1 do
        let s = fetch spans role ws i
        s.Length |> ignore

let private lengthError (name: string) (expected: int) (actual: int) (rule: string) =
    raise (ArgumentException($"{name} has {actual} elements; expected {expected} ({rule})", name))

let private outOfRange (name: string) (value: obj) (message: string) =
    raise (ArgumentOutOfRangeException(name, value, message))

/// Runs `net` on n feature-major columns at `input` (leading dimension ldIn). keep: the layers' outputs go to
/// ws.H (leading dimension ws.Cs), the Q-values in ws.H[L]; otherwise through T1/T2 to the Q-values at `out`
/// (leading dimension ws.Bs).
let private forwardColumns (ws: Workspace) (net: ParameterSpans) (role: string) (input: int) (ldIn: int) (n: int) (keep: bool) (out: int) =
    let layers = ws.Layers
    let mutable src = input
    let mutable lds = ldIn
    for l in 0 .. layers - 1 do
        let wl = fetch net role ws (2 * l)
        let bl = fetch net role ws (2 * l + 1)
        let dst =
            if keep then ws.H[l + 1]
            elif l = layers - 1 then out
            elif l % 2 = 0 then ws.T1
            else ws.T2
        let ldd = if keep then ws.Cs else ws.Bs
        let wr = &MemoryMarshal.GetReference wl
        let br = &MemoryMarshal.GetReference bl
        let x = &refAt ws.Buf src
        let y = &refAt ws.Buf dst
        gemm ws.Simd ws.W[l + 1] n ws.W[l] &wr ws.W[l] 1 &x lds &y ldd (if l < layers - 1 then EpiRelu else EpiBias) &br &y 0
        src <- dst
        lds <- ldd

let update
    (workspace: Workspace)
    (settings: Settings)
    (online: ParameterSpans)
    (target: ParameterSpans)
    (expAvg: ParameterSpans)
    (expAvgSq: ParameterSpans)
    (step: int64)
    (observations: ReadOnlySpan<float32>)
    (nextObservations: ReadOnlySpan<float32>)
    (actions: ReadOnlySpan<int64>)
    (rewards: ReadOnlySpan<float32>)
    (discounts: ReadOnlySpan<float32>)
    : UpdateResult =
    let ws = workspace
    if isNull (box ws) then nullArg "workspace"
    // ---- Checks, before anything is written.
    let b = actions.Length
    if b = 0 || b > ws.MaxBatch then
        outOfRange "actions" b $"the batch size (actions' length) must be in 1..{ws.MaxBatch} (the workspace's MaxBatch), got {b}"
    let w0 = ws.W[0]
    let na = ws.ActionCount
    if observations.Length <> (b * w0) then lengthError "observations" (b * w0) observations.Length $"the batch size {b} × the observation size {w0}"
    if nextObservations.Length <> (b * w0) then lengthError "nextObservations" (b * w0) nextObservations.Length $"the batch size {b} × the observation size {w0}"
    if rewards.Length <> b then lengthError "rewards" b rewards.Length "the batch size, actions' length"
    if discounts.Length <> b then lengthError "discounts" b discounts.Length "the batch size, actions' length"
    if step < 0L then outOfRange "step" step $"step (Adam's step count before the update) must be at least 0, got {step}"
    let s = settings
    let finite (x: float) = not (Double.IsNaN x || Double.IsInfinity x)
    if not (finite s.LearningRate && s.LearningRate >= 0.0) then
        outOfRange "settings" s.LearningRate $"settings.LearningRate must be finite and at least 0, got {s.LearningRate}"
    if not (s.Beta1 >= 0.0 && s.Beta1 < 1.0) then
        outOfRange "settings" s.Beta1 $"settings.Beta1 must be in [0, 1), got {s.Beta1}"
    if not (s.Beta2 >= 0.0 && s.Beta2 < 1.0) then
        outOfRange "settings" s.Beta2 $"settings.Beta2 must be in [0, 1), got {s.Beta2}"
    if not (finite s.Epsilon && s.Epsilon >= 0.0) then
        outOfRange "settings" s.Epsilon $"settings.Epsilon must be finite and at least 0, got {s.Epsilon}"
    if Double.IsNaN s.MaxGradNorm then
        outOfRange "settings" s.MaxGradNorm "settings.MaxGradNorm must be a number (0 or less: no clipping), got NaN"
    for i in 0 .. b - 1 do
        let a = actions[i]
        if a < 0L || a >= int64 na then
            outOfRange "actions" a $"actions[{i}] must be in 0..{na - 1} (the action count is {na}), got {a}"
        ws.Act[i] <- int a
    checkAll online "online" ws
    checkAll target "target" ws
    checkAll expAvg "expAvg" ws
    checkAll expAvgSq "expAvgSq" ws

    let buf = ws.Buf
    let layers = ws.Layers
    let bs = ws.Bs
    let cs = ws.Cs
    let bp = roundUp8 b
    let doubleDqn = s.DoubleDqn
    let level = ws.Simd

    // ---- Inputs, feature-major: online columns [0, bp) = s (and [bp, 2bp) = s' for Double DQN), target's = s'.
    for k in 0 .. w0 - 1 do
        let xs = ws.Xs + k * cs
        let xn = ws.Xn + k * bs
        for i in 0 .. b - 1 do
            buf[xs + i] <- observations[i * w0 + k]
            buf[xn + i] <- nextObservations[i * w0 + k]
        for i in b .. bp - 1 do
            buf[xs + i] <- 0.0f
            buf[xn + i] <- 0.0f
        if doubleDqn then
            for i in 0 .. b - 1 do
                buf[xs + bp + i] <- nextObservations[i * w0 + k]
            for i in b .. bp - 1 do
                buf[xs + bp + i] <- 0.0f
    // Batch-major s for W_1's gradient (pad columns stay 0).
    let hbLd0 = ws.HbLd[0]
    let hb0 = ws.Hb[0]
    for i in 0 .. b - 1 do
        observations.Slice(i * w0, w0).CopyTo(Span(buf, hb0 + i * hbLd0, w0))

    // ---- Forward passes.
    forwardColumns ws target "target" ws.Xn bs bp false ws.Qn
    forwardColumns ws online "online" ws.Xs cs (if doubleDqn then 2 * bp else bp) true 0

    // ---- Targets, loss, dLoss/dq into G_L [A; bs] (zero but at the taken actions).
    let qs = ws.H[layers]
    let gl = ws.G1
    Array.Fill(buf, 0.0f, gl, na * bs)
    let invB = float32 (1.0 / float b)
    let mutable lossSum = 0.0
    let mutable qSum = 0.0
    for i in 0 .. b - 1 do
        let next = if doubleDqn then argmax buf (qs + bp + i) cs na else argmax buf (ws.Qn + i) bs na
        let y = rewards[i] + discounts[i] * buf[ws.Qn + next * bs + i]
        let a = ws.Act[i]
        let q = buf[qs + a * cs + i]
        let d = q - y
        qSum <- qSum + float q
        let grad =
            match s.Loss with
            | LossKind.Mse ->
                lossSum <- lossSum + float (d * d)
                (2.0f * d) * invB
            | _ ->
                let z = abs d
                lossSum <- lossSum + float (if z < 1.0f then 0.5f * z * z else z - 0.5f)
                (if d <= -1.0f then -1.0f elif d >= 1.0f then 1.0f else d) * invB
        buf[gl + a * bs + i] <- grad

    // ---- Backward: layer by layer, the weight and bias gradients, then the masked input gradient.
    let mutable gcur = ws.G1
    let mutable gnext = ws.G2
    for l in layers - 1 .. -1 .. 0 do
        let wout = ws.W[l + 1]
        let win = ws.W[l]
        let winp = ws.Wp[l]
        let hbLd = ws.HbLd[l]
        let hbl = &refAt buf ws.Hb[l]
        if l > 0 then
            let hl = &refAt buf ws.H[l]
            transpose level &hl cs win bp &hbl hbLd
        let g = &refAt buf gcur
        let gw = &refAt buf ws.Gw[l]
        gemm level wout winp b &g bs 1 &hbl hbLd &gw winp EpiStore &gw &gw 0
        for o in 0 .. wout - 1 do
            let go = &refAt buf (gcur + o * bs)
            buf[ws.Gb[l] + o] <- sum level &go b
        if l > 0 then
            let wl = fetch online "online" ws (2 * l)
            let wr = &MemoryMarshal.GetReference wl
            let gn = &refAt buf gnext
            let hl = &refAt buf ws.H[l]
            gemm level win bp wout &wr 1 win &g bs &gn bs EpiMask &gn &hl cs
            let t = gcur
            gcur <- gnext
            gnext <- t

    // ---- clip_grad_norm_: per-tensor norms (float32), their norm, clip_coef = max_norm / (total + 1e-6).
    let mutable scaled = false
    let mutable scale = 1.0f
    if s.MaxGradNorm > 0.0 then
        let mutable total2 = 0.0
        for l in 0 .. layers - 1 do
            let wout = ws.W[l + 1]
            let win = ws.W[l]
            let winp = ws.Wp[l]
            let mutable sw = 0.0
            if win = winp then
                let gw = &refAt buf ws.Gw[l]
                sw <- sumSquares level &gw (wout * win)
            else
                for r in 0 .. wout - 1 do
                    let gr = &refAt buf (ws.Gw[l] + r * winp)
                    sw <- sw + sumSquares level &gr win
            let gb = &refAt buf ws.Gb[l]
            let nw = float (float32 (sqrt sw))
            let nb = float (float32 (sqrt (sumSquares level &gb wout)))
            total2 <- total2 + nw * nw + nb * nb
        let total = float32 (sqrt total2)
        let coef = float32 s.MaxGradNorm / (total + float32 1e-6)
        if coef < 1.0f || Single.IsNaN coef then
            scaled <- true
            scale <- coef

    // ---- Adam.
    let newStep = step + 1L
    let bc1 = 1.0 - Math.Pow(s.Beta1, float newStep)
    let bc2 = 1.0 - Math.Pow(s.Beta2, float newStep)
    let c =
        { Beta1 = float32 s.Beta1
          OneMinusBeta1 = float32 (1.0 - s.Beta1)
          Beta2 = float32 s.Beta2
          OneMinusBeta2 = float32 (1.0 - s.Beta2)
          SqrtBc2 = float32 (Math.Sqrt bc2)
          Eps = float32 s.Epsilon
          NegStepSize = float32 (-(s.LearningRate / bc1))
          Scaled = scaled
          Scale = scale
          Tiny = if s.Epsilon > 0.0 then SmallestNormal else 0.0f }
    for l in 0 .. layers - 1 do
        let wout = ws.W[l + 1]
        let win = ws.W[l]
        let winp = ws.Wp[l]
        let p = fetch online "online" ws (2 * l)
        let m = fetch expAvg "expAvg" ws (2 * l)
        let v = fetch expAvgSq "expAvgSq" ws (2 * l)
        let pr = &MemoryMarshal.GetReference p
        let mr = &MemoryMarshal.GetReference m
        let vr = &MemoryMarshal.GetReference v
        if win = winp then
            let gw = &refAt buf ws.Gw[l]
            adam level &c &pr &mr &vr &gw (wout * win)
        else
            for r in 0 .. wout - 1 do
                let pi = &Unsafe.Add(&pr, r * win)
                let mi = &Unsafe.Add(&mr, r * win)
                let vi = &Unsafe.Add(&vr, r * win)
                let gi = &refAt buf (ws.Gw[l] + r * winp)
                adam level &c &pi &mi &vi &gi win
        let pb = fetch online "online" ws (2 * l + 1)
        let mb = fetch expAvg "expAvg" ws (2 * l + 1)
        let vb = fetch expAvgSq "expAvgSq" ws (2 * l + 1)
        let pbr = &MemoryMarshal.GetReference pb
        let mbr = &MemoryMarshal.GetReference mb
        let vbr = &MemoryMarshal.GetReference vb
        let gb = &refAt buf ws.Gb[l]
        adam level &c &pbr &mbr &vbr &gb wout

    { Loss = lossSum / float b; MeanQ = qSum / float b; Step = newStep }

/// The Q-values of the n observations into ws.Qa, row-major [n; A].
let private forwardRows (ws: Workspace) (net: ParameterSpans) (observations: ReadOnlySpan<float32>) (n: int) =
    let buf = ws.Buf
    let w0 = ws.W[0]
    let na = ws.ActionCount
    let layers = ws.Layers
    if n < 4 then
        // Matrix-vector products, sample by sample; inputs copied to Hb[0] (row stride HbLd[0]), hidden
        // activations in T1/T2 (row stride MaxW).
        let wp0 = ws.HbLd[0]
        for i in 0 .. n - 1 do
            observations.Slice(i * w0, w0).CopyTo(Span(buf, ws.Hb[0] + i * wp0, w0))
        for l in 0 .. layers - 1 do
            let wl = fetch net "network" ws (2 * l)
            let bl = fetch net "network" ws (2 * l + 1)
            let wr = &MemoryMarshal.GetReference wl
            let br = &MemoryMarshal.GetReference bl
            for i in 0 .. n - 1 do
                let src =
                    if l = 0 then ws.Hb[0] + i * wp0
                    elif l % 2 = 1 then ws.T1 + i * ws.MaxW
                    else ws.T2 + i * ws.MaxW
                let dst =
                    if l = layers - 1 then ws.Qa + i * na
                    elif l % 2 = 0 then ws.T1 + i * ws.MaxW
                    else ws.T2 + i * ws.MaxW
                let x = &refAt buf src
                let y = &refAt buf dst
                gemv ws.Simd &wr ws.W[l + 1] ws.W[l] &x &br (l < layers - 1) &y
    else
        let bs = ws.Bs
        let np = roundUp8 n
        for k in 0 .. w0 - 1 do
            let xn = ws.Xn + k * bs
            for i in 0 .. n - 1 do
                buf[xn + i] <- observations[i * w0 + k]
            for i in n .. np - 1 do
                buf[xn + i] <- 0.0f
        forwardColumns ws net "network" ws.Xn bs np false ws.Qn
        for i in 0 .. n - 1 do
            for a in 0 .. na - 1 do
                buf[ws.Qa + i * na + a] <- buf[ws.Qn + a * bs + i]

/// n, the number of observations, after the checks shared by the forward entry points.
let private checkForward (ws: Workspace) (net: ParameterSpans) (observations: ReadOnlySpan<float32>) =
    if isNull (box ws) then nullArg "workspace"
    if isNull (box net) then nullArg "network"
    let w0 = ws.ObservationSize
    let len = observations.Length
    if len = 0 || len % w0 <> 0 then
        raise (
            ArgumentException(
                $"observations has {len} elements; expected a positive multiple of the observation size {w0} (row-major [n; {w0}])",
                "observations"
            )
        )
    let n = len / w0
    if n > ws.MaxBatch then
        outOfRange "observations" n $"the number of observations must be at most {ws.MaxBatch} (the workspace's MaxBatch), got {n}"
    checkAll net "network" ws
    n

let qValues (workspace: Workspace) (network: ParameterSpans) (observations: ReadOnlySpan<float32>) (q: Span<float32>) =
    let n = checkForward workspace network observations
    let na = workspace.ActionCount
    if q.Length <> (n * na) then lengthError "q" (n * na) q.Length $"{n} observations × the action count {na}"
    forwardRows workspace network observations n
    Span(workspace.Buf, workspace.Qa, n * na).CopyTo q

let greedyActions (workspace: Workspace) (network: ParameterSpans) (observations: ReadOnlySpan<float32>) (actions: Span<int>) =
    let n = checkForward workspace network observations
    if actions.Length <> n then lengthError "actions" n actions.Length "the number of observations"
    forwardRows workspace network observations n
    let na = workspace.ActionCount
    for i in 0 .. n - 1 do
        actions[i] <- argmax workspace.Buf (workspace.Qa + i * na) 1 na

let greedyAction (workspace: Workspace) (network: ParameterSpans) (observation: ReadOnlySpan<float32>) =
    if isNull (box workspace) then nullArg "workspace"
    if observation.Length <> workspace.ObservationSize then
        lengthError "observation" workspace.ObservationSize observation.Length "the observation size"
    let n = checkForward workspace network observation
    forwardRows workspace network observation n
    argmax workspace.Buf workspace.Qa 1 workspace.ActionCount

/// One step of torch.optim.Adam (TorchSharp's order; no weight decay, amsgrad or maximize) over one parameter of n
/// float32 elements at native addresses p, m (exp_avg), v (exp_avg_sq) and g (its gradient), with the kernels of the
/// fused update (m and v below the smallest normal float32 stored as 0 when eps > 0), its elements split over
/// `threads` thread-pool workers when there are many (every element is independent: the split changes no bit).
/// newStep is Adam's step count after this step (≥ 1).
let internal adamStepAt
    (p: nativeint) (m: nativeint) (v: nativeint) (g: nativeint) (n: int)
    (learningRate: float) (beta1: float) (beta2: float) (eps: float) (newStep: int64) (threads: int) =
    let bc1 = 1.0 - Math.Pow(beta1, float newStep)
    let bc2 = 1.0 - Math.Pow(beta2, float newStep)
    let c =
        { Beta1 = float32 beta1
          OneMinusBeta1 = float32 (1.0 - beta1)
          Beta2 = float32 beta2
          OneMinusBeta2 = float32 (1.0 - beta2)
          SqrtBc2 = float32 (Math.Sqrt bc2)
          Eps = float32 eps
          NegStepSize = float32 (-(learningRate / bc1))
          Scaled = false
          Scale = 1.0f
          Tiny = if eps > 0.0 then SmallestNormal else 0.0f }
    let run (start: int) (count: int) =
        let c = c
        let offset = nativeint (4 * start)
        let pr = &Unsafe.AsRef<float32>((p + offset).ToPointer())
        let mr = &Unsafe.AsRef<float32>((m + offset).ToPointer())
        let vr = &Unsafe.AsRef<float32>((v + offset).ToPointer())
        let gr = &Unsafe.AsRef<float32>((g + offset).ToPointer())
        adam bestSimd &c &pr &mr &vr &gr count
    // Below ~64k elements a thread hop costs more than it saves.
    if threads <= 1 || n < 65_536 then run 0 n
    else
        let size = ((n + threads - 1) / threads + 63) &&& ~~~63
        Threading.Tasks.Parallel.For(0, threads, fun k -> let s = k * size in if s < n then run s (min size (n - s))) |> ignore
