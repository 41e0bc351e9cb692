/// Ape-X (Horgan et al. 2018) on Akka.NET: the exploration formula, the explicit message bytes, the actors' initial
/// priorities, the learner's replay ratio, and whole runs: a learner with two actor nodes in this process, two actor
/// processes over loopback learning CartPole, and an actor process killed and replaced mid-run.
module Dqn.Fun.Tests.ApeXTests

open System
open System.IO
open System.Text.Json
open System.Threading
open Akka.Actor
open Akka.Configuration
open Expecto
open FsCheck
open FsCheck.FSharp
open TorchSharp
open Dqn.Fun
open Dqn.Fun.ApeX
open Dqn.Fun.Tests.TestConfig

/// An actor system configured as an Ape-X node (its serializer bindings), for the serialization tests.
let private withNodeSystem (f: ActorSystem -> unit) =
    use system = ActorSystem.Create(ApeXConfig.SystemName, ConfigurationFactory.ParseString(ApeXCluster.hocon "127.0.0.1" null 0 "test"))
    try f system finally system.Terminate().Wait(TimeSpan.FromSeconds 10.0) |> ignore

let private smallFloats n = Gen.arrayOfLength n (Gen.choose (-1000, 1000) |> Gen.map (fun i -> float32 i / 7.0f))

let private experienceGen =
    gen {
        let! k = Gen.choose (0, 6)
        let! d = Gen.choose (1, 5)
        let! observations = smallFloats (k * d)
        let! next = smallFloats (k * d)
        let! actions = Gen.arrayOfLength k (Gen.choose (0, 5))
        let! returns = smallFloats k
        let! terminated = Gen.arrayOfLength k (Gen.elements [ true; false ])
        let! nsteps = Gen.arrayOfLength k (Gen.choose (1, 3))
        let! errors = smallFloats k
        let! episodes = Gen.choose (0, 3)
        let! episodeReturns = Gen.arrayOfLength episodes (Gen.choose (0, 500) |> Gen.map float)
        let! episodeLengths = Gen.arrayOfLength episodes (Gen.choose (1, 500))
        let! actor = Gen.choose (0, 63)
        let! steps = Gen.choose (0, 400)
        return
            { ActorId = actor
              Steps = steps
              ObservationSize = d
              Observations = observations
              Actions = actions
              Returns = returns
              NextObservations = next
              Terminated = terminated
              NSteps = nsteps
              TdErrors = errors
              EpisodeReturns = episodeReturns
              EpisodeLengths = episodeLengths }
    }

let private atariExperienceGen =
    gen {
        let! k = Gen.choose (0, 5)
        let! streams = Gen.arrayOfLength k (Gen.choose (0, 3))
        let! starts = Gen.arrayOfLength k (Gen.elements [ true; false ])
        let! actions = Gen.arrayOfLength k (Gen.choose (0, 17))
        let! rewards = smallFloats k
        let! terminated = Gen.arrayOfLength k (Gen.elements [ true; false ])
        let! truncated = Gen.arrayOfLength k (Gen.elements [ true; false ])
        let! errors = smallFloats k
        let! pixels = Gen.arrayOfLength (k * 84 * 84) (Gen.choose (0, 255) |> Gen.map byte)
        let! games = Gen.choose (0, 2)
        let! scores = Gen.arrayOfLength games (Gen.choose (0, 864) |> Gen.map float)
        let! lengths = Gen.arrayOfLength games (Gen.choose (1, 27_000))
        let! frames = Gen.choose (0, 10_000)
        return
            { ActorId = 1
              Steps = 4 * k
              Frames = int64 frames
              Streams = streams
              Starts = starts
              Actions = actions
              Rewards = rewards
              Terminated = terminated
              Truncated = truncated
              TdErrors = errors
              Frames84 = pixels
              EpisodeReturns = scores
              EpisodeLengths = lengths }
    }

let private atariWelcome: Gen<ApeXAtari option> =
    Gen.elements [
        None
        Some
            { Game = "breakout"
              Rom = "/roms/breakout.bin"
              Settings = Atari.AtariSettings.machado
              RepeatActionProbability = 0.25
              Optimizer = Atari.Adam 1.5e-4 }
        Some
            { Game = "pong"
              Rom = null
              Settings = Atari.AtariSettings.nature
              RepeatActionProbability = 0.0
              Optimizer = Atari.RmsProp(0.95, 0.01, true) }
    ]

let private messageGen: Gen<IApeXMessage> =
    Gen.oneof [
        experienceGen |> Gen.map (fun e -> e :> IApeXMessage)
        atariExperienceGen |> Gen.map (fun e -> e :> IApeXMessage)
        Gen.choose (0, 9) |> Gen.map (fun i -> { Register.ActorId = i } :> IApeXMessage)
        Gen.zip (Gen.choose (0, 9)) (Gen.choose (0, 1_000_000)) |> Gen.map (fun (i, v) -> { ActorId = i; Have = int64 v } :> IApeXMessage)
        Gen.arrayOf (Gen.choose (0, 255) |> Gen.map byte) |> Gen.map (fun b -> { Version = 42L; Bytes = b } :> IApeXMessage)
        Gen.elements [ "done"; ""; "ε reached — stop" ] |> Gen.map (fun r -> { Reason = r } :> IApeXMessage)
        Gen.choose (0, 100_000) |> Gen.map (fun r -> { Received = int64 r } :> IApeXMessage)
        Gen.zip (Gen.arrayOf (Gen.choose (0, 255) |> Gen.map byte)) atariWelcome
        |> Gen.map (fun (b, atari) ->
            { ActorId = 1
              Actors = 4
              EnvironmentId = "CartPole-v1"
              Envs = 2
              Epsilon = 0.4 ** (1.0 + 7.0 / 3.0)
              Hidden = [| 64; 32 |]
              Dueling = true
              NStep = 3
              Gamma = 0.99
              SendInterval = 50
              ParameterInterval = 100
              MaxInFlight = 2
              Seed = 7
              // A null ROM comes back as "" (strings are written as UTF-8 bytes).
              Atari = atari |> Option.map (fun a -> { a with Rom = (if isNull a.Rom then "" else a.Rom) })
              Parameters = { Version = 3L; Bytes = b } }
            :> IApeXMessage)
    ]

/// Reads the summary.json of an apex run.
let private summaryOf (dir: string) = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "summary.json"))).RootElement

[<Tests>]
let tests =
    testList "ApeX" [
        testPropertyWithConfig fsCheck "actor i of N explores with ε^(1 + α·i/(N−1)), ε for a lone actor" (
            Prop.forAll (Arb.fromGen (Gen.zip (Gen.choose (1, 64)) (Gen.choose (0, 63)))) (fun (n, i0) ->
                let i = i0 % n
                let expected = if n = 1 then 0.4 else Math.Pow(0.4, 1.0 + 7.0 * float i / float (n - 1))
                abs (ApeXConfig.actorEpsilon 0.4 7.0 i n - expected) < 1e-15))

        testCase "the paper's endpoints: actor 0 explores with ε = 0.4, actor N−1 with 0.4^8" <| fun () ->
            Expect.floatClose Accuracy.high (ApeXConfig.actorEpsilon 0.4 7.0 0 8) 0.4 "actor 0"
            Expect.floatClose Accuracy.high (ApeXConfig.actorEpsilon 0.4 7.0 7 8) (0.4 ** 8.0) "actor N−1"
            Expect.throwsT<ArgumentOutOfRangeException> (fun () -> ApeXConfig.actorEpsilon 0.4 7.0 8 8 |> ignore) "i = N"

        testPropertyWithConfig fsCheck "the model's rate is the least of the actors', the learner's and the network's bounds, and never falls as actors are added" (
            let costs =
                gen {
                    let! actor = Gen.choose (1, 100_000)
                    let! ingestUs = Gen.choose (0, 100)
                    let! updateMs = Gen.choose (0, 50)
                    let! spu = Gen.elements [ 0.0; 1.0; 4.0 ]
                    let! bytes = Gen.choose (0, 100_000)
                    let! parameterBytes = Gen.choose (0, 10_000_000)
                    let! gbit = Gen.elements [ 0.1; 1.0; 10.0 ]
                    return
                        { ActorStepsPerSecond = float actor
                          IngestSecondsPerStep = float ingestUs * 1e-6
                          UpdateSeconds = float updateMs * 1e-3
                          StepsPerUpdate = spu
                          BytesInPerStep = float bytes
                          ParameterBytes = float parameterBytes
                          ParameterInterval = 100.0
                          BandwidthBytesPerSecond = gbit * 1.25e8 }
                }
            Prop.forAll (Arb.fromGen costs) (fun c ->
                let rows = ApeXModel.table c 64
                let reference (n: int) =
                    let learnerPerStep = c.IngestSecondsPerStep + (if c.StepsPerUpdate > 0.0 then c.UpdateSeconds / c.StepsPerUpdate else 0.0)
                    let learner = if learnerPerStep > 0.0 then 1.0 / learnerPerStep else infinity
                    let perStep = max c.BytesInPerStep (c.ParameterBytes / 100.0)
                    let network = if perStep > 0.0 then c.BandwidthBytesPerSecond / perStep else infinity
                    min (float n * c.ActorStepsPerSecond) (min learner network)
                List.map (fun (r: ApeXModelRow) -> r.Actors) rows = [ 1; 2; 4; 8; 16; 32; 64 ]
                && rows |> List.forall (fun (r: ApeXModelRow) -> r.StepsPerSecond = reference r.Actors)
                && rows |> List.pairwise |> List.forall (fun (a: ApeXModelRow, b: ApeXModelRow) -> b.StepsPerSecond >= a.StepsPerSecond)
                && rows |> List.forall (fun (r: ApeXModelRow) -> (r.Bottleneck = "actors") = (r.StepsPerSecond = r.ActorBound))))

        testCase "a config Ape-X cannot run is refused, naming the field" <| fun () ->
            let d = ApeXConfig.defaults
            let refused (c: ApeXConfig) (field: string) =
                let e = Expect.throwsC (fun () -> ApeXConfig.validate c |> ignore) id
                Expect.stringContains e.Message field $"the message names {field}"
            refused { d with Dqn = { d.Dqn with Prioritized = false } } "Prioritized"
            refused { d with Dqn = { d.Dqn with Head = ValueHead.Categorical } } "Head"
            refused { d with Dqn = { d.Dqn with Noisy = true } } "Noisy"
            refused { d with Actors = 0 } "Actors"
            refused { d with EnvironmentId = "Pong-v5" } "Pong-v5"
            refused { d with Port = 70_000 } "Port"
            refused { d with Epsilon = 1.5 } "Epsilon"
            let atari = ApeXConfig.atari (Atari.AtariConfig.preset "dopamine") "breakout" null
            ApeXConfig.validate atari |> ignore
            refused { atari with Atari = atari.Atari |> Option.map (fun a -> { a with Game = " " }) } "Game"
            refused { atari with Atari = atari.Atari |> Option.map (fun a -> { a with RepeatActionProbability = 1.0 }) } "RepeatActionProbability"
            refused (ApeXConfig.atari (Atari.AtariConfig.preset "rainbow") "breakout" null) "Head"

        testCase "every Ape-X message is bound to ApeXSerializer and comes back equal" <| fun () ->
            withNodeSystem (fun system ->
                let sample = Gen.sample 200 messageGen
                for m in sample do
                    let serializer = system.Serialization.FindSerializerFor m
                    Expect.isTrue (serializer :? ApeXSerializer) $"{m.GetType().Name} goes through {serializer.GetType().Name}"
                    let s = serializer :?> ApeXSerializer
                    let back = s.FromBinary(s.ToBinary m, s.Manifest m)
                    Expect.equal back (box m) $"{m.GetType().Name} round trip")

        testCase "a truncated, padded or unknown message is a SerializationException naming what is wrong" <| fun () ->
            withNodeSystem (fun system ->
                let s = system.Serialization.FindSerializerFor(Gen.sample 1 experienceGen |> Array.head) :?> ApeXSerializer
                for m in Gen.sample 20 messageGen do
                    let bytes = s.ToBinary m
                    let manifest = s.Manifest m
                    for cut in 0 .. bytes.Length - 1 do
                        Expect.throwsT<Runtime.Serialization.SerializationException>
                            (fun () -> s.FromBinary(bytes[.. cut - 1], manifest) |> ignore)
                            $"{manifest} cut to {cut} of {bytes.Length} bytes"
                    let e = Expect.throwsC (fun () -> s.FromBinary(Array.append bytes [| 0uy |], manifest) |> ignore) id
                    Expect.stringContains e.Message "left over" "padding"
                Expect.throwsT<Runtime.Serialization.SerializationException> (fun () -> s.FromBinary([| 0uy |], "System.Diagnostics.Process") |> ignore) "an unknown manifest"
                // An experience whose arrays disagree in length is refused even when every array is well formed.
                let e = Gen.sample 1 experienceGen |> Array.head
                let bad = { e with Actions = Array.append e.Actions [| 0 |] }
                Expect.throwsT<Runtime.Serialization.SerializationException> (fun () -> s.FromBinary(s.ToBinary bad, "experience") |> ignore) "ragged arrays"
                let a = Gen.sample 1 atariExperienceGen |> Array.head
                let bad = { a with Frames84 = Array.append a.Frames84 [| 0uy |] }
                let e = Expect.throwsC (fun () -> s.FromBinary(s.ToBinary bad, "atari-experience") |> ignore) id
                Expect.stringContains e.Message "frame bytes" "an Atari experience whose frames do not fill its records")

        testCase "a transition added with a TD error gets the priority (|δ| + ε)^α and raises the maximum" <| fun () ->
            let buffer = PrioritizedReplayBuffer(8, 2, 0.6, 1e-6, 0)
            let o = [| 1.0f; 2.0f |]
            buffer.Add(o, 0, 1.0f, o, false, 3, -2.5f)
            Expect.floatClose Accuracy.high (buffer.Priority 0) (Math.Pow(2.5 + 1e-6, 0.6)) "priority of δ = −2.5"
            Expect.floatClose Accuracy.high buffer.MaxPriority (Math.Pow(2.5 + 1e-6, 0.6)) "the maximum rose"
            buffer.Add(o, 1, 0.0f, o, true, 1, 0.0f)
            Expect.floatClose Accuracy.high (buffer.Priority 1) (Math.Pow(1e-6, 0.6)) "priority of δ = 0"
            Expect.floatClose Accuracy.high buffer.MaxPriority (Math.Pow(2.5 + 1e-6, 0.6)) "the maximum stays"
            Expect.throwsT<ArgumentException> (fun () -> buffer.Add(o, 0, 0.0f, o, false, 1, nanf)) "NaN δ"
            Expect.equal buffer.Count 2 "nothing stored by the refused add"

        testPropertyWithConfig fsCheck "the actors' initial priorities equal R + γᵐ(1 − done)·max Q(s′) − Q(s, a) row by row" (
            Prop.forAll (Arb.fromGen (Gen.zip (Gen.choose (1, 6)) (Gen.choose (0, 1000)))) (fun (k, seed) ->
                let config = { DqnConfig.defaults with Hidden = [ 8 ] }
                use network = QNetworks.createFor config (Torso.Mlp(3, [ 8 ])) 2 torch.CPU
                let rng = Random seed
                let floats n = Array.init n (fun _ -> float32 (rng.NextDouble() * 2.0 - 1.0))
                let observations, next = floats (3 * k), floats (3 * k)
                let actions = Array.init k (fun _ -> rng.Next 2)
                let returns = floats k
                let discounts = Array.init k (fun _ -> if rng.Next 3 = 0 then 0.0f else 0.97f)
                let errors = ApeXActing.tdErrors network torch.CPU 3 observations actions returns discounts next
                let q (o: float32[]) =
                    use _ = torch.no_grad ()
                    use x = Tensors.ofArray o [| 1L; 3L |] torch.CPU
                    use y = network.call x
                    y.data<float32>().ToArray()
                errors.Length = k
                && Seq.forall
                    (fun j ->
                        let qs = q observations[3 * j .. 3 * j + 2]
                        let qn = q next[3 * j .. 3 * j + 2]
                        let expected = float returns[j] + float discounts[j] * float (Array.max qn) - float qs[actions[j]]
                        abs (float errors[j] - expected) < 1e-5)
                    [ 0 .. k - 1 ]))

        testCase "a learner and two actor nodes in this process: the replay ratio held, both actors heard, every step counted" <| fun () ->
            let config =
                { ApeXConfig.defaults with
                    TotalSteps = 6_000L
                    Dqn = { ApeXConfig.defaults.Dqn with EvalInterval = 2_500; EvalEpisodes = 3 } }
            let registered = Collections.Concurrent.ConcurrentBag<int>()
            let observer (e: ApeXEvent) =
                match e with
                | ActorRegistered i -> registered.Add i
                | _ -> ()
            use learner = new ApeXLearner(config, Action<ApeXEvent> observer)
            let actors =
                [| for i in 0 .. 1 ->
                       Tasks.Task.Run(fun () -> ApeXActorNode.run learner.Address i "127.0.0.1" null 0 CancellationToken.None) |]
            let summary = learner.Run()
            let reports = actors |> Array.map (fun t -> t.Result)
            Expect.equal summary.Steps 6_000L "the budget, in whole messages of 50 steps"
            // Agent's grants: every agent step past LearningStarts (1000) with TrainFrequency 1 grants one update.
            Expect.equal summary.Updates 5_000L "updates = (steps − LearningStarts) / TrainFrequency · GradientSteps"
            Expect.equal (summary.ActorSteps |> Array.map fst) [| 0; 1 |] "both actors' steps were stored"
            Expect.equal (summary.ActorSteps |> Array.sumBy snd) summary.Steps "the per-actor counts sum to the total"
            Expect.equal (Set.ofSeq registered) (Set.ofList [ 0; 1 ]) "both actors registered"
            Expect.equal (summary.Evaluations |> List.map (fun e -> e.Step)) [ 2_500L; 5_000L; 6_000L ] "evaluations every 2500 steps and at the end"
            for r in reports do
                Expect.stringContains r.Reason "budget" $"actor {r.ActorId} stopped by the learner"
                Expect.isGreaterThanOrEqual r.Steps (summary.ActorSteps |> Array.find (fst >> (=) r.ActorId) |> snd) $"actor {r.ActorId} took at least what was stored"
                Expect.isGreaterThan r.ParameterLoads 0 $"actor {r.ActorId} loaded fresh parameters"

        testCase "a learner's checkpoint resumes with its networks, replay and counters, and the run goes on to the whole budget" <| fun () ->
            CliTests.withTempFolder (fun dir ->
                let checkpoints = Path.Combine(dir, "checkpoints")
                let config =
                    { ApeXConfig.defaults with
                        TotalSteps = 3_000L
                        Dqn = { ApeXConfig.defaults.Dqn with EvalInterval = 0; EvalEpisodes = 2 } }
                let runWith (learner: ApeXLearner) =
                    let actors =
                        [| for i in 0 .. 1 ->
                               Tasks.Task.Run(fun () -> ApeXActorNode.run learner.Address i "127.0.0.1" null 0 CancellationToken.None) |]
                    let summary = learner.Run(checkpoints = checkpoints)
                    for a in actors do
                        a.Wait()
                    summary
                let first, replayCount =
                    use learner = new ApeXLearner(config, null)
                    let s = runWith learner
                    learner.SaveModel(Path.Combine(dir, "first.safetensors"))
                    s, learner.ReplayCount
                Expect.equal (first.Steps, first.Updates) (3_000L, 2_000L) "the first run's counts"
                Expect.equal (TrainingCheckpoint.list checkpoints |> Array.map Path.GetFileName) [| "step-000000003000" |] "a checkpoint at the end"
                let other = { config with Dqn = { config.Dqn with Gamma = 0.9 } }
                let e = Expect.throwsC (fun () -> ApeXLearner.Resume(checkpoints, other, null) |> ignore) id
                Expect.stringContains e.Message "Gamma" "another config is refused, naming the field"
                use resumed = ApeXLearner.Resume(checkpoints, { config with TotalSteps = 5_000L }, null)
                Expect.equal (resumed.Steps, resumed.Updates, resumed.ReplayCount) (3_000L, 2_000L, replayCount) "counts and replay back"
                resumed.SaveModel(Path.Combine(dir, "resumed.safetensors"))
                Expect.equal (File.ReadAllBytes(Path.Combine(dir, "resumed.safetensors"))) (File.ReadAllBytes(Path.Combine(dir, "first.safetensors"))) "the online network back, byte for byte"
                let second = runWith resumed
                Expect.equal (second.Steps, second.Updates) (5_000L, 4_000L) "the run went on to its whole budget, LearningStarts not applied again")

        testCase "two actor processes and a learner over loopback learn CartPole-v1 (greedy ≥ 475) within the single agent's 30k steps" <| fun () ->
            CliTests.withTempFolder (fun dir ->
                let out = Path.Combine(dir, "apex")
                let r = CliTests.benchWithin (TimeSpan.FromMinutes 6.0) dir [ "apex"; "--actors"; "2"; "--steps"; "30000"; "--seed"; "0"; "--out"; out ]
                Expect.equal r.Code 0 $"exit code (stderr: {r.Stderr})"
                let s = summaryOf out
                Expect.equal (s.GetProperty("agent_steps").GetInt64()) 30_000L "the budget"
                Expect.equal (s.GetProperty("max_live_actors").GetInt32()) 2 "two actor processes were live"
                for id in [ "0"; "1" ] do
                    Expect.isGreaterThan (s.GetProperty("actor_steps").GetProperty(id).GetInt64()) 1_000L $"actor {id} contributed"
                Expect.isGreaterThanOrEqual (s.GetProperty("best_mean_return").GetDouble()) 475.0 "greedy evaluation reached 475"
                Expect.isTrue (File.Exists(Path.Combine(out, "model.safetensors"))) "the model was written")

        testCase "an actor process killed mid-run: the learner and the other actor go on, the live count drops, a replacement joins and contributes" <| fun () ->
            CliTests.withTempFolder (fun dir ->
                let out = Path.Combine(dir, "apex")
                let r =
                    CliTests.benchWithin (TimeSpan.FromMinutes 5.0) dir [
                        // The replacement needs a few seconds to start and join: the budget leaves it 18k steps (~10 s here).
                        "apex"; "--actors"; "2"; "--steps"; "30000"; "--kill-actor-at"; "4000"; "--restart-actor-at"; "12000"; "--out"; out
                    ]
                Expect.equal r.Code 0 $"exit code (stderr: {r.Stderr})"
                let s = summaryOf out
                Expect.equal (s.GetProperty("agent_steps").GetInt64()) 30_000L "the learner reached its budget"
                let killed = s.GetProperty("killed_at").GetInt64()
                let restarted = s.GetProperty("restarted_at").GetInt64()
                let live = [ for e in s.GetProperty("live_actors").EnumerateArray() -> e.GetProperty("agent_steps").GetInt64(), e.GetProperty("live").GetInt32() ]
                Expect.isTrue (live |> List.exists (fun (at, n) -> at >= killed && n = 1)) $"the live count dropped to 1 after the kill at {killed}: {live}"
                Expect.isTrue (live |> List.exists (fun (at, n) -> at >= restarted && n = 2)) $"and rose to 2 after the restart at {restarted}: {live}"
                Expect.equal (s.GetProperty("registrations").GetInt32()) 3 "the replacement registered"
                Expect.isGreaterThan (s.GetProperty("actor_steps_after_restart").GetInt64()) 0L "the replacement's experience was stored")
    ]
