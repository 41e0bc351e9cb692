namespace Dqn.Fun

open System

[<Sealed>]
type ReplayBuffer(capacity: int, observationSize: int, seed: int) =
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

    // The ring storage: the only mutable state, written by Add, read by Sample.
    let observations = Array.zeroCreate<float32> (capacity * observationSize)
    let nextObservations = Array.zeroCreate<float32> (capacity * observationSize)
    let actions = Array.zeroCreate<int64> capacity
    let rewards = Array.zeroCreate<float32> capacity
    let terminatedFlags = Array.zeroCreate<float32> capacity
    let random = Random(seed)
    let mutable nextSlot = 0
    let mutable count = 0

    member _.Capacity = capacity
    member _.ObservationSize = observationSize
    member _.Count = count

    member _.Add
        (observation: float32[], action: int, reward: float32, nextObservation: float32[], terminated: bool)
        =
        Check.length "observation" observationSize observation
        Check.length "nextObservation" observationSize nextObservation
        Check.nonNegative "action" action
        Check.finite32 "reward" reward
        let offset = nextSlot * observationSize
        observation.AsSpan().CopyTo(observations.AsSpan(offset, observationSize))
        nextObservation.AsSpan().CopyTo(nextObservations.AsSpan(offset, observationSize))
        actions[nextSlot] <- int64 action
        rewards[nextSlot] <- reward
        terminatedFlags[nextSlot] <- if terminated then 1.0f else 0.0f
        nextSlot <- if nextSlot + 1 = capacity then 0 else nextSlot + 1
        if count < capacity then count <- count + 1

    member this.Add(transition: Transition) =
        this.Add(
            transition.Observation,
            transition.Action,
            transition.Reward,
            transition.NextObservation,
            transition.Terminated
        )

    member _.Sample(batchSize: int) : Batch =
        Check.positive "batchSize" batchSize
        if count < batchSize then
            Check.invalidOp
                $"cannot sample a batch of {batchSize}: the buffer stores {count} transitions and needs at least {batchSize}"
        let n = observationSize
        let batchObservations = Array.zeroCreate<float32> (batchSize * n)
        let batchNextObservations = Array.zeroCreate<float32> (batchSize * n)
        let batchActions = Array.zeroCreate<int64> batchSize
        let batchRewards = Array.zeroCreate<float32> batchSize
        let batchTerminated = Array.zeroCreate<float32> batchSize
        let indices = Array.zeroCreate<int> batchSize
        for i in 0 .. batchSize - 1 do
            let slot = random.Next(count)
            indices[i] <- slot
            observations.AsSpan(slot * n, n).CopyTo(batchObservations.AsSpan(i * n, n))
            nextObservations.AsSpan(slot * n, n).CopyTo(batchNextObservations.AsSpan(i * n, n))
            batchActions[i] <- actions[slot]
            batchRewards[i] <- rewards[slot]
            batchTerminated[i] <- terminatedFlags[slot]
        { Size = batchSize
          ObservationSize = n
          Observations = batchObservations
          Actions = batchActions
          Rewards = batchRewards
          NextObservations = batchNextObservations
          Terminated = batchTerminated
          Indices = indices }
