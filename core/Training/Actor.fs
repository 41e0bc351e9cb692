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

    /// <summary>ε-greedy actions for n environments (epsilonGreedy per env, in env order, drawing from `rng`): the
    /// greedy actions of all come from one call of `greedyAll ()` (a batched forward pass: int[n]), made only when
    /// some env exploits. int[n].</summary>
    [<CompiledName("EpsilonGreedyBatch")>]
    let epsilonGreedyBatch (rng: Random) (epsilon: float) (actionCount: int) (n: int) (greedyAll: unit -> int[]) : int[] =
        let mutable greedy: int[] = null
        Array.init n (fun i ->
            epsilonGreedy rng epsilon actionCount (fun () ->
                if isNull greedy then greedy <- greedyAll ()
                greedy[i]))
