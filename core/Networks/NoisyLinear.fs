namespace Dqn.Fun

open System
open TorchSharp

/// <summary>A linear layer with learnt, factorised Gaussian parameter noise: NoisyNet (Fortunato et al. 2018,
/// "Noisy Networks for Exploration", sections 3 and 3.1), the exploration of Rainbow (Hessel et al. 2018).</summary>
/// <remarks>
/// <para><c>y = (μ_w + σ_w ⊙ ε_w) x + μ_b + σ_b ⊙ ε_b</c> with the factorised noise
/// <c>ε_w = f(ε_out) ⊗ f(ε_in)</c> (an outer product, [out; in]), <c>ε_b = f(ε_out)</c>,
/// <c>f(x) = sign(x) · sqrt(|x|)</c> and ε_in [in], ε_out [out] drawn from N(0, 1) by <c>reset_noise</c> with
/// torch's global generator (seed it with <c>torch.manual_seed</c>), or from the layer's own <c>generator</c> when one is given. The noise is drawn once at construction
/// and stays fixed until the next <c>reset_noise</c>; the caller resamples it (once per learning step and per
/// action selection in the paper), so forward is deterministic between resets.</para>
/// <para>Initialisation (section 3.2, factorised case), with p = inFeatures: μ_w, μ_b ~ U(-1/√p, 1/√p) and
/// σ_w = σ_b = σ0/√p, σ0 = 0.5 by default. Parameters (for the optimizer, in this order): "weight_mu",
/// "weight_sigma", "bias_mu", "bias_sigma", as in common PyTorch implementations. The noise tensors are
/// buffers, not parameters: <c>weight_epsilon</c> [out; in], <c>bias_epsilon</c> [out] and the draws
/// <c>input_epsilon</c> [in], <c>output_epsilon</c> [out] they were made from.</para>
/// <para>With <c>deterministic = true</c> the layer computes <c>μ_w x + μ_b</c> (evaluation without noise).
/// Input [*; inFeatures] -> output [*; outFeatures], Float32.</para>
/// </remarks>
/// <example>
/// <code lang="fsharp">
/// use layer = new NoisyLinear(64, 4)
/// let q = layer.forward x          // noisy
/// layer.reset_noise ()             // a fresh ε for the next step
/// layer.deterministic &lt;- true      // μ only, for evaluation
/// </code>
/// </example>
type NoisyLinear(inFeatures: int, outFeatures: int, ?sigma0: float, ?device: Device, ?generator: torch.Generator) as this =
    inherit torch.nn.Module<Tensor, Tensor>("NoisyLinear")
    do Check.positive "inFeatures" inFeatures
    do Check.positive "outFeatures" outFeatures
    let sigma0 = defaultArg sigma0 0.5
    do
        if not (sigma0 >= 0.0 && not (Double.IsInfinity sigma0)) then
            raise (ArgumentOutOfRangeException("sigma0", sigma0, "sigma0 must be non-negative and finite"))
    let device = defaultArg device torch.CPU
    let mutable source = Option.toObj generator
    let p, q = int64 inFeatures, int64 outFeatures
    let bound = 1.0 / sqrt (float inFeatures)
    let weightMu = Layers.uniformParameter [| q; p |] bound device source
    let weightSigma = Layers.constantParameter [| q; p |] (sigma0 / sqrt (float inFeatures)) device
    let biasMu = Layers.uniformParameter [| q |] bound device source
    let biasSigma = Layers.constantParameter [| q |] (sigma0 / sqrt (float inFeatures)) device
    let buffer (shape: int64[]) = torch.zeros(shape, device = device).DetachFromDisposeScope()
    let inputEpsilon = buffer [| p |]
    let outputEpsilon = buffer [| q |]
    let weightEpsilon = buffer [| q; p |]
    let biasEpsilon = buffer [| q |]
    let mutable noiseOff = false

    /// f(x) = sign(x) sqrt(|x|).
    let scaleNoise (x: Tensor) = x.sign () * x.abs().sqrt ()

    /// Draws ε_in and ε_out from N(0, 1) and sets ε_w = f(ε_out) ⊗ f(ε_in), ε_b = f(ε_out), in place.
    let resetNoise () =
        use _ = torch.no_grad ()
        use scope = torch.NewDisposeScope()
        let epsIn = torch.randn([| p |], device = device, generator = source)
        let epsOut = torch.randn([| q |], device = device, generator = source)
        let fIn = scaleNoise epsIn
        let fOut = scaleNoise epsOut
        inputEpsilon.copy_ epsIn |> ignore
        outputEpsilon.copy_ epsOut |> ignore
        weightEpsilon.copy_ (fOut.unsqueeze 1L * fIn.unsqueeze 0L) |> ignore
        biasEpsilon.copy_ fOut |> ignore

    do
        resetNoise ()
        this.register_parameter ("weight_mu", weightMu)
        this.register_parameter ("weight_sigma", weightSigma)
        this.register_parameter ("bias_mu", biasMu)
        this.register_parameter ("bias_sigma", biasSigma)
        // Persistent buffers: TorchSharp 0.107's Module.Dispose frees only those (checkpoints hold parameters only).
        this.register_buffer ("weight_epsilon", weightEpsilon)
        this.register_buffer ("bias_epsilon", biasEpsilon)
        this.register_buffer ("input_epsilon", inputEpsilon)
        this.register_buffer ("output_epsilon", outputEpsilon)

    /// Components are registered by name in the constructor.
    override _.RegisterComponents() = ()

    /// Draws a fresh factorised noise: ε_in, ε_out ~ N(0, 1), ε_w = f(ε_out) ⊗ f(ε_in), ε_b = f(ε_out), written
    /// in place into the buffers (no gradient recorded).
    member _.reset_noise() = resetNoise ()

    /// The generator noise and initialisation draw from (null: torch's global generator).
    member _.generator
        with get () = source
        and set (g: torch.Generator) = source <- g

    /// Draws μ_w, μ_b ~ U(-1/√p, 1/√p) again and sets σ_w = σ_b = σ0/√p (section 3.2), then draws fresh noise, all
    /// from `generator` (no gradient recorded).
    member _.reset_parameters() =
        use _ = torch.no_grad ()
        weightMu.uniform_(-bound, bound, source) |> ignore
        biasMu.uniform_(-bound, bound, source) |> ignore
        weightSigma.fill_((sigma0 / sqrt (float inFeatures)).ToScalar()) |> ignore
        biasSigma.fill_((sigma0 / sqrt (float inFeatures)).ToScalar()) |> ignore
        resetNoise ()

    /// When true, forward uses μ only (no noise); false (the default) adds σ ⊙ ε.
    member _.deterministic
        with get () = noiseOff
        and set (v: bool) = noiseOff <- v

    member _.in_features = inFeatures
    member _.out_features = outFeatures
    /// μ_w [out; in]
    member _.weight_mu = weightMu
    /// σ_w [out; in]
    member _.weight_sigma = weightSigma
    /// μ_b [out]
    member _.bias_mu = biasMu
    /// σ_b [out]
    member _.bias_sigma = biasSigma
    /// ε_w = f(ε_out) ⊗ f(ε_in) [out; in], a buffer (no gradient).
    member _.weight_epsilon = weightEpsilon
    /// ε_b = f(ε_out) [out], a buffer.
    member _.bias_epsilon = biasEpsilon
    /// The last ε_in ~ N(0, 1) [in], before f.
    member _.input_epsilon = inputEpsilon
    /// The last ε_out ~ N(0, 1) [out], before f.
    member _.output_epsilon = outputEpsilon

    override _.forward x =
        if noiseOff then
            torch.nn.functional.linear (x, weightMu, biasMu)
        else
            use scope = torch.NewDisposeScope()
            torch.nn.functional.linear(x, weightMu + weightSigma * weightEpsilon, biasMu + biasSigma * biasEpsilon).MoveToOuterDisposeScope()
