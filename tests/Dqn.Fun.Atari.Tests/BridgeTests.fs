module Dqn.Fun.Atari.Tests.BridgeTests

open System
open System.Diagnostics
open System.IO
open System.IO.Compression
open System.Threading
open FsCheck
open FsCheck.FSharp
open Expecto
open Dqn.Fun.Atari
open Dqn.Fun.Atari.Protocol
open Dqn.Fun.Atari.Tests.TransportTests
open Dqn.Fun.Tests
open Dqn.Fun.Tests.TestConfig

// ---- the recorded fixture (fixtures/bridge/README.md) ---------------------------------------------------

let ScreenBytes = 210 * 160 * 3

type FrameRow =
    { ActionIndex: int
      Reward: int
      Lives: int
      GameOver: bool
      FrameNumber: int
      EpisodeFrameNumber: int }

type ReplayGame =
    { Name: string
      /// Minimal action set (ALE ids), from the shared manifest.
      Actions: int[]
      ResetScreen: byte[]
      /// 40 frames, [40; 210; 160; 3].
      Frames: byte[]
      Rows: FrameRow[]
      /// Agent-step actions of the whole recording (100 steps); the window starts at step WindowStep.
      StepActions: int[]
      WindowStep: int }

    member g.Frame(i: int) = Array.sub g.Frames (i * ScreenBytes) ScreenBytes

let fixtureDir = Path.Combine(AppContext.BaseDirectory, "fixtures", "bridge")

let gunzip (file: string) =
    use f = File.OpenRead(Path.Combine(fixtureDir, file))
    use g = new GZipStream(f, CompressionMode.Decompress)
    use m = new MemoryStream()
    g.CopyTo m
    m.ToArray()

let loadGame name actions windowStep =
    let rows =
        File.ReadAllLines(Path.Combine(fixtureDir, $"{name}_frames.csv"))
        |> Array.skip 1
        |> Array.map (fun l ->
            let c = l.Split ','
            { ActionIndex = int c[2]
              Reward = int c[5]
              Lives = int c[6]
              GameOver = c[7] = "1"
              FrameNumber = int c[9]
              EpisodeFrameNumber = int c[10] })
    { Name = name
      Actions = actions
      ResetScreen = gunzip $"{name}_reset_rgb.u8.gz"
      Frames = gunzip $"{name}_rgb.u8.gz"
      Rows = rows
      StepActions = File.ReadAllText(Path.Combine(fixtureDir, $"{name}_step_actions.txt")).Split(' ', StringSplitOptions.RemoveEmptyEntries) |> Array.map int
      WindowStep = windowStep }

let pong = lazy (loadGame "pong" [| 0; 1; 3; 4; 11; 12 |] 58)
let breakout = lazy (loadGame "breakout" [| 0; 1; 3; 4 |] 24)

// ---- the replay server --------------------------------------------------------------------------------

/// What the replay server does on its `at`-th STEP request (1-based).
type Fault =
    | NoFault
    /// Close its socket and end, without replying.
    | DieAtStep of at: int
    /// Receive the request and never answer (stays alive until disposed).
    | HangAtStep of at: int

type private ReplayEnv =
    { Game: ReplayGame
      mutable Pos: int
      mutable Last: byte[] }

/// A bridge server written in F# that speaks PROTOCOL.md over a real ZeroMQ REP socket, bound to `bindAddress`
/// (default tcp://127.0.0.1:*, a port the OS chooses; Endpoint is the one bound), and replays the
/// recorded frames: RESET serves the recorded reset screen, then each STEP serves the next `repeat`
/// recorded frames of the 40-frame window (frames 232.. for pong, 96.. for breakout), their rewards,
/// lives and frame numbers. Each action must equal the recorded one (the replay cannot diverge).
type ReplayServer(bindAddress: string, fault: Fault) =
    let stop = new ManualResetEventSlim(false)
    let ready = new ManualResetEventSlim(false)
    let mutable steps = 0
    let mutable envs: ReplayEnv[] = [||]
    let mutable error: exn = null
    let mutable endpoint = bindAddress

    let handle (frames: byte[] list) : Reply option * bool =
        try
            match decodeRequest frames with
            | _, Hello(lo, hi) ->
                if lo > Protocol.Version || hi < Protocol.Version then
                    Some(Error(BridgeErrorCode.Version, -1, $"no common version in {lo}..{hi}; this server speaks {Protocol.Version}")), false
                else Some(HelloOk(Protocol.Version, Protocol.MaxEnvs, Protocol.MaxRepeat, "replay (Dqn.Fun tests)")), false
            | _, Create(specs, _) -> // no shared screen file: the replay sends the screens in its replies
                envs <-
                    specs
                    |> Array.mapi (fun i s ->
                        let g =
                            match s.Game with
                            | "pong" when not s.GameIsRomPath -> pong.Force()
                            | "breakout" when not s.GameIsRomPath -> breakout.Force()
                            | other -> bad BridgeErrorCode.Ale i $"the replay has no recording of '{other}'"
                        { Game = g; Pos = 0; Last = g.ResetScreen })
                Some(CreateOk([| for e in envs -> { Actions = e.Game.Actions; Height = 210; Width = 160; Lives = e.Game.Rows[0].Lives } |], None)), false
            | _, Reset idx ->
                if envs.Length = 0 then bad BridgeErrorCode.State -1 "RESET before CREATE"
                idx |> Array.iteri (fun i e -> if e >= envs.Length then bad BridgeErrorCode.OutOfRange e $"RESET: env {e} does not exist ({envs.Length} envs)")
                let out =
                    [| for e in idx ->
                           let env = envs[e]
                           env.Pos <- 0
                           env.Last <- env.Game.ResetScreen
                           let r0 = env.Game.Rows[0]
                           { Reward = 0; Lives = r0.Lives; Frames = 0; EpisodeFrameNumber = r0.EpisodeFrameNumber - 1
                             FrameNumber = r0.FrameNumber - 1; GameOver = false; Truncated = false }, env.Last, env.Last |]
                Some(Observed(Kind.Reset, Array.map (fun (r, _, _) -> r) out, Array.concat [ for _, a, b in out -> Array.append a b ])), false
            | _, Step ops ->
                steps <- steps + 1
                match fault with
                | DieAtStep at when at = steps -> None, true
                | HangAtStep at when at = steps -> None, false
                | _ ->
                if envs.Length = 0 then bad BridgeErrorCode.State -1 "STEP before CREATE"
                if ops.Length <> envs.Length then bad BridgeErrorCode.OutOfRange -1 $"STEP gives {ops.Length} ops for {envs.Length} envs"
                ops |> Array.iteri (fun i op ->
                    if op.Action < 0 || op.Action >= envs[i].Game.Actions.Length then
                        bad BridgeErrorCode.OutOfRange i $"action {op.Action} is outside 0..{envs[i].Game.Actions.Length - 1}")
                envs |> Array.iteri (fun i e ->
                    let op = ops[i]
                    let pos = if op.Reset then 0 else e.Pos
                    if pos + op.Repeat > e.Game.Rows.Length then bad BridgeErrorCode.State i "the recording is exhausted"
                    for f in pos .. pos + op.Repeat - 1 do
                        if e.Game.Rows[f].ActionIndex <> op.Action then
                            bad BridgeErrorCode.State i $"action {op.Action} differs from the recorded {e.Game.Rows[f].ActionIndex} (the replay cannot diverge)")
                let out =
                    [| for e, op in Array.zip envs ops ->
                           let previous = if e.Pos = 0 then None else Some e.Game.Rows[e.Pos - 1]
                           if op.Reset then
                               e.Pos <- 0
                               e.Last <- e.Game.ResetScreen
                           let r0 = e.Game.Rows[0]
                           if op.Repeat = 0 then
                               // a reset alone, or untouched: the current record, both screens the last one
                               let lives, ep, fr, over =
                                   match (if op.Reset then None else previous) with
                                   | Some r -> r.Lives, r.EpisodeFrameNumber, r.FrameNumber, r.GameOver
                                   | None -> r0.Lives, r0.EpisodeFrameNumber - 1, r0.FrameNumber - 1, false
                               { Reward = 0; Lives = lives; Frames = 0; EpisodeFrameNumber = ep; FrameNumber = fr; GameOver = over; Truncated = false }, e.Last, e.Last
                           else
                               let repeat = op.Repeat
                               let rows = e.Game.Rows[e.Pos .. e.Pos + repeat - 1]
                               let prev = if repeat = 1 then e.Last else e.Game.Frame(e.Pos + repeat - 2)
                               e.Last <- e.Game.Frame(e.Pos + repeat - 1)
                               e.Pos <- e.Pos + repeat
                               let r = Array.last rows
                               { Reward = rows |> Array.sumBy (fun r -> r.Reward); Lives = r.Lives; Frames = repeat
                                 EpisodeFrameNumber = r.EpisodeFrameNumber; FrameNumber = r.FrameNumber
                                 GameOver = r.GameOver; Truncated = false }, prev, e.Last |]
                Some(Observed(Kind.Step, Array.map (fun (r, _, _) -> r) out, Array.concat [ for _, a, b in out -> Array.append a b ])), false
            | _, Close -> Some CloseOk, true
        with ProtocolError(code, env, msg) -> Some(Error(code, env, msg)), false

    let seqOf frames = try snd (readHeader frames) with _ -> 0u

    let thread =
        Thread(
            (fun () ->
                try
                    use s = new TransportSocket(TransportKind.Reply)
                    // A port given again after a server on it closed: its listener closes in the background.
                    let sw = Stopwatch.StartNew()
                    let rec bind () =
                        try s.Bind bindAddress
                        with :? TransportException when sw.Elapsed < TimeSpan.FromSeconds 5.0 ->
                            Thread.Sleep 20
                            bind ()
                    endpoint <- bind ()
                    ready.Set()
                    let mutable quit = false
                    let mutable hung = false
                    while not quit && not stop.IsSet do
                        match s.TryReceive(TimeSpan.FromMilliseconds 20.0) with
                        | None -> ()
                        | Some _ when hung -> ()
                        | Some frames ->
                            match handle frames with
                            | Some reply, q ->
                                s.Send(encodeReply (seqOf frames) reply, TimeSpan.FromSeconds 5.0)
                                quit <- q
                            | None, true -> quit <- true // die: close the socket without a reply
                            | None, false -> hung <- true
                    if hung then stop.Wait()
                with e ->
                    error <- e
                    ready.Set()),
            IsBackground = false,
            Name = "replay-server"
        )

    do
        thread.Start()
        if not (ready.Wait(TimeSpan.FromSeconds 10.0)) then failwith "replay server did not bind"
        if not (isNull error) then raise (InvalidOperationException("replay server failed to start", error))

    new(bindAddress) = new ReplayServer(bindAddress, NoFault)
    new(fault) = new ReplayServer("tcp://127.0.0.1:*", fault)
    new() = new ReplayServer("tcp://127.0.0.1:*", NoFault)
    /// The endpoint bound, tcp://127.0.0.1:PORT.
    member _.Endpoint = endpoint
    member _.Steps = steps
    /// Waits for the server thread to end (after CLOSE or a DieAtStep fault).
    member _.Join(timeout: TimeSpan) = thread.Join timeout
    member _.Error = error

    member _.Dispose() =
        stop.Set()
        thread.Join() |> ignore

    interface IDisposable with
        member s.Dispose() = s.Dispose()

/// A raw REQ client for hand-made (malformed) messages.
let exchange (endpoint: string) (frames: byte[] list) =
    use s = new TransportSocket(TransportKind.Request)
    s.Connect endpoint
    s.Send(frames, TimeSpan.FromSeconds 5.0)
    receive s

let errorOf (frames: byte[] list) =
    match frames with
    | [ h; b; m ] when u16 h 6 = Kind.Error -> enum<BridgeErrorCode> (int (u32 b 0)), int (u32 b 4), Text.Encoding.UTF8.GetString m
    | _ -> failwithf "expected an ERROR reply, got %d frames of kind %d" frames.Length (u16 frames.Head 6)

let fast = AleBridgeOptions.Default.WithReceiveTimeout(TimeSpan.FromSeconds 10.0)
let specs = [| AleEnvSpec.OfGame("pong", 0).WithRepeatActionProbability(0.0f); AleEnvSpec.OfGame("breakout", 0).WithRepeatActionProbability(0.0f) |]

/// Actions of agent step k of the window, per env.
let windowActions (k: int) = [| pong.Value.Rows[4 * k].ActionIndex; breakout.Value.Rows[4 * k].ActionIndex |]

/// A valid request mangled by a seeded mutation: a byte changed, a frame cut, grown, dropped or added.
let mutated (seed: int) : byte[] list =
    let rng = Random seed
    let valid =
        [ encodeRequest 1u (Hello(Protocol.Version, Protocol.Version)); encodeRequest 2u (Create(specs, true)); encodeRequest 3u (Reset [| 0; 1 |])
          encodeRequest 4u (stepAll 4 [| 1; 2 |]); encodeRequest 5u Close ]
    let frames = valid[rng.Next valid.Length] |> List.map Array.copy |> ResizeArray
    for _ in 0 .. rng.Next(1, 4) do
        let f = rng.Next frames.Count
        match rng.Next 5 with
        | 0 when frames[f].Length > 0 -> frames[f][rng.Next frames[f].Length] <- byte (rng.Next 256)
        | 1 when frames[f].Length > 0 -> frames[f] <- Array.sub frames[f] 0 (rng.Next frames[f].Length)
        | 2 -> frames[f] <- Array.append frames[f] (Array.init (rng.Next(1, 9)) (fun _ -> byte (rng.Next 256)))
        | 3 when frames.Count > 1 -> frames.RemoveAt f
        | _ -> frames.Add(Array.init (rng.Next 16) (fun _ -> byte (rng.Next 256)))
    List.ofSeq frames

/// Sends malformed requests to a fresh server (no envs created) at `endpoint`; each must get the right
/// ERROR reply, and the server must then still answer a good HELLO, echoing sequence numbers.
let assertRefusesMalformed (endpoint: string) =
    let ep = {| Endpoint = endpoint |}
    let hello = encodeRequest 1u (Hello(Protocol.Version, Protocol.Version))
    let withVersion v (h: byte[]) =
        let h = Array.copy h
        wu16 h 4 v
        h
    let codeOf frames = let c, _, _ = errorOf (exchange ep.Endpoint frames) in c
    // wrong protocol version in the header
    let code, _, msg = errorOf (exchange ep.Endpoint [ withVersion 1us hello[0]; hello[1] ])
    Expect.equal code BridgeErrorCode.Version "a header of version 1"
    Expect.stringContains msg "version 1 is not supported" "the version error's message"
    // no common version in HELLO
    Expect.equal (codeOf (encodeRequest 1u (Hello(Protocol.Version + 1us, Protocol.Version + 3us)))) BridgeErrorCode.Version "HELLO of versions above this one"
    // bad magic, short header, truncated body, extra frame
    Expect.equal (codeOf [ Array.zeroCreate 12; hello[1] ]) BridgeErrorCode.Malformed "a bad magic"
    Expect.equal (codeOf [ Array.sub hello[0] 0 8 ]) BridgeErrorCode.Malformed "a short header"
    Expect.equal (codeOf [ hello[0]; Array.sub hello[1] 0 6 ]) BridgeErrorCode.Malformed "a truncated body"
    Expect.equal (codeOf (hello @ [ [| 0uy |] ])) BridgeErrorCode.Malformed "an extra frame"
    // unknown kind
    Expect.equal (codeOf [ header 9us 3u ]) BridgeErrorCode.UnknownKind "kind 9"
    // an env count of 0 or above the limit
    Expect.equal (codeOf [ header Kind.Step 3u; Array.zeroCreate 8 ]) BridgeErrorCode.OutOfRange "a STEP of 0 envs"
    let tooMany = Array.zeroCreate 8
    wu32 tooMany 0 100000u
    Expect.equal (codeOf [ header Kind.Reset 3u; tooMany ]) BridgeErrorCode.OutOfRange "a RESET of 100000 envs"
    // STEP before CREATE, repeat 65, an unknown op flag, body size not matching its count
    Expect.equal (codeOf (encodeRequest 4u (stepAll 4 [| 0 |]))) BridgeErrorCode.State "STEP before CREATE"
    Expect.equal (codeOf (encodeRequest 4u (stepAll 65 [| 0 |]))) BridgeErrorCode.OutOfRange "STEP with repeat 65"
    let step = encodeRequest 5u (stepAll 4 [| 0; 0 |])
    let flagged = Array.copy step[1]
    flagged[8 + 6] <- 2uy
    Expect.equal (codeOf [ step[0]; flagged ]) BridgeErrorCode.Malformed "a STEP op with flag bit 1"
    Expect.equal (codeOf [ step[0]; Array.append step[1] [| 0uy; 0uy; 0uy; 0uy |] ]) BridgeErrorCode.Malformed "a STEP body longer than its count"
    // CREATE with a NaN sticky probability, names missing, invalid UTF-8
    let create = encodeRequest 6u (Create([| specs[0] |], false))
    let nan = Array.copy create[1]
    wf32 nan 12 Single.NaN
    let c, env, _ = errorOf (exchange ep.Endpoint [ create[0]; nan; create[2] ])
    Expect.equal (c, env) (BridgeErrorCode.OutOfRange, 0) "CREATE with a NaN sticky probability"
    Expect.equal (codeOf [ create[0]; create[1] ]) BridgeErrorCode.Malformed "CREATE without names"
    Expect.equal (codeOf [ create[0]; create[1]; [| 0xFFuy; 0xFEuy |] ]) BridgeErrorCode.Malformed "CREATE with invalid UTF-8"
    // a game id that is not [a-z0-9_]+
    let shout = encodeRequest 7u (Create([| { specs[0] with Game = "Pong!" } |], false))
    Expect.equal (let c, e, _ = errorOf (exchange ep.Endpoint shout) in c, e) (BridgeErrorCode.OutOfRange, 0) "CREATE of game 'Pong!'"
    // after all that, a well-formed session works, and the error reply echoes the request's sequence
    let e = exchange ep.Endpoint (encodeRequest 42u (Hello(Protocol.Version, Protocol.Version)))
    Expect.equal (u16 e[0] 6) (Kind.Hello ||| Kind.ReplyBit) "the HELLO reply's kind"
    Expect.equal (u32 e[0] 8) 42u "the HELLO reply's sequence"
    let refused = exchange ep.Endpoint (encodeRequest 5u (stepAll 65 [| 0 |]))
    Expect.equal (u32 refused.Head 8) 5u "the ERROR reply's sequence"

/// Sends 300 mangled requests (no CLOSE among them); each must get a reply, ERROR or not.
let assertSurvivesFuzz (endpoint: string) =
    use s = new TransportSocket(TransportKind.Request)
    s.Connect endpoint
    for seed in 1..300 do
        let m = mutated seed
        let isClose = try (match decodeRequest m with _, Close -> true | _ -> false) with _ -> false
        if not isClose then
            s.Send(m, TimeSpan.FromSeconds 5.0)
            let reply = receive s
            Expect.equal reply.Head.Length 12 $"seed {seed}: the reply header's length"
            // refused by validation, not by the catch-all
            if u16 reply.Head 6 = Kind.Error then
                let code, _, msg = errorOf reply
                Expect.isTrue (code <> BridgeErrorCode.Internal) $"seed {seed}: INTERNAL error: {msg}"

// ---- the real ALE, when python3 has ale_py and pyzmq ---------------------------------------------------

/// Whether the python the bridge launches ($DQNFUN_PYTHON or python3) can import `modules`.
let pythonHas (modules: string) =
    try
        let python = AleServerLaunch.Python().FileName
        use p = Process.Start(ProcessStartInfo(python, $"-c \"import {modules}\"", RedirectStandardError = true, UseShellExecute = false))
        p.WaitForExit 30000 && p.ExitCode = 0
    with _ -> false

/// Skips the calling test (Expecto's skiptest, with the reason) where the python the bridge launches lacks pyzmq or
/// numpy, and where it also lacks ale_py.
let private requirePyzmq () =
    if not (pythonHas "zmq, numpy") then
        skiptest "pyzmq/numpy not importable by python3 (apt-get install python3-zmq, or pip install pyzmq numpy)"

let private requireAle () =
    if not (pythonHas "ale_py, zmq, numpy") then
        skiptest "ale_py/pyzmq not importable by python3 (pip install ale-py pyzmq numpy to run this test)"

/// Starts ale_bridge.py directly (stdin piped) bound to `endpoint` and returns it with the endpoint it
/// printed in its READY line.
let private startRaw (endpoint: string) (extra: string list) =
    let d = AleServerLaunch.Python()
    let psi = ProcessStartInfo(d.FileName, RedirectStandardInput = true, RedirectStandardOutput = true, UseShellExecute = false)
    for a in [ d.Arguments.Head; "--endpoint"; endpoint ] @ extra do
        psi.ArgumentList.Add a
    let p = Process.Start psi
    let line = p.StandardOutput.ReadLine()
    Expect.stringStarts line "READY " "the server's first line"
    p, line.Substring 6

/// The bridge server over fixtures/bridge/fake_ale, a fake ale_py with known screens.
let private fakeAleLaunch () =
    let d = AleServerLaunch.Python()
    { FileName = "/usr/bin/env"; Arguments = ("PYTHONPATH=" + Path.Combine(fixtureDir, "fake_ale")) :: d.FileName :: d.Arguments }

/// Steps an AtariVectorEnvironment of `numEnvs` envs on `servers` servers (BridgedVectorEmulator, env i seeded
/// 11 + i) and lone AtariEnvironments over a BridgedEmulator each (seeded alike) with the same seeded random
/// actions, comparing every observation, reward and flag byte for byte; at least one episode must end.
let private assertVectorMatchesLone (options: AleBridgeOptions) (game: string) (sticky: float) (settings: AtariSettings) (numEnvs: int) (servers: int) (steps: int) =
    use vectorEmulator = BridgedVectorEmulator.Launch(game, numEnvs, servers, 11, sticky, options = options)
    Expect.equal vectorEmulator.EnvsPerServer (Array.init servers (fun j -> numEnvs / servers + (if j < numEnvs % servers then 1 else 0))) "envs per server"
    let vector = AtariVectorEnvironment(vectorEmulator, settings, 3)
    let loneEmulators = Array.init numEnvs (fun i -> BridgedEmulator.Open(game, 11 + i, sticky, options = options))
    try
        let lone = Array.init numEnvs (fun i -> AtariEnvironment(loneEmulators[i].Emulator, settings, 3 + i))
        let count = 4 * 84 * 84
        let same (a: byte[]) (offset: int) (b: byte[]) = ReadOnlySpan(a, offset, count).SequenceEqual(ReadOnlySpan b)
        let first = vector.Reset()
        for i in 0 .. numEnvs - 1 do
            Expect.isTrue (same first (i * count) (lone[i].Reset())) $"env {i}'s first observation"
        let rng = Random 5
        let mutable ended = 0
        for k in 1..steps do
            let actions = Array.init numEnvs (fun _ -> rng.Next vector.ActionCount)
            let calls = vector.EmulatorCalls
            let s = vector.Step actions
            if not (Array.exists2 (||) s.Terminated s.Truncated) then
                Expect.equal (vector.EmulatorCalls - calls) 1L $"step {k}: one round trip per server when no episode ends"
            for i in 0 .. numEnvs - 1 do
                let l = lone[i].Step actions[i]
                Expect.isTrue (same s.FinalObservations (i * count) l.Observation) $"step {k}, env {i}: the final observation"
                Expect.equal
                    (s.Rewards[i], s.RawRewards[i], s.Terminated[i], s.Truncated[i], s.LifeLost[i], s.Frames[i])
                    (l.Reward, l.RawReward, l.Terminated, l.Truncated, l.LifeLost, l.Frames)
                    $"step {k}, env {i}: reward, raw reward, terminated, truncated, life lost, frames"
                if l.Terminated || l.Truncated then
                    ended <- ended + 1
                    Expect.isTrue (same s.Observations (i * count) (lone[i].Reset())) $"step {k}, env {i}: the next episode's first observation"
        Expect.isGreaterThan ended 0 "episodes ended"
        Expect.equal vector.TotalFrames (lone |> Array.sumBy (fun e -> e.TotalFrames)) "TotalFrames"
    finally
        for e in loneEmulators do e.Dispose()

[<Tests>]
let tests =
    testList "Bridge" [
        // ---- the protocol's bytes ---------------------------------------------------------------------------------
        testCase "a STEP request is the documented little-endian bytes" <| fun () ->
            let frames = encodeRequest 7u (Step [| AleStepOp.Act(2, 4); { Action = 5; Repeat = 3; Reset = true }; AleStepOp.Idle |])
            Expect.equal (frames[0]) [| 0x41uy; 0x4Cuy; 0x45uy; 0x42uy; 3uy; 0uy; 4uy; 0uy; 7uy; 0uy; 0uy; 0uy |] "the header"
            Expect.equal
                (frames[1])
                [| 3uy; 0uy; 0uy; 0uy; 0uy; 0uy; 0uy; 0uy
                   2uy; 0uy; 0uy; 0uy; 4uy; 0uy; 0uy; 0uy
                   5uy; 0uy; 0uy; 0uy; 3uy; 0uy; 1uy; 0uy
                   0uy; 0uy; 0uy; 0uy; 0uy; 0uy; 0uy; 0uy |]
                "the body: count, reserved, then per env action (i32), repeat (u16), flags (u8), reserved (u8)"

        testCase "every request decodes to itself" <| fun () ->
            let reqs =
                [ Hello(1us, 3us); Create(specs, false); Create([| { specs[0] with Game = "/roms/pong.bin"; GameIsRomPath = true; Mode = 2; Difficulty = 1; FullActionSet = true } |], true)
                  Reset [| 1; 0 |]; Step [| AleStepOp.Act(0, 64); { Action = 17; Repeat = 0; Reset = true } |]; Close ]
            for r in reqs do
                Expect.equal (decodeRequest (encodeRequest 9u r)) (9u, r) $"%A{r}"

        testPropertyWithConfig { fsCheck with maxTest = 2000 } "a mangled request either decodes or is refused with a ProtocolError, never another exception" (
            Prop.forAll (Arb.fromGen (Gen.choose (0, Int32.MaxValue))) (fun seed ->
                try
                    decodeRequest (mutated seed) |> ignore
                    true
                with ProtocolError _ -> true)
        )

        // ---- end to end over ZeroMQ, against the replay server ------------------------------------------------------
        testCase "the client receives the recorded screens, rewards and lives byte for byte" <| fun () ->
            use server = new ReplayServer()
            use bridge = AleBridge.Connect(server.Endpoint, fast)
            Expect.equal bridge.Server "replay (Dqn.Fun tests)" "bridge.Server"
            let infos = bridge.Create specs
            Expect.isFalse bridge.ScreensShared "bridge.ScreensShared" // asked for (a loopback server), declined by the replay
            Expect.equal (infos[0].Actions) [| 0; 1; 3; 4; 11; 12 |] "infos[0].Actions"
            Expect.equal (infos[1].Actions) [| 0; 1; 3; 4 |] "infos[1].Actions"
            Expect.equal (infos[1].Lives) 5 "infos[1].Lives"
            let r = bridge.ResetAll()
            Expect.isTrue (r.Screen(0, true).Span.SequenceEqual(ReadOnlySpan pong.Value.ResetScreen)) "pong's reset screen"
            Expect.isTrue (r.Screen(1, false).Span.SequenceEqual(ReadOnlySpan breakout.Value.ResetScreen)) "breakout's reset screen"
            let mutable rewards = [ 0; 0 ]
            let mutable lives = []
            for k in 0..9 do
                let o = bridge.Step(windowActions k, 4)
                for i, g in [ 0, pong.Value; 1, breakout.Value ] do
                    Expect.isTrue (o.Screen(i, false).Span.SequenceEqual(ReadOnlySpan(g.Frame(4 * k + 2)))) $"env {i} step {k}: second-to-last screen"
                    Expect.isTrue (o.Screen(i, true).Span.SequenceEqual(ReadOnlySpan(g.Frame(4 * k + 3)))) $"env {i} step {k}: last screen"
                    let rows = g.Rows[4 * k .. 4 * k + 3]
                    Expect.equal (o.Steps[i].Reward) (rows |> Array.sumBy (fun r -> r.Reward)) $"env {i} step {k}: Reward"
                    Expect.equal (o.Steps[i].Lives) (rows[3].Lives) $"env {i} step {k}: Lives"
                    Expect.equal (o.Steps[i].FrameNumber) (rows[3].FrameNumber) $"env {i} step {k}: FrameNumber"
                    Expect.equal (o.Steps[i].Frames) 4 $"env {i} step {k}: Frames"
                    Expect.isFalse (o.Steps[i].GameOver) $"env {i} step {k}: GameOver"
                rewards <- [ rewards[0] + o.Steps[0].Reward; rewards[1] + o.Steps[1].Reward ]
                lives <- o.Steps[1].Lives :: lives
                // the flicker max-pool is the element-wise max of the two screens
                let m = o.MaxPooled 0
                let a, b = pong.Value.Frame(4 * k + 2), pong.Value.Frame(4 * k + 3)
                Expect.equal m (Array.map2 max a b) $"step {k}: o.MaxPooled 0"
                let into = Array.create m.Length 9uy
                o.MaxPooledInto(0, Span into)
                Expect.equal into m $"step {k}: MaxPooledInto"
                let short = Expect.wantThrows<ArgumentException> (fun () -> o.MaxPooledInto(1, Span(Array.zeroCreate<byte> 100))) "MaxPooledInto 100 bytes"
                Expect.stringContains short.Message "destination is 100 bytes; env 1's screen is 100800" "short.Message"
            Expect.equal rewards [ -1; 0 ] "the rewards" // pong loses a point at frame 255 (step 63 = window step 5)
            Expect.equal lives [ 4; 4; 4; 4; 4; 4; 4; 5; 5; 5 ] "breakout's lives" // breakout loses a life at frame 108

        testCase "a step with repeat 1 pairs the new screen with the previous one" <| fun () ->
            use server = new ReplayServer()
            use bridge = AleBridge.Connect(server.Endpoint, fast)
            bridge.Create specs |> ignore
            bridge.ResetAll() |> ignore
            let o1 = bridge.Step(windowActions 0, 1)
            Expect.isTrue (o1.Screen(0, false).Span.SequenceEqual(ReadOnlySpan pong.Value.ResetScreen)) "o1: pong's previous screen is the reset screen"
            Expect.isTrue (o1.Screen(0, true).Span.SequenceEqual(ReadOnlySpan(pong.Value.Frame 0))) "o1: pong's last screen is frame 0"
            let o2 = bridge.Step(windowActions 0, 1)
            Expect.isTrue (o2.Screen(1, false).Span.SequenceEqual(ReadOnlySpan(breakout.Value.Frame 0))) "o2: breakout's previous screen is frame 0"
            Expect.isTrue (o2.Screen(1, true).Span.SequenceEqual(ReadOnlySpan(breakout.Value.Frame 1))) "o2: breakout's last screen is frame 1"

        testCase "a refused request raises BridgeException with the server's code and leaves the bridge usable" <| fun () ->
            use server = new ReplayServer()
            use bridge = AleBridge.Connect(server.Endpoint, fast)
            bridge.Create specs |> ignore
            bridge.ResetAll() |> ignore
            let e = Expect.wantThrows<BridgeException> (fun () -> bridge.Step([| 0; 4 |], 4) |> ignore) "a STEP with action 4 for breakout"
            Expect.equal e.ServerError (Nullable BridgeErrorCode.OutOfRange) "e.ServerError"
            Expect.stringContains e.Message "env 1" "e.Message"
            Expect.stringContains e.Message "action 4 is outside 0..3" "e.Message"
            Expect.stringContains e.InFlight "STEP #" "e.InFlight"
            Expect.isFalse bridge.IsBroken "bridge.IsBroken"
            let unknown = Expect.wantThrows<BridgeException> (fun () -> bridge.Create [| AleEnvSpec.OfGame("tetris", 0) |] |> ignore) "CREATE tetris"
            Expect.equal unknown.ServerError (Nullable BridgeErrorCode.Ale) "unknown.ServerError"
            Expect.equal (bridge.Step(windowActions 0, 4).Steps[0].Reward) 0 "a step after the refusals"

        testCase "malformed messages get error replies and the server keeps serving" <| fun () ->
            use server = new ReplayServer()
            assertRefusesMalformed server.Endpoint
            assertSurvivesFuzz server.Endpoint
            Expect.isNull server.Error "server.Error"

        testCase "env counts that do not match the created envs are refused" <| fun () ->
            use server = new ReplayServer()
            use bridge = AleBridge.Connect(server.Endpoint, fast)
            bridge.Create specs |> ignore
            let c, _, m = errorOf (exchange server.Endpoint (encodeRequest 1u (stepAll 4 [| 0; 0; 0 |])))
            Expect.equal c BridgeErrorCode.OutOfRange "a STEP of 3 ops"
            Expect.stringContains m "3 ops for 2 envs" "its message"
            let c2, env, _ = errorOf (exchange server.Endpoint (encodeRequest 2u (Reset [| 0; 7 |])))
            Expect.equal (c2, env) (BridgeErrorCode.OutOfRange, 7) "a RESET of env 7"
            Expect.throwsT<ArgumentException> (fun () -> bridge.Step([| 0 |], 4) |> ignore) "bridge.Step of 1 action"
            Expect.throwsT<ArgumentOutOfRangeException> (fun () -> bridge.Reset [| 2 |] |> ignore) "bridge.Reset [| 2 |]"

        testCase "BridgedEmulator opens one environment of a game named as users write it, and closes the bridge" <| fun () ->
            use server = new ReplayServer()
            let b = BridgedEmulator.Open("Pong", 0, 0.0, endpoint = server.Endpoint, options = fast)
            Expect.equal b.Bridge.Server "replay (Dqn.Fun tests)" "b.Bridge.Server"
            Expect.equal b.Bridge.Envs.Length 1 "one environment"
            Expect.equal (b.Emulator :> IAtariEmulator).MinimalActionSet [| 0; 1; 3; 4; 11; 12 |] "pong's actions"
            let screen = Array.zeroCreate<byte> Screen.rgbLength
            (b.Emulator :> IAtariEmulator).ResetGame screen
            Expect.isTrue (ReadOnlySpan(screen).SequenceEqual(ReadOnlySpan pong.Value.ResetScreen)) "pong's reset screen"
            // only a dead, hung or garbled server is restarted; a refusal or another error is not
            Expect.isFalse (b.RestartAfter(BridgeException(server.Endpoint, "STEP #1", "refused", Nullable BridgeErrorCode.State, null))) "a refusal"
            Expect.isFalse (b.RestartAfter(InvalidOperationException "other")) "another error"
            b.Dispose()
            Expect.throwsT<ObjectDisposedException> (fun () -> b.Bridge.ResetAll() |> ignore) "the bridge is closed"
            // a game the server refuses: the BridgeException says why, and the bridge is not left open
            use server2 = new ReplayServer()
            let e = Expect.wantThrows<BridgeException> (fun () -> BridgedEmulator.Open("Tetris", 0, 0.0, endpoint = server2.Endpoint, options = fast) |> ignore) "Open tetris"
            Expect.equal e.ServerError (Nullable BridgeErrorCode.Ale) "e.ServerError"
            Expect.stringContains e.Message "'tetris'" "e.Message"
            Expect.throwsT<ArgumentOutOfRangeException> (fun () -> BridgedEmulator.Open("pong", -1, 0.0, endpoint = server2.Endpoint) |> ignore) "a negative seed"
            Expect.throwsT<ArgumentOutOfRangeException> (fun () -> BridgedEmulator.Open("pong", 0, 1.5, endpoint = server2.Endpoint) |> ignore) "a probability above 1"
            Expect.throwsT<ArgumentException> (fun () -> BridgedEmulator.Open("Pac Man!", 0, 0.0, endpoint = server2.Endpoint) |> ignore) "a malformed game name"

        testCase "AleBridgeOptions' WithX members check their values and WithPython keeps the server's arguments" <| fun () ->
            let o = AleBridgeOptions.Default
            let e = Expect.wantThrows<ArgumentOutOfRangeException> (fun () -> o.WithReceiveTimeout TimeSpan.Zero |> ignore) "a zero timeout"
            Expect.equal e.ParamName "timeout" "e.ParamName"
            Expect.stringContains e.Message "must be positive" "e.Message"
            Expect.throwsT<ArgumentOutOfRangeException> (fun () -> o.WithStartupTimeout(TimeSpan.FromSeconds -1.0) |> ignore) "a negative timeout"
            Expect.throwsT<ArgumentException> (fun () -> o.WithPython " " |> ignore) "a blank interpreter"
            Expect.throwsT<ArgumentNullException> (fun () -> o.WithServer(Unchecked.defaultof<AleServerLaunch>) |> ignore) "a null server"
            let p = o.WithPython "/opt/python/bin/python3"
            Expect.equal p.Server.FileName "/opt/python/bin/python3" "p.Server.FileName"
            Expect.equal p.Server.Arguments o.Server.Arguments "p.Server.Arguments"
            Expect.equal (AleServerLaunch.Create("/bin/sh", "-c", "exit 1")) { FileName = "/bin/sh"; Arguments = [ "-c"; "exit 1" ] } "AleServerLaunch.Create"
            Expect.throwsT<ArgumentException> (fun () -> AleServerLaunch.Create("") |> ignore) "AleServerLaunch.Create of no program"

        testCase "a server that dies mid-step gives a BridgeException naming the endpoint and the step, and Restart starts afresh" <| fun () ->
            let dying = new ReplayServer(DieAtStep 3)
            let endpoint = dying.Endpoint
            use bridge = AleBridge.Connect(endpoint, AleBridgeOptions.Default.WithReceiveTimeout(TimeSpan.FromMilliseconds 400.0))
            bridge.Create specs |> ignore
            bridge.ResetAll() |> ignore
            bridge.Step(windowActions 0, 4) |> ignore
            bridge.Step(windowActions 1, 4) |> ignore
            let e = Expect.wantThrows<BridgeException> (fun () -> bridge.Step(windowActions 2, 4) |> ignore) "the third STEP"
            Expect.equal e.Endpoint endpoint "e.Endpoint"
            Expect.stringStarts e.InFlight "STEP #" "e.InFlight"
            Expect.stringContains e.InFlight "2 envs, repeat 4" "e.InFlight"
            Expect.stringContains e.Message endpoint "e.Message"
            Expect.stringContains e.Message "no reply within 0.4 s" "e.Message"
            Expect.isFalse e.ServerError.HasValue "e.ServerError.HasValue"
            Expect.isTrue bridge.IsBroken "bridge.IsBroken"
            Expect.isTrue (dying.Join(TimeSpan.FromSeconds 5.0)) "the dying server's thread ended"
            dying.Dispose()
            let again = Expect.wantThrows<BridgeException> (fun () -> bridge.Step(windowActions 2, 4) |> ignore) "a STEP on the broken bridge"
            Expect.stringContains again.Message "broken" "again.Message"
            // a fresh server on the same endpoint: Restart re-creates the envs and resets them
            use fresh = new ReplayServer(endpoint)
            let r = bridge.Restart()
            Expect.isFalse bridge.IsBroken "bridge.IsBroken after Restart"
            Expect.isTrue (r.Screen(0, true).Span.SequenceEqual(ReadOnlySpan pong.Value.ResetScreen)) "pong's reset screen after Restart"
            Expect.equal (bridge.Step(windowActions 0, 4).Steps[0].Reward) 0 "a step after Restart"

        testCase "a server that hangs trips the receive timeout" <| fun () ->
            use server = new ReplayServer(HangAtStep 1)
            use bridge = AleBridge.Connect(server.Endpoint, AleBridgeOptions.Default.WithReceiveTimeout(TimeSpan.FromMilliseconds 300.0))
            bridge.Create specs |> ignore
            bridge.ResetAll() |> ignore
            let sw = Stopwatch.StartNew()
            let e = Expect.wantThrows<BridgeException> (fun () -> bridge.Step(windowActions 0, 4) |> ignore) "a STEP to a hung server"
            Expect.inRange sw.ElapsedMilliseconds 250L 5000L "sw.ElapsedMilliseconds"
            Expect.stringContains e.Message "no reply within 0.3 s" "e.Message"

        testCase "a launched server that exits is reported with its exit code and what was in flight" <| fun () ->
            // READY at a port nothing listens on (9, discard): the request waits in the queue until the exit is seen
            let launch =
                { FileName = "/bin/sh"
                  Arguments = [ "-c"; "echo READY tcp://127.0.0.1:9; echo dying >&2; sleep 0.5; exit 3" ] }
            let options = AleBridgeOptions.Default.WithServer(launch).WithReceiveTimeout(TimeSpan.FromSeconds 20.0)
            let sw = Stopwatch.StartNew()
            let e = Expect.wantThrows<BridgeException> (fun () -> AleBridge.Launch options |> ignore) "AleBridge.Launch"
            Expect.isTrue (sw.Elapsed < TimeSpan.FromSeconds 10.0) "the exit is noticed before the receive timeout"
            Expect.equal e.Endpoint "tcp://127.0.0.1:9" "e.Endpoint"
            Expect.stringStarts e.InFlight "HELLO #1" "e.InFlight"
            Expect.isTrue (e.Message.Contains "exited with code 3") e.Message
            Expect.isTrue (e.Message.Contains "dying") e.Message

        testCase "a launched server that never says READY fails the start with its stderr" <| fun () ->
            let launch = { FileName = "/bin/sh"; Arguments = [ "-c"; "echo no such module >&2; exit 1" ] }
            let e = Expect.wantThrows<BridgeException> (fun () -> AleBridge.Launch(AleBridgeOptions.Default.WithServer launch) |> ignore) "AleBridge.Launch"
            Expect.equal e.InFlight "server start" "e.InFlight"
            Expect.stringContains e.Message "exited (code 1) before it was ready" "e.Message"
            Expect.stringContains e.Message "no such module" "e.Message"
            let missing = { FileName = "/nonexistent/python3"; Arguments = [] }
            let e2 = Expect.wantThrows<BridgeException> (fun () -> AleBridge.Launch(AleBridgeOptions.Default.WithServer missing) |> ignore) "AleBridge.Launch of a missing file"
            Expect.stringContains e2.Message "could not start /nonexistent/python3" "e2.Message"
            // READY at an endpoint NetMQ cannot reach: an ipc:// path (NetMQ's ipc:// is TCP), or the bind address itself
            for said in [ "ipc:///tmp/ale.sock"; "$0" ] do
                let launch = { FileName = "/bin/sh"; Arguments = [ "-c"; $"echo READY {said}; sleep 30"; "{endpoint}" ] }
                let sw = Stopwatch.StartNew()
                let e3 = Expect.wantThrows<BridgeException> (fun () -> AleBridge.Launch(AleBridgeOptions.Default.WithServer launch) |> ignore) $"READY {said}"
                Expect.isTrue (sw.Elapsed < TimeSpan.FromSeconds 10.0) "the server is stopped, not waited for"
                Expect.equal e3.InFlight "server start" "e3.InFlight"
                Expect.stringContains e3.Message "said READY at an endpoint this client cannot reach" "e3.Message"
                if said.StartsWith "ipc" then Expect.stringContains e3.Message "not a Unix socket" "e3.Message"

        // ---- the Python server (atari/bridge/ale_bridge.py), where python3 has pyzmq and numpy ----------------------
        testCase "the Python server validates every message like the replay server (skipped without pyzmq)" <| fun () ->
            requirePyzmq ()
            let bridge = AleBridge.Launch(AleBridgeOptions.Default.WithReceiveTimeout(TimeSpan.FromSeconds 20.0))
            printfn $"server: {bridge.Server} at {bridge.Endpoint}"
            Expect.isMatch bridge.Endpoint @"^tcp://127\.0\.0\.1:[1-9][0-9]*$" "bridge.Endpoint" // the port the server bound
            assertRefusesMalformed bridge.Endpoint
            assertSurvivesFuzz bridge.Endpoint
            if not (pythonHas "ale_py") then
                let e = Expect.wantThrows<BridgeException> (fun () -> bridge.Create specs |> ignore) "CREATE without ale_py"
                Expect.equal e.ServerError (Nullable BridgeErrorCode.Ale) "e.ServerError"
                Expect.stringContains e.Message "pip install ale-py" "e.Message"
                printfn "ale_py not importable: CREATE checked to be refused with code ALE"
            let pid = bridge.ServerProcessId
            bridge.Dispose() // CLOSE: the server exits with status 0
            let gone =
                try
                    use p = Process.GetProcessById pid
                    p.WaitForExit 5000
                with :? ArgumentException -> true
            Expect.isTrue gone "the server process exited after CLOSE"

        // The Python server's stepping logic (reward sums, early stops, screen pairs, truncation, the
        // reset-before-step rule) against fixtures/bridge/fake_ale, a fake ale_py with known screens.
        testCase "the Python server steps, pairs screens and truncates correctly over a fake ale_py (skipped without pyzmq)" <| fun () ->
            requirePyzmq ()
            let d = AleServerLaunch.Python()
            let launch = { FileName = "/usr/bin/env"; Arguments = ("PYTHONPATH=" + Path.Combine(fixtureDir, "fake_ale")) :: d.FileName :: d.Arguments }
            use bridge = AleBridge.Launch(AleBridgeOptions.Default.WithServer(launch).WithReceiveTimeout(TimeSpan.FromSeconds 20.0))
            Expect.stringStarts bridge.Server "ale_py fake" "bridge.Server"
            let specs =
                [| { AleEnvSpec.OfGame("pong", 5) with MaxFramesPerEpisode = 0 }
                   { AleEnvSpec.OfGame("breakout", 6) with FullActionSet = true; MaxFramesPerEpisode = 6; Mode = 1 } |]
            let info = bridge.Create specs
            Expect.isTrue bridge.ScreensShared "a launched server shares the screens through /dev/shm"
            Expect.equal (info[0].Actions) [| 0; 1; 3; 4 |] "info[0].Actions"
            Expect.equal (info[1].Actions.Length) 18 "info[1].Actions.Length"
            // a pixel of env i's screen: (episode frame, seed, 7)
            let px (o: AleObservation) i last = let s = o.Screen(i, last).Span in (int s[0], int s[1], int s[2])
            let uniform (o: AleObservation) i last = let s = o.Screen(i, last).Span in s.Length = 210 * 160 * 3 && (let v = s[0] in s.Slice(0, 3).SequenceEqual(s.Slice(3 * 777, 3)) && s[s.Length - 3] = v)
            let notStepped = Expect.wantThrows<BridgeException> (fun () -> bridge.Step([| 0; 0 |], 4) |> ignore) "a STEP before RESET"
            Expect.equal notStepped.ServerError (Nullable BridgeErrorCode.State) "notStepped.ServerError"
            let r = bridge.ResetAll()
            Expect.equal (px r 0 true) (0, 5, 7) "px r 0 true"
            Expect.equal (px r 1 false) (0, 6, 7) "px r 1 false"
            Expect.equal (r.Steps[0].Lives) 3 "r.Steps[0].Lives"
            // 4 frames each: reward = ALE id x 4; screens after frames 3 and 4
            let o1 = bridge.Step([| 2; 17 |], 4)
            Expect.equal (o1.Steps[0].Reward, o1.Steps[1].Reward) (12, 68) "o1's rewards"
            Expect.equal (px o1 0 false) (3, 5, 7) "px o1 0 false"
            Expect.equal (px o1 0 true) (4, 5, 7) "px o1 0 true"
            Expect.isTrue (uniform o1 1 true) "uniform o1 1 true"
            Expect.equal (o1.Steps[0].Frames, o1.Steps[0].Lives, o1.Steps[0].EpisodeFrameNumber) (4, 2, 4) "o1: env 0's frames, lives, episode frame"
            // env 1 hits its 6-frame limit after 2 frames: truncated, not over; the step ended early, so both
            // screens are the one after frame 6
            let o2 = bridge.Step([| 1; 1 |], 4)
            Expect.equal (o2.Steps[1].Frames, o2.Steps[1].Truncated, o2.Steps[1].GameOver) (2, true, false) "o2: env 1's frames, truncated, game over"
            Expect.equal (px o2 1 false) (6, 6, 7) "px o2 1 false"
            Expect.equal (px o2 1 true) (6, 6, 7) "px o2 1 true"
            Expect.equal (o2.Steps[1].Reward) 2 "o2.Steps[1].Reward"
            let over = Expect.wantThrows<BridgeException> (fun () -> bridge.Step([| 1; 1 |], 4) |> ignore) "a STEP of an ended env"
            Expect.equal over.ServerError (Nullable BridgeErrorCode.State) "over.ServerError"
            Expect.stringContains over.Message "env 1" "over.Message"
            let r1 = bridge.Reset [| 1 |]
            Expect.equal r1.Envs [| 1 |] "r1.Envs"
            Expect.equal (px r1 0 true) (0, 6, 7) "px r1 0 true"
            // env 0 ends on its own at episode frame 11: 3 of 4 frames run; an early end pairs the last screen
            // (after frame 11) with itself (PROTOCOL.md, since version 2)
            let o3 = bridge.Step([| 1; 0 |], 4)
            Expect.equal
                (o3.Steps[0].Frames, o3.Steps[0].GameOver, o3.Steps[0].Truncated, o3.Steps[0].Reward)
                (3, true, false, 3)
                "o3: env 0's frames, game over, truncated, reward"
            Expect.equal (px o3 0 false) (11, 5, 7) "px o3 0 false"
            Expect.equal (px o3 0 true) (11, 5, 7) "px o3 0 true"
            Expect.equal (o3.Steps[0].FrameNumber) 11 "o3.Steps[0].FrameNumber"
            // repeat 1 pairs the new screen with the previous step's last
            bridge.Reset [| 0 |] |> ignore
            let o4 = bridge.Step([| 0; 0 |], 1)
            Expect.equal (px o4 0 false) (0, 5, 7) "px o4 0 false"
            Expect.equal (px o4 0 true) (1, 5, 7) "px o4 0 true"
            Expect.equal (px o4 1 false) (4, 6, 7) "px o4 1 false"
            Expect.equal (px o4 1 true) (5, 6, 7) "px o4 1 true"
            // refusals of the ALE layer: an unknown game id, a mode the ROM lacks
            let unknown = Expect.wantThrows<BridgeException> (fun () -> bridge.Create [| AleEnvSpec.OfGame("tetris", 0) |] |> ignore) "CREATE tetris"
            Expect.equal unknown.ServerError (Nullable BridgeErrorCode.Ale) "unknown.ServerError"
            let mode = Expect.wantThrows<BridgeException> (fun () -> bridge.Create [| AleEnvSpec.OfGame("pong", 0).WithMode 5 |] |> ignore) "CREATE pong in mode 5"
            Expect.equal mode.ServerError (Nullable BridgeErrorCode.OutOfRange) "mode.ServerError"
            Expect.stringContains mode.Message "mode 5 is not one of [0, 1]" "mode.Message"
            // the server process dies mid-step (the fake exits on action id 16): a clear error at once,
            // then Restart launches a new server with the same envs and fresh episodes
            bridge.Create specs |> ignore
            bridge.ResetAll() |> ignore
            let pid = bridge.ServerProcessId
            let sw = Stopwatch.StartNew()
            let died = Expect.wantThrows<BridgeException> (fun () -> bridge.Step([| 0; 16 |], 4) |> ignore) "a STEP the server dies in"
            Expect.isTrue (sw.Elapsed < TimeSpan.FromSeconds 10.0) "the death is noticed within 10 s"
            Expect.stringContains died.Message $"the server process {pid} exited with code 9" "died.Message"
            Expect.stringStarts died.InFlight "STEP #" "died.InFlight"
            Expect.isTrue bridge.IsBroken "bridge.IsBroken"
            let fresh = bridge.Restart()
            Expect.notEqual bridge.ServerProcessId pid "bridge.ServerProcessId after Restart"
            Expect.equal (px fresh 1 true) (0, 6, 7) "px fresh 1 true"
            Expect.equal (bridge.Step([| 0; 1 |], 4).Steps[1].EpisodeFrameNumber) 4 "env 1's episode frame after a step"

        testCase "the Python server exits when its stdin closes or its parent dies, and removes its socket file (skipped without pyzmq)" <| fun () ->
            requirePyzmq ()
            // an ipc:// path (for pyzmq clients; NetMQ cannot reach it): the server removes its socket file
            let sock = Path.Combine(Path.GetTempPath(), "dqnfun-ale-raw-" + Guid.NewGuid().ToString("N").Substring(0, 10) + ".sock")
            let p, said = startRaw ("ipc://" + sock) [ "--watch-stdin" ]
            use p = p
            Expect.equal said ("ipc://" + sock) "the endpoint in the READY line"
            p.StandardInput.Close()
            Expect.isTrue (p.WaitForExit 10000) "exits on stdin EOF"
            Expect.equal p.ExitCode 0 "p.ExitCode"
            Expect.isFalse (File.Exists sock) "the socket file exists"
            // the address Launch passes: the READY line names the port the OS chose
            use parent = Process.Start(ProcessStartInfo("/bin/sleep", "0.3", UseShellExecute = false))
            let q, bound = startRaw AleServerLaunch.BindAddress [ "--parent-pid"; string parent.Id ]
            use q = q
            Expect.isMatch bound @"^tcp://127\.0\.0\.1:[1-9][0-9]*$" "the endpoint in the READY line"
            parent.WaitForExit()
            Expect.isTrue (q.WaitForExit 10000) "exits once --parent-pid is gone"
            // a non-loopback TCP bind is refused
            let d = AleServerLaunch.Python()
            use r = Process.Start(ProcessStartInfo(d.FileName, $"{d.Arguments.Head} --endpoint tcp://0.0.0.0:5555", RedirectStandardError = true, UseShellExecute = false))
            Expect.isTrue (r.WaitForExit 10000) "exits within 10 s"
            Expect.equal r.ExitCode 2 "r.ExitCode"
            Expect.stringContains (r.StandardError.ReadToEnd()) "refusing to bind" "r's stderr"

        // ---- the real ALE, where python3 has ale_py, pyzmq and numpy ------------------------------------------------
        testCase "the Python server against the real ALE replays the recorded pong frames (skipped without ale_py and pyzmq)" <| fun () ->
            requireAle ()
            // the screens through a shared memory file (the default for a launched server), then in the replies
            for shared in [ true; false ] do
                use bridge = AleBridge.Launch(AleBridgeOptions.Default.WithStartupTimeout(TimeSpan.FromSeconds 60.0).WithSharedScreens shared)
                printfn $"server: {bridge.Server}; shared screens: {shared}"
                let spec = { AleEnvSpec.OfGame("pong", 0) with RepeatActionProbability = 0.0f; MaxFramesPerEpisode = 0 }
                let info = bridge.Create [| spec; spec |]
                Expect.equal bridge.ScreensShared shared "bridge.ScreensShared"
                // the client removed the shared file's name once it had mapped it
                if Directory.Exists "/dev/shm" then
                    Expect.isEmpty (Directory.GetFiles("/dev/shm", $"dqnfun-ale-{bridge.ServerProcessId}-*")) "the shared files left in /dev/shm"
                Expect.equal (info[0].Actions) pong.Value.Actions "info[0].Actions"
                let r = bridge.ResetAll()
                Expect.isTrue (r.Screen(1, true).Span.SequenceEqual(ReadOnlySpan pong.Value.ResetScreen)) "the reset screen"
                let g = pong.Value
                let mutable reward = 0
                for k in 0 .. g.WindowStep + 9 do
                    let o = bridge.Step([| g.StepActions[k]; g.StepActions[k] |], 4)
                    reward <- reward + o.Steps[0].Reward
                    Expect.equal (o.Steps[0].FrameNumber) ((k + 1) * 4) $"step {k}: o.Steps[0].FrameNumber"
                    if k >= g.WindowStep then
                        let w = k - g.WindowStep
                        Expect.isTrue (o.Screen(0, false).Span.SequenceEqual(ReadOnlySpan(g.Frame(4 * w + 2)))) $"step {k}: env 0's second-to-last screen"
                        Expect.isTrue (o.Screen(1, true).Span.SequenceEqual(ReadOnlySpan(g.Frame(4 * w + 3)))) $"step {k}: env 1's last screen"
                Expect.equal reward -1 "pong's reward"
                let bad = Expect.wantThrows<BridgeException> (fun () -> bridge.Step([| 6; 0 |], 4) |> ignore) "a STEP with action 6"
                Expect.equal bad.ServerError (Nullable BridgeErrorCode.OutOfRange) "bad.ServerError"

        // The episode boundaries of the real ALE: breakout played at random until the game is over (refused
        // until reset, fresh lives after it), pong truncated by a 10-frame limit every third step, and the
        // screen pair of a step that ended early (PROTOCOL.md: the last screen twice).
        testCase "the Python server against the real ALE ends, refuses, resets and truncates episodes (skipped without ale_py and pyzmq)" <| fun () ->
            requireAle ()
            use bridge = AleBridge.Launch(AleBridgeOptions.Default.WithStartupTimeout(TimeSpan.FromSeconds 60.0))
            let specs =
                [| { AleEnvSpec.OfGame("breakout", 1) with MaxFramesPerEpisode = 0 }
                   { AleEnvSpec.OfGame("pong", 2) with MaxFramesPerEpisode = 10; FullActionSet = true } |]
            let info = bridge.Create specs
            Expect.equal (info[0].Actions.Length) 4 "breakout's actions"
            Expect.equal (info[1].Actions.Length) 18 "pong's full action set"
            let r = bridge.ResetAll()
            Expect.equal (r.Steps[0].Lives) 5 "breakout's lives after the reset"
            let samePair (o: AleObservation) i = o.Screen(i, false).Span.SequenceEqual(o.Screen(i, true).Span)
            let rng = Random 3
            let mutable over = None
            let mutable truncations = 0
            let mutable k = 0
            while over.IsNone && k < 20_000 do
                k <- k + 1
                let o = bridge.Step([| rng.Next 4; rng.Next 18 |], 4)
                let p = o.Steps[1]
                if p.Truncated then
                    // 4 + 4 + 2 frames: the third step stops at the limit, not by the game
                    Expect.equal (p.Frames, p.GameOver, p.EpisodeFrameNumber) (2, false, 10) $"step {k}: pong's frames, game over, episode frame"
                    Expect.isTrue (samePair o 1) "an early end pairs the last screen with itself"
                    truncations <- truncations + 1
                    Expect.equal (bridge.Reset([| 1 |]).Envs) [| 1 |] "the envs reset"
                else Expect.equal p.Frames 4 $"step {k}: pong's frames"
                let b = o.Steps[0]
                if b.GameOver then over <- Some(o, b)
                else Expect.equal b.Frames 4 $"step {k}: breakout's frames"
            match over with
            | None -> failtest "breakout did not end in 20000 random agent steps"
            | Some(o, b) ->
                printfn $"breakout ended after {k} agent steps ({b.EpisodeFrameNumber} frames; last step {b.Frames} frames); pong truncated {truncations} times"
                Expect.equal b.Lives 0 "b.Lives"
                Expect.isFalse b.Truncated "b.Truncated"
                if b.Frames < 4 then Expect.isTrue (samePair o 0) "an early end pairs the last screen with itself"
                Expect.isTrue (truncations >= k / 3 - 1) $"{truncations} truncations in {k} steps"
                let refused = Expect.wantThrows<BridgeException> (fun () -> bridge.Step([| 0; 0 |], 4) |> ignore) "a STEP after the game over"
                Expect.equal refused.ServerError (Nullable BridgeErrorCode.State) "refused.ServerError"
                Expect.stringContains refused.Message "env 0" "refused.Message"
                let fresh = bridge.Reset [| 0 |]
                Expect.equal (fresh.Steps[0].Lives, fresh.Steps[0].EpisodeFrameNumber, fresh.Steps[0].GameOver) (5, 0, false) "breakout after the reset"
                Expect.isTrue (samePair fresh 0) "samePair fresh 0"

        // ---- no leaks: the runner runs one test at a time, so the process-wide handle counters are exact -------------
        testCase "a full bridge session, failed ones and a replay server leave no socket open" <| fun () ->
            let sockets = TransportSocket.LiveSockets
            do
                use server = new ReplayServer()
                use bridge = AleBridge.Connect(server.Endpoint, fast)
                bridge.Create specs |> ignore
                bridge.ResetAll() |> ignore
                bridge.Step(windowActions 0, 4) |> ignore
                bridge.Dispose() // sends CLOSE: the replay server's thread ends on its own
                Expect.isTrue (server.Join(TimeSpan.FromSeconds 5.0)) "the replay server's thread ended"
            do
                let launch = { FileName = "/bin/sh"; Arguments = [ "-c"; "exit 1" ] }
                Expect.throwsT<BridgeException> (fun () -> AleBridge.Launch(AleBridgeOptions.Default.WithServer launch) |> ignore) "a server that exits at once"
                // ready, so the socket was opened, then gone before the handshake
                let ready = { FileName = "/bin/sh"; Arguments = [ "-c"; "echo READY tcp://127.0.0.1:9; sleep 0.2; exit 1" ] }
                Expect.throwsT<BridgeException> (fun () -> AleBridge.Launch(AleBridgeOptions.Default.WithServer ready) |> ignore) "a server that exits after READY"
            Expect.equal TransportSocket.LiveSockets sockets "TransportSocket.LiveSockets"

        // ---- the DQN environment over the bridge ----------------------------------------------------------------------
        testCase "AtariEnvironment over the bridge preprocesses the served screens exactly as in process" <| fun () ->
            use server = new ReplayServer()
            use bridge = AleBridge.Connect(server.Endpoint, fast)
            bridge.Create [| specs[0] |] |> ignore
            let settings = { AtariSettings.nature with NoopMaxFrames = 0; FireOnReset = false; TerminalOnLifeLoss = false }
            let env = AtariEnvironment(AleBridgeEmulator bridge, settings, 0)
            let g = pong.Value
            let preprocess (rgb: byte[]) =
                let gray = Array.zeroCreate<byte> (210 * 160)
                let small = Array.zeroCreate<byte> (84 * 84)
                Grayscale.rgbToGrayInto rgb gray
                AreaResize.resizeInto AreaResize.atari84 gray small
                small
            let first = env.Reset()
            Expect.equal first (Array.concat (List.replicate 4 (preprocess g.ResetScreen))) "the first observation"
            let mutable frames = [ preprocess g.ResetScreen; preprocess g.ResetScreen; preprocess g.ResetScreen; preprocess g.ResetScreen ]
            for k in 0..9 do
                let actionIndex = g.Rows[4 * k].ActionIndex
                let s = env.Step actionIndex
                let pooled = Array.map2 max (g.Frame(4 * k + 2)) (g.Frame(4 * k + 3))
                frames <- (List.tail frames) @ [ preprocess pooled ]
                Expect.equal s.Observation (Array.concat frames) $"step {k}: s.Observation"
                let raw = g.Rows[4 * k .. 4 * k + 3] |> Array.sumBy (fun r -> r.Reward)
                Expect.equal s.RawReward raw $"step {k}: s.RawReward"
                Expect.equal s.Reward (sign raw) $"step {k}: s.Reward"
                Expect.equal s.Frames 4 $"step {k}: s.Frames"
            Expect.equal env.TotalFrames 40L "env.TotalFrames"
            // A STEP moves every env of a server: an emulator needs a bridge of exactly one.
            Expect.throwsT<ArgumentNullException> (fun () -> AleBridgeEmulator(Unchecked.defaultof<AleBridge>) |> ignore) "AleBridgeEmulator null"
            bridge.Create specs |> ignore
            let e = Expect.wantThrows<ArgumentException> (fun () -> AleBridgeEmulator bridge |> ignore) "AleBridgeEmulator of 2 envs"
            Expect.stringContains e.Message "exactly 1 environment" "e.Message"
    
        // ---- an op per env (protocol version 3) and the vector environment over servers ------------------------
        testCase "a STEP carries an op per env: idle, reset then repeat, reset alone (fake ale_py; skipped without pyzmq)" <| fun () ->
            requirePyzmq ()
            use bridge = AleBridge.Launch(AleBridgeOptions.Default.WithServer(fakeAleLaunch ()).WithReceiveTimeout(TimeSpan.FromSeconds 20.0))
            bridge.Create [| { AleEnvSpec.OfGame("pong", 5) with MaxFramesPerEpisode = 0 }; { AleEnvSpec.OfGame("breakout", 6) with MaxFramesPerEpisode = 0 } |] |> ignore
            let px (o: AleObservation) i last = let s = o.Screen(i, last).Span in (int s[0], int s[1], int s[2])
            bridge.ResetAll() |> ignore
            // env 1 idles: nothing runs, its record is current, its screens stay the reset's
            let o1 = bridge.Step [| AleStepOp.Act(2, 4); AleStepOp.Idle |]
            Expect.equal (o1.Steps[0].Frames, o1.Steps[0].Reward, px o1 0 true) (4, 12, (4, 5, 7)) "env 0 stepped"
            Expect.equal (o1.Steps[1].Frames, o1.Steps[1].Reward, o1.Steps[1].EpisodeFrameNumber, px o1 1 false, px o1 1 true) (0, 0, 0, (0, 6, 7), (0, 6, 7)) "env 1 idle"
            // env 0 resets and runs 2 frames in one op; env 1 resets alone
            let o2 = bridge.Step [| { Action = 1; Repeat = 2; Reset = true }; { Action = 0; Repeat = 0; Reset = true } |]
            Expect.equal (o2.Steps[0].Frames, o2.Steps[0].Reward, o2.Steps[0].EpisodeFrameNumber, px o2 0 false, px o2 0 true) (2, 2, 2, (1, 5, 7), (2, 5, 7)) "env 0 reset, then 2 frames"
            Expect.equal (o2.Steps[1].Frames, px o2 1 true) (0, (0, 6, 7)) "env 1 reset alone"
            // the game ends at frame 11; an op that steps it needs a reset with it
            let o3 = bridge.Step [| AleStepOp.Act(0, 9); AleStepOp.Idle |]
            Expect.isTrue o3.Steps[0].GameOver "env 0's game is over"
            let refused = Expect.wantThrows<BridgeException> (fun () -> bridge.Step [| AleStepOp.Act(0, 4); AleStepOp.Idle |] |> ignore) "stepping an ended game"
            Expect.equal refused.ServerError (Nullable BridgeErrorCode.State) "refused.ServerError"
            Expect.equal (bridge.Step [| AleStepOp.Idle; AleStepOp.Idle |]).Steps[0].GameOver true "an idle op on an ended game is allowed and reports it"
            let o4 = bridge.Step [| { Action = 0; Repeat = 4; Reset = true }; AleStepOp.Idle |]
            Expect.equal (o4.Steps[0].Frames, o4.Steps[0].EpisodeFrameNumber) (4, 4) "a reset op restarts the ended game"
            // the allocation-free pair: records, then each env's screens read in place
            let records = bridge.StepRecords [| AleStepOp.Act(1, 3); AleStepOp.Act(3, 1) |]
            Expect.equal (records[0].Frames, records[1].Frames) (3, 1) "the records"
            let a, b = Array.zeroCreate<byte> (210 * 160 * 3), Array.zeroCreate<byte> (210 * 160 * 3)
            bridge.ReadScreens(1, Span a, Span b)
            Expect.equal (int a[0], int b[0], int b[1]) (0, 1, 6) "env 1's screens after 1 frame: the reset's, then frame 1's"
            Expect.throwsT<ArgumentOutOfRangeException> (fun () -> bridge.StepRecords [| AleStepOp.Act(0, 65); AleStepOp.Idle |] |> ignore) "a repeat of 65"

        testCase "a vector environment over 2 servers gives the bytes of lone environments over their own (fake ale_py; skipped without pyzmq)" <| fun () ->
            requirePyzmq ()
            let options = AleBridgeOptions.Default.WithServer(fakeAleLaunch ()).WithReceiveTimeout(TimeSpan.FromSeconds 20.0)
            assertVectorMatchesLone options "pong" 0.0 { AtariSettings.nature with MaxEpisodeFrames = 0 } 3 2 60

        testCase "a vector environment over 2 servers gives the bytes of lone environments with the real ALE (skipped without ale_py)" <| fun () ->
            requireAle ()
            let options = AleBridgeOptions.Default.WithReceiveTimeout(TimeSpan.FromSeconds 20.0)
            assertVectorMatchesLone options "breakout" 0.25 AtariSettings.nature 4 2 400
    ]
