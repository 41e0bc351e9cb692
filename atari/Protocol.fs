namespace Dqn.Fun.Atari

open System
open System.Buffers.Binary
open System.Text

/// One Atari environment the bridge server hosts (one ALEInterface). See atari/bridge/PROTOCOL.md.
type AleEnvSpec =
    { /// A game id known to ale_py.roms.get_rom_path ("pong", "breakout", ...) or a ROM file path.
      Game: string
      /// true when Game is a ROM file path rather than a game id.
      GameIsRomPath: bool
      /// ALE 'random_seed' (0 .. Int32.MaxValue).
      Seed: int
      /// ALE 'repeat_action_probability' (sticky actions), in [0, 1]; 0.25 in Machado et al. 2018.
      RepeatActionProbability: float32
      /// Game mode, or -1 for the ROM's default.
      Mode: int
      /// Game difficulty, or -1 for the ROM's default.
      Difficulty: int
      /// true: the 18-action legal set; false: the game's minimal action set.
      FullActionSet: bool
      /// ALE 'max_num_frames_per_episode' (emulator frames), 0 = unlimited; 108000 = 30 minutes at 60 Hz.
      MaxFramesPerEpisode: int }

    /// The Machado et al. 2018 settings for a game id: sticky actions 0.25, minimal action set, default
    /// mode and difficulty, episodes truncated at 108000 frames.
    static member OfGame(game: string, seed: int) =
        { Game = game
          GameIsRomPath = false
          Seed = seed
          RepeatActionProbability = 0.25f
          Mode = -1
          Difficulty = -1
          FullActionSet = false
          MaxFramesPerEpisode = 108_000 }

    member s.WithRepeatActionProbability p = { s with RepeatActionProbability = p }
    member s.WithMode m = { s with Mode = m }
    member s.WithDifficulty d = { s with Difficulty = d }
    member s.WithFullActionSet f = { s with FullActionSet = f }
    member s.WithMaxFramesPerEpisode n = { s with MaxFramesPerEpisode = n }

/// What the server reports for a created environment.
type AleEnvInfo =
    { /// ALE action ids; the client sends indices into this array.
      Actions: int[]
      Height: int
      Width: int
      /// Lives after loading the ROM (before the first reset).
      Lives: int }

/// One environment's outcome of a reset or a step (its screens travel separately).
type AleEnvStep =
    { /// Sum of the raw ALE rewards over the frames emulated (0 after a reset).
      Reward: int
      Lives: int
      /// Emulator frames run by this step (fewer than the repeat when the game ended; 0 for a reset).
      Frames: int
      EpisodeFrameNumber: int
      FrameNumber: int
      /// The game ended (ALE game_over without truncation).
      GameOver: bool
      /// The episode hit MaxFramesPerEpisode.
      Truncated: bool }

/// <summary>What one STEP does to one environment (PROTOCOL.md, STEP, version 3): optionally reset the game, then
/// hold action <c>Action</c> for up to <c>Repeat</c> frames. <c>Repeat</c> 0 without <c>Reset</c> leaves the env
/// untouched (its record and screens are its current ones); <c>Reset</c> with <c>Repeat</c> 0 is a RESET.</summary>
[<Struct>]
type AleStepOp =
    { /// An index into the env's action set (AleEnvInfo.Actions).
      Action: int
      /// Frames to hold the action, 0 .. MAX_REPEAT (64); fewer run when the game ends.
      Repeat: int
      /// Call reset_game() first (a game that is over must be reset before it is stepped).
      Reset: bool }

    /// Hold `action` for `repeat` frames.
    static member Act(action: int, repeat: int) = { Action = action; Repeat = repeat; Reset = false }
    /// Leave the env as it is.
    static member Idle = { Action = 0; Repeat = 0; Reset = false }

/// Error codes of an ERROR reply (PROTOCOL.md, "Errors").
type BridgeErrorCode =
    | Malformed = 1
    | Version = 2
    | UnknownKind = 3
    | OutOfRange = 4
    | State = 5
    | Ale = 6
    | Internal = 7

/// The wire format of atari/bridge/PROTOCOL.md (version 3): encoders and validating decoders for both
/// directions. The client uses requests-out/replies-in; the test replay server uses the other pair.
module internal Protocol =

    let Magic = 0x42454C41u // bytes "ALEB"
    let Version = 3us
    let HeaderSize = 12
    let MaxEnvs = 256
    let MaxRepeat = 64
    let MaxNameBytes = 4096
    let EnvSpecSize = 24
    let EnvInfoSize = 16
    let EnvStepSize = 24
    let StepOpSize = 8
    /// STEP op flag: reset the game before the repeat.
    let StepOpReset = 1uy
    let NoEnv = 0xFFFFFFFFu
    /// CREATE flag (request and reply): the screens travel in a shared memory file, not in the replies.
    let SharedScreens = 1u

    module Kind =
        let [<Literal>] Hello = 1us
        let [<Literal>] Create = 2us
        let [<Literal>] Reset = 3us
        let [<Literal>] Step = 4us
        let [<Literal>] Close = 5us
        let [<Literal>] ReplyBit = 0x80us
        let [<Literal>] Error = 0xFFus

        let name (k: uint16) =
            match k &&& ~~~ReplyBit with
            | Hello -> "HELLO"
            | Create -> "CREATE"
            | Reset -> "RESET"
            | Step -> "STEP"
            | Close -> "CLOSE"
            | _ when k = Error -> "ERROR"
            | _ -> $"kind {k}"

    type Request =
        | Hello of minVersion: uint16 * maxVersion: uint16
        /// sharedScreens: ask the server to put the screens in a shared memory file (same machine only).
        | Create of AleEnvSpec[] * sharedScreens: bool
        | Reset of envs: int[]
        /// One op per created env, in env order.
        | Step of ops: AleStepOp[]
        | Close

    type Reply =
        | HelloOk of version: uint16 * maxEnvs: int * maxRepeat: int * server: string
        /// sharedScreens: the path of the shared screen file when the server honoured the request.
        | CreateOk of AleEnvInfo[] * sharedScreens: string option
        /// RESET_OK or STEP_OK: per env record, and per env the last two screens (H*W*3 each); empty when
        /// the screens are in the shared file.
        | Observed of kind: uint16 * AleEnvStep[] * screens: byte[]
        | CloseOk
        | Error of code: BridgeErrorCode * env: int * message: string

    /// A request the server must refuse: the code, the env it concerns (-1: none) and why.
    exception ProtocolError of code: BridgeErrorCode * env: int * message: string

    let bad code env msg = raise (ProtocolError(code, env, msg))
    let malformed msg = bad BridgeErrorCode.Malformed -1 msg

    /// A STEP holding actions[i] in env i for `repeat` frames (version 2's STEP).
    let stepAll (repeat: int) (actions: int[]) = Step(actions |> Array.map (fun a -> AleStepOp.Act(a, repeat)))

    // ---- little-endian helpers ----------------------------------------------------------------------
    let header (kind: uint16) (seq: uint32) =
        let b = Array.zeroCreate<byte> HeaderSize
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(0), Magic)
        BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(4), Version)
        BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(6), kind)
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(8), seq)
        b

    let u32 (b: byte[]) o = BinaryPrimitives.ReadUInt32LittleEndian(ReadOnlySpan(b, o, 4))
    let i32 (b: byte[]) o = BinaryPrimitives.ReadInt32LittleEndian(ReadOnlySpan(b, o, 4))
    let u16 (b: byte[]) o = BinaryPrimitives.ReadUInt16LittleEndian(ReadOnlySpan(b, o, 2))
    let f32 (b: byte[]) o = BinaryPrimitives.ReadSingleLittleEndian(ReadOnlySpan(b, o, 4))
    let wu32 (b: byte[]) o (v: uint32) = BinaryPrimitives.WriteUInt32LittleEndian(Span(b, o, 4), v)
    let wi32 (b: byte[]) o (v: int) = BinaryPrimitives.WriteInt32LittleEndian(Span(b, o, 4), v)
    let wu16 (b: byte[]) o (v: uint16) = BinaryPrimitives.WriteUInt16LittleEndian(Span(b, o, 2), v)
    let wf32 (b: byte[]) o (v: float32) = BinaryPrimitives.WriteSingleLittleEndian(Span(b, o, 4), v)

    let strictUtf8 = UTF8Encoding(false, true)

    /// Reads a header: (version, kind, seq); raises ProtocolError Malformed/Version on a bad one.
    let readHeader (frames: byte[] list) =
        match frames with
        | [] -> malformed "empty message"
        | h :: _ when h.Length <> HeaderSize -> malformed $"header frame is {h.Length} bytes, expected {HeaderSize}"
        | h :: _ when u32 h 0 <> Magic -> malformed $"bad magic 0x{u32 h 0:X8}, expected 0x{Magic:X8} (\"ALEB\")"
        | h :: _ when u16 h 4 <> Version -> bad BridgeErrorCode.Version -1 $"protocol version {u16 h 4} is not supported; this side speaks version {Version}"
        | h :: _ -> u16 h 6, u32 h 8

    let private frameCount (name: string) (frames: byte[] list) (expected: int) =
        if List.length frames <> expected then
            malformed $"{name}: {List.length frames} frames, expected {expected}"

    let private countedBody name (body: byte[]) (recordSize: int) (maxCount: int) =
        if body.Length < 8 then malformed $"{name}: body is {body.Length} bytes, expected at least 8"
        let n = u32 body 0
        if n < 1u || n > uint32 maxCount then bad BridgeErrorCode.OutOfRange -1 $"{name}: count {n} is outside 1..{maxCount}"
        let n = int n
        if body.Length <> 8 + n * recordSize then
            malformed $"{name}: body is {body.Length} bytes, expected 8 + {n} x {recordSize} = {8 + n * recordSize}"
        n

    // ---- requests -----------------------------------------------------------------------------------
    let encodeRequest (seq: uint32) (req: Request) : byte[] list =
        match req with
        | Hello(lo, hi) ->
            let b = Array.zeroCreate 8
            wu16 b 0 lo
            wu16 b 2 hi
            [ header Kind.Hello seq; b ]
        | Create(specs, shared) ->
            let b = Array.zeroCreate (8 + specs.Length * EnvSpecSize)
            wu32 b 0 (uint32 specs.Length)
            wu32 b 4 (if shared then SharedScreens else 0u)
            specs
            |> Array.iteri (fun i s ->
                let o = 8 + i * EnvSpecSize
                wi32 b o s.Seed
                wf32 b (o + 4) s.RepeatActionProbability
                wi32 b (o + 8) s.Mode
                wi32 b (o + 12) s.Difficulty
                wu32 b (o + 16) (uint32 s.MaxFramesPerEpisode)
                b[o + 20] <- (if s.FullActionSet then 1uy else 0uy)
                b[o + 21] <- (if s.GameIsRomPath then 1uy else 0uy))
            header Kind.Create seq :: b :: [ for s in specs -> Encoding.UTF8.GetBytes s.Game ]
        | Reset envs ->
            let b = Array.zeroCreate (8 + 4 * envs.Length)
            wu32 b 0 (uint32 envs.Length)
            envs |> Array.iteri (fun i e -> wu32 b (8 + 4 * i) (uint32 e))
            [ header Kind.Reset seq; b ]
        | Step ops ->
            let b = Array.zeroCreate (8 + StepOpSize * ops.Length)
            wu32 b 0 (uint32 ops.Length)
            ops
            |> Array.iteri (fun i op ->
                let o = 8 + StepOpSize * i
                wi32 b o op.Action
                wu16 b (o + 4) (uint16 op.Repeat)
                b[o + 6] <- (if op.Reset then StepOpReset else 0uy))
            [ header Kind.Step seq; b ]
        | Close -> [ header Kind.Close seq ]

    /// Decodes and validates a request's structure (sizes, counts, ranges that need no server state).
    /// Returns (seq, request); raises ProtocolError. The seq is 0 when the header itself is unreadable.
    let decodeRequest (frames: byte[] list) : uint32 * Request =
        let kind, seq = readHeader frames
        let req =
            match kind with
            | Kind.Hello ->
                frameCount "HELLO" frames 2
                let b = frames[1]
                if b.Length <> 8 then malformed $"HELLO: body is {b.Length} bytes, expected 8"
                if u32 b 4 <> 0u then malformed "HELLO: reserved bytes 4..7 must be 0"
                let lo, hi = u16 b 0, u16 b 2
                if lo > hi then bad BridgeErrorCode.OutOfRange -1 $"HELLO: min version {lo} > max version {hi}"
                Hello(lo, hi)
            | Kind.Create ->
                if List.length frames < 2 then malformed "CREATE: missing body frame"
                let b = frames[1]
                let n = countedBody "CREATE" b EnvSpecSize MaxEnvs
                let flags = u32 b 4
                if flags &&& ~~~SharedScreens <> 0u then
                    malformed $"CREATE: flags 0x{flags:X8} has bits other than 0x{SharedScreens:X} (shared screens) set"
                frameCount "CREATE" frames (2 + n)
                Create(
                    Array.init n (fun i ->
                        let o = 8 + i * EnvSpecSize
                        let seed = i32 b o
                        let rap = f32 b (o + 4)
                        let mode, diff = i32 b (o + 8), i32 b (o + 12)
                        let maxFrames = u32 b (o + 16)
                        let actionSet, gameKind = b[o + 20], b[o + 21]
                        let oob msg = bad BridgeErrorCode.OutOfRange i $"CREATE env {i}: {msg}"
                        if seed < 0 then oob $"seed {seed} is negative"
                        if not (Single.IsFinite rap) || rap < 0.0f || rap > 1.0f then oob $"repeat_action_probability {rap} is outside [0, 1]"
                        if mode < -1 then oob $"mode {mode} is below -1 (-1 = default)"
                        if diff < -1 then oob $"difficulty {diff} is below -1 (-1 = default)"
                        if maxFrames > uint32 Int32.MaxValue then oob $"max frames {maxFrames} exceeds {Int32.MaxValue}"
                        if actionSet > 1uy then oob $"action set {actionSet} is not 0 (minimal) or 1 (full)"
                        if gameKind > 1uy then oob $"game kind {gameKind} is not 0 (game id) or 1 (ROM path)"
                        if u16 b (o + 22) <> 0us then malformed $"CREATE env {i}: reserved bytes must be 0"
                        let nameBytes = frames[2 + i]
                        if nameBytes.Length < 1 || nameBytes.Length > MaxNameBytes then
                            oob $"game name is {nameBytes.Length} bytes, expected 1..{MaxNameBytes}"
                        let name =
                            try strictUtf8.GetString nameBytes
                            with _ -> malformed $"CREATE env {i}: game name is not valid UTF-8"
                        if name.Contains '\000' then malformed $"CREATE env {i}: game name contains NUL"
                        if gameKind = 0uy && not (name |> Seq.forall (fun c -> (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c = '_')) then
                            oob $"game id '{name}' is not [a-z0-9_]+ (send a ROM path with game kind 1)"
                        { Game = name
                          GameIsRomPath = (gameKind = 1uy)
                          Seed = seed
                          RepeatActionProbability = rap
                          Mode = mode
                          Difficulty = diff
                          FullActionSet = (actionSet = 1uy)
                          MaxFramesPerEpisode = int maxFrames }),
                    flags = SharedScreens
                )
            | Kind.Reset ->
                frameCount "RESET" frames 2
                let b = frames[1]
                let n = countedBody "RESET" b 4 MaxEnvs
                if u32 b 4 <> 0u then malformed "RESET: reserved bytes 4..7 must be 0"
                let envs = Array.init n (fun i -> u32 b (8 + 4 * i))
                envs |> Array.iter (fun e -> if e >= uint32 MaxEnvs then bad BridgeErrorCode.OutOfRange -1 $"RESET: env index {e} is out of range")
                if (Array.distinct envs).Length <> n then bad BridgeErrorCode.OutOfRange -1 "RESET: env indices repeat"
                Reset(Array.map int envs)
            | Kind.Step ->
                frameCount "STEP" frames 2
                let b = frames[1]
                let n = countedBody "STEP" b StepOpSize MaxEnvs
                if u32 b 4 <> 0u then malformed "STEP: reserved bytes 4..7 must be 0"
                Step(
                    Array.init n (fun i ->
                        let o = 8 + StepOpSize * i
                        let repeat = int (u16 b (o + 4))
                        let flags = b[o + 6]
                        if flags &&& ~~~StepOpReset <> 0uy then malformed $"STEP env {i}: flags 0x{flags:X2} has bits other than 0x{StepOpReset:X} (reset) set"
                        if b[o + 7] <> 0uy then malformed $"STEP env {i}: reserved byte 7 must be 0"
                        if repeat > MaxRepeat then bad BridgeErrorCode.OutOfRange i $"STEP env {i}: repeat {repeat} is outside 0..{MaxRepeat}"
                        { Action = i32 b o; Repeat = repeat; Reset = (flags = StepOpReset) })
                )
            | Kind.Close ->
                frameCount "CLOSE" frames 1
                Close
            | k -> bad BridgeErrorCode.UnknownKind -1 $"unknown request kind {k}"
        seq, req

    // ---- replies ------------------------------------------------------------------------------------
    let encodeReply (seq: uint32) (reply: Reply) : byte[] list =
        match reply with
        | HelloOk(v, maxEnvs, maxRepeat, server) ->
            let b = Array.zeroCreate 12
            wu16 b 0 v
            wu32 b 4 (uint32 maxEnvs)
            wu32 b 8 (uint32 maxRepeat)
            [ header (Kind.Hello ||| Kind.ReplyBit) seq; b; Encoding.UTF8.GetBytes server ]
        | CreateOk(infos, shared) ->
            let b = Array.zeroCreate (8 + infos.Length * EnvInfoSize)
            wu32 b 0 (uint32 infos.Length)
            wu32 b 4 (if shared.IsSome then SharedScreens else 0u)
            infos
            |> Array.iteri (fun i e ->
                let o = 8 + i * EnvInfoSize
                wu32 b o (uint32 e.Actions.Length)
                wu32 b (o + 4) (uint32 e.Height)
                wu32 b (o + 8) (uint32 e.Width)
                wi32 b (o + 12) e.Lives)
            let actions =
                [ for e in infos ->
                      let a = Array.zeroCreate (4 * e.Actions.Length)
                      e.Actions |> Array.iteri (fun j x -> wi32 a (4 * j) x)
                      a ]
            let path = shared |> Option.map Encoding.UTF8.GetBytes |> Option.toList
            header (Kind.Create ||| Kind.ReplyBit) seq :: b :: actions @ path
        | Observed(kind, steps, screens) ->
            let b = Array.zeroCreate (8 + steps.Length * EnvStepSize)
            wu32 b 0 (uint32 steps.Length)
            steps
            |> Array.iteri (fun i s ->
                let o = 8 + i * EnvStepSize
                wi32 b o s.Reward
                wi32 b (o + 4) s.Lives
                wu32 b (o + 8) (uint32 s.Frames)
                wu32 b (o + 12) (uint32 s.EpisodeFrameNumber)
                wu32 b (o + 16) (uint32 s.FrameNumber)
                b[o + 20] <- (if s.GameOver then 1uy else 0uy)
                b[o + 21] <- (if s.Truncated then 1uy else 0uy))
            [ header (kind ||| Kind.ReplyBit) seq; b; screens ]
        | CloseOk -> [ header (Kind.Close ||| Kind.ReplyBit) seq ]
        | Error(code, env, msg) ->
            let b = Array.zeroCreate 8
            wu32 b 0 (uint32 code)
            wu32 b 4 (if env < 0 then NoEnv else uint32 env)
            [ header Kind.Error seq; b; Encoding.UTF8.GetBytes msg ]

    /// Decodes and validates the reply to request `kind` with sequence `seq`. `screenBytes` gives, per
    /// env the reply covers, the bytes of ONE screen (H*W*3); needed for RESET/STEP replies.
    /// Raises ProtocolError(Malformed, ..) on a reply that does not fit.
    let decodeReply (seq: uint32) (kind: uint16) (screenBytes: int[]) (frames: byte[] list) : Reply =
        let rkind, rseq = readHeader frames
        if rseq <> seq then malformed $"reply sequence {rseq} does not match request {seq}"
        if rkind = Kind.Error then
            frameCount "ERROR" frames 3
            let b = frames[1]
            if b.Length <> 8 then malformed $"ERROR: body is {b.Length} bytes, expected 8"
            let env = u32 b 4
            Error(enum (int (u32 b 0)), (if env = NoEnv then -1 else int env), Encoding.UTF8.GetString frames[2])
        elif rkind <> (kind ||| Kind.ReplyBit) then
            malformed $"reply kind {rkind} ({Kind.name rkind}) does not answer {Kind.name kind}"
        else
            match kind with
            | Kind.Hello ->
                frameCount "HELLO reply" frames 3
                let b = frames[1]
                if b.Length <> 12 then malformed $"HELLO reply: body is {b.Length} bytes, expected 12"
                HelloOk(u16 b 0, int (u32 b 4), int (u32 b 8), Encoding.UTF8.GetString frames[2])
            | Kind.Create ->
                if List.length frames < 2 then malformed "CREATE reply: missing body"
                let b = frames[1]
                let n = countedBody "CREATE reply" b EnvInfoSize MaxEnvs
                let flags = u32 b 4
                if flags &&& ~~~SharedScreens <> 0u then malformed $"CREATE reply: flags 0x{flags:X8} has unknown bits set"
                let shared = flags = SharedScreens
                frameCount "CREATE reply" frames (2 + n + (if shared then 1 else 0))
                let path =
                    if not shared then None
                    else
                        let p = frames[2 + n]
                        if p.Length < 1 || p.Length > MaxNameBytes then malformed $"CREATE reply: shared screen path is {p.Length} bytes, expected 1..{MaxNameBytes}"
                        Some(try strictUtf8.GetString p with _ -> malformed "CREATE reply: shared screen path is not valid UTF-8")
                CreateOk(
                    Array.init n (fun i ->
                        let o = 8 + i * EnvInfoSize
                        let na, h, w = u32 b o, u32 b (o + 4), u32 b (o + 8)
                        if na < 1u || na > 18u then malformed $"CREATE reply env {i}: {na} actions, expected 1..18"
                        if h < 1u || h > 1024u || w < 1u || w > 1024u then malformed $"CREATE reply env {i}: screen {h}x{w} is implausible"
                        let a = frames[2 + i]
                        if a.Length <> 4 * int na then malformed $"CREATE reply env {i}: action frame is {a.Length} bytes, expected {4 * int na}"
                        { Actions = Array.init (int na) (fun j -> i32 a (4 * j))
                          Height = int h
                          Width = int w
                          Lives = i32 b (o + 12) }),
                    path
                )
            | Kind.Reset
            | Kind.Step ->
                let name = Kind.name kind
                frameCount $"{name} reply" frames 3
                let b = frames[1]
                let n = countedBody $"{name} reply" b EnvStepSize MaxEnvs
                if n <> screenBytes.Length then malformed $"{name} reply covers {n} envs, expected {screenBytes.Length}"
                let expected = 2 * Array.sum screenBytes
                // empty when the screens are in the shared file (the client knows whether they are)
                if frames[2].Length <> expected && frames[2].Length <> 0 then
                    malformed $"{name} reply: screens are {frames[2].Length} bytes, expected {expected} (or 0: shared screens)"
                let steps =
                    Array.init n (fun i ->
                        let o = 8 + i * EnvStepSize
                        { Reward = i32 b o
                          Lives = i32 b (o + 4)
                          Frames = int (u32 b (o + 8))
                          EpisodeFrameNumber = int (u32 b (o + 12))
                          FrameNumber = int (u32 b (o + 16))
                          GameOver = b[o + 20] <> 0uy
                          Truncated = b[o + 21] <> 0uy })
                Observed(kind, steps, frames[2])
            | Kind.Close ->
                frameCount "CLOSE reply" frames 1
                CloseOk
            | k -> malformed $"no reply is defined for kind {k}"
