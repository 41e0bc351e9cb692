namespace Dqn.Fun

open System

type NStepTransition =
    { Observation: float32[]
      Action: int
      Return: float
      NextObservation: float32[]
      Terminated: bool
      Discount: float
      Steps: int }

[<Sealed>]
type NStepAccumulator internal (n: int, gamma: float, pending: Transition list) =
    member _.N = n
    member _.Gamma = gamma
    member _.Pending = pending

[<RequireQualifiedAccess>]
module NStep =

    [<CompiledName("Create")>]
    let create n gamma =
        Check.atLeast "n" 1 n
        if not (gamma >= 0.0 && gamma <= 1.0) then
            raise (ArgumentOutOfRangeException("gamma", gamma, "gamma must be in [0, 1]"))
        NStepAccumulator(n, gamma, [])

    /// The transition starting at the first of `steps` and ending after the last one:
    /// R = sum_k gamma^k r_(t+k), bootstrapping from the last step's next observation.
    let private complete (gamma: float) (terminated: bool) (steps: Transition list) =
        let first = List.head steps
        let mutable ret = 0.0
        let mutable discount = 1.0
        let mutable last = first
        for s in steps do
            ret <- ret + discount * float s.Reward
            discount <- discount * gamma
            last <- s
        { Observation = first.Observation
          Action = first.Action
          Return = ret
          NextObservation = last.NextObservation
          Terminated = terminated
          Discount = discount
          Steps = List.length steps }

    /// Every suffix of `steps` (the window from each pending step to the end), oldest start first.
    let rec private suffixes (steps: Transition list) =
        match steps with
        | [] -> []
        | _ :: rest -> steps :: suffixes rest

    let private completeAll (acc: NStepAccumulator) (terminated: bool) (steps: Transition list) =
        NStepAccumulator(acc.N, acc.Gamma, []), suffixes steps |> List.map (complete acc.Gamma terminated)

    [<CompiledName("Push")>]
    let push (accumulator: NStepAccumulator) (step: Transition) =
        let acc = accumulator
        if isNull (box step) then nullArg "step"
        let window = acc.Pending @ [ step ]
        if step.Terminated then completeAll acc true window
        elif step.Truncated then completeAll acc false window
        elif window.Length = acc.N then
            NStepAccumulator(acc.N, acc.Gamma, List.tail window), [ complete acc.Gamma false window ]
        else
            NStepAccumulator(acc.N, acc.Gamma, window), []

    [<CompiledName("Flush")>]
    let flush (accumulator: NStepAccumulator) = completeAll accumulator false accumulator.Pending
