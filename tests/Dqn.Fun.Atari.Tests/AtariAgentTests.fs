module Dqn.Fun.Atari.Tests.AtariAgentTests

open System
open System.IO
open Expecto
open Dqn.Fun
open Dqn.Fun.Atari
open TorchSharp
open Dqn.Fun.Tests

let private rgbLength = 210 * 160 * 3

/// A contextual bandit drawn as an Atari screen: before each 4-frame block the screen shows which half is lit
/// (left or right, drawn from a seeded generator); a frame pays 1 when the action held is RIGHT (id 3) under a
/// lit right half or LEFT (id 4) under a lit left half. Screens between blocks are black, so the max-pool of a
/// step's last two frames shows the next block's side. The game ends after `gameFrames` frames.
type BanditAle(seed: int, gameFrames: int) =
    let mutable frame = 0
    let mutable rng = Random(seed)
    let mutable sides = Collections.Generic.List<bool>()
    let side (block: int) =
        while sides.Count <= block do
            sides.Add(rng.Next 2 = 1)
        sides[block]
    member val Resets = 0 with get, set
    interface IAle with
        member _.MinimalActionSet = [| 0; 1; 3; 4; 11; 12 |]
        member _.Act action =
            frame <- frame + 1
            let right = side ((frame - 1) / 4)
            if (right && action = 3) || (not right && action = 4) then 1 else 0
        member _.Lives() = 0
        member _.IsGameOver() = frame >= gameFrames
        member _.GetScreenRgb buffer =
            Array.Clear buffer
            if frame % 4 = 0 then
                let right = side (frame / 4)
                for y in 0..209 do
                    for x in (if right then 80 else 0) .. (if right then 159 else 79) do
                        let i = (y * 160 + x) * 3
                        buffer[i] <- 200uy
                        buffer[i + 1] <- 200uy
                        buffer[i + 2] <- 200uy
        member this.ResetGame() =
            this.Resets <- this.Resets + 1
            frame <- 0
            sides.Clear()

let private plain = { AtariSettings.nature with NoopMaxFrames = 0; FireOnReset = false; TerminalOnLifeLoss = false }

/// A small, fast config: the Dopamine schedule shrunk to a few hundred agent steps.
let private small (preset: string) =
    let c = AtariConfig.preset preset
    { c with
        Dqn =
            { c.Dqn with
                BufferSize = 2_000
                BatchSize = 16
                LearningStarts = 100
                TrainFrequency = 2
                TargetUpdateInterval = 50
                Exploration = Schedule.linear 1.0 0.05 400L
                LearningRate = Schedule.constant 1e-3
                Seed = 3 }
        Optimizer = Adam 1.5e-4
        Environment = plain
        Evaluation = Machado 5
        EvalIntervalFrames = 1_000L
        CheckpointIntervalFrames = 2_000L }

let private learnWith (overlap: bool) (config: AtariConfig) (frames: int64) =
    let agent = new AtariAgent(config, 6)
    let env = AtariEnvironment(BanditAle(7, 400), config.Environment, 1)
    let events = Collections.Generic.List<AtariEvent>()
    let summary = agent.Learn(env, frames, observer = events.Add, overlap = overlap)
    agent, env, summary, events

let private learn config frames = learnWith false config frames

/// A vector of `n` bandits (seeds 7, 8, ...) of 400-frame games, stepped in this process.
let private bandits (config: AtariConfig) (n: int) =
    AtariVectorEnvironment(AtariVectorEmulator.ofEmulators (Array.init n (fun i -> AtariEmulator.ofAle (BanditAle(7 + i, 400)))), config.Environment, 1)

/// The frames a frame replay stream receives from a training env over BanditAle(banditSeed, 400), in write order, for
/// `steps` agent steps: the bandit's screens do not depend on the actions, so a lone environment over the same bandit,
/// stepped with any action, shows them (a game's first stack's newest frame, then every step's newest frame; a new
/// game after each end).
let banditStreamFrames (settings: AtariSettings) (banditSeed: int) (steps: int) =
    let env = AtariEnvironment(BanditAle(banditSeed, 400), settings, 1)
    let newest (stack: byte[]) = stack[stack.Length - 84 * 84 ..]
    [ yield newest (env.Reset())
      for _ in 1..steps do
          let s = env.Step 0
          yield newest s.Observation
          if s.Terminated || s.Truncated then yield newest (env.Reset()) ]

/// The frames env i of `bandits` writes to its replay stream.
let private streamFrames (config: AtariConfig) (i: int) (steps: int) = banditStreamFrames config.Environment (7 + i) steps

[<Tests>]
let tests =
    testList "AtariAgent" [
        testCase "metrics.csv's wall_seconds go on across a resume, and a file written before that column gets it" <| fun () ->
            let dir = Path.Combine(Path.GetTempPath(), "dqnfun-atari-csv-" + Guid.NewGuid().ToString "N")
            Directory.CreateDirectory dir |> ignore
            try
                let path = Path.Combine(dir, "metrics.csv")
                let game (frames: int64) =
                    GameEnded
                        { Frames = frames; AgentSteps = frames / 4L; Updates = 0L; Game = 1; Return = 1.0; AgentStepsInGame = 10; Epsilon = 1.0
                          Loss = nan; MeanQ = nan; FramesPerSecond = 1.0; AgentStepsPerSecond = 1.0 }
                let wall (line: string) = float (Array.last (line.Split ','))
                let legacy =
                    "kind,frames,agent_steps,updates,game,return,agent_steps_in_game,epsilon,loss,mean_q,frames_per_second,agent_steps_per_second,protocol,eval_mean,eval_std,eval_games,human_normalized"
                File.WriteAllLines(path, [ legacy; "game,400,100,0,1,1,100,1,,,1,1,,,,,"; "game,900,225,0,2,1,125,1,,,1,1,,,,," ])
                (use w = new AtariMetricsCsvWriter(path, "pong", 400L)
                 w.Write(game 800L))
                let lines = File.ReadAllLines path
                Expect.equal lines[0] (legacy + ",wall_seconds") "the header gains wall_seconds"
                Expect.equal lines.Length 3 "the row past the checkpoint goes, the new one is appended"
                Expect.isTrue (lines[1].EndsWith ",") "an old row's wall_seconds is empty"
                // A run resumed from frame 800: its seconds go on from the last kept row's.
                File.WriteAllLines(path, Array.append lines [| "game,1200,300,0,3,1,100,1,,,1,1,,,,,,1000.0" |])
                (use w = new AtariMetricsCsvWriter(path, "pong", 1200L)
                 w.Write(game 1600L))
                let last = Array.last (File.ReadAllLines path)
                Expect.isTrue (wall last >= 1000.0 && wall last < 1100.0) $"wall_seconds {wall last} go on from 1000"
            finally
                Directory.Delete(dir, true)

        testCase "a vector of one learns exactly as the single environment: the same games, updates and parameters" <| fun () ->
            let config = small "dopamine"
            let single, _, s1, e1 = learn config 2_400L
            use single = single
            use vector = new AtariAgent(config, 6)
            let e2 = Collections.Generic.List<AtariEvent>()
            let s2 = vector.Learn(bandits config 1, 2_400L, observer = e2.Add)
            let rows (events: AtariEvent seq) =
                [ for e in events do
                      match e with
                      | GameEnded g -> yield sprintf "%d %d %d %d %g %d %g %d" g.Frames g.AgentSteps g.Updates g.Game g.Return g.AgentStepsInGame g.Epsilon (BitConverter.DoubleToInt64Bits g.Loss)
                      | Evaluated r -> yield sprintf "eval %d %d %s %A" r.Frames r.AgentSteps r.Protocol r.Returns
                      | CheckpointDue f -> yield sprintf "checkpoint %d" f
                      | Recovered _ -> yield "recovered" ]
            Expect.equal (rows e2) (rows e1) "events"
            Expect.equal (s2.Frames, s2.AgentSteps, s2.Updates, s2.Games) (s1.Frames, s1.AgentSteps, s1.Updates, s1.Games) "counts"
            for struct (name, p1), struct (_, p2) in Seq.zip (single.Network.named_parameters ()) (vector.Network.named_parameters ()) do
                Expect.isTrue (p1.data<float32>().ToArray() = p2.data<float32>().ToArray()) $"parameter {name}"

        testCase "from a vector of 3 environments each env's frames reach its own replay stream byte for byte, games scored per env" <| fun () ->
            let config = small "dopamine"
            use agent = new AtariAgent(config, 6)
            let games = Collections.Generic.List<AtariGameMetrics>()
            let summary = agent.Learn(bandits config 3, 2_400L, observer = (function GameEnded g -> games.Add g | _ -> ()))
            // 4 frames per agent step: 600 agent steps, 200 per env, 2 games of 100 steps each.
            Expect.equal (summary.Frames, summary.AgentSteps, summary.Games) (2_400L, 600L, 6) "frames, agent steps and games"
            // 1 update every 2 agent steps (summed over the envs) past the 100th: steps 102, 104, ..., 600.
            Expect.equal summary.Updates 250L "updates"
            for g in games do
                Expect.equal g.AgentStepsInGame 100 $"game {g.Game}: agent steps"
                Expect.isTrue (g.Return >= 0.0 && g.Return <= 400.0) $"game {g.Game}: score {g.Return}"
            let replay = agent.Replay.Value
            Expect.equal replay.Streams 3 "replay.Streams"
            Expect.equal agent.ReplayCount 600 "agent.ReplayCount"
            let region = replay.Capacity / 3
            for i in 0..2 do
                let expected = streamFrames config i 200
                let stored = [ for k in 0 .. expected.Length - 1 -> replay.Frame(i * region + k) ]
                Expect.isTrue (stored = expected) $"env {i}: the {expected.Length} frames of its stream"

        testCase "DQN learns the bandit from 4 environments at once" <| fun () ->
            let config = small "dopamine"
            use agent = new AtariAgent({ config with Dqn = { config.Dqn with Gamma = 0.5 } }, 6)
            agent.Learn(bandits config 4, 4_800L) |> ignore
            let scores = agent.Evaluate(AtariEnvironment(BanditAle(99, 400), config.Environment, 2), 2, 0.0, 5)
            for s in scores do Expect.isTrue (s >= 360.0) $"greedy score {s} < 360 of 400"

        testCase "a checkpoint of an agent that learned from 3 environments resumes with its 3 replay streams" <| fun () ->
            let config = small "dopamine"
            let dir = Path.Combine(Path.GetTempPath(), "dqnfun-atari-streams-" + Guid.NewGuid().ToString "N")
            try
                use agent = new AtariAgent(config, 6)
                agent.Learn(bandits config 3, 1_200L) |> ignore
                let folder = agent.SaveCheckpoint dir
                use resumed = AtariAgent.Resume(folder, config)
                let a, b = agent.Replay.Value, resumed.Replay.Value
                Expect.equal (b.Streams, b.Count) (3, a.Count) "streams and transitions"
                for slot in 0 .. a.Capacity - 1 do
                    if a.Frame slot <> b.Frame slot then failtest $"slot {slot}: frames differ"
                // Whole rounds of 3 agent steps: 480 frames are 40 rounds.
                let more = resumed.Learn(bandits config 3, 480L)
                Expect.equal more.AgentSteps 120L "the resumed agent learns on from 3 environments"
                let e = Expect.wantThrows<ArgumentException> (fun () -> resumed.Learn(bandits config 2, 400L) |> ignore) "another number of envs"
                Expect.stringContains e.Message "3 episode streams" "e.Message"
            finally
                if Directory.Exists dir then Directory.Delete(dir, true)

        testCase "the Nature preset holds the values of Mnih et al. 2015 with their units" <| fun () ->
            let c = AtariConfig.preset "nature"
            Expect.equal c.Optimizer (RmsProp(0.95, 0.01, true)) "c.Optimizer"
            Expect.equal c.Dqn.BufferSize 1_000_000 "c.Dqn.BufferSize"
            Expect.equal c.Dqn.BatchSize 32 "c.Dqn.BatchSize"
            Expect.equal c.Dqn.TrainFrequency 4 "c.Dqn.TrainFrequency"
            Expect.equal c.Dqn.TargetUpdateInterval 10_000 "c.Dqn.TargetUpdateInterval"
            Expect.equal c.Dqn.Loss TdLoss.Huber "c.Dqn.Loss"
            // ε 1 -> 0.1 over 1M frames = 250k agent steps at a frame skip of 4.
            Expect.floatClose (Accuracy.places 9) (Schedule.value c.Dqn.Exploration 125_000L) 0.55 "ε at agent step 125000"
            Expect.floatClose (Accuracy.places 9) (Schedule.value c.Dqn.Exploration 250_000L) 0.1 "ε at agent step 250000"
            Expect.equal c.RepeatActionProbability 0.0 "c.RepeatActionProbability"
            Expect.equal c.Evaluation (Nature 30) "c.Evaluation"
            let d = AtariConfig.describe c |> Map.ofList
            Expect.equal (d["target_update_period_agent_steps"]) "40000" "target_update_period_agent_steps"
            Expect.equal (d["epsilon_train_by_agent_step"]) "1 -> 0.1 linearly over 250000 agent steps" "epsilon_train_by_agent_step"
            Expect.equal (d["min_replay_history_agent_steps"]) "50000" "min_replay_history_agent_steps"
            Expect.equal (d["min_replay_history_frames"]) "200000" "min_replay_history_frames"
            Expect.equal (d["target_update_period_updates"]) "10000" "target_update_period_updates"
            let dop = AtariConfig.preset "dopamine"
            Expect.equal dop.RepeatActionProbability 0.25 "dop.RepeatActionProbability"
            Expect.equal dop.Dqn.Loss TdLoss.Mse "dop.Dqn.Loss (Dopamine's JAX dqn.gin)"
            Expect.equal dop.Evaluation (Machado 100) "dop.Evaluation"
            Expect.isFalse dop.Environment.TerminalOnLifeLoss "dop.Environment.TerminalOnLifeLoss"
            Expect.floatClose (Accuracy.places 9) (Schedule.value dop.Dqn.Exploration 250_000L) 0.01 "dopamine ε at agent step 250000"
            Expect.equal (int64 dop.Dqn.TargetUpdateInterval * int64 dop.Dqn.TrainFrequency) 8_000L "dopamine target update period in agent steps"

        testCase "every Atari preset validates, and bad fields are named" <| fun () ->
            for p in AtariConfig.presetNames do
                AtariConfig.validate (AtariConfig.preset p) |> ignore
            let e = Expect.wantThrows<ArgumentException> (fun () -> AtariConfig.preset "pong" |> ignore) "AtariConfig.preset \"pong\""
            Expect.stringContains e.Message "nature" "e.Message"
            let c = AtariConfig.preset "nature"
            let e = Expect.wantThrows<ArgumentOutOfRangeException> (fun () -> AtariConfig.validate { c with RepeatActionProbability = 1.5 } |> ignore) "RepeatActionProbability = 1.5"
            Expect.equal e.ParamName "RepeatActionProbability" "e.ParamName"
            let e = Expect.wantThrows<ArgumentOutOfRangeException> (fun () -> AtariConfig.validate { c with Evaluation = Nature 0 } |> ignore) "Evaluation = Nature 0"
            Expect.equal e.ParamName "Evaluation" "e.ParamName"

        testCase "human-normalized scores put the random policy at 0 and the human tester at 100" <| fun () ->
            for r in AtariScores.table do
                Expect.equal (AtariScores.humanNormalized r.Game r.Random) (Some 0.0) $"{r.Game}: the random policy"
                Expect.floatClose (Accuracy.places 9) ((AtariScores.humanNormalized r.Game r.Human).Value) 100.0 $"{r.Game}: the human tester"
            Expect.equal AtariScores.table.Length 7 "AtariScores.table.Length"
            // Mnih et al. 2015: Nature DQN on Breakout is 1327% of the human tester (Extended Data Table 2).
            Expect.floatClose (Accuracy.places 0) ((AtariScores.humanNormalized "Breakout" 401.2).Value) 1327.0 "Nature DQN on Breakout"
            Expect.equal (AtariScores.humanNormalized "tetris" 10.0) None "AtariScores.humanNormalized \"tetris\" 10.0"
            for name in [ "SpaceInvaders"; "space_invaders"; "space-invaders"; "Space Invaders" ] do
                Expect.equal (AtariScores.gameId name) "space_invaders" $"AtariScores.gameId \"{name}\""
            Expect.equal (AtariScores.gameId "BeamRider") "beam_rider" "AtariScores.gameId \"BeamRider\""
            Expect.throwsT<ArgumentException> (fun () -> AtariScores.gameId "pong;rm" |> ignore) "AtariScores.gameId \"pong;rm\""

        testCase "the Nature CNN torso carries every head: shapes, and a checkpoint that reloads to the same outputs" <| fun () ->
            let x = Tensors.ofArray (Array.init (2 * 4 * 84 * 84) (fun i -> byte (i % 251))) [| 2L; 4L; 84L; 84L |] torch.CPU
            try
                for preset in AtariConfig.presetNames do
                    let c = (AtariConfig.preset preset).Dqn
                    use net = QNetworks.createFor c (Torso.NatureCnn 4) 6 torch.CPU
                    QNetworks.setDeterministic net true
                    use _ = torch.no_grad ()
                    use y = net.forward x
                    let expected = if c.Head = ValueHead.Expected then [| 2L; 6L |] else [| 2L; 6L; int64 (QNetworks.atomsOf c) |]
                    Expect.equal y.shape expected $"{preset}: y.shape"
                    let path = Path.Combine(Path.GetTempPath(), $"dqnfun-cnn-{preset}-{Guid.NewGuid():N}.safetensors")
                    try
                        Checkpoint.saveFor path (Torso.NatureCnn 4) 6 c net Map.empty
                        let torso, actions, loaded, _ = Checkpoint.loadAny path torch.CPU
                        use loaded = loaded
                        Expect.equal torso (Torso.NatureCnn 4) $"{preset}: torso"
                        Expect.equal actions 6 $"{preset}: actions"
                        QNetworks.setDeterministic loaded true
                        use y2 = loaded.forward x
                        Expect.equal (Tensors.toArray<float32> y2) (Tensors.toArray<float32> y) $"{preset}: the reloaded network's outputs"
                        let e = Expect.wantThrows<InvalidDataException> (fun () -> Checkpoint.load path torch.CPU |> ignore) $"{preset}: Checkpoint.load"
                        Expect.stringContains e.Message "loadAny" "e.Message"
                    finally
                        File.Delete path
            finally
                x.Dispose()

        testCase "the training loop counts frames and agent steps, updates on schedule and reports games and Machado scores" <| fun () ->
            let config = small "dopamine"
            let agent, env, summary, events = learn config 2_400L
            use agent = agent
            // One agent step is 4 frames (no no-op starts, no FIRE): the loop stops at the first step reaching 2400 frames.
            Expect.equal summary.Frames 2_400L "summary.Frames"
            Expect.equal summary.AgentSteps 600L "summary.AgentSteps"
            Expect.equal env.AgentSteps 600L "env.AgentSteps"
            // Updates every 2 agent steps once more than 100 were taken: steps 102, 104, ..., 600.
            Expect.equal summary.Updates 250L "summary.Updates"
            let games = events |> Seq.choose (function GameEnded g -> Some g | _ -> None) |> Array.ofSeq
            Expect.equal games.Length 6 "games.Length" // 400-frame games
            Expect.equal summary.Games 6 "summary.Games"
            for g in games do Expect.equal g.AgentStepsInGame 100 "g.AgentStepsInGame"
            Expect.equal (games |> Array.map (fun g -> g.Frames)) [| 400L; 800L; 1200L; 1600L; 2000L; 2400L |] "the games' frames"
            // Machado: every 1000 frames, the mean of the last 5 training games; once more at the end.
            let evals = summary.Evaluations
            Expect.equal (evals |> List.map (fun e -> e.Frames)) [ 1_000L; 2_000L; 2_400L ] "the evaluations' frames"
            for e in evals do Expect.equal e.Protocol "machado" "e.Protocol"
            Expect.floatClose (Accuracy.places 9) ((List.last evals).Mean) (Array.average [| for g in games[1..5] -> g.Return |]) "(List.last evals).Mean"
            Expect.equal (events |> Seq.filter (function CheckpointDue 2_000L -> true | _ -> false) |> Seq.length) 1 "CheckpointDue 2000 events"
            Expect.equal agent.ReplayCount 600 "agent.ReplayCount"

        testCase "with learning overlapped the replay ratio holds: the same updates, never ahead of the actor nor more than a period behind" <| fun () ->
            let config = small "dopamine"
            let agent, _, summary, events = learnWith true { config with Dqn = { config.Dqn with GradientSteps = 2 } } 2_400L
            use agent = agent
            Expect.equal (summary.Frames, summary.AgentSteps) (2_400L, 600L) "frames and agent steps"
            // 2 updates every 2 agent steps once more than 100 were taken: steps 102, 104, ..., 600, all made by the end.
            Expect.equal summary.Updates 500L "summary.Updates"
            Expect.equal agent.Updates 500L "agent.Updates"
            let granted (steps: int64) = if steps <= 100L then 0L else (steps / 2L - 50L) * 2L
            for e in events do
                match e with
                | GameEnded g ->
                    Expect.isLessThanOrEqual g.Updates (granted g.AgentSteps) $"game {g.Game}: updates never outrun the steps that grant them"
                    Expect.isGreaterThanOrEqual g.Updates (granted g.AgentSteps - 2L) $"game {g.Game}: the learner is at most one training period behind"
                | Evaluated r -> Expect.equal r.Protocol "machado" "the evaluations go on"
                | _ -> ()
            Expect.equal (events |> Seq.filter (function CheckpointDue _ -> true | _ -> false) |> Seq.length) 1 "CheckpointDue events"

        testCase "DQN learns the bandit with learning overlapped, acting with its own copy of the network" <| fun () ->
            let config = small "dopamine"
            let agent, _, _, _ = learnWith true { config with Dqn = { config.Dqn with Gamma = 0.5 } } 4_800L
            use agent = agent
            let scores = agent.Evaluate(AtariEnvironment(BanditAle(99, 400), config.Environment, 2), 2, 0.0, 5)
            for s in scores do Expect.isTrue (s >= 360.0) $"greedy score {s} < 360 of 400"

        testCase "DQN learns the bandit drawn on the screen through the whole Atari pipeline" <| fun () ->
            // Greedy play after 1200 agent steps: the lit half picks the paying action on (nearly) every step.
            let config = small "dopamine"
            let agent, _, _, _ = learn { config with Dqn = { config.Dqn with Gamma = 0.5 } } 4_800L
            use agent = agent
            let evalEnv = AtariEnvironment(BanditAle(99, 400), config.Environment, 2)
            let scores = agent.Evaluate(evalEnv, 2, 0.0, 5)
            // 100 agent steps of 4 frames: 400 is perfect play, a uniform policy over the 6 actions scores about 67.
            for s in scores do Expect.isTrue (s >= 360.0) $"greedy score {s} < 360 of 400"

        testCase "the Nature protocol plays whole 5-minute games on a separate environment with no-op starts" <| fun () ->
            let config = { small "nature" with Evaluation = Nature 1; EvalIntervalFrames = 0L }
            use agent = new AtariAgent(config, 6)
            let evalAle = BanditAle(5, 30_000)
            let evalEnv = AtariEnvironment(evalAle, AtariConfig.natureEvaluationSettings plain, 4)
            let env = AtariEnvironment(BanditAle(7, 400), config.Environment, 1)
            let summary = agent.Learn(env, 800L, evalEnv)
            let e = Expect.wantSingle summary.Evaluations "summary.Evaluations"
            Expect.equal e.Protocol "nature" "e.Protocol"
            Expect.equal e.Returns.Length 1 "e.Returns.Length"
            Expect.equal evalAle.Resets 1 "evalAle.Resets"
            // The 18000-frame cap truncates the 30000-frame game: agent steps of 4 frames after 1 to 30 no-op frames.
            Expect.inRange evalEnv.TotalFrames 18_000L (18_000L + 33L) "evalEnv.TotalFrames"

        testCase "a failed emulator is recovered when asked, and otherwise stops training with its error" <| fun () ->
            let failing (failAt: int) =
                let inner = AtariEmulator.ofAle (BanditAle(7, 400))
                let mutable calls = 0
                { new IAtariEmulator with
                    member _.MinimalActionSet = inner.MinimalActionSet
                    member _.Lives() = inner.Lives()
                    member _.ResetGame s = inner.ResetGame s
                    member _.Repeat(a, f, s1, s2) =
                        calls <- calls + 1
                        if calls = failAt then raise (IOException "the emulator died")
                        inner.Repeat(a, f, s1, s2) }
            let config = small "dopamine"
            do
                use agent = new AtariAgent(config, 6)
                let events = Collections.Generic.List<AtariEvent>()
                let summary = agent.Learn(AtariEnvironment(failing 50, plain, 1), 800L, observer = events.Add, recover = (fun e -> e :? IOException))
                Expect.equal (events |> Seq.filter (function Recovered _ -> true | _ -> false) |> Seq.length) 1 "Recovered events"
                Expect.equal summary.Frames 800L "summary.Frames"
                Expect.equal summary.AgentSteps 200L "summary.AgentSteps" // the failed step emulated nothing: 200 good steps still make 800 frames
            use agent = new AtariAgent(config, 6)
            Expect.throwsT<IOException> (fun () -> agent.Learn(AtariEnvironment(failing 50, plain, 1), 800L) |> ignore) "Learn without recovery"

        testCase "every Atari preset trains and saves over the Nature CNN without leaking a tensor" <| fun () ->
            let live () = DisposeScopeManager.Statistics.ThreadTotalLiveCount
            let before = live ()
            for preset in AtariConfig.presetNames do
                let c = small preset
                let agent, _, summary, _ = learn { c with Dqn = { c.Dqn with LearningStarts = 40 } } 400L
                use agent = agent
                Expect.isTrue (summary.Updates > 0L) preset
                let path = Path.Combine(Path.GetTempPath(), $"dqnfun-atari-{preset}-{Guid.NewGuid():N}.safetensors")
                try
                    agent.Save(path, Map [ "game", "bandit" ])
                    let loaded, metadata = AtariAgent.Load path
                    use loaded = loaded
                    Expect.equal (metadata["game"]) "bandit" $"{preset}: metadata[\"game\"]"
                    Expect.equal loaded.Config.Preset preset $"{preset}: loaded.Config.Preset"
                    Expect.equal loaded.Config.Dqn.Head agent.Config.Dqn.Head $"{preset}: loaded.Config.Dqn.Head"
                    let stack = Array.init (4 * 84 * 84) (fun i -> byte (i % 7))
                    Expect.equal (loaded.Act stack) (agent.Act stack) $"{preset}: loaded.Act stack"
                finally
                    File.Delete path
            Expect.equal (live ()) before "live tensors"
    ]
