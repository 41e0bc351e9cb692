namespace Dqn.Fun

open System
open Dqn.Fun.Torch

[<RequireQualifiedAccess>]
module Quantile =

    let private shapeText (s: int64[]) = "[" + String.Join("; ", s) + "]"

    let private matrix (name: string) (t: Tensor) =
        if isNull t then nullArg name
        let s = t.shape
        if s.Length <> 2 || t.dtype <> DType.Float32 then
            invalidArg name $"{name} must be Float32 [batch; quantiles], got {t.dtype} {shapeText s}"
        s

    [<CompiledName("Midpoints")>]
    let midpoints (count: int) (device: Device) =
        Check.positive "count" count
        let taus = Array.init count (fun i -> float32 (float (2 * i + 1) / float (2 * count)))
        torch.tensor (taus, device = device)

    [<CompiledName("HuberLosses")>]
    let huberLosses (kappa: float) (predicted: Tensor) (target: Tensor) =
        if not (kappa > 0.0 && not (Double.IsInfinity kappa)) then
            raise (ArgumentOutOfRangeException("kappa", kappa, "kappa must be positive and finite"))
        let p = matrix "predicted" predicted
        let t = matrix "target" target
        if p[0] <> t[0] then
            invalidArg "target" $"target must have predicted's batch size {p[0]}, got {shapeText t}"
        let n = int p[1]
        use scope = new DisposeScope()
        let tau = (midpoints n predicted.device).view (1L, int64 n, 1L)
        // u_ij = T theta_j - theta_i: [batch; N (i); N' (j)]
        let u = target.detach().unsqueeze 1L - predicted.unsqueeze 2L
        let a = u.abs ()
        let quadratic = a.clamp (max = kappa)
        let huber = 0.5 * quadratic * quadratic + kappa * (a - quadratic)
        let weight = (tau - (u.lt 0.0).``to`` DType.Float32).abs ()
        (weight * huber / kappa).mean(2L).sum(1L).MoveToOuterScope()

    [<CompiledName("HuberLoss")>]
    let huberLoss (kappa: float) (predicted: Tensor) (target: Tensor) =
        use scope = new DisposeScope()
        (huberLosses kappa predicted target).mean().MoveToOuterScope()
