namespace Dqn.Fun.Atari

/// <summary>How a <see cref="T:Dqn.Fun.Atari.FrameStack"/> fills the slots older than the first
/// observation of an episode.</summary>
type StackPadding =
    /// <summary>Zeros, the first observation newest: Stable-Baselines3 <c>VecFrameStack</c>.</summary>
    | Zeros
    /// <summary>The first observation in every slot: Mnih et al. 2015's DQN and Gymnasium
    /// <c>FrameStackObservation(padding_type="reset")</c>.</summary>
    | RepeatFirst

/// <summary>
/// The last <c>Depth</c> observations of an episode, oldest → newest: the agent's input of Mnih et al.
/// 2015 (Methods: "the function φ ... stacks [the 4 most recent frames] to produce the input to the
/// Q-function"), kept by Machado et al. 2018. A small ring with explicit mutation (<c>Reset</c>,
/// <c>Push</c>) read out by copying (<c>CopyTo</c>, <c>ToArray</c>).
/// </summary>
/// <remarks>Not thread-safe. The stack owns its storage; pushed frames are copied, never kept.</remarks>
[<Sealed>]
type FrameStack =
    /// <summary>An empty stack of <c>depth</c> frames of <c>frameLength</c> bytes (all zeros until
    /// <c>Reset</c>).</summary>
    /// <exception cref="T:System.ArgumentOutOfRangeException">depth or frameLength is not positive.</exception>
    new: depth: int * frameLength: int -> FrameStack
    /// <summary>Frames in the stack (4 for DQN).</summary>
    member Depth: int
    /// <summary>Bytes per frame (84·84 = 7056 for DQN).</summary>
    member FrameLength: int
    /// <summary>Starts an episode: every slot padded as <c>padding</c> says, <c>first</c> newest.</summary>
    /// <exception cref="T:System.ArgumentException">first does not have FrameLength bytes.</exception>
    /// <exception cref="T:System.ArgumentNullException">first is null.</exception>
    member Reset: padding: StackPadding * first: byte[] -> unit
    /// <summary>Appends <c>frame</c> as the newest and drops the oldest.</summary>
    /// <exception cref="T:System.ArgumentException">frame does not have FrameLength bytes.</exception>
    /// <exception cref="T:System.ArgumentNullException">frame is null.</exception>
    member Push: frame: byte[] -> unit
    /// <summary>Copies the stack into <c>destination</c>, shape [Depth; FrameLength], oldest → newest.</summary>
    /// <exception cref="T:System.ArgumentException">destination does not have Depth·FrameLength bytes.</exception>
    /// <exception cref="T:System.ArgumentNullException">destination is null.</exception>
    member CopyTo: destination: byte[] -> unit
    /// <summary>Copies the stack into <c>destination</c> from <c>offset</c> on: [Depth; FrameLength] bytes, oldest →
    /// newest (row i of a [n; Depth; FrameLength] batch at offset i·Depth·FrameLength).</summary>
    /// <exception cref="T:System.ArgumentNullException">destination is null.</exception>
    /// <exception cref="T:System.ArgumentOutOfRangeException">The stack does not fit at offset.</exception>
    member CopyTo: destination: byte[] * offset: int -> unit
    /// <summary>The stack as a fresh [Depth; FrameLength] array, oldest → newest (e.g. [4; 84; 84]).</summary>
    member ToArray: unit -> byte[]

/// <summary>Functions over <see cref="T:Dqn.Fun.Atari.FrameStack"/>.</summary>
[<RequireQualifiedAccess>]
module FrameStack =

    /// <summary>The DQN stack: 4 frames of [84; 84] bytes, read out as [4; 84; 84].</summary>
    /// <example><c>(FrameStack.atari ()).ToArray().Length</c> evaluates to <c>28224</c>.</example>
    [<CompiledName("Atari")>]
    val atari: unit -> FrameStack
