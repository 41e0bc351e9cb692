namespace Dqn.Fun

open System

/// <summary>The outcome of one environment step (one agent step).</summary>
/// <remarks>
/// Gymnasium semantics: <c>Terminated</c> marks a terminal state of the MDP (the value of the next
/// state is zero); <c>Truncated</c> marks an episode cut for another reason, usually a time limit
/// (the next state still has value, so a learner should bootstrap from it). Both may be true.
/// </remarks>
type StepResult =
    {
      /// The observation after the step; float32, length <c>ObservationSize</c>.
      Observation: float32[]
      /// The reward for this step.
      Reward: float
      /// True when the new state is terminal in the MDP.
      Terminated: bool
      /// True when the episode was cut (time limit or other), whatever the state.
      Truncated: bool }

/// <summary>
/// An environment with a flat float32 observation vector and discrete actions
/// <c>0 .. ActionCount-1</c>, following Gymnasium's API (<c>reset</c>/<c>step</c>,
/// terminated = MDP terminal state, truncated = time limit or other cut).
/// </summary>
/// <remarks>Implementations are stateful and not thread-safe; one episode runs at a time.</remarks>
type IEnvironment =
    /// The length of every observation vector.
    abstract ObservationSize: int
    /// The number of discrete actions; valid actions are 0 .. ActionCount-1.
    abstract ActionCount: int
    /// <summary>Starts a new episode and returns its first observation.</summary>
    /// <param name="seed">A non-null seed reseeds the environment's random generator first
    /// (Gymnasium's <c>reset(seed=...)</c>); null keeps the current generator.</param>
    abstract Reset: seed: Nullable<int> -> float32[]
    /// <summary>Applies one action and returns the outcome.</summary>
    /// <exception cref="T:System.ArgumentOutOfRangeException">The action is outside 0 .. ActionCount-1.</exception>
    /// <exception cref="T:System.InvalidOperationException">No episode is running: Reset was never called,
    /// or the episode already terminated or was truncated.</exception>
    abstract Step: action: int -> StepResult
