/// SIMD kernels on VEC<float32> (LANES lanes). Generated from FusedMlpKernels/kernels.template.fs by FusedMlpKernels/splice.sh:
/// edit the template, not the copies.
module private KNAME =

    [<Literal>]
    let Lanes = LANES

    /// Stores one accumulator row vector with the epilogue applied.
    [<MethodImpl(MethodImplOptions.AggressiveInlining)>]
    let store (c: byref<float32>) (off: int) (v: VEC<float32>) (epi: int) (mask: byref<float32>) (moff: int) =
        let r =
            if epi = EpiRelu then
                VEC.Max(v, VEC<float32>.Zero)
            elif epi = EpiMask then
                // threshold_backward(grad, h, 0): grad where h > 0 (h <= 0 or not: PyTorch keeps grad for NaN h)
                VEC.AndNot(v, VEC.LessThanOrEqual(VEC.LoadUnsafe(&mask, unativeint moff), VEC<float32>.Zero))
            else
                v
        VEC.StoreUnsafe(r, &c, unativeint off)

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
        let mutable c00 = VEC<float32>.Zero
        let mutable c01 = VEC<float32>.Zero
        let mutable c10 = VEC<float32>.Zero
        let mutable c11 = VEC<float32>.Zero
        let mutable c20 = VEC<float32>.Zero
        let mutable c21 = VEC<float32>.Zero
        let mutable c30 = VEC<float32>.Zero
        let mutable c31 = VEC<float32>.Zero
        let mutable c40 = VEC<float32>.Zero
        let mutable c41 = VEC<float32>.Zero
        let mutable c50 = VEC<float32>.Zero
        let mutable c51 = VEC<float32>.Zero
        if epi = EpiRelu || epi = EpiBias then
            c00 <- VEC.Create(Unsafe.Add(&bias, 0))
            c01 <- c00
            c10 <- VEC.Create(Unsafe.Add(&bias, r1))
            c11 <- c10
            c20 <- VEC.Create(Unsafe.Add(&bias, r2))
            c21 <- c20
            c30 <- VEC.Create(Unsafe.Add(&bias, r3))
            c31 <- c30
            c40 <- VEC.Create(Unsafe.Add(&bias, r4))
            c41 <- c40
            c50 <- VEC.Create(Unsafe.Add(&bias, r5))
            c51 <- c50
        let stepA = nativeint sak
        let stepB = unativeint ldb
        let mutable pa = 0n
        let mutable pb = 0un
        let mutable left = k
        while left > 0 do
            let b0 = VEC.LoadUnsafe(&b, pb)
            let b1 = VEC.LoadUnsafe(&b, pb + unativeint Lanes)
            let x0 = VEC.Create(Unsafe.Add(&a0, pa))
            c00 <- VEC.MultiplyAddEstimate(x0, b0, c00)
            c01 <- VEC.MultiplyAddEstimate(x0, b1, c01)
            let x1 = VEC.Create(Unsafe.Add(&a1, pa))
            c10 <- VEC.MultiplyAddEstimate(x1, b0, c10)
            c11 <- VEC.MultiplyAddEstimate(x1, b1, c11)
            let x2 = VEC.Create(Unsafe.Add(&a2, pa))
            c20 <- VEC.MultiplyAddEstimate(x2, b0, c20)
            c21 <- VEC.MultiplyAddEstimate(x2, b1, c21)
            let x3 = VEC.Create(Unsafe.Add(&a3, pa))
            c30 <- VEC.MultiplyAddEstimate(x3, b0, c30)
            c31 <- VEC.MultiplyAddEstimate(x3, b1, c31)
            let x4 = VEC.Create(Unsafe.Add(&a4, pa))
            c40 <- VEC.MultiplyAddEstimate(x4, b0, c40)
            c41 <- VEC.MultiplyAddEstimate(x4, b1, c41)
            let x5 = VEC.Create(Unsafe.Add(&a5, pa))
            c50 <- VEC.MultiplyAddEstimate(x5, b0, c50)
            c51 <- VEC.MultiplyAddEstimate(x5, b1, c51)
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
        let mutable c0 = VEC<float32>.Zero
        let mutable c1 = VEC<float32>.Zero
        let mutable c2 = VEC<float32>.Zero
        let mutable c3 = VEC<float32>.Zero
        let mutable c4 = VEC<float32>.Zero
        let mutable c5 = VEC<float32>.Zero
        if epi = EpiRelu || epi = EpiBias then
            c0 <- VEC.Create(Unsafe.Add(&bias, 0))
            c1 <- VEC.Create(Unsafe.Add(&bias, r1))
            c2 <- VEC.Create(Unsafe.Add(&bias, r2))
            c3 <- VEC.Create(Unsafe.Add(&bias, r3))
            c4 <- VEC.Create(Unsafe.Add(&bias, r4))
            c5 <- VEC.Create(Unsafe.Add(&bias, r5))
        let stepA = nativeint sak
        let stepB = unativeint ldb
        let mutable pa = 0n
        let mutable pb = 0un
        let mutable left = k
        while left > 0 do
            let b0 = VEC.LoadUnsafe(&b, pb)
            c0 <- VEC.MultiplyAddEstimate(VEC.Create(Unsafe.Add(&a0, pa)), b0, c0)
            c1 <- VEC.MultiplyAddEstimate(VEC.Create(Unsafe.Add(&a1, pa)), b0, c1)
            c2 <- VEC.MultiplyAddEstimate(VEC.Create(Unsafe.Add(&a2, pa)), b0, c2)
            c3 <- VEC.MultiplyAddEstimate(VEC.Create(Unsafe.Add(&a3, pa)), b0, c3)
            c4 <- VEC.MultiplyAddEstimate(VEC.Create(Unsafe.Add(&a4, pa)), b0, c4)
            c5 <- VEC.MultiplyAddEstimate(VEC.Create(Unsafe.Add(&a5, pa)), b0, c5)
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
            let mutable s0 = VEC<float32>.Zero
            let mutable s1 = VEC<float32>.Zero
            let mutable s2 = VEC<float32>.Zero
            let mutable s3 = VEC<float32>.Zero
            let mutable p = 0
            while p < kv do
                let xv = VEC.LoadUnsafe(&x, unativeint p)
                s0 <- VEC.MultiplyAddEstimate(VEC.LoadUnsafe(&w, unativeint (r0 + p)), xv, s0)
                s1 <- VEC.MultiplyAddEstimate(VEC.LoadUnsafe(&w, unativeint (r1 + p)), xv, s1)
                s2 <- VEC.MultiplyAddEstimate(VEC.LoadUnsafe(&w, unativeint (r2 + p)), xv, s2)
                s3 <- VEC.MultiplyAddEstimate(VEC.LoadUnsafe(&w, unativeint (r3 + p)), xv, s3)
                p <- p + Lanes
            let mutable t0 = VEC.Sum s0
            let mutable t1 = VEC.Sum s1
            let mutable t2 = VEC.Sum s2
            let mutable t3 = VEC.Sum s3
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
            let mutable s0 = VEC<float32>.Zero
            let mutable p = 0
            while p < kv do
                s0 <- VEC.MultiplyAddEstimate(VEC.LoadUnsafe(&w, unativeint (r0 + p)), VEC.LoadUnsafe(&x, unativeint p), s0)
                p <- p + Lanes
            let mutable t0 = VEC.Sum s0
            while p < k do
                t0 <- t0 + Unsafe.Add(&w, r0 + p) * Unsafe.Add(&x, p)
                p <- p + 1
            Unsafe.Add(&y, i) <- act (t0 + Unsafe.Add(&bias, i))
            i <- i + 1

    /// Σ x[0..n) over whole vectors, in float32; returns (sum, elements done).
    let sum (x: byref<float32>) (n: int) =
        let mutable s0 = VEC<float32>.Zero
        let mutable s1 = VEC<float32>.Zero
        let mutable p = 0
        while p + 2 * Lanes <= n do
            s0 <- s0 + VEC.LoadUnsafe(&x, unativeint p)
            s1 <- s1 + VEC.LoadUnsafe(&x, unativeint (p + Lanes))
            p <- p + 2 * Lanes
        if p + Lanes <= n then
            s0 <- s0 + VEC.LoadUnsafe(&x, unativeint p)
            p <- p + Lanes
        struct (VEC.Sum(s0 + s1), p)

    /// Σ x[0..n)² over whole vectors, accumulated in float64; returns (sum, elements done).
    let sumSquares (x: byref<float32>) (n: int) =
        let mutable s0 = VEC<float>.Zero
        let mutable s1 = VEC<float>.Zero
        let mutable p = 0
        while p + Lanes <= n do
            let struct (lo, hi) = VEC.Widen(VEC.LoadUnsafe(&x, unativeint p))
            s0 <- VEC.MultiplyAddEstimate(lo, lo, s0)
            s1 <- VEC.MultiplyAddEstimate(hi, hi, s1)
            p <- p + Lanes
        struct (VEC.Sum(s0 + s1), p)

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
        let vb1 = VEC.Create beta1
        let vob1 = VEC.Create oneMinusBeta1
        let vb2 = VEC.Create beta2
        let vob2 = VEC.Create oneMinusBeta2
        let vsq = VEC.Create sqrtBc2
        let veps = VEC.Create eps
        let vstep = VEC.Create negStepSize
        let vscale = VEC.Create scale
        let vtiny = VEC.Create tiny
        let mutable i = 0
        while i + Lanes <= n do
            let o = unativeint i
            let gv0 = VEC.LoadUnsafe(&g, o)
            let gv = if scaled then gv0 * vscale else gv0
            let mv0 = VEC.MultiplyAddEstimate(gv, vob1, VEC.LoadUnsafe(&m, o) * vb1)
            let mv = VEC.AndNot(mv0, VEC.LessThan(VEC.Abs mv0, vtiny))
            let vv0 = VEC.LoadUnsafe(&v, o) * vb2 + vob2 * gv * gv
            let vv = VEC.AndNot(vv0, VEC.LessThan(vv0, vtiny))
            let denom = VEC.Sqrt vv / vsq + veps
            let pv = VEC.LoadUnsafe(&p, o) + vstep * mv / denom
            VEC.StoreUnsafe(mv, &m, o)
            VEC.StoreUnsafe(vv, &v, o)
            VEC.StoreUnsafe(pv, &p, o)
            i <- i + Lanes
        i

