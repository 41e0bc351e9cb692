/// dqnfun-bench as a user meets it: the CLI run as a child process (the built bench/bin/<configuration>/net10.0/
/// dqnfun-bench.dll, run from its own folder as a user runs it; the test project references the bench project, so it
/// is built first). A bad value is one
/// line on stderr and exit code 2, a missing GPU one line and exit code 1, --help exit code 0, and nothing is created
/// before the values are checked.
module Dqn.Fun.Tests.CliTests

open System
open System.Diagnostics
open System.IO
open Expecto
open Dqn.Fun

/// The bench executable built beside this test assembly: the same configuration, found from the repository root.
let private benchDll =
    lazy
        let baseDir = AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar)
        // <root>/tests/Dqn.Fun.Tests/bin/<configuration>/<framework>
        let framework = Path.GetFileName baseDir
        let configuration = Path.GetFileName(Path.GetDirectoryName baseDir)
        let rec root (dir: string) =
            if isNull dir then failwith $"no Dqn.Fun.sln above {baseDir}"
            elif File.Exists(Path.Combine(dir, "Dqn.Fun.sln")) then dir
            else root (Path.GetDirectoryName dir)
        let dll = Path.Combine(root baseDir, "bench", "bin", configuration, framework, "dqnfun-bench.dll")
        if not (File.Exists dll) then failwith $"{dll} not found: build the solution (or bench/Bench.fsproj) first"
        dll

type internal Outcome = { Code: int; Stdout: string; Stderr: string }

/// Runs `dotnet dqnfun-bench.dll args` in `workDir` and waits for it (`limit` at most).
let internal benchWithin (limit: TimeSpan) (workDir: string) (args: string list) =
    let info = ProcessStartInfo("dotnet", WorkingDirectory = workDir, RedirectStandardOutput = true, RedirectStandardError = true)
    info.ArgumentList.Add benchDll.Value
    for a in args do info.ArgumentList.Add a
    use p = Process.Start info
    let stdout = p.StandardOutput.ReadToEndAsync()
    let stderr = p.StandardError.ReadToEndAsync()
    if not (p.WaitForExit limit) then
        p.Kill true
        failtestf "dqnfun-bench %s did not end within %.0f s" (String.Join(" ", args)) limit.TotalSeconds
    { Code = p.ExitCode; Stdout = stdout.Result; Stderr = stderr.Result }

/// Runs `dotnet dqnfun-bench.dll args` in `workDir` and waits for it (two minutes at most).
let private bench (workDir: string) (args: string list) = benchWithin (TimeSpan.FromMinutes 2.0) workDir args

/// A fresh empty folder for one test, removed when the test ends.
let internal withTempFolder (f: string -> unit) =
    let dir = Path.Combine(Path.GetTempPath(), $"dqnfun-cli-{Guid.NewGuid():N}")
    Directory.CreateDirectory dir |> ignore
    try f dir finally Directory.Delete(dir, true)

let private lines (text: string) =
    text.Split('\n', StringSplitOptions.RemoveEmptyEntries ||| StringSplitOptions.TrimEntries)

/// Expects exit code `code` and exactly one line on stderr, "dqnfun-bench: ..." containing `mentions`, with no .NET
/// stack trace, and that the run created nothing in `dir`.
let private expectOneLine (dir: string) (args: string list) (code: int) (mentions: string) =
    let o = bench dir args
    let shown = $"dqnfun-bench %s{String.Join(' ', args)}"
    Expect.equal o.Code code $"{shown}: exit code (stderr: {o.Stderr})"
    let errors = lines o.Stderr
    Expect.equal errors.Length 1 $"{shown}: lines on stderr ({o.Stderr})"
    Expect.stringStarts errors[0] "dqnfun-bench: " $"{shown}: stderr"
    Expect.stringContains errors[0] mentions $"{shown}: stderr names the value"
    Expect.isFalse (o.Stderr.Contains "   at ") $"{shown}: no stack trace"
    Expect.isEmpty (Directory.GetFileSystemEntries dir) $"{shown}: files created"

[<Tests>]
let tests =
    testList "Cli" [
        testCase "--help prints the subcommands on stdout and exits 0" <| fun () ->
            withTempFolder (fun dir ->
                let o = bench dir [ "--help" ]
                Expect.equal o.Code 0 $"exit code (stderr: {o.Stderr})"
                Expect.stringContains o.Stdout "USAGE: dqnfun-bench" "stdout"
                Expect.stringContains o.Stdout "train" "stdout"
                let sub = bench dir [ "train"; "--help" ]
                Expect.equal sub.Code 0 "train --help: exit code"
                Expect.stringContains sub.Stdout "--steps" "train --help: stdout")

        testList "a bad value is one line on stderr, exit code 2, before any file is created" [
            for args, mentions in
                [ [ "train"; "--env"; "Nope-v0" ], "Nope-v0"
                  [ "train"; "--steps"; "-5" ], "--steps"
                  [ "train"; "--steps"; "0" ], "--steps"
                  [ "train"; "--threads"; "0" ], "--threads"
                  [ "train"; "--preset"; "bogus" ], "bogus"
                  [ "train"; "--nstep"; "0" ], "--nstep"
                  [ "train"; "--device"; "tpu" ], "tpu"
                  [ "seeds"; "--seeds"; "0"; "--steps"; "-1" ], "--steps"
                  [ "atari"; "--game"; "pong"; "--frames"; "-4" ], "--frames"
                  [ "atari"; "--game"; "pong"; "--envs"; "0" ], "--envs"
                  [ "atari"; "--game"; "pong"; "--envs"; "2"; "--servers"; "3" ], "--servers"
                  [ "atari"; "--game"; "pong"; "--envs"; "2"; "--bridge"; "tcp://127.0.0.1:1" ], "--bridge auto"
                  [ "apex"; "--actors"; "0" ], "--actors"
                  [ "apex"; "--env"; "Pong-v5" ], "Pong-v5"
                  [ "apex"; "--port"; "70000" ], "--port"
                  [ "apex"; "--checkpoint-interval"; "-5" ], "--checkpoint-interval"
                  [ "apex"; "--local-actors"; "3" ], "--local-actors"
                  [ "apex"; "--restart-actor-at"; "100" ], "--kill-actor-at"
                  [ "apex"; "--frames"; "1000" ], "--game"
                  [ "apex"; "--game"; "breakout"; "--steps"; "1000" ], "--frames"
                  [ "apex"; "--game"; "breakout"; "--preset"; "rainbow" ], "Head"
                  [ "apex-model"; "--bandwidth-gbit"; "0" ], "--bandwidth-gbit" ] ->
                testCase (String.Join(" ", args)) <| fun () ->
                    withTempFolder (fun dir -> expectOneLine dir (args @ [ "--out"; Path.Combine(dir, "run") ]) 2 mentions)
        ]

        testCase "an --out that is an existing file is a usage error, and the file is kept" <| fun () ->
            withTempFolder (fun dir ->
                let file = Path.Combine(dir, "taken")
                File.WriteAllText(file, "a user's file")
                let o = bench dir [ "train"; "--out"; file; "--steps"; "100" ]
                Expect.equal o.Code 2 $"exit code (stderr: {o.Stderr})"
                let errors = lines o.Stderr
                Expect.equal errors.Length 1 $"lines on stderr ({o.Stderr})"
                Expect.stringContains errors[0] "is a file" "stderr"
                Expect.equal (File.ReadAllText file) "a user's file" "the file's contents"
                Expect.equal (Directory.GetFileSystemEntries dir) [| file |] "entries of the folder")

        testCase "an unknown option prints Argu's usage on stderr and exits 2" <| fun () ->
            withTempFolder (fun dir ->
                let o = bench dir [ "train"; "--stepz"; "10" ]
                Expect.equal o.Code 2 $"exit code (stderr: {o.Stderr})"
                Expect.stringContains o.Stderr "--stepz" "stderr"
                Expect.isEmpty (Directory.GetFileSystemEntries dir) "files created")

        // TorchSharp-cpu (the package this repository references) never sees a GPU, so this holds on any machine.
        testCase "--device cuda without CUDA is one line on stderr and exit code 1, before any file is created" <| fun () ->
            withTempFolder (fun dir ->
                expectOneLine dir [ "train"; "--device"; "cuda"; "--steps"; "100"; "--out"; Path.Combine(dir, "run") ] 1 "cuda")

        testCase "train --resume goes on from the newest checkpoint as the run never stopped: metrics.csv and the model are the same" <| fun () ->
            withTempFolder (fun dir ->
                let alone, stopped = Path.Combine(dir, "alone"), Path.Combine(dir, "stopped")
                let run (args: string list) =
                    let o = bench dir ("train" :: "--quiet" :: args)
                    Expect.equal o.Code 0 $"train {String.Join(' ', args)}: exit code (stderr: {o.Stderr})"
                run [ "--steps"; "1500"; "--checkpoint-interval"; "600"; "--out"; alone ]
                run [ "--steps"; "1200"; "--checkpoint-interval"; "600"; "--out"; stopped ]
                Expect.equal
                    (TrainingCheckpoint.list (Path.Combine(stopped, "checkpoints")) |> Array.map Path.GetFileName)
                    [| "step-000000000600"; "step-000000001200" |]
                    "checkpoints of the stopped run"
                // Rows written after the newest checkpoint by a run that then died: the resumed run writes them again.
                let metrics = Path.Combine(stopped, "metrics.csv")
                File.AppendAllLines(metrics, [ "episode,1290,99,1,1,0.5,,,0,1,," ])
                run [ "--resume"; stopped; "--steps"; "1500" ]
                // Every column but steps_per_second (time).
                let columns (run: string) =
                    File.ReadAllLines(Path.Combine(run, "metrics.csv"))
                    |> Array.map (fun l -> l.Split ',' |> Array.removeAt 9 |> String.concat ",")
                let aloneRows = columns alone
                Expect.isGreaterThan aloneRows.Length 30 "episodes in metrics.csv"
                Expect.equal (columns stopped) aloneRows "metrics.csv of the resumed run and of the run left alone"
                let bytes (run: string) (file: string) = File.ReadAllBytes(Path.Combine(run, file))
                Expect.isTrue (bytes stopped "model.safetensors" = bytes alone "model.safetensors") "model.safetensors differ"
                let state (run: string) = Path.Combine(run, "checkpoints", "step-000000001500", TrainingCheckpoint.StateFile)
                Expect.isTrue (File.ReadAllBytes(state stopped) = File.ReadAllBytes(state alone)) "the last checkpoints' state files differ"
                let refused (args: string list) (mentions: string) =
                    let o = bench dir args
                    Expect.equal o.Code 2 $"{String.Join(' ', args)}: exit code (stderr: {o.Stderr})"
                    let errors = lines o.Stderr
                    Expect.equal errors.Length 1 $"{String.Join(' ', args)}: lines on stderr ({o.Stderr})"
                    Expect.stringContains errors[0] mentions $"{String.Join(' ', args)}: stderr names the value"
                // Settings come from the run: only --steps, --quiet and --threads go beside --resume.
                refused [ "train"; "--resume"; stopped; "--seed"; "3" ] "--seed"
                // A finished run is not trained again by accident.
                refused [ "train"; "--resume"; stopped ] "1500"
                // A new run into a folder holding a run's checkpoints would mix two runs.
                refused [ "train"; "--steps"; "100"; "--out"; stopped ] "--resume"
                refused [ "atari"; "--resume"; stopped ] "a run of `train`"
                Expect.isTrue (File.ReadAllBytes(state stopped) = File.ReadAllBytes(state alone)) "the refused commands left the checkpoint")

        for signal in [ "INT"; "TERM" ] do
          testCase $"SIG{signal} stops train at the next agent step with a checkpoint there and exit code 130; --resume goes on from it" <| fun () ->
            // A process started with SIGINT ignored (SigIgn bit 1: e.g. by a non-interactive shell, in the background)
            // passes that on to its children, and .NET then leaves SIGINT ignored: train could not see it (which is
            // why train handles SIGTERM too). Reproduced by running this test under `bash -c '...' &`.
            let ignoredHere (number: int) =
                File.ReadAllLines "/proc/self/status"
                |> Array.tryFind (fun l -> l.StartsWith "SigIgn:")
                |> Option.map (fun l -> (Convert.ToUInt64(l.Substring(7).Trim(), 16) >>> (number - 1)) &&& 1UL = 1UL)
                |> Option.defaultValue false
            if signal = "INT" && ignoredHere 2 then
                skiptest "this test process was started with SIGINT ignored, and so would train be"
            withTempFolder (fun dir ->
                let run = Path.Combine(dir, "run")
                let info = ProcessStartInfo("dotnet", WorkingDirectory = dir, RedirectStandardOutput = true, RedirectStandardError = true)
                for a in [ benchDll.Value; "train"; "--steps"; "1000000"; "--quiet"; "--out"; run ] do info.ArgumentList.Add a
                use p = Process.Start info
                let stdout = p.StandardOutput.ReadToEndAsync()
                let stderr = p.StandardError.ReadToEndAsync()
                // Interrupt once training is under way (episodes in metrics.csv): a signal before the handlers are in
                // place would test nothing (on a loaded machine the start took over a minute once).
                let metrics = Path.Combine(run, "metrics.csv")
                let clock = Stopwatch.StartNew()
                let started () = File.Exists metrics && File.ReadAllLines(metrics).Length > 20
                while not (started ()) && clock.Elapsed < TimeSpan.FromMinutes 5.0 && not p.HasExited do
                    Threading.Thread.Sleep 100
                if not (started ()) then
                    (try p.Kill true with _ -> ())
                    failtest $"train wrote no 20 episodes within {clock.Elapsed.TotalSeconds:F0} s (exited: {p.HasExited})"
                use kill = Process.Start("kill", [ $"-{signal}"; string p.Id ])
                kill.WaitForExit()
                if not (p.WaitForExit(TimeSpan.FromMinutes 1.0)) then
                    p.Kill true
                    failtest $"train did not stop within a minute of SIG{signal}"
                Expect.equal p.ExitCode 130 $"exit code (stderr: {stderr.Result})"
                ignore stdout.Result
                let line = lines stderr.Result |> Array.find (fun l -> l.Contains "interrupted at agent step")
                let words = line.Split ' '
                let step = int64 (words[5].TrimEnd ';')
                Expect.isLessThan step 1_000_000L "stopped before the end"
                let folder = Path.Combine(run, "checkpoints", TrainingCheckpoint.folderName step)
                Expect.isTrue (File.Exists(Path.Combine(folder, TrainingCheckpoint.StateFile))) $"a checkpoint at agent step {step}"
                let o = bench dir [ "train"; "--resume"; run; "--steps"; string (step + 200L); "--quiet" ]
                Expect.equal o.Code 0 $"resumed: exit code (stderr: {o.Stderr})"
                Expect.isTrue (File.Exists(Path.Combine(run, "checkpoints", TrainingCheckpoint.folderName (step + 200L), TrainingCheckpoint.StateFile))) "the resumed run's checkpoint")
    ]
