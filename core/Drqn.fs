namespace Dqn.Fun

open System
open Dqn.Fun.Torch

/// <summary>The Deep Recurrent Q-Network of Hausknecht and Stone 2015 ("Deep Recurrent Q-Learning for Partially
/// Observable MDPs"): a torso, an LSTM over time, and a linear Q head. Here the torso is an MLP (Linear and ReLU
/// layers of widths `hidden`, none when empty) over observation vectors, where the paper has the Nature CNN.</summary>
/// <remarks>Input [batch; seq; observationSize] Float32 (a [batch; observationSize] batch is one step), output
/// Q [batch; seq; actions] (resp. [batch; actions]). Parameter names are those of a PyTorch module with children
/// <c>torso</c> (nn.Sequential), <c>lstm</c> (nn.LSTMCell) and <c>head</c> (nn.Linear): "torso.0.weight", ...,
/// "lstm.weight_ih", "lstm.weight_hh", "lstm.bias_ih", "lstm.bias_hh", "head.weight", "head.bias". Owns its
/// layers; intermediate tensors go to the current DisposeScope.</remarks>
[<Sealed>]
type DrqnNetwork(observationSize: int, hidden: int list, lstmHidden: int, actions: int, ?device: Device) =
    inherit nn.Module()
    do
        if observationSize <= 0 then
            raise (ArgumentOutOfRangeException("observationSize", observationSize, "observationSize must be positive"))
        if lstmHidden <= 0 then raise (ArgumentOutOfRangeException("lstmHidden", lstmHidden, "lstmHidden must be positive"))
        if actions <= 0 then raise (ArgumentOutOfRangeException("actions", actions, "actions must be positive"))
    let device = defaultArg device Device.CPU
    let widths = observationSize :: hidden
    let torso =
        new nn.Sequential(
            [ for i in 0 .. hidden.Length - 1 do
                  new nn.Linear(widths[i], widths[i + 1], device = device) :> nn.Module
                  new nn.ReLU() ]
        )
    let lstm = new nn.LSTMCell(List.last widths, lstmHidden, device)
    let head = new nn.Linear(lstmHidden, actions, device = device)

    member _.ObservationSize = observationSize
    member _.Hidden = hidden
    member _.LstmHidden = lstmHidden
    member _.Actions = actions
    member _.Lstm = lstm

    /// <summary>One step for a batch: Q [batch; actions] and the new state (h', c'), each [batch; lstmHidden].</summary>
    /// <param name="x">[batch; observationSize] Float32.</param>
    /// <param name="h">[batch; lstmHidden], or null for the zero state.</param>
    /// <param name="c">[batch; lstmHidden], or null for the zero state.</param>
    member _.Step(x: Tensor, h: Tensor, c: Tensor) : struct (Tensor * Tensor * Tensor) =
        let struct (h', c') = lstm.forward (torso.forward x, h, c)
        struct (head.forward h', h', c')

    /// <summary>Unrolls the LSTM over a sequence from (h0, c0): Q [batch; seq; actions] and the state after the
    /// last step. The torso runs once over all steps; the LSTM runs as one native call (LSTMCell.sequence) per
    /// stretch between columns where some row resets.</summary>
    /// <param name="x">[batch; seq; observationSize] Float32.</param>
    /// <param name="h0">[batch; lstmHidden], or null for the zero state (c0 likewise).</param>
    /// <param name="resets">[batch; seq] Float32, or null: where 1.0, the state is zeroed before that step (an
    /// episode's first step, see SequenceBatch.Resets).</param>
    /// <exception cref="System.ArgumentException">x is not [batch; seq; observationSize], or resets is not [batch; seq].</exception>
    member _.Unroll(x: Tensor, h0: Tensor, c0: Tensor, resets: Tensor) : struct (Tensor * Tensor * Tensor) =
        let s = x.shape
        if s.Length <> 3 || s[2] <> int64 observationSize || s[1] < 1L then
            invalidArg "x" $"""x has shape [{String.Join("; ", s)}]; expected [batch; seq >= 1; {observationSize}]"""
        let b, len = s[0], s[1]
        if not (isNull resets) && resets.shape <> [| b; len |] then
            invalidArg "resets" $"""resets has shape [{String.Join("; ", resets.shape)}]; expected [{b}; {len}]"""
        let features = torso.forward x
        // Segments between the columns where some row resets: each is one native LSTM call.
        let resetColumns =
            if isNull resets then [||]
            else resets.amax(0L).data<float32> () |> Array.indexed |> Array.filter (fun (_, v) -> v <> 0.0f) |> Array.map fst
        let bounds = Array.append (Array.filter (fun c -> c > 0) resetColumns) [| int len |]
        let mutable h = h0
        let mutable c = c0
        let mutable from = 0
        let outputs = ResizeArray<Tensor>()
        for until in bounds do
            if Array.contains from resetColumns && not (isNull h) then
                let keep = 1.0 - resets.narrow(1L, int64 from, 1L)
                h <- h * keep
                c <- c * keep
            let struct (o, h', c') = lstm.sequence (features.narrow (1L, int64 from, int64 (until - from)), h, c)
            outputs.Add o
            h <- h'
            c <- c'
            from <- until
        let hs = if outputs.Count = 1 then outputs[0] else torch.cat (outputs, 1L)
        struct (head.forward hs, h, c)

    /// Q from the zero state: [batch; seq; observationSize] -> [batch; seq; actions], or one step
    /// [batch; observationSize] -> [batch; actions].
    override this.forward x =
        if x.dim () = 2 then
            let struct (q, _, _) = this.Step(x, null, null)
            q
        else
            let struct (q, _, _) = this.Unroll(x, null, null, null)
            q

    override _.named_parameters() =
        [ for n, p in torso.named_parameters () -> $"torso.{n}", p
          for n, p in lstm.named_parameters () -> $"lstm.{n}", p
          for n, p in head.named_parameters () -> $"head.{n}", p ]

    override _.Dispose() =
        torso.Dispose()
        lstm.Dispose()
        head.Dispose()

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
        h <- h'.data<float32> ()
        c <- c'.data<float32> ()

/// DRQN acting (Hausknecht and Stone 2015).
[<RequireQualifiedAccess>]
module Drqn =

    /// <summary>argmax_a Q(history, a) for one observation (float32[observationSize]): steps the network from
    /// `state` and moves `state` on (whatever action is then taken, the observation enters the memory). Ties go
    /// to the lowest action. No gradient; frees every temporary tensor.</summary>
    [<CompiledName("GreedyAction")>]
    let greedyAction (network: DrqnNetwork) (device: Device) (state: RecurrentState) (observation: float32[]) : int =
        use _ = torch.no_grad ()
        use scope = new DisposeScope()
        let x = torch.tensor<float32> (ReadOnlySpan observation, [| 1L; int64 observation.Length |], device)
        let stateTensor (a: float32[]) =
            if isNull a then null else torch.tensor<float32> (ReadOnlySpan a, [| 1L; int64 a.Length |], device)
        let struct (q, h, c) = network.Step(x, stateTensor state.H, stateTensor state.C)
        state.Set(h, c)
        q.argmax().item<int64> () |> int
