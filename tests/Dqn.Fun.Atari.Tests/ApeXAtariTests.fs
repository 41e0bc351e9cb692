/// Ape-X on Atari (Horgan et al. 2018): Atari actors whose records rebuild their frames in the learner's prioritized
/// frame replay, and a learner with two actor nodes in this process over the bandit game (AtariAgentTests.BanditAle),
/// which holds the replay ratio and learns the game.
module Dqn.Fun.Atari.Tests.ApeXAtariTests

open System
open System.IO
open System.Threading
open Expecto
open TorchSharp
open Dqn.Fun
open Dqn.Fun.Atari
open Dqn.Fun.ApeX
open Dqn.Fun.Atari.Tests.AtariAgentTests

let private plain = { AtariSettings.nature with NoopMaxFrames = 0; FireOnReset = false; TerminalOnLifeLoss = false }

/// Bandits of 400-frame games instead of the ALE: env i of an actor whose emulator seed is s plays BanditAle(s + i).
let private bandits: ApeXEmulators.Factory =
    fun _ envs seed -> AtariVectorEmulator.ofEmulators (Array.init envs (fun i -> AtariEmulator.ofAle (BanditAle(seed + i, 400))))

/// The bandit on Dopamine's schedule shrunk to a few thousand agent steps, with Ape-X's learner.
let private config (totalSteps: int64) =
    let preset = { AtariConfig.preset "dopamine" with Environment = plain; RepeatActionProbability = 0.0 }
    let c = ApeXConfig.atari preset "bandit" null
    { c with
        Actors = 2
        EnvsPerActor = 2
        TotalSteps = totalSteps
        SendInterval = 25
        ParameterInterval = 25
        PublishInterval = 5
        Dqn =
            { c.Dqn with
                BufferSize = 4_000
                LearningStarts = 200
                TrainFrequency = 2
                TargetUpdateInterval = 50
                LearningRate = Schedule.constant 1e-3
                Gamma = 0.5
                PriorityBeta = Schedule.linear 0.4 1.0 totalSteps
                EvalInterval = 0
                Seed = 3 } }

[<Tests>]
let tests =
    testList "ApeX on Atari" [
        testCase "an actor's records rebuild its frames in the frame replay, and its TD errors become the priorities" <| fun () ->
            let c = config 10_000L
            let welcome: Welcome =
                { ActorId = 1
                  Actors = 2
                  EnvironmentId = c.EnvironmentId
                  Envs = 2
                  Epsilon = 0.4
                  Hidden = [||]
                  Dueling = false
                  NStep = 3
                  Gamma = c.Dqn.Gamma
                  SendInterval = 25
                  ParameterInterval = 25
                  MaxInFlight = 2
                  Seed = c.Dqn.Seed
                  Atari = c.Atari
                  Parameters =
                    use n = QNetworks.createFor c.Dqn (Torso.NatureCnn 4) 6 torch.CPU
                    { Version = 0L; Bytes = Safetensors.serialize (Checkpoint.namedParameters n) Map.empty } }
            use learning = new AtariLearning(c, c.Atari.Value, 6)
            let side = learning :> ILearningSide
            use acting = new AtariActing(welcome, c.Atari.Value, bandits)
            let actor = acting :> IActingSide
            let mutable games = 0
            // 250 rounds of 2 envs: each 400-frame game is 100 agent steps, so episodes end and start again in the middle.
            for round in 1..250 do
                games <- games + actor.Round 0.4
                if round % 50 = 0 then
                    let m = actor.Message 100 :?> AtariExperience
                    actor.Sent()
                    Expect.equal m.Frames84.Length (m.Count * 84 * 84) "a frame per record"
                    side.Store m
            Expect.equal games 4 "two games per env"
            // Every step has left its window (the episodes ended at steps 100 and 200), but the last 50 rounds' 2 · 2.
            Expect.equal learning.Replay.Count (2 * (250 - 2)) "the records' transitions"
            let emulatorSeed = c.Dqn.Seed + 1_000 * (1 + 1)
            let region = learning.Replay.Capacity / 4
            for env in 0..1 do
                let expected = banditStreamFrames plain (emulatorSeed + env) 248
                let first = (2 + env) * region
                let stored = [ for k in 0 .. expected.Length - 1 -> learning.Replay.Frame(first + k) ]
                Expect.isTrue (stored = expected) $"env {env}: the {expected.Length} frames of its stream, in order"
                // Priorities came from the actor's TD errors: (|δ| + ε)^α, not the initial maximum of 1.
                let priorities = [ for k in 0..200 -> learning.Replay.Priority(first + k) ] |> List.filter (fun p -> p > 0.0)
                Expect.isGreaterThan priorities.Length 150 $"env {env}: the stored transitions have priorities"
                Expect.isTrue (priorities |> List.exists (fun p -> abs (p - 1.0) > 1e-3)) $"env {env}: priorities from TD errors"

        testCase "a learner and two Atari actor nodes in this process: the replay ratio held, both actors stored, the bandit learned" <| fun () ->
            let c = config 2_400L
            let learner = ApeXLearner.Start(c, null, bandits)
            let summary, model =
                use _ = learner
                let actors =
                    [| for i in 0..1 ->
                           Tasks.Task.Run(fun () -> ApeXActorNode.runWith bandits null learner.Address i "127.0.0.1" null 0 CancellationToken.None) |]
                let summary = learner.Run()
                for a in actors do
                    Expect.stringContains a.Result.Reason "budget" "the actor was stopped by the learner"
                let model = Path.Combine(Path.GetTempPath(), $"dqnfun-apex-atari-{Guid.NewGuid():N}.safetensors")
                learner.SaveModel model
                summary, model
            try
                Expect.equal summary.Steps 2_400L "the budget, in whole messages of 2 · 25 steps"
                Expect.equal summary.Updates ((2_400L - 200L) / 2L) "updates = (steps − LearningStarts) / TrainFrequency"
                Expect.equal (summary.ActorSteps |> Array.map fst) [| 0; 1 |] "both actors' steps were stored"
                Expect.isGreaterThan summary.Episodes 10 "games finished and were scored (Machado's protocol)"
                let preset = { AtariConfig.preset "dopamine" with Environment = plain; RepeatActionProbability = 0.0 }
                let agent, _ = AtariAgent.Load(model, { preset with Dqn = c.Dqn })
                use _ = agent
                let scores = agent.Evaluate(AtariEnvironment(BanditAle(99, 400), plain, 2), 2, 0.0, 5)
                for s in scores do
                    Expect.isGreaterThanOrEqual s 360.0 "the learner's greedy network plays the bandit (of 400)"
            finally
                File.Delete model
    ]
