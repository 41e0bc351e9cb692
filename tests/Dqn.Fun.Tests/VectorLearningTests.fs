/// Agent.Learn over vector environments: one training loop, whose vector of one is the single-environment Learn.
module Dqn.Fun.Tests.VectorLearningTests

open System
open Expecto
open FsCheck
open FsCheck.FSharp
open Dqn.Fun
open Dqn.Fun.Tests.TestConfig
open Dqn.Fun.Tests.TorchTestSupport

let private tagged (n: int) = SyncVectorEnvironment(Array.init n (fun i -> TaggedEpisodes(i, 10 + i) :> IEnvironment))

/// Every stored transition stays inside one environment's episode: s' is `Steps` steps after s in the same env and
/// episode, and its reward is the discounted sum of the rewards between them (Hessel et al. 2018, eq. 2).
let private withinEpisodes (gamma: float) (stored: Batch) =
    let at (a: float32[]) i = int a[3 * i], int a[3 * i + 1], int a[3 * i + 2]
    seq { 0 .. stored.Size - 1 }
    |> Seq.forall (fun i ->
        let env, episode, t = at stored.Observations i
        let env', episode', t' = at stored.NextObservations i
        let steps = stored.Steps[i]
        let expected = Seq.sum (seq { for k in 0 .. steps - 1 -> gamma ** float k * float (t + 1 + k) })
        env' = env && episode' = episode && t' = t + steps && abs (float stored.Rewards[i] - expected) < 1e-4)

let private cartPoles (n: int) = SyncVectorEnvironment(Array.init n (fun _ -> CartPoleEnvironment() :> IEnvironment))

[<Tests>]
let tests =
    testList "VectorLearning" [
        testPropertyWithConfig fsCheck "n-step transitions from a vector of environments never cross environments, episodes or Learn calls" (
            Prop.forAll (Arb.fromGen (Gen.zip (Gen.choose (1, 4)) (Gen.listOfLength 4 (Gen.choose (1, 40))))) (fun (n, chunks) ->
                let config = { DqnConfig.defaults with NStep = 3; Gamma = 0.5; LearningStarts = 100_000; EvalInterval = 0; BufferSize = 1_000 }
                use agent = new Agent(config, 3, 2)
                let env = tagged n
                let taken = chunks |> List.sumBy (fun c -> (agent.Learn(env, int64 c)).Steps)
                let stored = agent.StoredTransitions()
                // Every round takes n steps: a budget is rounded up to whole rounds.
                taken = (chunks |> List.sumBy (fun c -> int64 ((c + n - 1) / n * n)))
                && int64 stored.Size = taken
                && withinEpisodes config.Gamma stored)
        )

        testCase "a checkpoint taken inside a vector Learn stores each environment's pending n-step steps apart on Resume" <| fun () ->
            let config = { DqnConfig.defaults with NStep = 3; Gamma = 0.5; LearningStarts = 100_000; EvalInterval = 0; BufferSize = 1_000 }
            let dir, cleanup = tempFolder ()
            use _ = cleanup
            use agent = new Agent(config, 3, 2)
            let mutable saved = None
            let observe = function
                | EpisodeEnded e when saved.IsNone && e.Step > 20L -> saved <- Some(agent.SaveCheckpoint dir, agent.ReplayCount)
                | _ -> ()
            agent.Learn(tagged 3, 60L, observer = observe) |> ignore
            let folder, countAtSave = saved.Value
            use resumed = Agent.Resume(folder, config)
            let stored = resumed.StoredTransitions()
            Expect.isGreaterThan stored.Size countAtSave "the pending steps of the environments were stored"
            Expect.isLessThanOrEqual stored.Size (countAtSave + 3 * (config.NStep - 1)) "at most NStep - 1 pending steps per environment"
            Expect.isTrue (withinEpisodes config.Gamma stored) "every transition stays inside one environment's episode"

        testCase "a vector of one learns exactly as the single environment: the same transitions, parameters and metrics" <| fun () ->
            let config = { DqnConfig.defaults with Seed = 4; LearningStarts = 200; BatchSize = 32; EvalInterval = 500; EvalEpisodes = 2 }
            let runWith (learn: Agent -> (TrainingEvent -> unit) -> TrainingSummary) =
                let agent = new Agent(config, 4, 2)
                let rows = ResizeArray()
                let observe = function
                    | EpisodeEnded e -> rows.Add(e.Step, e.Return, e.Length, BitConverter.DoubleToInt64Bits e.Loss, e.Updates)
                    | Evaluated r -> rows.Add(r.Step, r.MeanReturn, 0, 0L, 0L)
                let summary = learn agent observe
                agent, List.ofSeq rows, summary
            let single, singleRows, s1 = runWith (fun a o -> a.Learn(CartPoleEnvironment(), 1_500L, CartPoleEnvironment(), o))
            let vector, vectorRows, s2 = runWith (fun a o -> a.Learn(cartPoles 1, 1_500L, CartPoleEnvironment(), o))
            use single = single
            use vector = vector
            Expect.equal vectorRows singleRows "episode and evaluation metrics"
            Expect.equal (s2.Steps, s2.Updates, s2.Episodes) (s1.Steps, s1.Updates, s1.Episodes) "steps, updates and episodes"
            let t1, t2 = single.StoredTransitions(), vector.StoredTransitions()
            Expect.equal t2.Observations t1.Observations "stored observations"
            Expect.equal t2.NextObservations t1.NextObservations "stored next observations"
            Expect.equal t2.Actions t1.Actions "stored actions"
            for p1, p2 in List.zip (parameters single.Network) (parameters vector.Network) do
                Expect.equal (floats p2) (floats p1) "online parameters"

        testCase "with 4 environments the replay ratio is the config's over agent steps summed over environments, and returns are kept apart" <| fun () ->
            let config = { DqnConfig.defaults with LearningStarts = 100; TrainFrequency = 4; GradientSteps = 1; BatchSize = 32; EvalInterval = 0 }
            use agent = new Agent(config, 4, 2)
            let episodes = ResizeArray()
            let summary = agent.Learn(cartPoles 4, 1_000L, observer = (function EpisodeEnded e -> episodes.Add e | _ -> ()))
            // 1 update per 4 agent steps once more than 100 were taken: steps 104, 108, ..., 1000.
            Expect.equal (summary.Steps, summary.Updates) (1_000L, 225L) "steps and updates"
            Expect.isGreaterThan episodes.Count 8 "episodes ended"
            for e in episodes do
                // CartPole pays 1 per step: an episode's return is its own length, whatever the other environments did.
                Expect.equal e.Return (float e.Length) $"episode {e.Episode}: return = length"
                Expect.isLessThanOrEqual e.Updates (max 0L ((e.Step - 100L) / 4L)) $"episode {e.Episode}: updates granted by its step"
            Expect.isLessThanOrEqual (episodes |> Seq.sumBy (fun e -> int64 e.Length)) summary.Steps "episode lengths within the steps"

        testCase "DQN walks the shortest path in GridWorld-v0 learning from 4 environments at once" <| fun () ->
            use agent = new Agent(gridWorldConfig, 25, 4)
            let env = SyncVectorEnvironment(4, fun () -> GridWorldEnvironment() :> IEnvironment)
            agent.Learn(env, 3_000L) |> ignore
            let result = agent.Evaluate(GridWorldEnvironment(), 1)
            Expect.equal (result.Returns[0], result.Lengths[0]) (1.0, 8) "greedy return and episode length"

        testCase "DRQN refuses a vector of more than one environment, naming NumEnvs" <| fun () ->
            use agent = new Agent({ DqnConfig.preset "drqn" with EvalInterval = 0 }, 2, 2)
            let env = SyncVectorEnvironment(2, fun () -> MaskedCartPoleEnvironment() :> IEnvironment)
            let e = Expect.wantThrows<ArgumentException> (fun () -> agent.Learn(env, 10L) |> ignore) "ArgumentException"
            Expect.equal e.ParamName "env" "e.ParamName"
            Expect.stringContains e.Message "NumEnvs = 2" "e.Message"
    ]
