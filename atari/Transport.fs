namespace Dqn.Fun.Atari

open System
open System.Threading
open NetMQ
open NetMQ.Sockets

/// A ZeroMQ operation of the bridge's transport failed: the operation and NetMQ's message (the NetMQ
/// exception is the inner exception).
type internal TransportException(operation: string, message: string, inner: exn) =
    inherit Exception($"ZeroMQ {operation} failed: {message}", inner)
    /// The operation that failed, e.g. "bind(tcp://127.0.0.1:5555)" or "receive".
    member _.Operation = operation

/// The socket kinds the bridge uses (PROTOCOL.md, "Transport").
type internal TransportKind =
    /// REQ, the client: send one request, receive one reply.
    | Request = 0
    /// REP, the server: receive one request, send one reply.
    | Reply = 1

/// The bridge's endpoints: tcp://HOST:PORT only. NetMQ's ipc:// is not a Unix domain socket but TCP on a port
/// derived from the name, so it cannot reach a pyzmq server bound to an ipc:// path.
module internal Endpoint =

    /// Loopback addresses: a server bound to one is on this machine (and can share memory with the client).
    let private loopbackHosts = set [ "127.0.0.1"; "localhost"; "[::1]"; "::1" ]

    /// (host, port) of "tcp://HOST:PORT" with PORT in 1..65535, or why `endpoint` is not one. `forBind`
    /// also takes the port "*" (returned as 0): an ephemeral port the OS chooses as the server binds.
    let tryParse (forBind: bool) (endpoint: string) : Result<string * int, string> =
        let prefix = "tcp://"
        if isNull endpoint || not (endpoint.StartsWith prefix) then
            let hint =
                if not (isNull endpoint) && endpoint.StartsWith "ipc://" then
                    " (NetMQ's ipc:// is TCP on a port derived from the name, not a Unix socket: use tcp://127.0.0.1:PORT)"
                else ""
            Error $"'{endpoint}' is not a tcp://HOST:PORT endpoint{hint}"
        else
            let rest = endpoint.Substring prefix.Length
            let colon = rest.LastIndexOf ':'
            let host = if colon > 0 then rest.Substring(0, colon) else ""
            let port = if colon > 0 then rest.Substring(colon + 1) else ""
            match Int32.TryParse port with
            | _ when host = "" -> Error $"'{endpoint}' names no host (tcp://HOST:PORT)"
            | true, p when p >= 1 && p <= 65535 && string p = port -> Ok(host, p)
            | _ when forBind && port = "*" -> Ok(host, 0)
            | _ -> Error $"""'{endpoint}' has no port in 1..65535{(if forBind then " (or *)" else "")} (tcp://HOST:PORT)"""

    /// Whether a tcp:// endpoint (or bind address, e.g. "tcp://127.0.0.1:*") names a loopback address.
    let isLoopback (endpoint: string) =
        match tryParse true endpoint with
        | Ok(host, _) -> loopbackHosts.Contains host
        | Error _ -> false

/// How a reply reaches the client. NetMQ runs on .NET's asynchronous sockets (through AsyncIO): the runtime's
/// socket thread sees the reply arrive and, by default, hands the completion to a thread-pool thread, which hands
/// it to NetMQ's I/O thread, which signals the thread waiting in TryReceive. That is one thread woken more per
/// round trip than libzmq (whose I/O thread polls the socket itself), and the pool's worker spins before it
/// sleeps again. DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1 makes the socket thread hand the completion to
/// NetMQ's I/O thread itself (AsyncIO only queues it). The runtime reads the variable once, at the first
/// asynchronous socket operation of the process, and applies it to every socket of the process.
module internal SocketCompletions =

    /// The runtime's environment variable.
    [<Literal>]
    let Variable = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS"

    /// Sets Variable to "1" unless the environment already gives it a value (that choice stands); true when
    /// it set it.
    let preferInline () =
        if String.IsNullOrEmpty(Environment.GetEnvironmentVariable Variable) then
            Environment.SetEnvironmentVariable(Variable, "1")
            true
        else false

/// One ZeroMQ socket of the bridge, over NetMQ (a managed ZeroMQ: no native library): multipart messages of
/// byte[] frames, every wait bounded by a timeout, tcp:// endpoints only. Linger is 0, so Dispose never waits
/// on unsent messages. Not thread-safe: use it from one thread at a time.
[<Sealed; AllowNullLiteral>]
type internal TransportSocket(kind: TransportKind) =
    static let mutable live = 0L
    /// A new array holding the frame's bytes, not zeroed first: the copy overwrites every byte (inline
    /// screens are 200 KB an env).
    static let copyOut (m: Msg) =
        let data = GC.AllocateUninitializedArray<byte> m.Size
        if m.Size > 0 then m.Slice().CopyTo(Span data)
        data
    let socket: NetMQSocket =
        match kind with
        | TransportKind.Request -> new RequestSocket()
        | TransportKind.Reply -> new ResponseSocket()
        | k -> raise (ArgumentOutOfRangeException("kind", k, "Request or Reply"))
    do
        socket.Options.Linger <- TimeSpan.Zero
        Interlocked.Increment(&live) |> ignore
    let mutable disposed = false

    let check () = if disposed then raise (ObjectDisposedException("TransportSocket"))

    let fail (operation: string) (e: NetMQException) : 'a = raise (TransportException(operation, e.Message, e))

    let wrap (operation: string) (f: unit -> 'a) : 'a =
        check ()
        try f ()
        with :? NetMQException as e -> fail operation e

    /// NetMQ counts a wait in whole milliseconds, and truncates one of 0 < t < 1 ms to 0, after which its send
    /// and receive loop without ever timing out: a wait is rounded up to whole milliseconds (at most
    /// Int32.MaxValue). Zero (do not wait) and Timeout.InfiniteTimeSpan pass as they are.
    let wait (name: string) (t: TimeSpan) =
        if t = TimeSpan.Zero || t = Timeout.InfiniteTimeSpan then t
        elif t < TimeSpan.Zero then
            raise (ArgumentOutOfRangeException(name, t, "a wait is positive, zero or Timeout.InfiniteTimeSpan"))
        else TimeSpan.FromMilliseconds(min (Math.Ceiling t.TotalMilliseconds) (float Int32.MaxValue))

    let endpointArg (forBind: bool) (endpoint: string) =
        match Endpoint.tryParse forBind endpoint with
        | Ok _ -> ()
        | Error why -> invalidArg "endpoint" why

    /// Sockets created and not yet disposed in this process (for leak tests).
    static member LiveSockets = Volatile.Read(&live)

    member _.Kind = kind
    member _.IsDisposed = disposed

    /// Binds a tcp:// endpoint, e.g. "tcp://127.0.0.1:*" (an ephemeral port the OS chooses as it binds, so
    /// no other process can take it in between), and returns the endpoint bound, with its port. Raises
    /// ArgumentException for an endpoint that is not tcp://HOST:PORT or :*, TransportException when the
    /// bind fails (e.g. the port is in use).
    member _.Bind(endpoint: string) : string =
        endpointArg true endpoint
        wrap $"bind({endpoint})" (fun () ->
            socket.Bind endpoint
            socket.Options.LastEndpoint)

    /// Connects to a tcp://HOST:PORT endpoint. The connection is made (and remade) in the background, so this
    /// succeeds before a peer exists; a request sent meanwhile waits in the queue. Raises ArgumentException
    /// for an endpoint that is not tcp://HOST:PORT.
    member _.Connect(endpoint: string) =
        endpointArg false endpoint
        wrap $"connect({endpoint})" (fun () -> socket.Connect endpoint)

    /// The endpoint last bound, with the port a "tcp://127.0.0.1:*" bind chose.
    member _.LastEndpoint = wrap "LastEndpoint" (fun () -> socket.Options.LastEndpoint)

    /// The largest frame, in bytes, a peer may send; a peer sending a larger one is disconnected (-1: no limit).
    member _.MaxMessageSize
        with set (bytes: int64) = wrap "MaxMsgSize" (fun () -> socket.Options.MaxMsgSize <- bytes)

    /// Sends the frames as one multipart message, waiting up to `timeout` (rounded up to whole milliseconds;
    /// Timeout.InfiniteTimeSpan: no limit) for the socket to take it. The frames are handed over without a copy: do not change them
    /// afterwards. Returns false when the timeout passed first; raises TransportException on any other
    /// failure (e.g. a REQ socket sending twice).
    member _.TrySend(frames: byte[] list, timeout: TimeSpan) : bool =
        if List.isEmpty frames then invalidArg "frames" "a message has at least one frame"
        let timeout = wait "timeout" timeout
        check ()
        let last = List.length frames - 1
        let mutable sent = true
        let mutable i = 0
        for f in frames do
            if sent then
                let f = if isNull f then [||] else f
                let mutable msg = Msg()
                if f.Length = 0 then msg.InitEmpty() else msg.InitGC(f, f.Length)
                try
                    // Only the first frame can wait: ZeroMQ queues the rest of a message with it.
                    let ok =
                        try socket.TrySend(&msg, (if i = 0 then timeout else TimeSpan.Zero), i < last)
                        with :? NetMQException as e -> fail "send" e
                    if not ok && i > 0 then
                        raise (TransportException("send", $"frame {i + 1} of {last + 1} was not taken after the first was", null))
                    sent <- ok
                finally
                    msg.Close()
            i <- i + 1
        sent

    /// Sends the frames as one multipart message; raises TransportException when `timeout` passes first.
    member s.Send(frames: byte[] list, timeout: TimeSpan) =
        if not (s.TrySend(frames, timeout)) then
            raise (TransportException("send", $"no peer took the message within {timeout.TotalSeconds} s", null))

    /// Receives one multipart message, waiting up to `timeout` (rounded up to whole milliseconds;
    /// Timeout.InfiniteTimeSpan: no limit) for its first frame; None when the timeout passed first. Each frame is copied out once, into an array of its
    /// size. Raises TransportException on a failure (e.g. a REQ socket receiving before it sent).
    member _.TryReceive(timeout: TimeSpan) : byte[] list option =
        let timeout = wait "timeout" timeout
        check ()
        let mutable msg = Msg()
        msg.InitEmpty()
        try
            let first =
                try socket.TryReceive(&msg, timeout)
                with :? NetMQException as e -> fail "receive" e
            if not first then None
            else
                let frames = ResizeArray<byte[]>(3)
                frames.Add(copyOut msg)
                while msg.HasMore do
                    // The rest of a message arrives with its first frame.
                    let more =
                        try socket.TryReceive(&msg, TimeSpan.Zero)
                        with :? NetMQException as e -> fail "receive" e
                    if not more then
                        raise (TransportException("receive", $"frame {frames.Count + 1} did not follow frame {frames.Count}", null))
                    frames.Add(copyOut msg)
                Some(List.ofSeq frames)
        finally
            msg.Close()

    /// Closes the socket now; safe to call twice.
    member _.Dispose() =
        if not disposed then
            disposed <- true
            socket.Dispose()
            Interlocked.Decrement(&live) |> ignore

    interface IDisposable with
        member s.Dispose() = s.Dispose()
