namespace Dqn.Fun.Torch

#nowarn "9" // fixed pointers into .NET arrays and spans for copies to native memory

open System
open System.Runtime.InteropServices
open Dqn.Fun.Torch.Native

/// Restores the previous gradient mode when disposed (see torch.no_grad).
[<Sealed>]
type NoGradGuard internal () =
    let previous = Native.dqn_set_grad_enabled 0
    let mutable restored = false

    interface IDisposable with
        member _.Dispose() =
            if not restored then
                restored <- true
                Native.dqn_set_grad_enabled previous |> ignore

/// Tensor creation and global settings, named as in PyTorch / TorchSharp.
[<AbstractClass; Sealed>]
type torch =
    static member private Shape(shape: int64[]) =
        if isNull shape then nullArg "shape"
        for d in shape do
            if d < 0L then invalidArg "shape" $"""shape [{String.Join("; ", shape)}] has a negative dimension"""
        shape

    /// A new tensor holding a copy of `data` (row-major) with the given shape, on `device` (default cpu).
    /// The element type follows 'T (float32 -> Float32, int64 -> Int64, byte -> UInt8, bool -> Bool,
    /// float -> Float64, int -> Int32).
    /// Raises ArgumentException when the shape's element count differs from data.Length.
    static member tensor<'T when 'T: unmanaged>(data: ReadOnlySpan<'T>, shape: int64[], ?device: Device) : Tensor =
        Native.ensure ()
        let shape = torch.Shape shape
        let n = Array.fold (*) 1L shape
        if n <> int64 data.Length then
            invalidArg "shape" $"""shape [{String.Join("; ", shape)}] holds {n} elements but the data has {data.Length}"""
        let d = defaultArg device Device.CPU
        let dt = Tensor.DTypeOf<'T>()
        use p = fixed &MemoryMarshal.GetReference data
        Tensor.Of(check (Native.dqn_tensor_from_data(NativeInterop.NativePtr.toNativeInt p, shape, shape.Length, int dt, int d.Type, d.Index)))

    /// A tensor of `dtype` whose elements are the little-endian bytes `data` (for deserialisation).
    static member internal FromBytes(data: ReadOnlySpan<byte>, shape: int64[], dtype: DType, device: Device) : Tensor =
        Native.ensure ()
        use p = fixed &MemoryMarshal.GetReference data
        Tensor.Of(check (Native.dqn_tensor_from_data(NativeInterop.NativePtr.toNativeInt p, shape, shape.Length, int dtype, int device.Type, device.Index)))

    /// A 1-d tensor (or one of `shape`) holding a copy of `data`.
    static member tensor(data: float32[], ?shape: int64[], ?device: Device) =
        torch.tensor<float32>(ReadOnlySpan data, defaultArg shape [| int64 data.Length |], ?device = device)
    static member tensor(data: float[], ?shape: int64[], ?device: Device) =
        torch.tensor<float>(ReadOnlySpan data, defaultArg shape [| int64 data.Length |], ?device = device)
    static member tensor(data: int64[], ?shape: int64[], ?device: Device) =
        torch.tensor<int64>(ReadOnlySpan data, defaultArg shape [| int64 data.Length |], ?device = device)
    static member tensor(data: int[], ?shape: int64[], ?device: Device) =
        torch.tensor<int>(ReadOnlySpan data, defaultArg shape [| int64 data.Length |], ?device = device)
    static member tensor(data: byte[], ?shape: int64[], ?device: Device) =
        torch.tensor<byte>(ReadOnlySpan data, defaultArg shape [| int64 data.Length |], ?device = device)
    static member tensor(data: bool[], ?shape: int64[], ?device: Device) =
        torch.tensor<bool>(ReadOnlySpan data, defaultArg shape [| int64 data.Length |], ?device = device)

    /// A tensor of `shape` filled with `value` (default dtype Float32, device cpu).
    static member full(shape: int64[], value: float, ?dtype: DType, ?device: Device) =
        Native.ensure ()
        let shape = torch.Shape shape
        let d = defaultArg device Device.CPU
        Tensor.Of(check (Native.dqn_full(shape, shape.Length, value, int (defaultArg dtype DType.Float32), int d.Type, d.Index)))

    static member zeros(shape: int64[], ?dtype: DType, ?device: Device) = torch.full(shape, 0.0, ?dtype = dtype, ?device = device)
    static member ones(shape: int64[], ?dtype: DType, ?device: Device) = torch.full(shape, 1.0, ?dtype = dtype, ?device = device)

    /// [0; 1; ...; n-1] (default dtype Int64).
    static member arange(n: int64, ?dtype: DType, ?device: Device) =
        Native.ensure ()
        let d = defaultArg device Device.CPU
        Tensor.Of(check (Native.dqn_arange(n, int (defaultArg dtype DType.Int64), int d.Type, d.Index)))

    /// Uniform samples in [0, 1) from torch's global generator (seeded by manual_seed).
    static member rand(shape: int64[], ?dtype: DType, ?device: Device) =
        Native.ensure ()
        let shape = torch.Shape shape
        let d = defaultArg device Device.CPU
        Tensor.Of(check (Native.dqn_rand(shape, shape.Length, int (defaultArg dtype DType.Float32), int d.Type, d.Index)))

    /// Standard normal samples from torch's global generator (seeded by manual_seed).
    static member randn(shape: int64[], ?dtype: DType, ?device: Device) =
        Native.ensure ()
        let shape = torch.Shape shape
        let d = defaultArg device Device.CPU
        Tensor.Of(check (Native.dqn_randn(shape, shape.Length, int (defaultArg dtype DType.Float32), int d.Type, d.Index)))

    static member private Handles(tensors: seq<Tensor>) =
        if isNull tensors then nullArg "tensors"
        let hs = tensors |> Seq.map (fun t -> t.Handle) |> Seq.toArray
        if hs.Length = 0 then invalidArg "tensors" "expected at least one tensor"
        hs

    /// Concatenates along an existing dimension.
    static member cat(tensors: seq<Tensor>, dim: int64) =
        let hs = torch.Handles tensors
        Tensor.Of(check (Native.dqn_cat(hs, hs.Length, dim)))

    /// Stacks along a new dimension.
    static member stack(tensors: seq<Tensor>, dim: int64) =
        let hs = torch.Handles tensors
        Tensor.Of(check (Native.dqn_stack(hs, hs.Length, dim)))

    /// Elementwise `condition ? a : b` (condition is Bool; broadcasting).
    static member where(condition: Tensor, a: Tensor, b: Tensor) =
        Tensor.Of(check (Native.dqn_where(condition.Handle, a.Handle, b.Handle)))

    /// Seeds torch's global CPU (and CUDA) generators.
    static member manual_seed(seed: int64) =
        Native.ensure ()
        checkRc (Native.dqn_manual_seed(uint64 seed))

    /// Sets libtorch's intra-op thread count (Debian's libtorch starts with 1).
    /// Raises ArgumentOutOfRangeException for n below 1.
    static member set_num_threads(n: int) =
        if n < 1 then raise (ArgumentOutOfRangeException("n", n, "thread count must be at least 1"))
        Native.ensure ()
        checkRc (Native.dqn_set_num_threads n)

    static member get_num_threads() =
        Native.ensure ()
        checkRc' (Native.dqn_get_num_threads ())

    static member cuda_device_count() =
        Native.ensure ()
        max 0 (Native.dqn_cuda_device_count ())

    static member cuda_is_available() = torch.cuda_device_count () > 0

    /// Device selection: the first CUDA GPU when libtorch was built with CUDA and sees one, else the CPU.
    static member cuda_if_available() = if torch.cuda_is_available () then Device.CUDA else Device.CPU

    /// The libtorch version the shim was compiled against, e.g. "1.13.1".
    static member version =
        Native.ensure ()
        Marshal.PtrToStringUTF8(Native.dqn_torch_version ())

    /// Disables gradient recording on this thread until the returned guard is disposed.
    static member no_grad() : IDisposable =
        Native.ensure ()
        new NoGradGuard()

    static member is_grad_enabled() =
        Native.ensure ()
        Native.dqn_grad_enabled () = 1
