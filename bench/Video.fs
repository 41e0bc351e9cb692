/// Episode videos: recorded episodes (core's RecordingEnvironment, atari's RecordingEmulator) written as animated
/// GIFs with SixLabors.ImageSharp (encoding only).
module Dqn.Fun.Bench.Video

open System
open System.Collections.Generic
open System.IO
open System.Runtime.InteropServices
open SixLabors.ImageSharp
open SixLabors.ImageSharp.Formats.Gif
open SixLabors.ImageSharp.PixelFormats
open SixLabors.ImageSharp.Processing.Processors.Quantization
open Dqn.Fun

/// The GIF delay of frame k (0-based) of a video at `framesPerSecond`, in hundredths of a second (the unit of a GIF
/// delay): round(100·(k + 1)/fps) − round(100·k/fps), so that delays add up to the true running time (15 fps: 7, 6, 7,
/// 7, 6, 7, ...; 50 fps: 2 each). At least 2: browsers play shorter delays as 10.
let frameDelay (framesPerSecond: float) (k: int) =
    let at (i: int) = int (Math.Round(100.0 * float i / framesPerSecond, MidpointRounding.AwayFromZero))
    max 2 (at (k + 1) - at k)

/// `--video DIR [--video-episodes N]`: where the GIFs go and how many episodes of each evaluation (None: all).
type VideoOptions = { Dir: string; EpisodesPerEvaluation: int option }

/// One video being assembled: the frames go straight into an ImageSharp image (3 bytes a pixel, all frames in memory
/// until it is encoded).
type private Video(width: int, height: int, framesPerSecond: float) =
    let mutable image: Image<Rgb24> = null

    member _.Frames = if isNull image then 0 else image.Frames.Count

    member this.Add(rgb: byte[]) =
        if rgb.Length <> width * height * 3 then
            invalidArg "rgb" $"a {width}x{height} frame has {width * height * 3} bytes, got {rgb.Length}"
        let k = this.Frames
        let frame =
            if isNull image then
                image <- Image.LoadPixelData<Rgb24>(ReadOnlySpan<byte>(rgb), width, height)
                image.Metadata.GetGifMetadata().RepeatCount <- 0us // loop forever
                image.Frames.RootFrame
            else
                image.Frames.AddFrame(MemoryMarshal.Cast<byte, Rgb24>(ReadOnlySpan<byte>(rgb)))
        frame.Metadata.GetGifMetadata().FrameDelay <- frameDelay framesPerSecond k

    /// Encodes the animation (a local colour table per frame, no dithering: the frames' few colours are kept exactly)
    /// into `path`, through a temporary file; nothing is written for an episode without frames.
    member this.Save(path: string) =
        if not (isNull image) then
            let encoder =
                GifEncoder(ColorTableMode = GifColorTableMode.Local, Quantizer = OctreeQuantizer(QuantizerOptions(Dither = null)))
            let tmp = path + ".tmp"
            (use fs = File.Create tmp
             image.Save(fs, encoder))
            File.Move(tmp, path, true)

    interface IDisposable with
        member _.Dispose() =
            if not (isNull image) then image.Dispose()

/// <summary>
/// Writes recorded episodes as animated GIFs into `dir`: of each evaluation the first `perEvaluation` episodes
/// (None: every one). An episode is encoded when it ends, as `pending-<unit>NN.gif`; <c>NextEvaluation label</c> then
/// names the evaluation's files `<label>-<unit>NN.gif` (NN from 00, in playing order) and starts counting afresh.
/// </summary>
[<Sealed>]
type GifRecorder(dir: string, perEvaluation: int option, unitName: string) =
    do
        match perEvaluation with
        | Some n when n < 0 -> raise (ArgumentOutOfRangeException("perEvaluation", n, "perEvaluation must be non-negative"))
        | _ -> ()
    let dir = Directory.CreateDirectory(dir).FullName
    let pending = List<string * int>()
    let written = List<string>()
    let mutable episode = 0
    let mutable current: (Video * int) option = None

    let fileName (label: string) (i: int) =
        if String.IsNullOrEmpty label then $"{unitName}{i:D2}.gif" else $"{label}-{unitName}{i:D2}.gif"

    /// The folder the GIFs go to.
    member _.Dir = dir

    /// Every GIF named so far, in order.
    member _.Written = List.ofSeq written

    /// Names the GIFs of the evaluation that just ended `<label>-<unit>NN.gif` and returns their paths; the next
    /// episode is the first of a new evaluation.
    member _.NextEvaluation(label: string) =
        let named =
            [ for path, i in pending ->
                  let target = Path.Combine(dir, fileName label i)
                  File.Move(path, target, true)
                  target ]
        pending.Clear()
        written.AddRange named
        episode <- 0
        named

    interface IVideoSink with
        member _.BeginEpisode(width, height, framesPerSecond) =
            let i = episode
            episode <- episode + 1
            match perEvaluation with
            | Some n when i >= n -> false
            | _ ->
                current <- Some(new Video(width, height, framesPerSecond), i)
                true

        member _.AddFrame rgb =
            match current with
            | Some(v, _) -> v.Add rgb
            | None -> ()

        member _.EndEpisode() =
            match current with
            | Some(v, i) ->
                current <- None
                use v = v
                if v.Frames > 0 then
                    let path = Path.Combine(dir, fileName "pending" i)
                    v.Save path
                    pending.Add((path, i))
            | None -> ()
