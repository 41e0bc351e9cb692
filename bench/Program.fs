/// dqnfun-bench: trains the main job (DQN on a classic-control task) and measures Dqn.Fun's speed against a
/// PyTorch-eager run of the identical algorithm (bench/baselines/dqn_cartpole.py).
module Dqn.Fun.Bench.Program

open System
open System.Diagnostics
open System.IO
open System.Text.Json
open Argu
open Spectre.Console
open Dqn.Fun
open TorchSharp

type TrainArgs =
    | Env of id: string
    | Preset of name: string
    | Double
    | Dueling
    | Prioritized
    | NStep of n: int
    | Noisy
    | Head of kind: string
    | Recurrent
    | Steps of agentSteps: int64
    | Seed of int
    | Out of dir: string
    | Threads of int
    | Device of string
    | Video of dir: string
    | Video_Episodes of episodes: int
    | Checkpoint_Interval of agentSteps: int64
    | Resume of dir: string
    | Quiet

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Env _ -> "environment id (default CartPole-v1; also GridWorld-v0, Acrobot-v1, MaskedCartPole-v1)."
            | Preset _ -> "dqn (default), double, dueling, prioritized, nstep, noisy, c51, qr, iqn, rainbow or drqn; the flags below add to it."
            | Double -> "Double DQN targets (van Hasselt et al. 2016)."
            | Dueling -> "dueling streams (Wang et al. 2016)."
            | Prioritized -> "proportional prioritized replay (Schaul et al. 2016)."
            | NStep _ -> "n-step returns (Hessel et al. 2018)."
            | Noisy -> "noisy nets, ε off (Fortunato et al. 2018)."
            | Head _ -> "expected (default), categorical (C51, 51 atoms), quantile (QR-DQN, 50 quantiles) or iqn (implicit quantiles as the iqn preset: N = N' = 8, K = 32)."
            | Recurrent -> "DRQN: an LSTM over the episode, sequence replay with burn-in (Hausknecht and Stone 2015)."
            | Steps _ -> "agent steps to train, in all (default 30000; with --resume, the run's total, which may be raised)."
            | Seed _ -> "seed for torch, replay, exploration and the environment (default 0)."
            | Out _ -> "output folder for metrics.csv, model.safetensors, config.json, summary.json, run.json and checkpoints/ (default runs/<env>-seed<seed>)."
            | Threads _ -> "libtorch intra-op threads (default 1)."
            | Device _ -> "cpu, cuda, cuda:N, or auto (cuda when libtorch sees a GPU, else cpu; default cpu)."
            | Video _ -> "write evaluation episodes as animated GIFs into this folder: step<N>-episode<K>.gif for the periodic evaluations, final-model-... and best-model-... for the fresh ones at the end."
            | Video_Episodes _ -> "with --video: episodes recorded of each evaluation, the first ones (default 1)."
            | Checkpoint_Interval _ -> "write a training checkpoint into <out>/checkpoints every N agent steps (default: at the end only); training runs in calls of N steps, each starting a fresh episode, so a run resumed from its newest checkpoint goes on exactly as the run never stopped. Ctrl-C or SIGTERM (kill PID) writes one where it stops."
            | Resume _ -> "continue the run in this folder from its newest checkpoint, with its settings (run.json); only --steps, --quiet and --threads may be given beside it. metrics.csv is cut back to the checkpoint and appended to; TensorBoard gets a new event file in the folder."
            | Quiet -> "print only the summary."

and SeedsArgs =
    | Env of id: string
    | Steps of agentSteps: int64
    | Seeds of int list
    | Out of dir: string
    | Threads of int

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Env _ -> "environment id (default CartPole-v1)."
            | Steps _ -> "agent steps per seed (default 30000)."
            | Seeds _ -> "seeds to run (default 0 1 2 3 4)."
            | Out _ -> "output folder (default runs/seeds); one sub-folder per seed plus seeds.md."
            | Threads _ -> "libtorch intra-op threads (default 1)."

and CompareArgs =
    | Steps of agentSteps: int64
    | Seed of int
    | Threads of int
    | Python of path: string
    | Out of dir: string

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Steps _ -> "agent steps each implementation trains (default 30000)."
            | Seed _ -> "seed (default 0)."
            | Threads _ -> "intra-op threads for both libtorch runs (default 1)."
            | Python _ -> "python with torch (default $DQNFUN_PYTHON, else /usr/bin/python3, else python3)."
            | Out _ -> "folder for compare.json (default runs/compare)."

and CnnArgs =
    | Updates of int
    | Threads of int
    | Max_Grad_Norm of float
    | Python of path: string

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Updates _ -> "timed updates for each implementation (default 30, after 20 warm-up updates)."
            | Threads _ -> "intra-op threads for both libtorch runs (default 1)."
            | Max_Grad_Norm _ -> "clip the gradients' global norm to this (default 10; 0: no clipping, as the nature and dopamine presets)."
            | Python _ -> "python with torch (default $DQNFUN_PYTHON, else /usr/bin/python3, else python3)."

and FramesArgs =
    | Capacity of int
    | Batch of int
    | Iterations of int

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Capacity _ -> "frame slots (default 1000000, about 7.1 GB)."
            | Batch _ -> "transitions per sample (default 32)."
            | Iterations _ -> "timed samples (default 20000)."

and PerArgs =
    | Capacity of int
    | Batch of int
    | Iterations of int
    | Warmup of int
    | Alpha of float
    | Beta of float
    | Seed of int

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Capacity _ -> "prioritized buffer capacity, filled before timing (default 1000000)."
            | Batch _ -> "batch size of each sample and priority update (default 32)."
            | Iterations _ -> "timed iterations of sample + updatePriorities (default 100000)."
            | Warmup _ -> "untimed iterations first (default 10000)."
            | Alpha _ -> "priority exponent alpha (default 0.6)."
            | Beta _ -> "importance-sampling exponent beta (default 0.4)."
            | Seed _ -> "seed of the buffer and the synthetic TD errors (default 0)."

and FamilyArgs =
    | Env of id: string
    | Presets of string list
    | Seeds of int list
    | Steps of agentSteps: int64
    | Eval_Interval of agentSteps: int
    | Eval_Episodes of int
    | Out of dir: string
    | Replot of dir: string
    | Plot_Out of file_base: string
    | Threads of int

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Env _ -> "environment id (default CartPole-v1; with --replot: taken from a family-<env> folder name)."
            | Presets _ -> "presets to compare (default: all of DqnConfig.presetNames; with --replot: those found)."
            | Seeds _ -> "seeds (default 0 1 2 3 4)."
            | Steps _ -> "agent steps per run (default 30000)."
            | Eval_Interval _ -> "agent steps between evaluations (default 2500)."
            | Eval_Episodes _ -> "episodes per evaluation (default 10)."
            | Out _ -> "folder for family.md, family.svg and family.png (default runs/family-<env>)."
            | Threads _ -> "libtorch intra-op threads (default 1)."
            | Replot _ -> "train nothing: redraw family.svg and family.png from the runs saved in this folder (<preset>/seed<N>/metrics.csv)."
            | Plot_Out _ -> "with --replot: write FILE_BASE.svg and FILE_BASE.png instead of <dir>/family.svg and .png."

and PlotArgs =
    | [<MainCommand; ExactlyOnce; Last>] Runs of run_dir: string list
    | Out of file_base: string
    | X of axis: string
    | Group_By of rule: string
    | Smooth of episodes: int
    | Title of string

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Runs _ -> "run folders holding a metrics.csv (a folder without one stands for every run folder below it)."
            | Out _ -> "write FILE_BASE.svg and FILE_BASE.png (default <the run folders' common folder>/returns)."
            | X _ -> "agent_steps, frames or hours (wall-clock hours of training, Atari runs; default frames when every run is an Atari run, else agent_steps; classic control's frames are its agent steps)."
            | Group_By _ -> "seed (default: runs whose paths differ only by a seed<N> component or a -seed<N>/_seed<N> ending are one line, mean and min-max over them), none (a line per run), or a regular expression whose matches are taken out of each run's path to name its group."
            | Smooth _ -> "training returns: moving average over this many episodes (default 20)."
            | Title _ -> "the plot's title."

and [<RequireSubcommand>] Command =
    | [<CliPrefix(CliPrefix.None)>] Train of ParseResults<TrainArgs>
    | [<CliPrefix(CliPrefix.None)>] Seeds of ParseResults<SeedsArgs>
    | [<CliPrefix(CliPrefix.None)>] Compare of ParseResults<CompareArgs>
    | [<CliPrefix(CliPrefix.None)>] Cnn of ParseResults<CnnArgs>
    | [<CliPrefix(CliPrefix.None)>] Frames of ParseResults<FramesArgs>
    | [<CliPrefix(CliPrefix.None)>] Per of ParseResults<PerArgs>
    | [<CliPrefix(CliPrefix.None)>] Family of ParseResults<FamilyArgs>
    | [<CliPrefix(CliPrefix.None)>] Plot of ParseResults<PlotArgs>
    | [<CliPrefix(CliPrefix.None)>] Atari of ParseResults<AtariRun.AtariArgs>
    | [<CliPrefix(CliPrefix.None); CustomCommandLine("atari-eval")>] Atari_Eval of ParseResults<AtariRun.AtariEvalArgs>
    | [<CliPrefix(CliPrefix.None)>] Bridge of ParseResults<BridgeBench.BridgeArgs>
    | [<CliPrefix(CliPrefix.None)>] Checkpoint of ParseResults<CheckpointBench.CheckpointArgs>
    | [<CliPrefix(CliPrefix.None); CustomCommandLine("atari-compare")>] Atari_Compare of ParseResults<AtariCompare.AtariCompareArgs>
    | [<CliPrefix(CliPrefix.None)>] Apex of ParseResults<ApeXBench.ApeXArgs>
    | [<CliPrefix(CliPrefix.None); CustomCommandLine("apex-actor")>] Apex_Actor of ParseResults<ApeXBench.ApeXActorArgs>
    | [<CliPrefix(CliPrefix.None); CustomCommandLine("apex-model")>] Apex_Model of ParseResults<ApeXBench.ApeXModelArgs>

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Train _ -> "train DQN on a classic-control task and write metrics, model and summary."
            | Seeds _ -> "train on several seeds and tabulate the final greedy evaluations."
            | Compare _ -> "measure training throughput against PyTorch eager doing the identical algorithm."
            | Cnn _ -> "time the Nature-CNN update (batch 32) against PyTorch eager doing the identical update."
            | Frames _ -> "measure the Atari frame replay: memory at capacity (uniform, prioritized) and the time to sample a batch (1-step, 3-step, prioritized + update)."
            | Per _ -> "time prioritized replay: one sample of a batch plus its priority update, at a large capacity."
            | Atari _ -> "train on an Atari game through the ALE bridge: metrics.csv, checkpoints, config.json, summary.json."
            | Atari_Eval _ -> "score a saved Atari model under the Nature protocol (30 no-op starts, ε 0.05, 5-minute games)."
            | Family _ -> "sample efficiency of the DQN family: agent steps to the solved threshold per preset and seed."
            | Plot _ -> "plot return against agent steps (or frames) from saved runs' metrics.csv: SVG and PNG."
            | Bridge _ -> "Atari env throughput through the ALE bridge against a raw ale_py loop doing the same frames."
            | Atari_Compare _ -> "end-to-end Atari DQN training throughput against a CleanRL-style PyTorch-eager loop on ale_py (same preset, frames, replay ratio)."
            | Apex _ -> "Ape-X (Horgan et al. 2018) on an Akka.NET cluster: the learner here and actor processes (local, or joining from other machines)."
            | Apex_Model _ -> "Ape-X's actor and learner costs measured here, and the throughput they give N = 1..64 actors feeding one learner."
            | Apex_Actor _ -> "one Ape-X actor process: join the learner's cluster and act until it stops the run."
            | Checkpoint _ -> "size and write/read seconds of an Atari training checkpoint with a full frame replay (1M transitions of real frames)."

let inv (x: float) = x.ToString("0.###", Globalization.CultureInfo.InvariantCulture)

let writeJson = Json.write

let writeConfig (w: Utf8JsonWriter) (c: DqnConfig) =
    w.WriteStartArray "hidden"
    for h in c.Hidden do
        w.WriteNumberValue h
    w.WriteEndArray()
    w.WriteNumber("gamma", c.Gamma)
    w.WriteString("learning_rate", sprintf "%A" c.LearningRate)
    w.WriteNumber("adam_epsilon", c.AdamEpsilon)
    w.WriteNumber("batch_size", c.BatchSize)
    w.WriteNumber("buffer_size", c.BufferSize)
    w.WriteNumber("learning_starts_agent_steps", c.LearningStarts)
    w.WriteNumber("train_frequency_agent_steps", c.TrainFrequency)
    w.WriteNumber("gradient_steps", c.GradientSteps)
    w.WriteNumber("target_update_interval_updates", c.TargetUpdateInterval)
    w.WriteNumber("tau", c.Tau)
    w.WriteString("exploration", sprintf "%A" c.Exploration)
    w.WriteString("loss", string c.Loss)
    match c.MaxGradNorm with
    | Some m -> w.WriteNumber("max_grad_norm", m)
    | None -> w.WriteNull "max_grad_norm"
    w.WriteBoolean("double_dqn", c.DoubleDqn)
    w.WriteNumber("seed", c.Seed)
    w.WriteString("device", Devices.name c.Device)
    w.WriteNumber("threads", torch.get_num_threads ())
    w.WriteNumber("eval_interval_agent_steps", c.EvalInterval)
    w.WriteNumber("eval_episodes", c.EvalEpisodes)
    w.WriteNumber("eval_epsilon", c.EvalEpsilon)
    w.WriteBoolean("dueling", c.Dueling)
    w.WriteBoolean("noisy", c.Noisy)
    w.WriteNumber("noisy_sigma0", c.NoisySigma0)
    w.WriteString("head", string c.Head)
    w.WriteNumber("atoms", c.Atoms)
    w.WriteNumber("v_min", c.VMin)
    w.WriteNumber("v_max", c.VMax)
    w.WriteNumber("n_step", c.NStep)
    w.WriteBoolean("prioritized", c.Prioritized)
    w.WriteNumber("priority_alpha", c.PriorityAlpha)
    w.WriteString("priority_beta", sprintf "%A" c.PriorityBeta)
    w.WriteNumber("priority_epsilon", c.PriorityEpsilon)
    w.WriteNumber("iqn_tau_samples", c.IqnTauSamples)
    w.WriteNumber("iqn_target_tau_samples", c.IqnTargetTauSamples)
    w.WriteNumber("iqn_policy_tau_samples", c.IqnPolicyTauSamples)
    w.WriteNumber("iqn_embedding_dim", c.IqnEmbeddingDim)
    w.WriteBoolean("recurrent", c.Recurrent)
    w.WriteNumber("lstm_hidden", c.LstmHidden)
    w.WriteNumber("sequence_length_agent_steps", c.SequenceLength)
    w.WriteNumber("burn_in_agent_steps", c.BurnIn)

type RunResult =
    { EnvId: string
      Seed: int
      Steps: int64
      Summary: TrainingSummary
      /// Fresh evaluation of the model as it is at the end of training.
      Final: EvaluationResult
      /// Fresh evaluation of the best model kept by the periodic evaluations (SB3's EvalCallback), with
      /// the agent step it was kept at.
      Best: EvaluationResult * int64 }

/// Seed of the fresh evaluation episodes reported in summary.json: unseen during training and selection.
let reportSeed (seed: int) = 2_000_000 + seed

/// The main job: train with periodic greedy evaluations, keeping the best model (best_model.safetensors)
/// as SB3's EvalCallback does; then evaluate both the final and the best model on fresh episodes and write
/// metrics.csv, model.safetensors (final), best_model.safetensors, config.json and summary.json.
/// With `video`, the evaluation environment records its episodes (RecordingEnvironment) into GIFs named after the
/// evaluation: step<N>-episode<K>.gif, final-model-episode<K>.gif, best-model-episode<K>.gif.
/// How `train` writes training checkpoints into <out>/checkpoints: after every Interval agent steps of the run and at
/// its end (Learn is called for Interval steps at a time); Resume: go on from the newest one there.
type Checkpointing = { Interval: int64; Resume: bool }

/// The TrainingSummary of a run made of several Learn calls.
let private combine (parts: TrainingSummary list) =
    let steps = parts |> List.sumBy (fun p -> p.Steps)
    let wall, evaluation = parts |> List.sumBy (fun p -> p.WallSeconds), parts |> List.sumBy (fun p -> p.EvaluationSeconds)
    { Steps = steps
      Updates = parts |> List.sumBy (fun p -> p.Updates)
      Episodes = parts |> List.sumBy (fun p -> p.Episodes)
      WallSeconds = wall
      EvaluationSeconds = evaluation
      StepsPerSecond = float steps / (wall - evaluation)
      Evaluations = parts |> List.collect (fun p -> p.Evaluations) }

let train (envId: string) (steps: int64) (config: DqnConfig) (out: string) (quiet: bool) (video: Video.VideoOptions option) (checkpointing: Checkpointing) =
    Directory.CreateDirectory out |> ignore
    let checkpoints = Path.Combine(out, "checkpoints")
    let env = Environments.make envId
    let evalInner = Environments.make envId
    let recording =
        match video, video |> Option.bind (fun _ -> Renderer.tryOf evalInner) with
        | Some v, Some renderer ->
            let gifs = Video.GifRecorder(v.Dir, v.EpisodesPerEvaluation, "episode")
            Some(gifs, RecordingEnvironment(evalInner, renderer, gifs))
        | Some _, None ->
            AnsiConsole.MarkupLineInterpolated($"[yellow]warning[/]: no renderer for {envId}: --video records nothing")
            None
        | None, _ -> None
    let evalEnv = match recording with Some(_, e) -> e :> IEnvironment | None -> evalInner
    /// Names the GIFs of the evaluation that just ended.
    let videosOf (label: string) =
        match recording with
        | Some(gifs, e) ->
            e.EndEpisode()
            gifs.NextEvaluation label |> ignore
        | None -> ()
    use agent =
        if checkpointing.Resume then Agent.Resume(checkpoints, config)
        else new Agent(config, env.ObservationSize, env.ActionCount)
    if agent.Steps >= steps then
        Cli.usage $"--steps {steps}: the run in {out} has {agent.Steps} agent steps already; give a larger total"
    let metricsPath = Path.Combine(out, "metrics.csv")
    use csv = if checkpointing.Resume then new MetricsCsvWriter(metricsPath, agent.Steps) else new MetricsCsvWriter(metricsPath)
    let tb = TensorBoardWriter(out)
    let bestPath = Path.Combine(out, "best_model.safetensors")
    // The best periodic evaluation so far: a resumed run's evaluations up to its checkpoint are in metrics.csv.
    let mutable best =
        let none = (Double.NegativeInfinity, 0L)
        if checkpointing.Resume then
            (Plot.readRun metricsPath).Evaluations
            |> Array.fold (fun (b, at) p -> if p.Return > b then (p.Return, p.AgentSteps) else (b, at)) none
        else
            none
    let mutable lastPrint = 0L
    let observe e =
        csv.Write e
        tb.Write e
        match e with
        | Evaluated r ->
            videosOf $"step{r.Step:D7}"
            if r.MeanReturn > fst best then
                best <- (r.MeanReturn, r.Step)
                agent.Save bestPath
        | _ -> ()
    let line e =
        match e with
        | EpisodeEnded m ->
            $"[grey]step[/] {m.Step,7}  [grey]episode[/] {m.Episode,4}  [grey]return[/] {m.Return,6:F1}  [grey]ε[/] {m.Epsilon:F3}  [grey]loss[/] {m.Loss:F4}  [grey]mean Q[/] {m.MeanQ,6:F2}  [grey]steps/s[/] {m.StepsPerSecond:F0}"
        | Evaluated r -> $"[green]eval[/] step {r.Step,7}  mean return {r.MeanReturn:F1} ± {r.StdReturn:F1} over {r.Returns.Length} episodes"
    // Ctrl-C or SIGTERM stops training at the next agent step; a checkpoint is written there.
    use cancel = new Threading.CancellationTokenSource()
    use _ = Cli.onStopSignals cancel
    /// Learns up to `steps` in calls of at most checkpointing.Interval agent steps (ending on its multiples), writing a
    /// checkpoint after each.
    let learnAll (observer: TrainingEvent -> unit) =
        let parts = ResizeArray()
        try
            while agent.Steps < steps do
                let n = min (checkpointing.Interval - agent.Steps % checkpointing.Interval) (steps - agent.Steps)
                parts.Add(agent.Learn(env, n, evalEnv, observer, cancel.Token))
                agent.SaveCheckpoint checkpoints |> ignore
        with :? OperationCanceledException ->
            let folder = agent.SaveCheckpoint checkpoints
            eprintfn $"dqnfun-bench: interrupted at agent step {agent.Steps}; checkpoint {folder}; go on with: dqnfun-bench train --resume {out}"
            reraise ()
        combine (List.ofSeq parts)
    let summary =
        if quiet then
            learnAll observe
        elif AnsiConsole.Profile.Capabilities.Interactive then
            // A live bar (agent steps) whose caption is the last episode; evaluations are printed above it.
            AnsiConsole
                .Progress()
                .Columns(TaskDescriptionColumn(), ProgressBarColumn(), PercentageColumn(), RemainingTimeColumn())
                .Start(fun ctx ->
                    let task = ctx.AddTask("training", maxValue = float steps)
                    learnAll (
                        fun e ->
                            observe e
                            match e with
                            | EpisodeEnded m ->
                                task.Value <- float m.Step
                                task.Description <- line e
                            | Evaluated _ -> AnsiConsole.MarkupLine(line e)
                    ))
        else
            // Logs and CI: a line every 2000 agent steps and every evaluation.
            learnAll (
                fun e ->
                    observe e
                    match e with
                    | EpisodeEnded m when m.Step - lastPrint >= 2_000L ->
                        lastPrint <- m.Step
                        AnsiConsole.MarkupLine(line e)
                    | Evaluated _ -> AnsiConsole.MarkupLine(line e)
                    | _ -> ()
            )
    let episodes = max 1 config.EvalEpisodes
    agent.Save(Path.Combine(out, "model.safetensors"))
    let final = agent.Evaluate(evalEnv, episodes, 0.0, reportSeed config.Seed)
    videosOf "final-model"
    let bestEval =
        if File.Exists bestPath && fst best > final.MeanReturn then
            use kept = Agent.Load(bestPath, config)
            let r = kept.Evaluate(evalEnv, episodes, 0.0, reportSeed config.Seed)
            videosOf "best-model"
            r, snd best
        else
            // The final model is at least as good as every periodic evaluation: it is the best model.
            agent.Save bestPath
            final, agent.Steps
    writeJson (Path.Combine(out, "config.json")) (fun w ->
        w.WriteString("env", envId)
        w.WriteNumber("steps", steps)
        writeConfig w config)
    writeJson (Path.Combine(out, "summary.json")) (fun w ->
        w.WriteString("env", envId)
        w.WriteNumber("steps", steps)
        w.WriteNumber("seed", config.Seed)
        // eval_*: the best model (best_model.safetensors) on fresh episodes; final_eval_*: model.safetensors.
        w.WriteNumber("eval_mean_return", (fst bestEval).MeanReturn)
        w.WriteNumber("eval_std_return", (fst bestEval).StdReturn)
        w.WriteNumber("eval_episodes", (fst bestEval).Returns.Length)
        w.WriteNumber("eval_seed", reportSeed config.Seed)
        w.WriteNumber("best_model_step", snd bestEval)
        w.WriteNumber("final_eval_mean_return", final.MeanReturn)
        w.WriteNumber("final_eval_std_return", final.StdReturn)
        w.WriteNumber("wall_seconds", summary.WallSeconds)
        w.WriteNumber("steps_per_second", summary.StepsPerSecond)
        w.WriteNumber("updates", summary.Updates)
        w.WriteNumber("episodes", summary.Episodes)
        w.WriteString("torch", torch.__version__)
        w.WriteNumber("threads", torch.get_num_threads ())
        w.WriteStartArray "evaluations"
        for e in summary.Evaluations do
            w.WriteStartObject()
            w.WriteNumber("step", e.Step)
            w.WriteNumber("mean_return", e.MeanReturn)
            w.WriteNumber("std_return", e.StdReturn)
            w.WriteEndObject()
        w.WriteEndArray())
    let b, bStep = bestEval
    AnsiConsole.MarkupLine(
        $"[bold]{envId}[/] seed {config.Seed}, {steps} agent steps: greedy return of the best model (step {bStep}) [bold]{b.MeanReturn:F1}[/] ± {b.StdReturn:F1}, of the final model {final.MeanReturn:F1} ± {final.StdReturn:F1} ({b.Returns.Length} fresh episodes); {summary.StepsPerSecond:F0} steps/s, {summary.WallSeconds:F1} s. Wrote {out}"
    )
    match recording with
    | Some(gifs, _) -> AnsiConsole.MarkupLineInterpolated($"{gifs.Written.Length} episode videos in {gifs.Dir}")
    | None -> ()
    { EnvId = envId; Seed = config.Seed; Steps = steps; Summary = summary; Final = final; Best = bestEval }

/// The defaults with `seed` on `device`, LibTorch's intra-op threads (a process setting) set to `threads`.
let configFor seed threads device =
    torch.set_num_threads threads
    { DqnConfig.defaults with Seed = seed; Device = device }

/// --env: a known environment id.
let private checkEnv (envId: string) = Cli.value "--env" (fun () -> Environments.make envId |> ignore)

/// --threads: LibTorch's intra-op threads for this process (a process setting), at least 1.
let private setThreads (threads: int) =
    if threads < 1 then Cli.usage $"--threads {threads}: expected at least 1"
    torch.set_num_threads threads

let rec runTrain (a: ParseResults<TrainArgs>) =
    match a.TryGetResult TrainArgs.Resume with
    | Some dir ->
        // Only --steps, --quiet and --threads go beside --resume; the rest is the run's.
        let allowed = function TrainArgs.Steps _ | TrainArgs.Quiet | TrainArgs.Threads _ -> true | _ -> false
        startTrain (Cli.resumeArgs a.Parser "train" dir a (function TrainArgs.Resume _ -> true | _ -> false) allowed (TrainArgs.Out dir)) true
    | None -> startTrain a false

and private startTrain (a: ParseResults<TrainArgs>) (resume: bool) =
    let envId = a.GetResult(TrainArgs.Env, "CartPole-v1")
    checkEnv envId
    let seed = a.GetResult(TrainArgs.Seed, 0)
    let steps = a.GetResult(TrainArgs.Steps, 30_000L)
    Cli.positive "--steps" steps
    let out = a.GetResult(TrainArgs.Out, Path.Combine("runs", $"{envId}-seed{seed}"))
    let c = Cli.value "--preset" (fun () -> DqnConfig.preset (a.GetResult(TrainArgs.Preset, "dqn")))
    let c = if a.Contains TrainArgs.Double then { c with DoubleDqn = true } else c
    let c = if a.Contains TrainArgs.Dueling then { c with Dueling = true } else c
    let c = if a.Contains TrainArgs.Prioritized then { c with Prioritized = true } else c
    let c =
        match a.TryGetResult TrainArgs.NStep with
        | Some n ->
            Cli.positive "--nstep" (int64 n)
            { c with NStep = n }
        | None -> c
    let c = if a.Contains TrainArgs.Noisy then { c with Noisy = true; Exploration = Schedule.constant 0.0 } else c
    let c = if a.Contains TrainArgs.Recurrent then { c with Recurrent = true } else c
    let c =
        match a.TryGetResult TrainArgs.Head |> Option.map (fun h -> h.ToLowerInvariant()) with
        | Some "categorical" -> { c with Head = ValueHead.Categorical; Atoms = 51 }
        | Some "quantile" -> { c with Head = ValueHead.Quantile; Atoms = 50 }
        | Some("iqn" | "implicit") ->
            let p = DqnConfig.preset "iqn"
            { c with
                Head = ValueHead.Implicit
                IqnTauSamples = p.IqnTauSamples
                IqnTargetTauSamples = p.IqnTargetTauSamples
                IqnPolicyTauSamples = p.IqnPolicyTauSamples
                IqnEmbeddingDim = p.IqnEmbeddingDim }
        | Some "expected" | None -> c
        | Some other -> Cli.usage $"--head {other}: expected expected, categorical, quantile or iqn"
    let config = Cli.value "the settings" (fun () -> DqnConfig.validate { c with Seed = seed })
    setThreads (a.GetResult(TrainArgs.Threads, 1))
    let config = { config with Device = Cli.device "--device" (a.GetResult(TrainArgs.Device, "cpu")) }
    let video =
        a.TryGetResult TrainArgs.Video
        |> Option.map (fun dir ->
            Cli.positive "--video-episodes" (int64 (a.GetResult(TrainArgs.Video_Episodes, 1)))
            { Video.Dir = Cli.outputFolder "--video" dir; Video.EpisodesPerEvaluation = Some(a.GetResult(TrainArgs.Video_Episodes, 1)) })
    let interval = a.GetResult(TrainArgs.Checkpoint_Interval, steps)
    Cli.positive "--checkpoint-interval" interval
    let out = Cli.outputFolder "--out" out
    if not resume && (TrainingCheckpoint.tryLatest (Path.Combine(out, "checkpoints"))).IsSome then
        Cli.usage $"--out {out} holds a run's checkpoints: go on with --resume {out}, or choose another folder"
    Directory.CreateDirectory out |> ignore
    Cli.writeRunArgs out "train" a.Parser (a.GetAllResults())
    train envId steps config out (a.Contains TrainArgs.Quiet) video { Interval = interval; Resume = resume } |> ignore
    0

let runSeeds (a: ParseResults<SeedsArgs>) =
    let envId = a.GetResult(SeedsArgs.Env, "CartPole-v1")
    checkEnv envId
    let steps = a.GetResult(SeedsArgs.Steps, 30_000L)
    Cli.positive "--steps" steps
    let seeds = a.GetResult(SeedsArgs.Seeds, [ 0; 1; 2; 3; 4 ])
    if seeds.IsEmpty then Cli.usage "--seeds: expected at least one seed"
    let threads = a.GetResult(SeedsArgs.Threads, 1)
    setThreads threads
    let out = Cli.outputFolder "--out" (a.GetResult(SeedsArgs.Out, Path.Combine("runs", "seeds")))
    let results =
        [ for s in seeds ->
              train envId steps (configFor s threads torch.CPU) (Path.Combine(out, $"seed{s}")) true None { Interval = steps; Resume = false } ]
    let lines =
        [ $"| seed | best model: greedy return ({results.Head.Final.Returns.Length} fresh episodes) | kept at step | final model | periodic evaluations (every {DqnConfig.defaults.EvalInterval} steps) | wall s | steps/s |"
          "|---:|---:|---:|---:|---|---:|---:|"
          for r in results do
              let evals = String.Join(", ", r.Summary.Evaluations |> List.map (fun e -> $"{e.MeanReturn:F0}"))
              let b, step = r.Best
              $"| {r.Seed} | {b.MeanReturn:F1} ± {b.StdReturn:F1} | {step} | {r.Final.MeanReturn:F1} ± {r.Final.StdReturn:F1} | {evals} | {r.Summary.WallSeconds:F1} | {r.Summary.StepsPerSecond:F0} |" ]
    let table = String.Join("\n", lines)
    File.WriteAllText(Path.Combine(out, "seeds.md"), table + "\n")
    printfn "%s" table
    0

let findPython (explicitPath: string option) =
    match explicitPath with
    | Some p -> p
    | None ->
        match Environment.GetEnvironmentVariable "DQNFUN_PYTHON" with
        | null
        | "" -> if File.Exists "/usr/bin/python3" then "/usr/bin/python3" else "python3"
        | p -> p

/// Finds bench/baselines/<name> from the working folder or the executable's folder upwards.
let findBaseline (name: string) =
    let rec up (dir: DirectoryInfo) =
        if isNull dir then None
        else
            let p = Path.Combine(dir.FullName, "bench", "baselines", name)
            if File.Exists p then Some p else up dir.Parent
    match up (DirectoryInfo(Environment.CurrentDirectory)) |> Option.orElse (up (DirectoryInfo(AppContext.BaseDirectory))) with
    | Some p -> p
    | None -> failwith $"bench/baselines/{name} not found above {Environment.CurrentDirectory} or {AppContext.BaseDirectory}"

let runCompare (a: ParseResults<CompareArgs>) =
    let steps = a.GetResult(CompareArgs.Steps, 30_000L)
    let seed = a.GetResult(CompareArgs.Seed, 0)
    let threads = a.GetResult(CompareArgs.Threads, 1)
    let out = a.GetResult(CompareArgs.Out, Path.Combine("runs", "compare"))
    // The baseline implements a linear ε schedule: both runs use this one.
    let epsStart, epsEnd, epsSteps = 1.0, 0.04, 5_000L
    let c =
        { configFor seed threads torch.CPU with
            EvalInterval = 0
            Exploration = Schedule.linear epsStart epsEnd epsSteps }
    let script = findBaseline "dqn_cartpole.py"
    let python = findPython (a.TryGetResult CompareArgs.Python)
    let pyArgs =
        [ script
          "--steps"; string steps
          "--seed"; string seed
          "--threads"; string threads
          "--hidden"; String.Join(",", c.Hidden)
          "--gamma"; inv c.Gamma
          "--lr"; (Schedule.value c.LearningRate 0L).ToString("R", Globalization.CultureInfo.InvariantCulture)
          "--adam-eps"; c.AdamEpsilon.ToString("R", Globalization.CultureInfo.InvariantCulture)
          "--batch-size"; string c.BatchSize
          "--buffer-size"; string c.BufferSize
          "--learning-starts"; string c.LearningStarts
          "--train-frequency"; string c.TrainFrequency
          "--gradient-steps"; string c.GradientSteps
          "--target-update-interval"; string c.TargetUpdateInterval
          "--tau"; inv c.Tau
          "--eps-start"; inv epsStart
          "--eps-end"; inv epsEnd
          "--eps-steps"; string epsSteps
          "--max-grad-norm"; inv (defaultArg c.MaxGradNorm 1e9)
          "--loss"; (if c.Loss = TdLoss.Mse then "mse" else "huber")
          if c.DoubleDqn then "--double" ]
    // Ours first, then theirs, in the same process tree on the same machine.
    let env = Environments.make "CartPole-v1"
    let ours =
        use agent = new Agent(c, env.ObservationSize, env.ActionCount)
        agent.Learn(env, steps)
    AnsiConsole.MarkupLine($"Dqn.Fun: {ours.StepsPerSecond:F0} agent steps/s ({ours.Updates} updates in {ours.WallSeconds:F1} s)")
    let psi = ProcessStartInfo(python, pyArgs, RedirectStandardOutput = true, UseShellExecute = false)
    use p = Process.Start psi
    let text = p.StandardOutput.ReadToEnd()
    p.WaitForExit()
    if p.ExitCode <> 0 then failwith $"{python} {script} exited with {p.ExitCode}"
    let theirs = JsonDocument.Parse(text.Trim().Split('\n') |> Array.last).RootElement
    let theirSps = theirs.GetProperty("steps_per_second").GetDouble()
    let ratio = ours.StepsPerSecond / theirSps
    let theirTorch = theirs.GetProperty("torch").GetString()
    let theirUpdates = theirs.GetProperty("updates").GetInt64()
    let theirWall = theirs.GetProperty("wall_seconds").GetDouble()
    AnsiConsole.MarkupLine($"PyTorch eager {theirTorch}: {theirSps:F0} agent steps/s ({theirUpdates} updates in {theirWall:F1} s)")
    AnsiConsole.MarkupLine($"[bold]throughput ratio Dqn.Fun / PyTorch eager = {ratio:F2}x[/] ({threads} thread(s), {steps} agent steps, torch {torch.__version__})")
    writeJson (Path.Combine(out, "compare.json")) (fun w ->
        w.WriteNumber("steps", steps)
        w.WriteNumber("threads", threads)
        w.WriteNumber("dqnfun_steps_per_second", ours.StepsPerSecond)
        w.WriteNumber("dqnfun_updates", ours.Updates)
        w.WriteNumber("pytorch_steps_per_second", theirSps)
        w.WriteNumber("pytorch_updates", theirUpdates)
        w.WriteNumber("ratio", ratio)
        w.WriteString("torch", torch.__version__))
    0

let runCnn (a: ParseResults<CnnArgs>) =
    let updates = a.GetResult(CnnArgs.Updates, 30)
    let threads = a.GetResult(CnnArgs.Threads, 1)
    let clip = a.GetResult(CnnArgs.Max_Grad_Norm, 10.0)
    if not (clip >= 0.0) then Cli.usage $"--max-grad-norm {clip}: expected 0 (none) or a positive norm"
    // 20 warm-up updates a side: at 2 threads LibTorch's first updates run slow for a while (oneDNN's primitives and
    // the allocator warming), which 3 warm-up updates left inside the timed ones.
    let ours = AtariBench.natureCnnUpdate updates 20 32 6 threads (if clip > 0.0 then Some clip else None) torch.CPU
    AnsiConsole.MarkupLine($"Dqn.Fun: {ours:F1} ms per Nature-CNN update (batch 32, {threads} thread(s), max grad norm {clip})")
    let theirs =
        AtariBench.runPython
            (findPython (a.TryGetResult CnnArgs.Python))
            (findBaseline "nature_cnn_update.py")
            [ "--updates"; string updates; "--warmup"; "20"; "--threads"; string threads; "--max-grad-norm"; inv clip ]
    let theirMs = theirs.GetProperty("ms_per_update").GetDouble()
    AnsiConsole.MarkupLine($"PyTorch eager: {theirMs:F1} ms per update")
    AnsiConsole.MarkupLine($"[bold]Nature-CNN update speed ratio Dqn.Fun / PyTorch eager = {theirMs / ours:F2}x[/]")
    0

let runFrames (a: ParseResults<FramesArgs>) =
    let capacity = a.GetResult(FramesArgs.Capacity, 1_000_000)
    let batch = a.GetResult(FramesArgs.Batch, 32)
    let f = AtariBench.frameReplay capacity batch (a.GetResult(FramesArgs.Iterations, 20_000))
    let (sMean, sP50, sP99), (gMean, gP50, gP99) = f.Sample, f.Gather
    let (nMean, nP50, nP99), (pMean, pP50, pP99) = f.NStep, f.Prioritized
    AnsiConsole.MarkupLine($"frame replay, {capacity} slots: {float f.UniformBytes / 1e9:F3} GB held; prioritized {float f.PrioritizedBytes / 1e9:F3} GB")
    AnsiConsole.MarkupLine($"sample {batch} (slot indices of s and s' stacks): mean {sMean:F2} µs, p50 {sP50:F2}, p99 {sP99:F2}")
    AnsiConsole.MarkupLine($"sample {batch} + gather both stacks' pixels on the host: mean {gMean:F1} µs, p50 {gP50:F1}, p99 {gP99:F1}")
    AnsiConsole.MarkupLine($"sample {batch} 3-step (slot indices, discounted returns): mean {nMean:F2} µs, p50 {nP50:F2}, p99 {nP99:F2}")
    AnsiConsole.MarkupLine($"prioritized sample {batch} 3-step + update their priorities: mean {pMean:F2} µs, p50 {pP50:F2}, p99 {pP99:F2}")
    0
/// Prioritized replay micro-benchmark: fills a buffer with 4-float observations and spread-out priorities,
/// then times iterations of Sample(batch, beta) + UpdatePriorities(indices, tdErrors), one timestamp pair each.
let runPer (a: ParseResults<PerArgs>) =
    let capacity = a.GetResult(PerArgs.Capacity, 1_000_000)
    let batch = a.GetResult(PerArgs.Batch, 32)
    let iterations = a.GetResult(PerArgs.Iterations, 100_000)
    let warmup = a.GetResult(PerArgs.Warmup, 10_000)
    let alpha = a.GetResult(PerArgs.Alpha, 0.6)
    let beta = a.GetResult(PerArgs.Beta, 0.4)
    let seed = a.GetResult(PerArgs.Seed, 0)
    let buffer = PrioritizedReplayBuffer(capacity, 4, alpha, seed)
    let errors = Random(seed + 1)
    // |δ| ~ Exp(1): a long tail of large errors, as TD errors have.
    let tdError () = float32 (-Math.Log(1.0 - errors.NextDouble()))
    let obs = Array.zeroCreate<float32> 4
    let next = Array.zeroCreate<float32> 4
    let fill = Stopwatch.StartNew()
    for i in 0 .. capacity - 1 do
        obs[0] <- float32 i
        next[0] <- float32 (i + 1)
        buffer.Add(obs, i % 2, 1.0f, next, false)
    for start in 0 .. batch .. capacity - 1 do
        let n = min batch (capacity - start)
        buffer.UpdatePriorities(Array.init n (fun k -> start + k), Array.init n (fun _ -> tdError ()))
    fill.Stop()
    let deltas = Array.init (warmup + iterations) (fun _ -> Array.init batch (fun _ -> tdError ()))
    let ticks = Array.zeroCreate<int64> iterations
    for i in 0 .. warmup + iterations - 1 do
        let t0 = Stopwatch.GetTimestamp()
        let sample = buffer.Sample(batch, beta)
        buffer.UpdatePriorities(sample.Batch.Indices, deltas[i])
        let t1 = Stopwatch.GetTimestamp()
        if i >= warmup then ticks[i - warmup] <- t1 - t0
    let us = ticks |> Array.map (fun t -> float t * 1e6 / float Stopwatch.Frequency) |> Array.sort
    let pct (q: float) = us[min (us.Length - 1) (int (q * float us.Length))]
    AnsiConsole.MarkupLine(
        $"PER capacity {capacity}, batch {batch}, alpha {inv alpha}, beta {inv beta}: filled in {fill.Elapsed.TotalSeconds:F1} s; sample + updatePriorities over {iterations} iterations (after {warmup} warm-up): [bold]mean {Array.average us:F2} µs[/], p50 {pct 0.5:F2} µs, p99 {pct 0.99:F2} µs, max {Array.last us:F1} µs"
    )
    0

let runFamily (a: ParseResults<FamilyArgs>) =
    match a.TryGetResult FamilyArgs.Replot with
    | Some dir ->
        let envId =
            match a.TryGetResult FamilyArgs.Env with
            | Some e -> e
            | None ->
                let name = Path.GetFileName(Path.GetFullPath(dir).TrimEnd('/', '\\'))
                if name.StartsWith "family-" then name.Substring 7 else "CartPole-v1"
        let outBase = a.GetResult(FamilyArgs.Plot_Out, Path.Combine(dir, "family"))
        for path in Family.plot envId dir (a.TryGetResult FamilyArgs.Presets) outBase do
            printfn "wrote %s" path
        0
    | None ->
    let envId = a.GetResult(FamilyArgs.Env, "CartPole-v1")
    checkEnv envId
    let presets = a.GetResult(FamilyArgs.Presets, DqnConfig.presetNames)
    for p in presets do
        Cli.value "--presets" (fun () -> DqnConfig.preset p |> ignore)
    let steps = a.GetResult(FamilyArgs.Steps, 30_000L)
    Cli.positive "--steps" steps
    let evalInterval = a.GetResult(FamilyArgs.Eval_Interval, 2_500)
    Cli.positive "--eval-interval" (int64 evalInterval)
    let evalEpisodes = a.GetResult(FamilyArgs.Eval_Episodes, 10)
    Cli.positive "--eval-episodes" (int64 evalEpisodes)
    setThreads (a.GetResult(FamilyArgs.Threads, 1))
    Family.runAll
        envId
        presets
        (a.GetResult(FamilyArgs.Seeds, [ 0; 1; 2; 3; 4 ]))
        steps
        evalInterval
        evalEpisodes
        (Cli.outputFolder "--out" (a.GetResult(FamilyArgs.Out, Path.Combine("runs", $"family-{envId}"))))
    0

let runPlot (a: ParseResults<PlotArgs>) =
    let dirs = a.GetResult PlotArgs.Runs |> List.collect Plot.findRuns
    if dirs.IsEmpty then failwith "no run folders with a metrics.csv"
    let runs = dirs |> List.map Plot.readRun
    let axis =
        match a.TryGetResult PlotArgs.X |> Option.map (fun x -> x.ToLowerInvariant().Replace('-', '_')) with
        | Some("agent_steps" | "steps") -> Plot.AgentSteps
        | Some "frames" -> Plot.Frames
        | Some "hours" ->
            match runs |> List.tryFind (fun r -> r.Episodes |> Array.exists (fun p -> p.Hours.IsNone)) with
            | Some r -> invalidArg "x" $"--x hours: {r.Dir} has rows without wall_seconds (an Atari run written before that column)"
            | None -> Plot.Hours
        | None -> if runs |> List.forall (fun r -> r.Atari) then Plot.Frames else Plot.AgentSteps
        | Some other -> invalidArg "x" $"--x {other}: agent_steps, frames or hours"
    let pattern =
        match a.GetResult(PlotArgs.Group_By, "seed") with
        | "seed" -> Some Plot.seedPattern
        | "none" -> None
        | regex -> Some regex
    let window = a.GetResult(PlotArgs.Smooth, 20)
    let outBase = a.GetResult(PlotArgs.Out, Path.Combine(Plot.commonFolder dirs, "returns"))
    let title = a.GetResult(PlotArgs.Title, $"return against {Plot.axisName axis}")
    let groups = Plot.group pattern runs
    for path in Plot.returns axis window title groups outBase do
        printfn "wrote %s" path
    for g in groups do
        printfn "%s: %d run(s)" g.Label g.Runs.Length
    0

[<EntryPoint>]
let main argv =
    // Before any socket: the ALE bridge's round trips skip the thread pool (AleBridge.PreferInlineSocketCompletions).
    Dqn.Fun.Atari.AleBridge.PreferInlineSocketCompletions() |> ignore
    // One NetMQ I/O thread a core (at most 4), so that bridges stepped in parallel do not take turns on one.
    Dqn.Fun.Atari.AleBridge.SetIoThreads(min 4 Environment.ProcessorCount)
    let parser = ArgumentParser.Create<Command>(programName = "dqnfun-bench")
    Cli.run (fun () ->
        match (try Ok(parser.ParseCommandLine(argv).GetSubCommand()) with :? ArguParseException as e -> Error e) with
        | Error e when e.ErrorCode = ErrorCode.HelpText ->
            printfn "%s" e.Message
            0
        | Error e ->
            eprintfn "%s" e.Message
            2
        | Ok command ->
            match command with
            | Train a -> runTrain a
            | Seeds a -> runSeeds a
            | Compare a -> runCompare a
            | Cnn a -> runCnn a
            | Frames a -> runFrames a
            | Per a -> runPer a
            | Family a -> runFamily a
            | Plot a -> runPlot a
            | Atari a -> AtariRun.runAtari a
            | Atari_Eval a -> AtariRun.runAtariEval a
            | Bridge a -> BridgeBench.run findBaseline a
            | Checkpoint a -> CheckpointBench.run a
            | Atari_Compare a -> AtariCompare.run findBaseline a
            | Apex a -> ApeXBench.run a
            | Apex_Actor a -> ApeXBench.runActor a
            | Apex_Model a -> ApeXBench.runModel a)
