namespace Dqn.Fun

open System

/// <summary>
/// <c>GridWorld-v0</c>: a deterministic N×N grid (default 5×5). The agent starts in the top-left cell
/// and is rewarded +1.0 for reaching the bottom-right cell, which terminates the episode; every other
/// step gives 0.0. Episodes are truncated after a step limit (default 100 agent steps).
/// </summary>
/// <remarks>
/// Actions: 0 up, 1 right, 2 down, 3 left; a move into a wall leaves the agent in place. Row 0 is the
/// top row. The observation is a one-hot float32 vector of length N·N with a 1.0 at index row·N + column.
/// A small tabular-sized sanity task for DQN, in the spirit of Sutton and Barto 2018, Example 3.5.
/// </remarks>
[<RequireQualifiedAccess>]
module GridWorld =

    /// A cell of the grid; row 0 is the top row, column 0 the left column.
    type Cell = { Row: int; Column: int }

    /// The default side length, 5.
    [<CompiledName("DefaultSize")>]
    val defaultSize: int
    /// The default step limit, 100 agent steps.
    [<CompiledName("DefaultMaxSteps")>]
    val defaultMaxSteps: int
    /// The number of actions, 4: 0 up, 1 right, 2 down, 3 left.
    [<CompiledName("ActionCount")>]
    val actionCount: int
    /// The start cell, top-left: { Row = 0; Column = 0 }.
    [<CompiledName("Start")>]
    val start: Cell

    /// <summary>The goal cell of a size×size grid, bottom-right.</summary>
    /// <exception cref="T:System.ArgumentOutOfRangeException">size &lt; 2.</exception>
    /// <example><c>GridWorld.goal 5</c> evaluates to <c>{ Row = 4; Column = 4 }</c>.</example>
    [<CompiledName("Goal")>]
    val goal: size: int -> Cell

    /// <summary>The cell reached by one action (pure); moves into a wall leave the cell unchanged.</summary>
    /// <param name="size">The side length N, at least 2.</param>
    /// <param name="cell">The current cell, inside the grid.</param>
    /// <param name="action">0 up, 1 right, 2 down, 3 left.</param>
    /// <exception cref="T:System.ArgumentOutOfRangeException">size &lt; 2, the cell is outside the grid,
    /// or the action is outside 0..3.</exception>
    /// <example>
    /// <code lang="fsharp">
    /// GridWorld.move 5 { Row = 0; Column = 0 } 1   // { Row = 0; Column = 1 }
    /// GridWorld.move 5 { Row = 0; Column = 0 } 0   // { Row = 0; Column = 0 } (wall)
    /// </code>
    /// </example>
    [<CompiledName("Move")>]
    val move: size: int -> cell: Cell -> action: int -> Cell

    /// <summary>The one-hot observation of a cell: float32, length size·size, 1.0 at row·size + column.</summary>
    /// <exception cref="T:System.ArgumentOutOfRangeException">size &lt; 2 or the cell is outside the grid.</exception>
    /// <example><c>GridWorld.observation 2 { Row = 1; Column = 0 }</c> evaluates to <c>[| 0.0f; 0.0f; 1.0f; 0.0f |]</c>.</example>
    [<CompiledName("Observation")>]
    val observation: size: int -> cell: Cell -> float32[]

/// <summary>
/// The stateful <c>GridWorld-v0</c> environment: <c>GridWorld.move</c> behind
/// <see cref="T:Dqn.Fun.IEnvironment"/>. Deterministic: the seed given to Reset is accepted and unused.
/// </summary>
/// <example>
/// <code lang="fsharp">
/// let env = GridWorldEnvironment(3, 10)
/// env.Reset(Nullable()) |> ignore
/// (env.Step 1).Reward   // 0.0; after right, right, down, down the reward is 1.0 and Terminated is true
/// </code>
/// </example>
[<Sealed>]
type GridWorldEnvironment =
    /// <summary>A size×size grid whose episodes are truncated after maxSteps agent steps.</summary>
    /// <exception cref="T:System.ArgumentOutOfRangeException">size &lt; 2 or maxSteps &lt;= 0.</exception>
    new: size: int * maxSteps: int -> GridWorldEnvironment
    /// A 5×5 grid truncated after 100 steps.
    new: unit -> GridWorldEnvironment
    /// The side length N.
    member Size: int
    /// The step limit.
    member MaxSteps: int
    /// N·N.
    member ObservationSize: int
    /// 4.
    member ActionCount: int
    /// <summary>The agent's current cell.</summary>
    /// <exception cref="T:System.InvalidOperationException">Reset was never called.</exception>
    member Cell: GridWorld.Cell
    /// The number of steps taken in the current episode.
    member ElapsedSteps: int
    /// <summary>Starts an episode in the top-left cell; the seed is ignored (the grid is deterministic).</summary>
    member Reset: seed: Nullable<int> -> float32[]
    /// <summary>Applies an action (0 up, 1 right, 2 down, 3 left) for one agent step.</summary>
    /// <exception cref="T:System.ArgumentOutOfRangeException">The action is outside 0..3.</exception>
    /// <exception cref="T:System.InvalidOperationException">No episode is running: call Reset first.</exception>
    member Step: action: int -> StepResult
    interface IEnvironment
