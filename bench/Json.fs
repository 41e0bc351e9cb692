/// JSON output files of the bench commands.
module Dqn.Fun.Bench.Json

open System.IO
open System.Text.Json

/// Writes one JSON object to `path` (indented), through a temporary file renamed into place.
let write (path: string) (write: Utf8JsonWriter -> unit) =
    Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath path)) |> ignore
    let tmp = path + ".tmp"
    (use fs = File.Create tmp
     use w = new Utf8JsonWriter(fs, JsonWriterOptions(Indented = true))
     w.WriteStartObject()
     write w
     w.WriteEndObject())
    File.Move(tmp, path, true)
