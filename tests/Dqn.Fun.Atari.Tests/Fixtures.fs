/// Loads the golden arrays recorded from the real ALE (fixtures/<game>/, see fixtures/README.md).
/// Every array's sha256 is checked against manifest.json (recorded files) or derived.json (files
/// sliced from recorded ones) before use, so a corrupt fixture fails loudly.
module Dqn.Fun.Atari.Tests.Fixtures

open System
open System.Collections.Concurrent
open System.IO
open System.IO.Compression
open System.Security.Cryptography
open System.Text.Json

let directory (game: string) = Path.Combine(AppContext.BaseDirectory, "fixtures", game)

type Entry = { Shape: int[]; Dtype: string; Sha256: string }

let private entries (game: string) : Map<string, Entry> =
    [ "manifest.json"; "derived.json" ]
    |> List.collect (fun file ->
        use doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(directory game, file)))
        [ for f in doc.RootElement.GetProperty("files").EnumerateArray() ->
              f.GetProperty("name").GetString(),
              { Shape = [| for d in f.GetProperty("shape").EnumerateArray() -> d.GetInt32() |]
                Dtype = f.GetProperty("dtype").GetString()
                Sha256 = f.GetProperty("sha256_uncompressed").GetString() } ])
    |> Map.ofList

let private cache = ConcurrentDictionary<string * string, Entry * byte[]>()

/// The raw uncompressed bytes of fixtures/<game>/<name> and its manifest entry, after the sha256 check.
let raw (game: string) (name: string) : Entry * byte[] =
    cache.GetOrAdd((game, name), fun _ ->
        let entry =
            match (entries game).TryFind name with
            | Some e -> e
            | None -> failwith $"fixture {game}/{name} is in neither manifest.json nor derived.json"
        use file = File.OpenRead(Path.Combine(directory game, name))
        use gzip = new GZipStream(file, CompressionMode.Decompress)
        use memory = new MemoryStream()
        gzip.CopyTo memory
        let bytes = memory.ToArray()
        let sha = Convert.ToHexString(SHA256.HashData bytes).ToLowerInvariant()
        if sha <> entry.Sha256 then
            failwith $"fixture {game}/{name} is corrupt: sha256 {sha}, manifest says {entry.Sha256}"
        let expectedLength = (Array.fold (*) 1 entry.Shape) * (if entry.Dtype = "int32" then 4 else 1)
        if bytes.Length <> expectedLength then
            failwith $"fixture {game}/{name} has {bytes.Length} bytes, shape {entry.Shape} needs {expectedLength}"
        entry, bytes)

/// A uint8 array: its shape and bytes.
let u8 (game: string) (name: string) : int[] * byte[] =
    let entry, bytes = raw game name
    if entry.Dtype <> "uint8" then failwith $"fixture {game}/{name} is {entry.Dtype}, not uint8"
    entry.Shape, bytes

/// An int32 little-endian array.
let i32 (game: string) (name: string) : int[] =
    let entry, bytes = raw game name
    if entry.Dtype <> "int32" then failwith $"fixture {game}/{name} is {entry.Dtype}, not int32"
    Array.init (bytes.Length / 4) (fun i -> BitConverter.ToInt32(bytes, 4 * i))

/// Item i (along axis 0) of an array whose items are `length` bytes.
let item (bytes: byte[]) (length: int) (i: int) : byte[] = Array.sub bytes (i * length) length

let games = [ "pong"; "breakout" ]
