namespace Dqn.Fun

open System
open TorchSharp
open TorchSharp.Modules

/// <summary>The implicit quantile network (IQN; Dabney, Ostrovski, Silver and Munos 2018, "Implicit Quantile
/// Networks for Distributional Reinforcement Learning", section 3 and eq. 4): <c>Z_τ(x, a) ≈ f(ψ(x) ⊙ φ(τ))_a</c>
/// for any quantile level τ in [0, 1].</summary>
/// <remarks>
/// <para>ψ is the <c>torso</c> (any module mapping the input [batch; *] to [batch; features]: an MLP, or the
/// Nature CNN's 512 features on Atari); φ is the cosine embedding of eq. 4,
/// <c>φ_j(τ) = ReLU(Σ_{i=0}^{n-1} cos(π i τ) w_ij + b_j)</c>, j = 1 .. features (a Linear layer from n =
/// <c>embeddingDim</c> cosines, named "embedding"); ⊙ is the Hadamard product; f is the <c>head</c> (any module
/// mapping [rows; features] to [rows; actions]: Linear-ReLU-Linear, a DuelingNetwork, NoisyLinear layers).
/// ψ(x) is computed once per input and shared by its N levels.</para>
/// <para>Layout: <c>forward(x, taus)</c> takes taus [batch; N] Float32 (levels per input, each row its own) and
/// returns [batch; actions; N] Float32, element [b, a, i] = Z_{taus[b, i]}(x_b, a). This is the layout of the
/// library's other distributional heads (C51 logits and QR-DQN quantiles, [batch; actions; atoms]), so Q-values
/// are a mean over dimension 2 (QNetworks.qValues) and the taken action's quantiles a gather on dimension 1.</para>
/// <para><c>forward x</c> (the Module override, used for acting) draws K = <c>policySamples</c> levels per input
/// from U(0, 1) with torch's global generator and returns [batch; actions; K]; their mean over dimension 2 is the
/// paper's policy <c>Q(x, a) = mean_k Z_τk(x, a)</c> (section 3.2, "K"). With <c>Deterministic = true</c> it uses
/// the K quantile midpoints (2k + 1) / (2K) instead: a fixed quadrature of the same mean, so evaluations are
/// reproducible and draw nothing from the generator (they do not change the course of training); noisy layers
/// listed in <c>noisyLayers</c> then use their mean weights too.</para>
/// <para>Parameter names: "torso.*", "embedding.weight", "embedding.bias", "head.*". The network owns the three
/// modules and disposes them.</para>
/// </remarks>
/// <param name="torso">ψ: [batch; *] -> [batch; features].</param>
/// <param name="features">Width of ψ(x) and φ(τ), positive.</param>
/// <param name="head">f: [rows; features] -> [rows; actions].</param>
/// <param name="actions">Actions, positive.</param>
/// <param name="embeddingDim">n, the cosines per level, positive (64 in the paper).</param>
/// <param name="policySamples">K, the levels per input of <c>forward x</c>, positive (32 in the paper).</param>
/// <param name="noisyLayers">NoisyLinear layers inside the head (or torso) for ResetNoise and Deterministic.</param>
/// <param name="device">Where the embedding layer and sampled levels live (default CPU).</param>
/// <exception cref="T:System.ArgumentNullException">torso or head is null.</exception>
/// <exception cref="T:System.ArgumentOutOfRangeException">A size is zero or negative.</exception>
type ImplicitQuantileNetwork
    (
        torso: torch.nn.Module<Tensor, Tensor>,
        features: int,
        head: torch.nn.Module<Tensor, Tensor>,
        actions: int,
        ?embeddingDim: int,
        ?policySamples: int,
        ?noisyLayers: NoisyLinear seq,
        ?device: Device
    ) as this =
    inherit torch.nn.Module<Tensor, Tensor>("ImplicitQuantileNetwork")
    do
        if isNull (box torso) then nullArg "torso"
        if isNull (box head) then nullArg "head"
        Check.positive "features" features
        Check.positive "actions" actions
    let n = defaultArg embeddingDim 64
    let k = defaultArg policySamples 32
    do
        Check.positive "embeddingDim" n
        Check.positive "policySamples" k
    let dev = defaultArg device torch.CPU
    let noisy = noisyLayers |> Option.map List.ofSeq |> Option.defaultValue []
    let embeddingLayer = torch.nn.Linear(int64 n, int64 features, device = dev)
    let mutable fixedLevels = false
    let mutable generator: torch.Generator = null
    do
        this.register_module ("torso", torso)
        this.register_module ("embedding", embeddingLayer)
        this.register_module ("head", head)

    let shapeText = Tensors.shapeText

    /// Components are registered by name in the constructor.
    override _.RegisterComponents() = ()

    member _.torso = torso
    /// The Linear layer of φ: [n] cosines -> [features].
    member _.embedding = embeddingLayer
    member _.head = head
    member _.features = features
    member _.actions = actions
    /// n, the cosines per level.
    member _.embedding_dim = n
    /// K, the levels per input of <c>forward x</c>.
    member _.policy_samples = k
    member _.device = dev

    /// The generator sampled levels draw from (null, the default: torch's global generator).
    member _.Generator
        with get () = generator
        and set (g: torch.Generator) = generator <- g

    /// When true, <c>forward x</c> uses the K quantile midpoints and noisy layers their mean weights (evaluation);
    /// false (the default) samples the levels and keeps the noise.
    member _.Deterministic
        with get () = fixedLevels
        and set (v: bool) =
            fixedLevels <- v
            for l in noisy do
                l.deterministic <- v

    /// Draws fresh noise in the noisy layers (none: no effect).
    member _.ResetNoise() =
        for l in noisy do
            l.reset_noise ()

    /// <summary>[batch; count] Float32 levels τ ~ U(0, 1) on the network's device, from <c>Generator</c> (torch's
    /// global generator when null).</summary>
    /// <exception cref="T:System.ArgumentOutOfRangeException">batch or count not positive.</exception>
    member _.sample_taus(batch: int64, count: int) =
        Check.positive64 "batch" batch
        Check.positive "count" count
        torch.rand ([| batch; int64 count |], device = dev, generator = generator)

    /// <summary>The levels of <c>forward x</c>: [batch; K] Float32, sampled (sample_taus) or, when
    /// Deterministic, the midpoints (2k + 1) / (2K) in every row.</summary>
    member m.policy_taus(batch: int64) =
        if fixedLevels then
            use scope = torch.NewDisposeScope()
            (Quantile.midpoints k dev).unsqueeze(0L).expand(batch, int64 k).contiguous().MoveToOuterDisposeScope()
        else
            m.sample_taus (batch, k)

    /// <summary>φ(τ) of eq. 4: <c>ReLU(Σ_i cos(π i τ) w_ij + b_j)</c>. taus [*] Float32 -> [*; features].</summary>
    member _.embed(taus: Tensor) =
        use scope = torch.NewDisposeScope()
        embeddingLayer.call(ImplicitQuantileNetwork.cosines (n, taus)).relu().MoveToOuterDisposeScope()

    /// <summary>Quantile values at given levels: x [batch; *] (whatever the torso takes), taus [batch; N] Float32
    /// on the network's device -> [batch; actions; N] Float32, element [b, a, i] = Z_{taus[b, i]}(x_b, a).</summary>
    /// <exception cref="T:System.ArgumentException">taus is not a Float32 matrix with x's batch size, or the
    /// torso or head gives another width than declared (the message names the shapes).</exception>
    member m.forward(x: Tensor, taus: Tensor) : Tensor =
        if isNull x then nullArg "x"
        if isNull taus then nullArg "taus"
        let ts = taus.shape
        if ts.Length <> 2 || taus.dtype <> ScalarType.Float32 || ts[0] <> x.shape[0] then
            invalidArg "taus" $"taus must be Float32 [batch; N] with x's batch size {x.shape[0]}, got {taus.dtype} {shapeText ts}"
        use scope = torch.NewDisposeScope()
        let b, count = ts[0], ts[1]
        let psi = torso.call x
        if psi.shape <> [| b; int64 features |] then
            invalidArg "x" $"the torso must give [batch; {features}] = [{b}; {features}], got {shapeText psi.shape}"
        let phi = m.embed taus // [b; N; features]
        let rows = (psi.unsqueeze 1L * phi).reshape (b * count, int64 features)
        let z = head.call rows
        if z.shape <> [| b * count; int64 actions |] then
            invalidArg "x" $"the head must give [rows; {actions}] = [{b * count}; {actions}], got {shapeText z.shape}"
        z.view(b, count, int64 actions).transpose(1L, 2L).MoveToOuterDisposeScope()

    /// [batch; *] -> [batch; actions; K] quantile values at the policy levels (policy_taus): their mean over
    /// dimension 2 is the Q-value the agent acts on.
    override m.forward x =
        use scope = torch.NewDisposeScope()
        let taus = m.policy_taus x.shape[0]
        m.forward(x, taus).MoveToOuterDisposeScope()

    /// <summary>The cosines of eq. 4 before the linear layer: <c>cos(π i τ)</c> for i = 0 .. n-1 (i = 0 gives
    /// the constant 1). taus [*] Float32 -> [*; n] Float32, with <c>[..., i] = cos(π i taus[...])</c>.</summary>
    /// <exception cref="T:System.ArgumentOutOfRangeException">n not positive.</exception>
    static member cosines(n: int, taus: Tensor) : Tensor =
        Check.positive "n" n
        if isNull taus then nullArg "taus"
        use scope = torch.NewDisposeScope()
        let i = torch.arange (int64 n, dtype = ScalarType.Float32, device = taus.device) * Math.PI
        (taus.unsqueeze -1L * i).cos().MoveToOuterDisposeScope()

/// IQN (Dabney et al. 2018b) beyond the network: the loss of eq. 3, the training losses of a batch, and the
/// network for a config's MLP.
[<RequireQualifiedAccess>]
module Iqn =

    let private shapeText = Tensors.shapeText

    /// <summary>The cosines of eq. 4, <c>cos(π i τ)</c> for i = 0 .. n-1: taus [*] Float32 -> [*; n] Float32
    /// (ImplicitQuantileNetwork.cosines).</summary>
    /// <exception cref="T:System.ArgumentOutOfRangeException">n not positive.</exception>
    [<CompiledName("Cosines")>]
    let cosines (n: int) (taus: Tensor) = ImplicitQuantileNetwork.cosines (n, taus)

    /// <summary>The IQN loss of each transition (eq. 3 with κ = 1): with the targets
    /// <c>T_j = r + discount · Z_τ'j(s', a*)</c> and the errors <c>δ_ij = T_j - Z_τi(s, a)</c>,
    /// <c>Σ_i (1/N') Σ_j ρ^1_τi(δ_ij)</c>, <c>ρ^κ_τ(δ) = |τ - 1{δ &lt; 0}| · L_κ(δ) / κ</c> (Quantile.huberLossesAt).</summary>
    /// <param name="taus">[batch; N] Float32 levels τ_i of <c>predicted</c>.</param>
    /// <param name="predicted">[batch; N] Float32 Z_τi(s, a) of the online network; keeps its autograd history.</param>
    /// <param name="rewards">[batch] Float32 (n-step) returns r.</param>
    /// <param name="discounts">[batch] Float32 bootstrap discounts γ^n (1 - terminated).</param>
    /// <param name="nextQuantiles">[batch; N'] Float32 Z_τ'j(s', a*) of the target network (detached here).</param>
    /// <returns>[batch] Float32 losses (the priorities' basis with prioritized replay).</returns>
    /// <exception cref="T:System.ArgumentException">A shape or dtype other than the above, naming the argument.</exception>
    [<CompiledName("Losses")>]
    let losses (taus: Tensor) (predicted: Tensor) (rewards: Tensor) (discounts: Tensor) (nextQuantiles: Tensor) =
        if isNull nextQuantiles then nullArg "nextQuantiles"
        let b = nextQuantiles.shape[0]
        let vector (name: string) (t: Tensor) =
            if isNull t then nullArg name
            if t.shape <> [| b |] || t.dtype <> ScalarType.Float32 then
                invalidArg name $"{name} must be Float32 [batch] = [{b}] (nextQuantiles' batch), got {t.dtype} {shapeText t.shape}"
        vector "rewards" rewards
        vector "discounts" discounts
        use scope = torch.NewDisposeScope()
        let target = rewards.unsqueeze 1L + discounts.unsqueeze 1L * nextQuantiles.detach ()
        (Quantile.huberLossesAt 1.0 taus predicted target).MoveToOuterDisposeScope()

    /// <summary>The loss to minimise: the mean over the batch of <c>losses</c>, each times its importance weight
    /// (Schaul et al. 2016) when <c>weights</c> ([batch] Float32) is not null. Returns a one-element tensor.</summary>
    /// <exception cref="T:System.ArgumentException">As <c>losses</c>, or weights of another shape.</exception>
    [<CompiledName("Loss")>]
    let loss (taus: Tensor) (predicted: Tensor) (rewards: Tensor) (discounts: Tensor) (nextQuantiles: Tensor) (weights: Tensor) =
        use scope = torch.NewDisposeScope()
        let l = losses taus predicted rewards discounts nextQuantiles
        if isNull weights then
            l.mean().MoveToOuterDisposeScope()
        else
            if weights.shape <> l.shape || weights.dtype <> ScalarType.Float32 then
                invalidArg "weights" $"weights must be Float32 {shapeText l.shape}, got {weights.dtype} {shapeText weights.shape}"
            (l * weights).mean().MoveToOuterDisposeScope()

    /// <summary>`network` as an ImplicitQuantileNetwork.</summary>
    /// <exception cref="T:System.ArgumentException">It is another module (the message names `name` and its type).</exception>
    [<CompiledName("Network")>]
    let network (name: string) (network: torch.nn.Module<Tensor, Tensor>) =
        match box network with
        | null -> nullArg name
        | :? ImplicitQuantileNetwork as m -> m
        | other -> invalidArg name $"Head = Implicit needs an ImplicitQuantileNetwork (QNetworks.create), got {other.GetType().Name}"

    /// [batch; 1; count] Int64 indices that pick the taken action's quantiles out of [batch; actions; count].
    let private actionIndex (actions: Tensor) (count: int64) =
        let b = actions.shape[0]
        actions.view(b, 1L, 1L).expand (b, 1L, count)

    /// <summary>The IQN losses of a batch, as Learner.updateOnTensors trains them (Dabney et al. 2018b, section 3
    /// and Algorithm 1): N = config.IqnTauSamples levels τ_i ~ U(0, 1) per transition for the online network at
    /// (s, a); the bootstrap action <c>a* = argmax_a mean_k Z_τk(s', a)</c> over K = config.IqnPolicyTauSamples
    /// levels of the target network (of the online one with config.DoubleDqn); N' = config.IqnTargetTauSamples
    /// levels τ'_j for the target network's Z_τ'j(s', a*); then <c>losses</c>. All levels come from torch's global
    /// generator, in that order. Returns the [batch] losses (with autograd history) and the mean of Z_τi(s, a).</summary>
    /// <param name="observations">[batch; ...] s, on whatever the torso takes.</param>
    /// <param name="actions">[batch] Int64 taken actions.</param>
    /// <param name="rewards">[batch] Float32 (n-step) returns.</param>
    /// <param name="discounts">[batch] Float32 γ^n (1 - terminated).</param>
    /// <exception cref="T:System.ArgumentException">online or target is not an ImplicitQuantileNetwork.</exception>
    [<CompiledName("TrainingLosses")>]
    let trainingLosses
        (config: DqnConfig)
        (online: torch.nn.Module<Tensor, Tensor>)
        (target: torch.nn.Module<Tensor, Tensor>)
        (observations: Tensor)
        (nextObservations: Tensor)
        (actions: Tensor)
        (rewards: Tensor)
        (discounts: Tensor)
        : struct (Tensor * float) =
        let onlineNet = network "online" online
        let targetNet = network "target" target
        use scope = torch.NewDisposeScope()
        let b = actions.shape[0]
        let n = config.IqnTauSamples
        let n' = config.IqnTargetTauSamples
        let taus = onlineNet.sample_taus (b, n)
        let predicted = onlineNet.forward(observations, taus).gather(1L, actionIndex actions (int64 n)).squeeze 1L
        let nextQuantiles =
            use _ = torch.no_grad ()
            let chooser = if config.DoubleDqn then onlineNet else targetNet
            let aStar = chooser.call(nextObservations).mean([| 2L |]).argmax 1L
            let tausPrime = targetNet.sample_taus (b, n')
            targetNet.forward(nextObservations, tausPrime).gather(1L, actionIndex aStar (int64 n')).squeeze 1L
        let l = losses taus predicted rewards discounts nextQuantiles
        let meanQ =
            use _ = torch.no_grad ()
            float (predicted.mean().item<float32> ())
        struct (l.MoveToOuterDisposeScope(), meanQ)

    /// f of the IQN networks: Linear(features, hidden) and ReLU, then the output layer of the actions (or, with
    /// config.Dueling, a value and an advantage stream); NoisyLinear output layers with config.Noisy, returned
    /// beside the head for ResetNoise and Deterministic.
    let private iqnHead (config: DqnConfig) (features: int) (hidden: int) (actions: int) (device: Device) : torch.nn.Module<Tensor, Tensor> * NoisyLinear list =
        let noisy = ResizeArray<NoisyLinear>()
        let output (i: int) (o: int) : torch.nn.Module<Tensor, Tensor> =
            if config.Noisy then
                let l = new NoisyLinear(i, o, config.NoisySigma0, device)
                noisy.Add l
                l
            else
                torch.nn.Linear(int64 i, int64 o, device = device)
        let layers () = fst (QNetwork.mlpLayers features [ hidden ] device)
        let head: torch.nn.Module<Tensor, Tensor> =
            if config.Dueling then
                new DuelingNetwork(torch.nn.Sequential(layers ()), output hidden 1, output hidden actions)
            else
                torch.nn.Sequential(layers () @ [ output hidden actions ])
        head, List.ofSeq noisy

    /// <summary>An IQN network over a torso ψ of your own (any module mapping the input [batch; *] to [batch; features]
    /// Float32): the embedding of config.IqnEmbeddingDim cosines into `features`, and f = Linear(features, hidden)-ReLU
    /// then Linear(hidden, actions), or with config.Dueling a DuelingNetwork over that Linear-ReLU with value
    /// Linear(hidden, 1) and advantage Linear(hidden, actions) (per level); with config.Noisy the output layers are
    /// NoisyLinear (σ0 = config.NoisySigma0). K = config.IqnPolicyTauSamples. The network owns the torso.</summary>
    /// <exception cref="T:System.ArgumentOutOfRangeException">A non-positive size.</exception>
    [<CompiledName("Over")>]
    let over (config: DqnConfig) (torso: torch.nn.Module<Tensor, Tensor>) (features: int) (hidden: int) (actionCount: int) (device: Device) : ImplicitQuantileNetwork =
        Check.positive "features" features
        Check.positive "hidden" hidden
        Check.positive "actionCount" actionCount
        let head, noisy = iqnHead config features hidden actionCount device
        new ImplicitQuantileNetwork(
            torso,
            features,
            head,
            actionCount,
            config.IqnEmbeddingDim,
            config.IqnPolicyTauSamples,
            noisy,
            device
        )

    /// <summary>The IQN network for a config over observation vectors (the MLP of config.Hidden = [h_1; ...; h_L],
    /// split as the paper splits the Atari network: the embedding multiplies the features before the last hidden
    /// layer). Torso ψ: Linear-ReLU for h_1 .. h_{L-1} (empty, ψ(x) = x, when L = 1); features h_{L-1} (or
    /// ObservationSize); head f of <c>over</c> with hidden = h_L. Parameter names "torso.0.weight", ...,
    /// "embedding.weight", "embedding.bias", "head.0.weight", "head.2.weight" ("head.torso.0.*", "head.value.*",
    /// "head.advantage.*" with Dueling).</summary>
    /// <exception cref="T:System.ArgumentException">spec.Hidden is empty (the message names the combination).</exception>
    /// <exception cref="T:System.ArgumentOutOfRangeException">A non-positive size.</exception>
    [<CompiledName("Mlp")>]
    let mlp (config: DqnConfig) (spec: QNetworkSpec) (device: Device) : ImplicitQuantileNetwork =
        Check.positive "ObservationSize" spec.ObservationSize
        Check.positive "ActionCount" spec.ActionCount
        for h in spec.Hidden do
            Check.positive "Hidden" h
        if spec.Hidden.IsEmpty then
            invalidArg "Hidden" "an IQN network needs at least one hidden layer (Hidden = []): the embedding of τ multiplies the features before the last hidden layer"
        let layers, features = QNetwork.mlpLayers spec.ObservationSize (List.take (spec.Hidden.Length - 1) spec.Hidden) device
        over config (torch.nn.Sequential(layers)) features (List.last spec.Hidden) spec.ActionCount device

    /// <summary>The IQN network of Dabney et al. 2018b on Atari (section 4; Dopamine's implicit quantile network):
    /// ψ is the Nature CNN's convolutions (NatureCnnTorso without its fully connected layer: 3136 features of
    /// [batch; frames; 84; 84] UInt8 stacks), φ embeds τ into 3136 features, and f is FC 512, ReLU, then a linear
    /// layer of the actions (with config.Dueling a value and an advantage stream after FC 512; with config.Noisy
    /// NoisyLinear output layers). Output [batch; actions; N] as the other IQN networks.</summary>
    /// <exception cref="T:System.ArgumentOutOfRangeException">A non-positive size.</exception>
    [<CompiledName("NatureCnn")>]
    let natureCnn (config: DqnConfig) (frames: int) (actionCount: int) (device: Device) : ImplicitQuantileNetwork =
        Check.positive "actionCount" actionCount
        let torso = new NatureCnnTorso(frames, device, false)
        over config torso torso.Features 512 actionCount device
