namespace Dqn.Fun

open System
open TorchSharp

/// DRQN's learning step (Hausknecht and Stone 2015) on sequence replay, with R2D2's burn-in (Kapturowski et al. 2019).
[<RequireQualifiedAccess>]
module DrqnLearner =

    /// <summary>One gradient update of DRQN on a batch of sequences (Hausknecht and Stone 2015's bootstrapped
    /// random updates, with the burn-in of Kapturowski et al. 2019): both networks start every window from the
    /// zero state (zeroed again at SequenceBatch.Resets); the first BurnIn positions only warm the state up,
    /// without gradient; on the T trained positions the online network's Q(s_t, a_t) regresses on
    /// <c>y_t = r_t + gamma (1 - terminated_t) Q_target(s_{t+1}, a*)</c> with a* = argmax of the target network's Q
    /// (or of the online network's, config.DoubleDqn; van Hasselt et al. 2016). The loss (config.Loss) is the mean
    /// over unpadded trained positions (SequenceBatch.Mask); gradients are clipped to config.MaxGradNorm before
    /// one optimizer step. Every temporary tensor is freed before it returns.</summary>
    /// <returns>The loss and the mean Q(s_t, a_t) over the unpadded trained positions.</returns>
    /// <exception cref="System.ArgumentException">The batch's arrays disagree with its sizes.</exception>
    [<CompiledName("Update")>]
    let update
        (config: DqnConfig)
        (online: DrqnNetwork)
        (target: DrqnNetwork)
        (optimizer: torch.optim.Optimizer)
        (device: Device)
        (batch: SequenceBatch)
        : UpdateMetrics =
        let b, l, burnIn, d = batch.Size, batch.Length, batch.BurnIn, batch.ObservationSize
        let t = l - burnIn
        let needs (name: string) (expected: int) (actual: int) =
            if actual <> expected then
                invalidArg "batch" $"{name} has {actual} elements; Size = {b}, Length = {l}, ObservationSize = {d} need {expected}"
        if t <= 0 || burnIn < 0 then invalidArg "batch" $"Length ({l}) must exceed BurnIn ({burnIn}) >= 0"
        needs "batch.Observations" (b * (l + 1) * d) batch.Observations.Length
        needs "batch.Resets" (b * (l + 1)) batch.Resets.Length
        for name, a in [ "batch.Rewards", batch.Rewards; "batch.Terminated", batch.Terminated; "batch.Mask", batch.Mask ] do
            needs name (b * l) a.Length
        needs "batch.Actions" (b * l) batch.Actions.Length
        let mutable trained = 0
        for i in 0 .. b - 1 do
            for j in burnIn .. l - 1 do
                if batch.Mask[i * l + j] <> 0.0f then trained <- trained + 1
        if trained = 0 then invalidArg "batch" "the batch has no unpadded trained position (Mask is 0 after BurnIn everywhere)"
        use scope = torch.NewDisposeScope()
        let b64, l64, t64, burn64 = int64 b, int64 l, int64 t, int64 burnIn
        let actionCount = int64 online.Actions
        let observations = Tensors.ofArray batch.Observations [| b64; l64 + 1L; int64 d |] device
        let resets = Tensors.ofArray batch.Resets [| b64; l64 + 1L |] device
        let steps (a: float32[]) = (Tensors.ofArray a [| b64; l64 |] device).narrow(1L, burn64, t64).reshape (b64 * t64)
        let flat (q: Tensor) = q.reshape (b64 * t64, actionCount)
        let actions = (Tensors.ofArray batch.Actions [| b64; l64 |] device).narrow(1L, burn64, t64).reshape (b64 * t64)
        let rewards = steps batch.Rewards
        let mask = steps batch.Mask
        let discounts = config.Gamma * (1.0 - steps batch.Terminated)
        // Online: burn-in without gradient, then positions burnIn .. l (the trained steps and the one after).
        let struct (h0, c0) =
            if burnIn = 0 then
                struct (null, null)
            else
                use _ = torch.no_grad ()
                let struct (_, h, c) = online.Unroll(observations.narrow (1L, 0L, burn64), null, null, resets.narrow (1L, 0L, burn64))
                struct (h, c)
        let struct (qOnline, _, _) = online.Unroll(observations.narrow (1L, burn64, t64 + 1L), h0, c0, resets.narrow (1L, burn64, t64 + 1L))
        let q = Bellman.selectActions (flat (qOnline.narrow (1L, 0L, t64))) actions
        let y =
            use _ = torch.no_grad ()
            let struct (qTarget, _, _) = target.Unroll(observations, null, null, resets)
            let nextTarget = flat (qTarget.narrow (1L, burn64 + 1L, t64))
            if config.DoubleDqn then
                Bellman.doubleNStepTarget rewards discounts (flat (qOnline.narrow(1L, 1L, t64).detach ())) nextTarget
            else
                Bellman.nStepTarget rewards discounts nextTarget
        let loss = (Learner.perSampleLoss config q y * mask).sum () / float trained
        Learner.optimize config optimizer loss
        let meanQ =
            use _ = torch.no_grad ()
            (q.detach () * mask).sum().ToDouble() / float trained
        { Loss = loss.ToDouble(); MeanQ = meanQ }
