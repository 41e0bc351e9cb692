namespace Dqn.Fun.Atari

open System
open System.Numerics

[<RequireQualifiedAccess>]
module MaxPool =

    let private sameLength (name: string) (a: byte[]) (other: byte[]) =
        if isNull other then raise (ArgumentNullException(name))
        if other.Length <> a.Length then
            raise (ArgumentException($"{name} must have the length of a ({a.Length}), got length {other.Length}", name))

    [<CompiledName("MaxInto")>]
    let maxInto (a: byte[]) (b: byte[]) (destination: byte[]) : unit =
        if isNull a then raise (ArgumentNullException("a"))
        sameLength "b" a b
        sameLength "destination" a destination
        let n = a.Length
        let w = Vector<byte>.Count
        let mutable i = 0
        while i <= n - w do
            Vector.Max(Vector<byte>(a, i), Vector<byte>(b, i)).CopyTo(destination, i)
            i <- i + w
        while i < n do
            destination[i] <- if a[i] >= b[i] then a[i] else b[i]
            i <- i + 1

    [<CompiledName("Max")>]
    let max (a: byte[]) (b: byte[]) : byte[] =
        if isNull a then raise (ArgumentNullException("a"))
        sameLength "b" a b
        let destination = Array.zeroCreate a.Length
        maxInto a b destination
        destination
