namespace Dqn.Fun.Atari

/// <summary>
/// The elementwise maximum of two frames: the flicker removal of Mnih et al. 2015 (Methods,
/// "Preprocessing": "to encode a single frame we take the maximum value for each pixel colour value
/// over the frame being encoded and the previous frame"), applied to the last two emulator frames of
/// a frame skip (Stable-Baselines3 <c>MaxAndSkipEnv</c>, Gymnasium <c>AtariPreprocessing</c>;
/// Machado et al. 2018, section 5).
/// </summary>
/// <remarks>
/// Works on any layout: Stable-Baselines3 max-pools RGB screens [210; 160; 3] before the grayscale
/// conversion, Gymnasium max-pools the ALE's grayscale screens [210; 160]. The two orders differ
/// (gray(max(a, b)) ≠ max(gray a, gray b) in general); the fixtures test both.
/// </remarks>
[<RequireQualifiedAccess>]
module MaxPool =

    /// <summary>Writes <c>max(a[i], b[i])</c> into <c>destination[i]</c> for every i (no allocation;
    /// destination may be a or b).</summary>
    /// <exception cref="T:System.ArgumentNullException">a, b or destination is null.</exception>
    /// <exception cref="T:System.ArgumentException">b's or destination's length differs from a's.</exception>
    [<CompiledName("MaxInto")>]
    val maxInto: a: byte[] -> b: byte[] -> destination: byte[] -> unit

    /// <summary>The elementwise maximum of two frames of equal length, as a fresh array.</summary>
    /// <exception cref="T:System.ArgumentNullException">a or b is null.</exception>
    /// <exception cref="T:System.ArgumentException">b's length differs from a's.</exception>
    /// <example><c>MaxPool.max [| 1uy; 9uy |] [| 5uy; 2uy |]</c> evaluates to <c>[| 5uy; 9uy |]</c>.</example>
    [<CompiledName("Max")>]
    val max: a: byte[] -> b: byte[] -> byte[]
