module Dqn.Fun.Tests.FusedMlpTests

open System
open System.Runtime.InteropServices
open System.Runtime.Intrinsics
open Expecto
open FsCheck
open FsCheck.FSharp
open TorchSharp
open Dqn.Fun
open Dqn.Fun.Tests.TestConfig

/// Every SIMD level this machine runs: each is tested.
let private levels =
    [ FusedMlp.SimdLevel.Scalar
      if Vector128.IsHardwareAccelerated then FusedMlp.SimdLevel.Vector128
      if Vector256.IsHardwareAccelerated then FusedMlp.SimdLevel.Vector256
      if Vector512.IsHardwareAccelerated then FusedMlp.SimdLevel.Vector512 ]

let private spansOf (tensors: float32[][]) = FusedMlp.ParameterSpans(fun i -> Span tensors[i])

let private copyAll (tensors: float32[][]) = tensors |> Array.map Array.copy

let private zerosLike (tensors: float32[][]) = tensors |> Array.map (fun t -> Array.zeroCreate<float32> t.Length)

/// |expected - actual| within tolerance, relative to max(1, |expected|).
let private closeTo (tolerance: float) (expected: float) (actual: float) =
    abs (expected - actual) <= tolerance * max 1.0 (abs expected)

let private fail (what: string) = failtest what

/// One update's inputs.
type private Case =
    { Widths: int[]
      Batch: int
      /// The workspace's MaxBatch, at least Batch.
      Capacity: int
      Settings: FusedMlp.Settings
      Online: float32[][]
      Target: float32[][]
      Observations: float32[]
      NextObservations: float32[]
      Actions: int64[]
      Rewards: float32[]
      Discounts: float32[]
      /// Seeds the random Adam state of the second step.
      Seed: int }

    override c.ToString() =
        $"widths %A{c.Widths}, batch {c.Batch} (capacity {c.Capacity}), %A{c.Settings}, seed {c.Seed}"

/// Parameters with PyTorch's default nn.Linear initialisation range, U(-1/sqrt(in), 1/sqrt(in)).
let private randomParameters (rng: Random) (widths: int[]) =
    [| for l in 0 .. widths.Length - 2 do
           let bound = 1.0 / sqrt (float widths[l])
           let u () = float32 ((rng.NextDouble() * 2.0 - 1.0) * bound)
           Array.init (widths[l + 1] * widths[l]) (fun _ -> u ())
           Array.init widths[l + 1] (fun _ -> u ()) |]

let private caseOf (widths: int[]) (batch: int) (extra: int) (settings: FusedMlp.Settings) (seed: int) =
    let rng = Random seed
    let uniform scale = float32 ((rng.NextDouble() * 2.0 - 1.0) * scale)
    let online = randomParameters rng widths
    let obsSize = widths[0]
    let actions = widths[widths.Length - 1]
    { Widths = widths
      Batch = batch
      Capacity = batch + extra
      Settings = settings
      Online = online
      // The target: the online network moved a little, so that the online and target argmaxes differ.
      Target = online |> Array.map (Array.map (fun x -> x + uniform 0.2))
      Observations = Array.init (batch * obsSize) (fun _ -> uniform 2.0)
      NextObservations = Array.init (batch * obsSize) (fun _ -> uniform 2.0)
      Actions = Array.init batch (fun _ -> int64 (rng.Next actions))
      Rewards = Array.init batch (fun _ -> uniform 2.0)
      Discounts =
        Array.init batch (fun _ ->
            match rng.Next 3 with
            | 0 -> 0.0f
            | 1 -> 0.99f
            | _ -> float32 (rng.NextDouble()))
      Seed = seed }

// ---- A float64 reference, written out sample by sample.

/// The activations of a network for one observation in float64: acts[0] = x, acts[l + 1] = layer l's output.
let private referenceForward (widths: int[]) (ps: float32[][]) (x: float[]) =
    let layers = widths.Length - 1
    let acts = Array.zeroCreate<float[]> (layers + 1)
    acts[0] <- x
    for l in 0 .. layers - 1 do
        let w = ps[2 * l]
        let b = ps[2 * l + 1]
        let inW = widths[l]
        acts[l + 1] <-
            Array.init widths[l + 1] (fun o ->
                let mutable s = float b[o]
                for k in 0 .. inW - 1 do
                    s <- s + float w[o * inW + k] * acts[l][k]
                if l < layers - 1 then max s 0.0 else s)
    acts

/// The first index of the largest value.
let private argmaxFirst (xs: float[]) =
    let mutable best = 0
    for a in 1 .. xs.Length - 1 do
        if xs[a] > xs[best] then best <- a
    best

let private row (xs: float32[]) (size: int) (i: int) = Array.init size (fun k -> float xs[i * size + k])

/// Whether, for some sample, the two best actions at s' under the online or the target network are within
/// 1e-4 of each other.
let private hasNearTies (c: Case) =
    let layers = c.Widths.Length - 1
    let obsSize = c.Widths[0]
    let nearTie (q: float[]) =
        q.Length > 1
        && (let sorted = Array.sortDescending q
            sorted[0] - sorted[1] < 1e-4 * max 1.0 (abs sorted[0]))
    Seq.init c.Batch id
    |> Seq.exists (fun i ->
        let x = row c.NextObservations obsSize i
        let online = referenceForward c.Widths c.Online x
        let target = referenceForward c.Widths c.Target x
        nearTie online[layers] || nearTie target[layers])

let private caseGen =
    gen {
        let! obsSize = Gen.choose (1, 9)
        let! depth = Gen.choose (0, 2)
        let! hidden = Gen.listOfLength depth (Gen.choose (1, 40))
        let! actions = Gen.choose (1, 6)
        let! batch = Gen.frequency [ 1, Gen.constant 1; 4, Gen.choose (1, 40) ]
        let! extra = Gen.elements [ 0; 0; 3; 9 ]
        let! loss = Gen.elements [ FusedMlp.LossKind.Huber; FusedMlp.LossKind.Mse ]
        let! doubleDqn = Gen.elements [ false; true ]
        let! clip = Gen.elements [ 0.0; 0.05; 1000.0 ]
        let! lr = Gen.elements [ 1e-3; 1e-2 ]
        let! eps = Gen.elements [ 1e-8; 1e-4 ]
        let! seed = Gen.choose (0, Int32.MaxValue)
        let settings =
            { FusedMlp.defaultSettings with
                Loss = loss
                DoubleDqn = doubleDqn
                MaxGradNorm = clip
                LearningRate = lr
                Epsilon = eps }
        return caseOf [| obsSize; yield! hidden; actions |] batch extra settings seed
    }
    // float32 rounding could pick the other of two near-equal actions at s', and so another target.
    |> Gen.filter (fun c -> not (hasNearTies c))

/// The reference loss, mean Q and (clipped) gradients of case c, in float64.
let private referenceGradients (c: Case) =
    let layers = c.Widths.Length - 1
    let obsSize = c.Widths[0]
    let grads = c.Online |> Array.map (fun p -> Array.zeroCreate<float> p.Length)
    let mutable loss = 0.0
    let mutable qSum = 0.0
    let n = float c.Batch
    for i in 0 .. c.Batch - 1 do
        let nextTarget = (referenceForward c.Widths c.Target (row c.NextObservations obsSize i))[layers]
        let aStar =
            if c.Settings.DoubleDqn then
                let nextOnline = referenceForward c.Widths c.Online (row c.NextObservations obsSize i)
                argmaxFirst nextOnline[layers]
            else
                argmaxFirst nextTarget
        let y = float c.Rewards[i] + float c.Discounts[i] * nextTarget[aStar]
        let acts = referenceForward c.Widths c.Online (row c.Observations obsSize i)
        let a = int c.Actions[i]
        let q = acts[layers][a]
        let d = q - y
        qSum <- qSum + q
        let dq =
            match c.Settings.Loss with
            | FusedMlp.LossKind.Mse ->
                loss <- loss + d * d
                2.0 * d / n
            | _ ->
                loss <- loss + (if abs d < 1.0 then 0.5 * d * d else abs d - 0.5)
                (max -1.0 (min 1.0 d)) / n
        let mutable g = Array.zeroCreate<float> c.Widths[layers]
        g[a] <- dq
        for l in layers - 1 .. -1 .. 0 do
            let inW = c.Widths[l]
            let w = c.Online[2 * l]
            for o in 0 .. g.Length - 1 do
                grads[2 * l + 1][o] <- grads[2 * l + 1][o] + g[o]
                for k in 0 .. inW - 1 do
                    grads[2 * l][o * inW + k] <- grads[2 * l][o * inW + k] + g[o] * acts[l][k]
            if l > 0 then
                g <-
                    Array.init inW (fun k ->
                        if acts[l][k] > 0.0 then
                            let mutable s = 0.0
                            for o in 0 .. g.Length - 1 do
                                s <- s + float w[o * inW + k] * g[o]
                            s
                        else
                            0.0)
    if c.Settings.MaxGradNorm > 0.0 then
        let total = sqrt (grads |> Array.sumBy (Array.sumBy (fun x -> x * x)))
        let coef = c.Settings.MaxGradNorm / (total + 1e-6)
        if coef < 1.0 then
            for t in grads do
                for j in 0 .. t.Length - 1 do
                    t[j] <- t[j] * coef
    loss / n, qSum / n, grads

/// One float64 Adam step (Kingma and Ba 2015, Algorithm 1, as torch.optim.Adam): the new p, m, v.
let private referenceAdam (s: FusedMlp.Settings) (step: int64) (p: float) (m: float) (v: float) (g: float) =
    let t = float (step + 1L)
    let bc1 = 1.0 - s.Beta1 ** t
    let bc2 = 1.0 - s.Beta2 ** t
    let m' = s.Beta1 * m + (1.0 - s.Beta1) * g
    let v' = s.Beta2 * v + (1.0 - s.Beta2) * g * g
    p - s.LearningRate / bc1 * m' / (sqrt v' / sqrt bc2 + s.Epsilon), m', v'

let private runUpdate (ws: FusedMlp.Workspace) (c: Case) (online: float32[][]) (m: float32[][]) (v: float32[][]) (step: int64) =
    FusedMlp.update
        ws
        c.Settings
        (spansOf online)
        (spansOf c.Target)
        (spansOf m)
        (spansOf v)
        step
        (ReadOnlySpan c.Observations)
        (ReadOnlySpan c.NextObservations)
        (ReadOnlySpan c.Actions)
        (ReadOnlySpan c.Rewards)
        (ReadOnlySpan c.Discounts)

/// Checks one case on one SIMD level against the reference; fails with the first difference.
let private checkAgainstReference (c: Case) (level: FusedMlp.SimdLevel) =
    let refLoss, refMeanQ, refGrads = referenceGradients c
    let s = c.Settings
    let ws = FusedMlp.Workspace(c.Widths, c.Capacity, level)
    // A fresh optimizer (step 0, m = v = 0): m = (1 - beta1) g gives back the gradient the update used.
    let online = copyAll c.Online
    let m = zerosLike c.Online
    let v = zerosLike c.Online
    let r = runUpdate ws c online m v 0L
    if not (closeTo 1e-5 refLoss r.Loss) then fail $"{level}: loss {r.Loss}, reference {refLoss}"
    if not (closeTo 1e-5 refMeanQ r.MeanQ) then fail $"{level}: mean Q {r.MeanQ}, reference {refMeanQ}"
    if r.Step <> 1L then fail $"{level}: step {r.Step}, expected 1"
    let largest = refGrads |> Array.map (Array.fold (fun a x -> max a (abs x)) 0.0) |> Array.max
    let grads = m |> Array.map (Array.map (fun x -> float x / (1.0 - s.Beta1)))
    for t in 0 .. grads.Length - 1 do
        let scale = (refGrads[t] |> Array.fold (fun a x -> max a (abs x)) 0.0) + 1e-3 * largest + 1e-9
        for j in 0 .. grads[t].Length - 1 do
            let g = grads[t].[j]
            let gRef = refGrads[t].[j]
            if abs (g - gRef) > 1e-4 * scale then
                fail $"{level}: gradient of parameter {t} element {j}: {g}, reference {gRef}"
            // The Adam step from that gradient.
            let p', _, v' = referenceAdam s 0L (float c.Online[t].[j]) 0.0 0.0 g
            let vj = float v[t].[j]
            let pj = float online[t].[j]
            if abs (v' - vj) > 1e-5 * abs v' then
                fail $"{level}: v of parameter {t} element {j}: {vj}, reference {v'}"
            if not (closeTo 1e-6 p' pj) then
                fail $"{level}: parameter {t} element {j} after the step: {pj}, reference {p'}"
    // A running optimizer: random moments and step count, the same gradient.
    let rng = Random c.Seed
    let online2 = copyAll c.Online
    let m2 = c.Online |> Array.map (Array.map (fun _ -> float32 ((rng.NextDouble() - 0.5) * 0.02)))
    let v2 = c.Online |> Array.map (Array.map (fun _ -> float32 (rng.NextDouble() * 1e-4)))
    let m0 = copyAll m2
    let v0 = copyAll v2
    let step0 = int64 (rng.Next 1000)
    let r2 = runUpdate ws c online2 m2 v2 step0
    if r2.Step <> step0 + 1L then fail $"{level}: step {r2.Step}, expected {step0 + 1L}"
    if r2.Loss <> r.Loss then fail $"{level}: the second update's loss {r2.Loss} differs from the first's {r.Loss}"
    for t in 0 .. grads.Length - 1 do
        for j in 0 .. grads[t].Length - 1 do
            let g = grads[t].[j]
            let mStart = float m0[t].[j]
            let p', m', v' = referenceAdam s step0 (float c.Online[t].[j]) mStart (float v0[t].[j]) g
            let mj = float m2[t].[j]
            let vj = float v2[t].[j]
            let pj = float online2[t].[j]
            if abs (m' - mj) > 1e-6 * (s.Beta1 * abs mStart + (1.0 - s.Beta1) * abs g) + 1e-12 then
                fail $"{level}: m of parameter {t} element {j} at step {step0 + 1L}: {mj}, reference {m'}"
            if abs (v' - vj) > 1e-6 * abs v' then
                fail $"{level}: v of parameter {t} element {j} at step {step0 + 1L}: {vj}, reference {v'}"
            if not (closeTo 1e-6 p' pj) then
                fail $"{level}: parameter {t} element {j} at step {step0 + 1L}: {pj}, reference {p'}"

// ---- Against TorchSharp's autograd, torch.optim.Adam and clip_grad_norm_.

let private torchMlp (widths: int[]) =
    let modules =
        [| for l in 0 .. widths.Length - 2 do
               torch.nn.Linear(int64 widths[l], int64 widths[l + 1]) :> torch.nn.Module<torch.Tensor, torch.Tensor>
               if l < widths.Length - 2 then torch.nn.ReLU() |]
    torch.nn.Sequential modules

let private parametersOf (net: torch.nn.Module) = net.parameters () |> Seq.map (fun p -> p :> torch.Tensor) |> Array.ofSeq

let private tensorSpans (tensors: torch.Tensor[]) =
    FusedMlp.ParameterSpans(fun i -> MemoryMarshal.Cast<byte, float32> tensors[i].bytes)

let private valuesOf (t: torch.Tensor) = t.data<float32>().ToArray()

/// The autograd update, as the library's Learner runs it: per-sample losses (Reduction.None), their mean,
/// backward, clip_grad_norm_, Adam.step. Returns the loss and clip_grad_norm_'s total norm (0 without clipping).
let private autogradUpdate (online: torch.nn.Module<torch.Tensor, torch.Tensor>) (target: torch.nn.Module<torch.Tensor, torch.Tensor>) (optimizer: torch.optim.Optimizer) (s: FusedMlp.Settings) (c: Case) =
    use scope = torch.NewDisposeScope()
    let b = int64 c.Batch
    let obsShape = [| b; int64 c.Widths[0] |]
    let obs = torch.tensor (c.Observations, ReadOnlySpan obsShape)
    let nextObs = torch.tensor (c.NextObservations, ReadOnlySpan obsShape)
    let actions = torch.tensor (c.Actions, ReadOnlySpan [| b |])
    let rewards = torch.tensor (c.Rewards, ReadOnlySpan [| b |])
    let discounts = torch.tensor (c.Discounts, ReadOnlySpan [| b |])
    let y =
        use _ = torch.no_grad ()
        let nextTarget: torch.Tensor = target.forward nextObs
        let chooser: torch.Tensor = if s.DoubleDqn then online.forward nextObs else nextTarget
        let aStar = chooser.argmax(1L, keepdim = true)
        rewards + discounts * nextTarget.gather(1L, aStar).squeeze 1L
    let q = (online.forward obs).gather(1L, actions.unsqueeze 1L).squeeze 1L
    let losses =
        match s.Loss with
        | FusedMlp.LossKind.Mse -> torch.nn.functional.mse_loss (q, y, torch.nn.Reduction.None)
        | _ -> torch.nn.functional.huber_loss (q, y, 1.0, torch.nn.Reduction.None)
    let loss = losses.mean ()
    optimizer.zero_grad ()
    loss.backward ()
    let norm = if s.MaxGradNorm > 0.0 then torch.nn.utils.clip_grad_norm_ (online.parameters (), s.MaxGradNorm) else 0.0
    optimizer.step () |> ignore
    loss.item<float32> () |> float, norm

/// Five updates on fresh random batches, through autograd on one copy of a network and fused on another
/// (whose Adam moments live in a second torch.optim.Adam's state): losses, parameters and moments agree.
let private checkAgainstAutograd (widths: int[]) (batch: int) (s: FusedMlp.Settings) (level: FusedMlp.SimdLevel) =
    torch.manual_seed 3L |> ignore
    use online = torchMlp widths
    use target = torchMlp widths
    use fused = torchMlp widths
    let onlineParams = parametersOf online
    let fusedParams = parametersOf fused
    let targetParams = parametersOf target
    do
        use _ = torch.no_grad ()
        for p, f in Array.zip onlineParams fusedParams do
            f.copy_ p |> ignore
    use adam = torch.optim.Adam (online.parameters (), lr = s.LearningRate, beta1 = s.Beta1, beta2 = s.Beta2, eps = s.Epsilon)
    use stateHolder = torch.optim.Adam (fused.parameters (), lr = s.LearningRate)
    let states = stateHolder.state_dict().State |> Seq.map (fun st -> st :?> Modules.Adam.State) |> Array.ofSeq
    let ws = FusedMlp.Workspace(widths, batch, level)
    let onlineSpans = tensorSpans fusedParams
    let targetSpans = tensorSpans targetParams
    let mSpans = tensorSpans (states |> Array.map (fun st -> st.exp_avg))
    let vSpans = tensorSpans (states |> Array.map (fun st -> st.exp_avg_sq))
    let mutable clipped = 0
    for k in 1..5 do
        let c = caseOf widths batch 0 s (100 + k)
        let loss, norm = autogradUpdate online target adam s c
        if norm > s.MaxGradNorm && s.MaxGradNorm > 0.0 then clipped <- clipped + 1
        let r =
            FusedMlp.update
                ws
                s
                onlineSpans
                targetSpans
                mSpans
                vSpans
                states[0].step
                (ReadOnlySpan c.Observations)
                (ReadOnlySpan c.NextObservations)
                (ReadOnlySpan c.Actions)
                (ReadOnlySpan c.Rewards)
                (ReadOnlySpan c.Discounts)
        for st in states do
            st.step <- r.Step
        if not (closeTo 1e-5 loss r.Loss) then fail $"{level} update {k}: loss {r.Loss}, autograd {loss}"
        let autogradStates = adam.state_dict().State |> Seq.map (fun st -> st :?> Modules.Adam.State) |> Array.ofSeq
        for t in 0 .. onlineParams.Length - 1 do
            let expected = valuesOf onlineParams[t]
            let actual = valuesOf fusedParams[t]
            let expectedM = valuesOf autogradStates[t].exp_avg
            let actualM = valuesOf states[t].exp_avg
            let largestM = expectedM |> Array.fold (fun a x -> max a (abs x)) 0.0f
            for j in 0 .. expected.Length - 1 do
                if abs (expected[j] - actual[j]) > 1e-5f * max 1.0f (abs expected[j]) then
                    fail $"{level} update {k}: parameter {t} element {j}: {actual[j]}, autograd {expected[j]}"
                if abs (expectedM[j] - actualM[j]) > 1e-4f * largestM + 1e-9f then
                    fail $"{level} update {k}: exp_avg of parameter {t} element {j}: {actualM[j]}, autograd {expectedM[j]}"
        if adam.state_dict().State |> Seq.exists (fun st -> (st :?> Modules.Adam.State).step <> r.Step) then
            fail $"{level} update {k}: the step counts differ"
    if s.MaxGradNorm > 0.0 && clipped = 0 then fail "the clipping case never clipped"

// ---- Ties, NaN and argument errors.

/// A network 2-3-A whose Q-values are its output bias (last layer's weights 0).
let private constantQ (q: float32[]) =
    let w = [| 2; 3; q.Length |]
    [| Array.create 6 0.5f; Array.zeroCreate 3; Array.zeroCreate (3 * q.Length); Array.copy q |], w

let private throws<'E when 'E :> exn> (paramName: string) (fragment: string) (f: unit -> unit) =
    let e = Expect.wantThrows<'E> f typeof<'E>.Name
    match box e with
    | :? ArgumentException as a when not (isNull paramName) -> Expect.equal a.ParamName paramName "a.ParamName"
    | _ -> ()
    Expect.stringContains e.Message fragment "e.Message"

[<Tests>]
let tests =
    testList "FusedMlp" [
        testPropertyWithConfig fsCheck "the update's loss, mean Q, gradients and Adam step match a float64 reference on every SIMD level" (
            Prop.forAll (Arb.fromGen caseGen) (fun c -> levels |> List.iter (checkAgainstReference c))
        )

        testCase "the update matches the reference on the CartPole network 4-128-128-2 with batch 64" <| fun () ->
            for loss in [ FusedMlp.LossKind.Huber; FusedMlp.LossKind.Mse ] do
                for doubleDqn in [ false; true ] do
                    for clip in [ 0.0; 0.1 ] do
                        let settings = { FusedMlp.defaultSettings with Loss = loss; DoubleDqn = doubleDqn; MaxGradNorm = clip }
                        let c = caseOf [| 4; 128; 128; 2 |] 64 0 settings 7
                        for level in levels do
                            checkAgainstReference c level

        testPropertyWithConfig fsCheck "qValues and greedyActions match the float64 reference forward pass for one observation and for batches" (
            let gen =
                gen {
                    let! obsSize = Gen.choose (1, 9)
                    let! depth = Gen.choose (0, 2)
                    let! hidden = Gen.listOfLength depth (Gen.choose (1, 40))
                    let! actions = Gen.choose (1, 6)
                    let! n = Gen.choose (1, 20)
                    let! seed = Gen.choose (0, Int32.MaxValue)
                    return [| obsSize; yield! hidden; actions |], n, seed
                }
            Prop.forAll (Arb.fromGen gen) (fun (widths, n, seed) ->
                let c = caseOf widths n 0 FusedMlp.defaultSettings seed
                let obsSize = widths[0]
                let na = widths[widths.Length - 1]
                let expected = Array.init n (fun i -> (referenceForward widths c.Online (row c.Observations obsSize i))[widths.Length - 1])
                for level in levels do
                    let ws = FusedMlp.Workspace(widths, n, level)
                    let q = Array.zeroCreate<float32> (n * na)
                    FusedMlp.qValues ws (spansOf c.Online) (ReadOnlySpan c.Observations) (Span q)
                    let greedy = Array.zeroCreate<int> n
                    FusedMlp.greedyActions ws (spansOf c.Online) (ReadOnlySpan c.Observations) (Span greedy)
                    for i in 0 .. n - 1 do
                        for a in 0 .. na - 1 do
                            let e = expected[i].[a]
                            let actual = float q[i * na + a]
                            if not (closeTo 1e-5 e actual) then
                                fail $"{level}: Q({i}, {a}) = {actual}, reference {e}"
                        let row = Array.init na (fun a -> float q[i * na + a])
                        if greedy[i] <> argmaxFirst row then
                            fail $"{level}: greedy action {greedy[i]} of observation {i}, but its Q-values are %A{row}"
                        let one = FusedMlp.greedyAction ws (spansOf c.Online) (ReadOnlySpan(c.Observations, i * obsSize, obsSize))
                        let sorted = Array.sortDescending expected[i]
                        // Where the two best are apart by more than float32 rounding, both agree with the reference.
                        if na = 1 || sorted[0] - sorted[1] > 1e-4 then
                            if one <> argmaxFirst expected[i] || greedy[i] <> argmaxFirst expected[i] then
                                fail $"{level}: greedy actions {one} and {greedy[i]}, reference {argmaxFirst expected[i]}"
                true)
        )

        testCase "five fused updates equal TorchSharp autograd with Adam for Huber and MSE, Double DQN on and off, clipping on and off" <| fun () ->
            for loss in [ FusedMlp.LossKind.Huber; FusedMlp.LossKind.Mse ] do
                for doubleDqn in [ false; true ] do
                    for clip in [ 0.0; 0.02 ] do
                        let s = { FusedMlp.defaultSettings with Loss = loss; DoubleDqn = doubleDqn; MaxGradNorm = clip }
                        for level in levels do
                            checkAgainstAutograd [| 5; 37; 29; 3 |] 24 s level
                        checkAgainstAutograd [| 4; 128; 128; 2 |] 64 s FusedMlp.bestSimd

        testCase "the fused update equals autograd with a larger learning rate, other betas and eps, and a linear network" <| fun () ->
            let s =
                { FusedMlp.defaultSettings with
                    Loss = FusedMlp.LossKind.Mse
                    DoubleDqn = true
                    MaxGradNorm = 2.0
                    LearningRate = 1e-2
                    Beta1 = 0.5
                    Beta2 = 0.9
                    Epsilon = 1e-4 }
            for level in levels do
                checkAgainstAutograd [| 6; 5 |] 9 s level
                checkAgainstAutograd [| 3; 64; 64; 6 |] 1 s level

        testCase "greedy actions break ties toward the lowest action and take the first NaN, as torch.argmax" <| fun () ->
            for values in [ [| 1f; 3f; 3f; 0f |]; [| 2f; 2f |]; [| 1f; nanf; 5f; nanf |]; [| -1f; -1f; -1f |]; [| infinityf; infinityf |] ] do
                let expected =
                    use t = torch.tensor values
                    use a = t.argmax ()
                    int (a.item<int64> ())
                let ps, widths = constantQ values
                for level in levels do
                    let ws = FusedMlp.Workspace(widths, 8, level)
                    Expect.equal (FusedMlp.greedyAction ws (spansOf ps) (ReadOnlySpan [| 0.3f; -0.2f |])) expected "FusedMlp.greedyAction ws (spansOf ps) (ReadOnlySpan [| 0...."
                    let batch = Array.zeroCreate<int> 6
                    FusedMlp.greedyActions ws (spansOf ps) (ReadOnlySpan(Array.create 12 0.1f)) (Span batch)
                    Expect.equal batch (Array.create 6 expected) "batch"

        testCase "the target takes the lowest of tied greedy actions, under the target network and under Double DQN's online one" <| fun () ->
            // Online Q = [2; 2; 0] everywhere (a tie between 0 and 1); target Q = [10; 20; 30].
            let online, widths = constantQ [| 2f; 2f; 0f |]
            let target, _ = constantQ [| 10f; 20f; 30f |]
            let tiedTarget, _ = constantQ [| 7f; 7f; 5f |]
            let run (settings: FusedMlp.Settings) (target: float32[][]) level =
                let ws = FusedMlp.Workspace(widths, 4, level)
                let r =
                    FusedMlp.update
                        ws
                        settings
                        (spansOf (copyAll online))
                        (spansOf target)
                        (spansOf (zerosLike online))
                        (spansOf (zerosLike online))
                        0L
                        (ReadOnlySpan [| 0.1f; 0.2f; 0.3f; 0.4f |])
                        (ReadOnlySpan [| 0.5f; 0.6f; 0.7f; 0.8f |])
                        (ReadOnlySpan [| 0L; 2L |])
                        (ReadOnlySpan [| 0f; 1f |])
                        (ReadOnlySpan [| 0.5f; 0.5f |])
                r.Loss
            let mse = { FusedMlp.defaultSettings with Loss = FusedMlp.LossKind.Mse }
            for level in levels do
                // Double DQN: a* = 0 (the lower of the tied online actions), valued 10 by the target: y = r + 5.
                let expected = ((2.0 - 5.0) ** 2.0 + (0.0 - 6.0) ** 2.0) / 2.0
                Expect.floatClose (Accuracy.places 6) (run { mse with DoubleDqn = true } target level) expected "run { mse with DoubleDqn = true } target level"
                // Plain DQN: max of the target = 30 (y = r + 15); with a tie in the target, the tied value 7 (y = r + 3.5).
                Expect.floatClose (Accuracy.places 6) (run mse target level) (((2.0 - 15.0) ** 2.0 + (0.0 - 16.0) ** 2.0) / 2.0) "run mse target level"
                Expect.floatClose (Accuracy.places 6) (run mse tiedTarget level) (((2.0 - 3.5) ** 2.0 + (0.0 - 4.5) ** 2.0) / 2.0) "run mse tiedTarget level"

        testCase "a workspace rejects widths and batch sizes it cannot hold, naming the value" <| fun () ->
            throws<ArgumentNullException> "widths" "widths" (fun () -> FusedMlp.Workspace(null, 4) |> ignore)
            throws<ArgumentException> "widths" "at least two entries" (fun () -> FusedMlp.Workspace([| 4 |], 4) |> ignore)
            throws<ArgumentOutOfRangeException> "widths" "widths[1] must be positive, got 0" (fun () -> FusedMlp.Workspace([| 4; 0; 2 |], 4) |> ignore)
            throws<ArgumentOutOfRangeException> "maxBatch" "maxBatch must be positive, got 0" (fun () -> FusedMlp.Workspace([| 4; 2 |], 0) |> ignore)
            throws<ArgumentOutOfRangeException> "widths" "the buffers for the 4-1000000-2 MLP and maxBatch 10000 would need" (fun () ->
                FusedMlp.Workspace([| 4; 1_000_000; 2 |], 10_000) |> ignore)
            throws<ArgumentOutOfRangeException> "widths" "W1 would be [50000; 50000], more elements than an array or a span holds" (fun () ->
                FusedMlp.Workspace([| 50_000; 50_000; 2 |], 1) |> ignore)
            let ws = FusedMlp.Workspace([| 4; 5; 2 |], 4)
            Expect.equal ws.ParameterCount 4 "ws.ParameterCount"
            Expect.equal [ for i in 0..3 -> ws.ParameterLength i ] [ 20; 5; 10; 2 ] "[ for i in 0..3 -> ws.ParameterLength i ]"
            throws<ArgumentOutOfRangeException> "index" "index must be in 0..3, got 4" (fun () -> ws.ParameterLength 4 |> ignore)

        testCase "the update checks every argument first, names the value and what it expected, and then writes nothing" <| fun () ->
            let c = caseOf [| 3; 5; 2 |] 4 0 FusedMlp.defaultSettings 1
            let ws = FusedMlp.Workspace(c.Widths, 4)
            let online = copyAll c.Online
            let m = zerosLike c.Online
            let v = zerosLike c.Online
            let call (settings: FusedMlp.Settings) (step: int64) (obs: float32[]) (nextObs: float32[]) (actions: int64[]) (rewards: float32[]) (discounts: float32[]) (vs: float32[][]) () =
                FusedMlp.update ws settings (spansOf online) (spansOf c.Target) (spansOf m) (spansOf vs) step (ReadOnlySpan obs) (ReadOnlySpan nextObs) (ReadOnlySpan actions) (ReadOnlySpan rewards) (ReadOnlySpan discounts)
                |> ignore
            let s = FusedMlp.defaultSettings
            throws<ArgumentOutOfRangeException> "actions" "must be in 1..4 (the workspace's MaxBatch), got 0" (call s 0L [||] [||] [||] [||] [||] v)
            throws<ArgumentOutOfRangeException> "actions" "must be in 1..4 (the workspace's MaxBatch), got 5" (call s 0L (Array.zeroCreate 15) (Array.zeroCreate 15) (Array.zeroCreate 5) (Array.zeroCreate 5) (Array.zeroCreate 5) v)
            throws<ArgumentException> "observations" "observations has 11 elements; expected 12" (call s 0L c.Observations[1..] c.NextObservations c.Actions c.Rewards c.Discounts v)
            throws<ArgumentException> "nextObservations" "nextObservations has 13 elements; expected 12" (call s 0L c.Observations (Array.append c.NextObservations [| 0f |]) c.Actions c.Rewards c.Discounts v)
            throws<ArgumentException> "rewards" "rewards has 3 elements; expected 4" (call s 0L c.Observations c.NextObservations c.Actions c.Rewards[1..] c.Discounts v)
            throws<ArgumentException> "discounts" "discounts has 5 elements; expected 4" (call s 0L c.Observations c.NextObservations c.Actions c.Rewards (Array.append c.Discounts [| 1f |]) v)
            throws<ArgumentOutOfRangeException> "actions" "actions[3] must be in 0..1 (the action count is 2), got 2" (call s 0L c.Observations c.NextObservations [| 0L; 1L; 0L; 2L |] c.Rewards c.Discounts v)
            throws<ArgumentOutOfRangeException> "actions" "actions[0] must be in 0..1 (the action count is 2), got -1" (call s 0L c.Observations c.NextObservations [| -1L; 1L; 0L; 1L |] c.Rewards c.Discounts v)
            throws<ArgumentOutOfRangeException> "step" "must be at least 0, got -1" (call s -1L c.Observations c.NextObservations c.Actions c.Rewards c.Discounts v)
            throws<ArgumentOutOfRangeException> "settings" "settings.LearningRate must be finite and at least 0, got -0.1" (call { s with LearningRate = -0.1 } 0L c.Observations c.NextObservations c.Actions c.Rewards c.Discounts v)
            throws<ArgumentOutOfRangeException> "settings" "settings.Beta1 must be in [0, 1), got 1" (call { s with Beta1 = 1.0 } 0L c.Observations c.NextObservations c.Actions c.Rewards c.Discounts v)
            throws<ArgumentOutOfRangeException> "settings" "settings.Beta2 must be in [0, 1), got NaN" (call { s with Beta2 = nan } 0L c.Observations c.NextObservations c.Actions c.Rewards c.Discounts v)
            throws<ArgumentOutOfRangeException> "settings" "settings.Epsilon must be finite and at least 0" (call { s with Epsilon = infinity } 0L c.Observations c.NextObservations c.Actions c.Rewards c.Discounts v)
            throws<ArgumentOutOfRangeException> "settings" "settings.MaxGradNorm must be a number" (call { s with MaxGradNorm = nan } 0L c.Observations c.NextObservations c.Actions c.Rewards c.Discounts v)
            // A moment buffer of the wrong size, found before the online parameters are touched.
            let shortV = zerosLike c.Online
            shortV[3] <- Array.zeroCreate 1
            throws<ArgumentException> "expAvgSq" "expAvgSq's parameter 3, b2 [2], has 1 elements; the 3-5-2 MLP needs 2" (call s 0L c.Observations c.NextObservations c.Actions c.Rewards c.Discounts shortV)
            for t in 0 .. online.Length - 1 do
                Expect.equal (online[t]) (c.Online[t]) "online[t]"
                Expect.isTrue (m[t] |> Array.forall ((=) 0.0f)) "m[t] |> Array.forall ((=) 0.0f)"
            throws<ArgumentNullException> "target" "target" (fun () ->
                FusedMlp.update ws s (spansOf online) null (spansOf m) (spansOf v) 0L (ReadOnlySpan c.Observations) (ReadOnlySpan c.NextObservations) (ReadOnlySpan c.Actions) (ReadOnlySpan c.Rewards) (ReadOnlySpan c.Discounts)
                |> ignore)
            // Then a good call goes through.
            let r = FusedMlp.update ws s (spansOf online) (spansOf c.Target) (spansOf m) (spansOf v) 0L (ReadOnlySpan c.Observations) (ReadOnlySpan c.NextObservations) (ReadOnlySpan c.Actions) (ReadOnlySpan c.Rewards) (ReadOnlySpan c.Discounts)
            Expect.equal r.Step 1L "r.Step"

        testCase "the forward passes check the observation and output sizes and the parameters" <| fun () ->
            let c = caseOf [| 3; 5; 2 |] 4 0 FusedMlp.defaultSettings 1
            let ws = FusedMlp.Workspace(c.Widths, 4)
            let net = spansOf c.Online
            throws<ArgumentException> "observation" "observation has 4 elements; expected 3" (fun () -> FusedMlp.greedyAction ws net (ReadOnlySpan(Array.zeroCreate 4)) |> ignore)
            throws<ArgumentException> "observations" "observations has 7 elements; expected a positive multiple of the observation size 3" (fun () ->
                FusedMlp.qValues ws net (ReadOnlySpan(Array.zeroCreate 7)) (Span(Array.zeroCreate 4)))
            throws<ArgumentException> "observations" "observations has 0 elements" (fun () -> FusedMlp.qValues ws net ReadOnlySpan.Empty Span.Empty)
            throws<ArgumentOutOfRangeException> "observations" "at most 4 (the workspace's MaxBatch), got 5" (fun () ->
                FusedMlp.greedyActions ws net (ReadOnlySpan(Array.zeroCreate 15)) (Span(Array.zeroCreate 5)))
            throws<ArgumentException> "q" "q has 3 elements; expected 4" (fun () -> FusedMlp.qValues ws net (ReadOnlySpan(Array.zeroCreate 6)) (Span(Array.zeroCreate 3)))
            throws<ArgumentException> "actions" "actions has 1 elements; expected 2" (fun () -> FusedMlp.greedyActions ws net (ReadOnlySpan(Array.zeroCreate 6)) (Span(Array.zeroCreate 1)))
            let bad = copyAll c.Online
            bad[0] <- Array.zeroCreate 14
            throws<ArgumentException> "network" "network's parameter 0, W1 [5; 3], has 14 elements; the 3-5-2 MLP needs 15" (fun () ->
                FusedMlp.greedyAction ws (spansOf bad) (ReadOnlySpan(Array.zeroCreate 3)) |> ignore)

        testCase "updates and greedy actions allocate nothing once warm" <| fun () ->
            let c = caseOf [| 4; 64; 64; 2 |] 32 0 { FusedMlp.defaultSettings with DoubleDqn = true; MaxGradNorm = 1.0 } 5
            let ws = FusedMlp.Workspace(c.Widths, 32)
            let online = copyAll c.Online
            let m = zerosLike c.Online
            let v = zerosLike c.Online
            let onlineSpans = spansOf online
            let targetSpans = spansOf c.Target
            let mSpans = spansOf m
            let vSpans = spansOf v
            let obs = c.Observations[0..3]
            let run () =
                FusedMlp.update ws c.Settings onlineSpans targetSpans mSpans vSpans 0L (ReadOnlySpan c.Observations) (ReadOnlySpan c.NextObservations) (ReadOnlySpan c.Actions) (ReadOnlySpan c.Rewards) (ReadOnlySpan c.Discounts)
                |> ignore
                FusedMlp.greedyAction ws onlineSpans (ReadOnlySpan obs) |> ignore
            run ()
            let before = GC.GetAllocatedBytesForCurrentThread()
            for _ in 1..10 do
                run ()
            Expect.equal (GC.GetAllocatedBytesForCurrentThread() - before) 0L "GC.GetAllocatedBytesForCurrentThread() - before"

        testCase "Adam moments that decay below the smallest normal float32 are stored as 0 when eps is positive and kept when eps is 0" <| fun () ->
            // Every action is 0, so the output layer's row for action 1 (W2's second row, b2[1]) gets a zero gradient:
            // its m decays from 1.2e-38 by beta1 = 0.9 into the subnormal range.
            let c = caseOf [| 3; 4; 2 |] 5 0 FusedMlp.defaultSettings 2
            let actions = Array.zeroCreate<int64> 5
            for eps, expected in [ 1e-8, 0.0f; 0.0, 0.9f * 1.2e-38f ] do
                for level in levels do
                    let ws = FusedMlp.Workspace(c.Widths, 5, level)
                    let online = copyAll c.Online
                    let m = zerosLike c.Online
                    let v = c.Online |> Array.map (Array.map (fun _ -> 1e-4f))
                    m[2][4..7] <- Array.create 4 1.2e-38f
                    m[3][1] <- 1.2e-38f
                    FusedMlp.update ws { c.Settings with Epsilon = eps } (spansOf online) (spansOf c.Target) (spansOf m) (spansOf v) 3L (ReadOnlySpan c.Observations) (ReadOnlySpan c.NextObservations) (ReadOnlySpan actions) (ReadOnlySpan c.Rewards) (ReadOnlySpan c.Discounts)
                    |> ignore
                    Expect.equal (m[2][4..7]) (Array.create 4 expected) "m[2][4..7]"
                    Expect.equal (m[3][1]) expected "m[3][1]"
                    Expect.isTrue (m[3][0] <> 0.0f) "the taken action's bias moment is not flushed"

        testCase "a NaN observation makes the loss and the updated parameters NaN, as it would through autograd" <| fun () ->
            let c = caseOf [| 3; 4; 2 |] 5 0 FusedMlp.defaultSettings 2
            c.Observations[4] <- nanf
            for level in levels do
                let online = copyAll c.Online
                let r = runUpdate (FusedMlp.Workspace(c.Widths, 5, level)) c online (zerosLike online) (zerosLike online) 0L
                Expect.isTrue (Double.IsNaN r.Loss) $"{level}: loss {r.Loss}"
                Expect.isTrue (online[2] |> Array.exists Single.IsNaN) $"{level}: no NaN reached W2"
    
        testCase "FusedAdam's step equals TorchSharp's Adam.step on a conv net, skips parameters without a gradient and declines what it does not fit" <| fun () ->
            // Two identical networks (a conv layer, a linear layer, and a linear layer the loss does not reach), the same
            // data: one stepped by TorchSharp's Adam, the other through FusedAdam; 6 steps, two learning rates.
            let make () =
                torch.manual_seed 5L |> ignore
                torch.nn.Sequential(
                    torch.nn.Conv2d(2L, 3L, 3L),
                    torch.nn.ReLU(),
                    torch.nn.Flatten(),
                    torch.nn.Linear(3L * 6L * 6L, 4L)
                )
            use reference = make ()
            use fused = make ()
            use unusedA = torch.nn.Linear(3L, 2L)
            use unusedB = torch.nn.Linear(3L, 2L)
            unusedB.load_state_dict(unusedA.state_dict ()) |> ignore
            let paramsOf (net: torch.nn.Module) (unused: torch.nn.Module) = Seq.append (net.parameters ()) (unused.parameters ())
            use adamA = torch.optim.Adam(paramsOf reference unusedA, lr = 3e-3, beta1 = 0.8, beta2 = 0.99, eps = 1e-6)
            use adamB = torch.optim.Adam(paramsOf fused unusedB, lr = 3e-3, beta1 = 0.8, beta2 = 0.99, eps = 1e-6)
            let rng = Random 3
            let initial = fused.parameters () |> Seq.map (fun p -> p.data<float32>().ToArray()) |> Array.ofSeq
            for step in 1..6 do
                if step = 4 then
                    for o in [ adamA; adamB ] do
                        for g in o.ParamGroups do g.LearningRate <- 1e-2
                let x = Tensors.ofArray (Array.init (5 * 2 * 8 * 8) (fun _ -> float32 (rng.NextDouble() - 0.5))) [| 5L; 2L; 8L; 8L |] torch.CPU
                for net, opt in [ reference :> torch.nn.Module<torch.Tensor, torch.Tensor>, adamA :> torch.optim.Optimizer; fused, adamB ] do
                    opt.zero_grad ()
                    use loss = (net.call x).pow(2.0.ToScalar()).mean ()
                    loss.backward ()
                adamA.step () |> ignore
                Expect.isTrue (FusedAdam.tryStep adamB) $"step {step}: FusedAdam takes a CPU Float32 Adam"
                x.Dispose()
            let a = reference.parameters () |> Seq.map (fun p -> p.data<float32>().ToArray()) |> Array.ofSeq
            let b = fused.parameters () |> Seq.map (fun p -> p.data<float32>().ToArray()) |> Array.ofSeq
            for k in 0 .. a.Length - 1 do
                for i in 0 .. a[k].Length - 1 do
                    let x, y = a[k][i], b[k][i]
                    if not (closeTo 1e-6 (float x) (float y)) then
                        fail $"parameter {k}, element {i}: TorchSharp's Adam gives {x}, FusedAdam {y}"
            Expect.notEqual b[0] initial[0] "the parameters moved"
            let stepsOf (o: TorchSharp.Modules.Adam) = o.state_dict().State |> Seq.map (fun s -> (s :?> Modules.Adam.State).step) |> Array.ofSeq
            Expect.equal (stepsOf adamB) (stepsOf adamA) "every parameter's step count (the unused layer's stays 0)"
            Expect.equal (stepsOf adamB |> Array.last) 0L "a parameter without a gradient keeps step 0"
            Expect.equal (unusedB.weight.data<float32>().ToArray()) (unusedA.weight.data<float32>().ToArray()) "a parameter without a gradient is not moved"
            // What it does not fit is left to optimizer.step(): RMSProp, Adam with amsgrad.
            use net = make ()
            use rms = torch.optim.RMSProp(net.parameters (), lr = 1e-3)
            Expect.isFalse (FusedAdam.tryStep rms) "RMSProp"
            use ams = torch.optim.Adam(net.parameters (), lr = 1e-3, amsgrad = true)
            Expect.isFalse (FusedAdam.tryStep ams) "Adam with amsgrad"
    ]
