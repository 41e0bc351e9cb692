namespace Dqn.Fun.Atari

open System

type StackPadding =
    | Zeros
    | RepeatFirst

[<Sealed>]
type FrameStack(depth: int, frameLength: int) =
    do
        Arg.positive "depth" depth
        Arg.positive "frameLength" frameLength

    let storage: byte[] = Array.zeroCreate (Checked.(*) depth frameLength)
    // Slot of the oldest frame; the newest is the slot before it.
    let mutable oldest = 0

    member _.Depth = depth
    member _.FrameLength = frameLength

    member _.Reset(padding: StackPadding, first: byte[]) =
        Arg.length "first" $"[{frameLength}]" frameLength first
        match padding with
        | Zeros ->
            Array.Clear storage
            Array.Copy(first, 0, storage, (depth - 1) * frameLength, frameLength)
        | RepeatFirst ->
            for slot in 0 .. depth - 1 do
                Array.Copy(first, 0, storage, slot * frameLength, frameLength)
        oldest <- 0

    member _.Push(frame: byte[]) =
        Arg.length "frame" $"[{frameLength}]" frameLength frame
        Array.Copy(frame, 0, storage, oldest * frameLength, frameLength)
        oldest <- (oldest + 1) % depth

    member _.CopyTo(destination: byte[]) =
        Arg.length "destination" $"[{depth}; {frameLength}]" storage.Length destination
        for i in 0 .. depth - 1 do
            Array.Copy(storage, ((oldest + i) % depth) * frameLength, destination, i * frameLength, frameLength)

    member _.CopyTo(destination: byte[], offset: int) =
        Arg.notNull "destination" destination
        if offset < 0 || offset > destination.Length - storage.Length then
            Arg.outOfRange "offset" offset $"in 0..{destination.Length - storage.Length} (room for [{depth}; {frameLength}])"
        for i in 0 .. depth - 1 do
            Array.Copy(storage, ((oldest + i) % depth) * frameLength, destination, offset + i * frameLength, frameLength)

    member this.ToArray() =
        let destination = Array.zeroCreate storage.Length
        this.CopyTo destination
        destination

[<RequireQualifiedAccess>]
module FrameStack =

    [<CompiledName("Atari")>]
    let atari () = FrameStack(4, 84 * 84)
