module Dqn.Fun.Atari.Tests.TransportTests

open System
open System.Diagnostics
open System.IO
open System.Net
open System.Net.Sockets
open System.Reflection
open Expecto
open Dqn.Fun.Atari
open Dqn.Fun.Tests

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

[<Tests>]
let tests =
    testList "Transport" [
        testCase "no code P/Invokes libzmq, and a round trip loads no native ZeroMQ" <| fun () ->
            let pinvokes =
                [ for t in typeof<AleBridge>.Assembly.GetTypes() do
                      for m in t.GetMethods(BindingFlags.Public ||| BindingFlags.NonPublic ||| BindingFlags.Static ||| BindingFlags.Instance ||| BindingFlags.DeclaredOnly) do
                          if m.Attributes.HasFlag MethodAttributes.PinvokeImpl then yield $"{t.FullName}.{m.Name}" ]
            Expect.isEmpty pinvokes "P/Invoke methods"
            use server = new TransportSocket(TransportKind.Reply)
            use client = new TransportSocket(TransportKind.Request)
            client.Connect(server.Bind "tcp://127.0.0.1:*")
            client.Send([ [| 1uy |] ], TimeSpan.FromSeconds 5.0)
            Expect.equal ((receive server).Head) [| 1uy |] "the message received"
            Expect.isFalse ((File.ReadAllText "/proc/self/maps").Contains "libzmq") "/proc/self/maps names libzmq"

        testCase "multipart binary messages cross a loopback tcp socket byte for byte, both ways" <| fun () ->
            use server = new TransportSocket(TransportKind.Reply)
            use client = new TransportSocket(TransportKind.Request)
            let endpoint = server.Bind "tcp://127.0.0.1:*"
            client.Connect endpoint
            let big = Array.init 300_000 (fun i -> byte (i * 7))
            client.Send([ [| 1uy; 2uy |]; [||]; big ], TimeSpan.FromSeconds 5.0)
            let got = receive server
            Expect.equal got.Length 3 "got.Length"
            Expect.equal (got[0]) [| 1uy; 2uy |] "got[0]"
            Expect.isEmpty (got[1]) "got[1]"
            Expect.equal (got[2]) big "got[2]"
            server.Send([ [| 9uy |] ], TimeSpan.FromSeconds 5.0)
            Expect.equal ((receive client).Head) [| 9uy |] "the reply received"

        testCase "a tcp bind on 127.0.0.1 port * reports the port it chose" <| fun () ->
            use s = new TransportSocket(TransportKind.Reply)
            let bound = s.Bind "tcp://127.0.0.1:*"
            Expect.equal s.LastEndpoint bound "s.LastEndpoint"
            Expect.stringStarts s.LastEndpoint "tcp://127.0.0.1:" "s.LastEndpoint"
            Expect.isTrue (Int32.Parse(s.LastEndpoint.Substring 16) > 0) "the port is above 0"

        testCase "a receive with no peer returns None once the receive timeout passes" <| fun () ->
            use client = new TransportSocket(TransportKind.Request)
            client.Connect(unusedEndpoint ())
            client.Send([ [| 1uy |] ], TimeSpan.FromSeconds 1.0) // queued: connect made a pipe before any peer exists
            let sw = Stopwatch.StartNew()
            let mutable waits = 0
            while sw.ElapsedMilliseconds < 140L do
                Expect.isTrue ((client.TryReceive(TimeSpan.FromMilliseconds 150.0)).IsNone) "TryReceive is None"
                waits <- waits + 1
            Expect.inRange waits 1 5 "waits"
            Expect.inRange sw.ElapsedMilliseconds 140L 5000L "sw.ElapsedMilliseconds"

        testCase "a failing call raises TransportException naming the operation and NetMQ's message" <| fun () ->
            use s = new TransportSocket(TransportKind.Reply)
            let endpoint = s.Bind "tcp://127.0.0.1:*"
            use again = new TransportSocket(TransportKind.Reply)
            let e = Expect.wantThrows<TransportException> (fun () -> again.Bind endpoint |> ignore) "a second bind of the endpoint"
            Expect.stringContains e.Message $"bind({endpoint})" "e.Message"
            Expect.equal e.Operation $"bind({endpoint})" "e.Operation"
            Expect.isTrue (e.InnerException :? NetMQ.NetMQException) $"e.InnerException is a NetMQException: {e.InnerException}"
            // REQ must alternate send and receive: a receive before any send breaks its state machine.
            use r = new TransportSocket(TransportKind.Request)
            let e2 = Expect.wantThrows<TransportException> (fun () -> r.TryReceive(TimeSpan.FromSeconds 1.0) |> ignore) "a receive before a send"
            Expect.stringContains e2.Message "receive" "e2.Message"

        testCase "endpoints are tcp://HOST:PORT; an ipc:// path is refused with the reason" <| fun () ->
            use s = new TransportSocket(TransportKind.Request)
            let ipc = Expect.wantThrows<ArgumentException> (fun () -> s.Connect "ipc:///tmp/ale.sock") "Connect ipc://"
            Expect.stringContains ipc.Message "not a Unix socket" "ipc.Message"
            Expect.stringContains ipc.Message "tcp://127.0.0.1:PORT" "ipc.Message"
            for bad in [ "nonsense://x"; "tcp://127.0.0.1"; "tcp://127.0.0.1:0"; "tcp://127.0.0.1:65536"; "tcp://:5555"; "tcp://127.0.0.1:*" ] do
                Expect.throwsT<ArgumentException> (fun () -> s.Connect bad) $"Connect {bad}"
            use b = new TransportSocket(TransportKind.Reply)
            Expect.throwsT<ArgumentException> (fun () -> b.Bind "nonsense://x" |> ignore) "Bind nonsense://x"
            Expect.equal (Endpoint.tryParse true "tcp://127.0.0.1:*") (Ok("127.0.0.1", 0)) "Endpoint.tryParse true \"tcp://127.0.0.1:*\""
            Expect.equal (Endpoint.tryParse false "tcp://localhost:5555") (Ok("localhost", 5555)) "Endpoint.tryParse false \"tcp://localhost:5555\""
            Expect.isTrue (Endpoint.isLoopback "tcp://127.0.0.1:5555" && Endpoint.isLoopback "tcp://[::1]:5555") "loopback endpoints"
            Expect.isFalse (Endpoint.isLoopback "tcp://10.0.0.2:5555" || Endpoint.isLoopback "ipc:///tmp/ale.sock") "endpoints that are not loopback"

        testCase "disposing a socket closes it; twice is fine; a disposed socket refuses calls" <| fun () ->
            let a = new TransportSocket(TransportKind.Request)
            let b = new TransportSocket(TransportKind.Reply)
            Expect.isFalse a.IsDisposed "a.IsDisposed before Dispose"
            a.Dispose()
            b.Dispose()
            b.Dispose()
            Expect.isTrue (a.IsDisposed && b.IsDisposed) "a.IsDisposed && b.IsDisposed"
            Expect.throwsT<ObjectDisposedException> (fun () -> a.Connect "tcp://127.0.0.1:5555") "Connect on a disposed socket"
            Expect.throwsT<ObjectDisposedException> (fun () -> a.TryReceive TimeSpan.Zero |> ignore) "TryReceive on a disposed socket"

        testCase "PreferInlineSocketCompletions sets DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1 once and keeps a value the environment gives" <| fun () ->
            let name = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS"
            Expect.equal SocketCompletions.Variable name "SocketCompletions.Variable"
            let before = Environment.GetEnvironmentVariable name
            try
                Environment.SetEnvironmentVariable(name, "0")
                Expect.isFalse (AleBridge.PreferInlineSocketCompletions()) "PreferInlineSocketCompletions with 0 set"
                Expect.equal (Environment.GetEnvironmentVariable name) "0" "the variable after it"
                Environment.SetEnvironmentVariable(name, null)
                Expect.isTrue (AleBridge.PreferInlineSocketCompletions()) "PreferInlineSocketCompletions with nothing set"
                Expect.equal (Environment.GetEnvironmentVariable name) "1" "the variable after it"
                Expect.isFalse (AleBridge.PreferInlineSocketCompletions()) "PreferInlineSocketCompletions a second time"
            finally
                Environment.SetEnvironmentVariable(name, before)

        testCase "SetIoThreads sets NetMQ's I/O thread count and refuses a count below 1, naming it" <| fun () ->
            let before = NetMQ.NetMQConfig.ThreadPoolSize
            try
                AleBridge.SetIoThreads(before + 1)
                Expect.equal NetMQ.NetMQConfig.ThreadPoolSize (before + 1) "ThreadPoolSize after setting it"
                AleBridge.SetIoThreads before
                let e = Expect.wantThrows<ArgumentOutOfRangeException> (fun () -> AleBridge.SetIoThreads 0) "SetIoThreads 0"
                Expect.equal e.ParamName "count" "ParamName"
                Expect.equal NetMQ.NetMQConfig.ThreadPoolSize before "ThreadPoolSize after the refused count"
            finally
                NetMQ.NetMQConfig.ThreadPoolSize <- before

        testCase "a wait below a millisecond still ends (NetMQ would truncate it to 0 and never time out)" <| fun () ->
            use client = new TransportSocket(TransportKind.Request)
            // no peer at all: a REQ socket that never connected cannot take a message
            let sw = Stopwatch.StartNew()
            Expect.isFalse (client.TrySend([ [| 1uy |] ], TimeSpan.FromTicks 5_000L)) "TrySend for 0.5 ms" // 0.5 ms
            Expect.isTrue (sw.Elapsed < TimeSpan.FromSeconds 5.0) "the send ended within 5 s"
            client.Connect(unusedEndpoint ())
            client.Send([ [| 1uy |] ], TimeSpan.FromSeconds 1.0)
            sw.Restart()
            Expect.isTrue ((client.TryReceive(TimeSpan.FromTicks 5_000L)).IsNone) "TryReceive for 0.5 ms is None"
            Expect.isTrue (sw.Elapsed < TimeSpan.FromSeconds 5.0) "the receive ended within 5 s"
            Expect.throwsT<ArgumentOutOfRangeException> (fun () -> client.TryReceive(TimeSpan.FromSeconds -1.0) |> ignore) "TryReceive for -1 s"
    ]
