namespace Dqn.Fun

/// <summary>One agent step as the learner sees it: (s, a, r, s′) with the episode-end flags.</summary>
/// <remarks>
/// A truncated transition (time limit) is stored with its real final <c>NextObservation</c> and
/// <c>Terminated = false</c>, so the TD target still bootstraps from s′: a time limit is not part of
/// the MDP (Pardo et al. 2018, "Time Limits in Reinforcement Learning"). Only <c>Terminated</c>
/// zeroes the bootstrap term.
/// </remarks>
type Transition =
    {
      /// s: float32, length observation size.
      Observation: float32[]
      /// a: the discrete action taken, 0 .. actionCount-1.
      Action: int
      /// r: the reward received for the step.
      Reward: float32
      /// s′: the observation after the step (the real final one when the episode ended).
      NextObservation: float32[]
      /// True when s′ is terminal in the MDP.
      Terminated: bool
      /// True when the episode was cut after this step (time limit); does not stop bootstrapping.
      Truncated: bool }

/// <summary>A minibatch of transitions in flat, row-major arrays ready to become tensors.</summary>
/// <remarks>Truncation is not carried: truncated transitions bootstrap, so only <c>Terminated</c> matters
/// to the target (see <see cref="T:Dqn.Fun.Transition"/>).</remarks>
type Batch =
    {
      /// The number of transitions, B.
      Size: int
      /// The observation length, D.
      ObservationSize: int
      /// s: float32, row-major [B; D].
      Observations: float32[]
      /// a: int64 [B] (the dtype of a libtorch index tensor).
      Actions: int64[]
      /// r: float32 [B].
      Rewards: float32[]
      /// s′: float32, row-major [B; D].
      NextObservations: float32[]
      /// float32 [B]: 1.0 where s′ is terminal, else 0.0 (truncated transitions have 0.0).
      Terminated: float32[]
      /// int [B]: agent steps the reward sums (n of an n-step return, Hessel et al. 2018; 1 for one-step
      /// transitions), so the target bootstraps with gamma^Steps (Learner.discounts).
      Steps: int[]
      /// int [B]: the storage slots sampled, for priority updates and tests.
      Indices: int[] }
