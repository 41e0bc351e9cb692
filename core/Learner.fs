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

    /// <summary>One gradient update on a replay batch (Mnih et al. 2015, Algorithm 1, inner loop):
    /// y = Bellman target (DQN, or Double DQN when config.DoubleDqn) from the target network under no_grad,
    /// loss = Huber or MSE between Q(s, a) and y, gradients clipped to config.MaxGradNorm, one optimizer step.
    /// Mutates the online network's parameters and the optimizer's state; every temporary tensor is freed
    /// before it returns.</summary>
    /// <param name="config">Gamma, Loss, MaxGradNorm, DoubleDqn are read.</param>
    /// <param name="online">Q-network being trained: [batch; obs] -> [batch; actions].</param>
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
        use scope = new DisposeScope()
        let b = int64 batch.Size
        let obsShape = [| b; int64 batch.ObservationSize |]
        let obs = torch.tensor<float32>(ReadOnlySpan batch.Observations, obsShape, device)
        let nextObs = torch.tensor<float32>(ReadOnlySpan batch.NextObservations, obsShape, device)
        let actions = torch.tensor<int64>(ReadOnlySpan batch.Actions, [| b |], device)
        let rewards = torch.tensor<float32>(ReadOnlySpan batch.Rewards, [| b |], device)
        let terminated = torch.tensor<float32>(ReadOnlySpan batch.Terminated, [| b |], device)
        let y =
            use _ = torch.no_grad ()
            let nextQTarget = target.forward nextObs
            if config.DoubleDqn then
                Bellman.doubleDqnTarget config.Gamma rewards terminated (online.forward nextObs) nextQTarget
            else
                Bellman.dqnTarget config.Gamma rewards terminated nextQTarget
        let q = Bellman.selectActions (online.forward obs) actions
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
