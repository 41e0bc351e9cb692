namespace Dqn.Fun

open System
open Dqn.Fun.Torch

/// What one gradient update measured.
[<Struct>]
type UpdateMetrics =
    { /// TD loss of the batch.
      Loss: float
      /// Mean of Q(s, a) over the batch.
      MeanQ: float }

/// The DQN learning step.
[<RequireQualifiedAccess>]
module Learner =

    /// <summary>One gradient update through libtorch's autograd on batch tensors (the general path, for any
    /// Q-network: MLP, NatureCnn over UInt8 stacks, ...). Same algorithm as `update`.</summary>
    /// <param name="observations">[batch; ...] s, whatever `online` takes (Float32 vectors, UInt8 stacks).</param>
    /// <param name="nextObservations">[batch; ...] s'.</param>
    /// <param name="actions">[batch] Int64.</param>
    /// <param name="rewards">[batch] Float32.</param>
    /// <param name="terminated">[batch] Float32, 1.0 where s' is terminal.</param>
    [<CompiledName("UpdateOnTensors")>]
    let updateOnTensors
        (config: DqnConfig)
        (online: nn.Module)
        (target: nn.Module)
        (optimizer: optim.Optimizer)
        (observations: Tensor)
        (nextObservations: Tensor)
        (actions: Tensor)
        (rewards: Tensor)
        (terminated: Tensor)
        : UpdateMetrics =
        use scope = new DisposeScope()
        let y =
            use _ = torch.no_grad ()
            let nextQTarget = target.forward nextObservations
            if config.DoubleDqn then
                Bellman.doubleDqnTarget config.Gamma rewards terminated (online.forward nextObservations) nextQTarget
            else
                Bellman.dqnTarget config.Gamma rewards terminated nextQTarget
        let q = Bellman.selectActions (online.forward observations) actions
        let loss =
            match config.Loss with
            | TdLoss.Mse -> nn.functional.mse_loss (q, y)
            | _ -> nn.functional.huber_loss (q, y)
        optimizer.zero_grad ()
        loss.backward ()
        match config.MaxGradNorm with
        | Some m -> nn.utils.clip_grad_norm_ (optimizer.parameters, m) |> ignore
        | None -> ()
        optimizer.step ()
        let meanQ =
            use _ = torch.no_grad ()
            q.mean().item<float> ()
        { Loss = loss.item<float> (); MeanQ = meanQ }

    /// <summary>One gradient update through libtorch's autograd (the general path; see `update`).</summary>
    [<CompiledName("UpdateAutograd")>]
    let updateAutograd
        (config: DqnConfig)
        (online: nn.Module)
        (target: nn.Module)
        (optimizer: optim.Optimizer)
        (device: Device)
        (batch: Batch)
        : UpdateMetrics =
        use scope = new DisposeScope()
        let b = int64 batch.Size
        let obsShape = [| b; int64 batch.ObservationSize |]
        updateOnTensors
            config
            online
            target
            optimizer
            (torch.tensor<float32> (ReadOnlySpan batch.Observations, obsShape, device))
            (torch.tensor<float32> (ReadOnlySpan batch.NextObservations, obsShape, device))
            (torch.tensor<int64> (ReadOnlySpan batch.Actions, [| b |], device))
            (torch.tensor<float32> (ReadOnlySpan batch.Rewards, [| b |], device))
            (torch.tensor<float32> (ReadOnlySpan batch.Terminated, [| b |], device))

    /// Whether `update` can take the fused path: both networks are CPU MLPs (Linear with bias, ReLU, ...,
    /// Linear, as QNetwork.mlp builds them) and the optimizer is Adam.
    let internal fusable (online: nn.Module) (target: nn.Module) (optimizer: optim.Optimizer) (device: Device) =
        let isMlp (m: nn.Module) =
            match m with
            | :? nn.Sequential as s ->
                let layers = s.modules
                layers.Length % 2 = 1
                && layers
                   |> Array.mapi (fun i l ->
                       match l with
                       | :? nn.Linear as lin -> i % 2 = 0 && not (isNull lin.bias)
                       | :? nn.ReLU -> i % 2 = 1
                       | _ -> false)
                   |> Array.forall id
            | _ -> false
        device.Type = DeviceType.CPU && (optimizer :? optim.Adam) && isMlp online && isMlp target

    /// <summary>One gradient update on a replay batch (Mnih et al. 2015, Algorithm 1, inner loop):
    /// y = Bellman target (DQN, or Double DQN when config.DoubleDqn) from the target network without gradient,
    /// loss = Huber or MSE between Q(s, a) and y, gradients clipped to config.MaxGradNorm, one optimizer step.
    /// For CPU MLP Q-networks trained with Adam it runs as one fused native call whose backward pass is written
    /// out (dqn_mlp_q_update in the shim; the tests hold it equal to `updateAutograd`); anything else goes
    /// through libtorch's autograd. Mutates the online network's parameters and the optimizer's state; every
    /// temporary tensor is freed before it returns.</summary>
    /// <param name="config">Gamma, Loss, MaxGradNorm, DoubleDqn are read.</param>
    /// <param name="online">Q-network being trained: [batch; obs] -> [batch; actions], Float32.</param>
    /// <param name="target">Target network of the same architecture.</param>
    /// <param name="optimizer">Optimizer over online's parameters.</param>
    /// <param name="device">Where the networks live.</param>
    /// <param name="batch">Sampled transitions (host arrays).</param>
    [<CompiledName("Update")>]
    let update
        (config: DqnConfig)
        (online: nn.Module)
        (target: nn.Module)
        (optimizer: optim.Optimizer)
        (device: Device)
        (batch: Batch)
        : UpdateMetrics =
        if fusable online target optimizer device then
            // The shim reads these arrays by the batch's sizes: check them before handing over pointers.
            let n = batch.Size
            let needs (name: string) (expected: int) (actual: int) =
                if actual <> expected then
                    invalidArg "batch" $"batch.{name} has {actual} elements; Size = {n}, ObservationSize = {batch.ObservationSize} need {expected}"
            needs "Observations" (n * batch.ObservationSize) batch.Observations.Length
            needs "NextObservations" (n * batch.ObservationSize) batch.NextObservations.Length
            needs "Actions" n batch.Actions.Length
            needs "Rewards" n batch.Rewards.Length
            needs "Terminated" n batch.Terminated.Length
            let hs (m: nn.Module) = m.parameters () |> List.map (fun p -> p.Handle) |> Array.ofList
            let onlineHandles = hs online
            let mutable loss = 0.0
            let mutable meanQ = 0.0
            Native.checkRc (
                Native.dqn_mlp_q_update(
                    onlineHandles,
                    hs target,
                    onlineHandles.Length,
                    optimizer.H,
                    batch.Observations,
                    batch.NextObservations,
                    batch.Actions,
                    batch.Rewards,
                    batch.Terminated,
                    int64 batch.Size,
                    int64 batch.ObservationSize,
                    config.Gamma,
                    (if config.Loss = TdLoss.Mse then 1 else 0),
                    (if config.DoubleDqn then 1 else 0),
                    (match config.MaxGradNorm with Some m -> m | None -> 0.0),
                    &loss,
                    &meanQ
                )
            )
            { Loss = loss; MeanQ = meanQ }
        else
            updateAutograd config online target optimizer device batch
