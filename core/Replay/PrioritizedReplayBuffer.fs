namespace Dqn.Fun

open System

type ImportanceWeightNormalization =
    | BufferMax = 0
    | BatchMax = 1

[<RequireQualifiedAccess>]
module ImportanceWeights =
    [<CompiledName("Fill")>]
    let fill (normalization: ImportanceWeightNormalization) (beta: float) (bufferMin: float) (priorities: ReadOnlySpan<float>) (weights: Span<float32>) =
        if not (Enum.IsDefined normalization) then
            raise (ArgumentOutOfRangeException("normalization", normalization, "normalization must be BufferMax or BatchMax"))
        // max_j w_j = (N·p_min/Σp)^−β, so w_i / max_j w_j = (p_min / p_i)^β.
        let mutable least = bufferMin
        if normalization = ImportanceWeightNormalization.BatchMax then
            least <- Double.PositiveInfinity
            for p in priorities do
                least <- min least p
        for k in 0 .. priorities.Length - 1 do
            weights[k] <- if beta = 0.0 then 1.0f else float32 (Math.Pow(least / priorities[k], beta))

type PrioritizedBatch = { Batch: Batch; Weights: float32[] }

[<Sealed>]
type PrioritizedReplayBuffer(capacity: int, observationSize: int, alpha: float, epsilon: float, seed: int) =
    do
        Check.positive "capacity" capacity
        Check.finite "alpha" alpha
        if alpha < 0.0 || alpha > 1.0 then
            raise (ArgumentOutOfRangeException("alpha", box alpha, $"alpha must be in [0, 1], got {alpha}"))
        Check.finite "epsilon" epsilon
        Check.positiveFloat "epsilon" epsilon

    // Storage, sampler state (the two trees and the generator) and the running maximum priority.
    let sums = SumTree capacity // checks capacity <= 2^29
    let minima = MinTree capacity
    let storage = TransitionStorage(capacity, observationSize)
    let mutable random = SeededRandom seed
    let mutable maxPriority = 1.0

    new(capacity, observationSize, alpha, seed: int) =
        PrioritizedReplayBuffer(capacity, observationSize, alpha, 1e-6, seed)

    member _.Capacity = capacity
    member _.ObservationSize = observationSize
    member _.Count = storage.Count
    member _.Alpha = alpha
    member _.Epsilon = epsilon
    member _.MaxPriority = maxPriority

    member _.Priority(slot: int) =
        if slot < 0 || slot >= storage.Count then
            raise (
                ArgumentOutOfRangeException("slot", box slot, $"slot must be a stored slot, 0..{storage.Count - 1}")
            )
        sums[slot]

    member _.Add
        (observation: float32[], action: int, reward: float32, nextObservation: float32[], terminated: bool, steps: int)
        =
        let slot = storage.Add(observation, action, reward, nextObservation, terminated, steps)
        sums.Update(slot, maxPriority)
        minima.Update(slot, maxPriority)

    member this.Add
        (observation: float32[], action: int, reward: float32, nextObservation: float32[], terminated: bool)
        =
        this.Add(observation, action, reward, nextObservation, terminated, 1)

    member _.Add
        (
            observation: float32[],
            action: int,
            reward: float32,
            nextObservation: float32[],
            terminated: bool,
            steps: int,
            tdError: float32
        ) =
        if Single.IsNaN tdError || Single.IsInfinity tdError then
            raise (ArgumentException($"tdError must be finite, got {tdError}", "tdError"))
        let slot = storage.Add(observation, action, reward, nextObservation, terminated, steps)
        let priority = Math.Pow(float (abs tdError) + epsilon, alpha)
        sums.Update(slot, priority)
        minima.Update(slot, priority)
        if priority > maxPriority then maxPriority <- priority

    member this.Add(transition: Transition) =
        this.Add(
            transition.Observation,
            transition.Action,
            transition.Reward,
            transition.NextObservation,
            transition.Terminated,
            1
        )

    member this.Sample(batchSize: int, beta: float) : PrioritizedBatch =
        this.Sample(batchSize, beta, ImportanceWeightNormalization.BufferMax)

    member _.Sample(batchSize: int, beta: float, normalization: ImportanceWeightNormalization) : PrioritizedBatch =
        Check.positive "batchSize" batchSize
        if Double.IsNaN beta then
            raise (ArgumentException($"beta must be in [0, 1], got {beta}", "beta"))
        if beta < 0.0 || beta > 1.0 then
            raise (ArgumentOutOfRangeException("beta", box beta, $"beta must be in [0, 1], got {beta}"))
        storage.RequireAtLeast batchSize
        let total = sums.Total
        let segment = total / float batchSize
        let indices = Array.zeroCreate<int> batchSize
        let weights = Array.zeroCreate<float32> batchSize
        let sampled = Array.zeroCreate<float> batchSize
        for k in 0 .. batchSize - 1 do
            // Stratum k: a mass uniform in [k·segment, (k+1)·segment), capped at Total against rounding.
            let mass = Math.Min((float k + random.NextDouble()) * segment, total)
            let slot = sums.Find mass
            indices[k] <- slot
            sampled[k] <- sums[slot]
        ImportanceWeights.fill normalization beta minima.Min (ReadOnlySpan sampled) (Span weights)
        { Batch = storage.Gather indices; Weights = weights }

    member _.UpdatePriorities(indices: int[], tdErrors: float32[]) =
        if isNull indices then raise (ArgumentNullException "indices")
        if isNull tdErrors then raise (ArgumentNullException "tdErrors")
        if indices.Length <> tdErrors.Length then
            raise (
                ArgumentException(
                    $"tdErrors must have the length of indices, {indices.Length}, got length {tdErrors.Length}",
                    "tdErrors"
                )
            )
        let count = storage.Count
        for k in 0 .. indices.Length - 1 do
            let slot = indices[k]
            if slot < 0 || slot >= count then
                raise (
                    ArgumentOutOfRangeException(
                        "indices",
                        box slot,
                        $"indices[{k}] must be a stored slot, 0..{count - 1}, got {slot}"
                    )
                )
            let delta = tdErrors[k]
            if Single.IsNaN delta || Single.IsInfinity delta then
                raise (ArgumentException($"tdErrors[{k}] must be finite, got {delta}", "tdErrors"))
        for k in 0 .. indices.Length - 1 do
            let priority = Math.Pow(float (abs tdErrors[k]) + epsilon, alpha)
            sums.Update(indices[k], priority)
            minima.Update(indices[k], priority)
            if priority > maxPriority then maxPriority <- priority

    member internal _.SaveState(w: StateWriter, prefix: string) =
        storage.SaveState(w, prefix)
        RandomState.save w (prefix + ".random") random
        w.Doubles(prefix + ".priorities", Array.init storage.Count (fun i -> sums[i]))
        w.Float(prefix + ".max_priority", maxPriority)

    member internal _.LoadState(r: StateReader, prefix: string) =
        storage.LoadState(r, prefix)
        random <- RandomState.load r (prefix + ".random") seed
        let priorities = r.Doubles(prefix + ".priorities")
        r.RequireLength(prefix + ".priorities", storage.Count, priorities)
        // Every inner node is the sum (minimum) of its children's current values, so setting the leaves rebuilds the
        // trees the saved buffer had, bit for bit.
        for i in 0 .. capacity - 1 do
            let p = if i < priorities.Length then priorities[i] else 0.0
            sums.Update(i, p)
            if i < priorities.Length then minima.Update(i, p)
        maxPriority <- r.Float(prefix + ".max_priority")
