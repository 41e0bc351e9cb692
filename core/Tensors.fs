namespace Dqn.Fun

#nowarn "9" // spans over the native memory of CPU tensors

open System
open System.Runtime.InteropServices
open TorchSharp

/// TorchSharp's types under their own short names, for signatures in F# (C# sees torch.Tensor and so on).
[<AutoOpen>]
module TorchTypes =
    /// TorchSharp's tensor (torch.Tensor).
    type Tensor = torch.Tensor
    /// TorchSharp's device (torch.Device).
    type Device = torch.Device
    /// TorchSharp's element types (torch.ScalarType).
    type ScalarType = torch.ScalarType

/// Loading TorchSharp's native library, with a message that says what is missing when it cannot load.
module internal TorchRuntime =

    /// What `ldd` says of a library, or "" when it cannot run.
    let private ldd (path: string) =
        try
            let info = Diagnostics.ProcessStartInfo("ldd", [ path ], RedirectStandardOutput = true, RedirectStandardError = true)
            use p = Diagnostics.Process.Start info
            let output = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd()
            p.WaitForExit()
            output
        with _ -> ""

    /// Why TorchSharp failed to load, when the cause is the known GLIBCXX_3.4.32 gap (TorchSharp 0.107.0 on Debian 12 /
    /// Ubuntu 22.04: the dynamic linker reports that version as not found), else None.
    let private glibcxxGap () =
        if not (OperatingSystem.IsLinux()) then None
        else
            let torchSharpDir = IO.Path.GetDirectoryName(typeof<torch.Tensor>.Assembly.Location)
            [ IO.Path.Combine(torchSharpDir, "runtimes", "linux-x64", "native", "libLibTorchSharp.so")
              IO.Path.Combine(torchSharpDir, "libLibTorchSharp.so") ]
            |> List.filter IO.File.Exists
            |> List.tryPick (fun lib ->
                let report = ldd lib
                if report.Contains "GLIBCXX_3.4.32' not found" then
                    Some(
                        $"TorchSharp cannot load: {lib} needs GLIBCXX_3.4.32 (GCC 13's libstdc++), which this system's libstdc++ lacks "
                        + "(Debian 12 and Ubuntu 22.04 stop at GLIBCXX_3.4.30). Build the application with Dqn.Fun's MSBuild targets "
                        + "(build/Dqn.Fun.TorchSharp.targets: every project in the Dqn.Fun repository imports them through "
                        + "Directory.Build.targets; a project elsewhere adds <Import Project=\"<Dqn.Fun>/build/Dqn.Fun.TorchSharp.targets\" />), "
                        + "which patch the output copy of libLibTorchSharp.so, or install a libstdc++ from GCC 13 or newer."
                    )
                else None)

    let private loaded =
        lazy
            (try
                torch.CPU |> ignore
             with
             | :? TypeInitializationException
             | :? NotSupportedException as e ->
                 match glibcxxGap () with
                 | Some message -> raise (PlatformNotSupportedException(message, e))
                 | None -> reraise ())

    /// Loads TorchSharp's native library once; raises PlatformNotSupportedException with the cause and the remedy when
    /// it is the GLIBCXX_3.4.32 gap, else TorchSharp's own exception.
    let ensure () = loaded.Force()

/// Devices by name, checked before anything is built on them.
[<RequireQualifiedAccess>]
module Devices =

    /// <summary>The device named "cpu", "cuda", "cuda:N" or "auto" (case-insensitive): <c>torch.CPU</c> for "cpu" (one
    /// shared instance, so configs compare equal), a CUDA device only when TorchSharp sees that GPU, and for "auto"
    /// the first CUDA GPU when there is one, else the CPU.</summary>
    /// <exception cref="T:System.ArgumentException">The name is none of those, or it names a CUDA device that this
    /// process cannot use (the message says how many GPUs TorchSharp sees, and that the TorchSharp-cpu package has
    /// no CUDA: reference TorchSharp-cuda-linux or TorchSharp-cuda-windows instead).</exception>
    /// <summary>The CPU (torch.CPU), once TorchSharp's native library has loaded.</summary>
    /// <exception cref="T:System.PlatformNotSupportedException">It cannot load because this system's libstdc++ lacks
    /// GLIBCXX_3.4.32 and the library was not patched by Dqn.Fun's MSBuild targets (the message says what to do).</exception>
    [<CompiledName("Cpu")>]
    let cpu () =
        TorchRuntime.ensure ()
        torch.CPU

    [<CompiledName("Parse")>]
    let rec parse (name: string) : Device =
        TorchRuntime.ensure ()
        let text = if isNull name then "" else name.Trim().ToLowerInvariant()
        let cuda (index: int) =
            let count = if torch.cuda.is_available () then torch.cuda.device_count () else 0
            if index >= count then
                let seen =
                    if count = 0 then
                        "this process sees no CUDA GPU (the TorchSharp-cpu package has no CUDA: reference TorchSharp-cuda-linux or TorchSharp-cuda-windows instead, on a machine with an NVIDIA driver)"
                    else $"this process sees {count} CUDA GPU(s), cuda:0 to cuda:{count - 1}"
                invalidArg "device" $"device '{name}' is not available: {seen}"
            torch.device (DeviceType.CUDA, index)
        match text with
        | "cpu" -> torch.CPU
        | "cuda" -> cuda 0
        | "auto" -> if torch.cuda.is_available () then cuda 0 else torch.CPU
        | t when t.StartsWith "cuda:" ->
            match Int32.TryParse(t.Substring 5) with
            | true, i when i >= 0 -> cuda i
            | _ -> invalidArg "device" $"device '{name}' is not one of cpu, cuda, cuda:N, auto"
        | _ -> invalidArg "device" $"device '{name}' is not one of cpu, cuda, cuda:N, auto"

    /// <summary>A device name checked for its form only (not whether the GPU is there) and normalised: "cpu",
    /// "cuda:N" ("cuda" is "cuda:0") or "auto".</summary>
    /// <exception cref="T:System.ArgumentException">The name is none of cpu, cuda, cuda:N, auto.</exception>
    [<CompiledName("Normalize")>]
    let normalize (name: string) : string =
        let text = if isNull name then "" else name.Trim().ToLowerInvariant()
        match text with
        | "cpu" | "auto" -> text
        | "cuda" -> "cuda:0"
        | t when t.StartsWith "cuda:" && (match Int32.TryParse(t.Substring 5) with | true, i -> i >= 0 | _ -> false) -> $"cuda:{int (t.Substring 5)}"
        | _ -> invalidArg "device" $"device '{name}' is not one of cpu, cuda, cuda:N, auto"

    /// The name `parse` reads back: "cpu" or "cuda:N".
    [<CompiledName("Name")>]
    let name (device: Device) =
        match device.``type`` with
        | DeviceType.CPU -> "cpu"
        | DeviceType.CUDA -> $"cuda:{max 0 device.index}"
        | t -> $"{t}:{device.index}".ToLowerInvariant()

    /// Whether two devices are the same one (TorchSharp's Device compares by reference).
    [<CompiledName("Same")>]
    let same (a: Device) (b: Device) =
        a.``type`` = b.``type`` && (a.``type`` = DeviceType.CPU || max 0 a.index = max 0 b.index)

/// Small conversions between .NET arrays and TorchSharp tensors, shared by the library.
module Tensors =

    /// "[2; 3]"
    let shapeText (shape: int64[]) = "[" + String.Join("; ", shape) + "]"

    /// Raises ArgumentException unless `t` is a `dtype` tensor of exactly `shape`; the message gives the
    /// expected and received dtype and shape.
    let expect (name: string) (t: Tensor) (dtype: ScalarType) (shape: int64[]) =
        if isNull t then nullArg name
        let actual = t.shape
        if actual <> shape || t.dtype <> dtype then
            invalidArg name $"{name} must be {dtype} {shapeText shape}, got {t.dtype} {shapeText actual}"

    /// Raises ArgumentException unless `t` is a `dtype` tensor of rank `rank` (`text` describes the expected
    /// shape, e.g. "[batch; atoms]"); returns its shape.
    let expectRank (name: string) (t: Tensor) (dtype: ScalarType) (rank: int) (text: string) =
        if isNull t then nullArg name
        let s = t.shape
        if s.Length <> rank || t.dtype <> dtype then
            invalidArg name $"{name} must be {dtype} {text}, got {t.dtype} {shapeText s}"
        s

    let private scalarTypeOf<'T> () =
        let t = typeof<'T>
        if t = typeof<float32> then ScalarType.Float32
        elif t = typeof<int64> then ScalarType.Int64
        elif t = typeof<byte> then ScalarType.Byte
        elif t = typeof<bool> then ScalarType.Bool
        elif t = typeof<float> then ScalarType.Float64
        elif t = typeof<int> then ScalarType.Int32
        else invalidArg "T" $"no tensor dtype for .NET type {t.Name}"

    /// A new CPU tensor of `shape` holding a copy of `data` (row-major), then moved to `device`. The dtype
    /// follows 'T (float32, int64, byte, bool, float, int). The tensor goes to the current DisposeScope.
    /// Raises ArgumentException when the shape's element count differs from data.Length.
    let ofSpan<'T when 'T: unmanaged and 'T: (new: unit -> 'T) and 'T: struct and 'T :> ValueType>
        (data: ReadOnlySpan<'T>)
        (shape: int64[])
        (device: Device)
        : Tensor =
        let n = Array.fold (*) 1L shape
        if n <> int64 data.Length then
            invalidArg "shape" $"shape {shapeText shape} holds {n} elements but the data has {data.Length}"
        let t = torch.empty (shape, dtype = scalarTypeOf<'T> ())
        if n > 0L then MemoryMarshal.AsBytes(data).CopyTo(t.bytes)
        if device.``type`` = DeviceType.CPU then t
        else
            use _ = t
            t.``to`` device

    /// ofSpan over a whole array.
    let ofArray<'T when 'T: unmanaged and 'T: (new: unit -> 'T) and 'T: struct and 'T :> ValueType>
        (data: 'T[])
        (shape: int64[])
        (device: Device)
        =
        ofSpan (ReadOnlySpan data) shape device

    /// The elements of a CPU float32/int64/... tensor's memory as a span of 'T (no copy). The tensor must be
    /// contiguous and on the CPU; the span is valid while the tensor lives.
    let span<'T when 'T: unmanaged and 'T: (new: unit -> 'T) and 'T: struct and 'T :> ValueType> (t: Tensor) : Span<'T> =
        MemoryMarshal.Cast<byte, 'T>(t.bytes)

    /// Copies a tensor's elements (row-major) into `destination`, whose length must be its element count
    /// and whose element type must match its dtype. Works for any device and layout.
    let copyTo<'T when 'T: unmanaged and 'T: (new: unit -> 'T) and 'T: struct and 'T :> ValueType> (t: Tensor) (destination: Span<'T>) =
        let expected = scalarTypeOf<'T> ()
        if t.dtype <> expected then
            invalidArg "destination" $"a {t.dtype} tensor read into {typeof<'T>.Name} elements (expected {expected})"
        if t.numel () <> int64 destination.Length then
            invalidArg "destination" $"the tensor has {t.numel ()} elements, the destination {destination.Length}"
        if t.device_type = DeviceType.CPU && t.is_contiguous () then
            (span<'T> t).CopyTo destination
        else
            // detach, cpu and contiguous each make a tensor: the scope frees all three.
            use scope = torch.NewDisposeScope()
            (span<'T> (t.detach().cpu().contiguous ())).CopyTo destination

    /// A new array with a tensor's elements (row-major).
    let toArray<'T when 'T: unmanaged and 'T: (new: unit -> 'T) and 'T: struct and 'T :> ValueType> (t: Tensor) : 'T[] =
        let a = Array.zeroCreate<'T> (int (t.numel ()))
        copyTo t (Span a)
        a
