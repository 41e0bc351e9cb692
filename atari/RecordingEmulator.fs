namespace Dqn.Fun.Atari

open System
open Dqn.Fun

[<Sealed>]
type RecordingEmulator(inner: IAtariEmulator, sink: IVideoSink, framesPerSecond: float) =
    do
        Arg.notNull "inner" inner
        Arg.notNull "sink" sink
        if not (framesPerSecond > 0.0) then Arg.outOfRange "framesPerSecond" framesPerSecond "positive"
    let games = VideoEpisodes sink

    member _.EndEpisode() = games.End()

    interface IAtariEmulator with
        member _.MinimalActionSet = inner.MinimalActionSet
        member _.Lives() = inner.Lives()

        member _.ResetGame screen =
            games.End()
            inner.ResetGame screen
            games.Begin(Screen.width, Screen.height, framesPerSecond)
            games.Add screen

        member _.Repeat(action, frames, secondLast, last) =
            let r = inner.Repeat(action, frames, secondLast, last)
            games.Add last
            if r.GameOver then games.End()
            r
