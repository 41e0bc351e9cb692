module Dqn.Fun.Tests.PlotTests

open System
open System.IO
open System.Text
open System.Xml.Linq
open Expecto
open Dqn.Fun
open Dqn.Fun.Bench

let private tempDir () =
    let d = Path.Combine(Path.GetTempPath(), "dqnfun-plot-" + Guid.NewGuid().ToString("N"))
    Directory.CreateDirectory d |> ignore
    d

/// A small classic-control run written by core's MetricsCsvWriter: an episode every 50 agent steps with return
/// `offset` + step / 100, an evaluation every 500 with `offset` + step / 50.
let private writeRun (dir: string) (offset: float) =
    use csv = new MetricsCsvWriter(Path.Combine(dir, "metrics.csv"))
    for k in 1..40 do
        let step = int64 (50 * k)
        csv.Write(
            EpisodeEnded
                { Step = step
                  Episode = k
                  Return = offset + float step / 100.0
                  Length = 50
                  Epsilon = 0.1
                  Loss = nan
                  MeanQ = nan
                  Updates = 0L
                  StepsPerSecond = 1000.0 }
        )
        if step % 500L = 0L then
            csv.Write(Evaluated { Step = step; MeanReturn = offset + float step / 50.0; StdReturn = 1.0; Returns = [||]; Lengths = [||] })

/// Width and height from a PNG's IHDR chunk, after checking the signature.
let private pngSize (bytes: byte[]) =
    Expect.equal (bytes[0..7]) [| 137uy; 80uy; 78uy; 71uy; 13uy; 10uy; 26uy; 10uy |] "bytes[0..7]"
    Expect.equal (Encoding.ASCII.GetString(bytes, 12, 4)) "IHDR" "Encoding.ASCII.GetString(bytes, 12, 4)"
    let u32 i = (int bytes[i] <<< 24) ||| (int bytes[i + 1] <<< 16) ||| (int bytes[i + 2] <<< 8) ||| int bytes[i + 3]
    u32 16, u32 20

let private texts (svg: XDocument) =
    svg.Descendants()
    |> Seq.filter (fun e -> e.Name.LocalName = "text")
    |> Seq.map (fun e -> e.Value.Trim())
    |> List.ofSeq

[<Tests>]
let tests =
    testList "Plot" [
        testCase "runs whose paths differ only by the seed form one group" <| fun () ->
            let key = Plot.groupKey (Some Plot.seedPattern)
            Expect.equal (key "/r/family-CartPole-v1/dqn/seed12") (key "/r/family-CartPole-v1/dqn/seed0") "key \"/r/family-CartPole-v1/dqn/seed12\""
            Expect.equal (key "/r/family-CartPole-v1/dqn/seed3") "/r/family-CartPole-v1/dqn" "key \"/r/family-CartPole-v1/dqn/seed3\""
            Expect.equal (key "/r/CartPole-v1-seed3") "/r/CartPole-v1" "key \"/r/CartPole-v1-seed3\""
            Expect.equal (key "/r/atari-Pong-nature-seed0") "/r/atari-Pong-nature" "key \"/r/atari-Pong-nature-seed0\""
            Expect.equal (key "/r/run_a_seed7/") "/r/run_a" "key \"/r/run_a_seed7/\""
            Expect.notEqual (key "/r/family-CartPole-v1/double/seed0") (key "/r/family-CartPole-v1/dqn/seed0") "key \"/r/family-CartPole-v1/double/seed0\""
            // Only a whole component or its ending: "seedless" and "seed3x" are names, not seeds.
            Expect.equal (key "/r/seedless") "/r/seedless" "key \"/r/seedless\""
            Expect.equal (key "/r/a-seed3x") "/r/a-seed3x" "key \"/r/a-seed3x\""
            Expect.equal (Plot.groupKey None "/r/x/seed0") "/r/x/seed0" "Plot.groupKey None \"/r/x/seed0\""

        testCase "groups are labelled below the folder they share" <| fun () ->
            let run dir = { Plot.Dir = dir; Plot.Atari = false; Plot.Episodes = [||]; Plot.Evaluations = [||] }
            let groups =
                Plot.group
                    (Some Plot.seedPattern)
                    [ run "/r/fam/dqn/seed0"; run "/r/fam/double/seed0"; run "/r/fam/dqn/seed1" ]
            Expect.equal (groups |> List.map (fun g -> g.Label)) [ "dqn"; "double" ] "groups |> List.map (fun g -> g.Label)"
            Expect.equal (groups |> List.map (fun g -> g.Runs.Length)) [ 2; 1 ] "groups |> List.map (fun g -> g.Runs.Length)"
            let single = Plot.group (Some Plot.seedPattern) [ run "/r/CartPole-v1-seed0"; run "/r/CartPole-v1-seed1" ]
            Expect.equal (single |> List.map (fun g -> g.Label)) [ "CartPole-v1" ] "single |> List.map (fun g -> g.Label)"
            let none = Plot.group None [ run "/r/CartPole-v1-seed0"; run "/r/CartPole-v1-seed1" ]
            Expect.equal (none |> List.map (fun g -> g.Label)) [ "CartPole-v1-seed0"; "CartPole-v1-seed1" ] "none |> List.map (fun g -> g.Label)"

        testCase "the moving average is over the last window values" <| fun () ->
            Expect.equal (Plot.movingAverage 3 [| 1.0; 2.0; 3.0; 4.0; 5.0 |]) [| 1.0; 1.5; 2.0; 3.0; 4.0 |] "Plot.movingAverage 3 [| 1.0; 2.0; 3.0; 4.0; 5.0 |]"

        testCase "metrics of core and of atari are read with their x axes" <| fun () ->
            let dir = tempDir ()
            try
                let classic = Path.Combine(dir, "classic")
                writeRun classic 0.0
                let r = Plot.readRun classic
                Expect.isFalse r.Atari "r.Atari"
                Expect.equal r.Episodes.Length 40 "r.Episodes.Length"
                Expect.equal r.Evaluations.Length 4 "r.Evaluations.Length"
                Expect.equal (r.Evaluations[0]) ({ Plot.AgentSteps = 500L; Plot.Frames = 500L; Plot.Return = 10.0; Plot.Hours = None }) "r.Evaluations[0]"
                let atari = Path.Combine(dir, "atari")
                Directory.CreateDirectory atari |> ignore
                File.WriteAllLines(
                    Path.Combine(atari, "metrics.csv"),
                    [ "kind,frames,agent_steps,updates,game,return,agent_steps_in_game,epsilon,loss,mean_q,frames_per_second,agent_steps_per_second,protocol,eval_mean,eval_std,eval_games,human_normalized"
                      "game,4000,1000,0,1,-21,1000,0.9,,,500,125,,,,,"
                      "eval,8000,2000,,,,,,,,,,nature,-20.5,0.5,30,0.1" ]
                )
                let timed = Path.Combine(dir, "timed")
                Directory.CreateDirectory timed |> ignore
                File.WriteAllLines(
                    Path.Combine(timed, "metrics.csv"),
                    [ "kind,frames,agent_steps,updates,game,return,agent_steps_in_game,epsilon,loss,mean_q,frames_per_second,agent_steps_per_second,protocol,eval_mean,eval_std,eval_games,human_normalized,wall_seconds"
                      "game,4000,1000,0,1,-21,1000,0.9,,,500,125,,,,,,5400.0" ]
                )
                Expect.equal (Plot.readRun timed).Episodes[0].Hours (Some 1.5) "wall_seconds read as hours"
                Directory.Delete(timed, true)
                let a = Plot.readRun atari
                Expect.isTrue a.Atari "a.Atari"
                Expect.equal (a.Episodes[0]) ({ Plot.AgentSteps = 1000L; Plot.Frames = 4000L; Plot.Return = -21.0; Plot.Hours = None }) "a.Episodes[0]"
                Expect.equal (a.Evaluations[0]) ({ Plot.AgentSteps = 2000L; Plot.Frames = 8000L; Plot.Return = -20.5; Plot.Hours = None }) "a.Evaluations[0]"
                // A folder without a metrics.csv stands for the runs below it.
                Expect.equal (Plot.findRuns atari) [ atari ] "Plot.findRuns atari"
                Expect.equal (Plot.findRuns dir) [ atari; classic ] "Plot.findRuns dir"
            finally
                Directory.Delete(dir, true)

        testCase "a group's curves are the mean, minimum and maximum over its runs" <| fun () ->
            let run (offset: float) =
                { Plot.Dir = "/r"
                  Plot.Atari = false
                  Plot.Episodes = [| for k in 1..10 -> { Plot.AgentSteps = int64 (10 * k); Plot.Frames = 0L; Plot.Return = offset; Plot.Hours = None } |]
                  Plot.Evaluations = [| { Plot.AgentSteps = 50L; Plot.Frames = 0L; Plot.Return = offset; Plot.Hours = None } |] }
            let xs, mean, lo, hi = Plot.trainingCurve Plot.AgentSteps 3 [ run 1.0; run 3.0 ]
            Expect.equal xs.Length 200 "xs.Length"
            Expect.equal (xs[0], Array.last xs) (10.0, 100.0) "(xs[0], Array.last xs)"
            for m in mean do Expect.equal m 2.0 "m"
            for m in lo do Expect.equal m 1.0 "m"
            for m in hi do Expect.equal m 3.0 "m"
            let ex, em, emin, emax = Plot.evaluationCurve Plot.AgentSteps [ run 1.0; run 3.0 ]
            Expect.equal ex [| 50.0 |] "ex"
            Expect.equal em [| 2.0 |] "em"
            Expect.equal emin [| 1.0 |] "emin"
            Expect.equal emax [| 3.0 |] "emax"

        testCase "plot draws two seed groups into a PNG and an SVG" <| fun () ->
            let dir = tempDir ()
            try
                for name, offset in [ "a-seed0", 0.0; "a-seed1", 2.0; "b-seed0", 10.0 ] do
                    writeRun (Path.Combine(dir, name)) offset
                let runs = Plot.findRuns dir |> List.map Plot.readRun
                let groups = Plot.group (Some Plot.seedPattern) runs
                Expect.equal (groups |> List.map (fun g -> g.Label)) [ "a"; "b" ] "groups |> List.map (fun g -> g.Label)"
                let outBase = Path.Combine(dir, "out", "returns")
                let written = Plot.returns Plot.AgentSteps 5 "test plot" groups outBase
                Expect.equal written [ outBase + ".svg"; outBase + ".png" ] "written"
                Expect.equal (pngSize (File.ReadAllBytes(outBase + ".png"))) Plot.size "pngSize (File.ReadAllBytes(outBase + \".png\"))"
                let svg = XDocument.Load(outBase + ".svg")
                Expect.equal svg.Root.Name.LocalName "svg" "svg.Root.Name.LocalName"
                let labels = texts svg
                for label in [ "test plot"; "a (mean of 2 runs; min-max)"; "a: evaluations"; "b"; "b: evaluations"; "agent steps" ] do
                    Expect.contains labels label "labels"
                // The series' lines: Category10's first two colours.
                let strokes = svg.Descendants() |> Seq.choose (fun e -> e.Attribute(XName.Get "stroke") |> Option.ofObj) |> Seq.map (fun a -> a.Value.ToUpperInvariant()) |> Set.ofSeq
                Expect.contains strokes "#1F77B4" "strokes"
                Expect.contains strokes "#FF7F0E" "strokes"
            finally
                Directory.Delete(dir, true)

        testCase "family --replot draws each preset's mean evaluation curve from saved runs" <| fun () ->
            let dir = tempDir ()
            try
                for preset, offset in [ "dqn", 0.0; "double", 5.0 ] do
                    for seed in 0..1 do
                        writeRun (Path.Combine(dir, preset, $"seed{seed}")) (offset + float seed)
                let outBase = Path.Combine(dir, "family")
                Expect.equal (Family.plot "CartPole-v1" dir None outBase) [ outBase + ".svg"; outBase + ".png" ] "Family.plot \"CartPole-v1\" dir None outBase"
                Expect.equal (pngSize (File.ReadAllBytes(outBase + ".png"))) Plot.size "pngSize (File.ReadAllBytes(outBase + \".png\"))"
                let labels = texts (XDocument.Load(outBase + ".svg"))
                for label in [ "dqn"; "double"; "solved: 475"; "CartPole-v1: greedy evaluation return (mean over seeds) by agent step" ] do
                    Expect.contains labels label "labels"
                Expect.throwsT<ArgumentException> (fun () -> Family.plot "CartPole-v1" dir (Some [ "rainbow" ]) outBase |> ignore) "ArgumentException"
            finally
                Directory.Delete(dir, true)
    ]
