namespace Dqn.Fun

open System
open TorchSharp

/// <summary>TensorBoard event files for a training run (TorchSharp's <c>torch.utils.tensorboard.SummaryWriter</c>),
/// with CleanRL's tag names: <c>charts/episodic_return</c>, <c>charts/episodic_length</c> (agent steps),
/// <c>charts/epsilon</c>, <c>charts/SPS</c> (agent steps per second), <c>losses/td_loss</c>, <c>losses/q_values</c>
/// (mean Q(s, a) of the episode's updates; both absent before learning starts), and <c>eval/episodic_return</c>,
/// <c>eval/episodic_return_std</c> for evaluations. Each event file starts with a file-version record and holds one
/// record per scalar, each framed as TFRecord (length, masked CRC32C of the length, the Event protobuf, masked
/// CRC32C of the data); <c>tensorboard --logdir</c> reads a run folder or a folder of runs.</summary>
[<Sealed>]
type TensorBoardWriter(logDir: string) =
    do if String.IsNullOrWhiteSpace logDir then invalidArg "logDir" "logDir must not be empty"
    let writer = torch.utils.tensorboard.SummaryWriter(IO.Path.GetFullPath logDir)

    /// The folder the event file is in.
    member _.LogDir = writer.LogDir

    /// <summary>Appends one scalar at `step` (skipped when value is NaN, as "no update yet").</summary>
    /// <exception cref="T:System.ArgumentOutOfRangeException">step is negative or beyond Int32.MaxValue (TensorBoard's
    /// step field as TorchSharp writes it).</exception>
    member _.Scalar(tag: string, value: float, step: int64) =
        if step < 0L || step > int64 Int32.MaxValue then
            raise (ArgumentOutOfRangeException("step", step, $"step must be in 0..{Int32.MaxValue}"))
        if not (Double.IsNaN value) then writer.add_scalar (tag, float32 value, int step)

    /// Appends the scalars of one training event at its agent step.
    member w.Write(event: TrainingEvent) =
        match event with
        | EpisodeEnded m ->
            w.Scalar("charts/episodic_return", m.Return, m.Step)
            w.Scalar("charts/episodic_length", float m.Length, m.Step)
            w.Scalar("charts/epsilon", m.Epsilon, m.Step)
            w.Scalar("charts/SPS", m.StepsPerSecond, m.Step)
            w.Scalar("losses/td_loss", m.Loss, m.Step)
            w.Scalar("losses/q_values", m.MeanQ, m.Step)
        | Evaluated e ->
            w.Scalar("eval/episodic_return", e.MeanReturn, e.Step)
            w.Scalar("eval/episodic_return_std", e.StdReturn, e.Step)
