module Dqn.Fun.Atari.Tests.TransportTests

open System
open System.Diagnostics
open System.IO
open System.Net
open System.Net.Sockets
open System.Reflection
open Xunit
open Dqn.Fun.Atari

/// Receives one message, waiting up to 5 s.
let internal receive (s: TransportSocket) =
    match s.TryReceive(TimeSpan.FromSeconds 5.0) with
    | Some m -> m
    | None -> failwith "no message within 5 s"

/// A loopback endpoint nobody listens on (a port the OS handed out, then released).
let unusedEndpoint () =
    let l = new TcpListener(IPAddress.Loopback, 0)
    l.Start()
    let port = (l.LocalEndpoint :?> IPEndPoint).Port
    l.Stop()
    $"tcp://127.0.0.1:{port}"

[<Fact>]
let ``no code P/Invokes libzmq, and a round trip loads no native ZeroMQ`` () =
    let pinvokes =
        [ for t in typeof<AleBridge>.Assembly.GetTypes() do
              for m in t.GetMethods(BindingFlags.Public ||| BindingFlags.NonPublic ||| BindingFlags.Static ||| BindingFlags.Instance ||| BindingFlags.DeclaredOnly) do
                  if m.Attributes.HasFlag MethodAttributes.PinvokeImpl then yield $"{t.FullName}.{m.Name}" ]
    Assert.Empty pinvokes
    use server = new TransportSocket(TransportKind.Reply)
    use client = new TransportSocket(TransportKind.Request)
    client.Connect(server.Bind "tcp://127.0.0.1:*")
    client.Send([ [| 1uy |] ], TimeSpan.FromSeconds 5.0)
    Assert.Equal<byte[]>([| 1uy |], (receive server).Head)
    Assert.DoesNotContain("libzmq", File.ReadAllText "/proc/self/maps")

[<Fact>]
let ``multipart binary messages cross a loopback tcp socket byte for byte, both ways`` () =
    use server = new TransportSocket(TransportKind.Reply)
    use client = new TransportSocket(TransportKind.Request)
    let endpoint = server.Bind "tcp://127.0.0.1:*"
    client.Connect endpoint
    let big = Array.init 300_000 (fun i -> byte (i * 7))
    client.Send([ [| 1uy; 2uy |]; [||]; big ], TimeSpan.FromSeconds 5.0)
    let got = receive server
    Assert.Equal(3, got.Length)
    Assert.Equal<byte[]>([| 1uy; 2uy |], got[0])
    Assert.Empty(got[1])
    Assert.Equal<byte[]>(big, got[2])
    server.Send([ [| 9uy |] ], TimeSpan.FromSeconds 5.0)
    Assert.Equal<byte[]>([| 9uy |], (receive client).Head)

[<Fact>]
let ``a tcp bind on 127.0.0.1 port * reports the port it chose`` () =
    use s = new TransportSocket(TransportKind.Reply)
    let bound = s.Bind "tcp://127.0.0.1:*"
    Assert.Equal(bound, s.LastEndpoint)
    Assert.StartsWith("tcp://127.0.0.1:", s.LastEndpoint)
    Assert.True(Int32.Parse(s.LastEndpoint.Substring 16) > 0)

[<Fact>]
let ``a receive with no peer returns None once the receive timeout passes`` () =
    use client = new TransportSocket(TransportKind.Request)
    client.Connect(unusedEndpoint ())
    client.Send([ [| 1uy |] ], TimeSpan.FromSeconds 1.0) // queued: connect made a pipe before any peer exists
    let sw = Stopwatch.StartNew()
    let mutable waits = 0
    while sw.ElapsedMilliseconds < 140L do
        Assert.True((client.TryReceive(TimeSpan.FromMilliseconds 150.0)).IsNone)
        waits <- waits + 1
    Assert.InRange(waits, 1, 5)
    Assert.InRange(sw.ElapsedMilliseconds, 140L, 5000L)

[<Fact>]
let ``a failing call raises TransportException naming the operation and NetMQ's message`` () =
    use s = new TransportSocket(TransportKind.Reply)
    let endpoint = s.Bind "tcp://127.0.0.1:*"
    use again = new TransportSocket(TransportKind.Reply)
    let e = Assert.Throws<TransportException>(fun () -> again.Bind endpoint |> ignore)
    Assert.Contains($"bind({endpoint})", e.Message)
    Assert.Equal($"bind({endpoint})", e.Operation)
    Assert.IsAssignableFrom<NetMQ.NetMQException>(e.InnerException) |> ignore
    // REQ must alternate send and receive: a receive before any send breaks its state machine.
    use r = new TransportSocket(TransportKind.Request)
    let e2 = Assert.Throws<TransportException>(fun () -> r.TryReceive(TimeSpan.FromSeconds 1.0) |> ignore)
    Assert.Contains("receive", e2.Message)

[<Fact>]
let ``endpoints are tcp://HOST:PORT; an ipc:// path is refused with the reason`` () =
    use s = new TransportSocket(TransportKind.Request)
    let ipc = Assert.Throws<ArgumentException>(fun () -> s.Connect "ipc:///tmp/ale.sock")
    Assert.Contains("not a Unix socket", ipc.Message)
    Assert.Contains("tcp://127.0.0.1:PORT", ipc.Message)
    for bad in [ "nonsense://x"; "tcp://127.0.0.1"; "tcp://127.0.0.1:0"; "tcp://127.0.0.1:65536"; "tcp://:5555"; "tcp://127.0.0.1:*" ] do
        Assert.Throws<ArgumentException>(fun () -> s.Connect bad) |> ignore
    use b = new TransportSocket(TransportKind.Reply)
    Assert.Throws<ArgumentException>(fun () -> b.Bind "nonsense://x" |> ignore) |> ignore
    Assert.Equal(Ok("127.0.0.1", 0), Endpoint.tryParse true "tcp://127.0.0.1:*")
    Assert.Equal(Ok("localhost", 5555), Endpoint.tryParse false "tcp://localhost:5555")
    Assert.True(Endpoint.isLoopback "tcp://127.0.0.1:5555" && Endpoint.isLoopback "tcp://[::1]:5555")
    Assert.False(Endpoint.isLoopback "tcp://10.0.0.2:5555" || Endpoint.isLoopback "ipc:///tmp/ale.sock")

[<Fact>]
let ``disposing a socket closes it; twice is fine; a disposed socket refuses calls`` () =
    let a = new TransportSocket(TransportKind.Request)
    let b = new TransportSocket(TransportKind.Reply)
    Assert.False(a.IsDisposed)
    a.Dispose()
    b.Dispose()
    b.Dispose()
    Assert.True(a.IsDisposed && b.IsDisposed)
    Assert.Throws<ObjectDisposedException>(fun () -> a.Connect "tcp://127.0.0.1:5555") |> ignore
    Assert.Throws<ObjectDisposedException>(fun () -> a.TryReceive TimeSpan.Zero |> ignore) |> ignore

[<Fact>]
let ``PreferInlineSocketCompletions sets DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1 once and keeps a value the environment gives`` () =
    let name = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS"
    Assert.Equal(name, SocketCompletions.Variable)
    let before = Environment.GetEnvironmentVariable name
    try
        Environment.SetEnvironmentVariable(name, "0")
        Assert.False(AleBridge.PreferInlineSocketCompletions())
        Assert.Equal("0", Environment.GetEnvironmentVariable name)
        Environment.SetEnvironmentVariable(name, null)
        Assert.True(AleBridge.PreferInlineSocketCompletions())
        Assert.Equal("1", Environment.GetEnvironmentVariable name)
        Assert.False(AleBridge.PreferInlineSocketCompletions())
    finally
        Environment.SetEnvironmentVariable(name, before)

[<Fact>]
let ``a wait below a millisecond still ends (NetMQ would truncate it to 0 and never time out)`` () =
    use client = new TransportSocket(TransportKind.Request)
    // no peer at all: a REQ socket that never connected cannot take a message
    let sw = Stopwatch.StartNew()
    Assert.False(client.TrySend([ [| 1uy |] ], TimeSpan.FromTicks 5_000L)) // 0.5 ms
    Assert.True(sw.Elapsed < TimeSpan.FromSeconds 5.0)
    client.Connect(unusedEndpoint ())
    client.Send([ [| 1uy |] ], TimeSpan.FromSeconds 1.0)
    sw.Restart()
    Assert.True((client.TryReceive(TimeSpan.FromTicks 5_000L)).IsNone)
    Assert.True(sw.Elapsed < TimeSpan.FromSeconds 5.0)
    Assert.Throws<ArgumentOutOfRangeException>(fun () -> client.TryReceive(TimeSpan.FromSeconds -1.0) |> ignore) |> ignore
