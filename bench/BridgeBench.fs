/// `dqnfun-bench bridge`: Atari env throughput through the ALE bridge (AleBridge + atari/bridge/ale_bridge.py)
/// against a raw ale_py loop doing the same emulator frames in one Python process
/// (bench/baselines/ale_loop.py). Measurements live here, never in tests.
///
/// Units: a frame is one emulator frame (one ale.act); an agent step is `repeat` frames (fewer when the
/// game ends). Throughput is frames per second of wall time, in total and per env.
module Dqn.Fun.Bench.BridgeBench

open System
open System.Diagnostics
open System.IO
open System.Text.Json
open System.Threading
open Argu
open Dqn.Fun.Atari

type BridgeArgs =
    | Game of id: string
    | Envs of counts: int list
    | Servers of counts: int list
    | Vector
    | Steps of agentSteps: int
    | Repeat of frames: int
    | Sticky of probability: float
    | Seed of int
    | Rounds of int
    | Inline_Screens
    | Python of path: string
    | Out of dir: string

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Game _ -> "ale_py game id (default pong)."
            | Envs _ -> "env counts N to measure (default 1 and the core count, at most 2 without this flag)."
            | Servers _ -> "server counts S to split each N over (layouts where S divides N; default 1, and N where N is at most the core count)."
            | Vector -> "time an AtariVectorEnvironment (full preprocessing: max-pool, gray, 84x84 resize, frame stack) on one client thread instead of bare bridge STEPs."
            | Steps _ -> "timed agent steps per env and run (default 2000)."
            | Repeat _ -> "emulator frames per agent step (default 4)."
            | Sticky _ -> "repeat_action_probability of every env (default 0.25)."
            | Seed _ -> "ALE seed of env 0 (env i gets seed + i) and of the random actions (default 0)."
            | Rounds _ -> "alternating raw/bridge runs per layout; the medians are reported (default 3)."
            | Inline_Screens -> "send the screens in the replies instead of a shared memory file (protocol CREATE flag off)."
            | Python _ -> "python with ale_py, pyzmq and numpy (default $DQNFUN_PYTHON, else /usr/bin/python3, else python3)."
            | Out _ -> "folder for bridge.json (default runs/bridge)."

/// One measured layout: `envs` envs split evenly over `servers` bridge processes (each stepped by its own
/// client thread) against the raw loop with the same envs split over as many Python processes.
type Layout = { Envs: int; Servers: int }

/// One timed run: emulator frames, wall seconds, and CPU seconds of every process doing the work (bridge:
/// the servers plus this client process; raw: the Python processes).
type Run = { Frames: int64; Seconds: float; CpuSeconds: float }

/// Emulator frames per wall-clock second.
let fps (r: Run) = float r.Frames / r.Seconds

/// Emulator frames per CPU second: the cost of a frame, robust to other load on the machine (which skews
/// wall-clock figures in favour of whichever side sleeps more).
let fpcs (r: Run) = float r.Frames / r.CpuSeconds

let median (xs: float list) = let s = List.sort xs in s[s.Length / 2]

/// A layout's medians over the rounds: frames per wall second and per CPU second, raw and bridge.
type Result =
    { Layout: Layout
      Raw: float
      Bridge: float
      RawCpu: float
      BridgeCpu: float
      RawRuns: Run list
      BridgeRuns: Run list }

/// The python to use: explicit, else $DQNFUN_PYTHON, else /usr/bin/python3, else python3.
let pythonOf (explicitPath: string option) =
    let env = Environment.GetEnvironmentVariable "DQNFUN_PYTHON"
    match explicitPath with
    | Some p -> p
    | None when not (String.IsNullOrEmpty env) -> env
    | None -> if File.Exists "/usr/bin/python3" then "/usr/bin/python3" else "python3"

/// None when `python` imports ale_py, pyzmq and numpy; else why not (its last stderr line).
let missingModules (python: string) =
    try
        let psi = ProcessStartInfo(python, [ "-c"; "import ale_py, zmq, numpy" ], RedirectStandardError = true, UseShellExecute = false)
        use p = Process.Start psi
        let err = p.StandardError.ReadToEnd()
        p.WaitForExit()
        if p.ExitCode = 0 then None
        else Some(err.Trim().Split('\n') |> Array.last)
    with e -> Some e.Message

/// CPU seconds so far of the bridges' server processes and of this process (its client threads, ZeroMQ's I/O
/// thread, the GC).
let cpuSeconds (bridges: AleBridge[]) =
    use me = Process.GetCurrentProcess()
    let servers =
        bridges |> Array.sumBy (fun b -> (use p = Process.GetProcessById b.ServerProcessId in p.TotalProcessorTime.TotalSeconds))
    servers + me.TotalProcessorTime.TotalSeconds

/// Steps every env of `bridge` `steps` times with uniformly random actions held `repeat` frames, max-pools
/// each env's two screens into `pooled[i]` ([H; W; 3] bytes) as the training loop does, and resets the envs
/// whose episode ended. Returns the emulator frames run.
let stepLoop (bridge: AleBridge) (rng: Random) (steps: int) (repeat: int) (pooled: byte[][]) =
    let n = bridge.Envs.Length
    let actions = Array.zeroCreate<int> n
    let ended = ResizeArray<int>()
    let mutable frames = 0L
    for _ in 1..steps do
        for i in 0 .. n - 1 do
            actions[i] <- rng.Next bridge.Envs[i].Actions.Length
        let o = bridge.Step(actions, repeat)
        ended.Clear()
        for i in 0 .. n - 1 do
            let s = o.Steps[i]
            frames <- frames + int64 s.Frames
            o.MaxPooledInto(i, Span pooled[i])
            if s.GameOver || s.Truncated then ended.Add i
        if ended.Count > 0 then
            let r = bridge.Reset(ended.ToArray())
            for k in 0 .. r.Envs.Length - 1 do
                r.MaxPooledInto(k, Span pooled[r.Envs[k]])
    frames

/// One bridge run of `layout`: launches its servers (python = `python`), creates the envs, warms up for
/// 50 agent steps, then times `steps` agent steps per env with every client thread starting together.
let bridgeRun (python: string) (shared: bool) (game: string) (layout: Layout) (steps: int) (repeat: int) (sticky: float32) (seed: int) =
    let per = layout.Envs / layout.Servers
    let options =
        AleBridgeOptions.Default
            .WithServer({ AleServerLaunch.Python() with FileName = python })
            .WithStartupTimeout(TimeSpan.FromSeconds 60.0)
            .WithSharedScreens(shared)
    let bridges = Array.zeroCreate<AleBridge> layout.Servers
    try
        for j in 0 .. layout.Servers - 1 do
            let b = AleBridge.Launch options
            bridges[j] <- b
            b.Create [| for i in 0 .. per - 1 -> AleEnvSpec.OfGame(game, seed + j * per + i).WithRepeatActionProbability sticky |]
            |> ignore
        let cpu () = cpuSeconds bridges
        // Phase 0 ends when every thread has warmed up (the clock starts), phase 1 when all are done.
        let marks = ResizeArray<int64 * float>()
        let phases = new Barrier(layout.Servers, fun _ -> marks.Add((Stopwatch.GetTimestamp(), cpu ())))
        let counts = Array.zeroCreate<int64> layout.Servers
        let errors = Array.zeroCreate<exn> layout.Servers
        let threads =
            bridges
            |> Array.mapi (fun j b ->
                Thread(
                    (fun () ->
                        try
                            let rng = Random(seed + j)
                            let pooled = b.Envs |> Array.map (fun e -> Array.zeroCreate<byte> (e.Height * e.Width * 3))
                            b.ResetAll() |> ignore
                            stepLoop b rng 50 repeat pooled |> ignore
                            phases.SignalAndWait()
                            counts[j] <- stepLoop b rng steps repeat pooled
                            phases.SignalAndWait()
                        with e ->
                            errors[j] <- e
                            phases.RemoveParticipant() |> ignore),
                    IsBackground = true,
                    Name = $"bridge-bench-{j}"
                ))
        threads |> Array.iter (fun t -> t.Start())
        threads |> Array.iter (fun t -> t.Join())
        match errors |> Array.tryFind (isNull >> not) with
        | Some e -> raise (InvalidOperationException($"a bridge client thread failed: {e.Message}", e))
        | None -> ()
        let (t0, c0), (t1, c1) = marks[0], marks[1]
        { Frames = Array.sum counts
          Seconds = float (t1 - t0) / float Stopwatch.Frequency
          CpuSeconds = c1 - c0 },
        bridges[0].Server
    finally
        for b in bridges do
            if not (isNull (box b)) then b.Dispose()

/// One run of `layout` through an AtariVectorEnvironment over a BridgedVectorEmulator (the servers stepped in
/// parallel from this one thread): the frames the training loop gets, preprocessed (max-pool, gray, resize, stack),
/// with random actions, the envs' episodes ending and resetting as in training (Machado et al. 2018 settings:
/// no no-ops, no FIRE, game over only, the frame skip = `repeat`). Warms up 50 steps, then times `steps`.
let vectorRun (python: string) (shared: bool) (game: string) (layout: Layout) (steps: int) (repeat: int) (sticky: float) (seed: int) =
    let options =
        AleBridgeOptions.Default
            .WithServer({ AleServerLaunch.Python() with FileName = python })
            .WithStartupTimeout(TimeSpan.FromSeconds 60.0)
            .WithSharedScreens(shared)
    use emulator = BridgedVectorEmulator.Launch(game, layout.Envs, layout.Servers, seed, sticky, options = options)
    let settings = { AtariSettings.machado with FrameSkip = repeat; MaxEpisodeFrames = 0 }
    let env = AtariVectorEnvironment(emulator, settings, seed)
    let cpu () = cpuSeconds emulator.Bridges
    let rng = Random seed
    let actions = Array.zeroCreate<int> layout.Envs
    let play (n: int) =
        for _ in 1..n do
            for i in 0 .. actions.Length - 1 do
                actions[i] <- rng.Next env.ActionCount
            env.Step actions |> ignore
    env.Reset() |> ignore
    play 50
    let f0, c0, t0 = env.TotalFrames, cpu (), Stopwatch.GetTimestamp()
    play steps
    let t1, c1 = Stopwatch.GetTimestamp(), cpu ()
    { Frames = env.TotalFrames - f0
      Seconds = float (t1 - t0) / float Stopwatch.Frequency
      CpuSeconds = c1 - c0 },
    emulator.Bridges[0].Server

/// One raw run of `layout` (bench/baselines/ale_loop.py with --procs = servers).
let rawRun (python: string) (script: string) (game: string) (layout: Layout) (steps: int) (repeat: int) (sticky: float) (seed: int) =
    let inv (x: float) = x.ToString("R", Globalization.CultureInfo.InvariantCulture)
    let j =
        AtariBench.runPython
            python
            script
            [ "--game"; game; "--envs"; string layout.Envs; "--procs"; string layout.Servers; "--steps"; string steps
              "--repeat"; string repeat; "--sticky"; inv sticky; "--seed"; string seed ]
    { Frames = j.GetProperty("frames").GetInt64()
      Seconds = j.GetProperty("seconds").GetDouble()
      CpuSeconds = j.GetProperty("cpu_seconds").GetDouble() }

/// The subcommand. `findBaseline` locates bench/baselines/<name>. Returns the exit code (0 also when
/// ale_py is missing: it says so and reports no figures).
let run (findBaseline: string -> string) (a: ParseResults<BridgeArgs>) =
    let python = pythonOf (a.TryGetResult BridgeArgs.Python)
    match missingModules python with
    | Some why ->
        printfn "bridge bench: SKIPPED, no figures: %s cannot import ale_py, pyzmq and numpy (%s)." python why
        printfn "Build or install ale_py for that python (or point $DQNFUN_PYTHON / --python at one that has it)."
        0
    | None ->
    let cores = Environment.ProcessorCount
    let game = a.GetResult(BridgeArgs.Game, "pong")
    let counts = a.GetResult(BridgeArgs.Envs, List.distinct [ 1; min 2 cores ])
    let steps = a.GetResult(BridgeArgs.Steps, 2000)
    let repeat = a.GetResult(BridgeArgs.Repeat, 4)
    let sticky = a.GetResult(BridgeArgs.Sticky, 0.25)
    let seed = a.GetResult(BridgeArgs.Seed, 0)
    let rounds = a.GetResult(BridgeArgs.Rounds, 3)
    let shared = not (a.Contains BridgeArgs.Inline_Screens)
    let vector = a.Contains BridgeArgs.Vector
    let out = a.GetResult(BridgeArgs.Out, Path.Combine("runs", "bridge"))
    for n in counts do
        if n < 1 || n > 256 then failwith $"--envs {n}: an env count must be in 1..256"
    if steps < 1 then failwith $"--steps {steps} must be at least 1"
    if repeat < 1 || repeat > 64 then failwith $"--repeat {repeat} must be in 1..64"
    if rounds < 1 then failwith $"--rounds {rounds} must be at least 1"
    let script = findBaseline "ale_loop.py"
    // One server hosting all N envs (the bridge's own layout), and, for N > 1 up to the core count, one
    // server per env stepped from one client thread each (scaling over the cores).
    let layouts =
        match a.TryGetResult BridgeArgs.Servers with
        | Some servers ->
            for s in servers do
                if s < 1 then failwith $"--servers {s}: a server count must be at least 1"
            [ for n in counts do
                  for s in servers do
                      if s <= n && n % s = 0 && n / s <= 256 then yield { Envs = n; Servers = s } ]
        | None ->
            [ for n in counts do
                  yield { Envs = n; Servers = 1 }
                  if n > 1 && n <= cores then yield { Envs = n; Servers = n } ]
    if layouts.IsEmpty then failwith "no layout: every --servers count must divide an --envs count"
    let mutable server = ""
    let results =
        [ for l in layouts ->
              let raws, bridgesRuns =
                  List.init rounds (fun _ ->
                      let raw = rawRun python script game l steps repeat sticky seed
                      let bridge, name =
                          if vector then vectorRun python shared game l steps repeat sticky seed
                          else bridgeRun python shared game l steps repeat (float32 sticky) seed
                      server <- name
                      raw, bridge)
                  |> List.unzip
              let r =
                  { Layout = l
                    Raw = median (List.map fps raws)
                    Bridge = median (List.map fps bridgesRuns)
                    RawCpu = median (List.map fpcs raws)
                    BridgeCpu = median (List.map fpcs bridgesRuns)
                    RawRuns = raws
                    BridgeRuns = bridgesRuns }
              printfn
                  "  %d env(s) on %d server(s): raw %.0f frames/s, bridge %.0f frames/s, ratio %.3f (per CPU second %.3f)"
                  l.Envs l.Servers r.Raw r.Bridge (r.Bridge / r.Raw) (r.BridgeCpu / r.RawCpu)
              r ]
    printfn ""
    printfn "%s, repeat %d, sticky %g, %d agent steps per env and run, median of %d runs, %d cores; %s%s" game repeat sticky steps rounds cores server (if vector then "; bridge = AtariVectorEnvironment (preprocessed), one client thread" else "")
    printfn "| envs | bridge servers = raw processes | raw ale_py frames/s (per env) | bridge frames/s (per env) | bridge / raw | bridge / raw per CPU second |"
    printfn "|---:|---:|---:|---:|---:|---:|"
    for r in results do
        let e = float r.Layout.Envs
        printfn
            "| %d | %d | %.0f (%.0f) | %.0f (%.0f) | %.2f | %.2f |"
            r.Layout.Envs r.Layout.Servers r.Raw (r.Raw / e) r.Bridge (r.Bridge / e) (r.Bridge / r.Raw) (r.BridgeCpu / r.RawCpu)
    Directory.CreateDirectory out |> ignore
    let path = Path.Combine(out, "bridge.json")
    (use fs = File.Create path
     use w = new Utf8JsonWriter(fs, JsonWriterOptions(Indented = true))
     w.WriteStartObject()
     w.WriteString("game", game)
     w.WriteNumber("repeat", repeat)
     w.WriteNumber("sticky", sticky)
     w.WriteNumber("agent_steps_per_env", steps)
     w.WriteNumber("rounds", rounds)
     w.WriteNumber("cores", cores)
     w.WriteString("server", server)
     w.WriteString("python", python)
     w.WriteString("bridge_side", (if vector then "AtariVectorEnvironment over BridgedVectorEmulator, one client thread, preprocessed frames" else "AleBridge STEPs, one client thread per server, max-pooled screens"))
     w.WriteStartArray "layouts"
     for r in results do
         let e = float r.Layout.Envs
         w.WriteStartObject()
         w.WriteNumber("envs", r.Layout.Envs)
         w.WriteNumber("servers", r.Layout.Servers)
         w.WriteNumber("raw_frames_per_second", r.Raw)
         w.WriteNumber("raw_frames_per_second_per_env", r.Raw / e)
         w.WriteNumber("bridge_frames_per_second", r.Bridge)
         w.WriteNumber("bridge_frames_per_second_per_env", r.Bridge / e)
         w.WriteNumber("ratio", r.Bridge / r.Raw)
         w.WriteNumber("raw_frames_per_cpu_second", r.RawCpu)
         w.WriteNumber("bridge_frames_per_cpu_second", r.BridgeCpu)
         w.WriteNumber("ratio_per_cpu_second", r.BridgeCpu / r.RawCpu)
         for name, runs in [ "raw_runs", r.RawRuns; "bridge_runs", r.BridgeRuns ] do
             w.WriteStartArray name
             for x in runs do
                 w.WriteStartObject()
                 w.WriteNumber("frames", x.Frames)
                 w.WriteNumber("seconds", x.Seconds)
                 w.WriteNumber("cpu_seconds", x.CpuSeconds)
                 w.WriteEndObject()
             w.WriteEndArray()
         w.WriteEndObject()
     w.WriteEndArray()
     w.WriteEndObject())
    printfn "wrote %s" path
    0
