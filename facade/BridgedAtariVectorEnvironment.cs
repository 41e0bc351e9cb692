using System;
using Dqn.Fun.Atari;
using Microsoft.FSharp.Core;

namespace Dqn.Fun;

/// <summary>
/// An <see cref="AtariVectorEnvironment"/> of N ALE environments over bridge servers of its own, stepped together (one
/// STEP per server per round, the servers in parallel): the C# face of <see cref="BridgedVectorEmulator"/>. Give
/// <see cref="Environment"/> to <see cref="AtariDqnAgent.Learn(AtariVectorEnvironment, long, AtariEnvironment?, IProgress{AtariProgress}?, System.Threading.CancellationToken, Func{Exception, bool}?, bool)"/>;
/// dispose it to close the servers. Not thread-safe.
/// </summary>
/// <example><code>
/// using var train = BridgedAtariVectorEnvironment.Launch("Breakout", options, numEnvs: 8, servers: 2);
/// agent.Learn(train.Environment, 1_000_000);
/// </code></example>
public sealed class BridgedAtariVectorEnvironment : IDisposable
{
    private readonly BridgedVectorEmulator emulator;

    private BridgedAtariVectorEnvironment(BridgedVectorEmulator emulator, AtariVectorEnvironment environment, string game)
    {
        this.emulator = emulator;
        Environment = environment;
        Game = game;
    }

    /// <summary>
    /// Launches <paramref name="servers"/> bridge servers, creates <paramref name="numEnvs"/> ALE environments of
    /// <paramref name="game"/> split over them in contiguous blocks (env i seeded with the options' seed + i, the options'
    /// sticky actions), and wraps them in an <see cref="AtariVectorEnvironment"/> with the options' training settings.
    /// </summary>
    /// <param name="game">A game name as users write it: "Pong", "SpaceInvaders", "space_invaders".</param>
    /// <param name="options">The run's settings.</param>
    /// <param name="numEnvs">Environments, at least 1.</param>
    /// <param name="servers">Servers, 1 .. <paramref name="numEnvs"/>; 0: min(numEnvs, processor count).</param>
    /// <param name="bridgeOptions">The servers to launch, timeouts and shared screens; null:
    /// <see cref="AleBridgeOptions.Default"/>.</param>
    /// <returns>The vector environment; the caller disposes it.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="game"/> or <paramref name="options"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="numEnvs"/> below 1, <paramref name="servers"/>
    /// outside 0 .. numEnvs, or a negative seed.</exception>
    /// <exception cref="BridgeException">A server could not start or refused the game.</exception>
    public static BridgedAtariVectorEnvironment Launch(
        string game,
        AtariOptions options,
        int numEnvs,
        int servers = 0,
        AleBridgeOptions? bridgeOptions = null)
    {
        Check.NotNull(game, nameof(game));
        Check.NotNull(options, nameof(options));
        Check.Positive(numEnvs, nameof(numEnvs));
        if (servers < 0 || servers > numEnvs)
            throw new ArgumentOutOfRangeException(nameof(servers), servers, $"servers must be in 0 .. numEnvs = {numEnvs} (0: one per core)");
        if (servers == 0) servers = Math.Min(numEnvs, System.Environment.ProcessorCount);
        var seed = options.Dqn.Seed;
        var emulator = BridgedVectorEmulator.Launch(
            game,
            numEnvs,
            servers,
            seed,
            options.RepeatActionProbability,
            null,
            bridgeOptions is null ? null : FSharpOption<AleBridgeOptions>.Some(bridgeOptions));
        try
        {
            return new BridgedAtariVectorEnvironment(emulator, new AtariVectorEnvironment(emulator, options.TrainingSettings(), seed), AtariScores.GameId(game));
        }
        catch
        {
            emulator.Dispose();
            throw;
        }
    }

    /// <summary>The vector environment to give <c>AtariDqnAgent.Learn</c>.</summary>
    public AtariVectorEnvironment Environment { get; }

    /// <summary>The ALE game id (e.g. "space_invaders").</summary>
    public string Game { get; }

    /// <summary>The bridges, one per server.</summary>
    public AleBridge[] Bridges => emulator.Bridges;

    /// <summary>After <paramref name="error"/> from a failed server, restarts every server and returns true (every env
    /// then starts a fresh game); false, restarting nothing, for any other error.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="error"/> is null.</exception>
    public bool RestartAfter(Exception error) => emulator.RestartAfter(Check.NotNull(error, nameof(error)));

    /// <summary>Closes the bridges and the servers they launched. Idempotent.</summary>
    public void Dispose() => emulator.Dispose();
}
