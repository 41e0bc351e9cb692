namespace Dqn.Fun

/// <summary>
/// Uniform experience replay (Lin 1992; Mnih et al. 2015): a fixed-capacity ring of transitions,
/// sampled uniformly with replacement.
/// </summary>
/// <remarks>
/// Storage is preallocated flat arrays (float32 observations and next observations, row-major
/// [capacity; observationSize]; int64 actions; float32 rewards; float32 terminated flags). Adds write
/// slot 0, 1, …, capacity−1, then overwrite the oldest slot. Sampling draws each index uniformly from
/// the filled slots with the buffer's own <c>SeededRandom(seed)</c> (System.Random's numbers, its position kept by training checkpoints), as Stable-Baselines3's
/// <c>ReplayBuffer.sample</c> does, so a given seed and insertion sequence always yields the same
/// batches. Truncated transitions are stored with Terminated = 0 (see <see cref="T:Dqn.Fun.Transition"/>).
/// The buffer is mutable and not thread-safe.
/// </remarks>
/// <example>
/// <code lang="fsharp">
/// let buffer = ReplayBuffer(10_000, 4, seed = 1)
/// buffer.Add([| 0f; 0f; 0f; 0f |], 1, 1.0f, [| 0f; 0.1f; 0f; -0.1f |], false)
/// let batch = buffer.Sample 1    // batch.Indices = [| 0 |]
/// </code>
/// </example>
[<Sealed>]
type ReplayBuffer =
    /// <summary>An empty buffer.</summary>
    /// <param name="capacity">The number of transitions kept; positive.</param>
    /// <param name="observationSize">The length of every observation; positive.</param>
    /// <param name="seed">Seeds the sampling generator.</param>
    /// <exception cref="T:System.ArgumentOutOfRangeException">capacity &lt;= 0, observationSize &lt;= 0,
    /// or capacity·observationSize exceeds the largest .NET array.</exception>
    new: capacity: int * observationSize: int * seed: int -> ReplayBuffer

    /// The maximum number of transitions kept.
    member Capacity: int
    /// The length of every observation.
    member ObservationSize: int
    /// The number of transitions stored, at most Capacity.
    member Count: int

    /// <summary>Stores a transition, overwriting the oldest one when full. The arrays are copied.</summary>
    /// <exception cref="T:System.ArgumentException">An observation's length is not ObservationSize
    /// (the message gives expected and actual length), or the reward is NaN or infinite.</exception>
    /// <exception cref="T:System.ArgumentOutOfRangeException">The action is negative.</exception>
    member Add: transition: Transition -> unit

    /// <summary>Stores a transition given field by field (no record allocated); see the other overload.
    /// <c>Truncated</c> is not needed: it does not change what is stored.</summary>
    /// <exception cref="T:System.ArgumentException">An observation's length is not ObservationSize,
    /// or the reward is NaN or infinite.</exception>
    /// <exception cref="T:System.ArgumentOutOfRangeException">The action is negative.</exception>
    member Add:
        observation: float32[] * action: int * reward: float32 * nextObservation: float32[] * terminated: bool ->
            unit

    /// <summary>Stores an n-step transition: `reward` is the discounted sum of `steps` rewards and
    /// `nextObservation` the state `steps` agent steps later (Hessel et al. 2018); see NStep.</summary>
    /// <exception cref="T:System.ArgumentException">An observation's length is not ObservationSize,
    /// or the reward is NaN or infinite.</exception>
    /// <exception cref="T:System.ArgumentOutOfRangeException">The action is negative or steps is not positive.</exception>
    member Add:
        observation: float32[] * action: int * reward: float32 * nextObservation: float32[] * terminated: bool *
        steps: int ->
            unit

    /// <summary>
    /// Draws batchSize transitions uniformly, with replacement, from the Count stored ones; advances the
    /// buffer's generator. Returns fresh arrays (see <see cref="T:Dqn.Fun.Batch"/> for shapes).
    /// </summary>
    /// <exception cref="T:System.ArgumentOutOfRangeException">batchSize &lt;= 0.</exception>
    /// <exception cref="T:System.InvalidOperationException">Fewer than batchSize transitions are stored.</exception>
    member Sample: batchSize: int -> Batch

    /// Every stored transition, in slot order (for tests).
    member internal Stored: unit -> Batch

    /// Writes the stored transitions and the sampling generator's position under `prefix` (training checkpoints).
    member internal SaveState: w: StateWriter * prefix: string -> unit

    /// Replaces the contents and the generator's position with those SaveState wrote; raises InvalidDataException
    /// when they do not fit this buffer.
    member internal LoadState: r: StateReader * prefix: string -> unit
