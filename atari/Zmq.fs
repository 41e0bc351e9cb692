namespace Dqn.Fun.Atari

#nowarn "9" // fixed pointers into .NET arrays for zmq_send and copies out of zmq_msg_t
#nowarn "51" // &&v: the address of a local option value for zmq_setsockopt

open System
open System.Runtime.InteropServices
open System.Threading
open Microsoft.FSharp.NativeInterop

/// A libzmq call failed: the operation and libzmq's own message (zmq_strerror(zmq_errno())).
type ZmqException(operation: string, errno: int, message: string) =
    inherit Exception($"ZeroMQ {operation} failed: {message} (errno {errno})")
    /// The libzmq call that failed, e.g. "zmq_bind(ipc:///tmp/x)".
    member _.Operation = operation
    /// zmq_errno() right after the failure.
    member _.Errno = errno

/// The one file that declares libzmq's entry points (zmq.h, libzmq 4.x). Internal; Zmq.Context and
/// Zmq.Socket below are the typed surface.
module internal ZmqNative =

    [<Literal>]
    let Lib = "libzmq.so.5"

    /// zmq_msg_t: 64 opaque bytes, pointer-aligned.
    [<Struct; StructLayout(LayoutKind.Sequential, Size = 64)>]
    type ZmqMsg =
        val mutable A: int64
        val mutable B: int64
        val mutable C: int64
        val mutable D: int64
        val mutable E: int64
        val mutable F: int64
        val mutable G: int64
        val mutable H: int64

    [<DllImport(Lib)>] extern void zmq_version(int& major, int& minor, int& patch)
    [<DllImport(Lib)>] extern int zmq_errno()
    [<DllImport(Lib)>] extern nativeint zmq_strerror(int errnum)
    [<DllImport(Lib)>] extern nativeint zmq_ctx_new()
    [<DllImport(Lib)>] extern int zmq_ctx_term(nativeint ctx)
    [<DllImport(Lib)>] extern int zmq_ctx_set(nativeint ctx, int option, int value)
    [<DllImport(Lib)>] extern nativeint zmq_socket(nativeint ctx, int kind)
    [<DllImport(Lib)>] extern int zmq_close(nativeint socket)
    [<DllImport(Lib)>] extern int zmq_bind(nativeint socket, [<MarshalAs(UnmanagedType.LPUTF8Str)>] string endpoint)
    [<DllImport(Lib)>] extern int zmq_connect(nativeint socket, [<MarshalAs(UnmanagedType.LPUTF8Str)>] string endpoint)
    [<DllImport(Lib)>] extern int zmq_setsockopt(nativeint socket, int option, nativeint value, unativeint size)
    [<DllImport(Lib)>] extern int zmq_getsockopt(nativeint socket, int option, nativeint value, unativeint& size)
    [<DllImport(Lib)>] extern int zmq_send(nativeint socket, nativeint buf, unativeint len, int flags)
    [<DllImport(Lib)>] extern int zmq_msg_init(ZmqMsg& msg)
    [<DllImport(Lib)>] extern int zmq_msg_recv(ZmqMsg& msg, nativeint socket, int flags)
    [<DllImport(Lib)>] extern nativeint zmq_msg_data(ZmqMsg& msg)
    [<DllImport(Lib)>] extern unativeint zmq_msg_size(ZmqMsg& msg)
    [<DllImport(Lib)>] extern int zmq_msg_more(ZmqMsg& msg)
    [<DllImport(Lib)>] extern int zmq_msg_close(ZmqMsg& msg)

    // socket kinds, options and flags (zmq.h)
    let [<Literal>] REQ = 3
    let [<Literal>] REP = 4
    let [<Literal>] LINGER = 17
    let [<Literal>] MAXMSGSIZE = 22
    let [<Literal>] RCVTIMEO = 27
    let [<Literal>] SNDTIMEO = 28
    let [<Literal>] LAST_ENDPOINT = 32
    let [<Literal>] DONTWAIT = 1
    let [<Literal>] SNDMORE = 2
    let [<Literal>] EAGAIN = 11
    let [<Literal>] EINTR = 4
    let [<Literal>] IO_THREADS = 1

    /// Loads libzmq once, trying `names` in order; raises DllNotFoundException naming each one tried and
    /// the package to install.
    let load (names: string list) : unit =
        let failures = ResizeArray<string>()
        let loaded =
            names
            |> List.exists (fun n ->
                let mutable h = 0n
                if NativeLibrary.TryLoad(n, typeof<ZmqException>.Assembly, Nullable(), &h) then true
                else
                    failures.Add n
                    false)
        if not loaded then
            raise (
                DllNotFoundException(
                    $"""libzmq (ZeroMQ, needed by the ALE bridge) could not be loaded; tried {String.Join(", ", failures)}. """
                    + "Install it with `apt-get install libzmq5` (Debian/Ubuntu), or put libzmq.so.5 on LD_LIBRARY_PATH."
                )
            )

    let private loaded = lazy (load [ Lib ])

    /// Makes sure libzmq can be loaded; called before the first native call.
    let ensure () = loaded.Force()

    let lastError () =
        let e = zmq_errno ()
        let p = zmq_strerror e
        e, (if p = 0n then "unknown error" else Marshal.PtrToStringUTF8 p)

    let fail (operation: string) : 'a =
        let e, m = lastError ()
        raise (ZmqException(operation, e, m))

    let check (operation: string) (rc: int) = if rc < 0 then fail operation

/// Owns a zmq context; zmq_ctx_term runs exactly once, after every socket that holds it has closed.
type internal ZmqContextHandle() =
    inherit SafeHandle(0n, true)
    static let mutable live = 0L
    static member Own(p: nativeint) =
        let h = new ZmqContextHandle()
        h.SetHandle p
        Interlocked.Increment(&live) |> ignore
        h
    static member Live = Volatile.Read(&live)
    override h.IsInvalid = h.handle = 0n
    override h.ReleaseHandle() =
        // zmq_ctx_term can be interrupted by a signal (EINTR); retry then.
        let mutable rc = ZmqNative.zmq_ctx_term h.handle
        while rc <> 0 && ZmqNative.zmq_errno () = ZmqNative.EINTR do
            rc <- ZmqNative.zmq_ctx_term h.handle
        Interlocked.Decrement(&live) |> ignore
        rc = 0

/// Owns a zmq socket, and a reference on its context so the context outlives it.
type internal ZmqSocketHandle(context: ZmqContextHandle) =
    inherit SafeHandle(0n, true)
    static let mutable live = 0L
    static member Own(context: ZmqContextHandle, p: nativeint) =
        let h = new ZmqSocketHandle(context)
        let mutable added = false
        context.DangerousAddRef(&added)
        h.SetHandle p
        Interlocked.Increment(&live) |> ignore
        h
    static member Live = Volatile.Read(&live)
    override h.IsInvalid = h.handle = 0n
    override h.ReleaseHandle() =
        let rc = ZmqNative.zmq_close h.handle
        Interlocked.Decrement(&live) |> ignore
        context.DangerousRelease()
        rc = 0

/// The socket kinds the bridge uses.
type ZmqSocketKind =
    /// Strict request/reply client: send one request, receive one reply.
    | Request = 3
    /// Strict request/reply server: receive one request, send one reply.
    | Reply = 4

/// A ZeroMQ context (zmq_ctx_new) with one I/O thread. Dispose it after its sockets; disposing it while
/// sockets are open defers zmq_ctx_term until the last socket is disposed.
[<Sealed; AllowNullLiteral>]
type ZmqContext() =
    let handle =
        ZmqNative.ensure ()
        let p = ZmqNative.zmq_ctx_new ()
        if p = 0n then ZmqNative.fail "zmq_ctx_new"
        ZmqContextHandle.Own p

    member internal _.Handle = handle

    member _.IsDisposed = handle.IsClosed

    /// libzmq's version as (major, minor, patch).
    static member Version =
        ZmqNative.ensure ()
        let mutable a = 0
        let mutable b = 0
        let mutable c = 0
        ZmqNative.zmq_version (&a, &b, &c)
        (a, b, c)

    /// Contexts not yet terminated in this process (for leak tests).
    static member LiveContexts = ZmqContextHandle.Live
    /// Sockets not yet closed in this process (for leak tests).
    static member LiveSockets = ZmqSocketHandle.Live

    member _.Dispose() = handle.Dispose()

    interface IDisposable with
        member c.Dispose() = c.Dispose()

/// A ZeroMQ socket. Not thread-safe: use it from one thread at a time. Linger is 0 by default, so
/// Dispose never blocks on unsent messages.
[<Sealed; AllowNullLiteral>]
type ZmqSocket(context: ZmqContext, kind: ZmqSocketKind) =
    do if isNull context then nullArg "context"
    let handle =
        let p = ZmqNative.zmq_socket (context.Handle.DangerousGetHandle(), int kind)
        if p = 0n then ZmqNative.fail $"zmq_socket({kind})"
        ZmqSocketHandle.Own(context.Handle, p)

    let h () =
        if handle.IsClosed then raise (ObjectDisposedException("ZmqSocket"))
        handle.DangerousGetHandle()

    let setInt (option: int) (name: string) (value: int) =
        let mutable v = value
        ZmqNative.check $"zmq_setsockopt({name}={value})" (ZmqNative.zmq_setsockopt (h (), option, NativePtr.toNativeInt &&v, unativeint 4))

    do setInt ZmqNative.LINGER "ZMQ_LINGER" 0

    member _.Kind = kind
    member _.IsDisposed = handle.IsClosed

    /// zmq_bind, e.g. "tcp://127.0.0.1:*" or "ipc:///tmp/dqnfun/ale.sock".
    member _.Bind(endpoint: string) = ZmqNative.check $"zmq_bind({endpoint})" (ZmqNative.zmq_bind (h (), endpoint))

    /// zmq_connect; the connection is made in the background, so this succeeds before a peer exists.
    member _.Connect(endpoint: string) = ZmqNative.check $"zmq_connect({endpoint})" (ZmqNative.zmq_connect (h (), endpoint))

    /// The endpoint last bound (ZMQ_LAST_ENDPOINT), with the port a "tcp://127.0.0.1:*" bind chose.
    member _.LastEndpoint =
        let buf = Array.zeroCreate<byte> 1024
        let mutable size = unativeint buf.Length
        use p = fixed buf
        ZmqNative.check "zmq_getsockopt(ZMQ_LAST_ENDPOINT)" (ZmqNative.zmq_getsockopt (h (), ZmqNative.LAST_ENDPOINT, NativePtr.toNativeInt p, &size))
        let n = max 0 (int size - 1) // size counts the terminating NUL
        Text.Encoding.UTF8.GetString(buf, 0, n)

    /// ZMQ_RCVTIMEO: how long a receive waits before TryReceiveMultipart returns None (infinite: -1 ms).
    member _.ReceiveTimeout
        with set (t: TimeSpan) = setInt ZmqNative.RCVTIMEO "ZMQ_RCVTIMEO" (if t = Threading.Timeout.InfiniteTimeSpan then -1 else int t.TotalMilliseconds)

    /// ZMQ_SNDTIMEO: how long a send waits for a peer before it fails with EAGAIN.
    member _.SendTimeout
        with set (t: TimeSpan) = setInt ZmqNative.SNDTIMEO "ZMQ_SNDTIMEO" (if t = Threading.Timeout.InfiniteTimeSpan then -1 else int t.TotalMilliseconds)

    /// ZMQ_LINGER: how long closing waits to flush unsent messages (0 = drop them; the default here).
    member _.Linger with set (t: TimeSpan) = setInt ZmqNative.LINGER "ZMQ_LINGER" (int t.TotalMilliseconds)

    /// ZMQ_MAXMSGSIZE: a peer sending a larger frame is disconnected (-1 = no limit).
    member _.MaxMessageSize
        with set (bytes: int64) =
            let mutable v = bytes
            ZmqNative.check "zmq_setsockopt(ZMQ_MAXMSGSIZE)" (ZmqNative.zmq_setsockopt (h (), ZmqNative.MAXMSGSIZE, NativePtr.toNativeInt &&v, unativeint 8))

    /// Sends the frames as one multipart message (ZMQ_SNDMORE on all but the last). Returns false when
    /// the send timed out (EAGAIN); raises ZmqException on any other failure.
    member _.TrySendMultipart(frames: byte[] list) : bool =
        if List.isEmpty frames then invalidArg "frames" "a message has at least one frame"
        let s = h ()
        let rec go (fs: byte[] list) first =
            match fs with
            | [] -> true
            | f :: rest ->
                let flags = if List.isEmpty rest then 0 else ZmqNative.SNDMORE
                let f = if isNull f then [||] else f
                use p = fixed (if f.Length = 0 then [| 0uy |] else f)
                let mutable rc = ZmqNative.zmq_send (s, NativePtr.toNativeInt p, unativeint f.Length, flags)
                while rc < 0 && ZmqNative.zmq_errno () = ZmqNative.EINTR do
                    rc <- ZmqNative.zmq_send (s, NativePtr.toNativeInt p, unativeint f.Length, flags)
                if rc < 0 then
                    let e, m = ZmqNative.lastError ()
                    // Only the first frame can time out; libzmq queues the rest atomically.
                    if e = ZmqNative.EAGAIN && first then false else raise (ZmqException("zmq_send", e, m))
                else go rest false
        go frames true

    /// Sends the frames as one multipart message; raises ZmqException on failure or send timeout.
    member s.SendMultipart(frames: byte[] list) =
        if not (s.TrySendMultipart frames) then raise (ZmqException("zmq_send", ZmqNative.EAGAIN, "send timed out (no peer ready)"))

    /// Receives one multipart message; None when the receive timeout (ZMQ_RCVTIMEO) passed first or a
    /// signal interrupted the wait before any frame arrived (callers loop until their own deadline).
    member _.TryReceiveMultipart() : byte[] list option =
        let s = h ()
        let frames = ResizeArray<byte[]>()
        let mutable msg = ZmqNative.ZmqMsg()
        let mutable more = true
        let mutable timedOut = false
        while more && not timedOut do
            ZmqNative.check "zmq_msg_init" (ZmqNative.zmq_msg_init &msg)
            let rc = ZmqNative.zmq_msg_recv (&msg, s, 0)
            if rc < 0 then
                let e, m = ZmqNative.lastError ()
                ZmqNative.zmq_msg_close &msg |> ignore
                // A timeout can only happen before the first frame: the rest of a message arrives with it.
                // A signal (EINTR, e.g. SIGCHLD when a child process exits) also ends the wait early.
                if (e = ZmqNative.EAGAIN || e = ZmqNative.EINTR) && frames.Count = 0 then timedOut <- true
                elif e = ZmqNative.EINTR then ()
                else raise (ZmqException("zmq_msg_recv", e, m))
            else
                let n = int (ZmqNative.zmq_msg_size &msg)
                // Not zeroed first: the copy overwrites every byte (a STEP reply's screens are 200 KB an env).
                let data = GC.AllocateUninitializedArray<byte> n
                if n > 0 then Marshal.Copy(ZmqNative.zmq_msg_data &msg, data, 0, n)
                more <- ZmqNative.zmq_msg_more &msg = 1
                ZmqNative.zmq_msg_close &msg |> ignore
                frames.Add data
        if timedOut then None else Some(List.ofSeq frames)

    /// Closes the socket now (zmq_close); safe to call twice.
    member _.Dispose() = handle.Dispose()

    interface IDisposable with
        member s.Dispose() = s.Dispose()
