namespace Dqn.Fun.Torch.nn

open System
open Dqn.Fun.Torch
open Dqn.Fun.Torch.Native

/// <summary>One step of a long short-term memory cell (Hochreiter and Schmidhuber 1997, with the forget gate of
/// Gers, Schmidhuber and Cummins 2000), as torch.nn.LSTMCell computes it:
/// <c>gates = x W_ih^T + b_ih + h W_hh^T + b_hh</c>, split in PyTorch's order into i, f, g, o (each [batch; hidden]);
/// <c>i = σ(.), f = σ(.), g = tanh(.), o = σ(.)</c>; <c>c' = f * c + i * g</c>; <c>h' = o * tanh(c')</c>.</summary>
/// <remarks>Parameters and their state-dict names are PyTorch's: weight_ih [4 hidden; input], weight_hh
/// [4 hidden; hidden], bias_ih [4 hidden], bias_hh [4 hidden], initialised U(-1/sqrt hidden, 1/sqrt hidden) in that
/// order, so a checkpoint loads into torch.nn.LSTMCell. Float32. Composed of differentiable libtorch ops (linear,
/// narrow, sigmoid, tanh, mul, add): gradients reach all four parameters through autograd; <c>sequence</c>
/// unrolls a whole sequence in one native call (at::lstm, same equations). Every intermediate tensor goes to the
/// current DisposeScope.</remarks>
type LSTMCell(inputSize: int, hiddenSize: int, ?device: Device) =
    inherit Module()
    do Init.positive "inputSize" inputSize
    do Init.positive "hiddenSize" hiddenSize
    let device = defaultArg device Device.CPU
    let bound = 1.0 / sqrt (float hiddenSize)
    let gates = 4L * int64 hiddenSize
    let wih = Init.uniformParameter [| gates; int64 inputSize |] bound device
    let whh = Init.uniformParameter [| gates; int64 hiddenSize |] bound device
    let bih = Init.uniformParameter [| gates |] bound device
    let bhh = Init.uniformParameter [| gates |] bound device

    let checkState (name: string) (batch: int64) (t: Tensor) =
        if not (isNull t) then
            let s = t.shape
            if s.Length <> 2 || s[0] <> batch || s[1] <> int64 hiddenSize then
                invalidArg name $"""{name} has shape [{String.Join("; ", s)}]; expected [{batch}; {hiddenSize}] (batch; hidden)"""

    /// [4 hidden; input]: the input weights of the gates i, f, g, o, stacked.
    member _.weight_ih = wih
    /// [4 hidden; hidden]: the recurrent weights of the gates i, f, g, o, stacked.
    member _.weight_hh = whh
    /// [4 hidden]
    member _.bias_ih = bih
    /// [4 hidden]
    member _.bias_hh = bhh
    member _.input_size = inputSize
    member _.hidden_size = hiddenSize

    /// <summary>x W_ih^T + b_ih for inputs of any leading shape ([*; input] -> [*; 4 hidden]): the input part of
    /// the gates, which a sequence can compute for all its steps in one call before stepping with <c>cell</c>.</summary>
    member _.input_projection(x: Tensor) = functional.linear (x, wih, bih)

    /// <summary>One step from a precomputed input projection (see input_projection).</summary>
    /// <param name="projected">[batch; 4 hidden] Float32, x W_ih^T + b_ih.</param>
    /// <param name="h">[batch; hidden] Float32, or null for zeros.</param>
    /// <param name="c">[batch; hidden] Float32, or null for zeros.</param>
    /// <returns>(h', c'), each [batch; hidden].</returns>
    /// <exception cref="System.ArgumentException">A state's shape is not [batch; hidden].</exception>
    member _.cell(projected: Tensor, h: Tensor, c: Tensor) : struct (Tensor * Tensor) =
        let batch = projected.shape[0]
        checkState "h" batch h
        checkState "c" batch c
        let g = if isNull h then projected + bhh else projected + functional.linear (h, whh, bhh)
        let hs = int64 hiddenSize
        let i = (g.narrow (1L, 0L, hs)).sigmoid ()
        let f = (g.narrow (1L, hs, hs)).sigmoid ()
        let cand = (g.narrow (1L, 2L * hs, hs)).tanh ()
        let o = (g.narrow (1L, 3L * hs, hs)).sigmoid ()
        let c' = if isNull c then i * cand else f * c + i * cand
        struct (o * c'.tanh (), c')

    /// <summary>One step, as torch.nn.LSTMCell(x, (h, c)).</summary>
    /// <param name="x">[batch; input] Float32.</param>
    /// <param name="h">[batch; hidden] Float32, or null for zeros.</param>
    /// <param name="c">[batch; hidden] Float32, or null for zeros.</param>
    /// <returns>(h', c'), each [batch; hidden].</returns>
    /// <exception cref="System.ArgumentException">x is not [batch; input], or a state is not [batch; hidden].</exception>
    member this.forward(x: Tensor, h: Tensor, c: Tensor) : struct (Tensor * Tensor) =
        let s = x.shape
        if s.Length <> 2 || s[1] <> int64 inputSize then
            invalidArg "x" $"""x has shape [{String.Join("; ", s)}]; expected [batch; {inputSize}]"""
        this.cell (this.input_projection x, h, c)

    /// <summary>Unrolls the cell over a batch-first sequence in one native call (libtorch's at::lstm, one layer,
    /// the same equations and parameters as <c>forward</c>; differentiable), as torch.nn.LSTM(batch_first=True)
    /// with this cell's parameters as its layer 0.</summary>
    /// <param name="x">[batch; seq; input] Float32, seq &gt;= 1.</param>
    /// <param name="h0">[batch; hidden], or null for zeros.</param>
    /// <param name="c0">[batch; hidden], or null for zeros.</param>
    /// <returns>(h at every step [batch; seq; hidden], h_seq [batch; hidden], c_seq [batch; hidden]).</returns>
    /// <exception cref="System.ArgumentException">x is not [batch; seq; input], or a state is not [batch; hidden].</exception>
    member _.sequence(x: Tensor, h0: Tensor, c0: Tensor) : struct (Tensor * Tensor * Tensor) =
        let s = x.shape
        if s.Length <> 3 || s[2] <> int64 inputSize || s[1] < 1L then
            invalidArg "x" $"""x has shape [{String.Join("; ", s)}]; expected [batch; seq >= 1; {inputSize}]"""
        checkState "h0" s[0] h0
        checkState "c0" s[0] c0
        let zeros () = torch.zeros ([| s[0]; int64 hiddenSize |], device = x.device)
        let h0 = if isNull h0 then zeros () else h0
        let c0 = if isNull c0 then zeros () else c0
        let mutable out = 0n
        let mutable hn = 0n
        let mutable cn = 0n
        checkRc (Native.dqn_lstm (x.Handle, h0.Handle, c0.Handle, wih.Handle, whh.Handle, bih.Handle, bhh.Handle, &out, &hn, &cn))
        struct (Tensor.Of out, Tensor.Of hn, Tensor.Of cn)

    /// h' of one step from the zero state: [batch; input] -> [batch; hidden].
    override this.forward x =
        let struct (h, _) = this.forward (x, null, null)
        h

    override _.named_parameters() = [ "weight_ih", wih; "weight_hh", whh; "bias_ih", bih; "bias_hh", bhh ]
