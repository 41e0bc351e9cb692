namespace Dqn.Fun

open System
open System.Globalization
open System.IO

/// Opening the metrics files of runs (MetricsCsvWriter, the Atari one): their second column is the run's clock (agent
/// steps or frames).
module internal MetricsCsv =

    /// A writer of `path` with `header`: the file written anew, or with `keepUpTo` (a run resumed from the checkpoint
    /// of that step) an existing file cut back to the header and the rows whose second column is at most keepUpTo
    /// (rows written after that checkpoint go: the resumed run writes them again) and appended to. Raises
    /// InvalidDataException when an existing file has another header.
    let openWriter (path: string) (header: string) (keepUpTo: int64 option) =
        let full = Path.GetFullPath path
        Directory.CreateDirectory(Path.GetDirectoryName full) |> ignore
        match keepUpTo with
        | Some step when File.Exists full ->
            let lines = File.ReadAllLines full
            if lines.Length = 0 || lines[0] <> header then
                raise (InvalidDataException($"{full}: not a metrics file of this format (header {header})"))
            let kept =
                lines[1..]
                |> Array.filter (fun l ->
                    let fields = l.Split ','
                    match (if fields.Length > 1 then Int64.TryParse(fields[1], NumberStyles.Integer, CultureInfo.InvariantCulture) else (false, 0L)) with
                    | true, at -> at <= step
                    | _ when String.IsNullOrWhiteSpace l -> false
                    | _ -> raise (InvalidDataException($"{full}: the row '{l}' has no step or frame count in its second column")))
            let tmp = full + ".tmp"
            File.WriteAllLines(tmp, Array.append [| header |] kept)
            File.Move(tmp, full, true)
            new StreamWriter(full, true)
        | _ ->
            let w = new StreamWriter(full, false)
            w.WriteLine header
            w.Flush()
            w

/// Writes training events to a CSV file, one row per event, flushed as it goes. Columns:
/// kind (episode | eval), step (agent steps), episode, return, length (agent steps), epsilon, loss, mean_q,
/// updates, steps_per_second, eval_mean_return, eval_std_return; fields that do not apply are empty.
/// With `keepUpTo` (a run resumed from the checkpoint of that agent step), an existing file keeps its header and the
/// rows of steps up to keepUpTo (later rows, written after that checkpoint, go: the resumed run writes them again)
/// and is appended to; otherwise the file is written anew.
[<Sealed>]
type MetricsCsvWriter(path: string, ?keepUpTo: int64) =
    let writer =
        MetricsCsv.openWriter
            path
            "kind,step,episode,return,length,epsilon,loss,mean_q,updates,steps_per_second,eval_mean_return,eval_std_return"
            keepUpTo
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
