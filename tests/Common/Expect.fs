/// Expectations the F# test projects use beside Expecto's own (`Expect.*`, `Accuracy.*`): F# finds these and
/// Expecto's under the same module names, so a test reads `Expect.inRange` like `Expect.equal`.
namespace Dqn.Fun.Tests

open System
open Expecto

/// Accuracies for `Expect.floatClose`.
[<RequireQualifiedAccess>]
module Accuracy =

    /// Equal to `places` decimal places: |actual - expected| <= 0.5 * 10^-places, nothing relative (what xunit's
    /// `Assert.Equal(expected, actual, places)` checks for an expected value with at most `places` decimals).
    let places (places: int) : Accuracy = { absolute = 0.5 * Math.Pow(10.0, float -places); relative = 0.0 }

[<RequireQualifiedAccess>]
module Expect =

    /// Expects low <= actual <= high; NaN is in no range.
    let inRange (actual: 'T) (low: 'T) (high: 'T) (message: string) =
        if not (low <= actual && actual <= high) then
            failtestf "%s. Expected %A to be in [%A, %A]." message actual low high

    /// Expects `f` to throw an exception of exactly type 'T (as `Expect.throwsT` does) and returns it, for the test
    /// to check its fields (ParamName, Message).
    [<RequiresExplicitTypeArguments>]
    let wantThrows<'T when 'T :> exn> (f: unit -> unit) (message: string) : 'T =
        match (try f (); None with e -> Some e) with
        | Some(:? 'T as e) when e.GetType() = typeof<'T> -> e
        | Some e ->
            failtestf "%s. Expected f to throw %s, but it threw %s: %s" message typeof<'T>.FullName (e.GetType().FullName) e.Message
        | None -> failtestf "%s. Expected f to throw %s." message typeof<'T>.FullName

    /// Expects `f` to throw an exception of type 'T or of a type derived from it, and returns it.
    [<RequiresExplicitTypeArguments>]
    let wantThrowsAny<'T when 'T :> exn> (f: unit -> unit) (message: string) : 'T =
        match (try f (); None with e -> Some e) with
        | Some(:? 'T as e) -> e
        | Some e ->
            failtestf "%s. Expected f to throw %s or a subtype, but it threw %s: %s" message typeof<'T>.FullName (e.GetType().FullName) e.Message
        | None -> failtestf "%s. Expected f to throw %s." message typeof<'T>.FullName

    /// Expects `xs` to hold exactly one element and returns it.
    let wantSingle (xs: seq<'T>) (message: string) : 'T =
        match List.ofSeq xs with
        | [ x ] -> x
        | l -> failtestf "%s. Expected exactly one element, got %d: %A" message l.Length l
