namespace Dqn.Fun

open System
open TorchSharp

/// <summary>The dueling architecture (Wang et al. 2016, "Dueling Network Architectures for Deep Reinforcement
/// Learning", section 3, eq. 9): a shared torso, then a value stream V(s) and an advantage stream A(s, a),
/// combined as <c>Q(s, a) = V(s) + (A(s, a) - mean_a' A(s, a'))</c>.</summary>
/// <remarks>
/// Subtracting the mean advantage makes V and A identifiable (the advantages of a state average to 0), as
/// the paper does in its experiments. The streams are any modules: <c>value</c> maps the torso's output
/// [batch; features] to [batch; 1], <c>advantage</c> to [batch; actions] (NoisyLinear layers for Rainbow).
/// Parameter names are prefixed "torso.", "value." and "advantage.". The network owns the three modules and
/// disposes them. Input [batch; *] -> output [batch; actions], Float32.
/// </remarks>
type DuelingNetwork(torso: torch.nn.Module<Tensor, Tensor>, value: torch.nn.Module<Tensor, Tensor>, advantage: torch.nn.Module<Tensor, Tensor>, ?atoms: int) as this =
    inherit torch.nn.Module<Tensor, Tensor>("DuelingNetwork")
    let atomCount = defaultArg atoms 1
    do
        if isNull (box torso) then nullArg "torso"
        if isNull (box value) then nullArg "value"
        if isNull (box advantage) then nullArg "advantage"
        Check.positive "atoms" atomCount
        this.register_module ("torso", torso)
        this.register_module ("value", value)
        this.register_module ("advantage", advantage)

    /// Components are registered by name in the constructor.
    override _.RegisterComponents() = ()

    member _.torso = torso
    member _.value = value
    member _.advantage = advantage
    /// Outputs per action: 1, or the atoms of a distributional head (Rainbow's dueling C51).
    member _.atoms = atomCount

    /// The two streams for a batch: V(s) [batch; atoms] and A(s, ·) [batch; actions * atoms], before they are
    /// combined.
    member _.streams(x: Tensor) : struct (Tensor * Tensor) =
        let h = torso.call x
        let v = value.call h
        let a = advantage.call h
        let vs, s = v.shape, a.shape
        if vs.Length <> 2 || vs[1] <> int64 atomCount || s.Length <> 2 || vs[0] <> s[0] || s[1] % int64 atomCount <> 0L then
            invalidOp
                $"""the value stream must give [batch; {atomCount}] and the advantage stream [batch; actions * {atomCount}], got [{String.Join("; ", vs)}] and [{String.Join("; ", s)}]"""
        struct (v, a)

    /// [batch; actions] for one atom, else [batch; actions; atoms] (advantages centred per atom, as Rainbow).
    override m.forward x =
        use scope = torch.NewDisposeScope()
        let struct (v, a) = m.streams x
        let q =
            if atomCount = 1 then
                v + (a - a.mean([| 1L |], keepdim = true))
            else
                let b = a.shape[0]
                let a3 = a.view (b, -1L, int64 atomCount)
                v.view (b, 1L, int64 atomCount) + (a3 - a3.mean([| 1L |], keepdim = true))
        q.MoveToOuterDisposeScope()

/// Dueling Q-networks over observation vectors.
[<RequireQualifiedAccess>]
module Dueling =

    /// <summary>A dueling MLP: the torso is Linear-ReLU for each width of <c>spec.Hidden</c> (an nn.Sequential,
    /// empty when Hidden is empty), then one Linear to 1 (value) and one Linear to ActionCount (advantage),
    /// with PyTorch's default initialisation. Maps [batch; ObservationSize] to [batch; ActionCount].</summary>
    /// <exception cref="T:System.ArgumentOutOfRangeException">A non-positive size.</exception>
    /// <example><c>Dueling.mlp { ObservationSize = 4; Hidden = [ 128; 128 ]; ActionCount = 2 } torch.CPU</c> has
    /// parameters torso.0.weight, torso.0.bias, torso.2.weight, torso.2.bias, value.weight, value.bias,
    /// advantage.weight, advantage.bias.</example>
    [<CompiledName("Mlp")>]
    let mlp (spec: QNetworkSpec) (device: Device) : DuelingNetwork =
        Check.positive "ObservationSize" spec.ObservationSize
        Check.positive "ActionCount" spec.ActionCount
        for h in spec.Hidden do
            Check.positive "Hidden" h
        let layers, features = QNetwork.mlpLayers spec.ObservationSize spec.Hidden device
        new DuelingNetwork(
            torch.nn.Sequential(layers),
            torch.nn.Linear(int64 features, 1L, device = device),
            torch.nn.Linear(int64 features, int64 spec.ActionCount, device = device)
        )
