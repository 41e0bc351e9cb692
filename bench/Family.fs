/// Sample efficiency of the DQN family: for each preset and seed, the agent steps until a periodic greedy
/// evaluation first reaches the task's threshold; a markdown table and an SVG of the mean evaluation curves.
module Dqn.Fun.Bench.Family

open System
open System.Globalization
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

/// An SVG line chart of each preset's evaluation curve averaged over seeds (a plain, dependency-free file).
let svg (envId: string) (runs: Run list) =
    let inv (x: float) = x.ToString("0.#", CultureInfo.InvariantCulture)
    let w, h, left, bottom, top, right = 760.0, 420.0, 60.0, 40.0, 30.0, 150.0
    let curves =
        [ for preset in runs |> List.map (fun r -> r.Preset) |> List.distinct ->
              let rs = runs |> List.filter (fun r -> r.Preset = preset)
              let steps = rs.Head.Curve |> List.map fst
              preset, steps |> List.mapi (fun i s -> s, rs |> List.averageBy (fun r -> snd r.Curve[i])) ]
    let allPoints = curves |> List.collect snd
    let xMax = allPoints |> List.map (fst >> float) |> List.max
    let yMin = min 0.0 (allPoints |> List.map snd |> List.min)
    let yMax = max (threshold envId) (allPoints |> List.map snd |> List.max)
    let px (x: float) = left + (x / xMax) * (w - left - right)
    let py (y: float) = h - bottom - (y - yMin) / (yMax - yMin) * (h - bottom - top)
    let colours = [| "#1f77b4"; "#ff7f0e"; "#2ca02c"; "#d62728"; "#9467bd"; "#8c564b"; "#e377c2"; "#7f7f7f"; "#bcbd22"; "#17becf" |]
    let sb = StringBuilder()
    let add (s: string) = sb.AppendLine s |> ignore
    add $"""<svg xmlns="http://www.w3.org/2000/svg" width="{inv w}" height="{inv h}" font-family="sans-serif" font-size="12">"""
    add $"""<rect width="100%%" height="100%%" fill="white"/>"""
    add $"""<text x="{inv left}" y="18">{envId}: greedy evaluation return (mean over seeds) by agent step</text>"""
    add $"""<line x1="{inv left}" y1="{inv (py yMin)}" x2="{inv (w - right)}" y2="{inv (py yMin)}" stroke="black"/>"""
    add $"""<line x1="{inv left}" y1="{inv (py yMin)}" x2="{inv left}" y2="{inv top}" stroke="black"/>"""
    let t = threshold envId
    add $"""<line x1="{inv left}" y1="{inv (py t)}" x2="{inv (w - right)}" y2="{inv (py t)}" stroke="grey" stroke-dasharray="4 4"/>"""
    add $"""<text x="{inv (left + 4.0)}" y="{inv (py t - 4.0)}" fill="grey">solved: {inv t}</text>"""
    for k in 0..4 do
        let x = xMax * float k / 4.0
        add $"""<text x="{inv (px x)}" y="{inv (h - bottom + 16.0)}" text-anchor="middle">{inv x}</text>"""
        let y = yMin + (yMax - yMin) * float k / 4.0
        add $"""<text x="{inv (left - 6.0)}" y="{inv (py y + 4.0)}" text-anchor="end">{inv y}</text>"""
    curves
    |> List.iteri (fun i (preset, points) ->
        let colour = colours[i % colours.Length]
        let path = String.Join(" ", points |> List.map (fun (s, r) -> $"{inv (px (float s))},{inv (py r)}"))
        add $"""<polyline fill="none" stroke="{colour}" stroke-width="2" points="{path}"/>"""
        add $"""<text x="{inv (w - right + 10.0)}" y="{inv (top + 16.0 * float i + 10.0)}" fill="{colour}">{preset}</text>""")
    add "</svg>"
    sb.ToString()

/// Runs every preset on every seed, printing each run, and writes family.md and family.svg to `out`.
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
    File.WriteAllText(Path.Combine(out, "family.svg"), svg envId runs)
    printfn "%s" md
