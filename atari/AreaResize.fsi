namespace Dqn.Fun.Atari

/// <summary>
/// A precomputed area (box-filter) downscale of 8-bit single-channel images, equal byte for byte to
/// OpenCV's <c>cv2.resize(src, (targetWidth, targetHeight), interpolation=cv2.INTER_AREA)</c> on its
/// generic path (<c>resizeArea_&lt;uchar, float&gt;</c>, OpenCV 4.6.0): the 210×160 → 84×84 resize of
/// Stable-Baselines3's <c>WarpFrame</c> and Gymnasium's <c>AtariPreprocessing</c>.
/// </summary>
/// <remarks>
/// Built once (the per-axis weight tables of OpenCV's <c>computeResizeAreaTab</c>, computed in
/// double and stored as float32), then applied to every frame. Mnih et al. 2015 (Methods,
/// "Preprocessing") rescale frames to 84×84; Machado et al. 2018 keep that observation. Immutable and
/// safe to share between threads.
/// </remarks>
[<Sealed>]
type AreaResizer =
    /// <summary>Rows of the source image.</summary>
    member SourceHeight: int
    /// <summary>Columns of the source image.</summary>
    member SourceWidth: int
    /// <summary>Rows of the resized image.</summary>
    member TargetHeight: int
    /// <summary>Columns of the resized image.</summary>
    member TargetWidth: int

/// <summary>Builds and applies <see cref="T:Dqn.Fun.Atari.AreaResizer"/>s.</summary>
/// <remarks>
/// The algorithm, per axis with scale = 1 / (target / source) in double: for each output index d,
/// f1 = d·scale, f2 = f1 + scale, cell = min(scale, n − f1), s1 = ⌈f1⌉, s2 = min(⌊f2⌋, n − 1),
/// s1 = min(s1, s2); a partial weight (s1 − f1)/cell for source s1 − 1 when s1 − f1 &gt; 1e-3, weight
/// 1/cell for each source in [s1, s2), and min(f2 − s2, 1, cell)/cell for source s2 when
/// f2 − s2 &gt; 1e-3, each rounded to float32. For each row entry (dy, sy, β) in table order, a float32
/// row buffer accumulates src[sy][sx]·α over the column entries in table order, and the float32 sum of
/// output row dy accumulates β·buffer (no fused multiply-add); each output byte is the sum rounded half
/// to even and saturated to 0..255. A float64 area average misses a few pixels of the recorded
/// references by 1; this float32 emulation reproduces all of them (fixtures/README.md).
/// </remarks>
[<RequireQualifiedAccess>]
module AreaResize =

    /// <summary>The weight tables for a sourceHeight×sourceWidth → targetHeight×targetWidth downscale.</summary>
    /// <remarks>Only downscales (target ≤ source on both axes) are accepted: OpenCV's INTER_AREA upscales
    /// bilinearly. For integer factors on both axes (e.g. 168×168 → 84×84) OpenCV takes its
    /// <c>resizeAreaFast</c> path instead, whose integer rounding may differ from these tables by 1.</remarks>
    /// <exception cref="T:System.ArgumentOutOfRangeException">A size is not positive, or a target size
    /// exceeds its source size.</exception>
    /// <example><c>AreaResize.create 210 160 84 84</c> is the resizer of <c>AreaResize.atari84</c>.</example>
    [<CompiledName("Create")>]
    val create: sourceHeight: int -> sourceWidth: int -> targetHeight: int -> targetWidth: int -> AreaResizer

    /// <summary>The Atari resizer: [210; 160] grayscale screen → [84; 84] observation.</summary>
    [<CompiledName("Atari84")>]
    val atari84: AreaResizer

    /// <summary>Resizes <c>source</c> into <c>destination</c> (allocates only two float32 rows).</summary>
    /// <param name="resizer">The tables.</param>
    /// <param name="source">[SourceHeight; SourceWidth] bytes, row-major. Not modified.</param>
    /// <param name="destination">[TargetHeight; TargetWidth] bytes, row-major; every byte is written.</param>
    /// <exception cref="T:System.ArgumentNullException">resizer, source or destination is null.</exception>
    /// <exception cref="T:System.ArgumentException">source or destination has the wrong length (the message
    /// gives the expected shape).</exception>
    [<CompiledName("ResizeInto")>]
    val resizeInto: resizer: AreaResizer -> source: byte[] -> destination: byte[] -> unit

    /// <summary>The resized image as a fresh [TargetHeight; TargetWidth] array.</summary>
    /// <exception cref="T:System.ArgumentNullException">resizer or source is null.</exception>
    /// <exception cref="T:System.ArgumentException">source has the wrong length.</exception>
    /// <example><c>AreaResize.resize (AreaResize.create 2 2 1 1) [| 1uy; 2uy; 3uy; 4uy |]</c> evaluates to
    /// <c>[| 2uy |]</c> (2.5 rounded half to even).</example>
    [<CompiledName("Resize")>]
    val resize: resizer: AreaResizer -> source: byte[] -> byte[]
