module Dqn.Fun.Tests.SafetensorsTests

open System
open System.Buffers.Binary
open System.Diagnostics
open System.IO
open System.Text
open System.Text.Json
open Expecto
open TorchSharp
open Dqn.Fun
open Dqn.Fun.Tests.TorchTestSupport

let private parse (bytes: byte[]) = Safetensors.deserialize "test.safetensors" (ReadOnlySpan bytes) torch.CPU

/// A file from a header written by hand: 8-byte little-endian length, the JSON padded with spaces to a
/// multiple of 8, then `data`.
let private fileOf (json: string) (data: byte[]) =
    let header = Encoding.UTF8.GetBytes json
    let padded = (header.Length + 7) / 8 * 8
    let out = Array.create (8 + padded + data.Length) (byte ' ')
    BinaryPrimitives.WriteUInt64LittleEndian(out.AsSpan(0, 8), uint64 padded)
    header.CopyTo(out, 8)
    data.CopyTo(out, 8 + padded)
    out

let private f32Bytes (xs: float32 list) = xs |> List.toArray |> Array.collect BitConverter.GetBytes

/// Tensors of every supported dtype, including a 0-dim scalar and a 0-element tensor.
let private sample () =
    [ "weights", f32 [ 2L; 3L ] [ 1.5f; -2f; 0f; 3.25f; 1e-7f; -1e7f ]
      "double", vector [| Math.PI; -0.0; 1e300 |]
      "long", (tensor [| Int64.MinValue; 0L; 1L; Int64.MaxValue |] [| 2L; 2L |])
      "int", vector [| -7; 0; 9 |]
      "bytes", (tensor [| 0uy; 128uy; 255uy; 1uy |] [| 1L; 4L |])
      "flags", vector [| true; false; true |]
      "empty", f32 [ 0L; 3L ] []
      "scalar", f32 [] [ 42f ] ]

let private assertSameTensors (expected: (string * Tensor) list) (actual: (string * Tensor) list) =
    Expect.equal (List.map fst actual) (List.map fst expected) "List.map fst actual"
    for (name, e), (_, a) in List.zip expected actual do
        Expect.isTrue (e.dtype = a.dtype) $"{name}: dtype {e.dtype} <> {a.dtype}"
        Expect.isTrue (e.shape = a.shape) $"{name}: shape differs"
        match e.dtype with
        | ScalarType.Float32 -> Expect.equal (values<float32> a) (values<float32> e) "values<float32> a"
        | ScalarType.Float64 -> Expect.equal (values<float> a) (values<float> e) "values<float> a"
        | ScalarType.Int64 -> Expect.equal (values<int64> a) (values<int64> e) "values<int64> a"
        | ScalarType.Int32 -> Expect.equal (values<int> a) (values<int> e) "values<int> a"
        | ScalarType.Byte -> Expect.equal (values<byte> a) (values<byte> e) "values<byte> a"
        | ScalarType.Bool -> Expect.equal (values<bool> a) (values<bool> e) "values<bool> a"
        | d -> failtest $"unexpected dtype {d}"

// ---- malformed input --------------------------------------------------------------------------------------------

let private rejects (fragment: string) (bytes: byte[]) =
    let e = Expect.wantThrows<InvalidDataException> (fun () -> parse bytes |> ignore) "InvalidDataException"
    Expect.stringContains e.Message "test.safetensors" "e.Message"
    Expect.stringContains e.Message fragment "e.Message"

let private oneF32 = """{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"""

// ---- interoperability with Python's safetensors (only where it is installed) -------------------------------------

let private python = "/usr/bin/python3"

let private runPython (script: string) =
    let psi = ProcessStartInfo(python)
    psi.ArgumentList.Add "-c"
    psi.ArgumentList.Add script
    psi.RedirectStandardOutput <- true
    psi.RedirectStandardError <- true
    use p = Process.Start psi
    let out = p.StandardOutput.ReadToEnd()
    let err = p.StandardError.ReadToEnd()
    p.WaitForExit()
    p.ExitCode, out, err

[<Tests>]
let tests =
    testList "Safetensors" [
        // ---- round trips ---------------------------------------------------------------------------------------------
        testCase "tensors of every dtype and shape, a 0-element one included, round-trip with their metadata" <| fun () ->
            use _ = torch.NewDisposeScope()
            let tensors = sample ()
            let metadata = Map [ "format", "test"; "note", "héllo \"quoted\" <&> +1e-3"; "empty", "" ]
            let file = parse (Safetensors.serialize tensors metadata)
            assertSameTensors tensors file.Tensors
            Expect.equal file.Metadata metadata "file.Metadata"

        testCase "save then load round-trips through a file" <| fun () ->
            use _ = torch.NewDisposeScope()
            let dir, cleanup = tempFolder ()
            use _ = cleanup
            let path = Path.Combine(dir, "model.safetensors")
            let tensors = sample ()
            Safetensors.save path tensors (Map [ "k", "v" ])
            let file = Safetensors.load path torch.CPU
            assertSameTensors tensors file.Tensors
            Expect.equal file.Metadata (Map [ "k", "v" ]) "file.Metadata"

        testCase "a file without tensors or metadata round-trips" <| fun () ->
            let file = parse (Safetensors.serialize [] Map.empty)
            Expect.isEmpty file.Tensors "file.Tensors"
            Expect.isEmpty file.Metadata "file.Metadata"

        // ---- layout -----------------------------------------------------------------------------------------------------
        testCase "the layout follows the spec: LE header length, space-padded JSON object, contiguous offsets" <| fun () ->
            use _ = torch.NewDisposeScope()
            let tensors = sample ()
            let bytes = Safetensors.serialize tensors (Map [ "a", "b" ])
            let n = BinaryPrimitives.ReadUInt64LittleEndian(ReadOnlySpan(bytes, 0, 8)) |> int
            Expect.equal (n % 8) 0 "n % 8"
            Expect.isTrue (8 + n <= bytes.Length) "8 + n <= bytes.Length"
            let header = Encoding.UTF8.GetString(bytes, 8, n)
            Expect.stringStarts header "{" "header"
            let json = header.TrimEnd ' '
            Expect.stringEnds json "}" "json"
            Expect.isTrue (n - json.Length < 8) "at most 7 padding spaces"
            use doc = JsonDocument.Parse json
            let root = doc.RootElement
            Expect.equal (root.GetProperty("__metadata__").GetProperty("a").GetString()) "b" "root.GetProperty(\"__metadata__\").GetProperty(\"a\").Get..."
            let mutable offset = 0L
            for name, t in tensors do
                let entry = root.GetProperty name
                let offsets = [| for x in entry.GetProperty("data_offsets").EnumerateArray() -> x.GetInt64() |]
                let shape = [| for x in entry.GetProperty("shape").EnumerateArray() -> x.GetInt64() |]
                Expect.equal shape t.shape "shape"
                Expect.equal (offsets[0]) offset "offsets[0]"
                offset <- offsets[1]
            Expect.equal offset (int64 (bytes.Length - 8 - n)) "offset"
            // The data section is each tensor's little-endian bytes, in order.
            let weights = f32Bytes [ 1.5f; -2f; 0f; 3.25f; 1e-7f; -1e7f ]
            Expect.equal (bytes[8 + n .. 8 + n + weights.Length - 1]) weights "bytes[8 + n .. 8 + n + weights.Length - 1]"

        testCase "a one-tensor file matches hand-constructed bytes exactly" <| fun () ->
            use _ = torch.NewDisposeScope()
            // {"attn.0": F32 [1; 2; 3] = 0..5}: the JSON is exactly 64 bytes, so no padding.
            let json = """{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}"""
            Expect.equal json.Length 64 "json.Length"
            let expected =
                Array.concat
                    [ [| 64uy; 0uy; 0uy; 0uy; 0uy; 0uy; 0uy; 0uy |]
                      Encoding.ASCII.GetBytes json
                      [| 0uy; 0uy; 0uy; 0uy; 0uy; 0uy; 0x80uy; 0x3Fuy; 0uy; 0uy; 0uy; 0x40uy |]
                      [| 0uy; 0uy; 0x40uy; 0x40uy; 0uy; 0uy; 0x80uy; 0x40uy; 0uy; 0uy; 0xA0uy; 0x40uy |] ]
            let t = f32 [ 1L; 2L; 3L ] [ 0f; 1f; 2f; 3f; 4f; 5f ]
            Expect.equal (Safetensors.serialize [ "attn.0", t ] Map.empty) expected "Safetensors.serialize [ \"attn.0\", t ] Map.empty"

        testCase "a header needing padding and metadata matches hand-constructed bytes exactly" <| fun () ->
            use _ = torch.NewDisposeScope()
            let json = """{"__metadata__":{"k":"v"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"""
            Expect.equal json.Length 79 "json.Length" // padded to 80 with one space
            let expected =
                Array.concat
                    [ [| 80uy; 0uy; 0uy; 0uy; 0uy; 0uy; 0uy; 0uy |]
                      Encoding.ASCII.GetBytes(json + " ")
                      [| 0uy; 0uy; 0x80uy; 0x3Fuy; 0uy; 0uy; 0uy; 0xC0uy |] ] // 1.0f, -2.0f
            Expect.equal (Safetensors.serialize [ "a", f32 [ 2L ] [ 1f; -2f ] ] (Map [ "k", "v" ])) expected "Safetensors.serialize [ \"a\", f32 [ 2L ] [ 1f; -2f ] ] (..."
            let file = parse expected
            Expect.equal (values<float32> (snd file.Tensors.Head)) [| 1f; -2f |] "values<float32> (snd file.Tensors.Head)"

        testCase "a non-contiguous tensor is written in row-major order and its copy is freed" <| fun () ->
            let t = f32 [ 2L; 3L ] [ 0f; 1f; 2f; 3f; 4f; 5f ]
            let transposed = t.transpose (0L, 1L)
            let start = liveTensors ()
            let bytes = Safetensors.serialize [ "t", transposed ] Map.empty
            Expect.equal (liveTensors ()) start "liveTensors ()"
            (use _ = torch.NewDisposeScope()
             Expect.equal (values<float32> (snd (parse bytes).Tensors.Head)) [| 0f; 3f; 1f; 4f; 2f; 5f |] "values<float32> (snd (parse bytes).Tensors.Head)")
            transposed.Dispose()
            t.Dispose()

        testCase "an empty file is the 8-byte length and \"{}\" padded with six spaces" <| fun () ->
            let expected = Array.append [| 8uy; 0uy; 0uy; 0uy; 0uy; 0uy; 0uy; 0uy |] (Encoding.ASCII.GetBytes "{}      ")
            Expect.equal (Safetensors.serialize [] Map.empty) expected "Safetensors.serialize [] Map.empty"

        testCase "a hand-written header may list tensors in any order of their offsets" <| fun () ->
            use _ = torch.NewDisposeScope()
            let json =
                """{"b":{"dtype":"U8","shape":[2],"data_offsets":[8,10]},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"""
            let file = parse (fileOf json (Array.append (f32Bytes [ 1f; 2f ]) [| 7uy; 9uy |]))
            Expect.equal (List.map fst file.Tensors) [ "b"; "a" ] "List.map fst file.Tensors"
            Expect.equal (values<byte> (snd file.Tensors[0])) [| 7uy; 9uy |] "values<byte> (snd file.Tensors[0])"
            Expect.equal (values<float32> (snd file.Tensors[1])) [| 1f; 2f |] "values<float32> (snd file.Tensors[1])"

        // Entries are ordered by (begin, end), as the reference reader orders them: a 0-byte tensor that shares its begin
        // with a non-empty tensor listed before it in the header is not a gap (ordering by begin alone reported one).
        testCase "a 0-byte tensor listed after a non-empty tensor with the same begin offset is accepted" <| fun () ->
            use _ = torch.NewDisposeScope()
            let json =
                """{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"z":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},"y":{"dtype":"F32","shape":[0],"data_offsets":[4,4]}}"""
            let file = parse (fileOf json (f32Bytes [ 1f; 2f ]))
            Expect.equal ((snd file.Tensors[2]).shape) [| 0L |] "(snd file.Tensors[2]).shape"

        testCase "fewer than 8 bytes is InvalidDataException" <| fun () ->
            rejects "fewer than the 8-byte header length" [| 1uy; 2uy; 3uy |]
            rejects "fewer than the 8-byte header length" [||]

        testCase "a header length past the end of the file is InvalidDataException" <| fun () ->
            let bytes = fileOf oneF32 (f32Bytes [ 1f; 2f ])
            BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(0, 8), uint64 bytes.Length)
            rejects "overruns the file" bytes
            BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(0, 8), UInt64.MaxValue)
            rejects "exceeds" bytes

        testCase "a header that is not a JSON object is InvalidDataException" <| fun () ->
            rejects "not valid JSON" (fileOf "{not json" [||])
            rejects "does not start with '{'" (fileOf "[1, 2]" [||])
            rejects "does not start with '{'" (fileOf "" [||])

        testCase "a gap between tensors' data is InvalidDataException" <| fun () ->
            let json =
                """{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[12,16]}}"""
            rejects "tensor 'b' starts at byte 12, expected 8" (fileOf json (Array.zeroCreate 16))

        testCase "overlapping tensors are InvalidDataException" <| fun () ->
            let json =
                """{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"""
            rejects "tensor 'b' starts at byte 4, expected 8" (fileOf json (Array.zeroCreate 12))

        testCase "data bytes not covered by any tensor are InvalidDataException" <| fun () ->
            rejects "cover 8 data bytes but the file holds 12" (fileOf oneF32 (Array.zeroCreate 12))

        testCase "a shape whose size differs from its byte range is InvalidDataException" <| fun () ->
            let json = """{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"""
            rejects "tensor 'a' of shape [3] needs 12 bytes but data_offsets span 8" (fileOf json (Array.zeroCreate 8))

        testCase "an unknown dtype is InvalidDataException naming it" <| fun () ->
            let json = """{"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}"""
            rejects "unsupported dtype 'F16'" (fileOf json (Array.zeroCreate 4))

        testCase "missing or ill-typed fields are InvalidDataException naming them" <| fun () ->
            rejects "lacks a valid 'dtype'" (fileOf """{"a":{"shape":[1],"data_offsets":[0,4]}}""" (Array.zeroCreate 4))
            rejects "lacks a valid 'shape'" (fileOf """{"a":{"dtype":"F32","shape":"1","data_offsets":[0,4]}}""" (Array.zeroCreate 4))
            rejects "negative shape entry" (fileOf """{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}""" (Array.zeroCreate 4))
            rejects "invalid data_offsets" (fileOf """{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}""" (Array.zeroCreate 4))
            rejects "is not an object" (fileOf """{"a":3}""" [||])
            rejects "metadata 'k' is not a string" (fileOf """{"__metadata__":{"k":1}}""" [||])

        // The element count is computed with checked arithmetic: one that overflows int64 is a malformed file, not a
        // System.OverflowException.
        testCase "a shape whose element count overflows is InvalidDataException" <| fun () ->
            let json = """{"a":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,4]}}"""
            rejects "tensor 'a'" (fileOf json (Array.zeroCreate 4))

        testCase "a missing file is FileNotFoundException" <| fun () ->
            let dir, cleanup = tempFolder ()
            use _ = cleanup
            let e = Expect.wantThrows<FileNotFoundException> (fun () -> Safetensors.load (Path.Combine(dir, "none.safetensors")) torch.CPU |> ignore) "FileNotFoundException"
            Expect.stringContains e.Message "none.safetensors" "e.Message"

        testCase "duplicate or reserved tensor names are refused when writing" <| fun () ->
            use _ = torch.NewDisposeScope()
            let t = f32 [ 1L ] [ 1f ]
            let e = Expect.wantThrows<ArgumentException> (fun () -> Safetensors.serialize [ "a", t; "a", t ] Map.empty |> ignore) "ArgumentException"
            Expect.stringContains e.Message "'a'" "e.Message"
            Expect.throwsT<ArgumentException> (fun () -> Safetensors.serialize [ "__metadata__", t ] Map.empty |> ignore) "ArgumentException"

        // ---- atomic save --------------------------------------------------------------------------------------------
        testCase "save leaves no temporary file and replaces an existing file entirely" <| fun () ->
            use _ = torch.NewDisposeScope()
            let dir, cleanup = tempFolder ()
            use _ = cleanup
            let path = Path.Combine(dir, "model.safetensors")
            File.WriteAllBytes(path, Array.create 100_000 0xEEuy)
            let tensors = [ "a", f32 [ 2L ] [ 1f; 2f ] ]
            Safetensors.save path tensors Map.empty
            Expect.equal (Directory.GetFiles dir) [| path |] "Directory.GetFiles dir"
            Expect.equal (File.ReadAllBytes path) (Safetensors.serialize tensors Map.empty) "File.ReadAllBytes path"

        testCase "a save that fails leaves the existing file untouched and no temporary file" <| fun () ->
            use _ = torch.NewDisposeScope()
            let dir, cleanup = tempFolder ()
            use _ = cleanup
            let path = Path.Combine(dir, "model.safetensors")
            let original = Safetensors.serialize [ "a", f32 [ 1L ] [ 1f ] ] Map.empty
            File.WriteAllBytes(path, original)
            let t = f32 [ 1L ] [ 2f ]
            Expect.throwsT<ArgumentException> (fun () -> Safetensors.save path [ "b", t; "b", t ] Map.empty) "ArgumentException"
            Expect.equal (Directory.GetFiles dir) [| path |] "Directory.GetFiles dir"
            Expect.equal (File.ReadAllBytes path) original "File.ReadAllBytes path"

        testCase "the temporary files of a killed save are removed by the next save or load, and nothing else is" <| fun () ->
            use _ = torch.NewDisposeScope()
            let dir, cleanup = tempFolder ()
            use _ = cleanup
            let path = Path.Combine(dir, "model.safetensors")
            // What a process killed between writing and renaming leaves: ".<name>.<guid>.tmp" beside the file.
            let leftover () =
                let f = Path.Combine(dir, $".model.safetensors.{Guid.NewGuid():N}.tmp")
                File.WriteAllBytes(f, Array.create 1000 0xEEuy)
                f
            let others = [ Path.Combine(dir, ".other.safetensors.0123.tmp"); Path.Combine(dir, "notes.tmp") ]
            for f in others do File.WriteAllText(f, "kept")
            let tensors = [ "a", f32 [ 2L ] [ 1f; 2f ] ]
            let l1 = leftover ()
            Safetensors.save path tensors Map.empty
            Expect.isFalse (File.Exists l1) "a leftover after save"
            let l2 = leftover ()
            let l3 = leftover ()
            let loaded = Safetensors.load path torch.CPU
            Expect.equal loaded.Tensors.Length 1 "tensors loaded"
            Expect.isFalse (File.Exists l2 || File.Exists l3) "leftovers after load"
            Expect.equal (Array.sort (Directory.GetFiles dir)) (Array.sort [| path; yield! others |]) "files left"
            Expect.equal (File.ReadAllBytes path) (Safetensors.serialize tensors Map.empty) "the saved file"

        testCase "save creates missing folders" <| fun () ->
            use _ = torch.NewDisposeScope()
            let dir, cleanup = tempFolder ()
            use _ = cleanup
            let path = Path.Combine(dir, "a", "b", "model.safetensors")
            Safetensors.save path [ "a", f32 [ 1L ] [ 1f ] ] Map.empty
            Expect.isTrue (File.Exists path) "File.Exists path"

        /// Python's safetensors is not a dependency of this repository; the test runs only where it happens to
        /// be importable, and is reported as skipped (with the reason) where it is not.
        testCase "files round-trip with Python's safetensors when it is installed" <| fun () ->
            let available =
                File.Exists python
                && (let code, _, _ = runPython "import safetensors.numpy, numpy" in code = 0)
            if not available then
                skiptest $"{python} cannot import safetensors.numpy and numpy; the Python interop check was skipped."
            else
                use _ = torch.NewDisposeScope()
                let dir, cleanup = tempFolder ()
                use _ = cleanup
                let ours = Path.Combine(dir, "ours.safetensors")
                let theirs = Path.Combine(dir, "theirs.safetensors")
                Safetensors.save ours [ "w", f32 [ 2L; 2L ] [ 1f; 2f; 3f; 4f ]; "i", vector [| 5L; -6L |] ] Map.empty
                let script =
                    "import json, sys, numpy as np\n"
                    + "from safetensors.numpy import load_file, save_file\n"
                    + $"d = load_file({JsonSerializer.Serialize ours})\n"
                    + "print(json.dumps({k: [str(v.dtype), list(v.shape), v.ravel().tolist()] for k, v in d.items()}, sort_keys=True))\n"
                    + $"save_file({{'x': np.arange(6, dtype=np.float32).reshape(2, 3), 'e': np.zeros((0,), dtype=np.int64)}}, {JsonSerializer.Serialize theirs})\n"
                let code, out, err = runPython script
                Expect.isTrue (code = 0) $"python failed: {err}"
                Expect.equal
                    (out.Trim())
                    ("""{"i": ["int64", [2], [5, -6]], "w": ["float32", [2, 2], [1.0, 2.0, 3.0, 4.0]]}""")
                    "out.Trim()"
                let file = Safetensors.load theirs torch.CPU
                let byName = Map file.Tensors
                Expect.equal (values<float32> byName["x"]) [| 0f; 1f; 2f; 3f; 4f; 5f |] "values<float32> byName[\"x\"]"
                Expect.equal (byName["x"].shape) [| 2L; 3L |] "byName[\"x\"].shape"
                Expect.equal (byName["e"].shape) [| 0L |] "byName[\"e\"].shape"
    ]
