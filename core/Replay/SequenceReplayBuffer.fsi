namespace Dqn.Fun

/// <summary>A minibatch of B windows of L = BurnIn + T consecutive agent steps of one episode each, in flat
/// row-major arrays ready to become tensors (DRQN's sequence replay, Hausknecht and Stone 2015).</summary>
/// <remarks>
/// <para>Row i's window holds positions 0 .. L−1: the <c>BurnIn</c> steps before its training start (R2D2's
/// burn-in, Kapturowski et al. 2019), then the T trained steps from the training start on. Positions that do not
/// hold a step of the sampled episode are zero-padded with <c>Mask</c> 0: at the front when the episode (or the
/// oldest stored step) begins less than BurnIn steps before the training start, at the back when the episode
/// ends (or the newest stored step comes) less than T steps after it. The training start itself is always a
/// stored step, so every row has at least one trained step (Mask 1 at position BurnIn).</para>
/// <para>Observations has one more position than the steps: position j+1 holds the observation after step j
/// (for the last step of an episode, its final observation, so a truncated episode still bootstraps), so one
/// unroll over positions 0 .. L gives both Q(s_j, ·) and Q(s_{j+1}, ·).</para>
/// </remarks>
type SequenceBatch =
    {
      /// B, the number of windows.
      Size: int
      /// L = BurnIn + T, the steps of a window.
      Length: int
      /// Burn-in steps at the front of each window (not trained on).
      BurnIn: int
      /// D, the observation length.
      ObservationSize: int
      /// float32 [B; L + 1; D]: observations at positions 0 .. L, zeros where padded.
      Observations: float32[]
      /// int64 [B; L]: actions (0 where padded).
      Actions: int64[]
      /// float32 [B; L]: rewards (0 where padded).
      Rewards: float32[]
      /// float32 [B; L]: 1.0 where the step's next state is terminal (truncation is 0.0), else 0.0.
      Terminated: float32[]
      /// float32 [B; L]: 1.0 where the position holds a step of the sampled episode, 0.0 where padded.
      Mask: float32[]
      /// float32 [B; L + 1]: 1.0 at each row's first unpadded position (at most BurnIn), where a recurrent
      /// state starts from zero; 0.0 elsewhere.
      Resets: float32[]
      /// int64 [B]: the absolute index (0 for the first step ever added) of each row's training start,
      /// position BurnIn.
      Starts: int64[] }

/// <summary>
/// Sequence replay for recurrent Q-learning: a fixed-capacity ring of agent steps in the order they were taken,
/// with episode boundaries, sampled as windows of consecutive steps of one episode (Hausknecht and Stone 2015,
/// "Deep Recurrent Q-Learning for Partially Observable MDPs", bootstrapped random updates; with the burn-in of
/// Kapturowski et al. 2019, "Recurrent Experience Replay in Distributed Reinforcement Learning" (R2D2)).
/// </summary>
/// <remarks>
/// A training start is drawn uniformly from the Count stored steps with the buffer's own
/// <c>SeededRandom(seed)</c> (System.Random's numbers, its position kept by training checkpoints) (with replacement), so every stored step is equally likely to start a window and
/// equal seeds and insertions give equal batches. The window never crosses an episode start: steps of another
/// episode are padded, never included (see <see cref="T:Dqn.Fun.SequenceBatch"/>). When the ring overwrote the
/// beginning of an episode, its oldest remaining step is treated as where the state starts from zero. Storage
/// is that of the uniform buffer (observations and next observations, actions, rewards, terminated flags) plus
/// one episode-start flag per step. Mutable, not thread-safe.
/// </remarks>
[<Sealed>]
type SequenceReplayBuffer =
    /// <summary>An empty buffer.</summary>
    /// <param name="capacity">Agent steps kept; positive.</param>
    /// <param name="observationSize">The length of every observation; positive.</param>
    /// <param name="seed">Seeds the sampling generator.</param>
    /// <exception cref="T:System.ArgumentOutOfRangeException">capacity or observationSize is not positive.</exception>
    new: capacity: int * observationSize: int * seed: int -> SequenceReplayBuffer

    /// The maximum number of steps kept.
    member Capacity: int
    /// The length of every observation.
    member ObservationSize: int
    /// The number of steps stored, at most Capacity.
    member Count: int
    /// Steps added over the buffer's life (the next step's absolute index).
    member Added: int64

    /// <summary>Stores one agent step, overwriting the oldest when full. The arrays are copied.</summary>
    /// <param name="observation">s, length ObservationSize.</param>
    /// <param name="action">a, non-negative.</param>
    /// <param name="reward">r, finite.</param>
    /// <param name="nextObservation">s′ (the real final observation at an episode's end), length ObservationSize.</param>
    /// <param name="terminated">True when s′ is terminal in the MDP (not for truncation).</param>
    /// <param name="episodeStart">True for the first step of an episode: windows never reach back past it.
    /// The first step ever added always starts an episode.</param>
    /// <exception cref="T:System.ArgumentException">An observation's length is not ObservationSize, or the reward
    /// is NaN or infinite.</exception>
    /// <exception cref="T:System.ArgumentOutOfRangeException">The action is negative.</exception>
    member Add:
        observation: float32[] * action: int * reward: float32 * nextObservation: float32[] * terminated: bool *
        episodeStart: bool ->
            unit

    /// <summary>Draws batchSize windows of burnIn + length steps; advances the buffer's generator.</summary>
    /// <param name="batchSize">Windows B, positive.</param>
    /// <param name="burnIn">Burn-in steps before each training start, non-negative.</param>
    /// <param name="length">Trained steps T per window, positive.</param>
    /// <exception cref="T:System.ArgumentOutOfRangeException">batchSize or length is not positive, or burnIn is
    /// negative.</exception>
    /// <exception cref="T:System.InvalidOperationException">The buffer is empty.</exception>
    member Sample: batchSize: int * burnIn: int * length: int -> SequenceBatch

    /// Writes the stored steps, their episode-start flags, the count of steps added and the sampling generator's
    /// position under `prefix` (training checkpoints).
    member internal SaveState: w: StateWriter * prefix: string -> unit

    /// Replaces the contents with those SaveState wrote; raises InvalidDataException when they do not fit.
    member internal LoadState: r: StateReader * prefix: string -> unit
