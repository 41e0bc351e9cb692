namespace Dqn.Fun

open System
open TorchSharp
open TorchSharp.Modules

/// <summary>The Deep Recurrent Q-Network of Hausknecht and Stone 2015 ("Deep Recurrent Q-Learning for Partially
/// Observable MDPs"): a torso, an LSTM over time, and a linear Q head. Here the torso is an MLP (Linear and ReLU
/// layers of widths `hidden`, none when empty) over observation vectors, where the paper has the Nature CNN.</summary>
/// <remarks>Input [batch; seq; observationSize] Float32 (a [batch; observationSize] batch is one step), output
/// Q [batch; seq; actions] (resp. [batch; actions]). Parameter names are those of a PyTorch module with children
/// <c>torso</c> (nn.Sequential), <c>lstm</c> (nn.LSTMCell: gates i, f, g, o in PyTorch's order, Hochreiter and
/// Schmidhuber 1997 with the forget gate of Gers et al. 2000) and <c>head</c> (nn.Linear): "torso.0.weight", ...,
/// "lstm.weight_ih", "lstm.weight_hh", "lstm.bias_ih", "lstm.bias_hh", "head.weight", "head.bias". Owns its
/// layers; every intermediate tensor is freed inside each call.</remarks>
[<Sealed>]
type DrqnNetwork(observationSize: int, hidden: int list, lstmHidden: int, actions: int, ?device: Device) as this =
    inherit torch.nn.Module<Tensor, Tensor>("DrqnNetwork")
    do
        if observationSize <= 0 then
            raise (ArgumentOutOfRangeException("observationSize", observationSize, "observationSize must be positive"))
        if lstmHidden <= 0 then raise (ArgumentOutOfRangeException("lstmHidden", lstmHidden, "lstmHidden must be positive"))
        if actions <= 0 then raise (ArgumentOutOfRangeException("actions", actions, "actions must be positive"))
    let device = defaultArg device torch.CPU
    let layers, features = QNetwork.mlpLayers observationSize hidden device
    let torso = torch.nn.Sequential(layers)
    let lstm = torch.nn.LSTMCell(int64 features, int64 lstmHidden, device = device)
    let head = torch.nn.Linear(int64 lstmHidden, int64 actions, device = device)
    do
        this.register_module ("torso", torso)
        this.register_module ("lstm", lstm)
        this.register_module ("head", head)

    /// One LSTM step; null states are zeros, made here: TorchSharp 0.107 hands libtorch an undefined state for a
    /// missing one, which libtorch 2.x's LSTMCell rejects ("hidden0 batch size 0").
    let step (x: Tensor) (h: Tensor) (c: Tensor) : struct (Tensor * Tensor) =
        let state =
            if isNull h then
                let zeros () = torch.zeros ([| x.shape[0]; int64 lstmHidden |], dtype = x.dtype, device = x.device)
                struct (zeros (), zeros ())
            else
                struct (h, c)
        let struct (h', c') = lstm.call (x, Nullable<struct (Tensor * Tensor)>(state))
        struct (h', c')

    /// Components are registered by name in the constructor.
    override _.RegisterComponents() = ()

    member _.ObservationSize = observationSize
    member _.Hidden = hidden
    member _.LstmHidden = lstmHidden
    member _.Actions = actions
    /// The LSTM cell (torch.nn.LSTMCell).
    member _.Lstm = lstm

    /// <summary>One step for a batch: Q [batch; actions] and the new state (h', c'), each [batch; lstmHidden].</summary>
    /// <param name="x">[batch; observationSize] Float32.</param>
    /// <param name="h">[batch; lstmHidden], or null for the zero state.</param>
    /// <param name="c">[batch; lstmHidden], or null for the zero state.</param>
    member _.Step(x: Tensor, h: Tensor, c: Tensor) : struct (Tensor * Tensor * Tensor) =
        use scope = torch.NewDisposeScope()
        let struct (h', c') = step (torso.call x) h c
        struct (head.call(h').MoveToOuterDisposeScope(), h'.MoveToOuterDisposeScope(), c'.MoveToOuterDisposeScope())

    /// <summary>Unrolls the LSTM over a sequence from (h0, c0): Q [batch; seq; actions] and the state after the
    /// last step. The torso runs once over all steps; the cell then steps through time.</summary>
    /// <param name="x">[batch; seq; observationSize] Float32.</param>
    /// <param name="h0">[batch; lstmHidden], or null for the zero state (c0 likewise).</param>
    /// <param name="resets">[batch; seq] Float32, or null: where 1.0, the state is zeroed before that step (an
    /// episode's first step, see SequenceBatch.Resets).</param>
    /// <exception cref="System.ArgumentException">x is not [batch; seq; observationSize], or resets is not [batch; seq].</exception>
    member _.Unroll(x: Tensor, h0: Tensor, c0: Tensor, resets: Tensor) : struct (Tensor * Tensor * Tensor) =
        let s = x.shape
        if s.Length <> 3 || s[2] <> int64 observationSize || s[1] < 1L then
            invalidArg "x" $"x has shape {Tensors.shapeText s}; expected [batch; seq >= 1; {observationSize}]"
        let b, len = s[0], s[1]
        if not (isNull resets) && resets.shape <> [| b; len |] then
            invalidArg "resets" $"resets has shape {Tensors.shapeText resets.shape}; expected [{b}; {len}]"
        use scope = torch.NewDisposeScope()
        let features = torso.call x
        let resetAt = if isNull resets then null else Tensors.toArray<float32> (resets.amax ([| 0L |]))
        let mutable h = h0
        let mutable c = c0
        let outputs = Array.zeroCreate<Tensor> (int len)
        for t in 0 .. int len - 1 do
            if not (isNull resetAt) && resetAt[t] <> 0.0f && not (isNull h) then
                let keep = 1.0 - resets.narrow(1L, int64 t, 1L)
                h <- h * keep
                c <- c * keep
            let struct (h', c') = step (features.select (1L, int64 t)) h c
            outputs[t] <- h'
            h <- h'
            c <- c'
        let hs = torch.stack (outputs, 1L)
        struct (head.call(hs).MoveToOuterDisposeScope(), h.MoveToOuterDisposeScope(), c.MoveToOuterDisposeScope())

    /// Q from the zero state: [batch; seq; observationSize] -> [batch; seq; actions], or one step
    /// [batch; observationSize] -> [batch; actions].
    override m.forward x =
        let struct (q, h, c) = if x.dim () = 2L then m.Step(x, null, null) else m.Unroll(x, null, null, null)
        h.Dispose()
        c.Dispose()
        q

/// <summary>The LSTM state (h, c) an acting agent carries through an episode, each float32[lstmHidden] on the host
/// (so it owns no native memory); zero (empty) after construction and Reset.</summary>
[<Sealed>]
type RecurrentState() =
    let mutable h: float32[] = null
    let mutable c: float32[] = null
    /// float32[lstmHidden], or null for the zero state.
    member _.H = h
    /// float32[lstmHidden], or null for the zero state.
    member _.C = c
    /// Whether the state is zero (no step since construction or the last Reset).
    member _.IsZero = isNull h
    /// The zero state: call at every episode start (Hausknecht and Stone 2015 start episodes from zero).
    member _.Reset() =
        h <- null
        c <- null
    /// Copies a new state [1; lstmHidden] (h, c) from tensors.
    member _.Set(h': Tensor, c': Tensor) =
        h <- Tensors.toArray<float32> h'
        c <- Tensors.toArray<float32> c'

/// DRQN acting (Hausknecht and Stone 2015).
[<RequireQualifiedAccess>]
module Drqn =

    /// <summary>argmax_a Q(history, a) for one observation (float32[observationSize]): steps the network from
    /// `state` and moves `state` on (whatever action is then taken, the observation enters the memory). Ties go
    /// to the lowest action. No gradient; frees every temporary tensor.</summary>
    [<CompiledName("GreedyAction")>]
    let greedyAction (network: DrqnNetwork) (device: Device) (state: RecurrentState) (observation: float32[]) : int =
        use _ = torch.no_grad ()
        use scope = torch.NewDisposeScope()
        let x = Tensors.ofArray observation [| 1L; int64 observation.Length |] device
        let stateTensor (a: float32[]) = if isNull a then null else Tensors.ofArray a [| 1L; int64 a.Length |] device
        let struct (q, h, c) = network.Step(x, stateTensor state.H, stateTensor state.C)
        state.Set(h, c)
        q.argmax().item<int64> () |> int
