namespace Dqn.Fun

/// <summary>An n-step transition: the first observation and action of a run of m ≤ n steps, their
/// discounted return, and the state to bootstrap from.</summary>
/// <remarks>
/// The n-step target is <c>y = Return + Discount * (1 - Terminated) * v(NextObservation)</c> with
/// <c>Discount = gamma^Steps</c> (Sutton 1988; Mnih et al. 2016; Hessel et al. 2018, eq. 2). In a
/// distributional learner the discount handed to <c>Categorical.project</c> is
/// <c>Discount * (1 - Terminated)</c>.
/// </remarks>
type NStepTransition =
    {
      /// s_t: the observation the run starts from.
      Observation: float32[]
      /// a_t: the action taken in s_t.
      Action: int
      /// R = sum over k &lt; m of gamma^k r_(t+k), accumulated in float64.
      Return: float
      /// s_(t+m): the observation after the last step of the run (the real final one when the episode ended).
      NextObservation: float32[]
      /// True when s_(t+m) is terminal in the MDP (the run stopped at a termination): no bootstrap.
      Terminated: bool
      /// gamma^m, the discount of the bootstrap value; reported as is also when Terminated is true.
      Discount: float
      /// m, the number of rewards in Return: n, or fewer when the episode ended (or was flushed) early.
      Steps: int }

/// <summary>The pending window of an n-step accumulator: the last m &lt; n steps of the current episode
/// whose n-step returns are not complete yet. An immutable value; build it with <c>NStep.create</c>.</summary>
[<Sealed>]
type NStepAccumulator =
    /// n, the most rewards an emitted return sums.
    member N: int
    /// gamma, the per-step discount.
    member Gamma: float
    /// The steps waiting for their n-step return, oldest first (fewer than n).
    member Pending: Transition list

/// <summary>
/// n-step returns over a stream of agent steps (Sutton 1988, "Learning to Predict by the Methods of
/// Temporal Differences"; Hessel et al. 2018, "Rainbow: Combining Improvements in Deep Reinforcement
/// Learning", section 2, multi-step learning), as Dopamine's and DQN Zoo's accumulators compute them.
/// </summary>
/// <remarks>
/// Pure: <c>push</c> and <c>flush</c> return a new accumulator and the transitions completed by the call,
/// oldest first; the input accumulator is unchanged. Each step of the stream is emitted exactly once, as
/// the start of one n-step transition. A return never crosses the end of an episode:
/// <list type="bullet">
/// <item>a step with <c>Terminated = true</c> completes every pending step with the return up to that
/// step, <c>Terminated = true</c> and its next observation (the terminal state);</item>
/// <item>a step with <c>Truncated = true</c> (and <c>Terminated = false</c>) completes them the same way but
/// with <c>Terminated = false</c>, so that they bootstrap from the state where the episode was cut
/// (Pardo et al. 2018, "Time Limits in Reinforcement Learning");</item>
/// <item>otherwise, once n steps are pending the oldest is completed with m = n.</item>
/// </list>
/// Successive steps are assumed to continue one another (the step's observation is the previous step's
/// next observation); the accumulator does not check it.
/// </remarks>
/// <example>
/// <code lang="fsharp">
/// let acc = NStep.create 2 0.5
/// let acc, out1 = NStep.push acc step0    // out1 = [] (one step pending)
/// let acc, out2 = NStep.push acc step1    // out2 = [ s0, a0, r0 + 0.5 r1, s2, Discount 0.25 ]
/// </code>
/// </example>
[<RequireQualifiedAccess>]
module NStep =

    /// <summary>An empty accumulator.</summary>
    /// <param name="n">The number of steps of a full return; at least 1 (n = 1 gives one-step transitions).</param>
    /// <param name="gamma">The per-step discount, in [0, 1].</param>
    /// <exception cref="T:System.ArgumentOutOfRangeException">n &lt; 1, or gamma outside [0, 1] or NaN.</exception>
    [<CompiledName("Create")>]
    val create: n: int -> gamma: float -> NStepAccumulator

    /// <summary>Adds the next step of the stream; returns the new accumulator and the transitions it completed,
    /// oldest first: none, the oldest pending one (n steps pending), or all pending ones (the step ended
    /// its episode).</summary>
    /// <exception cref="T:System.ArgumentNullException">step is null.</exception>
    /// <example>With n = 3, gamma = 1 and rewards 1, 2 where the second step terminates, the second push
    /// returns two transitions: Return 3 (Steps 2) and Return 2 (Steps 1), both Terminated.</example>
    [<CompiledName("Push")>]
    val push: accumulator: NStepAccumulator -> step: Transition -> NStepAccumulator * NStepTransition list

    /// <summary>Completes every pending step with its partial return, bootstrapping from the last pending
    /// step's next observation (Terminated = false), as a truncation would; returns the empty accumulator
    /// and those transitions, oldest first. For a stream that stops mid-episode (the end of training, a
    /// reset by the caller).</summary>
    [<CompiledName("Flush")>]
    val flush: accumulator: NStepAccumulator -> NStepAccumulator * NStepTransition list
