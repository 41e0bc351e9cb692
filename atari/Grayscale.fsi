namespace Dqn.Fun.Atari

/// <summary>
/// RGB → grayscale conversion equal, byte for byte, to OpenCV's
/// <c>cv2.cvtColor(src, cv2.COLOR_RGB2GRAY)</c> on 8-bit images (OpenCV 4.6.0), the conversion of
/// Stable-Baselines3's <c>WarpFrame</c>.
/// </summary>
/// <remarks>
/// OpenCV computes the luminance Y = 0.299 R + 0.587 G + 0.114 B (ITU-R BT.601) in 14-bit fixed point:
/// <c>Y = (4899·R + 9617·G + 1868·B + 8192) >>> 14</c> (round half up). Mnih et al. 2015 (Methods,
/// "Preprocessing") extract "the Y channel, also known as luminance"; Machado et al. 2018 use the same
/// grayscale observation. On the recorded Pong and Breakout frames this equals the ALE's own
/// <c>getScreenGrayscale</c> (fixtures/README.md).
/// </remarks>
[<RequireQualifiedAccess>]
module Grayscale =

    /// <summary>The luminance of one pixel: <c>(4899·r + 9617·g + 1868·b + 8192) >>> 14</c>.</summary>
    /// <example><c>Grayscale.luminance 255uy 255uy 255uy</c> evaluates to <c>255uy</c>;
    /// <c>Grayscale.luminance 255uy 0uy 0uy</c> to <c>76uy</c>.</example>
    [<CompiledName("Luminance")>]
    val luminance: r: byte -> g: byte -> b: byte -> byte

    /// <summary>Writes the grayscale image of <c>rgb</c> into <c>gray</c> (no allocation).</summary>
    /// <param name="rgb">Row-major pixels, channels R, G, B innermost: shape [n; 3] for any image of n
    /// pixels, e.g. [210; 160; 3]. Not modified.</param>
    /// <param name="gray">Destination of n bytes, e.g. [210; 160].</param>
    /// <exception cref="T:System.ArgumentNullException">rgb or gray is null.</exception>
    /// <exception cref="T:System.ArgumentException">rgb's length is not a multiple of 3, or gray's length
    /// is not rgb's length / 3 (the message gives both lengths).</exception>
    [<CompiledName("RgbToGrayInto")>]
    val rgbToGrayInto: rgb: byte[] -> gray: byte[] -> unit

    /// <summary>The grayscale image of <c>rgb</c>: a fresh array of rgb.Length / 3 bytes.</summary>
    /// <exception cref="T:System.ArgumentNullException">rgb is null.</exception>
    /// <exception cref="T:System.ArgumentException">rgb's length is not a multiple of 3.</exception>
    /// <example><c>Grayscale.rgbToGray [| 0uy; 255uy; 0uy; 10uy; 10uy; 10uy |]</c> evaluates to <c>[| 150uy; 10uy |]</c>.</example>
    [<CompiledName("RgbToGray")>]
    val rgbToGray: rgb: byte[] -> byte[]
