namespace Dqn.Fun

open System

[<Sealed>]
type ReplayBuffer(capacity: int, observationSize: int, seed: int) =
    // The ring storage: the only mutable state besides the generator, written by Add, read by Sample.
    let storage = TransitionStorage(capacity, observationSize)
    let mutable random = SeededRandom seed

    member _.Capacity = capacity
    member _.ObservationSize = observationSize
    member _.Count = storage.Count

    member _.Add
        (observation: float32[], action: int, reward: float32, nextObservation: float32[], terminated: bool, steps: int)
        =
        storage.Add(observation, action, reward, nextObservation, terminated, steps) |> ignore

    member this.Add
        (observation: float32[], action: int, reward: float32, nextObservation: float32[], terminated: bool)
        =
        this.Add(observation, action, reward, nextObservation, terminated, 1)

    member this.Add(transition: Transition) =
        this.Add(
            transition.Observation,
            transition.Action,
            transition.Reward,
            transition.NextObservation,
            transition.Terminated,
            1
        )

    member internal _.Stored() : Batch = storage.Gather(Array.init storage.Count id)

    member _.Sample(batchSize: int) : Batch =
        Check.positive "batchSize" batchSize
        storage.RequireAtLeast batchSize
        let count = storage.Count
        let indices = Array.zeroCreate<int> batchSize
        for i in 0 .. batchSize - 1 do
            indices[i] <- random.Next(count)
        storage.Gather indices

    member internal _.SaveState(w: StateWriter, prefix: string) =
        storage.SaveState(w, prefix)
        RandomState.save w (prefix + ".random") random

    member internal _.LoadState(r: StateReader, prefix: string) =
        storage.LoadState(r, prefix)
        random <- RandomState.load r (prefix + ".random") seed
