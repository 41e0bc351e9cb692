namespace Dqn.Fun

open System
open Dqn.Fun.Torch

[<RequireQualifiedAccess>]
module Categorical =

    let private shapeText (s: int64[]) = "[" + String.Join("; ", s) + "]"

    let private expect (name: string) (t: Tensor) (shape: int64[]) =
        if isNull t then nullArg name
        let actual = t.shape
        if actual <> shape || t.dtype <> DType.Float32 then
            invalidArg name $"{name} must be Float32 {shapeText shape}, got {t.dtype} {shapeText actual}"

    /// Checks a Float32 tensor of rank `rank`; returns its shape.
    let private expectRank (name: string) (t: Tensor) (rank: int) (text: string) =
        if isNull t then nullArg name
        let s = t.shape
        if s.Length <> rank || t.dtype <> DType.Float32 then
            invalidArg name $"{name} must be Float32 {text}, got {t.dtype} {shapeText s}"
        s

    [<CompiledName("Support")>]
    let support (vMin: float) (vMax: float) (atoms: int) (device: Device) =
        Check.finite "vMin" vMin
        Check.finite "vMax" vMax
        Check.atLeast "atoms" 2 atoms
        if not (vMax > vMin) then
            raise (ArgumentOutOfRangeException("vMax", vMax, $"vMax must be greater than vMin = {vMin}"))
        let dz = (vMax - vMin) / float (atoms - 1)
        let z = Array.init atoms (fun i -> if i = atoms - 1 then float32 vMax else float32 (vMin + float i * dz))
        torch.tensor (z, device = device)

    [<CompiledName("Project")>]
    let project (rewards: Tensor) (discounts: Tensor) (nextProbs: Tensor) (support: Tensor) =
        let s = expectRank "nextProbs" nextProbs 2 "[batch; atoms]"
        let batch, atoms = s[0], s[1]
        expect "support" support [| atoms |]
        if atoms < 2L then invalidArg "support" $"support must have at least 2 atoms, got {atoms}"
        expect "rewards" rewards [| batch |]
        expect "discounts" discounts [| batch |]
        let z = support.data<float32> ()
        let vMin, vMax = float z[0], float z[z.Length - 1]
        if not (vMax > vMin) then
            invalidArg "support" $"support must run from its smallest atom to its largest, got first {vMin} and last {vMax}"
        let dz = (vMax - vMin) / float (atoms - 1L)
        use _ = torch.no_grad ()
        use scope = new DisposeScope()
        // Tz_j = clamp(r + discount z_j, vMin, vMax) [batch; N], in atom coordinates b_j = (Tz_j - vMin) / dz [batch; 1; N]
        let tz = (rewards.unsqueeze 1L + discounts.unsqueeze 1L * support.unsqueeze 0L).clamp(vMin, vMax)
        let b = ((tz - vMin) / dz).clamp(0.0, float (atoms - 1L)).unsqueeze 1L
        // atom index i as [1; N; 1]; weight of atom i for b_j: max(0, 1 - |b_j - i|)
        let i = torch.arange(atoms, DType.Float32, support.device).view (1L, atoms, 1L)
        let w = (1.0 - (b - i).abs ()).clamp (min = 0.0)
        // m_i = sum_j w_ij p_j
        (w * nextProbs.unsqueeze 1L).sum(2L).MoveToOuterScope()

    let private checkPair (logits: Tensor) (targetProbs: Tensor) =
        let s = expectRank "logits" logits 2 "[batch; atoms]"
        expect "targetProbs" targetProbs s

    [<CompiledName("CrossEntropy")>]
    let crossEntropy (logits: Tensor) (targetProbs: Tensor) =
        checkPair logits targetProbs
        use scope = new DisposeScope()
        (-(targetProbs.detach () * logits.log_softmax 1L).sum 1L).MoveToOuterScope()

    [<CompiledName("Loss")>]
    let loss (logits: Tensor) (targetProbs: Tensor) =
        checkPair logits targetProbs
        use scope = new DisposeScope()
        (crossEntropy logits targetProbs).mean().MoveToOuterScope()

    [<CompiledName("QValues")>]
    let qValues (probs: Tensor) (support: Tensor) =
        let s = expectRank "probs" probs 3 "[batch; actions; atoms]"
        expect "support" support [| s[2] |]
        use scope = new DisposeScope()
        (probs * support.view (1L, 1L, s[2])).sum(2L).MoveToOuterScope()
