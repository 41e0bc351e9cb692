/// Training checkpoints and Agent.Resume: a seeded run stopped after k agent steps, written to disk, dropped and
/// resumed in a new agent on a new environment goes on bit for bit as the run that was never dropped (the same
/// parameters, target network, optimizer moments, replay with its priorities, generators, counters and metrics).
module Dqn.Fun.Tests.ResumeTests

open System
open System.IO
open Expecto
open Dqn.Fun
open Dqn.Fun.Tests.TorchTestSupport

/// A training episode's row of metrics without the time-dependent throughput; floats as their bits (NaN, the loss
/// before learning starts, equals itself).
let private row (m: EpisodeMetrics) =
    let bits = BitConverter.DoubleToInt64Bits
    m.Step, m.Episode, bits m.Return, m.Length, bits m.Epsilon, bits m.Loss, bits m.MeanQ, m.Updates

let private configOf (preset: string) =
    { DqnConfig.preset preset with Seed = 3; LearningStarts = 200; BatchSize = 32; BufferSize = 5_000; EvalInterval = 0 }

let private envFor (preset: string) : IEnvironment =
    if preset = "drqn" then MaskedCartPoleEnvironment() else CartPoleEnvironment()

/// Learns `k` then `m` agent steps, recording the metrics; between the two calls `between` may replace the agent.
let private run (preset: string) (k: int64) (m: int64) (between: Agent -> IEnvironment -> Agent * IEnvironment) =
    let config = configOf preset
    let rows = ResizeArray()
    let observe = function EpisodeEnded e -> rows.Add(row e) | Evaluated _ -> ()
    let env = envFor preset
    let first = new Agent(config, env.ObservationSize, env.ActionCount)
    first.Learn(env, k, observer = observe) |> ignore
    let agent, env = between first env
    agent.Learn(env, m, observer = observe) |> ignore
    agent, List.ofSeq rows

/// The bytes of `agent`'s checkpoint files (model, state) written to a fresh folder.
let private checkpointBytes (agent: Agent) =
    let dir, cleanup = tempFolder ()
    use _ = cleanup
    let folder = agent.SaveCheckpoint dir
    File.ReadAllBytes(Path.Combine(folder, TrainingCheckpoint.ModelFile)),
    File.ReadAllBytes(Path.Combine(folder, TrainingCheckpoint.StateFile))

[<Tests>]
let tests =
    testList "Resume" [
        for preset in [ "dqn"; "prioritized"; "nstep"; "rainbow"; "iqn"; "drqn" ] do
            testCase $"{preset}: stopped at step 700 mid-episode, saved, dropped and resumed on a new environment, it goes on bit for bit as the run left alone" <| fun () ->
                let dir, cleanup = tempFolder ()
                use _ = cleanup
                let alone, aloneRows = run preset 700L 900L (fun a env -> a, env)
                use alone = alone
                let resumed, resumedRows =
                    run preset 700L 900L (fun a _ ->
                        a.SaveCheckpoint dir |> ignore
                        a.Dispose()
                        Agent.Resume(dir, configOf preset), envFor preset)
                use resumed = resumed
                Expect.equal resumed.Steps alone.Steps "agent steps"
                Expect.equal resumed.Updates alone.Updates "updates"
                Expect.isGreaterThan alone.Updates 300L "updates made in both calls"
                Expect.equal resumedRows aloneRows "episode metrics (step, episode, return, length, ε, loss, mean Q, updates)"
                let aloneModel, aloneState = checkpointBytes alone
                let resumedModel, resumedState = checkpointBytes resumed
                Expect.isTrue (resumedModel = aloneModel) "online network: the checkpoints' model files differ"
                Expect.isTrue
                    (resumedState = aloneState)
                    "target network, Adam's moments, replay, priorities, generators or counters: the checkpoints' state files differ"

        for preset in [ "nstep"; "rainbow" ] do
            testCase $"{preset}: a checkpoint taken inside Learn (steps waiting for their n-step return) resumes as the run whose Learn call ended there" <| fun () ->
                let dir, cleanup = tempFolder ()
                use _ = cleanup
                let config = configOf preset
                // The checkpoint is written by the observer at the evaluation of step 700, mid-episode.
                let pending =
                    use a = new Agent({ config with EvalInterval = 700; EvalEpisodes = 1 }, 4, 2)
                    let mutable pending = -1
                    let save =
                        function
                        | Evaluated e when e.Step = 700L ->
                            a.SaveCheckpoint dir |> ignore
                            use r = new StateReader(Path.Combine(TrainingCheckpoint.tryLatest dir |> Option.get, TrainingCheckpoint.StateFile))
                            pending <- (r.Ints "nstep.actions").Length
                        | _ -> ()
                    a.Learn(CartPoleEnvironment(), 800L, CartPoleEnvironment(), save) |> ignore
                    pending
                Expect.isGreaterThan pending 0 "steps waiting for their n-step return in the checkpoint"
                use resumed = Agent.Resume(dir, config)
                resumed.Learn(CartPoleEnvironment(), 900L) |> ignore
                use stopped = new Agent(config, 4, 2)
                stopped.Learn(CartPoleEnvironment(), 700L) |> ignore
                stopped.Learn(CartPoleEnvironment(), 900L) |> ignore
                let stoppedModel, stoppedState = checkpointBytes stopped
                let resumedModel, resumedState = checkpointBytes resumed
                Expect.isTrue (resumedModel = stoppedModel) "online network: the checkpoints' model files differ"
                Expect.isTrue (resumedState = stoppedState) "the checkpoints' state files differ"

        testCase "a resumed agent keeps its counters: the learning rate goes on, LearningStarts is not applied again" <| fun () ->
            let dir, cleanup = tempFolder ()
            use _ = cleanup
            let config = configOf "dqn"
            let lr =
                use a = new Agent(config, 4, 2)
                a.Learn(CartPoleEnvironment(), 3_000L) |> ignore
                a.SaveCheckpoint dir |> ignore
                a.LearningRate
            use b = Agent.Resume(dir, config)
            Expect.equal b.Steps 3_000L "agent steps"
            Expect.equal b.LearningRate lr "learning rate"
            let before = b.Updates
            b.Learn(CartPoleEnvironment(), 4L) |> ignore
            Expect.equal b.Updates (before + 4L) "an update at every agent step (TrainFrequency = 1) from the first after resuming"
            Expect.equal (b.Steps) 3_004L "steps go on from the checkpoint's"

        testCase "SaveCheckpoint keeps the newest two, Resume reads the newest; a folder with none, or another config, is refused by name" <| fun () ->
            let dir, cleanup = tempFolder ()
            use _ = cleanup
            let config = configOf "dqn"
            use a = new Agent(config, 4, 2)
            for _ in 1..3 do
                a.Learn(CartPoleEnvironment(), 250L) |> ignore
                a.SaveCheckpoint dir |> ignore
            let names = TrainingCheckpoint.list dir |> Array.map Path.GetFileName
            Expect.equal names [| "step-000000000500"; "step-000000000750" |] "checkpoints kept"
            use b = Agent.Resume(dir, config)
            Expect.equal b.Steps 750L "the newest checkpoint"
            use older = Agent.Resume(Path.Combine(dir, "step-000000000500"), config)
            Expect.equal older.Steps 500L "a checkpoint folder named directly"
            let empty = Path.Combine(dir, "none")
            Directory.CreateDirectory empty |> ignore
            let e = Expect.wantThrows<DirectoryNotFoundException> (fun () -> Agent.Resume(empty, config) |> ignore) "no checkpoint"
            Expect.stringContains e.Message empty "the message names the folder"
            let other = { config with Gamma = 0.9 }
            let e = Expect.wantThrows<ArgumentException> (fun () -> Agent.Resume(dir, other) |> ignore) "another gamma"
            Expect.stringContains e.Message "Gamma = 0.99" "the saved value"
            Expect.stringContains e.Message "has Gamma = 0.9 " "the given value"
            // A state file of another format (a later version's) is refused, naming both formats.
            let newest = TrainingCheckpoint.tryLatest dir |> Option.get
            let state = Path.Combine(newest, TrainingCheckpoint.StateFile)
            let file = Safetensors.load state TorchSharp.torch.CPU
            Safetensors.save state file.Tensors (file.Metadata |> Map.add "format" "dqnfun.training-state.v9")
            for _, t in file.Tensors do t.Dispose()
            let e = Expect.wantThrows<InvalidDataException> (fun () -> Agent.Resume(dir, config) |> ignore) "another format"
            Expect.stringContains e.Message "dqnfun.training-state.v9" "the file's format"
            Expect.stringContains e.Message "dqnfun.training-state.v1" "the format this version reads"
            Directory.Delete(newest, true)
            // The evaluation settings do not change training: they may differ.
            use c = Agent.Resume(dir, { config with EvalInterval = 1_000; EvalEpisodes = 3 })
            Expect.equal c.Steps 500L "resumed with other evaluation settings (the newest left)"

        testCase "the online network of a checkpoint loads with Agent.Load" <| fun () ->
            let dir, cleanup = tempFolder ()
            use _ = cleanup
            use a = new Agent(configOf "dqn", 4, 2)
            a.Learn(CartPoleEnvironment(), 300L) |> ignore
            let folder = a.SaveCheckpoint dir
            use b = Agent.Load(Path.Combine(folder, TrainingCheckpoint.ModelFile))
            let o = [| 0.01f; -0.02f; 0.03f; 0.04f |]
            Expect.equal (b.Act o) (a.Act o) "greedy action"
    ]
