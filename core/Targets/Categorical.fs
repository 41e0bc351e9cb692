namespace Dqn.Fun

open System
open TorchSharp

[<RequireQualifiedAccess>]
module Categorical =

    let private expect (name: string) (t: Tensor) (shape: int64[]) = Tensors.expect name t ScalarType.Float32 shape

    let private expectRank (name: string) (t: Tensor) (rank: int) (text: string) =
        Tensors.expectRank name t ScalarType.Float32 rank text

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
        let z = Tensors.toArray<float32> support
        let vMin, vMax = float z[0], float z[z.Length - 1]
        if not (vMax > vMin) then
            invalidArg "support" $"support must run from its smallest atom to its largest, got first {vMin} and last {vMax}"
        let dz = (vMax - vMin) / float (atoms - 1L)
        use _ = torch.no_grad ()
        use scope = torch.NewDisposeScope()
        // Tz_j = clamp(r + discount z_j, vMin, vMax) [batch; N], in atom coordinates b_j = (Tz_j - vMin) / dz [batch; 1; N]
        let tz = (rewards.unsqueeze 1L + discounts.unsqueeze 1L * support.unsqueeze 0L).clamp(vMin.ToScalar(), vMax.ToScalar())
        let b = ((tz - vMin) / dz).clamp((0.0).ToScalar(), (float (atoms - 1L)).ToScalar()).unsqueeze 1L
        // atom index i as [1; N; 1]; weight of atom i for b_j: max(0, 1 - |b_j - i|)
        let i = torch.arange(atoms, dtype = ScalarType.Float32, device = support.device).view (1L, atoms, 1L)
        let w = (1.0 - (b - i).abs ()).clamp_min ((0.0).ToScalar())
        // m_i = sum_j w_ij p_j
        (w * nextProbs.unsqueeze 1L).sum(2L).MoveToOuterDisposeScope()

    let private checkPair (logits: Tensor) (targetProbs: Tensor) =
        let s = expectRank "logits" logits 2 "[batch; atoms]"
        expect "targetProbs" targetProbs s

    [<CompiledName("CrossEntropy")>]
    let crossEntropy (logits: Tensor) (targetProbs: Tensor) =
        checkPair logits targetProbs
        use scope = torch.NewDisposeScope()
        (-(targetProbs.detach () * logits.log_softmax 1L).sum 1L).MoveToOuterDisposeScope()

    [<CompiledName("Loss")>]
    let loss (logits: Tensor) (targetProbs: Tensor) =
        checkPair logits targetProbs
        use scope = torch.NewDisposeScope()
        (crossEntropy logits targetProbs).mean().MoveToOuterDisposeScope()

    [<CompiledName("QValues")>]
    let qValues (probs: Tensor) (support: Tensor) =
        let s = expectRank "probs" probs 3 "[batch; actions; atoms]"
        expect "support" support [| s[2] |]
        use scope = torch.NewDisposeScope()
        (probs * support.view (1L, 1L, s[2])).sum(2L).MoveToOuterDisposeScope()
