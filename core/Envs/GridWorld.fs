namespace Dqn.Fun

open System

[<RequireQualifiedAccess>]
module GridWorld =

    type Cell = { Row: int; Column: int }

    [<CompiledName("DefaultSize")>]
    let defaultSize = 5
    [<CompiledName("DefaultMaxSteps")>]
    let defaultMaxSteps = 100
    [<CompiledName("ActionCount")>]
    let actionCount = 4
    [<CompiledName("Start")>]
    let start = { Row = 0; Column = 0 }

    let private checkSize size = Check.atLeast "size" 2 size

    let private checkCell size (cell: Cell) =
        if cell.Row < 0 || cell.Row >= size || cell.Column < 0 || cell.Column >= size then
            raise (
                ArgumentOutOfRangeException(
                    "cell",
                    box cell,
                    $"cell must lie in a {size}x{size} grid, got row {cell.Row}, column {cell.Column}"
                )
            )

    [<CompiledName("Goal")>]
    let goal size =
        checkSize size
        { Row = size - 1; Column = size - 1 }

    [<CompiledName("Move")>]
    let move size (cell: Cell) action =
        checkSize size
        checkCell size cell
        Check.action "action" actionCount action
        match action with
        | 0 -> { cell with Row = max 0 (cell.Row - 1) }
        | 1 -> { cell with Column = min (size - 1) (cell.Column + 1) }
        | 2 -> { cell with Row = min (size - 1) (cell.Row + 1) }
        | _ -> { cell with Column = max 0 (cell.Column - 1) }

    [<CompiledName("Observation")>]
    let observation size (cell: Cell) =
        checkSize size
        checkCell size cell
        let one = Array.zeroCreate<float32> (size * size)
        one[cell.Row * size + cell.Column] <- 1.0f
        one

[<Sealed>]
type GridWorldEnvironment(size: int, maxSteps: int) =
    do
        Check.atLeast "size" 2 size
        Check.positive "maxSteps" maxSteps

    let goal = GridWorld.goal size
    // The start cell is fixed: the seed has nothing to randomise.
    let episode = Episode<GridWorld.Cell>("GridWorld", GridWorld.actionCount, maxSteps)

    new() = GridWorldEnvironment(GridWorld.defaultSize, GridWorld.defaultMaxSteps)

    member _.Size = size
    member _.MaxSteps = maxSteps
    member _.ObservationSize = size * size
    member _.ActionCount = GridWorld.actionCount
    member _.Cell = episode.State
    member _.ElapsedSteps = episode.Elapsed
    member _.Reset(seed: Nullable<int>) = GridWorld.observation size (episode.Reset(seed, fun _ -> GridWorld.start))

    member _.Step(action: int) =
        let struct (c, terminated, truncated) = episode.Step(action, GridWorld.move size, (fun c -> c = goal))
        { Observation = GridWorld.observation size c
          Reward = (if terminated then 1.0 else 0.0)
          Terminated = terminated
          Truncated = truncated }

    interface IEnvironment with
        member this.ObservationSize = this.ObservationSize
        member this.ActionCount = this.ActionCount
        member this.Reset(seed) = this.Reset(seed)
        member this.Step(action) = this.Step(action)
