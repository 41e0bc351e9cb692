namespace Dqn.Fun

open TorchSharp

/// Parameters for the library's own layers, made outside every DisposeScope (their module owns them).
module internal Layers =

    /// A parameter of `shape` drawn U(-bound, bound) (from `generator`, or torch's global generator when null).
    let uniformParameter (shape: int64[]) (bound: float) (device: Device) (generator: torch.Generator) : Modules.Parameter =
        use _ = torch.no_grad ()
        let t = torch.empty(shape, device = device)
        t.uniform_(-bound, bound, generator) |> ignore
        let p = torch.nn.Parameter(t)
        p.DetachFromDisposeScope() |> ignore
        p

    /// <summary>A TorchSharp module built inside a DisposeScope that frees whatever its construction leaves behind
    /// (TorchSharp 0.107's Conv2d leaves a view per layer from its fan-in computation), its parameters and buffers
    /// kept out of the scope for the module to own.</summary>
    let built (make: unit -> 'M) : 'M when 'M :> torch.nn.Module =
        use scope = torch.NewDisposeScope()
        let m = make ()
        for p in m.parameters () do
            p.DetachFromDisposeScope() |> ignore
        for b in m.buffers () do
            b.DetachFromDisposeScope() |> ignore
        m

    /// A parameter of `shape` filled with `value`.
    let constantParameter (shape: int64[]) (value: float) (device: Device) : Modules.Parameter =
        let p = torch.nn.Parameter(torch.full(shape, value.ToScalar(), device = device))
        p.DetachFromDisposeScope() |> ignore
        p
