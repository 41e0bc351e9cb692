namespace Dqn.Fun.Atari

open System
open System.Globalization
open System.IO

/// <summary>Writes the events of an Atari run to a CSV file, one row per game or evaluation, flushed as it goes.
/// Columns: kind (game | eval), frames (emulator frames of training), agent_steps, updates, game, return (raw
/// score), agent_steps_in_game, epsilon, loss, mean_q, frames_per_second, agent_steps_per_second, protocol,
/// eval_mean, eval_std, eval_games, human_normalized (of eval_mean, empty for games outside
/// <c>AtariScores.table</c>), wall_seconds (seconds since the run began, across resumes: since the writer was made,
/// plus the last kept row's on a resume); fields that do not apply are empty.</summary>
/// With <c>keepUpTo</c> (a run resumed from the checkpoint of that frame count) an existing file keeps its header and
/// its rows up to that many frames and is appended to (a file written before the wall_seconds column gets it, empty in
/// its old rows).
[<Sealed>]
type AtariMetricsCsvWriter(path: string, game: string, ?keepUpTo: int64) =
    static let legacy =
        "kind,frames,agent_steps,updates,game,return,agent_steps_in_game,epsilon,loss,mean_q,frames_per_second,agent_steps_per_second,protocol,eval_mean,eval_std,eval_games,human_normalized"
    static let header = legacy + ",wall_seconds"
    do
        // A run written before wall_seconds: its rows get the column, empty.
        if keepUpTo.IsSome && File.Exists path then
            let lines = File.ReadAllLines path
            if lines.Length > 0 && lines[0] = legacy then
                File.WriteAllLines(path + ".tmp", Array.append [| header |] (lines[1..] |> Array.map (fun l -> if l = "" then l else l + ",")))
                File.Move(path + ".tmp", path, true)
    let writer = Dqn.Fun.MetricsCsv.openWriter path header keepUpTo
    /// The seconds of the rows kept on a resume: the last one's wall_seconds.
    let offset =
        if keepUpTo.IsSome then
            File.ReadAllLines path
            |> Array.skip 1
            |> Array.tryFindBack (fun l -> l.Length > 0)
            |> Option.bind (fun l ->
                match Double.TryParse(Array.last (l.Split ','), NumberStyles.Float, CultureInfo.InvariantCulture) with
                | true, s -> Some s
                | _ -> None)
            |> Option.defaultValue 0.0
        else 0.0
    let clock = Diagnostics.Stopwatch.StartNew()
    let f (x: float) = if Double.IsNaN x then "" else x.ToString("R", CultureInfo.InvariantCulture)
    let seconds () = (offset + clock.Elapsed.TotalSeconds).ToString("F1", CultureInfo.InvariantCulture)

    /// <summary>Appends the row of a GameEnded or Evaluated event (other events write nothing).</summary>
    member _.Write(event: AtariEvent) =
        match event with
        | GameEnded m ->
            writer.WriteLine(
                $"game,{m.Frames},{m.AgentSteps},{m.Updates},{m.Game},{f m.Return},{m.AgentStepsInGame},{f m.Epsilon},{f m.Loss},{f m.MeanQ},{f m.FramesPerSecond},{f m.AgentStepsPerSecond},,,,,,{seconds ()}"
            )
            writer.Flush()
        | Evaluated e ->
            let hns = AtariScores.humanNormalized game e.Mean |> Option.map f |> Option.defaultValue ""
            writer.WriteLine($"eval,{e.Frames},{e.AgentSteps},,,,,,,,,,{e.Protocol},{f e.Mean},{f e.Std},{e.Returns.Length},{hns},{seconds ()}")
            writer.Flush()
        | CheckpointDue _
        | Recovered _ -> ()

    member _.Dispose() = writer.Dispose()

    interface IDisposable with
        member this.Dispose() = this.Dispose()

/// <summary>TensorBoard event files of an Atari run (core's <c>TensorBoardWriter</c>): CleanRL's tags
/// (<c>charts/episodic_return</c> = the game's raw score, <c>charts/episodic_length</c> in agent steps,
/// <c>charts/epsilon</c>, <c>charts/SPS</c> in agent steps per second, <c>charts/FPS</c> in emulator frames per second,
/// <c>losses/td_loss</c>, <c>losses/q_values</c>, <c>eval/episodic_return</c>, <c>eval/episodic_return_std</c>,
/// <c>eval/human_normalized</c>) against emulator frames, and the same tags under <c>agent_steps/</c> against agent
/// steps.</summary>
[<Sealed>]
type AtariTensorBoardWriter(logDir: string, game: string) =
    let tb = Dqn.Fun.TensorBoardWriter(logDir)

    let both (tag: string) (value: float) (frames: int64) (agentSteps: int64) =
        tb.Scalar(tag, value, frames)
        tb.Scalar("agent_steps/" + tag, value, agentSteps)

    /// The folder the event file is in.
    member _.LogDir = tb.LogDir

    /// <summary>Appends the scalars of a GameEnded or Evaluated event (other events write nothing).</summary>
    member _.Write(event: AtariEvent) =
        match event with
        | GameEnded m ->
            both "charts/episodic_return" m.Return m.Frames m.AgentSteps
            both "charts/episodic_length" (float m.AgentStepsInGame) m.Frames m.AgentSteps
            both "charts/epsilon" m.Epsilon m.Frames m.AgentSteps
            both "charts/SPS" m.AgentStepsPerSecond m.Frames m.AgentSteps
            both "charts/FPS" m.FramesPerSecond m.Frames m.AgentSteps
            both "losses/td_loss" m.Loss m.Frames m.AgentSteps
            both "losses/q_values" m.MeanQ m.Frames m.AgentSteps
        | Evaluated e ->
            both "eval/episodic_return" e.Mean e.Frames e.AgentSteps
            both "eval/episodic_return_std" e.Std e.Frames e.AgentSteps
            AtariScores.humanNormalized game e.Mean |> Option.iter (fun h -> both "eval/human_normalized" h e.Frames e.AgentSteps)
        | CheckpointDue _
        | Recovered _ -> ()
