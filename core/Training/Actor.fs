namespace Dqn.Fun

open System

/// Action selection.
[<RequireQualifiedAccess>]
module Actor =

    /// ε-greedy (Sutton and Barto 2018, §2.2; Mnih et al. 2015): with probability epsilon a uniformly random
    /// action in [0, actionCount), otherwise `greedy ()`. Draws one double from `rng`, and one int when it
    /// explores; `greedy` is only called when it exploits (so no network runs for random actions).
    /// Raises ArgumentOutOfRangeException for epsilon outside [0, 1] or actionCount below 1.
    [<CompiledName("EpsilonGreedy")>]
    let epsilonGreedy (rng: Random) (epsilon: float) (actionCount: int) (greedy: unit -> int) : int =
        if not (epsilon >= 0.0 && epsilon <= 1.0) then
            raise (ArgumentOutOfRangeException("epsilon", epsilon, "epsilon must be in [0, 1]"))
        if actionCount < 1 then raise (ArgumentOutOfRangeException("actionCount", actionCount, "actionCount must be positive"))
        if rng.NextDouble() < epsilon then rng.Next actionCount else greedy ()
