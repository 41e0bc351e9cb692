namespace Dqn.Fun

open System

type IVideoSink =
    abstract BeginEpisode: width: int * height: int * framesPerSecond: float -> bool
    abstract AddFrame: rgb: byte[] -> unit
    abstract EndEpisode: unit -> unit

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
    let mutable inEpisode = false
    let mutable recording = false

    let capture () =
        if recording then
            renderer.Draw frame
            sink.AddFrame frame

    member _.Inner = inner

    member _.EndEpisode() =
        if inEpisode then
            inEpisode <- false
            recording <- false
            sink.EndEpisode()

    interface IEnvironment with
        member _.ObservationSize = inner.ObservationSize
        member _.ActionCount = inner.ActionCount

        member this.Reset(seed) =
            this.EndEpisode()
            let observation = inner.Reset seed
            recording <- sink.BeginEpisode(renderer.Width, renderer.Height, renderer.FramesPerSecond)
            inEpisode <- true
            capture ()
            observation

        member this.Step(action) =
            let r = inner.Step action
            capture ()
            if r.Terminated || r.Truncated then this.EndEpisode()
            r
