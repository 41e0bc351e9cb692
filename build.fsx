// Dqn.Fun build script (FAKE 6.2 targets, run by F# Interactive).
//
//   dotnet fsi build.fsx                      # default target: Build
//   dotnet fsi build.fsx -t Test              # setup, build, run every test project
//   dotnet fsi build.fsx -t Train -- --steps 30000
//   dotnet fsi build.fsx -t Bench
//   dotnet fsi build.fsx -t Atari                # a short Pong job (needs ale_py: pip install ale-py pyzmq numpy)
//   dotnet fsi build.fsx --list               # list the targets
//
// Targets, each pulling in what it needs, so any of them works on a fresh machine:
//
//   Setup ==> Build ==> Test
//             Build ==> Train
//             Build ==> Bench
//             Build ==> Atari
//   Clean (alone)
//
// Arguments after the target name (fsi drops a leading `--`) are handed to the target:
// Train and Bench append them to the bench command line, Test to the F# Expecto test executables (e.g.
// `--filter-test-list Bellman`; the C# tests then run whole: filter them with `dotnet test tests/Dqn.Fun.Facade.Tests
// --filter ...`).
//
// The F# test projects are Expecto executables (the mirror serves no Expecto adapter for `dotnet test`): Test runs
// each with `dotnet <dll> --nunit-summary`, the C# facade tests with `dotnet test` and a TRX logger, and sums both.
//
// LibTorch comes with the TorchSharp-cpu package (paket.lock). On Debian 12 / Ubuntu 22.04 every project's
// build patches its output copy of libLibTorchSharp.so (build/Dqn.Fun.TorchSharp.targets, imported by
// Directory.Build.targets), so plain `dotnet build` / `dotnet test` work as well as these targets.

// FSharp.Control.Reactive is pinned before FAKE: FAKE 6.2 asks for >= 5.0.2, which the
// package mirror lacks; 4.4.2 works (restore warns NU1605 about the downgrade, harmlessly).
#r "nuget: FSharp.Control.Reactive, 4.4.2"
#r "nuget: Fake.Core.Target, 6.2.0"

open System
open System.IO
open System.Xml.Linq
open Fake.Core
open Fake.Core.TargetOperators

// ---------------------------------------------------------------------------------------
// FAKE execution context (needed when a script runs under plain `dotnet fsi`).
// ---------------------------------------------------------------------------------------

let scriptArgs = fsi.CommandLineArgs |> Array.skip 1 |> List.ofArray

Context.FakeExecutionContext.Create false __SOURCE_FILE__ scriptArgs
|> Context.RuntimeContext.Fake
|> Context.setExecutionContext

// ---------------------------------------------------------------------------------------
// Paths
// ---------------------------------------------------------------------------------------

let root = __SOURCE_DIRECTORY__
let (</>) (a: string) (b: string) = Path.Combine(a, b)

let solution = root </> "Dqn.Fun.sln"
let artifacts = root </> "artifacts"
let testResults = artifacts </> "test-results"
let benchDll = root </> "bench" </> "bin" </> "Release" </> "net10.0" </> "dqnfun-bench.dll"

/// Every test project: tests/<Name>/<Name>.fsproj (Expecto executables) or .csproj (xunit, `dotnet test`).
let testProjects () =
    Directory.GetDirectories(root </> "tests")
    |> Array.collect (fun dir ->
        Array.append (Directory.GetFiles(dir, "*.fsproj")) (Directory.GetFiles(dir, "*.csproj")))
    |> Array.sort
    |> List.ofArray

/// The built test executable of an F# (Expecto) test project.
let expectoDll (project: string) =
    let name = Path.GetFileNameWithoutExtension project
    Path.GetDirectoryName project </> "bin" </> "Release" </> "net10.0" </> (name + ".dll")

// ---------------------------------------------------------------------------------------
// Process helpers (Fake.DotNet.Cli does not restore from the package mirror: dotnet is run directly)
// ---------------------------------------------------------------------------------------

/// Runs a program in the repository root with inherited stdout/stderr; returns its exit code.
let exec (env: (string * string) list) (exe: string) (args: string list) =
    CreateProcess.fromRawCommand exe args
    |> CreateProcess.withWorkingDirectory root
    |> fun c -> (c, env) ||> List.fold (fun c (k, v) -> CreateProcess.setEnvironmentVariable k v c)
    |> Proc.run
    |> fun r -> r.ExitCode

/// Runs a program and fails the target when it exits non-zero.
let run (exe: string) (args: string list) =
    let code = exec [] exe args
    if code <> 0 then failwithf "'%s %s' failed with exit code %d" exe (String.Join(" ", args)) code

/// Runs a program quietly; returns (exit code, stdout). None when it cannot be started.
let capture (exe: string) (args: string list) =
    try
        CreateProcess.fromRawCommand exe args
        |> CreateProcess.redirectOutput
        |> Proc.run
        |> fun r -> Some(r.ExitCode, r.Result.Output.Trim())
    with _ -> None

// ---------------------------------------------------------------------------------------
// System packages (Debian): checked with dpkg, installed with apt-get when running as root
// ---------------------------------------------------------------------------------------

let isRoot () =
    match capture "id" [ "-u" ] with
    | Some(0, uid) -> uid = "0"
    | _ -> false

let isInstalled (package: string) =
    match capture "dpkg" [ "-s"; package ] with
    | Some(0, status) -> status.Contains "Status: install ok installed"
    | _ -> false

/// Makes sure the given Debian packages are installed: installs them as root,
/// otherwise prints the command to run and fails.
let ensurePackages (packages: string list) =
    if Option.isNone (capture "dpkg" [ "--version" ]) then
        Trace.traceImportantfn "dpkg not found: not a Debian system, assuming %s present." (String.Join(", ", packages))
    else
        match packages |> List.filter (isInstalled >> not) with
        | [] -> Trace.tracefn "System packages present: %s" (String.Join(", ", packages))
        | missing ->
            let names = String.Join(" ", missing)
            if isRoot () then
                Trace.tracefn "Installing system packages: %s" names
                run "apt-get" [ "update" ]
                let code =
                    exec [ ("DEBIAN_FRONTEND", "noninteractive") ] "apt-get" ([ "install"; "-y" ] @ missing)
                if code <> 0 then failwithf "apt-get install %s failed with exit code %d" names code
            else
                Trace.traceErrorfn "Missing system packages: %s. Install them with:" names
                Trace.traceErrorfn "  sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y %s" names
                failwithf "missing system packages: %s" names

// ---------------------------------------------------------------------------------------
// Test results: Expecto's NUnit summaries and xunit's TRX files, summed over every test project
// ---------------------------------------------------------------------------------------

type Counts = { Passed: int; Failed: int; Skipped: int }

/// The closing line, printed last by the script when Test ran.
let mutable testSummary: Counts option = None

let readTrx (file: string) =
    let doc = XDocument.Load file
    let counters = doc.Descendants() |> Seq.find (fun e -> e.Name.LocalName = "Counters")
    let count name =
        match counters.Attribute(XName.Get name) with
        | null -> 0
        | a -> int a.Value
    { Passed = count "passed"
      Failed = count "failed" + count "error" + count "timeout" + count "aborted"
      // xunit's skipped tests are counted in total but not in executed (nor in notExecuted).
      Skipped = max 0 (count "total" - count "executed") }

/// Counts of an Expecto `--nunit-summary` file: one test-case element a test, its result Success, Failure, Error or
/// Ignored (skiptest).
let readNunitSummary (file: string) =
    let results =
        XDocument.Load(file).Descendants()
        |> Seq.filter (fun e -> e.Name.LocalName = "test-case")
        |> Seq.map (fun e -> match e.Attribute(XName.Get "result") with null -> "" | a -> a.Value)
        |> List.ofSeq
    let count r = results |> List.filter ((=) r) |> List.length
    { Passed = count "Success"
      Failed = results.Length - count "Success" - count "Ignored"
      Skipped = count "Ignored" }

let summaryLine (c: Counts) =
    let line = sprintf "%d passed, %d failed" c.Passed c.Failed
    if c.Skipped > 0 then sprintf "%s, %d skipped" line c.Skipped else line

// ---------------------------------------------------------------------------------------
// Targets
// ---------------------------------------------------------------------------------------

Target.create "Clean" (fun _ ->
    let dirs =
        [ artifacts ]
        @ ([ "core"; "atari"; "facade"; "bench"; "tests"; "examples" ]
           |> List.collect (fun d ->
               Directory.EnumerateDirectories(root </> d, "*", SearchOption.AllDirectories)
               |> Seq.filter (fun p -> Path.GetFileName p = "bin" || Path.GetFileName p = "obj")
               |> List.ofSeq))
    for d in dirs |> List.filter Directory.Exists |> List.distinct do
        Trace.tracefn "Deleting %s" d
        Directory.Delete(d, true))

Target.create "Setup" (fun _ ->
    // System packages for the bridge tests that run the Python server over a fake ale_py: python3 with pyzmq and
    // numpy. The .NET client's ZeroMQ (NetMQ) and LibTorch come from NuGet.
    ensurePackages [ "python3-zmq"; "python3-numpy" ]
    // .NET tools (paket, from .config/dotnet-tools.json) and the packages in paket.lock.
    run "dotnet" [ "tool"; "restore" ]
    run "dotnet" [ "paket"; "restore" ])

Target.create "Build" (fun _ -> run "dotnet" [ "build"; solution; "-c"; "Release" ])

Target.create "Test" (fun p ->
    // Each project writes its results into artifacts/test-results: <Project>.xml (Expecto's NUnit summary) for an
    // F# project, <Project>.trx for a C# one.
    if Directory.Exists testResults then Directory.Delete(testResults, true)
    Directory.CreateDirectory testResults |> ignore
    let mutable total = { Passed = 0; Failed = 0; Skipped = 0 }
    for project in testProjects () do
        let name = Path.GetFileNameWithoutExtension project
        let code, results, read =
            if project.EndsWith ".fsproj" then
                let xml = testResults </> (name + ".xml")
                let code =
                    exec [] "dotnet"
                        ([ expectoDll project; "--summary"; "--no-spinner"; "--colours"; "0"; "--nunit-summary"; xml ]
                         @ p.Context.Arguments)
                code, xml, readNunitSummary
            else
                let trx = testResults </> (name + ".trx")
                let code =
                    exec [] "dotnet"
                        ([ "test"; project; "-c"; "Release"; "--no-build"
                           "--results-directory"; testResults
                           "--logger"; sprintf "trx;LogFileName=%s.trx" name ])
                code, trx, readTrx
        let counts = if File.Exists results then read results else { Passed = 0; Failed = 0; Skipped = 0 }
        // A test run that crashed (or wrote no results) counts as one failure.
        let counts =
            if code <> 0 && counts.Failed = 0 then
                Trace.traceErrorfn "%s: the test run exited with %d without a failed test recorded" name code
                { counts with Failed = counts.Failed + 1 }
            else counts
        Trace.tracefn "%s: %s" name (summaryLine counts)
        total <-
            { Passed = total.Passed + counts.Passed
              Failed = total.Failed + counts.Failed
              Skipped = total.Skipped + counts.Skipped }
    testSummary <- Some total
    if total.Failed > 0 then failwithf "%d test(s) failed" total.Failed
    if total.Passed = 0 then failwith "no test ran")

/// Runs the bench executable (built by Build) with a command and the target's extra arguments.
let runBench (command: string) (args: string list) (env: (string * string) list) =
    let code = exec env "dotnet" ([ benchDll; command ] @ args)
    if code <> 0 then failwithf "dqnfun-bench %s failed with exit code %d" command code

Target.create "Train" (fun p -> runBench "train" p.Context.Arguments [])

Target.create "Bench" (fun p ->
    // The PyTorch baseline needs Python with torch: Debian's python3-torch, run by
    // /usr/bin/python3 (a python3 earlier on PATH may lack torch). DQNFUN_PYTHON overrides.
    let python =
        match Environment.environVarOrNone "DQNFUN_PYTHON" with
        | Some py -> py
        | None ->
            ensurePackages [ "python3-torch" ]
            if File.Exists "/usr/bin/python3" then "/usr/bin/python3" else "python3"
    runBench "compare" p.Context.Arguments [ ("DQNFUN_PYTHON", python) ])

Target.create "Atari" (fun p ->
    // A short Pong job through the ALE bridge: python3 (or DQNFUN_PYTHON) must import ale_py, pyzmq and numpy
    // (pip install ale-py pyzmq numpy). The Nature preset, with learning from 5k agent steps and a 100k-transition
    // replay so that 500k frames show learning begin; arguments after the target replace these.
    let defaults =
        [ "--game"; "pong"; "--preset"; "nature"; "--frames"; "500000"; "--learning-starts"; "5000"
          "--buffer-size"; "100000"; "--eval-interval"; "250000"; "--eval-episodes"; "3"; "--threads"; "2" ]
    let python =
        match Environment.environVarOrNone "DQNFUN_PYTHON" with
        | Some py -> py
        | None -> "python3"
    runBench "atari" (if List.isEmpty p.Context.Arguments then defaults else p.Context.Arguments) [ ("DQNFUN_PYTHON", python) ])

"Setup" ==> "Build" ==> "Test" |> ignore
"Build" ==> "Train" |> ignore
"Build" ==> "Bench" |> ignore
"Build" ==> "Atari" |> ignore

// ---------------------------------------------------------------------------------------
// Run. When Test ran, its `N passed, N failed` line is the very last line of output
// (after FAKE's time report); any failure exits non-zero.
// ---------------------------------------------------------------------------------------

let exitCode =
    try
        Target.runOrDefaultWithArguments "Build"
        0
    with e ->
        let rec innermost (e: exn) =
            match e.InnerException with
            | null -> e.Message
            | inner -> innermost inner
        eprintfn "Build failed: %s" (innermost e)
        1

testSummary |> Option.iter (summaryLine >> printfn "%s")
exit exitCode
