namespace Dqn.Fun.Atari

#nowarn "9" // the resize loops read and write through pinned pointers (no bounds checks in the inner loops)

open System
open Microsoft.FSharp.NativeInterop

/// One axis of OpenCV's DecimateAlpha table: entry k adds source index Si, weighted by Alpha, into
/// destination index Di. Entries are grouped by Di in increasing order.
type internal AreaTable = { Di: int[]; Si: int[]; Alpha: float32[] }

[<Sealed>]
type AreaResizer internal (sourceHeight: int, sourceWidth: int, targetHeight: int, targetWidth: int, rows: AreaTable, columns: AreaTable) =
    member _.SourceHeight = sourceHeight
    member _.SourceWidth = sourceWidth
    member _.TargetHeight = targetHeight
    member _.TargetWidth = targetWidth
    member internal _.Rows = rows
    member internal _.Columns = columns
    /// Per destination column dx, its entries of Columns are Starts[dx] .. Starts[dx + 1] − 1 (Di is grouped).
    member val internal ColumnStarts =
        let starts = Array.zeroCreate (targetWidth + 1)
        for d in columns.Di do
            starts[d + 1] <- starts[d + 1] + 1
        for d in 1..targetWidth do
            starts[d] <- starts[d] + starts[d - 1]
        starts

[<RequireQualifiedAccess>]
module AreaResize =

    /// OpenCV imgproc/resize.cpp computeResizeAreaTab (cn = 1).
    let internal table (sourceSize: int) (targetSize: int) : AreaTable =
        let scale = 1.0 / (float targetSize / float sourceSize)
        let di = ResizeArray()
        let si = ResizeArray()
        let alpha = ResizeArray<float32>()
        let add d s (a: float32) =
            di.Add d
            si.Add s
            alpha.Add a
        for d in 0 .. targetSize - 1 do
            let f1 = float d * scale
            let f2 = f1 + scale
            let cell = min scale (float sourceSize - f1)
            let s2 = min (int (floor f2)) (sourceSize - 1)
            let s1 = min (int (ceil f1)) s2
            if float s1 - f1 > 1e-3 then add d (s1 - 1) (float32 ((float s1 - f1) / cell))
            for s in s1 .. s2 - 1 do
                add d s (float32 (1.0 / cell))
            if f2 - float s2 > 1e-3 then add d s2 (float32 (min (min (f2 - float s2) 1.0) cell / cell))
        { Di = di.ToArray(); Si = si.ToArray(); Alpha = alpha.ToArray() }

    [<CompiledName("Create")>]
    let create (sourceHeight: int) (sourceWidth: int) (targetHeight: int) (targetWidth: int) : AreaResizer =
        Arg.positive "sourceHeight" sourceHeight
        Arg.positive "sourceWidth" sourceWidth
        Arg.positive "targetHeight" targetHeight
        Arg.positive "targetWidth" targetWidth
        Arg.atMost "targetHeight" sourceHeight targetHeight
        Arg.atMost "targetWidth" sourceWidth targetWidth
        AreaResizer(sourceHeight, sourceWidth, targetHeight, targetWidth, table sourceHeight targetHeight, table sourceWidth targetWidth)

    [<CompiledName("Atari84")>]
    let atari84 = create 210 160 84 84

    /// cvRound (round half to even) then saturate_cast<uchar>.
    let inline private saturate (v: float32) : byte =
        let r = MathF.Round v
        if r <= 0.0f then 0uy elif r >= 255.0f then 255uy else byte r

    [<CompiledName("ResizeInto")>]
    let resizeInto (resizer: AreaResizer) (source: byte[]) (destination: byte[]) : unit =
        Arg.notNull "resizer" resizer
        let sw, tw = resizer.SourceWidth, resizer.TargetWidth
        Arg.length "source" $"[{resizer.SourceHeight}; {sw}]" (resizer.SourceHeight * sw) source
        Arg.length "destination" $"[{resizer.TargetHeight}; {tw}]" (resizer.TargetHeight * tw) destination
        let rows, columns = resizer.Rows, resizer.Columns
        // OpenCV's ResizeArea_Invoker, term for term in its order (so every float32 rounds as there): per table
        // row entry, the source row's horizontal sums into buffer (reused while the entry's source row repeats),
        // then beta * buffer accumulated into sum until the destination row changes.
        let buffer = Array.zeroCreate<float32> tw
        let sum = Array.zeroCreate<float32> tw
        use pSource = fixed source
        use pDestination = fixed destination
        use pBuffer = fixed buffer
        use pSum = fixed sum
        use pStarts = fixed resizer.ColumnStarts
        use pSi = fixed columns.Si
        use pAlpha = fixed columns.Alpha
        let mutable previousDy = rows.Di[0]
        let mutable bufferRow = -1
        let flush (dy: int) =
            let row = NativePtr.add pDestination (dy * tw)
            for dx in 0 .. tw - 1 do
                NativePtr.set row dx (saturate (NativePtr.get pSum dx))
        for j in 0 .. rows.Di.Length - 1 do
            let beta = rows.Alpha[j]
            let dy = rows.Di[j]
            let si = rows.Si[j]
            if si <> bufferRow then
                let src = NativePtr.add pSource (si * sw)
                for dx in 0 .. tw - 1 do
                    let mutable acc = 0.0f
                    for k in NativePtr.get pStarts dx .. NativePtr.get pStarts (dx + 1) - 1 do
                        acc <- acc + float32 (NativePtr.get src (NativePtr.get pSi k)) * NativePtr.get pAlpha k
                    NativePtr.set pBuffer dx acc
                bufferRow <- si
            if dy <> previousDy then
                flush previousDy
                for dx in 0 .. tw - 1 do
                    NativePtr.set pSum dx (beta * NativePtr.get pBuffer dx)
                previousDy <- dy
            else
                for dx in 0 .. tw - 1 do
                    NativePtr.set pSum dx (NativePtr.get pSum dx + beta * NativePtr.get pBuffer dx)
        flush previousDy

    [<CompiledName("Resize")>]
    let resize (resizer: AreaResizer) (source: byte[]) : byte[] =
        Arg.notNull "resizer" resizer
        let destination = Array.zeroCreate (resizer.TargetHeight * resizer.TargetWidth)
        resizeInto resizer source destination
        destination
