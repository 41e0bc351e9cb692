namespace Dqn.Fun.Atari

#nowarn "9" // the conversion loop reads and writes through pinned pointers

open System
open Microsoft.FSharp.NativeInterop

[<RequireQualifiedAccess>]
module Grayscale =

    // OpenCV imgproc color_rgb.simd.hpp: R2Y = 4899, G2Y = 9617, B2Y = 1868, yuv_shift = 14.
    [<Literal>]
    let private R2Y = 4899

    [<Literal>]
    let private G2Y = 9617

    [<Literal>]
    let private B2Y = 1868

    [<Literal>]
    let private Half = 8192

    [<CompiledName("Luminance")>]
    let luminance (r: byte) (g: byte) (b: byte) : byte =
        byte ((R2Y * int r + G2Y * int g + B2Y * int b + Half) >>> 14)

    let private checkRgb (rgb: byte[]) =
        if isNull rgb then raise (ArgumentNullException("rgb"))
        if rgb.Length % 3 <> 0 then
            raise (ArgumentException($"rgb must have a length that is a multiple of 3 (shape [n; 3]), got length {rgb.Length}", "rgb"))

    [<CompiledName("RgbToGrayInto")>]
    let rgbToGrayInto (rgb: byte[]) (gray: byte[]) : unit =
        checkRgb rgb
        if isNull gray then raise (ArgumentNullException("gray"))
        if gray.Length <> rgb.Length / 3 then
            raise (ArgumentException($"gray must have length rgb.Length / 3 = {rgb.Length / 3}, got length {gray.Length}", "gray"))
        if gray.Length > 0 then
            use pRgb = fixed rgb
            use pGray = fixed gray
            let mutable p = pRgb
            for i in 0 .. gray.Length - 1 do
                NativePtr.set
                    pGray
                    i
                    (byte ((R2Y * int (NativePtr.get p 0) + G2Y * int (NativePtr.get p 1) + B2Y * int (NativePtr.get p 2) + Half) >>> 14))
                p <- NativePtr.add p 3

    [<CompiledName("RgbToGray")>]
    let rgbToGray (rgb: byte[]) : byte[] =
        checkRgb rgb
        let gray = Array.zeroCreate (rgb.Length / 3)
        rgbToGrayInto rgb gray
        gray
