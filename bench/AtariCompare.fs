/// `dqnfun-bench atari-compare`: end-to-end Atari DQN training throughput of Dqn.Fun (the `atari` command: the bridge,
/// the frame replay, the Nature CNN on TorchSharp) against a CleanRL-style PyTorch-eager loop straight on ale_py
/// (bench/baselines/atari_dqn.py), the same game, preset settings, frames and replay ratio, one after the other on the
/// same cores. Measurements live here, never in tests.
module Dqn.Fun.Bench.AtariCompare

open System
open System.Diagnostics
open System.IO
open System.Text.Json
open Argu

type AtariCompareArgs =
    | Rom of path: string
    | Game of id: string
    | Frames of emulatorFrames: int
    | Learning_Starts of agentSteps: int
    | Threads of counts: int list
    | Seed of int
    | Overlap
    | Envs of counts: int list
    | Python of path: string
    | Out of dir: string

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Rom _ -> "the game's ROM file (required; both sides load it)."
            | Game _ -> "the game id our side names (default breakout)."
            | Frames _ -> "emulator frames each side trains for (default 20000)."
            | Learning_Starts _ -> "agent steps before the first update (default 500; the dopamine preset's 20000 would leave 20k frames without a single update)."
            | Threads _ -> "intra-op thread counts to compare at, both sides alike (default 1 and the core count)."
            | Seed _ -> "seed of both (default 0)."
            | Overlap -> "also time ours with --overlap (learning on its own thread, the replay ratio held)."
            | Envs _ -> "numbers of training envs to time ours at (atari --envs: a vector env, one batched forward pass per round, the same replay ratio; default 1). Theirs steps one env."
            | Python _ -> "python with ale_py, numpy and torch (default $DQNFUN_PYTHON, else /usr/bin/python3)."
            | Out _ -> "folder for atari-compare.json and our runs (default runs/atari-compare)."

/// One side's figures: frames trained, seconds of the training loop, updates.
type Side = { Frames: int64; Seconds: float; Updates: int64 }

let fps (s: Side) = float s.Frames / s.Seconds

/// Our side: this program's `atari` command in a child process (its own LibTorch thread setting), dopamine preset.
let ours (game: string) (rom: string) (frames: int) (learningStarts: int) (threads: int) (seed: int) (overlap: bool) (envs: int) (out: string) =
    let dll = Reflection.Assembly.GetEntryAssembly().Location
    let host = Environment.ProcessPath
    let args =
        [ "atari"; "--game"; game; "--rom"; rom; "--preset"; "dopamine"; "--frames"; string frames
          "--learning-starts"; string learningStarts; "--buffer-size"; string (frames / 4 + 1); "--threads"; string threads
          "--seed"; string seed; "--out"; out; "--quiet"
          if overlap then "--overlap"
          if envs > 1 then yield! [ "--envs"; string envs ] ]
    let psi =
        if Path.GetFileNameWithoutExtension host = "dotnet" then ProcessStartInfo(host, dll :: args)
        else ProcessStartInfo(host, args)
    psi.UseShellExecute <- false
    psi.RedirectStandardOutput <- true
    if Directory.Exists out then Directory.Delete(out, true)
    use p = Process.Start psi
    p.StandardOutput.ReadToEnd() |> ignore
    p.WaitForExit()
    if p.ExitCode <> 0 then failwith $"dqnfun-bench atari exited with {p.ExitCode}"
    use doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(out, "summary.json")))
    let j = doc.RootElement
    { Frames = j.GetProperty("frames").GetInt64()
      Seconds = j.GetProperty("wall_seconds").GetDouble() - j.GetProperty("evaluation_seconds").GetDouble()
      Updates = j.GetProperty("updates").GetInt64() }

/// Their side: bench/baselines/atari_dqn.py (threads 0: PyTorch's default).
let theirs (python: string) (script: string) (rom: string) (frames: int) (learningStarts: int) (threads: int) (seed: int) =
    let j =
        AtariBench.runPython
            python
            script
            [ "--rom"; rom; "--frames"; string frames; "--learning-starts"; string learningStarts; "--threads"; string threads
              "--seed"; string seed ]
    { Frames = j.GetProperty("frames").GetInt64()
      Seconds = j.GetProperty("seconds").GetDouble()
      Updates = j.GetProperty("updates").GetInt64() },
    j.GetProperty("threads").GetInt32(),
    j.GetProperty("torch").GetString()

let run (findBaseline: string -> string) (a: ParseResults<AtariCompareArgs>) =
    let rom =
        match a.TryGetResult AtariCompareArgs.Rom with
        | Some r -> Path.GetFullPath(Cli.inputFile "--rom" r)
        | None -> Cli.usage "--rom is required (the ROM both sides load)"
    let python = BridgeBench.pythonOf (a.TryGetResult AtariCompareArgs.Python)
    match BridgeBench.missingModules python with
    | Some why ->
        printfn "atari-compare: SKIPPED, no figures: %s cannot import ale_py, pyzmq and numpy (%s)." python why
        0
    | None ->
    let game = a.GetResult(AtariCompareArgs.Game, "breakout")
    let frames = a.GetResult(AtariCompareArgs.Frames, 20_000)
    Cli.positive "--frames" (int64 frames)
    let learningStarts = a.GetResult(AtariCompareArgs.Learning_Starts, 500)
    let cores = Environment.ProcessorCount
    let threadCounts = a.GetResult(AtariCompareArgs.Threads, List.distinct [ 1; cores ])
    for t in threadCounts do
        if t < 1 then Cli.usage $"--threads {t}: expected at least 1"
    let envCounts = a.GetResult(AtariCompareArgs.Envs, [ 1 ])
    for n in envCounts do
        if n < 1 then Cli.usage $"--envs {n}: expected at least 1"
    let seed = a.GetResult(AtariCompareArgs.Seed, 0)
    let out = a.GetResult(AtariCompareArgs.Out, Path.Combine("runs", "atari-compare"))
    Directory.CreateDirectory out |> ignore
    let script = findBaseline "atari_dqn.py"
    let rows =
        [ for t in threadCounts do
              let th, _, torchVersion = theirs python script rom frames learningStarts t seed
              for envs in envCounts do
                for overlap in (if a.Contains AtariCompareArgs.Overlap then [ false; true ] else [ false ]) do
                    let name = $"""threads{t}{if envs > 1 then $"-envs{envs}" else ""}{if overlap then "-overlap" else ""}"""
                    let o = ours game rom frames learningStarts t seed overlap envs (Path.Combine(out, "ours-" + name))
                    let label = $"""{t}{if envs > 1 then $", {envs} envs" else ""}{if overlap then " (overlap)" else ""}"""
                    printfn
                        "  %s thread(s): Dqn.Fun %.1f s (%.0f frames/s, %d updates), PyTorch eager %.1f s (%.0f frames/s, %d updates): %.2fx"
                        label o.Seconds (fps o) o.Updates th.Seconds (fps th) th.Updates (fps o / fps th)
                    yield label, o, th, torchVersion ]
    let thDefault, defaultThreads, torchVersion = theirs python script rom frames learningStarts 0 seed
    printfn "  PyTorch at its default thread count (%d): %.1f s (%.0f frames/s)" defaultThreads thDefault.Seconds (fps thDefault)
    printfn ""
    printfn "%s, dopamine preset, %d frames, learning from agent step %d, seed %d, %d cores; PyTorch %s" game frames learningStarts seed cores torchVersion
    printfn "| threads | Dqn.Fun s (frames/s) | PyTorch eager s (frames/s) | Dqn.Fun / PyTorch |"
    printfn "|---:|---:|---:|---:|"
    for t, o, th, _ in rows do
        printfn "| %s | %.1f (%.0f) | %.1f (%.0f) | %.2f |" t o.Seconds (fps o) th.Seconds (fps th) (fps o / fps th)
    let best = rows |> List.map (fun (_, o, _, _) -> fps o) |> List.max
    printfn "best of ours against PyTorch at its default (%d threads): %.2fx" defaultThreads (best / fps thDefault)
    Json.write (Path.Combine(out, "atari-compare.json")) (fun w ->
        w.WriteString("game", game)
        w.WriteNumber("frames", frames)
        w.WriteNumber("learning_starts", learningStarts)
        w.WriteNumber("seed", seed)
        w.WriteNumber("cores", cores)
        w.WriteString("torch", torchVersion)
        w.WriteStartArray "rows"
        for t, o, th, _ in rows do
            w.WriteStartObject()
            w.WriteString("threads", t)
            w.WriteNumber("dqnfun_seconds", o.Seconds)
            w.WriteNumber("dqnfun_frames_per_second", fps o)
            w.WriteNumber("dqnfun_updates", o.Updates)
            w.WriteNumber("pytorch_seconds", th.Seconds)
            w.WriteNumber("pytorch_frames_per_second", fps th)
            w.WriteNumber("pytorch_updates", th.Updates)
            w.WriteNumber("ratio", fps o / fps th)
            w.WriteEndObject()
        w.WriteEndArray()
        w.WriteNumber("pytorch_default_threads", defaultThreads)
        w.WriteNumber("pytorch_default_frames_per_second", fps thDefault)
        w.WriteNumber("best_ratio_against_pytorch_default", best / fps thDefault))
    printfn "wrote %s" (Path.Combine(out, "atari-compare.json"))
    0
