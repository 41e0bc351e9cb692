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

/// The episode bookkeeping every built-in environment shares: its seeded generator, the current state, the
/// agent steps taken and whether an episode is running. Mutated only by Reset and Step, which take the
/// environment's pure dynamics as functions.
[<Sealed>]
type internal Episode<'S>(name: string, actionCount: int, maxSteps: int) =
    let mutable random: Random = null
    let mutable state: 'S voption = ValueNone
    let mutable elapsed = 0
    let mutable running = false

    member _.State =
        match state with
        | ValueSome s -> s
        | ValueNone -> Check.invalidOp $"{name} has no state yet: call Reset first"

    member _.Elapsed = elapsed

    /// Reseeds the generator when `seed` is given (a fresh unpredictable one on the first unseeded reset) and
    /// starts an episode in `initial random`; returns that state.
    member _.Reset(seed: Nullable<int>, initial: Random -> 'S) =
        if seed.HasValue then random <- Random(seed.Value)
        elif isNull random then random <- Random()
        let s = initial random
        state <- ValueSome s
        elapsed <- 0
        running <- true
        s

    /// Checks the action and that an episode runs, applies `step`, and ends the episode when `isTerminated` or
    /// after maxSteps agent steps (truncation). Returns the new state, terminated and truncated.
    member _.Step(action: int, step: 'S -> int -> 'S, isTerminated: 'S -> bool) : struct ('S * bool * bool) =
        Check.action "action" actionCount action
        if not running then
            Check.invalidOp $"{name} episode is not running (never started, terminated or truncated): call Reset"
        let s = step state.Value action
        state <- ValueSome s
        elapsed <- elapsed + 1
        let terminated = isTerminated s
        let truncated = elapsed >= maxSteps
        if terminated || truncated then running <- false
        struct (s, terminated, truncated)
