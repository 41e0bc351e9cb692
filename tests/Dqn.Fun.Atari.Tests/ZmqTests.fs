module Dqn.Fun.Atari.Tests.ZmqTests

open System
open System.Diagnostics
open System.IO
open Xunit
open Dqn.Fun.Atari

/// A fresh ipc:// endpoint in a private temp folder (deleted by Dispose).
type TempEndpoint() =
    let dir = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "dqnfun-zmq-" + Guid.NewGuid().ToString("N").Substring(0, 10)))
    member _.Endpoint = "ipc://" + Path.Combine(dir.FullName, "s.sock")
    member _.Dispose() = try dir.Delete true with _ -> ()
    interface IDisposable with
        member t.Dispose() = t.Dispose()

/// Receives one message, waiting up to 5 s across signal interruptions (other tests start and reap
/// child processes, whose SIGCHLD can end a single wait early).
let receive (s: ZmqSocket) =
    let sw = Stopwatch.StartNew()
    let mutable got = None
    while got.IsNone && sw.Elapsed < TimeSpan.FromSeconds 5.0 do
        got <- s.TryReceiveMultipart()
    match got with
    | Some m -> m
    | None -> failwith "no message within 5 s"

[<Fact>]
let ``libzmq 4 is loaded and reports its version`` () =
    let major, _, _ = ZmqContext.Version
    Assert.Equal(4, major)

[<Fact>]
let ``multipart binary messages cross an ipc socket byte for byte, both ways`` () =
    use ep = new TempEndpoint()
    use ctx = new ZmqContext()
    use server = new ZmqSocket(ctx, ZmqSocketKind.Reply)
    use client = new ZmqSocket(ctx, ZmqSocketKind.Request)
    server.ReceiveTimeout <- TimeSpan.FromSeconds 5.0
    client.ReceiveTimeout <- TimeSpan.FromSeconds 5.0
    server.Bind ep.Endpoint
    client.Connect ep.Endpoint
    let big = Array.init 300_000 (fun i -> byte (i * 7))
    client.SendMultipart [ [| 1uy; 2uy |]; [||]; big ]
    let got = receive server
    Assert.Equal(3, got.Length)
    Assert.Equal<byte[]>([| 1uy; 2uy |], got[0])
    Assert.Empty(got[1])
    Assert.Equal<byte[]>(big, got[2])
    server.SendMultipart [ [| 9uy |] ]
    Assert.Equal<byte[]>([| 9uy |], (receive client).Head)

[<Fact>]
let ``a tcp bind on 127.0.0.1 port * reports the port it chose`` () =
    use ctx = new ZmqContext()
    use s = new ZmqSocket(ctx, ZmqSocketKind.Reply)
    s.Bind "tcp://127.0.0.1:*"
    Assert.StartsWith("tcp://127.0.0.1:", s.LastEndpoint)
    Assert.True(Int32.Parse(s.LastEndpoint.Substring 16) > 0)

[<Fact>]
let ``a receive with no peer returns None once the receive timeout passes`` () =
    use ep = new TempEndpoint()
    use ctx = new ZmqContext()
    use client = new ZmqSocket(ctx, ZmqSocketKind.Request)
    client.Connect ep.Endpoint
    client.SendMultipart [ [| 1uy |] ] // queued: connect made a pipe before any peer exists
    client.ReceiveTimeout <- TimeSpan.FromMilliseconds 150.0
    let sw = Stopwatch.StartNew()
    let mutable waits = 0
    while sw.ElapsedMilliseconds < 140L do // a signal may end one wait early; the timeout ends the rest
        Assert.True((client.TryReceiveMultipart()).IsNone)
        waits <- waits + 1
    Assert.InRange(waits, 1, 5)

[<Fact>]
let ``a failing call raises ZmqException naming the operation and libzmq's message`` () =
    use ctx = new ZmqContext()
    use s = new ZmqSocket(ctx, ZmqSocketKind.Reply)
    let e = Assert.Throws<ZmqException>(fun () -> s.Bind "nonsense://x")
    Assert.Contains("zmq_bind(nonsense://x)", e.Message)
    Assert.Equal("zmq_bind(nonsense://x)", e.Operation)
    Assert.NotEqual(0, e.Errno)
    // REQ must alternate send and receive: a second receive before a send is EFSM.
    use r = new ZmqSocket(ctx, ZmqSocketKind.Request)
    let e2 = Assert.Throws<ZmqException>(fun () -> r.TryReceiveMultipart() |> ignore)
    Assert.Contains("zmq_msg_recv", e2.Message)

[<Fact>]
let ``a missing libzmq says to apt-get install libzmq5`` () =
    let e = Assert.Throws<DllNotFoundException>(fun () -> ZmqNative.load [ "libzmq-not-here.so.99" ])
    Assert.Contains("apt-get install libzmq5", e.Message)
    Assert.Contains("libzmq-not-here.so.99", e.Message)

[<Fact>]
let ``disposing sockets and contexts closes every native handle, in either order`` () =
    // Other tests run in parallel classes; count only what this test opens by waiting for equality.
    let ctx = new ZmqContext()
    let a = new ZmqSocket(ctx, ZmqSocketKind.Request)
    let b = new ZmqSocket(ctx, ZmqSocketKind.Reply)
    ctx.Dispose() // deferred: the sockets hold the context until they close
    Assert.False(a.IsDisposed)
    a.Dispose()
    b.Dispose()
    b.Dispose()
    Assert.True(a.IsDisposed && b.IsDisposed && ctx.IsDisposed)
    Assert.Throws<ObjectDisposedException>(fun () -> a.Connect "ipc:///tmp/x") |> ignore
