namespace Dqn.Fun

open System

/// Argument and state checks shared by the public entry points; every message names the
/// argument and its offending value.
module internal Check =

    let private outOfRange (name: string) (value: obj) (rule: string) =
        raise (ArgumentOutOfRangeException(name, value, $"{name} must be {rule}"))

    let positive (name: string) (value: int) = if value <= 0 then outOfRange name value "positive"

    let positive64 (name: string) (value: int64) = if value <= 0L then outOfRange name value "positive"

    let positiveFloat (name: string) (value: float) =
        if not (value > 0.0) then outOfRange name value "positive"

    let nonNegative (name: string) (value: int) = if value < 0 then outOfRange name value "non-negative"

    let nonNegative64 (name: string) (value: int64) =
        if value < 0L then outOfRange name value "non-negative"

    let atLeast (name: string) (minimum: int) (value: int) =
        if value < minimum then outOfRange name value $"at least {minimum}"

    /// A discrete action must lie in 0 .. count-1.
    let action (name: string) (count: int) (value: int) =
        if value < 0 || value >= count then outOfRange name value $"in 0..{count - 1}"

    let finite (name: string) (value: float) =
        if Double.IsNaN value || Double.IsInfinity value then
            raise (ArgumentException($"{name} must be finite, got {value}", name))

    let finite32 (name: string) (value: float32) =
        if Single.IsNaN value || Single.IsInfinity value then
            raise (ArgumentException($"{name} must be finite, got {value}", name))

    let length (name: string) (expected: int) (array: 'T[]) =
        if isNull array then
            raise (ArgumentNullException(name))
        if array.Length <> expected then
            raise (ArgumentException($"{name} must have length {expected}, got length {array.Length}", name))

    let invalidOp (message: string) : 'T = raise (InvalidOperationException(message))
