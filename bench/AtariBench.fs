/// Atari-side measurements: the Nature-CNN update against PyTorch eager doing the identical update, and the
/// frame replay's memory and sampling time. Measurements live here, never in tests.
module Dqn.Fun.Bench.AtariBench

open System
open System.Diagnostics
open System.Text.Json
open Dqn.Fun
open Dqn.Fun.Atari
open TorchSharp

/// Mean, median and 99th percentile of per-iteration microseconds.
let summarize (micros: float[]) =
    let s = Array.sort micros
    Array.average s, s[s.Length / 2], s[min (s.Length - 1) (s.Length * 99 / 100)]

/// Milliseconds per Nature-CNN update (batch of uint8 stacks -> tensors, target and online forward, Huber
/// loss, backward, clipping at 10, Adam) after `warmup` updates; the same random batch every time, as the
/// baseline does.
let natureCnnUpdate (updates: int) (warmup: int) (batchSize: int) (actions: int) (threads: int) (maxGradNorm: float option) (device: Device) =
    torch.set_num_threads threads
    torch.manual_seed 0L |> ignore
    use online = new NatureCnn(actions, device = device)
    use target = new NatureCnn(actions, device = device)
    QNetwork.updateTarget 1.0 target online
    use optimizer = torch.optim.Adam(online.parameters (), lr = 6.25e-5, eps = 1.5e-4)
    let config = { DqnConfig.defaults with Loss = TdLoss.Huber; MaxGradNorm = maxGradNorm }
    let rng = Random 0
    let pixels () = Array.init (batchSize * 4 * 84 * 84) (fun _ -> byte (rng.Next 256))
    let obs, next = pixels (), pixels ()
    let acts = Array.init batchSize (fun _ -> int64 (rng.Next actions))
    let rewards = Array.init batchSize (fun _ -> float32 (rng.Next 3 - 1))
    let terminal = Array.init batchSize (fun _ -> if rng.NextDouble() < 0.05 then 1.0f else 0.0f)
    let shape = [| int64 batchSize; 4L; 84L; 84L |]
    let discounts = terminal |> Array.map (fun t -> 0.99f * (1.0f - t))
    let update () =
        use scope = torch.NewDisposeScope()
        Learner.updateOnTensors
            config
            online
            target
            optimizer
            null
            (Tensors.ofArray obs shape device)
            (Tensors.ofArray next shape device)
            (Tensors.ofArray acts [| int64 batchSize |] device)
            (Tensors.ofArray rewards [| int64 batchSize |] device)
            (Tensors.ofArray discounts [| int64 batchSize |] device)
            null
            null
        |> ignore
    for _ in 1..warmup do
        update ()
    let clock = Stopwatch.StartNew()
    for _ in 1..updates do
        update ()
    clock.Elapsed.TotalMilliseconds / float updates

/// What `frameReplay` measured: bytes held by an empty uniform buffer and by the filled prioritized one, and
/// per-call (mean, p50, p99) µs of each sampling path.
type FrameReplayFigures =
    { UniformBytes: int64
      PrioritizedBytes: int64
      Sample: float * float * float
      Gather: float * float * float
      NStep: float * float * float
      Prioritized: float * float * float }

/// Fills a prioritized frame replay of `capacity` slots
/// (α 0.5, Rainbow's) with synthetic episodes and priorities (|δ| ~ Exp(1)), and times Sample(batch) (slot
/// indices), Sample + Gather (pixels of every stack into a host buffer), n-step Sample(batch, 3, 0.99), and
/// SamplePrioritized(batch, 3, 0.99, 0.4) + UpdatePriorities of the batch; then measures the
/// bytes held by an empty uniform one.
let frameReplay (capacity: int) (batchSize: int) (iterations: int) =
    let heldBy (make: unit -> FrameReplayBuffer) =
        let before = GC.GetTotalMemory true
        let buffer = make ()
        GC.GetTotalMemory true - before, buffer
    let prioritizedBytes, buffer = heldBy (fun () -> FrameReplayBuffer(capacity, 0, priorityAlpha = 0.5))
    let frame = Array.init (84 * 84) byte
    let rng = Random 1
    let mutable filled = 0
    while filled < capacity do
        buffer.StartEpisode(ReadOnlySpan frame)
        filled <- filled + 1
        let length = 100 + rng.Next 1_000
        for t in 1..length do
            frame[t % frame.Length] <- byte t
            let last = (t = length)
            buffer.Add(rng.Next 6, float32 (rng.Next 3 - 1), ReadOnlySpan frame, last, false)
        filled <- filled + length
    // |δ| ~ Exp(1): a long tail of large errors, as TD errors have.
    let tdError () = float32 (-Math.Log(1.0 - rng.NextDouble()))
    for start in 0..batchSize .. capacity - 1 do
        let n = min batchSize (capacity - start)
        buffer.UpdatePriorities(Array.init n (fun k -> start + k), Array.init n (fun _ -> tdError ()))
    let errors = Array.init batchSize (fun _ -> tdError ())
    let pixels = Array.zeroCreate<byte> (batchSize * buffer.Stack * buffer.FrameBytes)
    let time (f: unit -> unit) =
        for _ in 1..100 do
            f ()
        Array.init iterations (fun _ ->
            let t = Stopwatch.GetTimestamp()
            f ()
            Stopwatch.GetElapsedTime(t).TotalMicroseconds)
    let sample = time (fun () -> buffer.Sample batchSize |> ignore)
    let gather =
        time (fun () ->
            let b = buffer.Sample batchSize
            buffer.Gather(b.ObservationSlots, Span pixels)
            buffer.Gather(b.NextObservationSlots, Span pixels))
    let nStep = time (fun () -> buffer.Sample(batchSize, 3, 0.99) |> ignore)
    let prioritized =
        time (fun () ->
            let b = buffer.SamplePrioritized(batchSize, 3, 0.99, 0.4)
            buffer.UpdatePriorities(b.Indices, errors))
    GC.KeepAlive buffer
    // After the prioritized buffer is gone: an empty uniform one, for its bytes alone.
    let uniformBytes, uniform = heldBy (fun () -> FrameReplayBuffer(capacity, 0))
    GC.KeepAlive uniform
    { UniformBytes = uniformBytes
      PrioritizedBytes = prioritizedBytes
      Sample = summarize sample
      Gather = summarize gather
      NStep = summarize nStep
      Prioritized = summarize prioritized }

/// Runs the PyTorch baseline script and returns its JSON output.
let runPython (python: string) (script: string) (args: string list) =
    let psi = ProcessStartInfo(python, script :: args, RedirectStandardOutput = true, UseShellExecute = false)
    use p = Process.Start psi
    let text = p.StandardOutput.ReadToEnd()
    p.WaitForExit()
    if p.ExitCode <> 0 then failwith $"{python} {script} exited with {p.ExitCode}"
    JsonDocument.Parse(text.Trim().Split('\n') |> Array.last).RootElement
