namespace Dqn.Fun

open System
open TorchSharp

[<RequireQualifiedAccess>]
module Quantile =

    let private shapeText = Tensors.shapeText

    let private matrix (name: string) (t: Tensor) = Tensors.expectRank name t ScalarType.Float32 2 "[batch; quantiles]"

    [<CompiledName("Midpoints")>]
    let midpoints (count: int) (device: Device) =
        Check.positive "count" count
        let taus = Array.init count (fun i -> float32 (float (2 * i + 1) / float (2 * count)))
        torch.tensor (taus, device = device)

    let private checkKappa (kappa: float) =
        if not (kappa > 0.0 && not (Double.IsInfinity kappa)) then
            raise (ArgumentOutOfRangeException("kappa", kappa, "kappa must be positive and finite"))

    /// sum_i mean_j |tau_i - 1{u_ij < 0}| L_kappa(u_ij) / kappa; tau broadcastable to [batch; N; 1].
    let private pairwise (kappa: float) (tau: Tensor) (predicted: Tensor) (target: Tensor) =
        use scope = torch.NewDisposeScope()
        // u_ij = T theta_j - theta_i: [batch; N (i); N' (j)]
        let u = target.detach().unsqueeze 1L - predicted.unsqueeze 2L
        let a = u.abs ()
        let quadratic = a.clamp_max (kappa.ToScalar())
        let huber = 0.5 * quadratic * quadratic + kappa * (a - quadratic)
        let weight = (tau - (u.lt ((0.0).ToScalar())).to_type ScalarType.Float32).abs ()
        (weight * huber / kappa).mean([| 2L |]).sum(1L).MoveToOuterDisposeScope()

    [<CompiledName("HuberLosses")>]
    let huberLosses (kappa: float) (predicted: Tensor) (target: Tensor) =
        checkKappa kappa
        let p = matrix "predicted" predicted
        let t = matrix "target" target
        if p[0] <> t[0] then
            invalidArg "target" $"target must have predicted's batch size {p[0]}, got {shapeText t}"
        use scope = torch.NewDisposeScope()
        let tau = (midpoints (int p[1]) predicted.device).view (1L, p[1], 1L)
        (pairwise kappa tau predicted target).MoveToOuterDisposeScope()

    [<CompiledName("HuberLossesAt")>]
    let huberLossesAt (kappa: float) (taus: Tensor) (predicted: Tensor) (target: Tensor) =
        checkKappa kappa
        let p = matrix "predicted" predicted
        let t = matrix "target" target
        let q = matrix "taus" taus
        if p[0] <> t[0] then
            invalidArg "target" $"target must have predicted's batch size {p[0]}, got {shapeText t}"
        if q <> p then
            invalidArg "taus" $"taus must have predicted's shape {shapeText p}, got {shapeText q}"
        use scope = torch.NewDisposeScope()
        (pairwise kappa (taus.detach().unsqueeze 2L) predicted target).MoveToOuterDisposeScope()

    [<CompiledName("HuberLoss")>]
    let huberLoss (kappa: float) (predicted: Tensor) (target: Tensor) =
        use scope = torch.NewDisposeScope()
        (huberLosses kappa predicted target).mean().MoveToOuterDisposeScope()
