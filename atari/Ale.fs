namespace Dqn.Fun.Atari

type IAle =
    abstract MinimalActionSet: int[]
    abstract Act: action: int -> int
    abstract Lives: unit -> int
    abstract IsGameOver: unit -> bool
    abstract GetScreenRgb: buffer: byte[] -> unit
    abstract ResetGame: unit -> unit

[<RequireQualifiedAccess>]
module AleAction =

    [<CompiledName("Noop")>]
    let noop = 0

    [<CompiledName("Fire")>]
    let fire = 1
