/// <summary>
/// The fused DQN update of a small MLP Q-network, in managed code: forward passes, the (Double) DQN target,
/// the TD loss, a hand-written backward pass, optional gradient-norm clipping and one Adam step, with no
/// autograd graph, no libtorch call and no allocation, over parameter memory the caller owns (for example
/// TorchSharp CPU tensors: <c>MemoryMarshal.Cast&lt;byte, float32&gt;(tensor.bytes)</c>).
/// </summary>
/// <remarks>
/// <para>The network is PyTorch's <c>nn.Sequential(Linear, ReLU, ..., ReLU, Linear)</c>: layers l = 1..L of
/// widths w_0 (the observation size) → w_1 → ... → w_L (the action count); layer l holds W_l, float32
/// row-major [w_l; w_(l-1)] (nn.Linear's layout, y = x W_lᵀ + b_l), and b_l, float32 [w_l]; ReLU follows every
/// layer but the last. Parameters are addressed by their index in <c>module.parameters()</c> order:
/// 2(l-1) is W_l and 2(l-1)+1 is b_l (0-based), for the network, its target copy and Adam's two moment
/// buffers alike.</para>
/// <para>The update (Mnih et al. 2015, "Human-level control through deep reinforcement learning", Algorithm 1,
/// inner loop; Double DQN: van Hasselt, Guez and Silver 2016, "Deep reinforcement learning with double
/// Q-learning"; Adam: Kingma and Ba 2015, "Adam: a method for stochastic optimization", Algorithm 1) computes
/// what libtorch's autograd computes for the same network, in float32, with PyTorch's semantics at every
/// step: y_i = r_i + d_i Q_target(s'_i, a*_i) with a*_i the first argmax of Q_target(s'_i, ·) (or of
/// Q_online(s'_i, ·) for Double DQN; NaN counts as the largest value, as torch.argmax), nothing back-propagated
/// through y; loss = mean_i l(Q_online(s_i, a_i) − y_i) with l the Huber loss (delta 1, F.huber_loss) or the
/// squared error (F.mse_loss); the ReLU derivative is 0 at 0; gradients are clipped as
/// torch.nn.utils.clip_grad_norm_(params, maxGradNorm, 2.0) (total = sqrt(Σ ‖g_t‖²) over the 2L tensors,
/// clip_coef = maxGradNorm / (total + 1e-6), every gradient multiplied by min(clip_coef, 1)); and one step of
/// TorchSharp's torch.optim.Adam (amsgrad off, weight_decay 0, maximize off), in its operation order.
/// Results agree with the autograd path to float32 rounding (the tests hold parameters within 1e-5 relative
/// over five steps); they are not bitwise equal, since the matrix products sum in another order. One
/// deliberate difference: with eps > 0, Adam's m and v are stored as 0 when they fall below the smallest
/// normal float32 (1.2e-38) in magnitude, where PyTorch keeps subnormals (each costs a microcode assist per
/// operation on x86, and dead ReLU units drive m there within a few hundred steps); sqrt of such a v is below
/// half an ulp of any eps ≥ 1e-12 and such an m moves a parameter by less than 1e-30 × lr/eps.</para>
/// <para>Speed: the matrix products run in register-blocked micro-kernels (6 rows × 2 vectors of C in
/// registers; Vector512 where the runtime accelerates it (AVX-512), else Vector256 with FMA (AVX2), else
/// Vector128 (SSE, Arm64 AdvSimd), else scalar), single-threaded, near the FMA peak for 128-wide layers.
/// Activations are kept feature-major ([width; batch]) so that the forward pass and the input gradients need
/// no transposed weights; only the activations are transposed (8 × 8 AVX tiles) for the weight gradients.
/// 4-128-128-2 at batch 64 (Adam, MSE): about 85 µs per update with AVX-512, 135 µs with AVX2, against about
/// 550 µs for TorchSharp's autograd and torch.optim.Adam on the same core; a greedy action about 2 µs. As with
/// all .NET code, the first calls run before the JIT has optimised these functions (tiered compilation):
/// time them after some hundreds of calls.</para>
/// <para>A <see cref="T:Dqn.Fun.FusedMlp.Workspace"/> holds every scratch buffer for one architecture and a
/// largest batch; <c>update</c>, <c>qValues</c>, <c>greedyActions</c> and <c>greedyAction</c> allocate
/// nothing. A workspace is not thread-safe: use one per thread.</para>
/// </remarks>
/// <example>
/// <code lang="fsharp">
/// // online, target: nn.Sequential MLPs 4-128-128-2 on the CPU; adam = torch.optim.Adam(online.parameters(), lr)
/// let tensors (m: nn.Module) = m.parameters () |> Seq.map (fun p -> p :> Tensor) |> Array.ofSeq
/// let spansOf (ts: Tensor[]) = FusedMlp.ParameterSpans(fun i -> MemoryMarshal.Cast&lt;byte, float32&gt; ts[i].bytes)
/// let states = adam.state_dict().State |> Seq.map (fun s -> s :?> Modules.Adam.State) |> Array.ofSeq
/// let ws = FusedMlp.Workspace([| 4; 128; 128; 2 |], 64)
/// let settings = { FusedMlp.defaultSettings with LearningRate = lr; DoubleDqn = true; MaxGradNorm = 10.0 }
/// let r =
///     FusedMlp.update ws settings (spansOf (tensors online)) (spansOf (tensors target))
///         (spansOf (states |> Array.map (fun s -> s.exp_avg))) (spansOf (states |> Array.map (fun s -> s.exp_avg_sq)))
///         states[0].step (ReadOnlySpan obs) (ReadOnlySpan nextObs) (ReadOnlySpan actions) (ReadOnlySpan rewards)
///         (ReadOnlySpan discounts)
/// for s in states do s.step &lt;- r.Step
/// </code>
/// </example>
module Dqn.Fun.FusedMlp

open System

/// Which SIMD code paths a workspace runs (the tests pin each one).
type internal SimdLevel =
    | Scalar = 0
    | Vector128 = 1
    | Vector256 = 2
    | Vector512 = 3

/// The best level this process supports: Vector512 with AVX-512F, Vector256 with AVX2 and FMA, Vector128
/// where 128-bit vectors are hardware-accelerated (SSE, Arm64 AdvSimd), else Scalar.
val internal bestSimd: SimdLevel

/// The TD loss l(q − y).
[<RequireQualifiedAccess>]
type LossKind =
    /// Huber loss with delta 1 (smooth L1; PyTorch's huber_loss): 0.5 d² for |d| &lt; 1, |d| − 0.5 otherwise.
    | Huber
    /// Squared error d² (PyTorch's mse_loss).
    | Mse

/// <summary>The float32 memory of one parameter tensor, by its index in parameter order: W_1, b_1, ...,
/// W_L, b_L (index 2(l-1) is W_l, [w_l; w_(l-1)] row-major; 2(l-1)+1 is b_l, [w_l]). Called several times
/// for each tensor during a call (about 60 times an update for three layers), so it should be cheap. For a
/// TorchSharp CPU tensor t (contiguous Float32): <c>MemoryMarshal.Cast&lt;byte, float32&gt;(t.bytes)</c>, a
/// few P/Invokes each time (about 5 µs an update); cheaper, since a tensor's memory stays put while it lives
/// and its parameters are updated in place: take each address once,
/// <c>NativePtr.toNativeInt (NativePtr.ofVoidPtr&lt;float32&gt; (Unsafe.AsPointer(&amp;MemoryMarshal.GetReference span)))</c>,
/// and return <c>Span&lt;float32&gt;(addresses[i].ToPointer(), lengths[i])</c>.</summary>
type ParameterSpans = delegate of index: int -> Span<float32>

/// The settings of one update.
type Settings =
    { /// The TD loss.
      Loss: LossKind
      /// Double DQN (van Hasselt et al. 2016): the bootstrap action is the online network's argmax at s'
      /// (valued by the target network); otherwise the target network's own.
      DoubleDqn: bool
      /// clip_grad_norm_'s max_norm over all 2L gradients (norm type 2); 0 or less: no clipping.
      MaxGradNorm: float
      /// Adam's learning rate (lr); finite, at least 0.
      LearningRate: float
      /// Adam's beta1 (first-moment decay); in [0, 1).
      Beta1: float
      /// Adam's beta2 (second-moment decay); in [0, 1).
      Beta2: float
      /// Adam's eps, added to the bias-corrected sqrt(v); finite, at least 0.
      Epsilon: float }

/// Huber loss, no Double DQN, no clipping, and torch.optim.Adam's defaults: lr 1e-3, betas (0.9, 0.999),
/// eps 1e-8.
val defaultSettings: Settings

/// What one update computed.
[<Struct>]
type UpdateResult =
    { /// The batch's mean TD loss (computed in float32 per sample, averaged in float64).
      Loss: float
      /// The mean of Q_online(s_i, a_i) over the batch, before the step.
      MeanQ: float
      /// Adam's step count after this update (the `step` argument + 1): store it in every parameter's Adam
      /// state (TorchSharp's Adam.State.step) to keep the optimizer in sync.
      Step: int64 }

/// <summary>Every scratch buffer of the fused update and forward passes for one MLP architecture and a
/// largest batch (about 4 floats per activation per sample, the gradients and a copy of the inputs);
/// allocated once, on the pinned object heap. Not thread-safe.</summary>
[<Sealed>]
type Workspace =
    /// <summary>A workspace for the MLP w_0 → w_1 → ... → w_L and batches of 1..maxBatch samples.</summary>
    /// <param name="widths">[w_0 (observation size); hidden widths...; w_L (action count)]: at least two
    /// entries, each positive. The array is copied.</param>
    /// <param name="maxBatch">The largest batch an update or a forward pass will get; positive.</param>
    /// <exception cref="T:System.ArgumentNullException">widths is null.</exception>
    /// <exception cref="T:System.ArgumentException">widths has fewer than two entries.</exception>
    /// <exception cref="T:System.ArgumentOutOfRangeException">A width or maxBatch is not positive, or the
    /// buffers would exceed the largest .NET array.</exception>
    new: widths: int[] * maxBatch: int -> Workspace

    /// The same on a chosen SIMD level (the tests run every level the machine supports).
    internal new: widths: int[] * maxBatch: int * simd: SimdLevel -> Workspace

    /// A copy of the layer widths [w_0; ...; w_L].
    member Widths: int[]
    /// The largest batch, as given.
    member MaxBatch: int
    /// w_0, the observation size.
    member ObservationSize: int
    /// w_L, the action count.
    member ActionCount: int
    /// The number of parameter tensors, 2L.
    member ParameterCount: int
    /// <summary>The number of float32 elements of parameter tensor `index` (w_l·w_(l-1) for W_l, w_l for
    /// b_l).</summary>
    /// <exception cref="T:System.ArgumentOutOfRangeException">index is not in 0 .. ParameterCount - 1.</exception>
    member ParameterLength: index: int -> int
    /// The SIMD code path this workspace runs.
    member internal Simd: SimdLevel

/// <summary>One fused DQN gradient update and Adam step on a batch of B transitions (see the module's
/// remarks for the exact algorithm). Reads the target network; updates the online parameters and Adam's
/// moments in place. Every argument is checked before anything is written.</summary>
/// <param name="workspace">Scratch buffers for this architecture; its MaxBatch must be at least B.</param>
/// <param name="settings">Loss, Double DQN, clipping and Adam's hyper-parameters.</param>
/// <param name="online">The online network's parameters, float32: read, then updated by the Adam step.</param>
/// <param name="target">The target network's parameters, float32: read only.</param>
/// <param name="expAvg">Adam's first moments m (exp_avg), one per online parameter, same shapes: updated.</param>
/// <param name="expAvgSq">Adam's second moments v (exp_avg_sq), same shapes: updated.</param>
/// <param name="step">Adam's step count before this update (0 for a fresh optimizer); at least 0.</param>
/// <param name="observations">s: float32 row-major [B; w_0].</param>
/// <param name="nextObservations">s': float32 row-major [B; w_0].</param>
/// <param name="actions">a: int64 [B], each in 0 .. w_L - 1. B is its length, at least 1.</param>
/// <param name="rewards">r: float32 [B], the (n-step) returns.</param>
/// <param name="discounts">d: float32 [B], gamma^n (1 − terminated) per transition.</param>
/// <returns>The mean loss, the mean Q(s, a) before the step, and the new step count.</returns>
/// <exception cref="T:System.ArgumentOutOfRangeException">B is 0 or above MaxBatch; an action is outside
/// 0 .. w_L - 1; step is negative; a setting is outside its range (see Settings).</exception>
/// <exception cref="T:System.ArgumentException">An array's or a parameter span's length disagrees with B,
/// w_0 or the architecture (the message names it, with the expected and actual lengths).</exception>
/// <exception cref="T:System.ArgumentNullException">A delegate or the workspace is null.</exception>
val update:
    workspace: Workspace ->
    settings: Settings ->
    online: ParameterSpans ->
    target: ParameterSpans ->
    expAvg: ParameterSpans ->
    expAvgSq: ParameterSpans ->
    step: int64 ->
    observations: ReadOnlySpan<float32> ->
    nextObservations: ReadOnlySpan<float32> ->
    actions: ReadOnlySpan<int64> ->
    rewards: ReadOnlySpan<float32> ->
    discounts: ReadOnlySpan<float32> ->
        UpdateResult

/// <summary>The network's Q-values for a batch of n observations (forward pass only): q[i·w_L + a] =
/// Q(observation i, a).</summary>
/// <param name="workspace">Scratch buffers for this architecture; MaxBatch at least n.</param>
/// <param name="network">The network's parameters, float32; read only.</param>
/// <param name="observations">float32 row-major [n; w_0]; n = its length / w_0, at least 1.</param>
/// <param name="q">Receives float32 row-major [n; w_L].</param>
/// <exception cref="T:System.ArgumentException">observations' length is not a positive multiple of w_0,
/// q's length is not n·w_L, or a parameter span's length disagrees with the architecture.</exception>
/// <exception cref="T:System.ArgumentOutOfRangeException">n exceeds MaxBatch.</exception>
val qValues: workspace: Workspace -> network: ParameterSpans -> observations: ReadOnlySpan<float32> -> q: Span<float32> -> unit

/// <summary>The greedy action argmax_a Q(observation i, a) of each of n observations; ties go to the lowest
/// action and NaN counts as the largest value (torch.argmax's rules).</summary>
/// <param name="workspace">Scratch buffers for this architecture; MaxBatch at least n.</param>
/// <param name="network">The network's parameters, float32; read only.</param>
/// <param name="observations">float32 row-major [n; w_0]; n = its length / w_0, at least 1.</param>
/// <param name="actions">Receives the n actions, each in 0 .. w_L - 1.</param>
/// <exception cref="T:System.ArgumentException">observations' length is not a positive multiple of w_0,
/// actions' length is not n, or a parameter span's length disagrees with the architecture.</exception>
/// <exception cref="T:System.ArgumentOutOfRangeException">n exceeds MaxBatch.</exception>
val greedyActions: workspace: Workspace -> network: ParameterSpans -> observations: ReadOnlySpan<float32> -> actions: Span<int> -> unit

/// <summary>The greedy action for one observation (float32 [w_0]): greedyActions with n = 1, the cheap path
/// for acting (matrix-vector products, about a microsecond for 4-128-128-2).</summary>
/// <exception cref="T:System.ArgumentException">observation's length is not w_0, or a parameter span's length
/// disagrees with the architecture.</exception>
val greedyAction: workspace: Workspace -> network: ParameterSpans -> observation: ReadOnlySpan<float32> -> int

/// <summary>One step of torch.optim.Adam (TorchSharp's order of operations; no weight decay, amsgrad or maximize)
/// over one parameter of <c>n</c> float32 elements at native addresses <c>p</c>, <c>m</c> (exp_avg), <c>v</c>
/// (exp_avg_sq) and <c>g</c> (its gradient), with the fused update's kernels (m and v below the smallest normal
/// float32 stored as 0 when eps &gt; 0), split over <c>threads</c> workers when n is large. <c>newStep</c> is the
/// step count after this step (Kingma and Ba 2015, Algorithm 1).</summary>
val internal adamStepAt:
    p: nativeint -> m: nativeint -> v: nativeint -> g: nativeint -> n: int -> learningRate: float -> beta1: float ->
    beta2: float -> eps: float -> newStep: int64 -> threads: int -> unit
