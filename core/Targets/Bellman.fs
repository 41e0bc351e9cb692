namespace Dqn.Fun

open System
open TorchSharp

[<RequireQualifiedAccess>]
module Bellman =

    let private checkGamma (gamma: float) =
        if not (gamma >= 0.0 && gamma <= 1.0) then
            raise (ArgumentOutOfRangeException("gamma", gamma, "gamma must be in [0, 1]"))

    /// Checks rewards and discounts (or terminated) against the batch size of a [batch; actions] tensor.
    let private checkBatch (rewards: Tensor) (discounts: Tensor) (discountsName: string) (name: string) (q: Tensor) =
        let s = Tensors.expectRank name q ScalarType.Float32 2 "[batch; actions]"
        Tensors.expect "rewards" rewards ScalarType.Float32 [| s[0] |]
        Tensors.expect discountsName discounts ScalarType.Float32 [| s[0] |]
        s

    // y = R + discount · v', with v' the bootstrap value of s'.
    let private bootstrap (rewards: Tensor) (discounts: Tensor) (nextValue: Tensor) = rewards + discounts * nextValue

    let private greedyValue (nextQTarget: Tensor) = nextQTarget.amax 1L

    let private doubleValue (nextQOnline: Tensor) (nextQTarget: Tensor) =
        nextQTarget.gather(1L, nextQOnline.argmax(1L, keepdim = true)).squeeze 1L

    let nStepTarget (rewards: Tensor) (discounts: Tensor) (nextQTarget: Tensor) =
        checkBatch rewards discounts "discounts" "nextQTarget" nextQTarget |> ignore
        use _ = torch.no_grad ()
        use scope = torch.NewDisposeScope()
        (bootstrap rewards discounts (greedyValue nextQTarget)).MoveToOuterDisposeScope()

    let doubleNStepTarget (rewards: Tensor) (discounts: Tensor) (nextQOnline: Tensor) (nextQTarget: Tensor) =
        let s = checkBatch rewards discounts "discounts" "nextQTarget" nextQTarget
        Tensors.expect "nextQOnline" nextQOnline ScalarType.Float32 s
        use _ = torch.no_grad ()
        use scope = torch.NewDisposeScope()
        (bootstrap rewards discounts (doubleValue nextQOnline nextQTarget)).MoveToOuterDisposeScope()

    let dqnTarget gamma (rewards: Tensor) (terminated: Tensor) (nextQTarget: Tensor) =
        checkGamma gamma
        checkBatch rewards terminated "terminated" "nextQTarget" nextQTarget |> ignore
        use _ = torch.no_grad ()
        use scope = torch.NewDisposeScope()
        (bootstrap rewards (gamma * (1.0 - terminated)) (greedyValue nextQTarget)).MoveToOuterDisposeScope()

    let doubleDqnTarget gamma (rewards: Tensor) (terminated: Tensor) (nextQOnline: Tensor) (nextQTarget: Tensor) =
        checkGamma gamma
        let s = checkBatch rewards terminated "terminated" "nextQTarget" nextQTarget
        Tensors.expect "nextQOnline" nextQOnline ScalarType.Float32 s
        use _ = torch.no_grad ()
        use scope = torch.NewDisposeScope()
        (bootstrap rewards (gamma * (1.0 - terminated)) (doubleValue nextQOnline nextQTarget)).MoveToOuterDisposeScope()

    let selectActions (qValues: Tensor) (actions: Tensor) =
        let s = Tensors.expectRank "qValues" qValues ScalarType.Float32 2 "[batch; actions]"
        Tensors.expect "actions" actions ScalarType.Int64 [| s[0] |]
        use scope = torch.NewDisposeScope()
        qValues.gather(1L, actions.unsqueeze 1L).squeeze(1L).MoveToOuterDisposeScope()
