/// How the CLI reports what stops it: a value that cannot work is one line on stderr and exit code 2, checked
/// before anything is created; a condition of the machine or of a process (no GPU, a dead bridge, a full disk) is
/// one line and exit code 1. No stack trace either way.
module Dqn.Fun.Bench.Cli

open System
open System.IO
open Dqn.Fun

/// A command-line value that cannot work (exit code 2).
exception UsageError of message: string

/// A condition of the machine or of a process that stops the run (exit code 1).
exception RuntimeError of message: string

/// Raises a usage error.
let usage (message: string) : 'T = raise (UsageError message)

/// An exception's message without .NET's " (Parameter 'x')" suffix, on one line.
let oneLine (e: exn) =
    let m = e.Message
    let m = match m.IndexOf " (Parameter '" with -1 -> m | i -> m.Substring(0, i)
    m.Replace(Environment.NewLine, " ").Replace('\n', ' ').Trim()

/// Runs a check of the values behind `option`; an ArgumentException the library raises for a bad value becomes a
/// usage error naming the option.
let value (option: string) (check: unit -> 'T) : 'T =
    try
        check ()
    with :? ArgumentException as e ->
        usage $"{option}: {oneLine e}"

/// Checks that a number is positive.
let positive (option: string) (v: int64) = if v <= 0L then usage $"{option} {v}: expected a positive number"

/// The device `name` names, checked in two steps: its form (a usage error) and whether this process can use it
/// (a runtime error: no CUDA GPU).
let device (option: string) (name: string) : Device =
    value option (fun () -> Devices.normalize name) |> ignore
    try
        Devices.parse name
    with :? ArgumentException as e ->
        raise (RuntimeError $"{option} {name}: {oneLine e}")

/// An output folder, checked without creating it: not an existing file, and writable, or creatable in a writable
/// folder (a probe file is written into the folder, or into its nearest existing ancestor, and removed). The
/// command creates it once everything else checked out.
let outputFolder (option: string) (path: string) =
    if String.IsNullOrWhiteSpace path then usage $"{option}: expected a folder"
    let full = Path.GetFullPath path
    if File.Exists full then usage $"{option} {path} is a file; expected a folder (new or existing)"
    let rec existing (dir: string) =
        if isNull dir then usage $"{option} {path}: no existing folder above it"
        elif Directory.Exists dir then dir
        elif File.Exists dir then usage $"{option} {path}: {dir} is a file, not a folder"
        else existing (Path.GetDirectoryName dir)
    let anchor = existing full
    try
        let probe = Path.Combine(anchor, $".dqnfun-write-probe-{Guid.NewGuid():N}")
        File.WriteAllText(probe, "")
        File.Delete probe
    with
    | :? IOException
    | :? UnauthorizedAccessException as e -> usage $"{option} {path} cannot be written ({anchor}: {oneLine e})"
    path

/// A file the run will read: it must exist.
let inputFile (option: string) (path: string) =
    if not (File.Exists path) then usage $"{option} {path}: no such file"
    path

/// Runs a command, mapping what stops it to one line on stderr and an exit code: 2 for usage errors, 1 for runtime
/// errors and anything else (the innermost message), 130 for a cancellation.
let run (command: unit -> int) : int =
    let report (m: string) = eprintfn "dqnfun-bench: %s" m
    try
        command ()
    with
    | UsageError m ->
        report m
        2
    | RuntimeError m ->
        report m
        1
    | :? OperationCanceledException ->
        report "cancelled"
        130
    | e ->
        let rec innermost (e: exn) = if isNull e.InnerException then e else innermost e.InnerException
        report (oneLine (innermost e))
        1

/// The file of a run folder that keeps the command's arguments, read back by --resume.
let runFile (out: string) = Path.Combine(out, "run.json")

/// Writes `results` (the command's arguments as parsed) into the run folder's run.json.
let writeRunArgs (out: string) (command: string) (parser: Argu.ArgumentParser<'T>) (results: 'T list) =
    Json.write (runFile out) (fun w ->
        w.WriteString("command", command)
        w.WriteStartArray "args"
        for arg in parser.PrintCommandLineArguments results do
            w.WriteStringValue arg
        w.WriteEndArray())

/// `--resume DIR`: the arguments the run of `command` in DIR was started with (DIR/run.json, written by
/// writeRunArgs), those given now replacing the saved ones of the same option, and `out` (DIR as the run's output
/// folder). An argument given now that `allowed` refuses, or a DIR without run.json (or with another command's) or
/// without a checkpoint in DIR/checkpoints, is a usage error.
let resumeArgs (parser: Argu.ArgumentParser<'T>) (command: string) (dir: string) (now: Argu.ParseResults<'T>) (isResume: 'T -> bool) (allowed: 'T -> bool) (out: 'T) =
    match now.GetAllResults() |> List.tryFind (fun r -> not (isResume r || allowed r)) with
    | Some other -> usage $"--resume takes the run's settings from {runFile dir}; {parser.PrintCommandLineArgumentsFlat [ other ]} cannot be given beside it"
    | None -> ()
    if not (File.Exists(runFile dir)) then usage $"--resume {dir}: no {runFile dir} (not a run folder of this command)"
    let checkpoints = Path.Combine(dir, "checkpoints")
    if (TrainingCheckpoint.tryLatest checkpoints).IsNone then usage $"--resume {dir}: no checkpoint in {checkpoints}"
    let written, saved =
        try
            use doc = Text.Json.JsonDocument.Parse(File.ReadAllText(runFile dir))
            doc.RootElement.GetProperty("command").GetString(),
            [| for e in doc.RootElement.GetProperty("args").EnumerateArray() -> e.GetString() |]
        with
        | :? Text.Json.JsonException
        | :? Collections.Generic.KeyNotFoundException
        | :? InvalidOperationException as e -> usage $"--resume {dir}: {runFile dir} is not a run file ({oneLine e})"
    if written <> command then usage $"--resume {dir}: a run of `{written}`, not of `{command}`"
    let original =
        try
            parser.ParseCommandLine saved
        with :? Argu.ArguParseException as e ->
            usage $"--resume {dir}: {runFile dir} holds arguments this version does not take ({e.Message.Split('\n')[0]})"
    let tag = Reflection.FSharpValue.PreComputeUnionTagReader typeof<'T>
    let given = now.GetAllResults() |> List.filter (isResume >> not)
    let replaced = given @ [ out ] |> List.map (box >> tag) |> Set.ofList
    let inherited = original.GetAllResults() |> List.filter (fun r -> not (replaced.Contains(tag (box r))))
    parser.ToParseResults(inherited @ given @ [ out ])

/// <summary>Ctrl-C (SIGINT) and SIGTERM (what `kill`, systemd and a shutdown send first) cancel `cancel` instead of
/// ending the process, so that training stops at its next agent step and writes a checkpoint there; dispose the result
/// to restore the default handling. A job that a non-interactive shell started in the background ignores SIGINT: stop
/// it with `kill PID`.</summary>
let onStopSignals (cancel: Threading.CancellationTokenSource) : IDisposable =
    let interrupt = ConsoleCancelEventHandler(fun _ e -> e.Cancel <- true; cancel.Cancel())
    Console.CancelKeyPress.AddHandler interrupt
    let terminate =
        Runtime.InteropServices.PosixSignalRegistration.Create(
            Runtime.InteropServices.PosixSignal.SIGTERM,
            fun context ->
                context.Cancel <- true
                cancel.Cancel()
        )
    { new IDisposable with
        member _.Dispose() =
            Console.CancelKeyPress.RemoveHandler interrupt
            terminate.Dispose() }
