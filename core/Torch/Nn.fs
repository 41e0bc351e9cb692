namespace Dqn.Fun.Torch.nn

open System
open Dqn.Fun.Torch
open Dqn.Fun.Torch.Native

/// How a loss reduces over elements.
type Reduction =
    | None = 0
    | Mean = 1
    | Sum = 2

/// Stateless functions (torch.nn.functional).
[<AbstractClass; Sealed>]
type functional =
    static member relu(x: Tensor) = x.relu ()

    /// y = x W^T + b. x: [*; in], weight: [out; in], bias: [out] or null.
    static member linear(x: Tensor, weight: Tensor, bias: Tensor) =
        Tensor.Of(check (Native.dqn_linear(x.Handle, weight.Handle, (if isNull bias then 0n else bias.Handle))))

    /// 2-d convolution. x: [batch; inC; h; w], weight: [outC; inC; kh; kw], bias: [outC] or null.
    static member conv2d(x: Tensor, weight: Tensor, bias: Tensor, stride: int, padding: int) =
        Tensor.Of(
            check (
                Native.dqn_conv2d(x.Handle, weight.Handle, (if isNull bias then 0n else bias.Handle), int64 stride, int64 stride, int64 padding, int64 padding)
            )
        )

    /// Mean (default) squared error.
    static member mse_loss(input: Tensor, target: Tensor, ?reduction: Reduction) =
        Tensor.Of(check (Native.dqn_loss(Loss.Mse, input.Handle, target.Handle, int (defaultArg reduction Reduction.Mean), 0.0)))

    /// Smooth-L1 loss with threshold beta (default 1): 0.5 d^2 / beta for |d| < beta, else |d| - 0.5 beta.
    static member smooth_l1_loss(input: Tensor, target: Tensor, ?reduction: Reduction, ?beta: float) =
        Tensor.Of(
            check (Native.dqn_loss(Loss.SmoothL1, input.Handle, target.Handle, int (defaultArg reduction Reduction.Mean), defaultArg beta 1.0))
        )

    /// Huber loss with threshold delta (default 1): 0.5 d^2 for |d| <= delta, else delta (|d| - 0.5 delta).
    /// With delta = 1 this is the "clipped error" of Mnih et al. 2015.
    static member huber_loss(input: Tensor, target: Tensor, ?reduction: Reduction, ?delta: float) =
        Tensor.Of(
            check (Native.dqn_loss(Loss.Huber, input.Handle, target.Handle, int (defaultArg reduction Reduction.Mean), defaultArg delta 1.0))
        )

/// Gradient utilities (torch.nn.utils).
[<AbstractClass; Sealed>]
type utils =
    /// Rescales the gradients of `parameters` in place so that their joint norm is at most `max_norm`;
    /// returns the norm before clipping (torch.nn.utils.clip_grad_norm_).
    static member clip_grad_norm_(parameters: seq<Tensor>, max_norm: float, ?norm_type: float) : float =
        let hs = parameters |> Seq.map (fun p -> p.Handle) |> Seq.toArray
        let mutable total = 0.0
        checkRc (Native.dqn_clip_grad_norm(hs, hs.Length, max_norm, defaultArg norm_type 2.0, &total))
        total

/// A network layer or a composition of layers. Owns its parameters (they belong to no DisposeScope) and
/// frees them on Dispose.
[<AbstractClass>]
type Module() =
    let mutable disposed = false

    /// Applies the module to a batch.
    abstract forward: Tensor -> Tensor

    /// Parameters with their state-dict names (PyTorch's: "weight", "0.bias", ...).
    abstract named_parameters: unit -> (string * Tensor) list

    member m.parameters() = m.named_parameters () |> List.map snd

    /// Copies every parameter from `source` (same architecture) in place, without recording gradients.
    /// Raises ArgumentException naming the first parameter whose name or shape differs.
    member m.load_parameters(source: (string * Tensor) list) =
        let mine = m.named_parameters ()
        if List.length mine <> List.length source then
            invalidArg "source" $"expected {List.length mine} parameters, got {List.length source}"
        for (n, p), (n', q) in List.zip mine source do
            if n <> n' || p.shape <> q.shape then
                invalidArg
                    "source"
                    $"""parameter '{n}' [{String.Join("; ", p.shape)}] does not match '{n'}' [{String.Join("; ", q.shape)}]"""
            p.copy_ q |> ignore

    abstract Dispose: unit -> unit

    default m.Dispose() =
        if not disposed then
            disposed <- true
            for _, p in m.named_parameters () do
                p.Dispose()

    interface IDisposable with
        member m.Dispose() = m.Dispose()

module internal Init =
    /// A parameter tensor outside every DisposeScope, drawn U(-bound, bound) from torch's generator.
    let uniformParameter (shape: int64[]) (bound: float) (device: Device) =
        let p = torch.zeros(shape, device = device).DetachFromDisposeScope()
        p.uniform_(-bound, bound) |> ignore
        p.requires_grad <- true
        p

    /// PyTorch's default weight bound: kaiming_uniform_(a = sqrt 5) gives gain * sqrt(3 / fan_in), which is
    /// 1/sqrt(fan_in) up to rounding; computed the same way so equal seeds give equal weights.
    let weightBound (fanIn: int64) =
        let a = sqrt 5.0
        let gain = sqrt (2.0 / (1.0 + a * a))
        sqrt 3.0 * (gain / sqrt (float fanIn))

    let biasBound (fanIn: int64) = 1.0 / sqrt (float fanIn)

    let positive (name: string) (v: int) =
        if v <= 0 then raise (ArgumentOutOfRangeException(name, v, $"{name} must be positive"))

/// y = x W^T + b (torch.nn.Linear), with PyTorch's default initialisation.
/// Input [*; inFeatures] -> output [*; outFeatures], Float32.
type Linear(inFeatures: int, outFeatures: int, ?hasBias: bool, ?device: Device) =
    inherit Module()
    do Init.positive "inFeatures" inFeatures
    do Init.positive "outFeatures" outFeatures
    let device = defaultArg device Device.CPU
    let w = Init.uniformParameter [| int64 outFeatures; int64 inFeatures |] (Init.weightBound (int64 inFeatures)) device
    let b =
        if defaultArg hasBias true then Init.uniformParameter [| int64 outFeatures |] (Init.biasBound (int64 inFeatures)) device
        else null
    /// [outFeatures; inFeatures]
    member _.weight = w
    /// [outFeatures], or null without bias
    member _.bias = b
    member _.in_features = inFeatures
    member _.out_features = outFeatures
    override _.forward x = functional.linear (x, w, b)
    override _.named_parameters() = [ "weight", w; if not (isNull b) then "bias", b ]

/// 2-d convolution (torch.nn.Conv2d), square kernel, PyTorch's default initialisation.
/// Input [batch; inChannels; h; w] -> [batch; outChannels; h'; w'], Float32.
type Conv2d(inChannels: int, outChannels: int, kernelSize: int, ?stride: int, ?padding: int, ?device: Device) =
    inherit Module()
    do Init.positive "inChannels" inChannels
    do Init.positive "outChannels" outChannels
    do Init.positive "kernelSize" kernelSize
    let stride = defaultArg stride 1
    let padding = defaultArg padding 0
    do Init.positive "stride" stride
    let device = defaultArg device Device.CPU
    let fanIn = int64 inChannels * int64 kernelSize * int64 kernelSize
    let w =
        Init.uniformParameter [| int64 outChannels; int64 inChannels; int64 kernelSize; int64 kernelSize |] (Init.weightBound fanIn) device
    let b = Init.uniformParameter [| int64 outChannels |] (Init.biasBound fanIn) device
    /// [outChannels; inChannels; kernelSize; kernelSize]
    member _.weight = w
    /// [outChannels]
    member _.bias = b
    override _.forward x = functional.conv2d (x, w, b, stride, padding)
    override _.named_parameters() = [ "weight", w; "bias", b ]

/// Elementwise max(0, x).
type ReLU() =
    inherit Module()
    override _.forward x = x.relu ()
    override _.named_parameters() = []

/// [batch; d1; d2; ...] -> [batch; d1*d2*...].
type Flatten() =
    inherit Module()
    override _.forward x = x.flatten ()
    override _.named_parameters() = []

/// Applies its modules in order; parameter names are prefixed with the module's index ("0.weight").
/// Intermediate tensors go to the current DisposeScope.
type Sequential(modules: Module list) =
    inherit Module()
    let layers = Array.ofList modules
    member _.modules = layers

    override _.forward x =
        let mutable y = x
        for m in layers do
            y <- m.forward y
        y

    override _.named_parameters() =
        [ for i in 0 .. layers.Length - 1 do
              for n, p in layers[i].named_parameters () do
                  $"{i}.{n}", p ]

    override _.Dispose() =
        for m in layers do
            m.Dispose()
