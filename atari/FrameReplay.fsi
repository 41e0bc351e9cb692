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
      /// [Size] Float32 rewards (as stored: clip before adding if you clip).
      Rewards: float32[]
      /// [Size] Float32, 1.0 where s' is terminal (no bootstrap); truncated transitions carry 0.0.
      Terminated: float32[]
      /// [Size] slots of the sampled transitions.
      Indices: int[] }

/// <summary>Replay memory for Atari frames (after Mnih et al. 2015 and Dopamine's circular replay buffer):
/// each 84x84 frame is stored once; observations (stacks of the last `stack` frames) are rebuilt at sampling
/// time and never reach across an episode boundary, padding instead. An episode of T agent steps takes T + 1
/// slots (its first frame, then one per step), so the frame that ends a truncated episode is kept and the
/// target can bootstrap from it (Pardo et al. 2018).</summary>
/// <remarks>Memory: capacity * (84*84 + 21) bytes, 7.08 GB at 1M slots, in chunks of 2^16 frames (a .NET array
/// holds at most 2^31 elements). Transitions whose stack or next frame has been overwritten are never sampled.
/// Not thread-safe: the training loop owns it.</remarks>
[<Sealed>]
type FrameReplayBuffer =
    /// <summary>An empty buffer of `capacity` frame slots of `frameBytes` bytes (default 84*84), stacks of
    /// `stack` frames (default 4), padding as given (default Zeros), sampling from its own Random(seed); padding before an episode's first frame
    /// as FrameStack's (StackPadding.Zeros: -1 slots, read as zero frames; RepeatFirst: the first frame's slot).</summary>
    /// <exception cref="System.ArgumentOutOfRangeException">capacity below stack + 2, stack below 1, or frameBytes
    /// below 1.</exception>
    new: capacity: int * seed: int * ?stack: int * ?frameBytes: int * ?padding: StackPadding -> FrameReplayBuffer

    member Capacity: int
    member Stack: int
    member FrameBytes: int
    member Padding: StackPadding

    /// Transitions that can be sampled now.
    member Count: int

    /// <summary>Starts an episode with its first (preprocessed) frame.</summary>
    /// <exception cref="System.ArgumentException">The frame's length is not FrameBytes.</exception>
    member StartEpisode: frame: System.ReadOnlySpan<byte> -> unit

    /// <summary>Records one agent step of the current episode: the action taken, the reward, the frame it
    /// led to, and how the step ended. After terminated or truncated, call StartEpisode before the next Add.</summary>
    /// <exception cref="System.InvalidOperationException">No episode is running.</exception>
    /// <exception cref="System.ArgumentException">A frame of the wrong length, a negative action or a
    /// non-finite reward.</exception>
    member Add:
        action: int * reward: float32 * nextFrame: System.ReadOnlySpan<byte> * terminated: bool * truncated: bool -> unit

    /// <summary>Draws `batchSize` transitions uniformly (with replacement) among the sampleable ones.</summary>
    /// <exception cref="System.InvalidOperationException">Fewer than batchSize transitions can be sampled.</exception>
    member Sample: batchSize: int -> FrameBatch

    /// <summary>Copies the frames of `slots` (as in FrameBatch; -1 pads per Padding) into `destination`,
    /// frame after frame: destination.Length must be slots.Length * FrameBytes.</summary>
    member Gather: slots: int[] * destination: System.Span<byte> -> unit

    /// The stored frame of a slot (a copy), for tests and debugging.
    member Frame: slot: int -> byte[]
