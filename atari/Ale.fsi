namespace Dqn.Fun.Atari

/// <summary>
/// The few calls of the Arcade Learning Environment (Bellemare et al. 2013; Machado et al. 2018) that
/// the DQN episode logic needs, with the ALE set to <c>frame_skip = 1</c> so that one <c>Act</c> is one
/// emulator frame. Implemented by a bridge to the real ALE, or by a deterministic fake in tests.
/// </summary>
/// <remarks>Machado et al. 2018's sticky actions (<c>repeat_action_probability = 0.25</c>) live inside
/// the emulator, behind this interface.</remarks>
type IAle =
    /// <summary>The minimal action set: ALE action ids (<c>Action</c> enum values), in ALE order; agent
    /// action i is <c>MinimalActionSet[i]</c>. Index 0 is NOOP (id 0) in every game.</summary>
    abstract MinimalActionSet: int[]
    /// <summary>Emulates one frame with the ALE action id <c>action</c>; returns that frame's reward.</summary>
    abstract Act: action: int -> int
    /// <summary>Lives left (<c>ALEInterface::lives</c>; 0 in games without lives).</summary>
    abstract Lives: unit -> int
    /// <summary>Whether the game has ended (<c>ALEInterface::game_over</c>).</summary>
    abstract IsGameOver: unit -> bool
    /// <summary>Writes the current screen into <c>buffer</c>, [210; 160; 3] RGB bytes, row-major
    /// (<c>ALEInterface::getScreenRGB</c>).</summary>
    abstract GetScreenRgb: buffer: byte[] -> unit
    /// <summary>Restarts the game (<c>ALEInterface::reset_game</c>).</summary>
    abstract ResetGame: unit -> unit

/// <summary>ALE action ids used by the episode logic.</summary>
[<RequireQualifiedAccess>]
module AleAction =

    /// <summary>NOOP, ALE action id 0.</summary>
    [<CompiledName("Noop")>]
    val noop: int

    /// <summary>FIRE, ALE action id 1.</summary>
    [<CompiledName("Fire")>]
    val fire: int
