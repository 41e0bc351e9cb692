namespace Dqn.Fun.Atari

#nowarn "9" // the shared screen file's view is read through its native pointer

open System
open System.Collections.Generic
open System.Diagnostics
open System.IO
open System.IO.MemoryMappedFiles
open System.Numerics
open System.Runtime.InteropServices
open Microsoft.FSharp.NativeInterop
open System.Threading
open Dqn.Fun.Atari.Protocol

/// The ALE bridge failed: the server died, hung, sent a malformed reply, or refused a request.
/// Endpoint and InFlight say where and during what (e.g. "STEP #12 (4 envs, repeat 4)").
type BridgeException(endpoint: string, inFlight: string, message: string, serverError: Nullable<BridgeErrorCode>, inner: exn) =
    inherit Exception($"ALE bridge at {endpoint}, during {inFlight}: {message}", inner)
    new(endpoint, inFlight, message) = BridgeException(endpoint, inFlight, message, Nullable(), null)
    member _.Endpoint = endpoint
    member _.InFlight = inFlight
    /// The server's error code when it refused the request (the bridge stays usable); null when the
    /// server died, hung or answered garbage (the bridge is broken until Restart).
    member _.ServerError = serverError

/// How to start a bridge server process. Arguments may hold "{endpoint}" (the address the server is to bind,
/// AleServerLaunch.BindAddress: loopback, an ephemeral port) and "{pid}" (this process's id); the server must
/// print "READY tcp://HOST:PORT" on stdout once bound (the port it bound) and exit on CLOSE; the client keeps
/// the server's stdin open and closes it to stop it.
type AleServerLaunch =
    { FileName: string
      Arguments: string list }

    /// "tcp://127.0.0.1:*", what "{endpoint}" becomes: the loopback address, on a port the OS chooses as the
    /// server binds (no other process can take it in between); the server reports it in its READY line. A
    /// server reachable from other machines is an explicit choice: start it by hand with --allow-remote.
    static member BindAddress = "tcp://127.0.0.1:*"

    /// python3 (or $DQNFUN_PYTHON) running atari/bridge/ale_bridge.py, found at $DQNFUN_ALE_BRIDGE, or
    /// in bridge/ beside the application or this assembly.
    static member Python() =
        let script =
            [ Environment.GetEnvironmentVariable "DQNFUN_ALE_BRIDGE"
              Path.Combine(AppContext.BaseDirectory, "bridge", "ale_bridge.py")
              Path.Combine(Path.GetDirectoryName(typeof<AleEnvSpec>.Assembly.Location) |> Option.ofObj |> Option.defaultValue ".", "bridge", "ale_bridge.py") ]
            |> List.filter (String.IsNullOrEmpty >> not)
            |> List.tryFind File.Exists
            |> Option.defaultValue "atari/bridge/ale_bridge.py"
        let python =
            match Environment.GetEnvironmentVariable "DQNFUN_PYTHON" with
            | null | "" -> "python3"
            | p -> p
        { FileName = python
          Arguments = [ script; "--endpoint"; "{endpoint}"; "--parent-pid"; "{pid}"; "--watch-stdin" ] }

    /// A launch of `fileName` with `arguments` (each may hold "{endpoint}" and "{pid}"), for callers without F#
    /// lists. Raises ArgumentException for a null or blank fileName, ArgumentNullException for null arguments.
    static member Create(fileName: string, [<ParamArray>] arguments: string[]) =
        if String.IsNullOrWhiteSpace fileName then invalidArg "fileName" "give the program to start"
        if isNull arguments then nullArg "arguments"
        { FileName = fileName; Arguments = List.ofArray arguments }

/// Options of an AleBridge; change them with the WithX members.
type AleBridgeOptions =
    { /// How long one request may wait for its reply (a step of many envs at repeat 4 takes milliseconds).
      ReceiveTimeout: TimeSpan
      /// How long a launched server may take to print READY.
      StartupTimeout: TimeSpan
      /// The server process to start (Launch only).
      Server: AleServerLaunch
      /// Ask the server to put the screens in a shared memory file (PROTOCOL.md, CREATE flags) instead of
      /// sending them in every reply (2*H*W*3 bytes an env and step); only when the server is on this
      /// machine: one the bridge launched, or one reached at a loopback address (127.0.0.1, localhost,
      /// [::1]; turn it off for a loopback port forwarded to another machine or container). The server may
      /// decline; the bridge then reads them from the replies.
      SharedScreens: bool }

    /// 30 s for a reply and for a launched server's READY line, AleServerLaunch.Python(), shared screens on.
    static member Default =
        { ReceiveTimeout = TimeSpan.FromSeconds 30.0
          StartupTimeout = TimeSpan.FromSeconds 30.0
          Server = AleServerLaunch.Python()
          SharedScreens = true }

    /// A copy with ReceiveTimeout = timeout. Raises ArgumentOutOfRangeException (naming "timeout") unless it is positive.
    member o.WithReceiveTimeout(timeout: TimeSpan) = { o with ReceiveTimeout = AleBridgeOptions.Positive "timeout" timeout }
    /// A copy with StartupTimeout = timeout. Raises ArgumentOutOfRangeException (naming "timeout") unless it is positive.
    member o.WithStartupTimeout(timeout: TimeSpan) = { o with StartupTimeout = AleBridgeOptions.Positive "timeout" timeout }
    /// A copy that launches `server`. Raises ArgumentNullException for null.
    member o.WithServer(server: AleServerLaunch) =
        if isNull (box server) then nullArg "server"
        { o with Server = server }
    /// A copy whose server runs under the Python interpreter at `python` (a path, or a name looked up on PATH), with
    /// Server's arguments (AleServerLaunch.Python(): the bridge script). Raises ArgumentException for null or blank.
    member o.WithPython(python: string) =
        if String.IsNullOrWhiteSpace python then invalidArg "python" "give the Python interpreter's path, e.g. /usr/bin/python3"
        { o with Server = { o.Server with FileName = python } }
    /// A copy with SharedScreens = shared.
    member o.WithSharedScreens(shared: bool) = { o with SharedScreens = shared }

    static member private Positive (name: string) (t: TimeSpan) =
        if t <= TimeSpan.Zero then raise (ArgumentOutOfRangeException(name, t, $"{name} must be positive, got {t}"))
        t

/// The outcome of a reset or a step: per environment its record and its last two raw RGB screens.
[<AllowNullLiteral>]
type AleObservation internal (envs: int[], steps: AleEnvStep[], screens: byte[], screenBytes: int[]) =
    let offsets = Array.scan (fun acc n -> acc + 2 * n) 0 screenBytes
    /// The environment indices covered, in order (all envs for a step, the requested ones for a reset).
    member _.Envs = envs
    member _.Steps = steps
    /// All screens, [env; 2; H; W; 3] uint8, the second-to-last screen before the last one.
    member _.Screens = screens
    /// The last (last = true) or second-to-last screen of the i-th env covered, [H; W; 3] RGB.
    member _.Screen(i: int, last: bool) : ReadOnlyMemory<byte> =
        if i < 0 || i >= envs.Length then raise (ArgumentOutOfRangeException("i", i, $"the observation covers {envs.Length} envs"))
        ReadOnlyMemory(screens, offsets[i] + (if last then screenBytes[i] else 0), screenBytes[i])
    /// Writes the element-wise max of the i-th env's two screens (the flicker max-pool of Mnih et al. 2015)
    /// into `destination`, [H; W; 3] RGB bytes exactly as long as one screen, without allocating.
    member o.MaxPooledInto(i: int, destination: Span<byte>) =
        let a = o.Screen(i, false).Span
        let b = o.Screen(i, true).Span
        if destination.Length <> a.Length then
            raise (ArgumentException($"destination is {destination.Length} bytes; env {envs[i]}'s screen is {a.Length} (H*W*3)", "destination"))
        let va = MemoryMarshal.Cast<byte, Vector<byte>> a
        let vb = MemoryMarshal.Cast<byte, Vector<byte>> b
        let vd = MemoryMarshal.Cast<byte, Vector<byte>> destination
        for k in 0 .. va.Length - 1 do
            vd[k] <- Vector.Max(va[k], vb[k])
        let mutable j = va.Length * Vector<byte>.Count
        while j < a.Length do
            destination[j] <- max a[j] b[j]
            j <- j + 1
    /// Element-wise max of the i-th env's two screens (the flicker max-pool of Mnih et al. 2015), a new
    /// [H; W; 3] array.
    member o.MaxPooled(i: int) : byte[] =
        let out = Array.zeroCreate<byte> (o.Screen(i, true).Length)
        o.MaxPooledInto(i, Span out)
        out

/// A client of an ALE bridge server (atari/bridge/PROTOCOL.md) over a ZeroMQ REQ socket (NetMQ, managed: no
/// native library). Create it with Launch (starts python3 ale_bridge.py on a loopback TCP port it chooses)
/// or Connect (a server already running, at tcp://HOST:PORT). Not thread-safe. Dispose closes the server it
/// launched.
[<Sealed>]
type AleBridge private (options: AleBridgeOptions, fixedEndpoint: string option) =
    let mutable socket: TransportSocket = null
    let mutable proc: Process = null
    let mutable endpoint = defaultArg fixedEndpoint ""
    let mutable seq = 0u
    let mutable broken: string option = None
    let mutable serverName = ""
    let mutable specs: AleEnvSpec[] = [||]
    let mutable infos: AleEnvInfo[] = [||]
    /// The shared screen file's view while the server puts the screens there, and per env the byte offset
    /// of its two screens in it.
    let mutable sharedView: MemoryMappedViewAccessor = null
    let mutable sharedFile: MemoryMappedFile = null
    let mutable sharedStart = 0n
    let mutable pairOffsets: int64[] = [||]
    let stderrTail = Queue<string>()
    let mutable disposed = false

    let mutable stderrReader: Thread = null

    /// Once the process exited: waits (up to 2 s) for the stderr reader to reach EOF, so the tail is whole.
    let drainStderr (_: Process) =
        match stderrReader with
        | null -> ()
        | t -> t.Join 2000 |> ignore

    let tail () =
        lock stderrTail (fun () -> if stderrTail.Count = 0 then "" else "; server stderr: " + String.Join(" | ", stderrTail))

    let openSocket () =
        let s = new TransportSocket(TransportKind.Request)
        try
            s.MaxMessageSize <- 256L * 1024L * 1024L
            s.Connect endpoint
        with _ ->
            s.Dispose()
            reraise ()
        socket <- s

    let stopProcess () =
        match proc with
        | null -> ()
        | p ->
            try
                try p.StandardInput.Close() with _ -> ()
                if not (p.WaitForExit 2000) then p.Kill true
                p.WaitForExit 2000 |> ignore
            with _ -> ()
            drainStderr p
            stderrReader <- null
            p.Dispose()
            proc <- null

    let startProcess () =
        let ep = AleServerLaunch.BindAddress
        let psi = ProcessStartInfo(options.Server.FileName)
        for a in options.Server.Arguments do
            psi.ArgumentList.Add(a.Replace("{endpoint}", ep).Replace("{pid}", string Environment.ProcessId))
        psi.RedirectStandardInput <- true
        psi.RedirectStandardOutput <- true
        psi.RedirectStandardError <- true
        psi.UseShellExecute <- false
        let p =
            try Process.Start psi
            with e -> raise (BridgeException(ep, "server start", $"could not start {psi.FileName}: {e.Message}", Nullable(), e))
        lock stderrTail (fun () -> stderrTail.Clear())
        // A dedicated thread keeps the last 8 stderr lines: it does not wait for the thread pool, which
        // may be busy exactly when a server dies.
        let err = p.StandardError
        stderrReader <-
            Thread(
                (fun () ->
                    try
                        let mutable line = err.ReadLine()
                        while not (isNull line) do
                            lock stderrTail (fun () ->
                                stderrTail.Enqueue line
                                while stderrTail.Count > 8 do stderrTail.Dequeue() |> ignore)
                            line <- err.ReadLine()
                    with _ -> ()),
                IsBackground = true,
                Name = "ale-bridge-stderr"
            )
        stderrReader.Start()
        proc <- p
        endpoint <- ep
        // Wait for "READY tcp://HOST:PORT": the endpoint the server bound, with the port the OS chose.
        let deadline = DateTime.UtcNow + options.StartupTimeout
        let mutable ready = None
        let mutable line = p.StandardOutput.ReadLineAsync()
        while ready.IsNone do
            let left = deadline - DateTime.UtcNow
            if left <= TimeSpan.Zero then
                stopProcess ()
                raise (BridgeException(ep, "server start", $"{psi.FileName} printed no READY line within {options.StartupTimeout.TotalSeconds} s{tail ()}"))
            if line.Wait(min left (TimeSpan.FromMilliseconds 100.0)) then
                match line.Result with
                | null ->
                    p.WaitForExit 1000 |> ignore
                    let code = if p.HasExited then string p.ExitCode else "?"
                    if p.HasExited then drainStderr p
                    let t = tail ()
                    stopProcess ()
                    raise (BridgeException(ep, "server start", $"{psi.FileName} exited (code {code}) before it was ready{t}"))
                | l when l.StartsWith "READY " ->
                    let reported = l.Substring(6).Trim()
                    match Endpoint.tryParse false reported with
                    | Ok _ -> ready <- Some reported
                    | Result.Error why ->
                        stopProcess ()
                        raise (BridgeException(ep, "server start", $"{psi.FileName} said READY at an endpoint this client cannot reach: {why}"))
                | _ -> line <- p.StandardOutput.ReadLineAsync()
        endpoint <- ready.Value

    /// One request/reply exchange. Server refusals raise BridgeException with ServerError set; a dead,
    /// hung or garbled server breaks the bridge.
    let call (req: Request) (describe: string) (screenBytes: int[]) : Reply =
        if disposed then raise (ObjectDisposedException("AleBridge"))
        seq <- seq + 1u
        let frames = encodeRequest seq req
        let kind = Protocol.u16 frames.Head 6
        let inFlight = $"{Kind.name kind} #{seq}{describe}"
        match broken with
        | Some why -> raise (BridgeException(endpoint, inFlight, $"the bridge is broken ({why}); call Restart"))
        | None -> ()
        let fail msg =
            broken <- Some $"{inFlight}: {msg}"
            raise (BridgeException(endpoint, inFlight, msg))
        let exitedMessage () =
            match proc with
            | null -> None
            | p when p.HasExited ->
                drainStderr p
                Some $"the server process {p.Id} exited with code {p.ExitCode}{tail ()}"
            | _ -> None
        let sent =
            try socket.TrySend(frames, options.ReceiveTimeout)
            with :? TransportException as e -> fail $"send failed: {e.Message}"
        if not sent then
            fail (exitedMessage () |> Option.defaultValue $"no server accepted the request within {options.ReceiveTimeout.TotalSeconds} s")
        let deadline = DateTime.UtcNow + options.ReceiveTimeout
        let mutable reply = None
        while reply.IsNone do
            let left = deadline - DateTime.UtcNow
            if left <= TimeSpan.Zero then
                fail $"no reply within {options.ReceiveTimeout.TotalSeconds} s (the server died or hung){tail ()}"
            // Wait in short slices, so a launched server that died is reported at once.
            let slice = if isNull proc then left else min left (TimeSpan.FromMilliseconds 100.0)
            match (try socket.TryReceive slice with :? TransportException as e -> fail $"receive failed: {e.Message}") with
            | Some frames -> reply <- Some frames
            | None ->
                match exitedMessage () with
                | Some m -> fail m
                | None -> ()
        let decoded =
            try decodeReply seq kind screenBytes reply.Value
            with ProtocolError(_, _, m) -> fail $"malformed reply: {m}"
        match decoded with
        | Error(code, env, msg) ->
            let where = if env >= 0 then $" (env {env})" else ""
            raise (BridgeException(endpoint, inFlight, $"the server refused it: {code}{where}: {msg}", Nullable code, null))
        | r -> r

    let hello () =
        match call (Hello(Protocol.Version, Protocol.Version)) "" [||] with
        | HelloOk(v, _, _, name) when v = Protocol.Version -> serverName <- name
        | HelloOk(v, _, _, _) -> raise (BridgeException(endpoint, "HELLO", $"the server chose protocol version {v}; this client speaks {Protocol.Version}"))
        | _ -> raise (BridgeException(endpoint, "HELLO", "unexpected reply"))

    let screenBytesOf (envs: int[]) = envs |> Array.map (fun e -> infos[e].Height * infos[e].Width * 3)

    let releaseShared () =
        if sharedStart <> 0n then sharedView.SafeMemoryMappedViewHandle.ReleasePointer()
        sharedStart <- 0n
        if not (isNull sharedView) then sharedView.Dispose()
        if not (isNull sharedFile) then sharedFile.Dispose()
        sharedView <- null
        sharedFile <- null

    /// Maps the server's shared screen file of `size` bytes read-only, then removes its name (the mapping
    /// stays valid; nothing is left behind if either side dies).
    let mapShared (path: string) (size: int64) =
        try
            let length = FileInfo(path).Length
            if length <> size then failwith $"it is {length} bytes, expected {size} (2*H*W*3 per env)"
            sharedFile <- MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, size, MemoryMappedFileAccess.Read)
            sharedView <- sharedFile.CreateViewAccessor(0L, size, MemoryMappedFileAccess.Read)
            let mutable p: nativeptr<byte> = NativePtr.nullPtr
            sharedView.SafeMemoryMappedViewHandle.AcquirePointer(&p)
            sharedStart <- NativePtr.toNativeInt p + nativeint sharedView.PointerOffset
        with e ->
            releaseShared ()
            (try File.Delete path with _ -> ())
            raise (BridgeException(endpoint, "CREATE", $"could not map the shared screen file {path}: {e.Message}", Nullable(), e))
        try File.Delete path with _ -> ()

    // The last RESET/STEP reply: the envs it covers, its screens when they came inline (else empty: they are in
    // the shared file), and per covered env the offset of its two screens there.
    let mutable replyEnvs: int[] = [||]
    let mutable replyScreens: byte[] = [||]
    let mutable replyOffsets: int[] = [||]
    let mutable allEnvs: int[] = [||]
    let mutable allScreenBytes: int[] = [||]
    let mutable allOffsets: int[] = [||]
    /// Per covered env, the offset of its two screens in a reply's screens frame.
    let pairOffsetsOf (screenBytes: int[]) = Array.scan (fun acc n -> acc + 2 * n) 0 screenBytes

    /// Keeps a RESET/STEP reply's screens for readScreens; returns its records.
    let received (envs: int[]) (reply: Reply) : AleEnvStep[] =
        match reply with
        | Observed(_, steps, screens) ->
            if screens.Length = 0 && isNull sharedView then
                broken <- Some "a reply without screens, though no shared screen file was agreed"
                raise (BridgeException(endpoint, "RESET/STEP", "the reply has no screens, and no shared screen file was agreed"))
            replyEnvs <- envs
            replyScreens <- screens
            if screens.Length > 0 then
                replyOffsets <- if obj.ReferenceEquals(envs, allEnvs) then allOffsets else pairOffsetsOf (screenBytesOf envs)
            steps
        | _ -> raise (BridgeException(endpoint, "RESET/STEP", "unexpected reply"))

    /// env's two screens of the last reply (the k-th env it covers), as one span of 2*H*W*3 bytes.
    let screenPair (env: int) : ReadOnlySpan<byte> =
        if replyEnvs.Length = 0 then invalidOp "no RESET or STEP reply has been received"
        let k =
            if env >= 0 && env < replyEnvs.Length && replyEnvs[env] = env then env
            else Array.IndexOf(replyEnvs, env)
        if k < 0 then raise (ArgumentOutOfRangeException("env", env, $"the last reply covers envs {String.Join(',', replyEnvs)}"))
        let size = 2 * infos[env].Height * infos[env].Width * 3
        if replyScreens.Length > 0 then ReadOnlySpan(replyScreens, replyOffsets[k], size)
        else ReadOnlySpan<byte>(NativePtr.toVoidPtr (NativePtr.ofNativeInt<byte> (sharedStart + nativeint pairOffsets[env])), size)

    let readScreens (env: int) (secondLast: Span<byte>) (last: Span<byte>) =
        let pair = screenPair env
        let size = pair.Length / 2
        if secondLast.Length <> size || last.Length <> size then
            invalidArg "secondLast" $"the buffers are {secondLast.Length} and {last.Length} bytes; env {env}'s screen is {size} (H*W*3)"
        pair.Slice(0, size).CopyTo secondLast
        pair.Slice(size).CopyTo last

    /// The last reply as an AleObservation that owns its screens.
    let observation (envs: int[]) (steps: AleEnvStep[]) =
        let sizes = screenBytesOf envs
        let screens =
            if replyScreens.Length > 0 then replyScreens
            else
                // The server writes the file only while it handles a request: copy before the next one.
                let out = GC.AllocateUninitializedArray<byte>(2 * Array.sum sizes)
                let mutable at = 0
                for env in envs do
                    let pair = screenPair env
                    pair.CopyTo(Span(out, at, pair.Length))
                    at <- at + pair.Length
                out
        AleObservation(envs, steps, screens, sizes)

    let observed (envs: int[]) (reply: Reply) = observation envs (received envs reply)

    let stepRecords (ops: AleStepOp[]) : AleEnvStep[] =
        if infos.Length = 0 then invalidOp "call Create before Step"
        if isNull ops || ops.Length <> infos.Length then invalidArg "ops" $"give one op per env ({infos.Length})"
        let mutable repeat = ops[0].Repeat
        for i in 0 .. ops.Length - 1 do
            let r = ops[i].Repeat
            if r < 0 || r > Protocol.MaxRepeat then
                raise (ArgumentOutOfRangeException($"ops[{i}].Repeat", r, $"a repeat must be in 0..{Protocol.MaxRepeat}"))
            if r <> repeat || ops[i].Reset then repeat <- -1
        let describe = if repeat >= 0 then $" ({ops.Length} envs, repeat {repeat})" else $" ({ops.Length} envs, ops of their own)"
        call (Step ops) describe allScreenBytes |> received allEnvs

    let create (s: AleEnvSpec[]) =
        if isNull s || s.Length < 1 || s.Length > Protocol.MaxEnvs then
            invalidArg "specs" $"give 1..{Protocol.MaxEnvs} environment specs"
        for x in s do
            if String.IsNullOrEmpty x.Game then invalidArg "specs" "an environment spec has no Game"
        // Only a server on this machine can share a file with it: one it launched, or one at a loopback address.
        let askShared = options.SharedScreens && (not (isNull proc) || Endpoint.isLoopback endpoint)
        match call (Create(s, askShared)) $" ({s.Length} envs)" [||] with
        | CreateOk(i, path) when i.Length = s.Length ->
            releaseShared ()
            specs <- Array.copy s
            infos <- i
            allEnvs <- Array.init i.Length id
            allScreenBytes <- screenBytesOf allEnvs
            allOffsets <- pairOffsetsOf allScreenBytes
            replyEnvs <- [||]
            pairOffsets <- Array.scan (fun at (e: AleEnvInfo) -> at + 2L * int64 (e.Height * e.Width * 3)) 0L i
            match path with
            | Some p when askShared -> mapShared p pairOffsets[i.Length]
            | Some p ->
                (try File.Delete p with _ -> ())
                raise (BridgeException(endpoint, "CREATE", $"the server chose a shared screen file ({p}) that was not asked for"))
            | None -> ()
            i
        | _ -> raise (BridgeException(endpoint, "CREATE", "unexpected reply"))

    let start () =
        match fixedEndpoint with
        | Some _ -> ()
        | None -> startProcess ()
        openSocket ()
        hello ()

    member private _.Start() =
        try start ()
        with _ ->
            (if not (isNull socket) then socket.Dispose())
            socket <- null
            stopProcess ()
            reraise ()

    /// Connects to a running server at `endpoint`, tcp://HOST:PORT (e.g. "tcp://127.0.0.1:5555"), and performs
    /// the handshake. Raises ArgumentException for any other endpoint (an ipc:// path too: NetMQ's ipc:// is
    /// not a Unix socket), BridgeException when the handshake fails.
    static member Connect(endpoint: string, options: AleBridgeOptions) =
        match Endpoint.tryParse false endpoint with
        | Result.Error why -> invalidArg "endpoint" $"give the server's endpoint, such as tcp://127.0.0.1:5555: {why}"
        | Ok _ -> ()
        let b = new AleBridge(options, Some endpoint)
        b.Start()
        b

    static member Connect(endpoint: string) = AleBridge.Connect(endpoint, AleBridgeOptions.Default)

    /// Starts options.Server bound to AleServerLaunch.BindAddress (loopback, a port the OS chooses), waits for
    /// its READY line, connects to the endpoint it reports and handshakes. Raises BridgeException when the
    /// server cannot start, exits or says nothing within options.StartupTimeout.
    static member Launch(options: AleBridgeOptions) =
        let b = new AleBridge(options, None)
        b.Start()
        b

    static member Launch() = AleBridge.Launch(AleBridgeOptions.Default)

    /// Asks the .NET runtime to complete socket operations on its socket thread instead of the thread pool
    /// (DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1), which spares every bridge round trip a thread hop and
    /// the pool's spin-wait (NetMQ's receives otherwise wake a pool thread first). Process-wide: it applies to
    /// every socket of the process (their completions then run on the runtime's socket thread, so other code
    /// must not block in them), and the runtime reads it once, at the first asynchronous socket operation, so
    /// an application calls this first thing in main (dqnfun-bench does). A value the environment already
    /// gives stands. Returns true when it set the variable.
    static member PreferInlineSocketCompletions() = SocketCompletions.preferInline ()

    /// Sets the number of NetMQ I/O threads of the process (NetMQConfig.ThreadPoolSize; NetMQ's default is 1),
    /// to be called before the first bridge is made. Every bridge's messages pass through one of them, so with one
    /// thread the round trips of bridges stepped in parallel take turns on it: measured on 2 cores with two servers
    /// stepped from two threads, 2 I/O threads gave 1.35x the frames/s of 1 (`dqnfun-bench bridge`, which sets the
    /// core count, at most 4). Raises ArgumentOutOfRangeException for a count below 1.
    static member SetIoThreads(count: int) =
        if count < 1 then raise (ArgumentOutOfRangeException("count", count, "at least one NetMQ I/O thread"))
        NetMQ.NetMQConfig.ThreadPoolSize <- count

    /// The server's endpoint, tcp://HOST:PORT (for a launched server, the port it bound).
    member _.Endpoint = endpoint
    /// The server's self-description from the handshake (e.g. "ale_py 0.12.1").
    member _.Server = serverName
    /// The environments created, with their action sets and screen sizes.
    member _.Envs = infos
    /// Whether the screens of the created envs come through the shared memory file (PROTOCOL.md, CREATE
    /// flags), not in the replies: asked for by options.SharedScreens for a server on this machine, and
    /// honoured by the server.
    member _.ScreensShared = not (isNull sharedView)
    /// Set once the server died, hung or garbled a reply; Restart clears it.
    member _.IsBroken = broken.IsSome
    /// The launched server's process id, or -1.
    member _.ServerProcessId = if isNull proc then -1 else proc.Id

    /// Creates the environments (replacing any earlier ones) and returns their action sets and screens.
    member _.Create(envSpecs: AleEnvSpec[]) : AleEnvInfo[] = create envSpecs

    /// Starts new episodes in the given environments (indices into Envs).
    member _.Reset(envs: int[]) : AleObservation =
        if infos.Length = 0 then invalidOp "call Create before Reset"
        if isNull envs || envs.Length = 0 then invalidArg "envs" "give at least one env index"
        for e in envs do
            if e < 0 || e >= infos.Length then raise (ArgumentOutOfRangeException("envs", e, $"env index outside 0..{infos.Length - 1}"))
        call (Reset envs) $" (envs {String.Join(',', envs)})" (screenBytesOf envs) |> observed envs

    /// Starts new episodes in every environment.
    member b.ResetAll() = b.Reset(Array.init infos.Length id)

    /// Steps every environment at once: actions[i] (an index into Envs[i].Actions) held for `repeat`
    /// frames. Environments whose game is over must be reset first.
    member b.Step(actions: int[], repeat: int) : AleObservation =
        if infos.Length = 0 then invalidOp "call Create before Step"
        if isNull actions || actions.Length <> infos.Length then invalidArg "actions" $"give one action per env ({infos.Length})"
        if repeat < 1 || repeat > Protocol.MaxRepeat then raise (ArgumentOutOfRangeException("repeat", repeat, $"repeat must be in 1..{Protocol.MaxRepeat}"))
        b.Step(actions |> Array.map (fun a -> AleStepOp.Act(a, repeat)))

    /// One STEP with its own op for every environment (PROTOCOL.md, version 3): env i is reset first when
    /// ops[i].Reset, then holds ops[i].Action for ops[i].Repeat frames (0..64; 0 without Reset leaves it
    /// untouched). The observation covers every env. Raises ArgumentException unless there is one op per env,
    /// ArgumentOutOfRangeException for a repeat outside 0..64 or an action outside the env's action set.
    member _.Step(ops: AleStepOp[]) : AleObservation =
        let steps = stepRecords ops
        observation allEnvs steps

    /// As Step(ops), without copying the screens out: returns the records; ReadScreens reads an env's two
    /// screens until the next request. For a vector environment that max-pools straight from them.
    member _.StepRecords(ops: AleStepOp[]) : AleEnvStep[] = stepRecords ops

    /// Copies env `env`'s second-to-last and last screens of the last RESET or STEP into the buffers (each
    /// H*W*3 bytes). Valid until the next request. Raises InvalidOperationException before any RESET/STEP
    /// reply, ArgumentOutOfRangeException for an env index outside the last reply, ArgumentException for a
    /// buffer of another length.
    member _.ReadScreens(env: int, secondLast: Span<byte>, last: Span<byte>) = readScreens env secondLast last

    /// Starts afresh after a failure: closes the socket, restarts the server it launched (or reconnects
    /// to the fixed endpoint), handshakes, creates the same environments (same seeds) and resets them all.
    /// Returns the first observations of the new episodes (null if no environments were created).
    member b.Restart() : AleObservation =
        if disposed then raise (ObjectDisposedException("AleBridge"))
        if not (isNull socket) then socket.Dispose()
        socket <- null
        if fixedEndpoint.IsNone then stopProcess ()
        broken <- None
        start ()
        if specs.Length = 0 then null
        else
            create specs |> ignore
            b.ResetAll()

    /// Sends CLOSE (the server exits; a server joined with Connect too), then releases the socket, the
    /// shared screen file and the server process it launched.
    member _.Dispose() =
        if not disposed then
            if broken.IsNone && not (isNull socket) then
                try
                    let wait = TimeSpan.FromSeconds 2.0
                    seq <- seq + 1u
                    if socket.TrySend(encodeRequest seq Close, wait) then socket.TryReceive wait |> ignore
                with _ -> ()
            disposed <- true
            if not (isNull socket) then socket.Dispose()
            stopProcess ()
            releaseShared ()

    interface IDisposable with
        member b.Dispose() = b.Dispose()

/// <summary>An <see cref="T:Dqn.Fun.Atari.IAtariEmulator"/> over a bridge that hosts exactly one environment
/// (a STEP moves every env the bridge hosts): <c>Repeat</c> is one STEP, the action repeated server-side
/// (PROTOCOL.md), so an agent step costs one round trip; <c>ResetGame</c> is one RESET. Repeats above the
/// protocol's MAX_REPEAT (64 frames, e.g. long no-op starts) take several STEPs. The bridge's own frame limit
/// is best left 0: AtariEnvironment truncates episodes itself (AtariSettings.MaxEpisodeFrames).</summary>
/// <remarks>The emulator does not own the bridge. After a <see cref="T:Dqn.Fun.Atari.BridgeException"/> from
/// a dead server, call <c>bridge.Restart()</c>, then start a fresh episode (AtariEnvironment.Reset).</remarks>
[<Sealed>]
type AleBridgeEmulator(bridge: AleBridge) =
    do
        if isNull (box bridge) then nullArg "bridge"
        if bridge.Envs.Length <> 1 then
            invalidArg "bridge" $"the bridge must host exactly 1 environment (Create with one spec), it hosts {bridge.Envs.Length}"
        let e = bridge.Envs[0]
        if e.Height <> Screen.height || e.Width <> Screen.width then
            invalidArg "bridge" $"the environment's screen is {e.Height}x{e.Width}, expected {Screen.height}x{Screen.width}"
    let actions = Array.copy bridge.Envs[0].Actions
    let mutable lives = bridge.Envs[0].Lives
    let index (action: int) =
        match Array.IndexOf(actions, action) with
        | -1 -> raise (ArgumentOutOfRangeException("action", action, $"""ALE action id not in the action set [{String.Join(", ", actions)}]"""))
        | i -> i

    /// The bridge it drives.
    member _.Bridge = bridge

    interface IAtariEmulator with
        member _.MinimalActionSet = Array.copy actions
        member _.Lives() = lives
        member _.ResetGame screen =
            Arg.length "screen" "[210; 160; 3]" Screen.rgbLength screen
            let o = bridge.Reset [| 0 |]
            o.Screen(0, true).Span.CopyTo(Span screen)
            lives <- o.Steps[0].Lives
        member _.Repeat(action, frames, secondLast, last) =
            Arg.positive "frames" frames
            Arg.length "secondLast" "[210; 160; 3]" Screen.rgbLength secondLast
            Arg.length "last" "[210; 160; 3]" Screen.rgbLength last
            let i = index action
            let mutable remaining = frames
            let mutable reward = 0
            let mutable emulated = 0
            let mutable gameOver = false
            while remaining > 0 && not gameOver do
                let o = bridge.Step([| i |], min remaining Protocol.MaxRepeat)
                let s = o.Steps[0]
                reward <- reward + s.Reward
                emulated <- emulated + s.Frames
                remaining <- remaining - s.Frames
                gameOver <- s.GameOver || s.Truncated || s.Frames = 0
                lives <- s.Lives
                o.Screen(0, false).Span.CopyTo(Span secondLast)
                o.Screen(0, true).Span.CopyTo(Span last)
            // Ended early: both buffers hold the final screen, as AtariWrappers.frameSkip leaves them.
            if emulated < frames then Array.Copy(last, secondLast, last.Length)
            { RewardSum = reward; Frames = emulated; GameOver = gameOver }
