namespace Dqn.Fun

open System
open TorchSharp
open TorchSharp.Modules

/// The shape of an MLP Q-network: what a checkpoint needs to rebuild it.
type QNetworkSpec =
    { ObservationSize: int
      Hidden: int list
      ActionCount: int }

/// Q-networks: map a batch of observations [batch; observationSize] (Float32) to action values
/// [batch; actionCount] (Float32).
[<RequireQualifiedAccess>]
module QNetwork =

    /// Linear and ReLU layers for each width of `hidden` over `inputSize` inputs (none when hidden is empty),
    /// with TorchSharp's (PyTorch's) default initialisation; returns them and the width of their output.
    let internal mlpLayers (inputSize: int) (hidden: int list) (device: Device) : torch.nn.Module<Tensor, Tensor> list * int =
        let widths = inputSize :: hidden
        [ for i in 0 .. hidden.Length - 1 do
              torch.nn.Linear(int64 widths[i], int64 widths[i + 1], device = device) :> torch.nn.Module<Tensor, Tensor>
              torch.nn.ReLU() ],
        List.last widths

    /// An MLP Linear-ReLU-...-Linear (torch.nn.Sequential) with PyTorch's default initialisation; its parameter
    /// names ("0.weight", "0.bias", "2.weight", ...) are those of the same torch.nn.Sequential in Python.
    /// Raises ArgumentOutOfRangeException for a non-positive size.
    [<CompiledName("Mlp")>]
    let mlp (spec: QNetworkSpec) (device: Device) : Sequential =
        Check.positive "ObservationSize" spec.ObservationSize
        Check.positive "ActionCount" spec.ActionCount
        for h in spec.Hidden do
            Check.positive "Hidden" h
        let torso, features = mlpLayers spec.ObservationSize spec.Hidden device
        torch.nn.Sequential(torso @ [ torch.nn.Linear(int64 features, int64 spec.ActionCount, device = device) ])

    /// argmax_a Q(observation, a) for one observation (float32[observationSize]); ties go to the lowest
    /// action. Runs without gradient recording; frees every tensor it makes. A CPU MLP (QNetwork.mlp) is run by
    /// FusedMlp's matrix-vector path (no libtorch call), any other network by its forward pass.
    [<CompiledName("GreedyAction")>]
    let greedyAction (network: torch.nn.Module<Tensor, Tensor>) (device: Device) (observation: float32[]) : int =
        match (if device.``type`` = DeviceType.CPU then FusedActing.greedyAction network observation else None) with
        | Some a -> a
        | None ->
            use _ = torch.no_grad ()
            use scope = torch.NewDisposeScope()
            let x = Tensors.ofArray observation [| 1L; int64 observation.Length |] device
            network.forward(x).argmax().item<int64> () |> int

    /// <summary>argmax_a Q(x, a) for each row of the [batch; ...] input `input ()` makes (any torso; a network whose
    /// output is [batch; actions] Q-values): int[batch], ties to the lowest action. Without gradient recording; frees
    /// every tensor it makes, the input included.</summary>
    [<CompiledName("GreedyActions")>]
    let greedyActions (network: torch.nn.Module<Tensor, Tensor>) (input: unit -> Tensor) : int[] =
        use _ = torch.no_grad ()
        use scope = torch.NewDisposeScope()
        network.call(input ()).argmax(1L).data<int64>().ToArray() |> Array.map int

    /// target <- tau * online + (1 - tau) * target for every parameter (Polyak averaging; tau = 1 copies), without
    /// recording gradients. Both networks must have the same architecture.
    /// Raises ArgumentOutOfRangeException for tau outside (0, 1], ArgumentException when the parameter lists
    /// differ in length, names or shapes.
    [<CompiledName("UpdateTarget")>]
    let updateTarget (tau: float) (target: torch.nn.Module) (online: torch.nn.Module) =
        if not (tau > 0.0 && tau <= 1.0) then raise (ArgumentOutOfRangeException("tau", tau, "tau must be in (0, 1]"))
        let ts = target.named_parameters () |> Array.ofSeq
        let os = online.named_parameters () |> Array.ofSeq
        if ts.Length <> os.Length then
            invalidArg "online" $"the target network has {ts.Length} parameters, the online network {os.Length}"
        use _ = torch.no_grad ()
        for struct (tn, t), struct (on, o) in Array.zip ts os do
            if tn <> on || t.shape <> o.shape then
                invalidArg "online" $"parameter '{on}' {Tensors.shapeText o.shape} does not match the target's '{tn}' {Tensors.shapeText t.shape}"
            if tau = 1.0 then t.copy_ o |> ignore else t.lerp_(o, tau) |> ignore
