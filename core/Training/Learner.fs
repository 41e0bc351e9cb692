namespace Dqn.Fun

open System
open TorchSharp
open TorchSharp.Modules

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

    /// Sets the learning rate of every parameter group of `optimizer` (for learning-rate schedules).
    /// Raises ArgumentOutOfRangeException unless lr is positive and finite.
    [<CompiledName("SetLearningRate")>]
    let setLearningRate (optimizer: torch.optim.Optimizer) (lr: float) =
        if not (lr > 0.0 && Double.IsFinite lr) then raise (ArgumentOutOfRangeException("lr", lr, "learning rate must be positive and finite"))
        for g in optimizer.ParamGroups do
            g.LearningRate <- lr

    /// Expected-value losses per sample: [batch] Float32.
    let internal perSampleLoss (config: DqnConfig) (q: Tensor) (y: Tensor) =
        match config.Loss with
        | TdLoss.Mse -> torch.nn.functional.mse_loss (q, y, reduction = torch.nn.Reduction.None)
        | _ -> torch.nn.functional.huber_loss (q, y, delta = 1.0, reduction = torch.nn.Reduction.None)

    /// Clears the gradients, back-propagates `loss`, clips the gradients to config.MaxGradNorm and takes one
    /// optimizer step (Adam on CPU Float32 parameters through FusedAdam's single pass, any other through its step()).
    let internal optimize (config: DqnConfig) (optimizer: torch.optim.Optimizer) (loss: Tensor) =
        optimizer.zero_grad ()
        loss.backward ()
        match config.MaxGradNorm with
        | Some m -> torch.nn.utils.clip_grad_norm_ (optimizer.parameters (), m) |> ignore
        | None -> ()
        if not (FusedAdam.tryStep optimizer) then optimizer.step () |> ignore

    /// [batch; 1; atoms] Int64 indices that pick the taken action's atoms out of [batch; actions; atoms].
    let private atomIndex (actions: Tensor) (atoms: int64) =
        let b = actions.shape[0]
        actions.view(b, 1L, 1L).expand (b, 1L, atoms)

    /// <summary>One gradient update through libtorch's autograd on batch tensors, for every head and network
    /// (MLP, dueling, noisy, NatureCnn over UInt8 stacks, ...): Mnih et al. 2015's update with the target of
    /// config.Head — expected values (Double DQN when config.DoubleDqn), the C51 projected distribution
    /// (Bellemare et al. 2017, Algorithm 1), QR-DQN's quantiles (Dabney et al. 2018a) or IQN's sampled quantiles
    /// (Dabney et al. 2018b, eq. 3; Iqn.trainingLosses) — bootstrapped with
    /// per-transition discounts (n-step returns, Hessel et al. 2018), the loss weighted by importance weights
    /// when given (Schaul et al. 2016), gradients clipped to config.MaxGradNorm, one optimizer step. Noisy layers
    /// get fresh noise first. Every temporary tensor is freed before it returns.</summary>
    /// <param name="support">[atoms] Float32 C51 support (QNetworks.supportOf), null for other heads.</param>
    /// <param name="observations">[batch; ...] s, whatever `online` takes.</param>
    /// <param name="nextObservations">[batch; ...] s'.</param>
    /// <param name="actions">[batch] Int64.</param>
    /// <param name="rewards">[batch] Float32 (n-step) returns.</param>
    /// <param name="discounts">[batch] Float32 gamma^m (1 - terminated).</param>
    /// <param name="weights">[batch] Float32 importance weights, or null for a plain mean.</param>
    /// <param name="priorities">Null, or [batch] floats filled with each sample's new priority basis: |TD error|
    /// (Expected) or its loss (C51 cross-entropy, QR and IQN quantile Huber).</param>
    [<CompiledName("UpdateOnTensors")>]
    let updateOnTensors
        (config: DqnConfig)
        (online: torch.nn.Module<Tensor, Tensor>)
        (target: torch.nn.Module<Tensor, Tensor>)
        (optimizer: torch.optim.Optimizer)
        (support: Tensor)
        (observations: Tensor)
        (nextObservations: Tensor)
        (actions: Tensor)
        (rewards: Tensor)
        (discounts: Tensor)
        (weights: Tensor)
        (priorities: float32[])
        : UpdateMetrics =
        use scope = torch.NewDisposeScope()
        QNetworks.resetNoise online
        QNetworks.resetNoise target
        let qOf (output: Tensor) = QNetworks.qValues config.Head support output
        // The bootstrap action a* at s': greedy under the target network, or under the online one (Double DQN).
        let nextAction (nextTarget: Tensor) =
            (if config.DoubleDqn then qOf (online.call nextObservations) else qOf nextTarget).argmax(1L, keepdim = true)
        let losses, meanQ, basis =
            match config.Head with
            | ValueHead.Categorical ->
                let atoms = int64 config.Atoms
                let logits = (online.call observations).gather(1L, atomIndex actions atoms).squeeze 1L
                let m =
                    use _ = torch.no_grad ()
                    let nextLogits = target.call nextObservations
                    let aStar = nextAction nextLogits
                    let nextProbs = nextLogits.softmax(2L).gather(1L, atomIndex (aStar.squeeze 1L) atoms).squeeze 1L
                    Categorical.project rewards discounts nextProbs support
                let ce = Categorical.crossEntropy logits m
                let meanQ =
                    use _ = torch.no_grad ()
                    (logits.softmax 1L * support).sum(1L).mean().item<float32> () |> float
                ce, meanQ, ce
            | ValueHead.Quantile ->
                let atoms = int64 config.Atoms
                let theta = (online.call observations).gather(1L, atomIndex actions atoms).squeeze 1L
                let targetTheta =
                    use _ = torch.no_grad ()
                    let nextTheta = target.call nextObservations
                    let aStar = nextAction nextTheta
                    let chosen = nextTheta.gather(1L, atomIndex (aStar.squeeze 1L) atoms).squeeze 1L
                    rewards.unsqueeze 1L + discounts.unsqueeze 1L * chosen
                let l = Quantile.huberLosses 1.0 theta targetTheta
                let meanQ =
                    use _ = torch.no_grad ()
                    theta.mean().item<float32> () |> float
                l, meanQ, l
            | ValueHead.Implicit ->
                let struct (l, meanQ) = Iqn.trainingLosses config online target observations nextObservations actions rewards discounts
                l, meanQ, l
            | _ ->
                let y =
                    use _ = torch.no_grad ()
                    let nextQTarget = target.call nextObservations
                    if config.DoubleDqn then
                        Bellman.doubleNStepTarget rewards discounts (online.call nextObservations) nextQTarget
                    else
                        Bellman.nStepTarget rewards discounts nextQTarget
                let q = Bellman.selectActions (online.call observations) actions
                let meanQ =
                    use _ = torch.no_grad ()
                    q.mean().item<float32> () |> float
                perSampleLoss config q y, meanQ, (q - y).abs ()
        let loss = if isNull weights then losses.mean () else (losses * weights).mean ()
        optimize config optimizer loss
        if not (isNull priorities) then Tensors.copyTo (basis.detach ()) (Span priorities)
        { Loss = float (loss.item<float32> ()); MeanQ = meanQ }

    /// What the fused path found for an online network with this target network and optimizer.
    type private FusedEntry =
        { Target: torch.nn.Module
          Optimizer: torch.optim.Optimizer
          Updater: FusedMlpUpdater option }

    /// The fused path's verdict per online network, made on its first update (and again for another target or
    /// optimizer).
    let private fusedEntries = System.Runtime.CompilerServices.ConditionalWeakTable<torch.nn.Module, FusedEntry>()

    /// The fused updater for these networks and optimizer, or None: CPU Float32 MLPs (QNetwork.mlp) trained by Adam.
    let internal fusedUpdater (online: torch.nn.Module) (target: torch.nn.Module) (optimizer: torch.optim.Optimizer) =
        match fusedEntries.TryGetValue online with
        | true, e when obj.ReferenceEquals(e.Target, target) && obj.ReferenceEquals(e.Optimizer, optimizer) -> e.Updater
        | _ ->
            let u = FusedMlpUpdater.TryCreate(online, target, optimizer)
            fusedEntries.AddOrUpdate(online, { Target = target; Optimizer = optimizer; Updater = u })
            u

    /// Whether `learn` takes the fused path for these networks, optimizer and device (an Expected head, no importance
    /// weights or priorities aside).
    let internal fusable (online: torch.nn.Module) (target: torch.nn.Module) (optimizer: torch.optim.Optimizer) (device: Device) =
        device.``type`` = DeviceType.CPU && (fusedUpdater online target optimizer).IsSome

    /// Bootstrap discounts gamma^Steps (1 - terminated) of a batch: [batch] floats (gamma (1 - terminated)
    /// for one-step transitions).
    [<CompiledName("Discounts")>]
    let discounts (gamma: float) (batch: Batch) =
        let g = float32 gamma
        Array.init batch.Size (fun i ->
            let steps = batch.Steps[i]
            (if steps = 1 then g else float32 (gamma ** float steps)) * (1.0f - batch.Terminated[i]))

    /// The autograd update of a host batch: its arrays as tensors on `device`, then updateOnTensors.
    let private autogradOnBatch config online target optimizer (device: Device) support (batch: Batch) (discounts: float32[]) (weights: float32[]) priorities =
        use scope = torch.NewDisposeScope()
        let b = int64 batch.Size
        let obsShape = [| b; int64 batch.ObservationSize |]
        updateOnTensors
            config
            online
            target
            optimizer
            support
            (Tensors.ofArray batch.Observations obsShape device)
            (Tensors.ofArray batch.NextObservations obsShape device)
            (Tensors.ofArray batch.Actions [| b |] device)
            (Tensors.ofArray batch.Rewards [| b |] device)
            (Tensors.ofArray discounts [| b |] device)
            (if isNull weights then null else Tensors.ofArray weights [| b |] device)
            priorities

    /// <summary>One gradient update on a host batch (see updateOnTensors for the algorithm), with
    /// per-transition `discounts` ([batch]; Learner.discounts), optional importance
    /// `weights` and an optional `priorities` array to fill. For an Expected-head CPU MLP (QNetwork.mlp) trained with
    /// Adam, without weights or priorities, it runs as FusedMlp.update: one managed pass whose backward pass and Adam
    /// step are written out over the parameters' memory (no autograd graph, no libtorch call); the tests hold it
    /// equal to the autograd path.</summary>
    /// <exception cref="System.ArgumentException">An array's length disagrees with the batch's sizes.</exception>
    [<CompiledName("Learn")>]
    let learn
        (config: DqnConfig)
        (online: torch.nn.Module<Tensor, Tensor>)
        (target: torch.nn.Module<Tensor, Tensor>)
        (optimizer: torch.optim.Optimizer)
        (device: Device)
        (support: Tensor)
        (batch: Batch)
        (discounts: float32[])
        (weights: float32[])
        (priorities: float32[])
        : UpdateMetrics =
        let n = batch.Size
        let needs (name: string) (expected: int) (actual: int) =
            if actual <> expected then
                invalidArg "batch" $"{name} has {actual} elements; Size = {n}, ObservationSize = {batch.ObservationSize} need {expected}"
        needs "batch.Observations" (n * batch.ObservationSize) batch.Observations.Length
        needs "batch.NextObservations" (n * batch.ObservationSize) batch.NextObservations.Length
        needs "batch.Actions" n batch.Actions.Length
        needs "batch.Rewards" n batch.Rewards.Length
        needs "discounts" n discounts.Length
        if not (isNull weights) then needs "weights" n weights.Length
        if not (isNull priorities) then needs "priorities" n priorities.Length
        let fused =
            if config.Head = ValueHead.Expected && isNull weights && isNull priorities then fusedUpdater online target optimizer
            else None
        match fused with
        | Some u ->
            let struct (loss, meanQ) = u.Update(config, batch, discounts)
            { Loss = loss; MeanQ = meanQ }
        | None -> autogradOnBatch config online target optimizer device support batch discounts weights priorities

    /// <summary>One one-step gradient update on a host batch for an Expected-head network (Mnih et al. 2015,
    /// Algorithm 1, inner loop; Double DQN when config.DoubleDqn): `learn` with gamma^Steps (1 - terminated)
    /// discounts, no weights. Takes the fused path (FusedMlp) when it applies.</summary>
    [<CompiledName("Update")>]
    let update (config: DqnConfig) (online: torch.nn.Module<Tensor, Tensor>) (target: torch.nn.Module<Tensor, Tensor>) (optimizer: torch.optim.Optimizer) (device: Device) (batch: Batch) =
        learn config online target optimizer device null batch (discounts config.Gamma batch) null null

    /// The same update as `update`, always through TorchSharp's autograd (the reference for the fused path).
    [<CompiledName("UpdateAutograd")>]
    let updateAutograd (config: DqnConfig) (online: torch.nn.Module<Tensor, Tensor>) (target: torch.nn.Module<Tensor, Tensor>) (optimizer: torch.optim.Optimizer) (device: Device) (batch: Batch) =
        autogradOnBatch config online target optimizer device null batch (discounts config.Gamma batch) null null
