namespace Dqn.Fun

open System

/// The ring storage shared by the replay buffers (uniform and prioritized): preallocated flat arrays
/// (float32 observations and next observations, row-major [capacity; observationSize]; int64 actions;
/// float32 rewards; float32 terminated flags). Adds write slot 0, 1, …, capacity−1, then overwrite the
/// oldest slot. It stores and gathers; choosing slots is the sampler's job (Dopamine's split of replay
/// into storage and sampler). Mutable, not thread-safe.
[<Sealed>]
type internal TransitionStorage(capacity: int, observationSize: int) =
    do
        Check.positive "capacity" capacity
        Check.positive "observationSize" observationSize
        if int64 capacity * int64 observationSize > int64 Array.MaxLength then
            raise (
                ArgumentOutOfRangeException(
                    "capacity",
                    box capacity,
                    $"capacity * observationSize must be at most {Array.MaxLength}, got {capacity} * {observationSize}"
                )
            )

    let observations = Array.zeroCreate<float32> (capacity * observationSize)
    let nextObservations = Array.zeroCreate<float32> (capacity * observationSize)
    let actions = Array.zeroCreate<int64> capacity
    let rewards = Array.zeroCreate<float32> capacity
    let terminatedFlags = Array.zeroCreate<float32> capacity
    let stepCounts = Array.zeroCreate<int> capacity
    let mutable nextSlot = 0
    let mutable count = 0

    member _.Capacity = capacity
    member _.ObservationSize = observationSize
    member _.Count = count

    /// Checks and copies a transition into the next slot; returns the slot written.
    member _.Add
        (observation: float32[], action: int, reward: float32, nextObservation: float32[], terminated: bool, steps: int)
        : int =
        Check.length "observation" observationSize observation
        Check.length "nextObservation" observationSize nextObservation
        Check.nonNegative "action" action
        Check.finite32 "reward" reward
        Check.positive "steps" steps
        let slot = nextSlot
        let offset = slot * observationSize
        observation.AsSpan().CopyTo(observations.AsSpan(offset, observationSize))
        nextObservation.AsSpan().CopyTo(nextObservations.AsSpan(offset, observationSize))
        actions[slot] <- int64 action
        rewards[slot] <- reward
        terminatedFlags[slot] <- if terminated then 1.0f else 0.0f
        stepCounts[slot] <- steps
        nextSlot <- if slot + 1 = capacity then 0 else slot + 1
        if count < capacity then count <- count + 1
        slot

    /// Writes the stored slots (0 .. Count-1, in slot order) and the ring position under `prefix`.
    member _.SaveState(w: StateWriter, prefix: string) =
        let n = observationSize
        w.Floats(prefix + ".observations", observations[0 .. count * n - 1])
        w.Floats(prefix + ".next_observations", nextObservations[0 .. count * n - 1])
        w.Longs(prefix + ".actions", actions[0 .. count - 1])
        w.Floats(prefix + ".rewards", rewards[0 .. count - 1])
        w.Floats(prefix + ".terminated", terminatedFlags[0 .. count - 1])
        w.Ints(prefix + ".steps", stepCounts[0 .. count - 1])
        w.Int64(prefix + ".count", int64 count)
        w.Int64(prefix + ".next_slot", int64 nextSlot)

    /// Replaces the contents with those SaveState wrote under `prefix`. Raises InvalidDataException when they do not
    /// fit this storage (more transitions than Capacity, another observation size).
    member _.LoadState(r: StateReader, prefix: string) =
        let c = r.Int(prefix + ".count", 0, capacity)
        let next = r.Int(prefix + ".next_slot", 0, capacity - 1)
        let n = observationSize
        let load (name: string) (values: 'T[]) (length: int) (into: 'T[]) =
            r.RequireLength(prefix + name, length, values)
            values.AsSpan().CopyTo(into.AsSpan())
        load ".observations" (r.Floats(prefix + ".observations")) (c * n) observations
        load ".next_observations" (r.Floats(prefix + ".next_observations")) (c * n) nextObservations
        load ".actions" (r.Longs(prefix + ".actions")) c actions
        load ".rewards" (r.Floats(prefix + ".rewards")) c rewards
        load ".terminated" (r.Floats(prefix + ".terminated")) c terminatedFlags
        load ".steps" (r.Ints(prefix + ".steps")) c stepCounts
        count <- c
        nextSlot <- next

    /// Throws when fewer than batchSize transitions are stored (the message gives both numbers).
    member _.RequireAtLeast(batchSize: int) =
        if count < batchSize then
            Check.invalidOp
                $"cannot sample a batch of {batchSize}: the buffer stores {count} transitions and needs at least {batchSize}"

    /// Copies the given slots (assumed live) into a fresh batch; the batch keeps the indices array.
    member _.Gather(indices: int[]) : Batch =
        let batchSize = indices.Length
        let n = observationSize
        let batchObservations = Array.zeroCreate<float32> (batchSize * n)
        let batchNextObservations = Array.zeroCreate<float32> (batchSize * n)
        let batchActions = Array.zeroCreate<int64> batchSize
        let batchRewards = Array.zeroCreate<float32> batchSize
        let batchTerminated = Array.zeroCreate<float32> batchSize
        let batchSteps = Array.zeroCreate<int> batchSize
        for i in 0 .. batchSize - 1 do
            let slot = indices[i]
            observations.AsSpan(slot * n, n).CopyTo(batchObservations.AsSpan(i * n, n))
            nextObservations.AsSpan(slot * n, n).CopyTo(batchNextObservations.AsSpan(i * n, n))
            batchActions[i] <- actions[slot]
            batchRewards[i] <- rewards[slot]
            batchTerminated[i] <- terminatedFlags[slot]
            batchSteps[i] <- stepCounts[slot]
        { Size = batchSize
          ObservationSize = n
          Observations = batchObservations
          Actions = batchActions
          Rewards = batchRewards
          NextObservations = batchNextObservations
          Terminated = batchTerminated
          Steps = batchSteps
          Indices = indices }
