/// The one file that declares the native shim's entry points (core/native/dqnfun_native.h).
/// Everything here is internal; Tensor.fs and its neighbours give the typed surface.
module internal Dqn.Fun.Torch.Native

open System
open System.IO
open System.Runtime.InteropServices
open Dqn.Fun.Torch

[<Literal>]
let Lib = "dqnfun_native"

/// ABI version this assembly was written against; the shim's dqn_abi_version() must match.
[<Literal>]
let AbiVersion = 1

// ---- op codes shared with dqnfun_native.cpp ---------------------------------------------------------
module Unary =
    let [<Literal>] Neg = 0
    let [<Literal>] Relu = 1
    let [<Literal>] Abs = 2
    let [<Literal>] Sign = 3
    let [<Literal>] Exp = 4
    let [<Literal>] Log = 5
    let [<Literal>] Sqrt = 6
    let [<Literal>] Clone = 7
    let [<Literal>] Contiguous = 8
    let [<Literal>] Tanh = 9
    let [<Literal>] Sigmoid = 10
    let [<Literal>] LogicalNot = 11
    let [<Literal>] Flatten1 = 12
    let [<Literal>] Cos = 13

module Binary =
    let [<Literal>] Add = 0
    let [<Literal>] Sub = 1
    let [<Literal>] Mul = 2
    let [<Literal>] Div = 3
    let [<Literal>] Matmul = 4
    let [<Literal>] Maximum = 5
    let [<Literal>] Minimum = 6
    let [<Literal>] Eq = 7
    let [<Literal>] Ne = 8
    let [<Literal>] Lt = 9
    let [<Literal>] Le = 10
    let [<Literal>] Gt = 11
    let [<Literal>] Ge = 12
    let [<Literal>] Pow = 13

module Scalar =
    let [<Literal>] Add = 0
    let [<Literal>] Sub = 1
    let [<Literal>] Mul = 2
    let [<Literal>] Div = 3
    let [<Literal>] RSub = 4
    let [<Literal>] RDiv = 5
    let [<Literal>] Eq = 6
    let [<Literal>] Lt = 7
    let [<Literal>] Gt = 8
    let [<Literal>] Le = 9
    let [<Literal>] Ge = 10

module ReduceAll =
    let [<Literal>] Sum = 0
    let [<Literal>] Mean = 1
    let [<Literal>] Max = 2
    let [<Literal>] Min = 3
    let [<Literal>] Argmax = 4

module DimOp =
    let [<Literal>] Sum = 0
    let [<Literal>] Mean = 1
    let [<Literal>] Argmax = 2
    let [<Literal>] Argmin = 3
    let [<Literal>] Amax = 4
    let [<Literal>] Softmax = 5
    let [<Literal>] LogSoftmax = 6
    let [<Literal>] Cumsum = 7

module Loss =
    let [<Literal>] Mse = 0
    let [<Literal>] SmoothL1 = 1
    let [<Literal>] Huber = 2

// ---- entry points ------------------------------------------------------------------------------------
[<DllImport(Lib)>] extern int dqn_abi_version()
[<DllImport(Lib)>] extern nativeint dqn_last_error()
[<DllImport(Lib)>] extern nativeint dqn_torch_version()
[<DllImport(Lib)>] extern int dqn_set_num_threads(int n)
[<DllImport(Lib)>] extern int dqn_get_num_threads()
[<DllImport(Lib)>] extern int dqn_manual_seed(uint64 seed)
[<DllImport(Lib)>] extern int dqn_cuda_device_count()
[<DllImport(Lib)>] extern int dqn_grad_enabled()
[<DllImport(Lib)>] extern int dqn_set_grad_enabled(int enabled)

[<DllImport(Lib)>] extern void dqn_tensor_dispose(nativeint t)
[<DllImport(Lib)>] extern nativeint dqn_tensor_from_data(nativeint data, int64[] shape, int ndim, int dtype, int deviceType, int deviceIndex)
[<DllImport(Lib)>] extern int dqn_tensor_copy_to(nativeint t, nativeint dst, int64 nbytes, int dtype)
[<DllImport(Lib)>] extern int dqn_tensor_ndim(nativeint t)
[<DllImport(Lib)>] extern int dqn_tensor_shape(nativeint t, int64[] out)
[<DllImport(Lib)>] extern int dqn_tensor_dtype(nativeint t)
[<DllImport(Lib)>] extern int dqn_tensor_device(nativeint t, int& deviceType, int& deviceIndex)
[<DllImport(Lib)>] extern int dqn_tensor_requires_grad(nativeint t)
[<DllImport(Lib)>] extern int dqn_tensor_set_requires_grad(nativeint t, int requires)
[<DllImport(Lib)>] extern int dqn_tensor_item_double(nativeint t, double& out)
[<DllImport(Lib)>] extern int dqn_tensor_item_int64(nativeint t, int64& out)

[<DllImport(Lib)>] extern nativeint dqn_full(int64[] shape, int ndim, double value, int dtype, int deviceType, int deviceIndex)
[<DllImport(Lib)>] extern nativeint dqn_arange(int64 ``end``, int dtype, int deviceType, int deviceIndex)
[<DllImport(Lib)>] extern nativeint dqn_rand(int64[] shape, int ndim, int dtype, int deviceType, int deviceIndex)
[<DllImport(Lib)>] extern nativeint dqn_randn(int64[] shape, int ndim, int dtype, int deviceType, int deviceIndex)

[<DllImport(Lib)>] extern nativeint dqn_unary(int op, nativeint t)
[<DllImport(Lib)>] extern nativeint dqn_reshape(nativeint t, int64[] shape, int ndim)
[<DllImport(Lib)>] extern nativeint dqn_view(nativeint t, int64[] shape, int ndim)
[<DllImport(Lib)>] extern nativeint dqn_squeeze(nativeint t, int64 dim)
[<DllImport(Lib)>] extern nativeint dqn_unsqueeze(nativeint t, int64 dim)
[<DllImport(Lib)>] extern nativeint dqn_transpose(nativeint t, int64 dim0, int64 dim1)
[<DllImport(Lib)>] extern nativeint dqn_to(nativeint t, int dtype, int deviceType, int deviceIndex)
[<DllImport(Lib)>] extern nativeint dqn_clamp(nativeint t, double min, double max, int hasMin, int hasMax)
[<DllImport(Lib)>] extern nativeint dqn_pow_scalar(nativeint t, double exponent)
[<DllImport(Lib)>] extern nativeint dqn_narrow(nativeint t, int64 dim, int64 start, int64 length)

[<DllImport(Lib)>] extern nativeint dqn_binary(int op, nativeint a, nativeint b)
[<DllImport(Lib)>] extern nativeint dqn_binary_scalar(int op, nativeint a, double s)
[<DllImport(Lib)>] extern nativeint dqn_where(nativeint cond, nativeint a, nativeint b)

[<DllImport(Lib)>] extern nativeint dqn_linear(nativeint x, nativeint w, nativeint b)
[<DllImport(Lib)>] extern nativeint dqn_conv2d(nativeint x, nativeint w, nativeint b, int64 sh, int64 sw, int64 ph, int64 pw)
[<DllImport(Lib)>] extern nativeint dqn_loss(int kind, nativeint input, nativeint target, int reduction, double param)
[<DllImport(Lib)>] extern int dqn_lstm(nativeint x, nativeint h0, nativeint c0, nativeint wih, nativeint whh, nativeint bih, nativeint bhh, nativeint& out, nativeint& hN, nativeint& cN)

[<DllImport(Lib)>] extern nativeint dqn_reduce_all(int op, nativeint t)
[<DllImport(Lib)>] extern nativeint dqn_reduce_dim(int op, nativeint t, int64 dim, int keepdim)
[<DllImport(Lib)>] extern int dqn_max_dim(nativeint t, int64 dim, int keepdim, nativeint& values, nativeint& indices)
[<DllImport(Lib)>] extern nativeint dqn_gather(nativeint t, int64 dim, nativeint index)
[<DllImport(Lib)>] extern nativeint dqn_index_select(nativeint t, int64 dim, nativeint index)
[<DllImport(Lib)>] extern nativeint dqn_cat(nativeint[] ts, int n, int64 dim)
[<DllImport(Lib)>] extern nativeint dqn_stack(nativeint[] ts, int n, int64 dim)

[<DllImport(Lib)>] extern int dqn_copy_(nativeint dst, nativeint src)
[<DllImport(Lib)>] extern int dqn_uniform_(nativeint t, double low, double high)
[<DllImport(Lib)>] extern int dqn_normal_(nativeint t, double mean, double std)
[<DllImport(Lib)>] extern int dqn_fill_(nativeint t, double value)
[<DllImport(Lib)>] extern int dqn_lerp_(nativeint t, nativeint ``end``, double weight)

[<DllImport(Lib)>] extern int dqn_backward(nativeint t)
[<DllImport(Lib)>] extern int dqn_grad(nativeint t, nativeint& out)
[<DllImport(Lib)>] extern nativeint dqn_detach(nativeint t)
[<DllImport(Lib)>] extern int dqn_clip_grad_norm(nativeint[] ps, int n, double maxNorm, double normType, double& totalNorm)

[<DllImport(Lib)>] extern nativeint dqn_adam_new(nativeint[] ps, int n, double lr, double beta1, double beta2, double eps, double weightDecay, int amsgrad)
[<DllImport(Lib)>] extern nativeint dqn_rmsprop_new(nativeint[] ps, int n, double lr, double alpha, double eps, double weightDecay, double momentum, int centered)
[<DllImport(Lib)>] extern int dqn_optimizer_step(nativeint o)
[<DllImport(Lib)>] extern int dqn_optimizer_zero_grad(nativeint o)
[<DllImport(Lib)>] extern int dqn_optimizer_set_lr(nativeint o, double lr)
[<DllImport(Lib)>] extern void dqn_optimizer_dispose(nativeint o)

[<DllImport(Lib)>] extern int dqn_mlp_q_update(nativeint[] online, nativeint[] target, int nParams, nativeint adam, float32[] obs, float32[] nextObs, int64[] actions, float32[] rewards, float32[] discounts, int64 batch, int64 obsSize, int lossKind, int doubleDqn, double maxGradNorm, double& loss, double& meanQ)

let lastError () =
    let p = dqn_last_error ()
    if p = 0n then "unknown libtorch error" else Marshal.PtrToStringUTF8 p

/// A handle result: NULL means the shim caught an exception.
let inline check (p: nativeint) = if p = 0n then raise (TorchException(lastError ())) else p

/// A count or flag result: negative means the shim caught an exception.
let inline checkRc' (v: int) = if v < 0 then raise (TorchException(lastError ())) else v

/// A status result: non-zero means the shim caught an exception.
let inline checkRc (rc: int) = if rc <> 0 then raise (TorchException(lastError ()))

// ---- loading ------------------------------------------------------------------------------------------

/// The file name of the shim on this OS.
let libraryFileName =
    if OperatingSystem.IsWindows() then "dqnfun_native.dll"
    elif OperatingSystem.IsMacOS() then "libdqnfun_native.dylib"
    else "libdqnfun_native.so"

/// Where the shim is looked for, in order: $DQNFUN_NATIVE (the file, or a folder holding it), the
/// application's folder, and this assembly's folder.
let searchPaths () =
    [ match Environment.GetEnvironmentVariable "DQNFUN_NATIVE" with
      | null | "" -> ()
      | p when Directory.Exists p -> Path.Combine(p, libraryFileName)
      | p -> p
      Path.Combine(AppContext.BaseDirectory, libraryFileName)
      match Path.GetDirectoryName(typeof<TorchException>.Assembly.Location) with
      | null | "" -> ()
      | dir -> Path.Combine(dir, libraryFileName) ]
    |> List.distinct

/// Loads the shim from the first path that exists and loads; raises DllNotFoundException naming every
/// path tried, why each failed, and how to build the library.
let resolve (paths: string list) : nativeint =
    let failures = ResizeArray<string>()
    let rec go =
        function
        | [] ->
            let tried = String.Join("\n  ", failures)
            raise (
                DllNotFoundException(
                    $"Dqn.Fun's native library {libraryFileName} (the libtorch shim) could not be loaded. Tried:\n  {tried}\n"
                    + "Build it with `dotnet fsi build.fsx -t Native` (needs libtorch, cmake and g++), "
                    + "or set DQNFUN_NATIVE to the library's path."
                )
            )
        | (p: string) :: rest when not (File.Exists p) ->
            failures.Add($"{p}: no such file")
            go rest
        | p :: rest ->
            try
                NativeLibrary.Load p
            with e ->
                failures.Add($"{p}: {e.Message}")
                go rest
    go paths

let private loaded =
    lazy
        (NativeLibrary.SetDllImportResolver(
            typeof<TorchException>.Assembly,
            DllImportResolver(fun name _ _ -> if name = Lib then resolve (searchPaths ()) else 0n)
         )

         let v = dqn_abi_version ()
         if v <> AbiVersion then
             raise (
                 InvalidOperationException(
                     $"Dqn.Fun's native library has ABI version {v} but this assembly expects {AbiVersion}; "
                     + "rebuild it with `dotnet fsi build.fsx -t Native`."
                 )
             ))

/// Makes sure the shim is loaded and matches this assembly. Called by every entry point that can
/// make the first native call (tensor creation, global settings).
let ensure () = loaded.Force()
