namespace Dqn.Fun.Atari

open System
open System.Globalization
open System.IO

/// <summary>Writes the events of an Atari run to a CSV file, one row per game or evaluation, flushed as it goes.
/// Columns: kind (game | eval), frames (emulator frames of training), agent_steps, updates, game, return (raw
/// score), agent_steps_in_game, epsilon, loss, mean_q, frames_per_second, agent_steps_per_second, protocol,
/// eval_mean, eval_std, eval_games, human_normalized (of eval_mean, empty for games outside
/// <c>AtariScores.table</c>); fields that do not apply are empty.</summary>
[<Sealed>]
type AtariMetricsCsvWriter(path: string, game: string) =
    let writer =
        let full = Path.GetFullPath path
        Directory.CreateDirectory(Path.GetDirectoryName full) |> ignore
        new StreamWriter(full, false)
    do
        writer.WriteLine
            "kind,frames,agent_steps,updates,game,return,agent_steps_in_game,epsilon,loss,mean_q,frames_per_second,agent_steps_per_second,protocol,eval_mean,eval_std,eval_games,human_normalized"
    let f (x: float) = if Double.IsNaN x then "" else x.ToString("R", CultureInfo.InvariantCulture)

    /// <summary>Appends the row of a GameEnded or Evaluated event (other events write nothing).</summary>
    member _.Write(event: AtariEvent) =
        match event with
        | GameEnded m ->
            writer.WriteLine(
                $"game,{m.Frames},{m.AgentSteps},{m.Updates},{m.Game},{f m.Return},{m.AgentStepsInGame},{f m.Epsilon},{f m.Loss},{f m.MeanQ},{f m.FramesPerSecond},{f m.AgentStepsPerSecond},,,,,"
            )
            writer.Flush()
        | Evaluated e ->
            let hns = AtariScores.humanNormalized game e.Mean |> Option.map f |> Option.defaultValue ""
            writer.WriteLine($"eval,{e.Frames},{e.AgentSteps},,,,,,,,,,{e.Protocol},{f e.Mean},{f e.Std},{e.Returns.Length},{hns}")
            writer.Flush()
        | CheckpointDue _
        | Recovered _ -> ()

    member _.Dispose() = writer.Dispose()

    interface IDisposable with
        member this.Dispose() = this.Dispose()
