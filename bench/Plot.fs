/// Learning curves from the metrics.csv of saved runs, drawn with ScottPlot 5 (SVG and PNG): `dqnfun-bench plot`
/// and the family plot of `dqnfun-bench family`.
module Dqn.Fun.Bench.Plot

open System
open System.Globalization
open System.IO
open System.Text.RegularExpressions
open ScottPlot

/// One point of a run: when (agent steps and emulator frames; classic control has no frame skip, so its frames are its
/// agent steps) and a return.
type Point =
    { AgentSteps: int64
      Frames: int64
      Return: float
      /// Wall-clock hours of training since the run began (an Atari run's wall_seconds column; None without it).
      Hours: float option }

/// The metrics of one run folder: its training episodes (Atari: games, raw score) and its evaluations (mean return).
type RunMetrics =
    { Dir: string
      /// Written by atari's AtariMetricsCsvWriter (else core's MetricsCsvWriter).
      Atari: bool
      Episodes: Point[]
      Evaluations: Point[] }

/// The x axis of a plot.
type XAxis =
    | AgentSteps
    | Frames
    /// Wall-clock hours of training (Atari runs that record wall_seconds).
    | Hours

/// Runs drawn as one line: `Label` names it in the legend.
type Group = { Key: string; Label: string; Runs: RunMetrics list }

let private number (s: string) =
    if String.IsNullOrWhiteSpace s then nan else Double.Parse(s, CultureInfo.InvariantCulture)

/// Reads `dir`/metrics.csv (or `dir` itself when it is a file): core's MetricsCsvWriter columns (kind episode | eval,
/// step, return, eval_mean_return) or atari's AtariMetricsCsvWriter columns (kind game | eval, frames, agent_steps,
/// return, eval_mean); rows are kept in file order.
let readRun (dir: string) =
    let path = if File.Exists dir then dir else Path.Combine(dir, "metrics.csv")
    if not (File.Exists path) then raise (FileNotFoundException($"no metrics.csv in {dir}", path))
    let lines = File.ReadAllLines path |> Array.filter (fun l -> l.Length > 0)
    if lines.Length = 0 then raise (InvalidDataException($"{path} is empty"))
    let header = lines[0].Split ','
    let column (name: string) =
        match Array.IndexOf(header, name) with
        | -1 -> raise (InvalidDataException($"{path}: no column '{name}' in its header: {lines[0]}"))
        | i -> i
    let atari = Array.contains "frames" header
    let kind = column "kind"
    let rows = lines[1..] |> Array.map (fun l -> l.Split ',')
    let points (rowKind: string) (returnColumn: string) =
        let r = column returnColumn
        if atari then
            let f, s = column "frames", column "agent_steps"
            let w = Array.IndexOf(header, "wall_seconds")
            let hours (row: string[]) = if w >= 0 && w < row.Length && row[w] <> "" then Some(number row[w] / 3600.0) else None
            [| for row in rows do
                   if row[kind] = rowKind then
                       { Frames = int64 row[f]; AgentSteps = int64 row[s]; Return = number row[r]; Hours = hours row } |]
        else
            let s = column "step"
            [| for row in rows do
                   if row[kind] = rowKind then
                       { Frames = int64 row[s]; AgentSteps = int64 row[s]; Return = number row[r]; Hours = None } |]
    { Dir = Path.GetFullPath(if File.Exists dir then Path.GetDirectoryName dir else dir)
      Atari = atari
      Episodes = points (if atari then "game" else "episode") "return"
      Evaluations = points "eval" (if atari then "eval_mean" else "eval_mean_return") }

/// The run folders under `path`: itself when it holds a metrics.csv, else every folder below it that does (sorted).
let findRuns (path: string) =
    if File.Exists(Path.Combine(path, "metrics.csv")) || File.Exists path then [ path ]
    elif Directory.Exists path then
        Directory.GetFiles(path, "metrics.csv", SearchOption.AllDirectories)
        |> Array.map Path.GetDirectoryName
        |> Array.sort
        |> List.ofArray
    else raise (DirectoryNotFoundException($"{path} does not exist"))

/// The default grouping rule: a path component `seed<N>` and a `-seed<N>` or `_seed<N>` ending a component are taken
/// out of the run's path (runs/family-CartPole-v1/dqn/seed3 → runs/family-CartPole-v1/dqn, runs/CartPole-v1-seed3 →
/// runs/CartPole-v1).
let seedPattern = @"[/_-]seed\d+(?=/|$)"

/// The group of a run folder: its full path (with '/') less every match of `pattern`; None: the path itself.
let groupKey (pattern: string option) (dir: string) =
    let path = Path.GetFullPath(dir).Replace('\\', '/').TrimEnd('/')
    match pattern with
    | Some p -> Regex.Replace(path, p, "")
    | None -> path

/// Groups runs by `groupKey pattern`, in the order groups first appear; a group's label is its key below the folder
/// all keys share (its last component when that leaves nothing).
let group (pattern: string option) (runs: RunMetrics list) : Group list =
    let keyed = runs |> List.map (fun r -> groupKey pattern r.Dir, r)
    let keys = keyed |> List.map fst |> List.distinct
    let parts = keys |> List.map (fun k -> k.Split('/', StringSplitOptions.RemoveEmptyEntries))
    let shortest = parts |> List.map Array.length |> List.min
    let rec shared n =
        if n < shortest - 1 && parts |> List.forall (fun p -> p[n] = parts.Head[n]) then shared (n + 1) else n
    let common = if keys.Length > 1 then shared 0 else shortest - 1
    [ for key, p in List.zip keys parts ->
          let label = String.Join("/", p[min common (p.Length - 1) ..])
          { Key = key
            Label = label
            Runs = keyed |> List.filter (fun (k, _) -> k = key) |> List.map snd } ]

/// The trailing moving average of `window` values (fewer at the start: the mean of those so far).
let movingAverage (window: int) (values: float[]) =
    if window < 1 then raise (ArgumentOutOfRangeException("window", window, "window must be at least 1"))
    let out = Array.zeroCreate values.Length
    let mutable sum = 0.0
    for i in 0 .. values.Length - 1 do
        sum <- sum + values[i]
        if i >= window then sum <- sum - values[i - window]
        out[i] <- sum / float (min (i + 1) window)
    out

let private xOf (axis: XAxis) (p: Point) =
    match axis with
    | AgentSteps -> float p.AgentSteps
    | Frames -> float p.Frames
    | Hours -> defaultArg p.Hours nan

/// The value at `x` of a step function through (xs, ys): the y of the last xs[i] ≤ x (xs sorted).
let private stepAt (xs: float[]) (ys: float[]) (x: float) =
    let i = Array.BinarySearch(xs, x)
    let i = if i >= 0 then i else ~~~i - 1
    // Equal xs: the last of them.
    let mutable j = max 0 i
    while j + 1 < xs.Length && xs[j + 1] <= x do
        j <- j + 1
    ys[j]

/// A group's training curve: each run's returns smoothed by `movingAverage window`; one run: its smoothed curve at its
/// episodes; several: on 200 points spanning the x range all runs cover, the mean, minimum and maximum over runs of
/// each run's latest smoothed value. Returns (x, mean, min, max).
let trainingCurve (axis: XAxis) (window: int) (runs: RunMetrics list) =
    let curves =
        runs
        |> List.filter (fun r -> r.Episodes.Length > 0)
        |> List.map (fun r ->
            let xs = r.Episodes |> Array.map (xOf axis)
            xs, movingAverage window (r.Episodes |> Array.map (fun p -> p.Return)))
    match curves with
    | [] -> [||], [||], [||], [||]
    | [ xs, ys ] -> xs, ys, ys, ys
    | _ ->
        let first = curves |> List.map (fun (xs, _) -> xs[0]) |> List.max
        let last = curves |> List.map (fun (xs, _) -> Array.last xs) |> List.min
        let grid = if last > first then Array.init 200 (fun k -> first + (last - first) * float k / 199.0) else [| first |]
        let at x = curves |> List.map (fun (xs, ys) -> stepAt xs ys x)
        grid,
        grid |> Array.map (at >> List.average),
        grid |> Array.map (at >> List.min),
        grid |> Array.map (at >> List.max)

/// A group's evaluations: at each x where some run evaluated, the mean, minimum and maximum of those runs' mean
/// returns. Returns (x, mean, min, max), x ascending.
let evaluationCurve (axis: XAxis) (runs: RunMetrics list) =
    let points =
        runs
        |> List.collect (fun r -> r.Evaluations |> Array.filter (fun p -> not (Double.IsNaN p.Return)) |> List.ofArray)
        |> List.groupBy (xOf axis)
        |> List.sortBy fst
        |> List.map (fun (x, ps) -> x, ps |> List.map (fun p -> p.Return))
    points |> List.map fst |> Array.ofList,
    points |> List.map (snd >> List.average) |> Array.ofList,
    points |> List.map (snd >> List.min) |> Array.ofList,
    points |> List.map (snd >> List.max) |> Array.ofList

/// Width and height of the images, in pixels.
let size = 1200, 600

/// A sans-serif font the machine has (Skia's default family resolves to a serif one on Debian), if any.
let private sans =
    lazy
        (let installed = SkiaSharp.SKFontManager.Default.GetFontFamilies()
         [ "DejaVu Sans"; "Liberation Sans"; "Arial"; "Helvetica"; "Open Sans" ] |> List.tryFind (fun f -> Array.contains f installed))

/// Titles, labels and the legend (outside the data area, on the right, where it hides no point).
let private decorate (plt: Plot) (title: string) (xLabel: string) (yLabel: string) =
    sans.Force() |> Option.iter (plt.Font.Set >> ignore)
    plt.Title title
    plt.XLabel xLabel
    plt.YLabel yLabel
    plt.ShowLegend(Edge.Right) |> ignore

let private save (plt: Plot) (outBase: string) =
    let full = Path.GetFullPath outBase
    Directory.CreateDirectory(Path.GetDirectoryName full) |> ignore
    let w, h = size
    plt.SaveSvg(full + ".svg", w, h) |> ignore
    plt.SavePng(full + ".png", w, h) |> ignore
    [ full + ".svg"; full + ".png" ]

let axisName (axis: XAxis) =
    match axis with
    | AgentSteps -> "agent steps"
    | Frames -> "emulator frames"
    | Hours -> "wall-clock hours of training"

/// Draws return against `axis`, one colour per group: its training curve (`trainingCurve`, a line, with the min-max
/// band shaded when it has several runs) and its evaluations (`evaluationCurve`, markers at the mean). Writes
/// `outBase`.svg and `outBase`.png; returns their paths.
let returns (axis: XAxis) (window: int) (title: string) (groups: Group list) (outBase: string) =
    use plt = new Plot()
    let palette = Palettes.Category10()
    groups
    |> List.iteri (fun i g ->
        let colour = palette.GetColor i
        let seeds = List.length g.Runs
        let xs, mean, lo, hi = trainingCurve axis window g.Runs
        if xs.Length > 0 then
            if seeds > 1 then
                let band = plt.Add.FillY(xs, lo, hi)
                band.FillColor <- colour.WithAlpha 0.2
                band.LineWidth <- 0f
            let line = plt.Add.ScatterLine(xs, mean, colour)
            line.LineWidth <- 2f
            line.LegendText <- if seeds > 1 then $"{g.Label} (mean of {seeds} runs; min-max)" else g.Label
        let ex, em, _, _ = evaluationCurve axis g.Runs
        if ex.Length > 0 then
            let m = plt.Add.Markers(ex, em, MarkerShape.FilledCircle, 8f, colour)
            m.LegendText <- $"{g.Label}: evaluations"
            m.MarkerLineColor <- Colors.Black
            m.MarkerLineWidth <- 1f)
    decorate plt title (axisName axis) $"return (lines: moving average of {window} training episodes)"
    save plt outBase

/// Draws each group's mean evaluation curve (`evaluationCurve`'s mean, a line with markers) against agent steps, with a
/// dashed line at `threshold`: the family plot. Writes `outBase`.svg and `outBase`.png; returns their paths.
let evaluations (title: string) (threshold: float option) (groups: Group list) (outBase: string) =
    use plt = new Plot()
    let palette = Palettes.Category10()
    groups
    |> List.iteri (fun i g ->
        let xs, mean, _, _ = evaluationCurve AgentSteps g.Runs
        if xs.Length > 0 then
            let s = plt.Add.Scatter(xs, mean, palette.GetColor i)
            s.LineWidth <- 2f
            s.MarkerSize <- 5f
            s.LegendText <- g.Label)
    match threshold with
    | Some t ->
        let line = plt.Add.HorizontalLine(t, 1f, Colors.Gray, LinePattern.Dashed)
        line.LegendText <- $"""solved: {t.ToString("0.###", CultureInfo.InvariantCulture)}"""
    | None -> ()
    decorate plt title (axisName AgentSteps) "greedy evaluation return (mean over seeds)"
    save plt outBase

/// The deepest folder holding every path.
let commonFolder (paths: string list) =
    let parts = paths |> List.map (fun p -> Path.GetFullPath(p).Replace('\\', '/').TrimEnd('/').Split('/'))
    let shortest = parts |> List.map Array.length |> List.min
    let mutable n = 0
    while n < shortest && parts |> List.forall (fun p -> p[n] = parts.Head[n]) do
        n <- n + 1
    let joined = String.Join("/", parts.Head[.. n - 1])
    if joined = "" then "/" else joined
