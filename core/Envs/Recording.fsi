namespace Dqn.Fun

open System

/// <summary>
/// Where the frames of recorded episodes go (an animated-GIF writer, say): one episode at a time, each
/// <c>BeginEpisode</c> followed by that episode's frames and one <c>EndEpisode</c>.
/// </summary>
type IVideoSink =
    /// <summary>An episode starts; returns whether its frames are wanted (<c>AddFrame</c> is called only then).</summary>
    /// <param name="width">Frame width in pixels.</param>
    /// <param name="height">Frame height in pixels.</param>
    /// <param name="framesPerSecond">The rate the frames were taken at, in frames per second of play.</param>
    abstract BeginEpisode: width: int * height: int * framesPerSecond: float -> bool
    /// <summary>One frame: RGB bytes, <c>[height; width; 3]</c>, row-major, row 0 at the top. The array is the
    /// caller's and is overwritten after the call returns: copy what you keep.</summary>
    abstract AddFrame: rgb: byte[] -> unit
    /// <summary>The episode begun last has ended (or was cut short: the next <c>BeginEpisode</c> follows).</summary>
    abstract EndEpisode: unit -> unit

/// <summary>
/// The episode bookkeeping a recording decorator keeps over an <see cref="T:Dqn.Fun.IVideoSink"/>: at most one
/// episode open, its frames passed on only when the sink wanted the episode, every begun episode ended exactly once.
/// Used by <see cref="T:Dqn.Fun.RecordingEnvironment"/> and the Atari <c>RecordingEmulator</c>.
/// </summary>
[<Sealed>]
type VideoEpisodes =
    /// <exception cref="T:System.ArgumentNullException">sink is null.</exception>
    new: sink: IVideoSink -> VideoEpisodes
    /// <summary>Ends the episode in progress (one cut short), then begins one of <c>width</c>×<c>height</c> frames
    /// at <c>framesPerSecond</c> in the sink.</summary>
    member Begin: width: int * height: int * framesPerSecond: float -> unit
    /// <summary>Whether the episode in progress is being recorded (the sink wanted it).</summary>
    member Recording: bool
    /// <summary>Passes an RGB frame (<c>[height; width; 3]</c> bytes) to the sink when the episode is recorded.</summary>
    member Add: rgb: byte[] -> unit
    /// <summary>Ends the episode in progress, if any: the sink gets its <c>EndEpisode</c>.</summary>
    member End: unit -> unit

/// <summary>How to picture an environment: its canvas, frame rate and a function drawing its current state.</summary>
type Renderer =
    {
      /// <summary>Frame width in pixels.</summary>
      Width: int
      /// <summary>Frame height in pixels.</summary>
      Height: int
      /// <summary>Frames per second of play: one frame an agent step.</summary>
      FramesPerSecond: float
      /// <summary>Draws the environment's current state into an RGB buffer of Width·Height·3 bytes.</summary>
      Draw: byte[] -> unit }

/// <summary>Renderers of the built-in environments.</summary>
[<RequireQualifiedAccess>]
module Renderer =

    /// <summary>
    /// The renderer of a built-in environment: <c>Render.cartPole</c> at 50 frames a second for
    /// <see cref="T:Dqn.Fun.CartPoleEnvironment"/> and <see cref="T:Dqn.Fun.MaskedCartPoleEnvironment"/> (from its
    /// full state), <c>Render.acrobot</c> at 15 for <see cref="T:Dqn.Fun.AcrobotEnvironment"/>,
    /// <c>Render.mountainCar</c> at 30 for <see cref="T:Dqn.Fun.MountainCarEnvironment"/>,
    /// <c>Render.gridWorld</c> at 4 for <see cref="T:Dqn.Fun.GridWorldEnvironment"/>; None for any other.
    /// </summary>
    /// <remarks>The renderer reads the environment's <c>State</c> (or <c>Cell</c>) when it draws: after a Reset.</remarks>
    [<CompiledName("TryOf")>]
    val tryOf: env: IEnvironment -> Renderer option

/// <summary>
/// An environment that records its episodes: every call goes to <c>inner</c> unchanged, so an agent acts exactly
/// as it would on <c>inner</c>; each <c>Reset</c> begins an episode in <c>sink</c>, and when the sink wants it, the
/// state after the reset and after every step is drawn by <c>renderer</c> and handed to the sink. A terminated or
/// truncated step ends the episode (Gymnasium's <c>RecordVideo</c>, as a decorator).
/// </summary>
/// <example>
/// <code lang="fsharp">
/// let cartPole = CartPoleEnvironment()
/// let env = RecordingEnvironment(cartPole, (Renderer.tryOf cartPole).Value, sink)
/// agent.Evaluate(env, 5)   // the same returns as agent.Evaluate(cartPole, 5); five episodes in sink
/// </code>
/// </example>
[<Sealed>]
type RecordingEnvironment =
    /// <exception cref="T:System.ArgumentNullException">inner, renderer's Draw or sink is null.</exception>
    new: inner: IEnvironment * renderer: Renderer * sink: IVideoSink -> RecordingEnvironment
    /// <summary>The environment recorded.</summary>
    member Inner: IEnvironment
    /// <summary>Ends the episode in progress, if any (one cut short): the sink gets its <c>EndEpisode</c>.</summary>
    member EndEpisode: unit -> unit
    interface IEnvironment
