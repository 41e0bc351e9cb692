namespace Dqn.Fun

open System
open TorchSharp

/// The feature extractor under a Q-network's head.
[<RequireQualifiedAccess>]
type Torso =
    /// Linear + ReLU layers of the given widths over observation vectors [batch; observationSize] Float32.
    | Mlp of observationSize: int * hidden: int list
    /// The convolutional torso of Mnih et al. 2015 (NatureCnnTorso) over [batch; frames; 84; 84] UInt8
    /// frame stacks: 512 features.
    | NatureCnn of frames: int
    /// A TorchSharp module of your own mapping observations [batch; ...] to features [batch; features] Float32, under
    /// the library's heads. `create` makes a fresh module each time it is called (once for the online network, once
    /// for the target network θ⁻), each with its own parameters; the network owns and disposes what it returns.
    /// Its parameters are named "torso.*" in every network built over it.
    | Custom of create: Func<torch.nn.Module<Tensor, Tensor>> * features: int

/// A Q-network built from a config's switches (dueling, noisy, distributional head) around an MLP torso.
/// Output: [batch; actions] for the Expected head, [batch; actions; atoms] for C51 logits or QR quantiles.
/// Owns its layers; NoisyLinear noise is resampled with ResetNoise and switched off with Deterministic.
[<Sealed>]
type QModel internal (body: torch.nn.Module<Tensor, Tensor>, noisy: NoisyLinear list, actions: int, atoms: int) as this =
    inherit torch.nn.Module<Tensor, Tensor>("QModel")
    // The body's children are this module's, so parameter names are the body's ("0.weight", "torso.0.weight", ...).
    do
        for struct (n, m) in body.named_children () do
            this.register_module (n, m)

    /// Components are registered by name in the constructor.
    override _.RegisterComponents() = ()

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
        let y = body.call x
        if atoms = 1 || y.dim () = 3L then y
        else
            use _ = y
            y.view (y.shape[0], int64 actions, int64 atoms)

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

    /// The module under the heads for a torso and the width of its output: Linear-ReLU layers (MLP), the Nature
    /// CNN's (NatureCnnTorso), or the user's.
    let private torsoOf (torso: Torso) (device: Device) : torch.nn.Module<Tensor, Tensor> list * int =
        match torso with
        | Torso.Mlp(observationSize, hidden) -> QNetwork.mlpLayers observationSize hidden device
        | Torso.NatureCnn frames ->
            let t = new NatureCnnTorso(frames, device)
            [ t ], t.Features
        | Torso.Custom(create, features) ->
            Check.positive "features" features
            match create.Invoke() with
            | null -> invalidArg "torso" "the custom torso's create function returned null"
            | m -> [ m.``to`` device ], features

    /// <summary>The Q-network for `config` over `torso` with `actionCount` actions: the plain network (QNetwork.mlp,
    /// or NatureCnn for Torso.NatureCnn) when no variant is switched on, else a QModel whose head follows the
    /// config (see <c>create</c>): the torso's parameters are "0.*", "2.*"... (Sequential) or "torso.*" (dueling).
    /// With config.Recurrent over an MLP torso, a DrqnNetwork (Hausknecht and Stone 2015). A Torso.Custom module
    /// sits under the same heads (named "torso.*": a plain head is its "torso" then a Linear "head"), or under IQN's
    /// embedding (an ImplicitQuantileNetwork with a Linear-ReLU-Linear f).
    /// Output [batch; actions] (Expected) or [batch; actions; atoms].</summary>
    /// <exception cref="T:System.ArgumentOutOfRangeException">actionCount &lt; 1, or a torso size out of range.</exception>
    /// <exception cref="T:System.ArgumentException">Recurrent over a torso other than the MLP.</exception>
    [<CompiledName("CreateFor")>]
    let createFor (config: DqnConfig) (torso: Torso) (actionCount: int) (device: Device) : torch.nn.Module<Tensor, Tensor> =
        Check.positive "actionCount" actionCount
        match torso with
        | Torso.Mlp(observationSize, hidden) when config.Recurrent ->
            new DrqnNetwork(observationSize, hidden, config.LstmHidden, actionCount, device)
        | _ when config.Recurrent -> invalidArg "config" "Recurrent (DRQN) is built over the MLP torso only"
        | Torso.Mlp(observationSize, hidden) when config.Head = ValueHead.Implicit ->
            Iqn.mlp config { ObservationSize = observationSize; Hidden = hidden; ActionCount = actionCount } device
        | Torso.NatureCnn frames when config.Head = ValueHead.Implicit -> Iqn.natureCnn config frames actionCount device
        | Torso.Mlp(observationSize, hidden) when isPlain config ->
            QNetwork.mlp { ObservationSize = observationSize; Hidden = hidden; ActionCount = actionCount } device
        | Torso.NatureCnn frames when isPlain config -> new NatureCnn(actionCount, frames, device)
        | Torso.Custom _ when config.Head = ValueHead.Implicit ->
            let layers, features = torsoOf torso device
            Iqn.over config layers.Head features (match config.Hidden with [] -> features | h -> List.last h) actionCount device
        | _ ->
            let atoms = atomsOf config
            let noisy = ResizeArray<NoisyLinear>()
            // Noisy layers replace the output layers (the value and advantage streams with Dueling); the torso
            // stays deterministic, as the convolutional torso of Rainbow's Atari network does (Hessel et al.
            // 2018). A noisy input layer (sigma0 / sqrt 4 on CartPole's 4 inputs) drowned the signal.
            let linear (i: int) (o: int) : torch.nn.Module<Tensor, Tensor> =
                if config.Noisy then
                    let l = new NoisyLinear(i, o, config.NoisySigma0, device)
                    noisy.Add l
                    l
                else
                    torch.nn.Linear(int64 i, int64 o, device = device)
            let torsoLayers, features = torsoOf torso device
            let body: torch.nn.Module<Tensor, Tensor> =
                match torso, torsoLayers with
                | Torso.Mlp _, layers when not config.Dueling -> torch.nn.Sequential(layers @ [ linear features (actionCount * atoms) ])
                | Torso.Mlp _, layers -> new DuelingNetwork(torch.nn.Sequential(layers), linear features atoms, linear features (actionCount * atoms), atoms)
                | _, [ single ] when config.Dueling -> new DuelingNetwork(single, linear features atoms, linear features (actionCount * atoms), atoms)
                | Torso.NatureCnn _, [ single ] -> torch.nn.Sequential([ single; linear features (actionCount * atoms) ])
                | _, [ single ] -> torch.nn.Sequential([| struct ("torso", single); struct ("head", linear features (actionCount * atoms)) |])
                | _, layers -> invalidOp $"a torso of {layers.Length} modules"
            new QModel(body, List.ofSeq noisy, actionCount, atoms)

    /// A module and all its descendants, depth first in registration order (the order their layers are built in).
    /// TorchSharp's modules() lists children before grandchildren and leaves the module itself out.
    let rec private selfAndDescendants (m: torch.nn.Module) : torch.nn.Module seq =
        seq {
            yield m
            for struct (_, child) in m.named_children () do
                yield! selfAndDescendants child
        }

    /// <summary>Draws every parameter of the library's layers in `network` again from `generator`, layer by layer in
    /// the order they are built in, with PyTorch's
    /// default initialisation (Linear and Conv2d: weights and biases U(-1/√fan_in, 1/√fan_in), which is
    /// kaiming_uniform_(a = √5) for the weights; LSTMCell: U(-1/√hidden, 1/√hidden); NoisyLinear: its
    /// reset_parameters), and points the noisy layers' and IQN networks' sampling at it, so that a network's
    /// weights and noise depend on its agent's generator only. Modules of other types are left as they are.</summary>
    [<CompiledName("Reinitialize")>]
    let reinitialize (generator: torch.Generator) (network: torch.nn.Module) =
        use _ = torch.no_grad ()
        let uniform (t: Tensor) (bound: float) =
            if not (isNull t) then t.uniform_(-bound, bound, generator) |> ignore
        for m in selfAndDescendants network do
            match m with
            | :? TorchSharp.Modules.Linear as l ->
                let bound = 1.0 / sqrt (float l.in_features)
                uniform l.weight bound
                uniform l.bias bound
            | :? TorchSharp.Modules.Conv2d as c ->
                let s = c.weight.shape
                let bound = 1.0 / sqrt (float (s[1] * s[2] * s[3]))
                uniform c.weight bound
                uniform c.bias bound
            | :? TorchSharp.Modules.LSTMCell as c ->
                // In registration order (weight_ih, weight_hh, bias_ih, bias_hh), as LibTorch initialises them;
                // hidden = weight_hh's width (its property would make a new wrapper each read).
                let ps = [ for struct (_, p) in c.named_parameters () -> p :> Tensor ]
                let hidden = ps |> List.pick (fun p -> if p.dim () = 2L && p.shape[0] = 4L * p.shape[1] then Some p.shape[1] else None)
                for p in ps do
                    uniform p (1.0 / sqrt (float hidden))
            | :? NoisyLinear as n ->
                n.generator <- generator
                n.reset_parameters ()
            | :? ImplicitQuantileNetwork as q -> q.Generator <- generator
            | _ -> ()

    /// Points the noisy layers' and IQN networks' sampling in `network` at `generator` (parameters unchanged).
    [<CompiledName("DrawFrom")>]
    let drawFrom (generator: torch.Generator) (network: torch.nn.Module) =
        for m in selfAndDescendants network do
            match m with
            | :? NoisyLinear as n -> n.generator <- generator
            | :? ImplicitQuantileNetwork as q -> q.Generator <- generator
            | _ -> ()

    /// <summary>The Q-network for `config` over observation vectors: the plain MLP (QNetwork.mlp, eligible for
    /// the fused update) when no variant is switched on, else a QModel: Linear and ReLU layers for
    /// config.Hidden, then either one output layer of actions * atoms units or, with config.Dueling, a value
    /// layer of atoms units and an advantage layer of actions * atoms units combined per atom (Wang et al. 2016;
    /// Hessel et al. 2018); with config.Noisy the output layers are NoisyLinear (Fortunato et al. 2018). Parameter names: "0.weight"... for the plain MLP,
    /// "torso.*", "value.*", "advantage.*" for dueling ones, "0.*"... (weight_mu, weight_sigma, ...) for noisy
    /// layers. <c>createFor</c> with <c>Torso.NatureCnn</c> builds the same heads over the Nature CNN (the plain
    /// one is NatureCnn itself).</summary>
    [<CompiledName("Create")>]
    let create (config: DqnConfig) (spec: QNetworkSpec) (device: Device) : torch.nn.Module<Tensor, Tensor> =
        createFor config (Torso.Mlp(spec.ObservationSize, spec.Hidden)) spec.ActionCount device

    /// Draws fresh noise in a QModel's noisy layers; does nothing for other modules.
    [<CompiledName("ResetNoise")>]
    let resetNoise (network: torch.nn.Module) =
        match network with
        | :? QModel as m -> m.ResetNoise()
        | :? ImplicitQuantileNetwork as m -> m.ResetNoise()
        | _ -> ()

    /// Switches a QModel's noisy layers to their mean weights (true) or back to noisy (false); an
    /// ImplicitQuantileNetwork also acts on its K quantile midpoints instead of sampled levels while true.
    [<CompiledName("SetDeterministic")>]
    let setDeterministic (network: torch.nn.Module) (value: bool) =
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
    let targetOf (create: unit -> torch.nn.Module<Tensor, Tensor>) (online: torch.nn.Module) : torch.nn.Module<Tensor, Tensor> =
        let target = create ()
        try
            for p in target.parameters () do
                p.requires_grad <- false
            QNetwork.updateTarget 1.0 target online
            target
        with _ ->
            target.Dispose()
            reraise ()

    /// <summary>An agent's online network and its target network θ⁻, every draw (initialisation, noisy layers' noise,
    /// IQN's quantile levels) from the agent's `generator`: online is `loaded` when given (a checkpoint's network,
    /// its parameters kept), else `make ()` with the library's layers drawn again from `generator` when
    /// `reinitialise` (the built-in torsos; a module of your own keeps the initialisation it gave itself); the target
    /// is a second `make ()` holding online's parameters (<c>targetOf</c>). The caller owns and disposes both.</summary>
    /// <exception cref="T:System.ArgumentException">make () built networks whose parameters differ from online's.</exception>
    [<CompiledName("OnlineAndTarget")>]
    let onlineAndTarget
        (generator: torch.Generator)
        (make: unit -> torch.nn.Module<Tensor, Tensor>)
        (loaded: torch.nn.Module<Tensor, Tensor> option)
        (reinitialise: bool)
        =
        let create () =
            let n = make ()
            drawFrom generator n
            n
        let online =
            match loaded with
            | Some n ->
                drawFrom generator n
                n
            | None ->
                let n = create ()
                if reinitialise then reinitialize generator n
                n
        online, targetOf create online

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
        | _ -> output.mean [| 2L |]

/// Where an agent's Q-networks come from: built by the library (its heads over a torso), or a whole Q-network of
/// your own.
[<RequireQualifiedAccess>]
type QNetworkSource =
    /// QNetworks.createFor over this torso (Torso.Custom puts a module of your own under the library's heads).
    | Built of torso: Torso
    /// A TorchSharp module of your own mapping [batch; observationSize] Float32 to Q-values [batch; actions]
    /// (or [batch; actions; atoms] for a distributional head); `create` makes a fresh one each time it is called
    /// (the online network, then the target network θ⁻, each with its own parameters).
    | Network of create: Func<torch.nn.Module<Tensor, Tensor>>

    /// <summary>A fresh network from this source on `device`. A module of your own is moved to the device and its
    /// output checked on one zero observation.</summary>
    /// <exception cref="T:System.ArgumentException">create returned null, or the output shape is not
    /// [1; actionCount] (Expected head) or [1; actionCount; atoms].</exception>
    static member create (config: DqnConfig) (observationSize: int) (actionCount: int) (device: Device) (source: QNetworkSource) =
        match source with
        | Built torso -> QNetworks.createFor config torso actionCount device
        | Network create ->
            let network =
                match create.Invoke() with
                | null -> invalidArg "source" "the Q-network's create function returned null"
                | m -> m.``to`` device
            let expected = if config.Head = ValueHead.Expected then [| 1L; int64 actionCount |] else [| 1L; int64 actionCount; int64 (QNetworks.atomsOf config) |]
            let actual =
                use _ = torch.no_grad ()
                use scope = torch.NewDisposeScope()
                (network.call (torch.zeros ([| 1L; int64 observationSize |], device = device))).shape
            if actual <> expected then
                network.Dispose()
                invalidArg "source" $"the Q-network of your own maps [1; {observationSize}] observations to {Tensors.shapeText actual}; the agent needs {Tensors.shapeText expected} ({config.Head} head)"
            network
