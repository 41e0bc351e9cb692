namespace Dqn.Fun.ApeX

open System
open TorchSharp
open Dqn.Fun
open Dqn.Fun.Atari

/// <summary>The emulators of Atari actors.</summary>
[<RequireQualifiedAccess>]
module internal ApeXEmulators =

    /// What makes an actor's vector emulator: the run's Atari settings, the number of envs, the seed of env 0.
    type Factory = ApeXAtari -> int -> int -> IAtariVectorEmulator

    /// The ALE through the bridge: `envs` emulators of the game on one bridge server of the actor's own
    /// (BridgedVectorEmulator.Launch; env i seeded with seed + i), the ROM file Rom or else ale_py's ROM of Game.
    let bridged: Factory =
        fun atari envs seed ->
            let romIsPath = not (String.IsNullOrWhiteSpace atari.Rom)
            BridgedVectorEmulator.Launch(
                (if romIsPath then atari.Rom else atari.Game),
                envs,
                1,
                seed,
                atari.RepeatActionProbability,
                romIsPath = romIsPath
            )
            :> IAtariVectorEmulator

    /// The size of the game's minimal action set, read from a one-env emulator made (and disposed) for the purpose.
    let actionCount (factory: Factory) (atari: ApeXAtari) (seed: int) =
        let e = factory atari 1 seed
        try
            e.MinimalActionSet.Length
        finally
            match box e with
            | :? IDisposable as d -> d.Dispose()
            | _ -> ()

/// An agent step of one env whose n-step window is still open: s, a, the clipped reward, s′, how it ended.
type internal PendingStep =
    { Stack: byte[]
      Action: int
      Reward: float32
      Next: byte[]
      Terminated: bool
      Truncated: bool }

/// <summary>An Atari actor's side of the acting loop (Horgan et al. 2018, Algorithm 1 on the ALE): an
/// AtariVectorEnvironment of Welcome.Envs envs over an emulator `emulators` makes (owned), its copy of the Nature CNN, and each env's
/// open n-step window. A step leaves its window once n later steps are taken or the episode ends; it then becomes a
/// record of an AtariExperience (its frame, action, clipped reward and flags) with the TD error of the n-step
/// transition it starts, δ = Σ_{j&lt;k} γ^j r_(t+j) + γ^k (1 − terminated) max_a Q(s_(t+k), a) − Q(s_t, a_t) under
/// the actor's network, computed in batches when the message is made. Each episode's first frame goes as a start
/// record; an env's records keep their order, so the learner's frame replay rebuilds the stacks the actor saw.</summary>
type internal AtariActing(w: Welcome, atari: ApeXAtari, emulators: ApeXEmulators.Factory) =
    let frameBytes = 84 * 84
    let stackBytes = 4 * frameBytes
    let seed = w.Seed + 1_000 * (w.ActorId + 1)
    let emulator = emulators atari w.Envs seed
    let env = AtariVectorEnvironment(emulator, atari.Settings, seed)
    let n = env.NumEnvs
    let actionCount = env.ActionCount
    let device = torch.CPU
    let network =
        let n = QNetworks.createFor { DqnConfig.defaults with Dueling = w.Dueling } (Torso.NatureCnn 4) actionCount device
        try
            ApeXActing.load n w.Parameters
            n
        with _ ->
            n.Dispose()
            reraise ()
    let rng = Random(seed)
    let windows = Array.init n (fun _ -> ResizeArray<PendingStep>())
    // The records not sent yet, and the n-step transitions whose TD errors they need.
    let streams = ResizeArray<int>()
    let starts = ResizeArray<bool>()
    let actions = ResizeArray<int>()
    let rewards = ResizeArray<float32>()
    let terminated = ResizeArray<bool>()
    let truncated = ResizeArray<bool>()
    /// The records' frames, [records; 84·84] bytes, written a frame at a time.
    let pixels = new IO.MemoryStream()
    let stepRecords = ResizeArray<int>()
    let stepStacks = ResizeArray<byte[]>()
    let stepBootstraps = ResizeArray<byte[]>()
    let stepReturns = ResizeArray<float32>()
    let stepDiscounts = ResizeArray<float32>()
    let games = EpisodeTally n
    let mutable framesAtLastMessage = 0L
    let row (stacks: byte[]) (i: int) = Array.sub stacks (i * stackBytes) stackBytes
    let newest (stack: byte[]) = ReadOnlySpan(stack, stackBytes - frameBytes, frameBytes)

    let record (stream: int) (start: bool) (action: int) (reward: float32) (frame: ReadOnlySpan<byte>) (term: bool) (trunc: bool) =
        streams.Add stream
        starts.Add start
        actions.Add action
        rewards.Add reward
        terminated.Add term
        truncated.Add trunc
        pixels.Write frame

    /// Env i's window position p leaves as a record: its n-step transition runs to the window's last step.
    let close (i: int) (p: int) =
        let window = windows[i]
        let e = window[p]
        let last = window[window.Count - 1]
        let mutable ret = 0.0
        let mutable discount = 1.0
        for j in p .. window.Count - 1 do
            ret <- ret + discount * float window[j].Reward
            discount <- discount * w.Gamma
        stepRecords.Add streams.Count
        stepStacks.Add e.Stack
        stepBootstraps.Add last.Next
        stepReturns.Add(float32 ret)
        stepDiscounts.Add(if last.Terminated then 0.0f else float32 discount)
        record i false e.Action e.Reward (newest e.Next) e.Terminated e.Truncated

    let mutable obs: byte[] =
        let first = env.Reset(Nullable seed)
        for i in 0 .. n - 1 do
            record i true 0 0.0f (newest (row first i)) false false
        first

    interface IActingSide with
        member _.NumEnvs = n
        member _.Network = network

        member _.Round(epsilon: float) =
            let o = obs
            let chosen =
                Actor.epsilonGreedyBatch rng epsilon actionCount n (fun () ->
                    QNetwork.greedyActions network (fun () -> Tensors.ofArray o [| int64 n; 4L; 84L; 84L |] device))
            let s = env.Step chosen
            let mutable ended = 0
            for i in 0 .. n - 1 do
                let window = windows[i]
                window.Add
                    { Stack = row o i
                      Action = chosen[i]
                      Reward = float32 s.Rewards[i]
                      Next = row s.FinalObservations i
                      Terminated = s.Terminated[i]
                      Truncated = s.Truncated[i] }
                if s.Terminated[i] || s.Truncated[i] then
                    // The episode's end closes every open window; the next episode starts with its first frame.
                    for p in 0 .. window.Count - 1 do
                        close i p
                    window.Clear()
                    record i true 0 0.0f (newest (row s.Observations i)) false false
                elif window.Count = w.NStep then
                    close i 0
                    window.RemoveAt 0
                ended <- ended + games.Step(i, float s.RawRewards[i], s.GameOver[i] || s.Truncated[i])
            obs <- s.Observations
            ended

        member _.Message(steps: int) =
            let k = stepRecords.Count
            let errors = Array.zeroCreate<float32> k
            // Batches of at most 64 transitions bound the activations' memory.
            let chunk = 64
            for first in 0 .. chunk .. k - 1 do
                let m = min chunk (k - first)
                let stacks (source: ResizeArray<byte[]>) =
                    let a = Array.zeroCreate<byte> (m * stackBytes)
                    for j in 0 .. m - 1 do
                        Buffer.BlockCopy(source[first + j], 0, a, j * stackBytes, stackBytes)
                    Tensors.ofArray a [| int64 m; 4L; 84L; 84L |] device
                let recordOf j = stepRecords[first + j]
                let e =
                    ApeXActing.tdErrorsWith
                        network
                        device
                        (fun next -> stacks (if next then stepBootstraps else stepStacks))
                        (Array.init m (fun j -> actions[recordOf j]))
                        (stepReturns.GetRange(first, m).ToArray())
                        (stepDiscounts.GetRange(first, m).ToArray())
                Array.blit e 0 errors first m
            let tdErrors = Array.zeroCreate<float32> streams.Count
            for j in 0 .. k - 1 do
                tdErrors[stepRecords[j]] <- errors[j]
            let frames = env.TotalFrames
            let message: AtariExperience =
                { ActorId = w.ActorId
                  Steps = steps
                  Frames = frames - framesAtLastMessage
                  Streams = streams.ToArray()
                  Starts = starts.ToArray()
                  Actions = actions.ToArray()
                  Rewards = rewards.ToArray()
                  Terminated = terminated.ToArray()
                  Truncated = truncated.ToArray()
                  TdErrors = tdErrors
                  Frames84 = pixels.ToArray()
                  EpisodeReturns = games.Returns
                  EpisodeLengths = games.Lengths }
            framesAtLastMessage <- frames
            box message

        member _.Sent() =
            for list in [ streams :> Collections.IList; starts; actions; rewards; terminated; truncated; stepRecords; stepStacks; stepBootstraps; stepReturns; stepDiscounts ] do
                list.Clear()
            pixels.SetLength 0L
            games.Clear()

        member _.Dispose() =
            network.Dispose()
            pixels.Dispose()
            match box emulator with
            | :? IDisposable as d -> d.Dispose()
            | _ -> ()

/// <summary>The Atari learner side: the Nature CNN over stacks of 4 frames (Atari.Optimizer), a prioritized
/// FrameReplayBuffer with an episode stream per env of every actor (stream ActorId · EnvsPerActor + env: stacks and
/// n-step windows never mix envs; a replacement actor's first start record ends its predecessor's running episodes as
/// truncations), records stored at the actors' initial priorities (FrameReplayBuffer.Add with a TD error), updates
/// through AtariAgent's FrameUpdater, and Machado et al. 2018's evaluation: the mean raw score of the last 100 training
/// games the actors finished (no evaluation games of its own).</summary>
type internal AtariLearning(config: ApeXConfig, atari: ApeXAtari, actionCount: int) =
    let dqn = config.Dqn
    let device = dqn.Device
    let torso = Torso.NatureCnn 4
    let trainer =
        new Trainer(dqn, (fun () -> QNetworks.createFor dqn torso actionCount device), None, true, FrameUpdater.MakeOptimizer atari.Optimizer)
    let streamCount = config.Actors * config.EnvsPerActor
    let replay =
        FrameReplayBuffer(dqn.BufferSize, dqn.Seed, 4, 84 * 84, atari.Settings.Padding, dqn.PriorityAlpha, dqn.PriorityEpsilon, streamCount)
    let updater = new FrameUpdater(dqn, trainer, 4)
    let noLock = obj ()

    /// The frame replay (tests).
    member _.Replay = replay

    interface ILearningSide with
        member _.Trainer = trainer
        member _.Torso = torso
        member _.ActionCount = actionCount
        member _.ReplayCount = replay.Count

        member _.Store(experience: IExperience) =
            match experience with
            | :? AtariExperience as e ->
                for j in 0 .. e.Count - 1 do
                    if e.Streams[j] < 0 || e.Streams[j] >= config.EnvsPerActor then
                        invalidOp $"actor {e.ActorId} sent a record of env {e.Streams[j]}; actors have {config.EnvsPerActor} envs"
                for j in 0 .. e.Count - 1 do
                    let stream = e.ActorId * config.EnvsPerActor + e.Streams[j]
                    let frame = ReadOnlySpan(e.Frames84, j * 84 * 84, 84 * 84)
                    if e.Starts[j] then replay.StartEpisode(stream, frame)
                    // A step of an episode the replay never saw start (a learner resumed under running actors) is dropped.
                    elif replay.IsRunning stream then
                        replay.Add(stream, e.Actions[j], e.Rewards[j], frame, e.Terminated[j], e.Truncated[j], e.TdErrors[j])
            | other -> invalidOp $"actor {other.ActorId} sent {other.GetType().Name}; an Atari learner takes AtariExperience"

        member _.Update(received: int64) = updater.LearnOnce(replay, noLock, received) |> ignore

        member _.Evaluate(received: int64, recent: float[]) =
            Evaluation.result received recent [||]

        member _.SaveState(w: StateWriter, folder: string) =
            w.Int64("action_count", int64 actionCount)
            w.Int64("streams", int64 streamCount)
            replay.SaveState(w, "replay", IO.Path.Combine(folder, AtariAgent.FramesFile))

        member _.LoadState(r: StateReader, folder: string) =
            let sizes = r.Int64 "action_count", r.Int64 "streams"
            if sizes <> (int64 actionCount, int64 streamCount) then
                raise (IO.InvalidDataException($"{folder}: a checkpoint of {fst sizes} actions and {snd sizes} replay streams; this run has {actionCount} and {streamCount} (Actors · EnvsPerActor)"))
            replay.LoadState(r, "replay", IO.Path.Combine(folder, AtariAgent.FramesFile))

        member _.Dispose() =
            updater.Dispose()
            (trainer :> IDisposable).Dispose()
