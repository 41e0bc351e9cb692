namespace Dqn.Fun.Atari

open System
open System.IO

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
        Arg.nonNegative "seed" seed
        if not (repeatActionProbability >= 0.0 && repeatActionProbability <= 1.0) then
            Arg.outOfRange "repeatActionProbability" repeatActionProbability "in [0, 1]"
        let spec =
            match defaultArg romIsPath false with
            | true ->
                if String.IsNullOrWhiteSpace game then invalidArg "game" "give the path of a ROM file"
                { AleEnvSpec.OfGame(Path.GetFullPath game, seed) with GameIsRomPath = true }
            | false -> AleEnvSpec.OfGame(AtariScores.gameId game, seed)
        let spec = spec.WithRepeatActionProbability(float32 repeatActionProbability).WithMaxFramesPerEpisode(0)
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
