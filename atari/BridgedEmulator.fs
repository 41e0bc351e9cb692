namespace Dqn.Fun.Atari

open System
open System.IO
open System.Threading.Tasks

/// <summary>
/// One emulator on a bridge of its own: a bridge server launched (or joined at an endpoint), one environment
/// created in it for a game, and the <see cref="T:Dqn.Fun.Atari.AleBridgeEmulator"/> over it. A STEP moves every
/// environment a server hosts, so each <see cref="T:Dqn.Fun.Atari.AtariEnvironment"/> (training, evaluation) gets
/// its own. Disposing it closes the bridge and the server it launched. Not thread-safe.
/// </summary>
/// <remarks>The environment is created with the ALE's own frame limit off (<c>MaxFramesPerEpisode</c> 0):
/// <see cref="T:Dqn.Fun.Atari.AtariEnvironment"/> truncates episodes itself (<c>AtariSettings.MaxEpisodeFrames</c>).</remarks>
[<Sealed>]
type BridgedEmulator private (bridge: AleBridge, emulator: AleBridgeEmulator) =

    /// <summary>Launches a bridge server (<c>options.Server</c>, default <c>AleServerLaunch.Python()</c>: python3
    /// running atari/bridge/ale_bridge.py, which needs ale_py), or connects to one already running at
    /// <c>endpoint</c>, and creates one environment of <c>game</c>.</summary>
    /// <param name="game">A game name in any spelling <c>AtariScores.gameId</c> accepts ("Pong", "SpaceInvaders",
    /// "space_invaders"), or, with <c>romIsPath</c>, the path of a ROM file.</param>
    /// <param name="seed">The ALE's <c>random_seed</c> (sticky actions), 0 .. Int32.MaxValue.</param>
    /// <param name="repeatActionProbability">Sticky actions: the probability, per emulator frame, that the ALE
    /// repeats the previous action, in [0, 1].</param>
    /// <param name="endpoint">tcp://HOST:PORT of a running server; None, null or "auto": launch one.</param>
    /// <param name="romIsPath">true when <c>game</c> is a ROM file path.</param>
    /// <param name="options">Timeouts, the server to launch and shared screens (default
    /// <c>AleBridgeOptions.Default</c>).</param>
    /// <exception cref="T:System.ArgumentException">The game name is empty or malformed, the endpoint is not
    /// tcp://HOST:PORT.</exception>
    /// <exception cref="T:System.ArgumentOutOfRangeException">seed is negative, or repeatActionProbability is
    /// outside [0, 1].</exception>
    /// <exception cref="T:Dqn.Fun.Atari.BridgeException">The server could not start, did not answer, or refused
    /// the game (unknown game, ROM not found, ale_py missing: the message carries the server's words).</exception>
    static member Open
        (
            game: string,
            seed: int,
            repeatActionProbability: float,
            ?endpoint: string,
            ?romIsPath: bool,
            ?options: AleBridgeOptions
        ) =
        let spec = BridgedEmulator.Spec(game, seed, repeatActionProbability, defaultArg romIsPath false)
        let options = defaultArg options AleBridgeOptions.Default
        let bridge =
            match endpoint with
            | None
            | Some null
            | Some "auto" -> AleBridge.Launch options
            | Some e -> AleBridge.Connect(e, options)
        try
            bridge.Create [| spec |] |> ignore
            new BridgedEmulator(bridge, AleBridgeEmulator bridge)
        with _ ->
            bridge.Dispose()
            reraise ()

    /// The spec of an env of `game` (a name, or a ROM path when romIsPath) with the ALE's frame limit off; checks the seed and the probability.
    static member internal Spec(game: string, seed: int, repeatActionProbability: float, romIsPath: bool) =
        Arg.nonNegative "seed" seed
        if not (repeatActionProbability >= 0.0 && repeatActionProbability <= 1.0) then
            Arg.outOfRange "repeatActionProbability" repeatActionProbability "in [0, 1]"
        let spec =
            if romIsPath then
                if String.IsNullOrWhiteSpace game then invalidArg "game" "give the path of a ROM file"
                { AleEnvSpec.OfGame(Path.GetFullPath game, seed) with GameIsRomPath = true }
            else AleEnvSpec.OfGame(AtariScores.gameId game, seed)
        spec.WithRepeatActionProbability(float32 repeatActionProbability).WithMaxFramesPerEpisode(0)

    /// <summary>The bridge (its <c>Server</c> names the ALE version, <c>Endpoint</c> where it listens).</summary>
    member _.Bridge = bridge

    /// <summary>The emulator to build an <see cref="T:Dqn.Fun.Atari.AtariEnvironment"/> over.</summary>
    member _.Emulator = emulator

    /// <summary>After a failure of the server (it died, hung or garbled a reply: a
    /// <see cref="T:Dqn.Fun.Atari.BridgeException"/> without <c>ServerError</c>), restarts the bridge and returns
    /// true; returns false for any other error (a refusal, or not a bridge error). Fits <c>AtariAgent.Learn</c>'s
    /// <c>recover</c>: the environment then starts a fresh episode.</summary>
    member _.RestartAfter(error: exn) =
        match error with
        | :? BridgeException as e when not e.ServerError.HasValue ->
            bridge.Restart() |> ignore
            true
        | _ -> false

    /// <summary>Closes the bridge (and the server it launched).</summary>
    member _.Dispose() = bridge.Dispose()

    interface IDisposable with
        member b.Dispose() = b.Dispose()

/// <summary>
/// <c>NumEnvs</c> emulators of one game on <c>servers</c> bridge servers of its own (the envs split into contiguous
/// blocks as evenly as may be, env i seeded with <c>seed + i</c>): the <see cref="T:Dqn.Fun.Atari.IAtariVectorEmulator"/>
/// under an <see cref="T:Dqn.Fun.Atari.AtariVectorEnvironment"/>. A <c>Run</c> is one STEP per server carrying
/// every env's op (PROTOCOL.md version 3), the servers stepped in parallel (one on the calling thread, the others
/// on thread-pool threads); a server whose envs all idle is not asked. Disposing it closes the bridges and their
/// servers. Not thread-safe.
/// </summary>
/// <remarks>Envs are created with the ALE's own frame limit off, as <see cref="T:Dqn.Fun.Atari.BridgedEmulator"/>'s.
/// One server per core is the layout that scales (each server process emulates on one core); more envs per server
/// share its round trip.</remarks>
[<Sealed>]
type BridgedVectorEmulator private (bridges: AleBridge[], counts: int[]) =
    let n = Array.sum counts
    let offsets = Array.scan (+) 0 counts
    let actions = Array.copy bridges[0].Envs[0].Actions
    // ALE action id -> index in the action set (-1: not in it).
    let indexOf =
        let t = Array.create 256 -1
        actions |> Array.iteri (fun i a -> if a >= 0 && a < t.Length then t[a] <- i)
        t
    let stepOps = counts |> Array.map (fun k -> Array.zeroCreate<AleStepOp> k)
    let mutable disposed = false

    let runBridge (b: int) (ops: EmulatorOp[]) (results: EmulatorResult[]) (secondLast: byte[][]) (last: byte[][]) =
        let o = offsets[b]
        let sops = stepOps[b]
        let mutable touched = false
        for j in 0 .. sops.Length - 1 do
            let op = ops[o + j]
            if op.Reset || op.Frames > 0 then
                touched <- true
                let index = if op.Action >= 0 && op.Action < indexOf.Length then indexOf[op.Action] else -1
                if index < 0 then
                    Arg.outOfRange $"ops[{o + j}].Action" op.Action $"""an ALE action id of the action set [{String.Join(", ", actions)}]"""
                sops[j] <- { Action = index; Repeat = op.Frames; Reset = op.Reset }
            else sops[j] <- AleStepOp.Idle
        if touched then
            let records = bridges[b].StepRecords sops
            for j in 0 .. sops.Length - 1 do
                let op = ops[o + j]
                if op.Reset || op.Frames > 0 then
                    let s = records[j]
                    results[o + j] <-
                        { RewardSum = s.Reward
                          Frames = s.Frames
                          GameOver = s.GameOver || s.Truncated || (op.Frames > 0 && s.Frames = 0)
                          Lives = s.Lives }
                    bridges[b].ReadScreens(j, Span secondLast[o + j], Span last[o + j])

    /// <summary>Launches <c>servers</c> bridge servers (<c>options.Server</c>, default python3 running
    /// ale_bridge.py) and creates <c>numEnvs</c> environments of <c>game</c> over them.</summary>
    /// <param name="game">A game name in any spelling <c>AtariScores.gameId</c> accepts, or with <c>romIsPath</c>
    /// the path of a ROM file.</param>
    /// <param name="numEnvs">Environments, 1 .. 256 × servers.</param>
    /// <param name="servers">Bridge server processes, 1 .. numEnvs (one per core scales best).</param>
    /// <param name="seed">The ALE <c>random_seed</c> of env 0 (env i gets seed + i), non-negative.</param>
    /// <param name="repeatActionProbability">Sticky actions, in [0, 1] (0.25 in Machado et al. 2018).</param>
    /// <exception cref="T:System.ArgumentOutOfRangeException">A count, the seed or the probability is out of range
    /// (the message names it).</exception>
    /// <exception cref="T:Dqn.Fun.Atari.BridgeException">A server could not start or refused the game.</exception>
    static member Launch
        (
            game: string,
            numEnvs: int,
            servers: int,
            seed: int,
            repeatActionProbability: float,
            ?romIsPath: bool,
            ?options: AleBridgeOptions
        ) =
        Arg.positive "numEnvs" numEnvs
        Arg.positive "servers" servers
        if servers > numEnvs then Arg.outOfRange "servers" servers $"at most numEnvs = {numEnvs}"
        if numEnvs > servers * Protocol.MaxEnvs then Arg.outOfRange "numEnvs" numEnvs $"at most {Protocol.MaxEnvs} per server ({servers * Protocol.MaxEnvs})"
        let spec = BridgedEmulator.Spec(game, seed, repeatActionProbability, defaultArg romIsPath false)
        let options = defaultArg options AleBridgeOptions.Default
        let counts = Array.init servers (fun j -> numEnvs / servers + (if j < numEnvs % servers then 1 else 0))
        let offsets = Array.scan (+) 0 counts
        let bridges = ResizeArray<AleBridge>()
        try
            for j in 0 .. servers - 1 do
                let b = AleBridge.Launch options
                bridges.Add b
                b.Create [| for i in offsets[j] .. offsets[j + 1] - 1 -> { spec with Seed = seed + i } |] |> ignore
            new BridgedVectorEmulator(bridges.ToArray(), counts)
        with _ ->
            for b in bridges do b.Dispose()
            reraise ()

    /// <summary>The bridges, one per server; env i is on the bridge whose block holds it.</summary>
    member _.Bridges = Array.copy bridges
    /// <summary>Envs per server.</summary>
    member _.EnvsPerServer = Array.copy counts

    /// <summary>After a failure of a server (a <see cref="T:Dqn.Fun.Atari.BridgeException"/> without
    /// <c>ServerError</c>), restarts every bridge and returns true (the vector environment then needs a
    /// <c>Reset</c>); false for any other error.</summary>
    member _.RestartAfter(error: exn) =
        let rec bridgeError (e: exn) =
            match e with
            | :? BridgeException as b -> not b.ServerError.HasValue
            | :? AggregateException as a -> a.InnerExceptions |> Seq.exists bridgeError
            | _ -> false
        if bridgeError error then
            for b in bridges do b.Restart() |> ignore
            true
        else false

    /// <summary>Closes every bridge and the server it launched; later Runs raise ObjectDisposedException.</summary>
    member _.Dispose() =
        if not disposed then
            disposed <- true
            for b in bridges do b.Dispose()

    interface IAtariVectorEmulator with
        member _.NumEnvs = n
        member _.MinimalActionSet = Array.copy actions
        member _.MaxFrames = Protocol.MaxRepeat
        member _.Run(ops, results, secondLast, last) =
            if disposed then raise (ObjectDisposedException("BridgedVectorEmulator"))
            if bridges.Length = 1 then runBridge 0 ops results secondLast last
            else
                let others = Array.init (bridges.Length - 1) (fun b -> Task.Run(fun () -> runBridge (b + 1) ops results secondLast last))
                let mutable failure: exn = null
                try runBridge 0 ops results secondLast last
                with e -> failure <- e
                for t in others do
                    try t.Wait()
                    with :? AggregateException as e -> if isNull failure then failure <- e.InnerException
                if not (isNull failure) then Runtime.ExceptionServices.ExceptionDispatchInfo.Throw failure

    interface IDisposable with
        member e.Dispose() = e.Dispose()
