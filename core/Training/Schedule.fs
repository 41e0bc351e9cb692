namespace Dqn.Fun

open System

type Schedule =
    private
    | Constant of value: float
    | Linear of start: float * finish: float * duration: int64
    | Exponential of start: float * finish: float * decay: float
    | Multiplicative of start: float * finish: float * factor: float
    | PiecewiseLinear of knots: (int64 * float)[]

[<RequireQualifiedAccess>]
module Schedule =

    [<CompiledName("Constant")>]
    let constant value =
        Check.finite "value" value
        Constant value

    [<CompiledName("Linear")>]
    let linear start finish duration =
        Check.finite "start" start
        Check.finite "finish" finish
        Check.positive64 "duration" duration
        Linear(start, finish, duration)

    [<CompiledName("Exponential")>]
    let exponential start finish decay =
        Check.finite "start" start
        Check.finite "finish" finish
        Check.finite "decay" decay
        Check.positiveFloat "decay" decay
        Exponential(start, finish, decay)

    [<CompiledName("Multiplicative")>]
    let multiplicative start finish factor =
        Check.finite "start" start
        Check.finite "finish" finish
        Check.finite "factor" factor
        if not (factor > 0.0 && factor <= 1.0) then
            raise (ArgumentOutOfRangeException("factor", factor, "factor must be in (0, 1]"))
        if finish > start then
            raise (ArgumentOutOfRangeException("finish", finish, $"finish must be at most start = {start}"))
        Multiplicative(start, finish, factor)

    [<CompiledName("PiecewiseLinear")>]
    let piecewiseLinear (knots: (int64 * float) list) =
        if List.isEmpty knots then
            raise (ArgumentException("knots must contain at least one (step, value) knot, got none", "knots"))
        let knots = List.toArray knots
        knots
        |> Array.iteri (fun i (step, value) ->
            Check.nonNegative64 "knots" step
            Check.finite "knots" value
            if i > 0 && step <= fst knots[i - 1] then
                raise (
                    ArgumentException(
                        $"knot steps must be strictly increasing, got step {step} at index {i} after step {fst knots[i - 1]}",
                        "knots"
                    )
                ))
        PiecewiseLinear knots

    // start + (finish - start)·fraction, kept inside [min, max] of the endpoints; exact at both ends.
    let private interpolate (start: float) (finish: float) (fraction: float) =
        if fraction >= 1.0 then
            finish
        else
            let v = start + (finish - start) * fraction
            Math.Clamp(v, min start finish, max start finish)

    [<CompiledName("Value")>]
    let value (schedule: Schedule) (step: int64) =
        Check.nonNegative64 "step" step
        match schedule with
        | Constant v -> v
        | Linear(start, finish, duration) -> interpolate start finish (float step / float duration)
        | Exponential(start, finish, decay) ->
            // finish + (start - finish)·e^(-t/decay), written as a fraction of the gap so t = 0 gives start exactly.
            interpolate start finish (1.0 - exp (-(float step) / decay))
        | Multiplicative(start, finish, factor) -> max finish (start * factor ** float step)
        | PiecewiseLinear knots ->
            let last = knots.Length - 1
            if step <= fst knots[0] then snd knots[0]
            elif step >= fst knots[last] then snd knots[last]
            else
                // Binary search for the segment [lo, lo + 1] with knots[lo] <= step < knots[lo + 1].
                let mutable lo = 0
                let mutable hi = last
                while hi - lo > 1 do
                    let mid = (lo + hi) / 2
                    if fst knots[mid] <= step then lo <- mid else hi <- mid
                let s0, v0 = knots[lo]
                let s1, v1 = knots[hi]
                interpolate v0 v1 (float (step - s0) / float (s1 - s0))

    [<CompiledName("Describe")>]
    let describe (schedule: Schedule) =
        let f (x: float) = x.ToString("R", Globalization.CultureInfo.InvariantCulture)
        match schedule with
        | Constant v -> f v
        | Linear(a, b, n) -> $"{f a} -> {f b} linearly over {n} steps"
        | Exponential(a, b, k) -> $"{f a} -> {f b} exponentially, decay {f k} steps"
        | Multiplicative(a, b, k) -> $"max({f b}, {f a} * {f k}^t)"
        | PiecewiseLinear knots -> "piecewise linear " + String.Join("; ", knots |> Array.map (fun (s, v) -> $"{s}: {f v}"))
