namespace Dqn.Fun

open System
open Dqn.Fun.Torch

[<RequireQualifiedAccess>]
module Bellman =

    let private shapeText (s: int64[]) = "[" + String.Join("; ", s) + "]"

    let private expect (name: string) (t: Tensor) (dtype: DType) (shape: int64[]) =
        if isNull t then nullArg name
        let actual = t.shape
        if actual <> shape || t.dtype <> dtype then
            invalidArg name $"{name} must be {dtype} {shapeText shape}, got {t.dtype} {shapeText actual}"

    let private checkGamma (gamma: float) =
        if not (gamma >= 0.0 && gamma <= 1.0) then
            raise (ArgumentOutOfRangeException("gamma", gamma, "gamma must be in [0, 1]"))

    /// Checks rewards and discounts (or terminated) against the batch size of a [batch; actions] tensor.
    let private checkBatch (rewards: Tensor) (discounts: Tensor) (discountsName: string) (name: string) (q: Tensor) =
        if isNull q then nullArg name
        let s = q.shape
        if s.Length <> 2 || q.dtype <> DType.Float32 then
            invalidArg name $"{name} must be Float32 [batch; actions], got {q.dtype} {shapeText s}"
        expect "rewards" rewards DType.Float32 [| s[0] |]
        expect discountsName discounts DType.Float32 [| s[0] |]
        s

    // y = R + discount · v', with v' the bootstrap value of s'.
    let private bootstrap (rewards: Tensor) (discounts: Tensor) (nextValue: Tensor) = rewards + discounts * nextValue

    let private greedyValue (nextQTarget: Tensor) = nextQTarget.amax 1L

    let private doubleValue (nextQOnline: Tensor) (nextQTarget: Tensor) =
        nextQTarget.gather(1L, nextQOnline.argmax(1L, keepdim = true)).squeeze 1L

    let nStepTarget (rewards: Tensor) (discounts: Tensor) (nextQTarget: Tensor) =
        checkBatch rewards discounts "discounts" "nextQTarget" nextQTarget |> ignore
        use _ = torch.no_grad ()
        use scope = new DisposeScope()
        (bootstrap rewards discounts (greedyValue nextQTarget)).MoveToOuterScope()

    let doubleNStepTarget (rewards: Tensor) (discounts: Tensor) (nextQOnline: Tensor) (nextQTarget: Tensor) =
        let s = checkBatch rewards discounts "discounts" "nextQTarget" nextQTarget
        expect "nextQOnline" nextQOnline DType.Float32 s
        use _ = torch.no_grad ()
        use scope = new DisposeScope()
        (bootstrap rewards discounts (doubleValue nextQOnline nextQTarget)).MoveToOuterScope()

    let dqnTarget gamma (rewards: Tensor) (terminated: Tensor) (nextQTarget: Tensor) =
        checkGamma gamma
        checkBatch rewards terminated "terminated" "nextQTarget" nextQTarget |> ignore
        use _ = torch.no_grad ()
        use scope = new DisposeScope()
        (bootstrap rewards (gamma * (1.0 - terminated)) (greedyValue nextQTarget)).MoveToOuterScope()

    let doubleDqnTarget gamma (rewards: Tensor) (terminated: Tensor) (nextQOnline: Tensor) (nextQTarget: Tensor) =
        checkGamma gamma
        let s = checkBatch rewards terminated "terminated" "nextQTarget" nextQTarget
        expect "nextQOnline" nextQOnline DType.Float32 s
        use _ = torch.no_grad ()
        use scope = new DisposeScope()
        (bootstrap rewards (gamma * (1.0 - terminated)) (doubleValue nextQOnline nextQTarget)).MoveToOuterScope()

    let selectActions (qValues: Tensor) (actions: Tensor) =
        if isNull qValues then nullArg "qValues"
        let s = qValues.shape
        if s.Length <> 2 || qValues.dtype <> DType.Float32 then
            invalidArg "qValues" $"qValues must be Float32 [batch; actions], got {qValues.dtype} {shapeText s}"
        expect "actions" actions DType.Int64 [| s[0] |]
        use scope = new DisposeScope()
        qValues.gather(1L, actions.unsqueeze 1L).squeeze(1L).MoveToOuterScope()
