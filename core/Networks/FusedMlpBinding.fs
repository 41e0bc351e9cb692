namespace Dqn.Fun

#nowarn "9" // spans over the native memory of CPU parameter tensors

open System
open System.Runtime.CompilerServices
open Microsoft.FSharp.NativeInterop
open TorchSharp
open TorchSharp.Modules

/// <summary>The float32 memory of a list of CPU tensors as FusedMlp reads it (its ParameterSpans), by address: a
/// tensor's storage stays put while the tensor lives and is updated in place, so each address is taken once
/// (Tensor.bytes costs several P/Invokes). <c>IsCurrent</c> tells whether every tensor is still the one bound.</summary>
[<Sealed>]
type internal TensorMemory(tensors: Tensor[]) =
    let handles = tensors |> Array.map (fun t -> t.Handle)
    let lengths = tensors |> Array.map (fun t -> int (t.numel ()))
    let addresses =
        tensors
        |> Array.map (fun t ->
            let span = Tensors.span<float32> t
            NativePtr.ofVoidPtr<float32> (Unsafe.AsPointer(&Runtime.InteropServices.MemoryMarshal.GetReference span)) |> NativePtr.toNativeInt)

    /// Spans over the bound memory, by index.
    member val Spans = FusedMlp.ParameterSpans(fun i -> Span<float32>(NativePtr.toVoidPtr (NativePtr.ofNativeInt<float32> addresses[i]), lengths[i]))

    /// Whether `current` are the very tensors bound (same native handles, in order).
    member _.IsCurrent(current: Tensor[]) =
        current.Length = handles.Length && Array.forall2 (fun (t: Tensor) h -> t.Handle = h) current handles

    /// Whether the tensors can be bound: CPU, Float32, contiguous.
    static member Bindable(tensors: Tensor seq) =
        tensors
        |> Seq.forall (fun t -> t.device_type = DeviceType.CPU && t.dtype = ScalarType.Float32 && t.is_contiguous ())

/// <summary>A CPU MLP Q-network (QNetwork.mlp's nn.Sequential: Linear with bias, ReLU, ..., Linear, Float32) bound
/// for FusedMlp: its layer widths and its parameters' memory.</summary>
[<Sealed>]
type internal FusedMlpNetwork private (network: Sequential, widths: int[], parameters: Parameter[]) =
    let mutable memory = TensorMemory(parameters |> Array.map (fun p -> p :> Tensor))

    /// [observation size; hidden widths...; action count].
    member _.Widths = widths

    /// The parameters' memory (W_1, b_1, ..., W_L, b_L), rebound if a parameter was replaced (e.g. by Module.to).
    member _.Spans =
        let current = network.parameters () |> Seq.map (fun p -> p :> Tensor) |> Array.ofSeq
        if not (memory.IsCurrent current) then
            if current.Length <> parameters.Length || not (TensorMemory.Bindable current) then
                invalidOp "the network's parameters are no longer CPU Float32 tensors of the bound MLP"
            memory <- TensorMemory(current)
        memory.Spans

    /// The binding of `network` when it is a CPU Float32 MLP of Linear (with bias) and ReLU layers, else None.
    static member TryBind(network: torch.nn.Module) : FusedMlpNetwork option =
        match network with
        | :? Sequential as s ->
            let layers = s.children () |> Array.ofSeq
            let shapeOk =
                layers.Length % 2 = 1
                && layers
                   |> Array.mapi (fun i l ->
                       match l with
                       | :? Linear as lin -> i % 2 = 0 && not (isNull lin.bias)
                       | :? ReLU -> i % 2 = 1
                       | _ -> false)
                   |> Array.forall id
            let parameters = s.parameters () |> Array.ofSeq
            if shapeOk && TensorMemory.Bindable(parameters |> Seq.map (fun p -> p :> Tensor)) then
                let linears = layers |> Array.choose (function :? Linear as l -> Some l | _ -> None)
                let widths = Array.append [| int linears[0].in_features |] (linears |> Array.map (fun l -> int l.out_features))
                Some(FusedMlpNetwork(s, widths, parameters))
            else None
        | _ -> None

/// Greedy actions of CPU MLP Q-networks through FusedMlp's matrix-vector path (about 1.5 µs for 4-128-128-2,
/// against about 18 µs for a TorchSharp forward pass and argmax).
module internal FusedActing =

    type private Binding = { Network: FusedMlpNetwork; Workspace: FusedMlp.Workspace }

    let private bindings = ConditionalWeakTable<torch.nn.Module, Binding option>()

    /// argmax_a Q(observation, a) (ties to the lowest action) when `network` is a CPU MLP, else None.
    let greedyAction (network: torch.nn.Module) (observation: float32[]) : int option =
        let binding =
            bindings.GetValue(
                network,
                fun m -> FusedMlpNetwork.TryBind m |> Option.map (fun n -> { Network = n; Workspace = FusedMlp.Workspace(n.Widths, 1) })
            )
        match binding with
        | Some b -> Some(FusedMlp.greedyAction b.Workspace b.Network.Spans (ReadOnlySpan observation))
        | None -> None

/// <summary>The fused update (FusedMlp.update) of one online network, its target network and the torch.optim.Adam
/// training it (one parameter group over the online network's parameters, no weight decay, amsgrad or maximize):
/// parameters and Adam's moments are read and written in place, and every Adam.State's step is kept in sync.</summary>
[<Sealed>]
type internal FusedMlpUpdater private (online: FusedMlpNetwork, target: FusedMlpNetwork, adam: Adam, group: ParamGroup, states: Adam.State[]) =
    let options = group.Options :?> Adam.Options
    let mutable workspace: FusedMlp.Workspace = Unchecked.defaultof<_>
    let momentsOf (pick: Adam.State -> Tensor) = states |> Array.map pick
    let mutable expAvg = TensorMemory(momentsOf (fun s -> s.exp_avg))
    let mutable expAvgSq = TensorMemory(momentsOf (fun s -> s.exp_avg_sq))

    /// <summary>One update on a host batch (Learner.learn's fused path); returns the loss and the mean Q(s, a).</summary>
    member _.Update(config: DqnConfig, batch: Batch, discounts: float32[]) : struct (float * float) =
        if isNull (box workspace) || workspace.MaxBatch < batch.Size then workspace <- FusedMlp.Workspace(online.Widths, batch.Size)
        let current pick = momentsOf pick
        if not (expAvg.IsCurrent(current (fun s -> s.exp_avg))) then expAvg <- TensorMemory(current (fun s -> s.exp_avg))
        if not (expAvgSq.IsCurrent(current (fun s -> s.exp_avg_sq))) then expAvgSq <- TensorMemory(current (fun s -> s.exp_avg_sq))
        let settings: FusedMlp.Settings =
            { Loss = (if config.Loss = TdLoss.Mse then FusedMlp.LossKind.Mse else FusedMlp.LossKind.Huber)
              DoubleDqn = config.DoubleDqn
              MaxGradNorm = (match config.MaxGradNorm with Some m -> m | None -> 0.0)
              LearningRate = group.LearningRate
              Beta1 = options.beta1.Value
              Beta2 = options.beta2.Value
              Epsilon = options.eps.Value }
        let r =
            FusedMlp.update
                workspace
                settings
                online.Spans
                target.Spans
                expAvg.Spans
                expAvgSq.Spans
                states[0].step
                (ReadOnlySpan batch.Observations)
                (ReadOnlySpan batch.NextObservations)
                (ReadOnlySpan batch.Actions)
                (ReadOnlySpan batch.Rewards)
                (ReadOnlySpan discounts)
        for s in states do
            s.step <- r.Step
        struct (r.Loss, r.MeanQ)

    /// The updater for these three when the fused path applies (CPU Float32 MLPs of the same widths, Adam with
    /// one group over online's parameters in order, no weight decay, amsgrad or maximize), else None.
    static member TryCreate(online: torch.nn.Module, target: torch.nn.Module, optimizer: torch.optim.Optimizer) =
        match optimizer, FusedMlpNetwork.TryBind online, FusedMlpNetwork.TryBind target with
        | (:? Adam as adam), Some o, Some t when o.Widths = t.Widths ->
            let groups = adam.ParamGroups |> Seq.map (fun g -> g :?> ParamGroup) |> Array.ofSeq
            let options = groups |> Array.tryExactlyOne |> Option.map (fun g -> g.Options :?> Adam.Options)
            let onlineHandles = online.parameters () |> Seq.map (fun p -> p.Handle) |> Array.ofSeq
            match groups, options with
            | [| group |], Some opts when
                (group.Parameters |> Seq.map (fun p -> p.Handle) |> Array.ofSeq) = onlineHandles
                && not (opts.amsgrad.GetValueOrDefault false)
                && not (opts.maximize.GetValueOrDefault false)
                && opts.weight_decay.GetValueOrDefault 0.0 = 0.0
                ->
                let states = adam.state_dict().State |> Seq.map (fun s -> s :?> Adam.State) |> Array.ofSeq
                if states.Length = onlineHandles.Length && TensorMemory.Bindable(states |> Seq.collect (fun s -> [ s.exp_avg; s.exp_avg_sq ])) then
                    Some(FusedMlpUpdater(o, t, adam, group, states))
                else None
            | _ -> None
        | _ -> None

/// <summary>torch.optim.Adam's step on CPU Float32 parameters through FusedMlp's Adam kernels (one pass over p, m, v
/// and the gradient, split over LibTorch's intra-op thread count), in place of TorchSharp's per-parameter tensor ops
/// (six passes and their temporaries, and Scalars left to the finalizer). Adam's state stays TorchSharp's own (its
/// exp_avg, exp_avg_sq and step per parameter), so its state dict, checkpoints and a later optimizer.step() go on
/// from it.</summary>
module internal FusedAdam =

    type private Bound = { Adam: Adam; Groups: ParamGroup[]; States: Adam.State[][] }

    let private bound = ConditionalWeakTable<torch.optim.Optimizer, Bound option>()

    /// The Adam, its groups and each group's per-parameter states when every group fits (no weight decay, amsgrad
    /// or maximize), else None.
    let private bind (optimizer: torch.optim.Optimizer) : Bound option =
        match optimizer with
        | :? Adam as adam ->
            let groups = adam.ParamGroups |> Seq.map (fun g -> g :?> ParamGroup) |> Array.ofSeq
            let fits =
                groups
                |> Array.forall (fun g ->
                    let o = g.Options :?> Adam.Options
                    not (o.amsgrad.GetValueOrDefault false)
                    && not (o.maximize.GetValueOrDefault false)
                    && o.weight_decay.GetValueOrDefault 0.0 = 0.0)
            let states = adam.state_dict().State |> Seq.map (fun s -> s :?> Adam.State) |> Array.ofSeq
            let counts = groups |> Array.map (fun g -> Seq.length g.Parameters)
            if fits && states.Length = Array.sum counts then
                let starts = Array.scan (+) 0 counts
                Some { Adam = adam; Groups = groups; States = Array.init groups.Length (fun i -> states[starts[i] .. starts[i + 1] - 1]) }
            else None
        | _ -> None

    let private addressOf (t: Tensor) =
        let span = Tensors.span<float32> t
        NativePtr.toNativeInt (NativePtr.ofVoidPtr<float32> (Unsafe.AsPointer(&Runtime.InteropServices.MemoryMarshal.GetReference span)))

    let private fitsCpu (t: Tensor) = t.device_type = DeviceType.CPU && t.dtype = ScalarType.Float32 && t.is_contiguous ()

    /// <summary>Takes Adam's step through the fused kernels and returns true when `optimizer` is a torch.optim.Adam
    /// whose parameters, gradients and moments are all CPU Float32 and contiguous (checked before anything is
    /// written); else returns false and leaves everything as it was (call optimizer.step() then). Parameters without
    /// a gradient are skipped and keep their step count, as TorchSharp's step does.</summary>
    let tryStep (optimizer: torch.optim.Optimizer) : bool =
        match bound.GetValue(optimizer, fun o -> bind o) with
        | None -> false
        | Some b ->
            // p.grad hands out a new wrapper of the gradient each time: the scope disposes them.
            use scope = torch.NewDisposeScope()
            let work =
                [| for gi in 0 .. b.Groups.Length - 1 do
                       let group = b.Groups[gi]
                       let parameters = group.Parameters |> Array.ofSeq
                       for k in 0 .. parameters.Length - 1 do
                           let p = parameters[k]
                           let grad = p.grad
                           if not (isNull grad) then yield group, b.States[gi][k], (p :> Tensor), grad |]
            let fits =
                work
                |> Array.forall (fun (_, s, p, g) ->
                    fitsCpu p && fitsCpu g && fitsCpu s.exp_avg && fitsCpu s.exp_avg_sq
                    && g.numel () = p.numel () && s.exp_avg.numel () = p.numel () && s.exp_avg_sq.numel () = p.numel ())
            if not fits then false
            else
                use _ = torch.no_grad ()
                // One thread: the pass is memory-bound, and a thread-pool worker would contend with LibTorch's
                // OpenMP workers, which spin a while after each parallel region (measured: 2 workers made the
                // 2-thread Nature-CNN update slower than 1).
                let threads = 1
                for group, s, p, g in work do
                    let o = group.Options :?> Adam.Options
                    let step = s.step + 1L
                    FusedMlp.adamStepAt
                        (addressOf p) (addressOf s.exp_avg) (addressOf s.exp_avg_sq) (addressOf g) (int (p.numel ()))
                        group.LearningRate o.beta1.Value o.beta2.Value o.eps.Value step threads
                    s.step <- step
                true
