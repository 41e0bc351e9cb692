namespace Dqn.Fun

open System
open Dqn.Fun.Torch

/// The feature extractor under a Q-network's head.
[<RequireQualifiedAccess>]
type Torso =
    /// Linear + ReLU layers of the given widths over observation vectors [batch; observationSize] Float32.
    | Mlp of observationSize: int * hidden: int list
    /// The convolutional torso of Mnih et al. 2015 (NatureCnnTorso) over [batch; frames; 84; 84] UInt8
    /// frame stacks: 512 features.
    | NatureCnn of frames: int

/// A Q-network built from a config's switches (dueling, noisy, distributional head) around an MLP torso.
/// Output: [batch; actions] for the Expected head, [batch; actions; atoms] for C51 logits or QR quantiles.
/// Owns its layers; NoisyLinear noise is resampled with ResetNoise and switched off with Deterministic.
[<Sealed>]
type QModel internal (body: nn.Module, noisy: NoisyLinear list, actions: int, atoms: int) =
    inherit nn.Module()
    member _.Body = body
    member _.Actions = actions
    /// 1 for the Expected head.
    member _.Atoms = atoms

    /// Draws fresh noise in every noisy layer (no effect without them).
    member _.ResetNoise() =
        for l in noisy do
            l.reset_noise ()

    /// Mean weights only (evaluation) when true.
    member _.Deterministic
        with set (v: bool) =
            for l in noisy do
                l.deterministic <- v

    override _.forward x =
        let y = body.forward x
        if atoms = 1 || y.dim () = 3 then y else y.view (y.shape[0], int64 actions, int64 atoms)

    override _.named_parameters() = body.named_parameters ()
    override _.Dispose() = body.Dispose()

/// Building Q-networks from a config, and reading Q-values from their outputs.
[<RequireQualifiedAccess>]
module QNetworks =

    /// Outputs per action of a config's head: 1 for Expected, K = IqnPolicyTauSamples for Implicit (the levels of
    /// an ImplicitQuantileNetwork's forward x), Atoms otherwise.
    [<CompiledName("AtomsOf")>]
    let atomsOf (config: DqnConfig) =
        match config.Head with
        | ValueHead.Expected -> 1
        | ValueHead.Implicit -> config.IqnPolicyTauSamples
        | _ -> config.Atoms

    /// Whether a config asks for anything beyond the plain MLP of QNetwork.mlp.
    [<CompiledName("IsPlain")>]
    let isPlain (config: DqnConfig) = not config.Dueling && not config.Noisy && config.Head = ValueHead.Expected && not config.Recurrent

    /// <summary>The Q-network for `config` over `torso` with `actionCount` actions: the plain network (QNetwork.mlp,
    /// or NatureCnn for Torso.NatureCnn) when no variant is switched on, else a QModel whose head follows the
    /// config (see <c>create</c>): the torso's parameters are "0.*", "2.*"... (Sequential) or "torso.*" (dueling).
    /// With config.Recurrent over an MLP torso, a DrqnNetwork (Hausknecht and Stone 2015).
    /// Output [batch; actions] (Expected) or [batch; actions; atoms].</summary>
    /// <exception cref="T:System.ArgumentOutOfRangeException">actionCount &lt; 1, or a torso size out of range.</exception>
    [<CompiledName("CreateFor")>]
    let createFor (config: DqnConfig) (torso: Torso) (actionCount: int) (device: Device) : nn.Module =
        Check.positive "actionCount" actionCount
        match torso with
        | Torso.Mlp(observationSize, hidden) when config.Recurrent ->
            new DrqnNetwork(observationSize, hidden, config.LstmHidden, actionCount, device) :> nn.Module
        | Torso.NatureCnn _ when config.Recurrent ->
            invalidArg "config" "Recurrent (DRQN) is built over the MLP torso only, not the Nature CNN"
        | Torso.Mlp(observationSize, hidden) when config.Head = ValueHead.Implicit ->
            Iqn.mlp config { ObservationSize = observationSize; Hidden = hidden; ActionCount = actionCount } device :> nn.Module
        | Torso.NatureCnn frames when config.Head = ValueHead.Implicit -> Iqn.natureCnn config frames actionCount device :> nn.Module
        | Torso.Mlp(observationSize, hidden) when isPlain config ->
            QNetwork.mlp { ObservationSize = observationSize; Hidden = hidden; ActionCount = actionCount } device :> nn.Module
        | Torso.NatureCnn frames when isPlain config -> new NatureCnn(actionCount, frames, device) :> nn.Module
        | _ ->
            let atoms = atomsOf config
            let noisy = ResizeArray<NoisyLinear>()
            // Noisy layers replace the output layers (the value and advantage streams with Dueling); the torso
            // stays deterministic, as the convolutional torso of Rainbow's Atari network does (Hessel et al.
            // 2018). A noisy input layer (sigma0 / sqrt 4 on CartPole's 4 inputs) drowned the signal.
            let linear (i: int) (o: int) : nn.Module =
                if config.Noisy then
                    let l = new NoisyLinear(i, o, config.NoisySigma0, device)
                    noisy.Add l
                    l
                else
                    new nn.Linear(i, o, device = device)
            let torsoLayers, features =
                match torso with
                | Torso.Mlp(observationSize, hidden) ->
                    let widths = observationSize :: hidden
                    [ for i in 0 .. hidden.Length - 1 do
                          new nn.Linear(widths[i], widths[i + 1], device = device) :> nn.Module
                          new nn.ReLU() :> nn.Module ],
                    List.last widths
                | Torso.NatureCnn frames ->
                    let t = new NatureCnnTorso(frames, device)
                    [ t :> nn.Module ], t.Features
            let body: nn.Module =
                if config.Dueling then
                    let torsoModule =
                        match torsoLayers with
                        | [ single ] when (match torso with Torso.NatureCnn _ -> true | _ -> false) -> single
                        | layers -> new nn.Sequential(layers) :> nn.Module
                    new DuelingNetwork(torsoModule, linear features atoms, linear features (actionCount * atoms), atoms)
                else
                    new nn.Sequential(torsoLayers @ [ linear features (actionCount * atoms) ])
            new QModel(body, List.ofSeq noisy, actionCount, atoms)

    /// <summary>The Q-network for `config` over observation vectors: the plain MLP (QNetwork.mlp, eligible for
    /// the fused update) when no variant is switched on, else a QModel: Linear and ReLU layers for
    /// config.Hidden, then either one output layer of actions * atoms units or, with config.Dueling, a value
    /// layer of atoms units and an advantage layer of actions * atoms units combined per atom (Wang et al. 2016;
    /// Hessel et al. 2018); with config.Noisy the output layers are NoisyLinear (Fortunato et al. 2018). Parameter names: "0.weight"... for the plain MLP,
    /// "torso.*", "value.*", "advantage.*" for dueling ones, "0.*"... (weight_mu, weight_sigma, ...) for noisy
    /// layers. <c>createFor</c> with <c>Torso.NatureCnn</c> builds the same heads over the Nature CNN (the plain
    /// one is NatureCnn itself).</summary>
    [<CompiledName("Create")>]
    let create (config: DqnConfig) (spec: QNetworkSpec) (device: Device) : nn.Module =
        createFor config (Torso.Mlp(spec.ObservationSize, spec.Hidden)) spec.ActionCount device

    /// Draws fresh noise in a QModel's noisy layers; does nothing for other modules.
    [<CompiledName("ResetNoise")>]
    let resetNoise (network: nn.Module) =
        match network with
        | :? QModel as m -> m.ResetNoise()
        | :? ImplicitQuantileNetwork as m -> m.ResetNoise()
        | _ -> ()

    /// Switches a QModel's noisy layers to their mean weights (true) or back to noisy (false); an
    /// ImplicitQuantileNetwork also acts on its K quantile midpoints instead of sampled levels while true.
    [<CompiledName("SetDeterministic")>]
    let setDeterministic (network: nn.Module) (value: bool) =
        match network with
        | :? QModel as m -> m.Deterministic <- value
        | :? ImplicitQuantileNetwork as m -> m.Deterministic <- value
        | _ -> ()

    /// The C51 support [Atoms] Float32 for a Categorical config, else null.
    [<CompiledName("SupportOf")>]
    let supportOf (config: DqnConfig) (device: Device) : Tensor =
        if config.Head = ValueHead.Categorical then Categorical.support config.VMin config.VMax config.Atoms device else null

    /// <summary>The target network θ⁻ of Mnih et al. 2015 (Methods) for <c>online</c>: <c>create ()</c> builds a
    /// network of the same architecture, whose parameters are then copied from online and taken out of
    /// autograd (requires_grad false). The caller owns the result and disposes it.</summary>
    /// <exception cref="T:System.ArgumentException">create () built a network whose parameters differ from
    /// online's.</exception>
    [<CompiledName("TargetOf")>]
    let targetOf (create: unit -> nn.Module) (online: nn.Module) : nn.Module =
        let target = create ()
        try
            for p in target.parameters () do
                p.requires_grad <- false
            QNetwork.updateTarget 1.0 target online
            target
        with _ ->
            target.Dispose()
            reraise ()

    /// <summary>supportOf, detached from any enclosing DisposeScope: a shell that keeps the support for its
    /// lifetime owns it and disposes it (null for heads other than Categorical).</summary>
    [<CompiledName("OwnedSupportOf")>]
    let ownedSupportOf (config: DqnConfig) (device: Device) : Tensor =
        match supportOf config device with
        | null -> null
        | t -> t.DetachFromDisposeScope()

    /// <summary>Q-values [batch; actions] from a network output: itself (Expected), the expectation of the
    /// softmax over atoms under `support` (C51), or the mean of the quantiles (QR-DQN; IQN's [batch; actions; K]
    /// policy quantiles, Dabney et al. 2018b section 3.2).</summary>
    [<CompiledName("QValues")>]
    let qValues (head: ValueHead) (support: Tensor) (output: Tensor) : Tensor =
        match head with
        | ValueHead.Expected -> output
        | ValueHead.Categorical -> Categorical.qValues (output.softmax 2L) support
        | _ -> output.mean 2L
