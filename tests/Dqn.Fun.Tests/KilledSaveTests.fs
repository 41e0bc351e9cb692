/// A save killed with SIGKILL: a child process (this test executable, started with `--save-loop PATH`) writes a large
/// checkpoint over and over until the test kills it at a random moment; the file it leaves must load whole, as one of
/// the saves (Safetensors.save writes a temporary file and renames it over the old one), and the temporary file of the
/// killed save must go at the next load. Likewise for training checkpoints (`--checkpoint-loop DIR`): a folder written
/// whole then renamed, so the newest complete one resumes, and the killed write's temporary folder goes at the next load.
module Dqn.Fun.Tests.KilledSaveTests

open System
open System.Diagnostics
open System.IO
open Expecto
open TorchSharp
open Dqn.Fun
open Dqn.Fun.Tests.TorchTestSupport

/// Floats in the child's tensor: 32 MB, so that a save takes long enough (tens of milliseconds, with the flush to
/// disk) for a kill to land inside one.
let private elements = 8L * 1024L * 1024L

/// The child: saves `path` again and again, save k holding a tensor filled with k and the metadata "save" = k,
/// printing "saved k" after each; never returns (the test kills it).
let saveLoop (path: string) =
    use _ = torch.NewDisposeScope()
    let t = torch.zeros([| elements |], dtype = torch.float32)
    let mutable k = 1
    while true do
        t.fill_(float32 k) |> ignore
        Safetensors.save path [ "w", t ] (Map [ "save", string k ])
        Console.Out.WriteLine $"saved {k}"
        Console.Out.Flush()
        k <- k + 1
    0

/// The settings of the training-checkpoint child: a wide MLP (about 1.1M parameters, so a checkpoint of both networks
/// and Adam's moments is about 18 MB) learning from the start.
let checkpointConfig =
    { DqnConfig.defaults with Hidden = [ 1024; 1024 ]; LearningStarts = 50; BatchSize = 32; BufferSize = 2_000; Seed = 4 }

/// The child of the training-checkpoint test: learns 2 agent steps, writes a training checkpoint into `dir`, prints
/// "saved <steps>", again and again; never returns (the test kills it).
let checkpointLoop (dir: string) =
    use agent = new Agent(checkpointConfig, 4, 2)
    let env = CartPoleEnvironment()
    while true do
        agent.Learn(env, 2L) |> ignore
        agent.SaveCheckpoint dir |> ignore
        Console.Out.WriteLine $"saved {agent.Steps}"
        Console.Out.Flush()
    0

/// Starts the child (`mode` = --save-loop or --checkpoint-loop) and kills it with SIGKILL (Process.Kill) after its first
/// save plus `delay`.
let private killDuring (mode: string) (path: string) (delay: TimeSpan) =
    let dll = Reflection.Assembly.GetEntryAssembly().Location
    let info = ProcessStartInfo("dotnet", RedirectStandardOutput = true, RedirectStandardError = true)
    for a in [ dll; mode; path ] do info.ArgumentList.Add a
    use p = Process.Start info
    let first = p.StandardOutput.ReadLineAsync()
    if not (first.Wait(TimeSpan.FromMinutes 2.0)) || isNull first.Result then
        p.Kill true
        failtestf "the child saved nothing within 2 minutes (stderr: %s)" (p.StandardError.ReadToEnd())
    Threading.Thread.Sleep delay
    p.Kill()
    p.WaitForExit()

[<Tests>]
let tests =
    testList "KilledSave" [
        testCase "a save killed with SIGKILL leaves a checkpoint that loads whole, and its temporary file goes at the next load" <| fun () ->
            let dir, cleanup = tempFolder ()
            use _ = cleanup
            let path = Path.Combine(dir, "model.safetensors")
            let rng = Random 5
            let mutable leftovers = 0
            for round in 1..6 do
                killDuring "--save-loop" path (TimeSpan.FromMilliseconds(float (rng.Next(0, 400))))
                leftovers <- leftovers + Directory.GetFiles(dir, ".model.safetensors.*.tmp").Length
                use _ = torch.NewDisposeScope()
                let file = Safetensors.load path torch.CPU
                let k = int file.Metadata["save"]
                let name, w = Expect.wantSingle file.Tensors $"round {round}: tensors"
                Expect.equal name "w" $"round {round}: tensor name"
                Expect.equal w.shape [| elements |] $"round {round}: shape"
                // Every element holds the save's number: the file is one save, whole.
                Expect.equal (w.min().ToSingle()) (float32 k) $"round {round}: smallest element"
                Expect.equal (w.max().ToSingle()) (float32 k) $"round {round}: largest element"
                // .NET's "*.tmp" matches names starting with a dot too.
                Expect.isEmpty (Directory.GetFiles(dir, "*.tmp")) $"round {round}: temporary files after load"
            printfn "killed saves: %d of 6 kills left a temporary file behind (removed by the next load)" leftovers

        testCase "a training checkpoint killed with SIGKILL mid-write leaves the checkpoints before it resumable, and its temporary folder goes at the next load" <| fun () ->
            let dir, cleanup = tempFolder ()
            use _ = cleanup
            let rng = Random 6
            let mutable leftovers = 0
            let mutable last = 0L
            for round in 1..6 do
                killDuring "--checkpoint-loop" dir (TimeSpan.FromMilliseconds(float (rng.Next(0, 600))))
                leftovers <- leftovers + Directory.GetDirectories(dir, ".step-*.tmp").Length
                // Every round's child starts from step 0 in the same folder; the newest complete checkpoint is read.
                use agent = Agent.Resume(dir, checkpointConfig)
                Expect.isGreaterThan agent.Steps 0L $"round {round}: steps of the checkpoint read"
                Expect.equal (agent.Steps % 2L) 0L $"round {round}: a checkpoint is written every 2 agent steps"
                Expect.equal agent.ReplayCount (int (min agent.Steps 2_000L)) $"round {round}: the replay came back whole"
                Expect.isEmpty (Directory.GetDirectories(dir, ".step-*")) $"round {round}: temporary folders after the load"
                for d in TrainingCheckpoint.list dir do
                    Directory.Delete(d, true)
                last <- agent.Steps
            printfn "killed checkpoint writes: %d of 6 kills left a temporary folder behind (removed by the next load); last read at step %d" leftovers last
    ]
