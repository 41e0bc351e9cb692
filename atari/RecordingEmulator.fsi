namespace Dqn.Fun.Atari

open Dqn.Fun

/// <summary>
/// An emulator that records whole games from the raw screens: every call goes to <c>inner</c> unchanged (the
/// agent's environment sees exactly what it would see without it), and the RGB screens <c>inner</c> writes
/// are copied to <c>sink</c> as 160×210 frames: the screen after each <c>ResetGame</c>, then the last raw screen
/// of each <c>Repeat</c> (one frame an agent step; a no-op start of several frames is one call, so one frame).
/// A game begins at <c>ResetGame</c> and ends at the <c>Repeat</c> that reports game over, at the next
/// <c>ResetGame</c> (a game cut by a time limit), or at <c>EndEpisode</c>.
/// </summary>
/// <remarks>
/// The frames are the screens the agent's preprocessing starts from, before max-pooling the last two: the video
/// shows what a person sees at 60 Hz / frame skip. No bridge protocol is involved: the screens are those the
/// emulator writes for <see cref="T:Dqn.Fun.Atari.AtariEnvironment"/> anyway. Games are the emulator's: one that
/// ends among the no-op frames of a reset (no real game does; the tests' fake ALE does) is a game of its own.
/// </remarks>
/// <example>
/// <code lang="fsharp">
/// let recorder = RecordingEmulator(bridged.Emulator, sink, 60.0 / 4.0)
/// let env = AtariEnvironment(recorder, settings, seed)
/// agent.Evaluate(env, 30) |> ignore   // the scores of the unrecorded run
/// recorder.EndEpisode()               // a last game cut by the time limit goes to the sink too
/// </code>
/// </example>
[<Sealed>]
type RecordingEmulator =
    /// <param name="inner">The emulator played.</param>
    /// <param name="sink">Where recorded games go.</param>
    /// <param name="framesPerSecond">The frame rate to report: 60 / FrameSkip (15 at the usual skip of 4).</param>
    /// <exception cref="T:System.ArgumentNullException">inner or sink is null.</exception>
    /// <exception cref="T:System.ArgumentOutOfRangeException">framesPerSecond is not positive.</exception>
    new: inner: IAtariEmulator * sink: IVideoSink * framesPerSecond: float -> RecordingEmulator
    /// <summary>Ends the game in progress, if any: the sink gets its <c>EndEpisode</c>.</summary>
    member EndEpisode: unit -> unit
    interface IAtariEmulator
