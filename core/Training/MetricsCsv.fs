namespace Dqn.Fun

open System
open System.Globalization
open System.IO

/// Writes training events to a CSV file, one row per event, flushed as it goes. Columns:
/// kind (episode | eval), step (agent steps), episode, return, length (agent steps), epsilon, loss, mean_q,
/// updates, steps_per_second, eval_mean_return, eval_std_return; fields that do not apply are empty.
[<Sealed>]
type MetricsCsvWriter(path: string) =
    let writer =
        let full = Path.GetFullPath path
        Directory.CreateDirectory(Path.GetDirectoryName full) |> ignore
        new StreamWriter(full, false)
    do writer.WriteLine "kind,step,episode,return,length,epsilon,loss,mean_q,updates,steps_per_second,eval_mean_return,eval_std_return"
    let f (x: float) = if Double.IsNaN x then "" else x.ToString("R", CultureInfo.InvariantCulture)

    /// Appends the row for one event.
    member _.Write(event: TrainingEvent) =
        match event with
        | EpisodeEnded m ->
            writer.WriteLine(
                $"episode,{m.Step},{m.Episode},{f m.Return},{m.Length},{f m.Epsilon},{f m.Loss},{f m.MeanQ},{m.Updates},{f m.StepsPerSecond},,"
            )
        | Evaluated e -> writer.WriteLine($"eval,{e.Step},,,,,,,,,{f e.MeanReturn},{f e.StdReturn}")
        writer.Flush()

    member _.Dispose() = writer.Dispose()

    interface IDisposable with
        member this.Dispose() = this.Dispose()
