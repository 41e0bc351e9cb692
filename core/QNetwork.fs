namespace Dqn.Fun

open System
open Dqn.Fun.Torch

/// The shape of an MLP Q-network: what a checkpoint needs to rebuild it.
type QNetworkSpec =
    { ObservationSize: int
      Hidden: int list
      ActionCount: int }

/// Q-networks: map a batch of observations [batch; observationSize] (Float32) to action values
/// [batch; actionCount] (Float32).
[<RequireQualifiedAccess>]
module QNetwork =

    /// An MLP Linear-ReLU-...-Linear with PyTorch's default initialisation; its parameter names
    /// ("0.weight", "0.bias", "2.weight", ...) are those of the same torch.nn.Sequential in Python.
    /// Raises ArgumentOutOfRangeException for a non-positive size.
    [<CompiledName("Mlp")>]
    let mlp (spec: QNetworkSpec) (device: Device) : nn.Sequential =
        if spec.ObservationSize <= 0 then
            raise (ArgumentOutOfRangeException("ObservationSize", spec.ObservationSize, "ObservationSize must be positive"))
        if spec.ActionCount <= 0 then
            raise (ArgumentOutOfRangeException("ActionCount", spec.ActionCount, "ActionCount must be positive"))
        let widths = spec.ObservationSize :: spec.Hidden
        let layers =
            [ for i in 0 .. spec.Hidden.Length - 1 do
                  new nn.Linear(widths[i], widths[i + 1], device = device) :> nn.Module
                  new nn.ReLU()
              new nn.Linear(List.last widths, spec.ActionCount, device = device) ]
        new nn.Sequential(layers)

    /// argmax_a Q(observation, a) for one observation (float32[observationSize]); ties go to the lowest
    /// action. Runs without gradient recording; frees every tensor it makes.
    [<CompiledName("GreedyAction")>]
    let greedyAction (network: nn.Module) (device: Device) (observation: float32[]) : int =
        use _ = torch.no_grad ()
        use scope = new DisposeScope()
        let x = torch.tensor<float32>(ReadOnlySpan observation, [| 1L; int64 observation.Length |], device)
        (network.forward x).argmax().item<int64>() |> int

    /// target <- tau * online + (1 - tau) * target for every parameter (Polyak averaging; tau = 1 copies).
    /// Both networks must have the same architecture.
    [<CompiledName("UpdateTarget")>]
    let updateTarget (tau: float) (target: nn.Module) (online: nn.Module) =
        if not (tau > 0.0 && tau <= 1.0) then raise (ArgumentOutOfRangeException("tau", tau, "tau must be in (0, 1]"))
        for t, o in List.zip (target.parameters ()) (online.parameters ()) do
            if tau = 1.0 then t.copy_ o |> ignore else t.lerp_(o, tau) |> ignore
