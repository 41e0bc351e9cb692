namespace Dqn.Fun

/// <summary>The built-in environments, made by their Gymnasium-style id.</summary>
[<RequireQualifiedAccess>]
module Environments =

    /// <summary>The known ids: <c>["CartPole-v1"; "GridWorld-v0"; "Acrobot-v1"; "MaskedCartPole-v1"; "MountainCar-v0"]</c>.</summary>
    [<CompiledName("Ids")>]
    val ids: string list

    /// <summary>Makes a fresh environment by id (case-sensitive).</summary>
    /// <param name="id"><c>"CartPole-v1"</c> (<see cref="T:Dqn.Fun.CartPoleEnvironment"/>) or
    /// <c>"GridWorld-v0"</c> (<see cref="T:Dqn.Fun.GridWorldEnvironment"/>, 5×5, 100 steps) or
    /// <c>"Acrobot-v1"</c> (<see cref="T:Dqn.Fun.AcrobotEnvironment"/>, 6 observations, 3 actions, 500 steps) or
    /// <c>"MaskedCartPole-v1"</c> (<see cref="T:Dqn.Fun.MaskedCartPoleEnvironment"/>, CartPole-v1 observing only [x; θ]) or
    /// <c>"MountainCar-v0"</c> (<see cref="T:Dqn.Fun.MountainCarEnvironment"/>, 2 observations, 3 actions, reward -1, 200 steps).</param>
    /// <exception cref="T:System.ArgumentException">The id is unknown; the message names it and lists the known ids.</exception>
    /// <example><c>(Environments.make "CartPole-v1").ActionCount</c> evaluates to <c>2</c>.</example>
    [<CompiledName("Make")>]
    val make: id: string -> IEnvironment

    /// <summary>Makes <c>numEnvs</c> fresh environments of <c>id</c> stepped together in this thread
    /// (<see cref="T:Dqn.Fun.SyncVectorEnvironment"/>).</summary>
    /// <exception cref="T:System.ArgumentException">The id is unknown.</exception>
    /// <exception cref="T:System.ArgumentOutOfRangeException">numEnvs is not positive.</exception>
    [<CompiledName("MakeVector")>]
    val makeVector: id: string -> numEnvs: int -> IVectorEnvironment
