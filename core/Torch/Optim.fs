namespace Dqn.Fun.Torch.optim

open System
open System.Runtime.InteropServices
open Dqn.Fun.Torch
open Dqn.Fun.Torch.Native

type internal OptimizerHandle() =
    inherit SafeHandle(0n, true)

    static member Own(ptr: nativeint) =
        let h = new OptimizerHandle()
        h.SetHandle ptr
        h

    override h.IsInvalid = h.handle = 0n

    override h.ReleaseHandle() =
        Native.dqn_optimizer_dispose h.handle
        true

/// A libtorch optimizer (torch::optim) over a fixed list of parameters. Owns its native state;
/// the parameters stay owned by their module.
[<AbstractClass>]
type Optimizer internal (ptr: nativeint, parameters: Tensor list) =
    let handle = OptimizerHandle.Own ptr
    member internal _.H =
        if handle.IsClosed then raise (ObjectDisposedException "Optimizer")
        handle.DangerousGetHandle()
    member _.parameters = parameters
    /// Applies one update from the parameters' accumulated gradients.
    member o.step() = checkRc (Native.dqn_optimizer_step o.H)
    /// Clears the parameters' gradients.
    member o.zero_grad() = checkRc (Native.dqn_optimizer_zero_grad o.H)

    /// Sets the learning rate of every parameter group (for learning-rate schedules).
    member o.set_lr(lr: float) =
        if not (lr > 0.0 && Double.IsFinite lr) then raise (ArgumentOutOfRangeException("lr", lr, "learning rate must be positive and finite"))
        checkRc (Native.dqn_optimizer_set_lr(o.H, lr))

    member _.Dispose() = handle.Dispose()

    interface IDisposable with
        member o.Dispose() = o.Dispose()

module internal OptimArgs =
    let handles (parameters: seq<Tensor>) =
        if isNull parameters then nullArg "parameters"
        let ps = List.ofSeq parameters
        if ps.IsEmpty then invalidArg "parameters" "an optimizer needs at least one parameter"
        ps, ps |> List.map (fun p -> p.Handle) |> Array.ofList

    let check (name: string) (ok: bool) (value: float) (expected: string) =
        if not ok then raise (ArgumentOutOfRangeException(name, value, $"{name} must be {expected}"))

/// Adam (Kingma & Ba 2015), torch.optim.Adam's defaults: lr 1e-3, betas (0.9, 0.999), eps 1e-8.
type Adam private (ps: Tensor list, ptr: nativeint) =
    inherit Optimizer(ptr, ps)

    new(parameters: seq<Tensor>, ?lr: float, ?beta1: float, ?beta2: float, ?eps: float, ?weight_decay: float, ?amsgrad: bool) =
        let lr = defaultArg lr 1e-3
        let b1 = defaultArg beta1 0.9
        let b2 = defaultArg beta2 0.999
        let eps = defaultArg eps 1e-8
        let wd = defaultArg weight_decay 0.0
        OptimArgs.check "lr" (lr > 0.0 && Double.IsFinite lr) lr "positive and finite"
        OptimArgs.check "beta1" (b1 >= 0.0 && b1 < 1.0) b1 "in [0, 1)"
        OptimArgs.check "beta2" (b2 >= 0.0 && b2 < 1.0) b2 "in [0, 1)"
        OptimArgs.check "eps" (eps >= 0.0) eps "non-negative"
        OptimArgs.check "weight_decay" (wd >= 0.0) wd "non-negative"
        let ps, hs = OptimArgs.handles parameters
        new Adam(ps, check (Native.dqn_adam_new(hs, hs.Length, lr, b1, b2, eps, wd, (if defaultArg amsgrad false then 1 else 0))))

/// RMSprop (Tieleman & Hinton 2012) as torch.optim.RMSprop: lr 1e-2, alpha 0.99, eps 1e-8 (added
/// outside the square root), optional momentum and centering.
type RMSprop private (ps: Tensor list, ptr: nativeint) =
    inherit Optimizer(ptr, ps)

    new(parameters: seq<Tensor>, ?lr: float, ?alpha: float, ?eps: float, ?weight_decay: float, ?momentum: float, ?centered: bool) =
        let lr = defaultArg lr 1e-2
        let alpha = defaultArg alpha 0.99
        let eps = defaultArg eps 1e-8
        let wd = defaultArg weight_decay 0.0
        let momentum = defaultArg momentum 0.0
        OptimArgs.check "lr" (lr > 0.0 && Double.IsFinite lr) lr "positive and finite"
        OptimArgs.check "alpha" (alpha >= 0.0 && alpha < 1.0) alpha "in [0, 1)"
        OptimArgs.check "eps" (eps >= 0.0) eps "non-negative"
        OptimArgs.check "weight_decay" (wd >= 0.0) wd "non-negative"
        OptimArgs.check "momentum" (momentum >= 0.0) momentum "non-negative"
        let ps, hs = OptimArgs.handles parameters
        new RMSprop(ps, check (Native.dqn_rmsprop_new(hs, hs.Length, lr, alpha, eps, wd, momentum, (if defaultArg centered false then 1 else 0))))
