namespace Dqn.Fun

open System

type SequenceBatch =
    { Size: int
      Length: int
      BurnIn: int
      ObservationSize: int
      Observations: float32[]
      Actions: int64[]
      Rewards: float32[]
      Terminated: float32[]
      Mask: float32[]
      Resets: float32[]
      Starts: int64[] }

[<Sealed>]
type SequenceReplayBuffer(capacity: int, observationSize: int, seed: int) =
    let storage = TransitionStorage(capacity, observationSize)
    /// Whether the step in each slot begins an episode.
    let starts = Array.zeroCreate<bool> capacity
    let mutable random = SeededRandom seed
    let mutable added = 0L

    let slotOf (index: int64) = int (index % int64 capacity)

    member _.Capacity = capacity
    member _.ObservationSize = observationSize
    member _.Count = storage.Count
    member _.Added = added

    member _.Add
        (observation: float32[], action: int, reward: float32, nextObservation: float32[], terminated: bool, episodeStart: bool)
        =
        let slot = storage.Add(observation, action, reward, nextObservation, terminated, 1)
        starts[slot] <- episodeStart || added = 0L
        added <- added + 1L

    member _.Sample(batchSize: int, burnIn: int, length: int) : SequenceBatch =
        Check.positive "batchSize" batchSize
        Check.nonNegative "burnIn" burnIn
        Check.positive "length" length
        if storage.Count = 0 then Check.invalidOp "cannot sample sequences: the buffer is empty"
        let n = observationSize
        let l = burnIn + length
        let oldest = added - int64 storage.Count
        let newest = added - 1L
        let observations = Array.zeroCreate<float32> (batchSize * (l + 1) * n)
        let actions = Array.zeroCreate<int64> (batchSize * l)
        let rewards = Array.zeroCreate<float32> (batchSize * l)
        let terminated = Array.zeroCreate<float32> (batchSize * l)
        let mask = Array.zeroCreate<float32> (batchSize * l)
        let resets = Array.zeroCreate<float32> (batchSize * (l + 1))
        let trainingStarts = Array.zeroCreate<int64> batchSize
        for i in 0 .. batchSize - 1 do
            let s = oldest + int64 (random.Next storage.Count)
            trainingStarts[i] <- s
            // The window's first step: back to burnIn steps, not before the oldest stored step, not past the
            // episode's start.
            let mutable first = s
            while first > max oldest (s - int64 burnIn) && not starts[slotOf first] do
                first <- first - 1L
            // The last step: up to length - 1 steps on, not past the newest, stopping before the next episode.
            let mutable last = s
            while last < min newest (s + int64 length - 1L) && not starts[slotOf (last + 1L)] do
                last <- last + 1L
            let steps = storage.Gather(Array.init (int (last - first + 1L)) (fun k -> slotOf (first + int64 k)))
            let offset = int (first - (s - int64 burnIn)) // position of `first` in the window
            resets[i * (l + 1) + offset] <- 1.0f
            for k in 0 .. steps.Size - 1 do
                let j = i * l + offset + k
                actions[j] <- steps.Actions[k]
                rewards[j] <- steps.Rewards[k]
                terminated[j] <- steps.Terminated[k]
                mask[j] <- 1.0f
                let row = (i * (l + 1) + offset + k) * n
                steps.Observations.AsSpan(k * n, n).CopyTo(observations.AsSpan(row, n))
            // The observation after the window's last step (its next observation) at the following position.
            let k = steps.Size - 1
            steps.NextObservations.AsSpan(k * n, n).CopyTo(observations.AsSpan((i * (l + 1) + offset + k + 1) * n, n))
        { Size = batchSize
          Length = l
          BurnIn = burnIn
          ObservationSize = n
          Observations = observations
          Actions = actions
          Rewards = rewards
          Terminated = terminated
          Mask = mask
          Resets = resets
          Starts = trainingStarts }

    member internal _.SaveState(w: StateWriter, prefix: string) =
        storage.SaveState(w, prefix)
        RandomState.save w (prefix + ".random") random
        w.Bools(prefix + ".episode_starts", starts[0 .. storage.Count - 1])
        w.Int64(prefix + ".added", added)

    member internal _.LoadState(r: StateReader, prefix: string) =
        storage.LoadState(r, prefix)
        random <- RandomState.load r (prefix + ".random") seed
        let s = r.Bools(prefix + ".episode_starts")
        r.RequireLength(prefix + ".episode_starts", storage.Count, s)
        Array.fill starts 0 capacity false
        s.AsSpan().CopyTo(starts.AsSpan())
        added <- r.Int64(prefix + ".added")
