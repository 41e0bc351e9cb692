namespace Dqn.Fun.Atari

open System

/// Argument checks for the public entry points of Dqn.Fun.Atari; every message names the argument
/// and its offending value.
module internal Arg =

    let outOfRange (name: string) (value: obj) (rule: string) : 'T =
        raise (ArgumentOutOfRangeException(name, value, $"{name} must be {rule}"))

    let positive (name: string) (value: int) = if value <= 0 then outOfRange name value "positive"

    let nonNegative (name: string) (value: int) = if value < 0 then outOfRange name value "non-negative"

    let atLeast (name: string) (minimum: int) (value: int) =
        if value < minimum then outOfRange name value $"at least {minimum}"

    let atMost (name: string) (maximum: int) (value: int) =
        if value > maximum then outOfRange name value $"at most {maximum}"

    let notNull (name: string) (value: 'T) =
        if isNull (box value) then raise (ArgumentNullException(name))

    /// A non-null array of exactly `expected` elements; `shape` is printed in the message (e.g. "[210; 160; 3]").
    let length (name: string) (shape: string) (expected: int) (array: 'T[]) =
        if isNull array then raise (ArgumentNullException(name))
        if array.Length <> expected then
            raise (ArgumentException($"{name} must have length {expected} (shape {shape}), got length {array.Length}", name))
