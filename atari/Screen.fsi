namespace Dqn.Fun.Atari

/// <summary>
/// The Atari 2600 screen as the ALE returns it, and the 84×84 observation of the DQN agents.
/// </summary>
/// <remarks>
/// Frames are <c>byte[]</c> in row-major (C) order: RGB screens are [210; 160; 3] (channel R, G, B
/// innermost, as <c>ALEInterface::getScreenRGB</c>), grayscale screens [210; 160], observations
/// [84; 84] (Mnih et al. 2015, "Human-level control through deep reinforcement learning", Methods:
/// "Preprocessing"; Machado et al. 2018, "Revisiting the Arcade Learning Environment").
/// </remarks>
[<RequireQualifiedAccess>]
module Screen =

    /// <summary>Screen height in pixels: 210.</summary>
    [<CompiledName("Height")>]
    val height: int

    /// <summary>Screen width in pixels: 160.</summary>
    [<CompiledName("Width")>]
    val width: int

    /// <summary>Bytes of one RGB screen, 210·160·3 = 100800 ([210; 160; 3]).</summary>
    [<CompiledName("RgbLength")>]
    val rgbLength: int

    /// <summary>Bytes of one grayscale screen, 210·160 = 33600 ([210; 160]).</summary>
    [<CompiledName("GrayLength")>]
    val grayLength: int

    /// <summary>Side of the square agent observation: 84 (Mnih et al. 2015).</summary>
    [<CompiledName("ObservationSide")>]
    val observationSide: int

    /// <summary>Bytes of one observation, 84·84 = 7056 ([84; 84]).</summary>
    [<CompiledName("ObservationLength")>]
    val observationLength: int
