namespace Dqn.Fun

open System
open System.Globalization
open System.IO
open TorchSharp

/// <summary>Collects the named arrays and values of a training state (PyTorch's state_dict, for everything a run
/// holds: networks, optimizer moments, replay, generators, counters) and writes them as one .safetensors file:
/// arrays as tensors, numbers and texts as metadata. Names are dotted paths ("replay.observations"). Arrays are
/// copied when added; tensors added with <c>Tensor</c> are borrowed (read when saving, never disposed here).</summary>
[<Sealed>]
type internal StateWriter() =
    let tensors = ResizeArray<string * Tensor>()
    let owned = ResizeArray<Tensor>()
    let mutable metadata = Map.empty<string, string>
    let names = Collections.Generic.HashSet<string>()
    let claim (name: string) =
        if not (names.Add name) then invalidArg "name" $"state entry '{name}' is written twice"
    let own (name: string) (t: Tensor) =
        claim name
        owned.Add t
        tensors.Add((name, t))

    member _.Floats(name: string, values: float32[]) = own name (torch.tensor values)
    member _.Doubles(name: string, values: float[]) = own name (torch.tensor values)
    member _.Longs(name: string, values: int64[]) = own name (torch.tensor values)
    member _.Ints(name: string, values: int[]) = own name (torch.tensor values)
    member _.Bools(name: string, values: bool[]) = own name (torch.tensor values)
    member _.Bytes(name: string, values: byte[]) = own name (torch.tensor values)

    /// Adds a tensor the caller keeps owning (a parameter, an optimizer moment, a generator's state).
    member _.Tensor(name: string, t: Tensor) =
        claim name
        tensors.Add((name, t))

    member _.Text(name: string, value: string) =
        claim name
        metadata <- metadata.Add(name, value)

    member w.Int64(name: string, value: int64) = w.Text(name, value.ToString(CultureInfo.InvariantCulture))
    /// A float, written so that it reads back bit for bit.
    member w.Float(name: string, value: float) = w.Text(name, value.ToString("R", CultureInfo.InvariantCulture))

    /// Writes everything to `path` (atomically: Safetensors.save).
    member _.Save(path: string) = Safetensors.save path (List.ofSeq tensors) metadata

    member _.Dispose() =
        for t in owned do
            t.Dispose()
        owned.Clear()

    interface IDisposable with
        member w.Dispose() = w.Dispose()

/// <summary>Reads a file written by StateWriter. Every accessor raises InvalidDataException naming the file and
/// the entry when the entry is missing or of another type.</summary>
[<Sealed>]
type internal StateReader(path: string) =
    let file = Safetensors.load path torch.CPU
    let tensors = dict file.Tensors
    let bad (msg: string) : 'a = raise (InvalidDataException($"{path}: {msg}"))
    let find (name: string) (dtype: ScalarType) =
        match tensors.TryGetValue name with
        | true, t when t.dtype = dtype -> t
        | true, t -> bad $"state entry '{name}' is {t.dtype}, expected {dtype}"
        | _ -> bad $"the state has no entry '{name}'"

    member _.Path = path
    member _.Has(name: string) = tensors.ContainsKey name || file.Metadata.ContainsKey name
    member _.Floats(name: string) = (find name ScalarType.Float32).data<float32>().ToArray()
    member _.Doubles(name: string) = (find name ScalarType.Float64).data<float>().ToArray()
    member _.Longs(name: string) = (find name ScalarType.Int64).data<int64>().ToArray()
    member _.Ints(name: string) = (find name ScalarType.Int32).data<int>().ToArray()
    member _.Bools(name: string) = (find name ScalarType.Bool).data<bool>().ToArray()
    member _.Bytes(name: string) = (find name ScalarType.Byte).data<byte>().ToArray()

    /// The tensor stored under `name` (owned by the reader: copy it before disposing the reader).
    member _.Tensor(name: string) =
        match tensors.TryGetValue name with
        | true, t -> t
        | _ -> bad $"the state has no entry '{name}'"

    member _.Text(name: string) =
        match file.Metadata.TryFind name with
        | Some v -> v
        | None -> bad $"the state has no value '{name}'"

    member r.Int64(name: string) =
        match Int64.TryParse(r.Text name, NumberStyles.Integer, CultureInfo.InvariantCulture) with
        | true, v -> v
        | _ -> bad $"state value '{name}' = '{r.Text name}' is not an integer"

    /// An Int64 value that must lie in [lo, hi].
    member r.Int(name: string, lo: int, hi: int) =
        let v = r.Int64 name
        if v < int64 lo || v > int64 hi then bad $"state value '{name}' = {v} is outside {lo}..{hi}"
        int v

    member r.Float(name: string) =
        match Double.TryParse(r.Text name, NumberStyles.Float, CultureInfo.InvariantCulture) with
        | true, v -> v
        | _ -> bad $"state value '{name}' = '{r.Text name}' is not a number"

    /// Raises InvalidDataException unless `values` has `expected` elements.
    member _.RequireLength(name: string, expected: int, values: 'T[]) =
        if values.Length <> expected then bad $"state entry '{name}' has {values.Length} elements, expected {expected}"

    member _.Dispose() =
        for KeyValue(_, t) in tensors do
            t.Dispose()

    interface IDisposable with
        member r.Dispose() = r.Dispose()

/// Writing and reading a SeededRandom's position ("<name>.seed", "<name>.draws").
module internal RandomState =
    let save (w: StateWriter) (name: string) (r: SeededRandom) =
        w.Int64(name + ".seed", int64 r.Seed)
        w.Int64(name + ".draws", r.Draws)

    /// The generator saved under `name`; raises InvalidDataException unless it was seeded with `seed`.
    let load (r: StateReader) (name: string) (seed: int) =
        let saved = r.Int(name + ".seed", Int32.MinValue, Int32.MaxValue)
        if saved <> seed then
            raise (InvalidDataException($"{r.Path}: generator '{name}' was seeded with {saved}, this one with {seed}"))
        SeededRandom.Restore(seed, r.Int64(name + ".draws"))

/// <summary>Training checkpoints on disk: a run's checkpoint folder holds one folder per checkpoint,
/// "step-&lt;agent steps, 12 digits&gt;", each written whole into a hidden temporary folder (".step-….tmp") and
/// then renamed, so a checkpoint folder is either complete or absent; a process killed mid-write leaves the
/// checkpoints before it loadable, and its temporary folder is removed by the next write or load.</summary>
[<RequireQualifiedAccess>]
module TrainingCheckpoint =

    /// The file in a checkpoint folder that holds everything but the online network.
    [<Literal>]
    let StateFile = "state.safetensors"

    /// The file in a checkpoint folder that holds the online network (readable by Agent.Load / Checkpoint.load).
    [<Literal>]
    let ModelFile = "model.safetensors"

    /// The folder name of the checkpoint taken after `steps` agent steps.
    [<CompiledName("FolderName")>]
    let folderName (steps: int64) = "step-" + steps.ToString("D12", CultureInfo.InvariantCulture)

    let private isCheckpointName (name: string) =
        name.Length = 17 && name.StartsWith "step-" && name.Substring 5 |> Seq.forall Char.IsAsciiDigit

    /// The complete checkpoints in `dir`, oldest first (none when `dir` does not exist).
    [<CompiledName("List")>]
    let list (dir: string) : string[] =
        if Directory.Exists dir then
            Directory.GetDirectories dir
            |> Array.filter (fun d -> isCheckpointName (Path.GetFileName d) && File.Exists(Path.Combine(d, StateFile)))
            |> Array.sortBy Path.GetFileName
        else
            [||]

    /// The newest complete checkpoint in `dir`, if any.
    [<CompiledName("TryLatest")>]
    let tryLatest (dir: string) = list dir |> Array.tryLast

    /// Removes the temporary folders of writes that were killed (".step-*.tmp"); best effort.
    let internal removeLeftovers (dir: string) =
        if Directory.Exists dir then
            for d in Directory.GetDirectories(dir, ".step-*.tmp") do
                try
                    Directory.Delete(d, true)
                with
                | :? IOException
                | :? UnauthorizedAccessException -> ()

    /// Writes the checkpoint of `steps` into `dir`: `fill` writes the files into a fresh temporary folder, which is
    /// then renamed to folderName steps (replacing a checkpoint of the same step); then only the newest `keep`
    /// checkpoints are kept. Returns the checkpoint's folder.
    let internal write (dir: string) (steps: int64) (keep: int) (fill: string -> unit) : string =
        if String.IsNullOrWhiteSpace dir then invalidArg "dir" "the checkpoint folder must not be empty"
        Check.positive "keep" keep
        let dir = Path.GetFullPath dir
        Directory.CreateDirectory dir |> ignore
        removeLeftovers dir
        let name = folderName steps
        let tmp = Path.Combine(dir, $".{name}.{Guid.NewGuid():N}.tmp")
        Directory.CreateDirectory tmp |> ignore
        try
            fill tmp
        with _ ->
            Directory.Delete(tmp, true)
            reraise ()
        let final = Path.Combine(dir, name)
        if Directory.Exists final then
            // The same step again: move the old one aside (it is a leftover from here on), then put the new one in.
            let aside = Path.Combine(dir, $".{name}.{Guid.NewGuid():N}.tmp")
            Directory.Move(final, aside)
            Directory.Move(tmp, final)
            Directory.Delete(aside, true)
        else
            Directory.Move(tmp, final)
        let all = list dir
        for old in all |> Array.take (max 0 (all.Length - keep)) do
            Directory.Delete(old, true)
        final

    /// The checkpoint folder `path` names: `path` itself when it holds a checkpoint, else the newest checkpoint in it.
    /// Raises DirectoryNotFoundException when there is none.
    let internal resolve (path: string) =
        if String.IsNullOrWhiteSpace path then invalidArg "path" "the checkpoint folder must not be empty"
        let full = Path.GetFullPath path
        if File.Exists(Path.Combine(full, StateFile)) then
            full
        else
            removeLeftovers full
            match tryLatest full with
            | Some d -> d
            | None ->
                raise (
                    DirectoryNotFoundException(
                        $"no training checkpoint in {full}: expected a folder holding {StateFile}, or folders step-<12 digits> holding one"
                    )
                )

    /// <summary>The observation size and action count recorded in the checkpoint at `path` (a checkpoint folder, or a
    /// run's checkpoint folder: its newest), for building the networks it is read into.</summary>
    /// <exception cref="T:System.IO.DirectoryNotFoundException">No checkpoint at `path`.</exception>
    /// <exception cref="T:System.IO.InvalidDataException">Its state file is malformed.</exception>
    [<CompiledName("Sizes")>]
    let sizes (path: string) : int * int =
        use r = new StateReader(Path.Combine(resolve path, StateFile))
        r.Int("observation_size", 1, Int32.MaxValue), r.Int("action_count", 1, Int32.MaxValue)
