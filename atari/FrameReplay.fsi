namespace Dqn.Fun.Atari

/// A sampled batch described by frame slots rather than pixels: each observation is `Stack` slot indices,
/// oldest to newest; before an episode's first frame, -1 (zero padding) or the first frame's slot
/// (RepeatFirst). Gather pixels with FrameReplayBuffer.Gather (host) or with an
/// index_select over a frame tensor (device).
type FrameBatch =
    { Size: int
      Stack: int
      /// [Size * Stack] frame slots of s (row-major [batch; stack]); -1 = a zero frame.
      ObservationSlots: int[]
      /// [Size * Stack] frame slots of s'.
      NextObservationSlots: int[]
      /// [Size] Int64 actions.
      Actions: int64[]
      /// [Size] Float32 rewards: for 1-step sampling the reward as stored (clip before adding if you clip); for
      /// n-step sampling the discounted sum Σ_{j<k} γ^j r_(t+j) of the window's k = Steps rewards (summed in float64).
      Rewards: float32[]
      /// [Size] Float32, 1.0 where s' is terminal (no bootstrap); truncated transitions carry 0.0.
      Terminated: float32[]
      /// [Size] slots of the sampled transitions (pass them back to UpdatePriorities).
      Indices: int[]
      /// [Size] agent steps k summed into Rewards (1..n); NextObservationSlots is the stack k steps later.
      Steps: int[]
      /// [Size] Float32 bootstrap discount: γ^k when the k-step window did not end in a terminal, 0 when it did,
      /// so that the target is Rewards + Discounts · max_a Q(s', a). The gamma-free Sample(batchSize) gives
      /// 1 − Terminated instead: multiply by γ yourself.
      Discounts: float32[]
      /// [Size] Float32 importance-sampling weights normalised by the max weight over all stored transitions
      /// (Schaul et al. 2016 §3.4); all 1 for uniform sampling.
      Weights: float32[] }

/// <summary>Replay memory for Atari frames (after Mnih et al. 2015 and Dopamine's circular replay buffer):
/// each 84x84 frame is stored once; observations (stacks of the last `stack` frames) are rebuilt at sampling
/// time and never reach across an episode boundary, padding instead. An episode of T agent steps takes T + 1
/// slots (its first frame, then one per step), so the frame that ends a truncated episode is kept and the
/// target can bootstrap from it (Pardo et al. 2018).</summary>
/// <remarks>
/// <para>Memory: capacity * (84*84 + 24) bytes, 7.08 GB at 1M slots, in chunks of 2^16 frames (a .NET array
/// holds at most 2^31 elements); a prioritized buffer adds a float64 sum tree of 2·L entries (L the power of two
/// ≥ capacity; 16 MiB at 1M) and a min tree over blocks of 32 slots (0.5 MiB at 1M): 7.097 GB in all at 1M.
/// Transitions whose stack or next frame has been overwritten are never sampled. Not thread-safe: the training
/// loop owns it.</para>
/// <para>n-step returns (Sutton 1988; Hessel et al. 2018, Rainbow, n = 3): the n-step transition at slot t is
/// computed at sampling time from the stored 1-step ones: Rewards = Σ_{j&lt;k} γ^j r_(t+j) with
/// k = min(n, the steps left to the episode's end), next stack the one k steps later, Discounts = γ^k, or 0 with
/// Terminated = 1 when the window ended in a termination. A window never crosses an episode boundary; it is
/// shortened only by the episode ending: by a termination, by a truncation (the target then bootstraps from
/// the final frame, Discounts = γ^k), or by StartEpisode while an episode still runs, which ends that episode as
/// a truncation. A transition is sampleable only when its stack and every frame through slot t + k are stored
/// and intact, so while an episode runs its last n − 1 transitions wait until n later steps (or the episode's
/// end) are recorded. n = 1 gives the 1-step batch.</para>
/// <para>Prioritized replay (Schaul et al. 2016, proportional variant; as in Dopamine's prioritized replay
/// buffer): constructed with priorityAlpha α, slot i holds p_i = (|δ_i| + ε)^α in a sum tree. A new transition
/// gets the largest priority ever recorded (1 initially; it does not fall when that transition is overwritten).
/// A slot whose frame is overwritten leaves the trees (priority 0), and so does a transition whose stack loses a
/// frame to the write cursor. Sampling is stratified: [0, Σp) is cut into batchSize equal segments and one mass
/// drawn in each. A drawn slot that cannot be sampled (only the last n − 1 transitions of the running episode,
/// whose windows are not complete yet) is replaced by a draw over the whole mass, as Dopamine does: each slot's
/// expected count per batch is then exactly batchSize · p_i / Σ_{sampleable} p. Weights: w_i = (N·P(i))^−β /
/// max_j w_j = (p_min / p_i)^β, with p_min the smallest priority in the trees, i.e. over every stored transition
/// including those few incomplete windows (an approximation of the max over the sampleable ones; it can only
/// lower weights, and only when such a window holds the smallest priority).</para>
/// <para>Streams (the envs of a vector environment, whose episodes are written in turn): with `streams` = N > 1,
/// stream s writes its episodes into its own region of ⌊capacity / N⌋ slots (the last region takes the remainder),
/// a ring of its own with its own write cursor, so that stacks and n-step windows never mix streams; a uniform draw
/// is uniform over the frames of all regions, a prioritized one uses the one sum tree over all slots.</para>
/// </remarks>
[<Sealed>]
type FrameReplayBuffer =
    /// <summary>An empty buffer of `capacity` frame slots of `frameBytes` bytes (default 84*84), stacks of
    /// `stack` frames (default 4), padding as given (default Zeros), sampling from its own Random(seed); padding before an episode's first frame
    /// as FrameStack's (StackPadding.Zeros: -1 slots, read as zero frames; RepeatFirst: the first frame's slot).
    /// With `priorityAlpha` (α in [0, 1]; 0.5 in Rainbow, 0.6 in Schaul et al.) the buffer is prioritized, with
    /// `priorityEpsilon` ε (default 1e-6) added to |δ| before exponentiation. `streams` (default 1): the number of
    /// episode streams written in turn (see the remarks).</summary>
    /// <exception cref="System.ArgumentOutOfRangeException">capacity below streams · (stack + 2), stack below 1,
    /// frameBytes below 1, streams below 1, priorityAlpha outside [0, 1], or priorityEpsilon not positive and
    /// finite.</exception>
    /// <exception cref="System.ArgumentException">priorityEpsilon without priorityAlpha.</exception>
    new:
        capacity: int * seed: int * ?stack: int * ?frameBytes: int * ?padding: StackPadding * ?priorityAlpha: float *
        ?priorityEpsilon: float * ?streams: int ->
            FrameReplayBuffer

    member Capacity: int
    member Stack: int
    member FrameBytes: int
    member Padding: StackPadding

    /// The number of episode streams, each writing its own region of slots (1 unless constructed with streams).
    member Streams: int

    /// Transitions stored whose frame and next frame are intact (those whose stack lost a frame to the write
    /// cursor still count until their own slot is overwritten: at most stack − 1 of them).
    member Count: int

    /// True when constructed with priorityAlpha.
    member IsPrioritized: bool

    /// The largest priority recorded so far (1 for a new buffer): the priority of the next Add.
    member MaxPriority: float

    /// <summary>The priority of a slot in the sum tree: p_i for a stored, sampleable-or-pending transition, 0
    /// otherwise (no transition, overwritten, or its stack lost a frame).</summary>
    /// <exception cref="System.InvalidOperationException">The buffer is not prioritized.</exception>
    /// <exception cref="System.ArgumentOutOfRangeException">slot outside [0, Capacity).</exception>
    member Priority: slot: int -> float

    /// <summary>Starts an episode with its first (preprocessed) frame. An episode still running ends here as
    /// if truncated after its last step.</summary>
    /// <exception cref="System.ArgumentException">The frame's length is not FrameBytes.</exception>
    member StartEpisode: frame: System.ReadOnlySpan<byte> -> unit

    /// <summary>StartEpisode for stream `stream`: its running episode, if any, ends here as if truncated.</summary>
    /// <exception cref="System.ArgumentOutOfRangeException">stream outside [0, Streams).</exception>
    /// <exception cref="System.ArgumentException">The frame's length is not FrameBytes.</exception>
    member StartEpisode: stream: int * frame: System.ReadOnlySpan<byte> -> unit

    /// <summary>Records one agent step of the current episode: the action taken, the reward, the frame it
    /// led to, and how the step ended. After terminated or truncated, call StartEpisode before the next Add.
    /// Prioritized: the transition enters the sum tree at MaxPriority.</summary>
    /// <exception cref="System.InvalidOperationException">No episode is running.</exception>
    /// <exception cref="System.ArgumentException">A frame of the wrong length, a negative action or a
    /// non-finite reward.</exception>
    member Add:
        action: int * reward: float32 * nextFrame: System.ReadOnlySpan<byte> * terminated: bool * truncated: bool -> unit

    /// <summary>Add for stream `stream`'s running episode (StartEpisode(stream, frame) started it).</summary>
    /// <exception cref="System.ArgumentOutOfRangeException">stream outside [0, Streams), or a negative action.</exception>
    /// <exception cref="System.InvalidOperationException">No episode of that stream is running.</exception>
    /// <exception cref="System.ArgumentException">A frame of the wrong length or a non-finite reward.</exception>
    member Add:
        stream: int * action: int * reward: float32 * nextFrame: System.ReadOnlySpan<byte> * terminated: bool * truncated: bool ->
            unit

    /// <summary>Add for stream `stream` at priority p = (|tdError| + ε)^α rather than MaxPriority (Ape-X: the actor
    /// computed the transition's initial TD error, Horgan et al. 2018, Algorithm 1); MaxPriority rises to p when p
    /// exceeds it. The TD error is that of the n-step transition starting at this step.</summary>
    /// <exception cref="System.InvalidOperationException">The buffer is not prioritized, or no episode of that stream
    /// is running.</exception>
    /// <exception cref="System.ArgumentException">tdError NaN or infinite (nothing is stored), a frame of the wrong
    /// length or a non-finite reward.</exception>
    /// <exception cref="System.ArgumentOutOfRangeException">stream outside [0, Streams), or a negative action.</exception>
    member Add:
        stream: int * action: int * reward: float32 * nextFrame: System.ReadOnlySpan<byte> * terminated: bool * truncated: bool *
        tdError: float32 ->
            unit

    /// <summary>True while stream `stream` has an episode running (StartEpisode called, and no terminated or
    /// truncated Add since).</summary>
    /// <exception cref="System.ArgumentOutOfRangeException">stream outside [0, Streams).</exception>
    member IsRunning: stream: int -> bool

    /// <summary>Draws `batchSize` 1-step transitions uniformly (with replacement) among the sampleable ones,
    /// gamma-free: Rewards as stored, Steps = 1, Discounts = 1 − Terminated (multiply by γ yourself),
    /// Weights = 1. Equal to Sample(batchSize, 1, 1.0).</summary>
    /// <exception cref="System.InvalidOperationException">Fewer than batchSize transitions can be sampled.</exception>
    member Sample: batchSize: int -> FrameBatch

    /// <summary>Draws `batchSize` n-step transitions uniformly (with replacement) among the sampleable ones:
    /// Rewards = Σ_{j&lt;k} γ^j r_(t+j), k = min(n, steps to the episode's end), Discounts = γ^k (0 if the
    /// window ended in a terminal), Terminated = 1 if it did, Weights = 1. n = 1 is the 1-step batch with
    /// Discounts = γ·(1 − Terminated), drawn from the same random numbers as Sample(batchSize).</summary>
    /// <exception cref="System.ArgumentOutOfRangeException">batchSize not positive, nStep outside
    /// 1..Capacity − Stack, or gamma outside [0, 1].</exception>
    /// <exception cref="System.InvalidOperationException">Fewer than batchSize transitions are stored, or not
    /// enough of them are sampleable.</exception>
    member Sample: batchSize: int * nStep: int * gamma: float -> FrameBatch

    /// <summary>Prioritized sampling (proportional, stratified; see the type's remarks), n-step as in
    /// Sample(batchSize, nStep, gamma), with Weights = (p_min / p_i)^β for β in [0, 1].</summary>
    /// <exception cref="System.InvalidOperationException">The buffer is not prioritized, fewer than batchSize
    /// transitions are stored, or 1000·batchSize redraws found no sampleable one.</exception>
    /// <exception cref="System.ArgumentOutOfRangeException">batchSize, nStep or gamma as in Sample, or beta
    /// outside [0, 1].</exception>
    member SamplePrioritized: batchSize: int * nStep: int * gamma: float * beta: float -> FrameBatch

    /// <summary>SamplePrioritized(batchSize, nStep, gamma, beta) with the weights normalised as `normalization`
    /// says (by the buffer's largest weight in the other overload, by the batch's with BatchMax).</summary>
    member SamplePrioritized:
        batchSize: int * nStep: int * gamma: float * beta: float * normalization: Dqn.Fun.ImportanceWeightNormalization -> FrameBatch

    /// <summary>Sets p_i = (|tdErrors_i| + ε)^α for the sampled slots (a batch's Indices) and raises MaxPriority
    /// when a new priority exceeds it; a repeated slot takes its last error. Everything is checked before
    /// anything is written. Ignored: slots whose frame was written after the latest SamplePrioritized (overwritten
    /// since that batch was drawn) and slots that hold no sampleable transition (priority 0). A slot overwritten
    /// between an older batch and the latest one is not detected: its new transition takes the priority, as in
    /// Dopamine and the core PrioritizedReplayBuffer.</summary>
    /// <exception cref="System.InvalidOperationException">The buffer is not prioritized.</exception>
    /// <exception cref="System.ArgumentException">The lengths differ, or a TD error is NaN or infinite.</exception>
    /// <exception cref="System.ArgumentOutOfRangeException">An index outside [0, Capacity).</exception>
    member UpdatePriorities: indices: int[] * tdErrors: float32[] -> unit

    /// <summary>Copies the frames of `slots` (as in FrameBatch; -1 pads per Padding) into `destination`,
    /// frame after frame: destination.Length must be slots.Length * FrameBytes.</summary>
    member Gather: slots: int[] * destination: System.Span<byte> -> unit

    /// The stored frame of a slot (a copy), for tests and debugging.
    member Frame: slot: int -> byte[]

    /// Writes the replay into a training checkpoint: frames LZ4-compressed into `framesPath`, the rest under `prefix`.
    member internal SaveState: w: Dqn.Fun.StateWriter * prefix: string * framesPath: string -> unit

    /// Replaces the contents of this fresh buffer with those SaveState wrote; raises InvalidDataException when they do
    /// not fit.
    member internal LoadState: r: Dqn.Fun.StateReader * prefix: string * framesPath: string -> unit
