namespace Dqn.Fun

open System

type IVideoSink =
    abstract BeginEpisode: width: int * height: int * framesPerSecond: float -> bool
    abstract AddFrame: rgb: byte[] -> unit
    abstract EndEpisode: unit -> unit

[<Sealed>]
type VideoEpisodes(sink: IVideoSink) =
    do if isNull (box sink) then nullArg "sink"
    let mutable inEpisode = false
    let mutable recording = false

    member this.Begin(width: int, height: int, framesPerSecond: float) =
        this.End()
        recording <- sink.BeginEpisode(width, height, framesPerSecond)
        inEpisode <- true

    member _.Recording = recording

    member _.Add(rgb: byte[]) = if recording then sink.AddFrame rgb

    member _.End() =
        if inEpisode then
            inEpisode <- false
            recording <- false
            sink.EndEpisode()

type Renderer =
    { Width: int
      Height: int
      FramesPerSecond: float
      Draw: byte[] -> unit }

[<RequireQualifiedAccess>]
module Renderer =

    [<CompiledName("TryOf")>]
    let tryOf (env: IEnvironment) : Renderer option =
        let cartPole (state: unit -> CartPole.State) =
            { Width = Render.cartPoleWidth
              Height = Render.cartPoleHeight
              FramesPerSecond = Render.cartPoleFramesPerSecond
              Draw = fun frame -> Render.cartPoleInto (state ()) frame }
        match env with
        | :? CartPoleEnvironment as e -> Some(cartPole (fun () -> e.State))
        | :? MaskedCartPoleEnvironment as e -> Some(cartPole (fun () -> e.State))
        | :? AcrobotEnvironment as e ->
            Some
                { Width = Render.acrobotSize
                  Height = Render.acrobotSize
                  FramesPerSecond = Render.acrobotFramesPerSecond
                  Draw = fun frame -> Render.acrobotInto e.State frame }
        | :? MountainCarEnvironment as e ->
            Some
                { Width = Render.mountainCarWidth
                  Height = Render.mountainCarHeight
                  FramesPerSecond = Render.mountainCarFramesPerSecond
                  Draw = fun frame -> Render.mountainCarInto e.State frame }
        | :? GridWorldEnvironment as e ->
            let side = e.Size * Render.gridCellPixels
            Some
                { Width = side
                  Height = side
                  FramesPerSecond = Render.gridWorldFramesPerSecond
                  Draw = fun frame -> Render.gridWorldInto e.Size e.Cell frame }
        | _ -> None

[<Sealed>]
type RecordingEnvironment(inner: IEnvironment, renderer: Renderer, sink: IVideoSink) =
    do
        if isNull (box inner) then nullArg "inner"
        if isNull (box renderer.Draw) then nullArg "renderer"
        if isNull (box sink) then nullArg "sink"
    let frame = Array.zeroCreate<byte> (renderer.Width * renderer.Height * 3)
    let episodes = VideoEpisodes sink

    let capture () =
        if episodes.Recording then
            renderer.Draw frame
            episodes.Add frame

    member _.Inner = inner

    member _.EndEpisode() = episodes.End()

    interface IEnvironment with
        member _.ObservationSize = inner.ObservationSize
        member _.ActionCount = inner.ActionCount

        member _.Reset(seed) =
            episodes.End()
            let observation = inner.Reset seed
            episodes.Begin(renderer.Width, renderer.Height, renderer.FramesPerSecond)
            capture ()
            observation

        member _.Step(action) =
            let r = inner.Step action
            capture ()
            if r.Terminated || r.Truncated then episodes.End()
            r
