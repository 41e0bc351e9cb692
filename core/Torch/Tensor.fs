namespace Dqn.Fun.Torch

#nowarn "9" // fixed pointers into .NET arrays and spans for copies to and from native memory

open System
open System.Runtime.InteropServices
open System.Threading
open Dqn.Fun.Torch.Native

/// Element types. Values are c10::ScalarType codes, as the shim expects.
type DType =
    | UInt8 = 0
    | Int32 = 3
    | Int64 = 4
    | Float32 = 6
    | Float64 = 7
    | Bool = 11

/// Device kinds understood by the shim.
type DeviceType =
    | CPU = 0
    | CUDA = 1

/// A device: the CPU or one CUDA GPU.
[<Struct; CustomEquality; NoComparison>]
type Device =
    { Type: DeviceType
      Index: int }

    override d.ToString() =
        match d.Type with
        | DeviceType.CUDA -> $"cuda:{d.Index}"
        | _ -> "cpu"

    override d.Equals(o) =
        match o with
        | :? Device as e -> d.Type = e.Type && (d.Type = DeviceType.CPU || d.Index = e.Index)
        | _ -> false

    override d.GetHashCode() = int d.Type * 31 + (if d.Type = DeviceType.CPU then 0 else d.Index)

    static member CPU = { Type = DeviceType.CPU; Index = 0 }
    static member CUDA = { Type = DeviceType.CUDA; Index = 0 }

    /// Parses "cpu", "cuda" or "cuda:N"; raises ArgumentException for anything else.
    static member Parse(s: string) =
        match (if isNull s then "" else s.Trim().ToLowerInvariant()) with
        | "cpu" -> Device.CPU
        | "cuda" -> Device.CUDA
        | t when t.StartsWith "cuda:" && fst (Int32.TryParse(t.Substring 5)) ->
            { Type = DeviceType.CUDA; Index = int (t.Substring 5) }
        | _ -> invalidArg "device" $"device '{s}' is not one of cpu, cuda, cuda:N"

/// Owns one native tensor handle and frees it exactly once.
[<AllowNullLiteral>]
type internal TensorHandle() =
    inherit SafeHandle(0n, true)
    static let mutable live = 0L
    static let mutable finalized = 0L

    static member Own(ptr: nativeint) =
        let h = new TensorHandle()
        h.SetHandle ptr
        Interlocked.Increment(&live) |> ignore
        h

    member val DisposedExplicitly = false with get, set
    static member Live = Volatile.Read(&live)
    static member Finalized = Volatile.Read(&finalized)
    override h.IsInvalid = h.handle = 0n

    override h.ReleaseHandle() =
        Native.dqn_tensor_dispose h.handle
        Interlocked.Decrement(&live) |> ignore
        if not h.DisposedExplicitly then Interlocked.Increment(&finalized) |> ignore
        true

/// A libtorch tensor. Owns its native handle: call Dispose, or create it inside a DisposeScope, which
/// disposes it when the scope ends. A tensor left to the finalizer is counted in
/// <c>Tensor.FinalizedCount</c> (a leak, in Dqn.Fun's terms).
[<AllowNullLiteral>]
type Tensor private (handle: TensorHandle) =
    [<DefaultValue>] val mutable internal scope: DisposeScope

    /// Takes ownership of a handle the shim returned and registers the tensor in the current scope.
    static member internal Of(ptr: nativeint) =
        let t = new Tensor(TensorHandle.Own ptr)
        let s: DisposeScope = DisposeScope.Current
        if not (isNull s) then s.Register t
        t

    /// The raw handle; raises ObjectDisposedException once the tensor is disposed.
    member internal t.Handle =
        if handle.IsClosed then raise (ObjectDisposedException("Tensor", "the tensor was disposed (by Dispose or by the end of its DisposeScope)"))
        handle.DangerousGetHandle()

    member t.IsDisposed = handle.IsClosed

    /// Number of live native tensor handles in this process (for leak tests).
    static member LiveCount = TensorHandle.Live
    /// Number of tensor handles that were freed by the finalizer rather than by Dispose (leaks).
    static member FinalizedCount = TensorHandle.Finalized

    member t.Dispose() =
        if not handle.IsClosed then
            handle.DisposedExplicitly <- true
            handle.Dispose()

    interface IDisposable with
        member t.Dispose() = t.Dispose()

    // ---- metadata -----------------------------------------------------------------------------------
    member t.dim() = checkRc' (Native.dqn_tensor_ndim t.Handle)

    /// The sizes of each dimension, e.g. [|batch; actions|].
    member t.shape: int64[] =
        let h = t.Handle
        let n = Native.dqn_tensor_ndim h
        if n < 0 then checkRc n
        let s = Array.zeroCreate n
        checkRc (Native.dqn_tensor_shape(h, s))
        s

    member t.numel() = t.shape |> Array.fold (*) 1L
    member t.dtype: DType = enum (checkRc' (Native.dqn_tensor_dtype t.Handle))

    member t.device: Device =
        let mutable ty = 0
        let mutable ix = 0
        checkRc (Native.dqn_tensor_device(t.Handle, &ty, &ix))
        { Type = enum ty; Index = ix }

    member t.requires_grad
        with get () = checkRc' (Native.dqn_tensor_requires_grad t.Handle) = 1
        and set (v: bool) = checkRc (Native.dqn_tensor_set_requires_grad(t.Handle, (if v then 1 else 0)))

    /// The value of a one-element tensor, converted to 'T (float32, float, int64, int32 or bool).
    member t.item<'T>() : 'T =
        let h = t.Handle
        if typeof<'T> = typeof<int64> || typeof<'T> = typeof<int32> then
            let mutable v = 0L
            checkRc (Native.dqn_tensor_item_int64(h, &v))
            if typeof<'T> = typeof<int64> then unbox<'T> (box v) else unbox<'T> (box (int32 v))
        else
            let mutable v = 0.0
            checkRc (Native.dqn_tensor_item_double(h, &v))
            if typeof<'T> = typeof<float> then unbox<'T> (box v)
            elif typeof<'T> = typeof<float32> then unbox<'T> (box (float32 v))
            elif typeof<'T> = typeof<bool> then unbox<'T> (box (v <> 0.0))
            else invalidArg "T" $"item<{typeof<'T>.Name}>() is not supported; use float32, float, int64, int32 or bool"

    /// Copies the elements (row-major) into a new .NET array. 'T must match the dtype exactly
    /// (float32 for Float32, int64 for Int64, byte for UInt8, bool for Bool, float for Float64, int for Int32).
    member t.data<'T when 'T: unmanaged>() : 'T[] =
        let n = int (t.numel ())
        let a = Array.zeroCreate<'T> n
        t.CopyTo(a.AsSpan())
        a

    /// Copies the elements (row-major) into `destination`, which must hold exactly numel() elements of
    /// the tensor's dtype.
    member t.CopyTo<'T when 'T: unmanaged>(destination: Span<'T>) =
        let dt = Tensor.DTypeOf<'T>()
        use p = fixed &MemoryMarshal.GetReference destination
        let bytes = int64 destination.Length * int64 sizeof<'T>
        checkRc (Native.dqn_tensor_copy_to(t.Handle, NativeInterop.NativePtr.toNativeInt p, bytes, int dt))

    /// The raw little-endian bytes of the elements, row-major (for serialisation).
    member internal t.RawBytes() : byte[] =
        let dt = t.dtype
        let size = match dt with | DType.UInt8 | DType.Bool -> 1 | DType.Int32 | DType.Float32 -> 4 | _ -> 8
        let a = Array.zeroCreate<byte> (int (t.numel ()) * size)
        use p = fixed a
        checkRc (Native.dqn_tensor_copy_to(t.Handle, NativeInterop.NativePtr.toNativeInt p, int64 a.Length, int dt))
        a

    static member internal DTypeOf<'T>() : DType =
        let ty = typeof<'T>
        if ty = typeof<float32> then DType.Float32
        elif ty = typeof<int64> then DType.Int64
        elif ty = typeof<byte> then DType.UInt8
        elif ty = typeof<bool> then DType.Bool
        elif ty = typeof<float> then DType.Float64
        elif ty = typeof<int32> then DType.Int32
        else invalidArg "T" $"no tensor dtype for .NET type {ty.Name}"

    override t.ToString() =
        if handle.IsClosed then "Tensor(disposed)"
        else
            let s = String.Join(", ", t.shape)
            $"Tensor([{s}], {t.dtype}, {t.device})"

    // ---- ops (each returns a new tensor, registered in the current DisposeScope) ------------------------
    member private t.U(op: int) = Tensor.Of(check (Native.dqn_unary(op, t.Handle)))
    member t.neg() = t.U Unary.Neg
    member t.relu() = t.U Unary.Relu
    member t.abs() = t.U Unary.Abs
    member t.sign() = t.U Unary.Sign
    member t.exp() = t.U Unary.Exp
    member t.log() = t.U Unary.Log
    member t.sqrt() = t.U Unary.Sqrt
    member t.clone() = t.U Unary.Clone
    member t.contiguous() = t.U Unary.Contiguous
    member t.tanh() = t.U Unary.Tanh
    member t.sigmoid() = t.U Unary.Sigmoid
    member t.logical_not() = t.U Unary.LogicalNot
    /// Elementwise cosine (radians).
    member t.cos() = t.U Unary.Cos
    /// Flattens every dimension after the first: [b; d1; d2; ...] -> [b; d1*d2*...].
    member t.flatten() = t.U Unary.Flatten1
    member t.pow(exponent: float) = Tensor.Of(check (Native.dqn_pow_scalar(t.Handle, exponent)))
    member t.reshape([<ParamArray>] shape: int64[]) = Tensor.Of(check (Native.dqn_reshape(t.Handle, shape, shape.Length)))
    member t.view([<ParamArray>] shape: int64[]) = Tensor.Of(check (Native.dqn_view(t.Handle, shape, shape.Length)))
    member t.squeeze(dim: int64) = Tensor.Of(check (Native.dqn_squeeze(t.Handle, dim)))
    member t.unsqueeze(dim: int64) = Tensor.Of(check (Native.dqn_unsqueeze(t.Handle, dim)))
    member t.transpose(dim0: int64, dim1: int64) = Tensor.Of(check (Native.dqn_transpose(t.Handle, dim0, dim1)))
    member t.detach() = Tensor.Of(check (Native.dqn_detach t.Handle))
    /// The `length` elements of dimension `dim` from `start` (torch.narrow): a view sharing storage, with
    /// gradient. Raises TorchException when the range exceeds the dimension.
    member t.narrow(dim: int64, start: int64, length: int64) = Tensor.Of(check (Native.dqn_narrow(t.Handle, dim, start, length)))
    /// `chunks` equal views along `dim` (torch.chunk when the size divides evenly; raises ArgumentException
    /// otherwise), e.g. the four LSTM gates of [batch; 4 hidden].
    member t.chunk(chunks: int, dim: int64) : Tensor[] =
        if chunks <= 0 then raise (ArgumentOutOfRangeException("chunks", chunks, "chunks must be positive"))
        let size = t.shape[int (if dim < 0L then int64 (t.dim ()) + dim else dim)]
        if size % int64 chunks <> 0L then
            invalidArg "chunks" $"dimension {dim} has size {size}, which {chunks} chunks do not divide evenly"
        let n = size / int64 chunks
        Array.init chunks (fun k -> t.narrow (dim, int64 k * n, n))

    member t.``to``(dtype: DType) =
        let d = t.device
        Tensor.Of(check (Native.dqn_to(t.Handle, int dtype, int d.Type, d.Index)))

    member t.``to``(device: Device) = Tensor.Of(check (Native.dqn_to(t.Handle, int t.dtype, int device.Type, device.Index)))

    member t.clamp(?min: float, ?max: float) =
        Tensor.Of(
            check (
                Native.dqn_clamp(
                    t.Handle,
                    defaultArg min 0.0,
                    defaultArg max 0.0,
                    (if min.IsSome then 1 else 0),
                    (if max.IsSome then 1 else 0)
                )
            )
        )

    member private t.B(op: int, other: Tensor) = Tensor.Of(check (Native.dqn_binary(op, t.Handle, other.Handle)))
    member private t.S(op: int, s: float) = Tensor.Of(check (Native.dqn_binary_scalar(op, t.Handle, s)))
    member t.add(other: Tensor) = t.B(Binary.Add, other)
    member t.sub(other: Tensor) = t.B(Binary.Sub, other)
    member t.mul(other: Tensor) = t.B(Binary.Mul, other)
    member t.div(other: Tensor) = t.B(Binary.Div, other)
    member t.matmul(other: Tensor) = t.B(Binary.Matmul, other)
    member t.maximum(other: Tensor) = t.B(Binary.Maximum, other)
    member t.minimum(other: Tensor) = t.B(Binary.Minimum, other)
    member t.eq(other: Tensor) = t.B(Binary.Eq, other)
    member t.ne(other: Tensor) = t.B(Binary.Ne, other)
    member t.lt(other: Tensor) = t.B(Binary.Lt, other)
    member t.le(other: Tensor) = t.B(Binary.Le, other)
    member t.gt(other: Tensor) = t.B(Binary.Gt, other)
    member t.ge(other: Tensor) = t.B(Binary.Ge, other)
    member t.pow(other: Tensor) = t.B(Binary.Pow, other)
    member t.add(s: float) = t.S(Scalar.Add, s)
    member t.sub(s: float) = t.S(Scalar.Sub, s)
    member t.mul(s: float) = t.S(Scalar.Mul, s)
    member t.div(s: float) = t.S(Scalar.Div, s)
    member t.eq(s: float) = t.S(Scalar.Eq, s)
    member t.lt(s: float) = t.S(Scalar.Lt, s)
    member t.gt(s: float) = t.S(Scalar.Gt, s)
    member t.le(s: float) = t.S(Scalar.Le, s)
    member t.ge(s: float) = t.S(Scalar.Ge, s)

    static member (+)(a: Tensor, b: Tensor) = a.add b
    static member (-)(a: Tensor, b: Tensor) = a.sub b
    static member (*)(a: Tensor, b: Tensor) = a.mul b
    static member (/)(a: Tensor, b: Tensor) = a.div b
    static member (+)(a: Tensor, s: float) = a.add s
    static member (-)(a: Tensor, s: float) = a.sub s
    static member (*)(a: Tensor, s: float) = a.mul s
    static member (/)(a: Tensor, s: float) = a.div s
    static member (+)(s: float, a: Tensor) = a.add s
    static member (-)(s: float, a: Tensor) = a.S(Scalar.RSub, s)
    static member (*)(s: float, a: Tensor) = a.mul s
    static member (/)(s: float, a: Tensor) = a.S(Scalar.RDiv, s)
    static member (~-)(a: Tensor) = a.neg ()

    // ---- reductions and indexing ----------------------------------------------------------------------
    member private t.R(op: int) = Tensor.Of(check (Native.dqn_reduce_all(op, t.Handle)))
    member private t.D(op: int, dim: int64, keepdim: bool) =
        Tensor.Of(check (Native.dqn_reduce_dim(op, t.Handle, dim, (if keepdim then 1 else 0))))
    member t.sum() = t.R ReduceAll.Sum
    member t.mean() = t.R ReduceAll.Mean
    member t.max() = t.R ReduceAll.Max
    member t.min() = t.R ReduceAll.Min
    member t.argmax() = t.R ReduceAll.Argmax
    member t.sum(dim: int64, ?keepdim: bool) = t.D(DimOp.Sum, dim, defaultArg keepdim false)
    member t.mean(dim: int64, ?keepdim: bool) = t.D(DimOp.Mean, dim, defaultArg keepdim false)
    member t.argmax(dim: int64, ?keepdim: bool) = t.D(DimOp.Argmax, dim, defaultArg keepdim false)
    member t.argmin(dim: int64, ?keepdim: bool) = t.D(DimOp.Argmin, dim, defaultArg keepdim false)
    /// The maximum values along `dim` (PyTorch's amax): [b; n] -> [b] for dim 1.
    member t.amax(dim: int64, ?keepdim: bool) = t.D(DimOp.Amax, dim, defaultArg keepdim false)
    member t.softmax(dim: int64) = t.D(DimOp.Softmax, dim, false)
    member t.log_softmax(dim: int64) = t.D(DimOp.LogSoftmax, dim, false)
    member t.cumsum(dim: int64) = t.D(DimOp.Cumsum, dim, false)

    /// Maximum values and their int64 indices along `dim`.
    member t.max(dim: int64, ?keepdim: bool) : struct (Tensor * Tensor) =
        let mutable v = 0n
        let mutable i = 0n
        checkRc (Native.dqn_max_dim(t.Handle, dim, (if defaultArg keepdim false then 1 else 0), &v, &i))
        struct (Tensor.Of(v), Tensor.Of(i))

    /// out[i][j] = t[i][index[i][j]] for dim 1 (torch.gather); index is int64 with t's rank.
    member t.gather(dim: int64, index: Tensor) = Tensor.Of(check (Native.dqn_gather(t.Handle, dim, index.Handle)))
    member t.index_select(dim: int64, index: Tensor) = Tensor.Of(check (Native.dqn_index_select(t.Handle, dim, index.Handle)))

    // ---- in place -----------------------------------------------------------------------------------------
    /// Copies `src` into this tensor (no gradient recorded). Returns this tensor.
    member t.copy_(src: Tensor) = checkRc (Native.dqn_copy_(t.Handle, src.Handle)); t
    member t.uniform_(low: float, high: float) = checkRc (Native.dqn_uniform_(t.Handle, low, high)); t
    member t.normal_(mean: float, std: float) = checkRc (Native.dqn_normal_(t.Handle, mean, std)); t
    member t.fill_(value: float) = checkRc (Native.dqn_fill_(t.Handle, value)); t
    /// t <- t + weight * (end - t) (no gradient recorded); Polyak averaging with weight = tau.
    member t.lerp_(``end``: Tensor, weight: float) = checkRc (Native.dqn_lerp_(t.Handle, ``end``.Handle, weight)); t

    // ---- autograd ------------------------------------------------------------------------------------------
    /// Accumulates d(this)/d(leaf) into every leaf's grad; this must be a one-element tensor.
    member t.backward() = checkRc (Native.dqn_backward t.Handle)

    /// The accumulated gradient (a new handle sharing storage), or None if none was computed.
    member t.grad: Tensor option =
        let mutable g = 0n
        checkRc (Native.dqn_grad(t.Handle, &g))
        if g = 0n then None else Some(Tensor.Of(g))

    // ---- scopes ------------------------------------------------------------------------------------------
    /// Hands this tensor to the scope enclosing its current scope (or to the caller when there is none),
    /// so that it outlives the current scope. Returns this tensor.
    member t.MoveToOuterScope() =
        match t.scope with
        | null -> t
        | s ->
            t.scope <- null
            let outer: DisposeScope = s.Parent
            if not (isNull outer) then outer.Register t
            t

    /// Removes this tensor from every scope; the caller now owns it and must dispose it. Returns this tensor.
    member t.DetachFromDisposeScope() =
        t.scope <- null
        t

/// Frees every tensor created on this thread while it is the innermost scope, when it is disposed,
/// except those moved out with MoveToOuterScope or DetachFromDisposeScope. Scopes nest; dispose them in
/// reverse order of creation (a `use` binding does that).
and [<AllowNullLiteral>] DisposeScope() as this =
    [<ThreadStatic; DefaultValue>]
    static val mutable private current: DisposeScope
    let parent = DisposeScope.current
    let owned = ResizeArray<Tensor>()
    let mutable disposed = false
    do DisposeScope.current <- this

    /// The innermost scope on this thread, or null.
    static member Current = DisposeScope.current
    member _.Parent = parent

    member internal s.Register(t: Tensor) =
        t.scope <- s
        owned.Add t

    /// Number of tensors this scope will dispose.
    member _.Count = owned |> Seq.filter (fun t -> obj.ReferenceEquals(t.scope, this) && not t.IsDisposed) |> Seq.length

    member s.Dispose() =
        if not disposed then
            if not (obj.ReferenceEquals(DisposeScope.current, s)) then
                raise (InvalidOperationException "DisposeScope disposed out of order: an inner scope is still open")
            disposed <- true
            DisposeScope.current <- parent
            for i in owned.Count - 1 .. -1 .. 0 do
                let t: Tensor = owned[i]
                if obj.ReferenceEquals(t.scope, s) then
                    t.scope <- null
                    t.Dispose()
            owned.Clear()

    interface IDisposable with
        member s.Dispose() = s.Dispose()
