/// Sample efficiency of the DQN family: for each preset and seed, the agent steps until a periodic greedy
/// evaluation first reaches the task's threshold; a markdown table and a plot of the mean evaluation curves (ScottPlot).
module Dqn.Fun.Bench.Family

open System
open System.IO
open System.Text
open Dqn.Fun

/// Gymnasium's reward_threshold of each task (GridWorld-v0: the goal's reward).
let threshold (envId: string) =
    match envId with
    | "CartPole-v1" -> 475.0
    | "Acrobot-v1" -> -100.0
    | "GridWorld-v0" -> 1.0
    | other -> invalidArg "env" $"no solved threshold is known for {other}"

/// The C51 support for a task's returns: CartPole's rewards are +1 a step (discounted returns in [0, 100]),
/// Acrobot's -1 a step (in [-100, 0]).
let support (envId: string) =
    match envId with
    | "Acrobot-v1" -> -100.0, 0.0
    | "GridWorld-v0" -> 0.0, 1.0
    | _ -> 0.0, 100.0

type Run =
    { Preset: string
      Seed: int
      /// (agent step, mean greedy return) of every periodic evaluation.
      Curve: (int64 * float) list
      /// First agent step whose evaluation reached the threshold.
      SolvedAt: int64 option
      WallSeconds: float }

/// Trains one preset on one seed, writing metrics.csv and a TensorBoard event file to `out`.
let run (envId: string) (preset: string) (seed: int) (steps: int64) (evalInterval: int) (evalEpisodes: int) (out: string) =
    let vMin, vMax = support envId
    let config =
        { DqnConfig.preset preset with
            Seed = seed
            EvalInterval = evalInterval
            EvalEpisodes = evalEpisodes
            VMin = vMin
            VMax = vMax }
    let env = Environments.make envId
    use agent = new Agent(config, env.ObservationSize, env.ActionCount)
    use csv = new MetricsCsvWriter(Path.Combine(out, "metrics.csv"))
    let tb = TensorBoardWriter(out)
    let s =
        agent.Learn(
            env,
            steps,
            Environments.make envId,
            fun e ->
                csv.Write e
                tb.Write e
        )
    let curve = s.Evaluations |> List.map (fun e -> e.Step, e.MeanReturn)
    { Preset = preset
      Seed = seed
      Curve = curve
      SolvedAt = curve |> List.tryFind (fun (_, r) -> r >= threshold envId) |> Option.map fst
      WallSeconds = s.WallSeconds }

let private median (xs: float list) =
    let a = List.sort xs |> Array.ofList
    if a.Length % 2 = 1 then a[a.Length / 2] else (a[a.Length / 2 - 1] + a[a.Length / 2]) / 2.0

/// The table: one row per preset, the steps to threshold for each seed (— when never within the budget),
/// how many seeds solved, and the median over seeds that solved.
let table (envId: string) (steps: int64) (runs: Run list) =
    let seeds = runs |> List.map (fun r -> r.Seed) |> List.distinct |> List.sort
    let sb = StringBuilder()
    let line (s: string) = sb.AppendLine s |> ignore
    line $"""Agent steps until a greedy evaluation first reached {threshold envId} on {envId} (budget {steps} steps; — = not within it)."""
    line ""
    line ("| preset | " + String.Join(" | ", seeds |> List.map (sprintf "seed %d")) + " | solved | median steps | wall s (mean) |")
    line ("|---|" + String.Join("|", seeds |> List.map (fun _ -> "---:")) + "|---:|---:|---:|")
    for preset in runs |> List.map (fun r -> r.Preset) |> List.distinct do
        let rs = runs |> List.filter (fun r -> r.Preset = preset)
        let cells = seeds |> List.map (fun s -> match rs |> List.tryFind (fun r -> r.Seed = s) with Some { SolvedAt = Some at } -> string at | _ -> "—")
        let solved = rs |> List.choose (fun r -> r.SolvedAt) |> List.map float
        let med = if solved.IsEmpty then "—" else sprintf "%.0f" (median solved)
        let wall = rs |> List.averageBy (fun r -> r.WallSeconds)
        line $"""| {preset} | {String.Join(" | ", cells)} | {solved.Length}/{rs.Length} | {med} | {wall:F0} |"""
    sb.ToString()

/// The family plot of the runs saved under `dir` (`dir`/<preset>/seed<N>/metrics.csv, as `run` writes them): each
/// preset's greedy evaluation return averaged over its seeds against agent steps, the solved threshold dashed, drawn
/// with ScottPlot into `outBase`.svg and `outBase`.png. `presets`: those presets in that order (None: every preset
/// folder, in DqnConfig.presetNames order). Returns the paths written.
let plot (envId: string) (dir: string) (presets: string list option) (outBase: string) =
    let folders =
        Directory.GetDirectories dir
        |> Array.map (fun d -> Path.GetFileName d, d)
        |> Array.filter (fun (_, d) -> Directory.GetFiles(d, "metrics.csv", SearchOption.AllDirectories).Length > 0)
        |> Map.ofArray
    let names =
        match presets with
        | Some ps ->
            for p in ps do
                if not (folders.ContainsKey p) then invalidArg "presets" $"no runs of preset {p} under {dir}"
            ps
        | None ->
            let order (name: string) =
                match List.tryFindIndex ((=) name) DqnConfig.presetNames with
                | Some i -> i, name
                | None -> Int32.MaxValue, name
            folders |> Map.toList |> List.map fst |> List.sortBy order
    if names.IsEmpty then invalidArg "dir" $"no <preset>/seed<N>/metrics.csv under {dir}"
    let groups =
        [ for name in names ->
              { Plot.Key = folders[name]
                Plot.Label = name
                Plot.Runs = Plot.findRuns folders[name] |> List.map Plot.readRun } ]
    let threshold = try Some(threshold envId) with :? ArgumentException -> None
    Plot.evaluations $"{envId}: greedy evaluation return (mean over seeds) by agent step" threshold groups outBase

/// Runs every preset on every seed, printing each run, and writes family.md, family.svg and family.png to `out`.
let runAll (envId: string) (presets: string list) (seeds: int list) (steps: int64) (evalInterval: int) (evalEpisodes: int) (out: string) =
    Directory.CreateDirectory out |> ignore
    let runs =
        [ for preset in presets do
              for seed in seeds do
                  let r = run envId preset seed steps evalInterval evalEpisodes (Path.Combine(out, preset, $"seed{seed}"))
                  let at = match r.SolvedAt with Some s -> string s | None -> "not solved"
                  printfn "%-12s seed %d: %s (%.0f s)" preset seed at r.WallSeconds
                  r ]
    let md = table envId steps runs
    File.WriteAllText(Path.Combine(out, "family.md"), md)
    plot envId out (Some presets) (Path.Combine(out, "family")) |> ignore
    printfn "%s" md
