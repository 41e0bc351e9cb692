namespace Dqn.Fun

open System
open System.Buffers.Binary
open System.IO
open System.Text
open System.Text.Json
open TorchSharp

/// The contents of a .safetensors file: named tensors (in file order) and string metadata.
type SafetensorsFile =
    { Tensors: (string * Tensor) list
      Metadata: Map<string, string> }

/// Reads and writes the safetensors format (Hugging Face, https://github.com/huggingface/safetensors):
/// an 8-byte little-endian header length N, N bytes of JSON header
/// `{"__metadata__": {...}, "name": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, ...}`
/// (offsets relative to the data section), then the raw little-endian, row-major tensor data.
/// Files written here load with Python's `safetensors.torch.load_file`.
[<RequireQualifiedAccess>]
module Safetensors =
    let private dtypeName =
        function
        | ScalarType.Float32 -> "F32"
        | ScalarType.Float64 -> "F64"
        | ScalarType.Int64 -> "I64"
        | ScalarType.Int32 -> "I32"
        | ScalarType.Byte -> "U8"
        | ScalarType.Bool -> "BOOL"
        | d -> invalidArg "dtype" $"dtype {d} has no safetensors name"

    let private dtypeOfName (path: string) (name: string) =
        function
        | "F32" -> ScalarType.Float32, 4
        | "F64" -> ScalarType.Float64, 8
        | "I64" -> ScalarType.Int64, 8
        | "I32" -> ScalarType.Int32, 4
        | "U8" -> ScalarType.Byte, 1
        | "BOOL" -> ScalarType.Bool, 1
        | other -> raise (InvalidDataException($"{path}: tensor '{name}' has unsupported dtype '{other}'"))

    /// The raw little-endian bytes of a tensor's elements, row-major (a CPU copy for other devices or layouts).
    let private rawBytes (t: Tensor) : byte[] =
        if isNull t then nullArg "tensors"
        if t.device_type = DeviceType.CPU && t.is_contiguous () then
            t.bytes.ToArray()
        else
            // detach, cpu and contiguous each make a tensor: the scope frees all three.
            use scope = torch.NewDisposeScope()
            t.detach().cpu().contiguous().bytes.ToArray()

    /// A new tensor of `dtype` and `shape` on `device` whose elements are the little-endian bytes `data`.
    let private ofBytes (data: ReadOnlySpan<byte>) (shape: int64[]) (dtype: ScalarType) (device: Device) : Tensor =
        let t = torch.empty (shape, dtype = dtype)
        if data.Length > 0 then data.CopyTo(t.bytes)
        if device.``type`` = DeviceType.CPU then t
        else
            use _ = t
            t.``to`` device

    /// Larger headers are refused as malformed (the reference implementation's limit).
    let maxHeaderBytes = 100_000_000L

    /// Serialises `tensors` (names must be unique and not "__metadata__") with `metadata` into bytes.
    let serialize (tensors: (string * Tensor) list) (metadata: Map<string, string>) : byte[] =
        if not BitConverter.IsLittleEndian then
            raise (PlatformNotSupportedException "safetensors writing needs a little-endian machine")
        let names = tensors |> List.map fst
        match names |> List.countBy id |> List.tryFind (fun (_, c) -> c > 1) with
        | Some(n, _) -> invalidArg "tensors" $"tensor name '{n}' appears more than once"
        | None -> ()
        if List.contains "__metadata__" names then invalidArg "tensors" "'__metadata__' is reserved"
        let payloads = tensors |> List.map (fun (_, t) -> rawBytes t)
        use header = new MemoryStream()
        (use w = new Utf8JsonWriter(header)
         w.WriteStartObject()
         if not metadata.IsEmpty then
             w.WriteStartObject "__metadata__"
             for KeyValue(k, v) in metadata do
                 w.WriteString(k, v)
             w.WriteEndObject()
         let mutable offset = 0L
         for (name, t), bytes in List.zip tensors payloads do
             w.WriteStartObject name
             w.WriteString("dtype", dtypeName t.dtype)
             w.WriteStartArray "shape"
             for d in t.shape do
                 w.WriteNumberValue d
             w.WriteEndArray()
             w.WriteStartArray "data_offsets"
             w.WriteNumberValue offset
             w.WriteNumberValue(offset + int64 bytes.Length)
             w.WriteEndArray()
             w.WriteEndObject()
             offset <- offset + int64 bytes.Length
         w.WriteEndObject())
        // Pad the header with spaces to a multiple of 8 bytes, as the reference writer does.
        let json = header.ToArray()
        let padded = (json.Length + 7) / 8 * 8
        let total = 8 + padded + (payloads |> List.sumBy Array.length)
        let out = Array.zeroCreate<byte> total
        BinaryPrimitives.WriteUInt64LittleEndian(out.AsSpan(0, 8), uint64 padded)
        json.CopyTo(out, 8)
        out.AsSpan(8 + json.Length, padded - json.Length).Fill(byte ' ')
        let mutable at = 8 + padded
        for p in payloads do
            p.CopyTo(out, at)
            at <- at + p.Length
        out

    /// The temporary file `save` writes `full` through: ".<name>.<guid>.tmp" beside it.
    let private temporaryFile (full: string) =
        Path.Combine(Path.GetDirectoryName full, $".{Path.GetFileName full}.{Guid.NewGuid():N}.tmp")

    /// Removes what a killed `save` of `full` left behind (its ".<name>.*.tmp" files); best effort.
    let internal removeLeftovers (full: string) =
        let dir = Path.GetDirectoryName full
        if Directory.Exists dir then
            for f in Directory.EnumerateFiles(dir, $".{Path.GetFileName full}.*.tmp") do
                try
                    File.Delete f
                with
                | :? IOException
                | :? UnauthorizedAccessException -> ()

    /// Writes the file atomically: to a temporary file beside `path`, flushed to disk, then renamed over it, so an
    /// existing file is never left half-written (a process killed mid-save leaves the previous file whole). The
    /// temporary files of saves killed before are removed first.
    let save (path: string) (tensors: (string * Tensor) list) (metadata: Map<string, string>) =
        if String.IsNullOrWhiteSpace path then invalidArg "path" "path must not be empty"
        let bytes = serialize tensors metadata
        let full = Path.GetFullPath path
        let dir = Path.GetDirectoryName full
        Directory.CreateDirectory dir |> ignore
        removeLeftovers full
        let tmp = temporaryFile full
        try
            (use fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write)
             fs.Write(bytes, 0, bytes.Length)
             fs.Flush(true))
            File.Move(tmp, full, true)
        with _ ->
            if File.Exists tmp then File.Delete tmp
            reraise ()

    /// Parses safetensors bytes into tensors on `device`. `source` names the data in error messages.
    /// Raises InvalidDataException for a malformed file: short or oversized header, header not a JSON
    /// object, missing or ill-typed dtype/shape/data_offsets, offsets that are not contiguous or overrun
    /// the data, or a shape whose size does not match its byte range.
    let deserialize (source: string) (bytes: ReadOnlySpan<byte>) (device: Device) : SafetensorsFile =
        let bad (msg: string) : 'a = raise (InvalidDataException($"{source}: not a valid safetensors file: {msg}"))
        if bytes.Length < 8 then bad $"it has {bytes.Length} bytes, fewer than the 8-byte header length"
        let n = BinaryPrimitives.ReadUInt64LittleEndian(bytes.Slice(0, 8))
        if n > uint64 maxHeaderBytes then bad $"the header length {n} exceeds {maxHeaderBytes}"
        if n > uint64 (bytes.Length - 8) then bad $"the header length {n} overruns the file ({bytes.Length} bytes)"
        let headerBytes = bytes.Slice(8, int n)
        if headerBytes.Length = 0 || headerBytes[0] <> byte '{' then bad "the header does not start with '{'"
        let data = bytes.Slice(8 + int n)
        let doc =
            try
                JsonDocument.Parse(Encoding.UTF8.GetString headerBytes)
            with :? JsonException as e ->
                bad $"the header is not valid JSON ({e.Message})"
        use doc = doc
        let root = doc.RootElement
        if root.ValueKind <> JsonValueKind.Object then bad "the header is not a JSON object"
        let mutable metadata = Map.empty
        let entries = ResizeArray()
        for p in root.EnumerateObject() do
            if p.Name = "__metadata__" then
                if p.Value.ValueKind <> JsonValueKind.Object then bad "__metadata__ is not an object"
                for m in p.Value.EnumerateObject() do
                    if m.Value.ValueKind <> JsonValueKind.String then bad $"metadata '{m.Name}' is not a string"
                    metadata <- metadata.Add(m.Name, m.Value.GetString())
            else
                let v = p.Value
                let field (k: string) (kind: JsonValueKind) =
                    match v.ValueKind with
                    | JsonValueKind.Object ->
                        match v.TryGetProperty k with
                        | true, e when e.ValueKind = kind -> e
                        | _ -> bad $"tensor '{p.Name}' lacks a valid '{k}'"
                    | _ -> bad $"tensor '{p.Name}' is not an object"
                let dtype, size = dtypeOfName source p.Name ((field "dtype" JsonValueKind.String).GetString())
                let ints (e: JsonElement) (what: string) =
                    [| for x in e.EnumerateArray() do
                           match x.TryGetInt64() with
                           | true, i when i >= 0L -> i
                           | _ -> bad $"tensor '{p.Name}' has a non-integer or negative {what} entry" |]
                let shape = ints (field "shape" JsonValueKind.Array) "shape"
                let offsets = ints (field "data_offsets" JsonValueKind.Array) "data_offsets"
                if offsets.Length <> 2 || offsets[0] > offsets[1] then bad $"tensor '{p.Name}' has invalid data_offsets"
                let count, bytes =
                    try
                        let c = shape |> Array.fold (fun acc d -> Checked.(*) acc d) 1L
                        c, Checked.(*) c (int64 size)
                    with :? OverflowException ->
                        bad $"tensor '{p.Name}' has a shape whose size overflows 64 bits"
                if bytes <> offsets[1] - offsets[0] then
                    bad
                        $"""tensor '{p.Name}' of shape [{String.Join("; ", shape)}] needs {count * int64 size} bytes but data_offsets span {offsets[1] - offsets[0]}"""
                entries.Add((p.Name, dtype, shape, offsets[0], offsets[1]))
        // Offsets must tile the data section exactly, as the reference reader demands.
        let sorted = entries |> Seq.sortBy (fun (_, _, _, b, e) -> b, e) |> Seq.toList
        let mutable expected = 0L
        for name, _, _, b, e in sorted do
            if b <> expected then bad $"tensor '{name}' starts at byte {b}, expected {expected}"
            expected <- e
        if expected <> int64 data.Length then bad $"the tensors cover {expected} data bytes but the file holds {data.Length}"
        let tensors = ResizeArray()
        for name, dtype, shape, b, e in entries do
            tensors.Add((name, ofBytes (data.Slice(int b, int (e - b))) shape dtype device))
        { Tensors = List.ofSeq tensors; Metadata = metadata }

    /// Loads a .safetensors file (see deserialize for the errors raised; FileNotFoundException when absent), and
    /// removes the temporary files a killed save of it left behind.
    let load (path: string) (device: Device) : SafetensorsFile =
        let bytes = File.ReadAllBytes path
        removeLeftovers (Path.GetFullPath path)
        deserialize path (ReadOnlySpan bytes) device
