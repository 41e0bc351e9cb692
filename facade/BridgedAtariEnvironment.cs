using System;
using Dqn.Fun.Atari;
using Microsoft.FSharp.Core;

namespace Dqn.Fun;

/// <summary>
/// An <see cref="AtariEnvironment"/> over the real Arcade Learning Environment, through a bridge server of its own
/// (python3 running atari/bridge/ale_bridge.py, which needs the <c>ale_py</c> package, or a server already running):
/// the C# face of <see cref="BridgedEmulator"/>. Make one for training and, under the Nature protocol, one for
/// evaluation; dispose them to close their servers. Not thread-safe.
/// </summary>
/// <example><code>
/// using var train = BridgedAtariEnvironment.Open("Pong", options);
/// using var eval = BridgedAtariEnvironment.Open("Pong", options, forEvaluation: true);
/// agent.Learn(train.Environment, 1_000_000, eval.Environment);
/// </code></example>
public sealed class BridgedAtariEnvironment : IDisposable
{
    /// <summary>What an evaluation environment adds to the options' seed (for its no-op starts and the ALE's sticky
    /// actions), so that evaluation games differ from training games; as dqnfun-bench atari.</summary>
    public const int EvaluationSeedOffset = 1_000;

    private readonly BridgedEmulator emulator;

    private BridgedAtariEnvironment(BridgedEmulator emulator, AtariEnvironment environment, string game)
    {
        this.emulator = emulator;
        Environment = environment;
        Game = game;
    }

    /// <summary>
    /// Launches a bridge server (or connects to <paramref name="endpoint"/>), creates one ALE environment of
    /// <paramref name="game"/> with the options' sticky actions (<see cref="AtariOptions.RepeatActionProbability"/>), and
    /// wraps it in an <see cref="AtariEnvironment"/> with the options' episode logic: training settings and the options'
    /// seed, or with <paramref name="forEvaluation"/> the evaluation settings (<see cref="AtariOptions.EvaluationSettings"/>)
    /// and the seed + <see cref="EvaluationSeedOffset"/>.
    /// </summary>
    /// <param name="game">A game name as users write it: "Pong", "SpaceInvaders", "space_invaders" (a ROM ale_py ships).</param>
    /// <param name="options">The run's settings.</param>
    /// <param name="forEvaluation">true for the environment of Nature evaluation games.</param>
    /// <param name="endpoint">tcp://HOST:PORT of a server already running (<c>python3 ale_bridge.py --endpoint
    /// tcp://127.0.0.1:5555</c>); null: launch one on a free loopback port.</param>
    /// <param name="bridgeOptions">The server to launch (e.g. <c>AleBridgeOptions.Default.WithPython("/usr/bin/python3")</c>),
    /// timeouts and shared screens; null: <see cref="AleBridgeOptions.Default"/> (python3, or $DQNFUN_PYTHON).</param>
    /// <returns>The environment; the caller disposes it.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="game"/> or <paramref name="options"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="game"/> is not a game name, or <paramref name="endpoint"/> is
    /// not tcp://HOST:PORT.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The options' seed is negative (the ALE takes seeds from 0).</exception>
    /// <exception cref="BridgeException">The server could not start, did not answer within the startup timeout, or
    /// refused the game (an unknown game, ale_py missing: the message carries the server's words).</exception>
    public static BridgedAtariEnvironment Open(
        string game,
        AtariOptions options,
        bool forEvaluation = false,
        string? endpoint = null,
        AleBridgeOptions? bridgeOptions = null)
    {
        Check.NotNull(game, nameof(game));
        Check.NotNull(options, nameof(options));
        var seed = options.Dqn.Seed + (forEvaluation ? EvaluationSeedOffset : 0);
        var emulator = BridgedEmulator.Open(
            game,
            seed,
            options.RepeatActionProbability,
            endpoint is null ? null : FSharpOption<string>.Some(endpoint),
            null,
            bridgeOptions is null ? null : FSharpOption<AleBridgeOptions>.Some(bridgeOptions));
        try
        {
            var settings = forEvaluation ? options.EvaluationSettings() : options.TrainingSettings();
            return new BridgedAtariEnvironment(emulator, new AtariEnvironment(emulator.Emulator, settings, seed), AtariScores.GameId(game));
        }
        catch
        {
            emulator.Dispose();
            throw;
        }
    }

    /// <summary>The environment to give <see cref="AtariDqnAgent.Learn(AtariEnvironment, long, AtariEnvironment?, IProgress{AtariProgress}?, System.Threading.CancellationToken, Func{Exception, bool}?, bool)"/> and <see cref="AtariDqnAgent.Evaluate"/>.</summary>
    public AtariEnvironment Environment { get; }

    /// <summary>The ALE game id (e.g. "space_invaders").</summary>
    public string Game { get; }

    /// <summary>The bridge: its <c>Server</c> names the ALE version (e.g. "ale_py 0.11.2"), <c>Endpoint</c> where the
    /// server listens.</summary>
    public AleBridge Bridge => emulator.Bridge;

    /// <summary>After <paramref name="error"/> from a failed server (it died, hung or garbled a reply: a
    /// <see cref="BridgeException"/> without a server error code), restarts the bridge and returns true: the
    /// environment is usable again from a fresh game (call <c>Learn</c> again, or <see cref="AtariEnvironment.Reset()"/>).
    /// Returns false, restarting nothing, for any other error.</summary>
    /// <param name="error">The exception <c>Learn</c> or the environment raised.</param>
    /// <exception cref="ArgumentNullException"><paramref name="error"/> is null.</exception>
    /// <exception cref="BridgeException">The restart failed.</exception>
    public bool RestartAfter(Exception error) => emulator.RestartAfter(Check.NotNull(error, nameof(error)));

    /// <summary>Closes the bridge and the server it launched. Idempotent.</summary>
    public void Dispose() => emulator.Dispose();
}
