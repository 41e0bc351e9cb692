namespace Dqn.Fun

open System

/// <summary>How prioritized replay normalises its importance-sampling weights w_i = (N·P(i))^−β.</summary>
type ImportanceWeightNormalization =
    /// <summary>By the largest weight of any stored transition (Schaul et al. 2016, §3.4 and Algorithm 1, line 10,
    /// as in OpenAI Baselines): w_i = (p_min / p_i)^β with p_min the buffer's smallest priority. Weights are at
    /// most 1, and a batch that misses the smallest priority has every weight below 1.</summary>
    | BufferMax = 0
    /// <summary>By the largest weight of the batch (Dopamine's <c>loss_weights /= max(loss_weights)</c>, DQN Zoo):
    /// w_i = (p_min,batch / p_i)^β with the batch's smallest priority. The largest weight of every batch is 1.</summary>
    | BatchMax = 1

/// <summary>Importance-sampling weights of a prioritized batch, shared by every prioritized buffer.</summary>
[<RequireQualifiedAccess>]
module ImportanceWeights =
    /// <summary>Fills weights[k] = (p_min / priorities[k])^β, with p_min = bufferMin (BufferMax) or the smallest of
    /// `priorities` (BatchMax); β = 0 gives 1 everywhere.</summary>
    /// <param name="normalization">Which maximum the weights are divided by.</param>
    /// <param name="beta">β in [0, 1] (checked by the caller).</param>
    /// <param name="bufferMin">The buffer's smallest priority, positive.</param>
    /// <param name="priorities">The sampled transitions' priorities p_i (float64, positive), length B.</param>
    /// <param name="weights">Receives B float32 weights in (0, 1].</param>
    /// <example>With priorities [1; 4], β = 0.5 and bufferMin 0.25: BufferMax gives [0.5; 0.25], BatchMax [1; 0.5].</example>
    [<CompiledName("Fill")>]
    val fill:
        normalization: ImportanceWeightNormalization ->
        beta: float ->
        bufferMin: float ->
        priorities: ReadOnlySpan<float> ->
        weights: Span<float32> ->
            unit

/// <summary>A prioritized minibatch: the transitions and their importance-sampling weights.</summary>
type PrioritizedBatch =
    {
      /// The transitions; <c>Batch.Indices</c> are the slots to pass back to <c>UpdatePriorities</c>.
      Batch: Batch
      /// float32 [B]: w_i = (N·P(i))^−β / max_j w_j, in (0, 1], the maximum over the buffer or the batch
      /// (ImportanceWeightNormalization); multiply each transition's loss by its weight (Schaul et al. 2016,
      /// Algorithm 1, line 10).
      Weights: float32[] }

/// <summary>
/// Proportional prioritized experience replay (Schaul, Quan, Antonoglou, Silver 2016, "Prioritized
/// Experience Replay", ICLR; Algorithm 1, §3.3–3.4): the ring storage of
/// <see cref="T:Dqn.Fun.ReplayBuffer"/> plus a <see cref="T:Dqn.Fun.SumTree"/> sampler that draws slot i
/// with probability P(i) = p_i / Σ_k p_k.
/// </summary>
/// <remarks>
/// <para>Priorities. The trees hold p_i = (|δ_i| + ε)^α (§3.3, proportional variant), set by
/// <c>UpdatePriorities</c> from the TD errors δ of the last update. α = 0 is uniform replay; ε &gt; 0 keeps
/// every transition drawable when its TD error is 0. A new transition gets the largest priority recorded
/// so far (1 initially), "to guarantee that all experience is seen at least once" (Algorithm 1, line 6);
/// as in OpenAI Baselines and Dopamine the maximum is over every priority ever recorded, so it does not
/// fall when the transition that held it is overwritten.</para>
/// <para>Sampling is stratified (Appendix B.2.1): [0, Total) is split into batchSize equal segments and
/// one mass is drawn uniformly in each, then found in the sum tree; so each draw still has marginal
/// probability P(i), with lower variance than independent draws. The draws come from the buffer's own
/// <c>SeededRandom(seed)</c> (System.Random's numbers, its position kept by training checkpoints): a given seed and sequence of calls always yields the same batches.</para>
/// <para>Importance sampling (§3.4): w_i = (N·P(i))^−β / max_j w_j with N = Count and the maximum over every
/// stored transition, not only the batch (as in the paper, Dopamine and DQN Zoo); since the largest weight
/// belongs to the smallest priority, w_i = (p_min / p_i)^β, with p_min read from a
/// <see cref="T:Dqn.Fun.MinTree"/>. Callers anneal β from β₀ towards 1 over training with a
/// <see cref="T:Dqn.Fun.Schedule"/> and pass the current value to every <c>Sample</c>.</para>
/// <para>Costs: Add, Sample (per row) and UpdatePriorities (per index) are O(log capacity). Memory: the
/// storage of a ReplayBuffer plus two float64 trees of 2·L entries each (L the power of two ≥ capacity),
/// 32 MiB for a capacity of 1M. The buffer is mutable and not thread-safe.</para>
/// </remarks>
/// <example>
/// <code lang="fsharp">
/// let buffer = PrioritizedReplayBuffer(100_000, 4, alpha = 0.6, seed = 1)
/// let beta = Schedule.linear 0.4 1.0 100_000L
/// // … buffer.Add(s, a, r, s', terminated) each step; then, each update at step t:
/// let sample = buffer.Sample(32, Schedule.value beta t)
/// // loss = mean (sample.Weights * tdLoss); then, with the batch's TD errors δ:
/// buffer.UpdatePriorities(sample.Batch.Indices, tdErrors)
/// </code>
/// </example>
[<Sealed>]
type PrioritizedReplayBuffer =
    /// <summary>An empty buffer.</summary>
    /// <param name="capacity">The number of transitions kept; 1 .. 2^29.</param>
    /// <param name="observationSize">The length of every observation; positive.</param>
    /// <param name="alpha">The priority exponent α, in [0, 1] (0: uniform; the paper uses 0.6 with the
    /// proportional variant on Atari).</param>
    /// <param name="epsilon">ε, added to |δ| before exponentiation; positive and finite.</param>
    /// <param name="seed">Seeds the sampling generator.</param>
    /// <exception cref="T:System.ArgumentOutOfRangeException">capacity or observationSize is out of range,
    /// capacity·observationSize exceeds the largest .NET array, alpha is outside [0, 1], or epsilon
    /// &lt;= 0.</exception>
    /// <exception cref="T:System.ArgumentException">alpha or epsilon is NaN or infinite.</exception>
    new: capacity: int * observationSize: int * alpha: float * epsilon: float * seed: int -> PrioritizedReplayBuffer

    /// <summary>An empty buffer with ε = 1e−6 (as in Dopamine and DQN Zoo); see the other overload.</summary>
    new: capacity: int * observationSize: int * alpha: float * seed: int -> PrioritizedReplayBuffer

    /// The maximum number of transitions kept.
    member Capacity: int
    /// The length of every observation.
    member ObservationSize: int
    /// The number of transitions stored, N, at most Capacity.
    member Count: int
    /// The priority exponent α.
    member Alpha: float
    /// ε, added to |δ| before exponentiation.
    member Epsilon: float

    /// The largest priority p = (|δ| + ε)^α recorded so far (1 for a new buffer): the priority of the next Add.
    member MaxPriority: float

    /// <summary>The priority p_i = (|δ_i| + ε)^α of a stored transition.</summary>
    /// <exception cref="T:System.ArgumentOutOfRangeException">slot is outside 0 .. Count−1.</exception>
    member Priority: slot: int -> float

    /// <summary>Stores a transition at <c>MaxPriority</c>, overwriting the oldest one (and its priority)
    /// when full. The arrays are copied.</summary>
    /// <exception cref="T:System.ArgumentException">An observation's length is not ObservationSize
    /// (the message gives expected and actual length), or the reward is NaN or infinite.</exception>
    /// <exception cref="T:System.ArgumentOutOfRangeException">The action is negative.</exception>
    member Add: transition: Transition -> unit

    /// <summary>Stores a transition given field by field; see the other overload.</summary>
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

    /// <summary>Stores an n-step transition (see the other overloads) at the priority p = (|tdError| + ε)^α of a TD
    /// error computed where it was collected, instead of MaxPriority: Ape-X's actors compute each transition's
    /// initial priority with their copy of the network (Horgan et al. 2018, Algorithm 1, line 10). Raises MaxPriority
    /// when p exceeds it.</summary>
    /// <exception cref="T:System.ArgumentException">An observation's length is not ObservationSize, or the reward or
    /// tdError is NaN or infinite.</exception>
    /// <exception cref="T:System.ArgumentOutOfRangeException">The action is negative or steps is not positive.</exception>
    member Add:
        observation: float32[] * action: int * reward: float32 * nextObservation: float32[] * terminated: bool *
        steps: int * tdError: float32 ->
            unit

    /// <summary>
    /// Draws batchSize transitions with probability P(i) = p_i / Σ_k p_k each, stratified (row k comes
    /// from the k-th of batchSize equal segments of the priority mass), with replacement; returns them
    /// with their importance-sampling weights. Advances the buffer's generator. Fresh arrays.
    /// </summary>
    /// <param name="batchSize">B, positive, at most Count.</param>
    /// <param name="beta">The importance-sampling exponent β, in [0, 1] (0: all weights 1; 1: full
    /// correction of the sampling bias).</param>
    /// <exception cref="T:System.ArgumentOutOfRangeException">batchSize &lt;= 0, or beta is outside [0, 1].</exception>
    /// <exception cref="T:System.ArgumentException">beta is NaN.</exception>
    /// <exception cref="T:System.InvalidOperationException">Fewer than batchSize transitions are stored.</exception>
    member Sample: batchSize: int * beta: float -> PrioritizedBatch

    /// <summary>Sample(batchSize, beta) with the weights normalised as `normalization` says (the other overload
    /// normalises by the buffer's largest weight).</summary>
    member Sample: batchSize: int * beta: float * normalization: ImportanceWeightNormalization -> PrioritizedBatch

    /// <summary>
    /// Sets p_i = (|δ_i| + ε)^α for each given slot (Algorithm 1, line 12) and raises MaxPriority when a
    /// new priority exceeds it. A repeated slot takes the last of its errors. Everything is checked before
    /// anything is written. A slot overwritten by an Add since it was sampled still counts as live: its new
    /// transition gets the old one's priority, as in Dopamine and OpenAI Baselines.
    /// </summary>
    /// <param name="indices">Slots, each in 0 .. Count−1 (usually a sampled batch's <c>Batch.Indices</c>).</param>
    /// <param name="tdErrors">The TD errors δ of those slots, same length; finite.</param>
    /// <exception cref="T:System.ArgumentException">The lengths differ, or a TD error is NaN or infinite
    /// (the message gives its position and value).</exception>
    /// <exception cref="T:System.ArgumentOutOfRangeException">An index is not a live slot (outside
    /// 0 .. Count−1; the message gives its position and value).</exception>
    member UpdatePriorities: indices: int[] * tdErrors: float32[] -> unit

    /// Writes the stored transitions, their priorities, the running maximum priority and the sampling generator's
    /// position under `prefix` (training checkpoints).
    member internal SaveState: w: StateWriter * prefix: string -> unit

    /// Replaces the contents with those SaveState wrote; raises InvalidDataException when they do not fit.
    member internal LoadState: r: StateReader * prefix: string -> unit
