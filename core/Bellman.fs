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

    /// Checks rewards/terminated against the batch size of a [batch; actions] tensor.
    let private checkBatch (rewards: Tensor) (terminated: Tensor) (name: string) (q: Tensor) =
        if isNull q then nullArg name
        let s = q.shape
        if s.Length <> 2 || q.dtype <> DType.Float32 then
            invalidArg name $"{name} must be Float32 [batch; actions], got {q.dtype} {shapeText s}"
        expect "rewards" rewards DType.Float32 [| s[0] |]
        expect "terminated" terminated DType.Float32 [| s[0] |]
        s

    // y = r + γ (1 − terminated) · v', with v' the bootstrap value of s'.
    let private target (gamma: float) (rewards: Tensor) (terminated: Tensor) (nextValue: Tensor) =
        rewards + (gamma * (1.0 - terminated)) * nextValue

    let dqnTarget gamma (rewards: Tensor) (terminated: Tensor) (nextQTarget: Tensor) =
        checkGamma gamma
        checkBatch rewards terminated "nextQTarget" nextQTarget |> ignore
        use _ = torch.no_grad ()
        use scope = new DisposeScope()
        (target gamma rewards terminated (nextQTarget.amax 1L)).MoveToOuterScope()

    let doubleDqnTarget gamma (rewards: Tensor) (terminated: Tensor) (nextQOnline: Tensor) (nextQTarget: Tensor) =
        checkGamma gamma
        let s = checkBatch rewards terminated "nextQTarget" nextQTarget
        expect "nextQOnline" nextQOnline DType.Float32 s
        use _ = torch.no_grad ()
        use scope = new DisposeScope()
        let greedy = nextQOnline.argmax(1L, keepdim = true)
        let value = nextQTarget.gather(1L, greedy).squeeze 1L
        (target gamma rewards terminated value).MoveToOuterScope()

    let selectActions (qValues: Tensor) (actions: Tensor) =
        if isNull qValues then nullArg "qValues"
        let s = qValues.shape
        if s.Length <> 2 || qValues.dtype <> DType.Float32 then
            invalidArg "qValues" $"qValues must be Float32 [batch; actions], got {qValues.dtype} {shapeText s}"
        expect "actions" actions DType.Int64 [| s[0] |]
        use scope = new DisposeScope()
        qValues.gather(1L, actions.unsqueeze 1L).squeeze(1L).MoveToOuterScope()
