namespace Dqn.Fun.Atari

open System
open Dqn.Fun

[<Sealed>]
type RecordingEmulator(inner: IAtariEmulator, sink: IVideoSink, framesPerSecond: float) =
    do
        Arg.notNull "inner" inner
        Arg.notNull "sink" sink
        if not (framesPerSecond > 0.0) then Arg.outOfRange "framesPerSecond" framesPerSecond "positive"
    let mutable inGame = false
    let mutable recording = false

    member _.EndEpisode() =
        if inGame then
            inGame <- false
            recording <- false
            sink.EndEpisode()

    interface IAtariEmulator with
        member _.MinimalActionSet = inner.MinimalActionSet
        member _.Lives() = inner.Lives()

        member this.ResetGame screen =
            this.EndEpisode()
            inner.ResetGame screen
            recording <- sink.BeginEpisode(Screen.width, Screen.height, framesPerSecond)
            inGame <- true
            if recording then sink.AddFrame screen

        member this.Repeat(action, frames, secondLast, last) =
            let r = inner.Repeat(action, frames, secondLast, last)
            if recording then sink.AddFrame last
            if r.GameOver then this.EndEpisode()
            r
