module Dqn.Fun.Tests.ScheduleTests

open System
open Expecto
open FsCheck
open FsCheck.FSharp
open Dqn.Fun
open Dqn.Fun.Tests.TestConfig

// Finite values in [-1000, 1000] with three decimals; steps and durations as int64.
let private values = Gen.choose (-1_000_000, 1_000_000) |> Gen.map (fun i -> float i / 1000.0)
let private steps = Gen.choose (0, 2_000_000) |> Gen.map int64
let private durations = Gen.choose (1, 1_000_000) |> Gen.map int64
let private decays = Gen.choose (1, 1_000_000) |> Gen.map (fun i -> float i / 100.0)

let private within lo hi (v: float) = min lo hi <= v && v <= max lo hi

let private towards start finish (earlier: float) (later: float) =
    if finish >= start then earlier <= later else earlier >= later

// Knots with strictly increasing steps: cumulative positive gaps from a non-negative first step.
let private knotLists =
    gen {
        let! first = Gen.choose (0, 1000)
        let! gaps = Gen.nonEmptyListOf (Gen.choose (1, 10_000))
        let! vs = Gen.listOfLength (List.length gaps + 1) values
        let knotSteps = List.scan (+) first gaps |> List.map int64
        return List.zip knotSteps vs
    }

[<Tests>]
let tests =
    testList "Schedule" [
        testPropertyWithConfig fsCheck "a constant schedule has its value at every step" (
            Prop.forAll (Arb.fromGen (Gen.zip values steps)) (fun (v, t) ->
                Schedule.value (Schedule.constant v) t = v)
        )

        testPropertyWithConfig fsCheck "a linear schedule starts at start and holds finish from its duration on" (
            let gen = gen {
                let! start = values
                let! finish = values
                let! duration = durations
                let! extra = steps
                return start, finish, duration, extra
            }
            Prop.forAll (Arb.fromGen gen) (fun (start, finish, duration, extra) ->
                let s = Schedule.linear start finish duration
                Schedule.value s 0L = start
                && Schedule.value s duration = finish
                && Schedule.value s (duration + extra) = finish)
        )

        testCase "a linear schedule interpolates as start plus the fraction of the gap" <| fun () ->
            let s = Schedule.linear 1.0 0.1 100L
            Expect.floatClose (Accuracy.places 12) (Schedule.value s 50L) 0.55 "Schedule.value s 50L"
            Expect.floatClose (Accuracy.places 12) (Schedule.value s 10L) 0.91 "Schedule.value s 10L"
            Expect.equal (Schedule.value s 1_000_000L) 0.1 "Schedule.value s 1_000_000L"

        testPropertyWithConfig fsCheck "a linear schedule follows start plus (finish - start) times t over duration at every step" (
            let gen = gen {
                let! start = values
                let! finish = values
                let! duration = durations
                let! t = Gen.choose64 (0L, duration)
                return start, finish, duration, t
            }
            Prop.forAll (Arb.fromGen gen) (fun (start, finish, duration, t) ->
                let expected = start + (finish - start) * (float t / float duration)
                abs (Schedule.value (Schedule.linear start finish duration) t - expected) <= 1e-9)
        )

        testPropertyWithConfig fsCheck "a linear schedule moves monotonically towards finish and stays between its endpoints" (
            let gen = gen {
                let! start = values
                let! finish = values
                let! duration = durations
                let! a = steps
                let! b = steps
                return start, finish, duration, min a b, max a b
            }
            Prop.forAll (Arb.fromGen gen) (fun (start, finish, duration, t1, t2) ->
                let s = Schedule.linear start finish duration
                let v1 = Schedule.value s t1
                let v2 = Schedule.value s t2
                towards start finish v1 v2 && within start finish v1 && within start finish v2)
        )

        testCase "an exponential schedule starts at start and closes the gap by a factor e every decay steps" <| fun () ->
            let s = Schedule.exponential 1.0 0.0 10.0
            Expect.equal (Schedule.value s 0L) 1.0 "Schedule.value s 0L"
            Expect.floatClose (Accuracy.places 12) (Schedule.value s 10L) (exp -1.0) "Schedule.value s 10L"
            Expect.floatClose (Accuracy.places 12) (Schedule.value s 20L) (exp -2.0) "Schedule.value s 20L"
            let shifted = Schedule.exponential 0.5 0.1 100.0
            Expect.floatClose (Accuracy.places 12) (Schedule.value shifted 50L) (0.1 + 0.4 * exp -0.5) "Schedule.value shifted 50L"

        testPropertyWithConfig fsCheck "an exponential schedule follows finish plus (start - finish) times exp(-t over decay)" (
            let gen = gen {
                let! start = values
                let! finish = values
                let! decay = decays
                let! t = steps
                return start, finish, decay, t
            }
            Prop.forAll (Arb.fromGen gen) (fun (start, finish, decay, t) ->
                let expected = finish + (start - finish) * exp (-(float t) / decay)
                abs (Schedule.value (Schedule.exponential start finish decay) t - expected) <= 1e-9)
        )

        testCase "an exponential schedule reaches finish in the limit" <| fun () ->
            Expect.equal (Schedule.value (Schedule.exponential 1.0 0.05 10.0) 100_000L) 0.05 "Schedule.value (Schedule.exponential 1.0 0.05 10.0) 100_000L"

        testPropertyWithConfig fsCheck "an exponential schedule moves monotonically towards finish and stays between its endpoints" (
            let gen = gen {
                let! start = values
                let! finish = values
                let! decay = decays
                let! a = steps
                let! b = steps
                return start, finish, decay, min a b, max a b
            }
            Prop.forAll (Arb.fromGen gen) (fun (start, finish, decay, t1, t2) ->
                let s = Schedule.exponential start finish decay
                let v1 = Schedule.value s t1
                let v2 = Schedule.value s t2
                Schedule.value s 0L = start
                && towards start finish v1 v2
                && within start finish v1
                && within start finish v2)
        )

        testCase "a piecewise-linear schedule interpolates between knots and is constant outside them" <| fun () ->
            let s = Schedule.piecewiseLinear [ (10L, 1.0); (20L, 0.5); (40L, 0.0) ]
            Expect.equal (Schedule.value s 0L) 1.0 "Schedule.value s 0L"
            Expect.equal (Schedule.value s 10L) 1.0 "Schedule.value s 10L"
            Expect.floatClose (Accuracy.places 12) (Schedule.value s 15L) 0.75 "Schedule.value s 15L"
            Expect.equal (Schedule.value s 20L) 0.5 "Schedule.value s 20L"
            Expect.floatClose (Accuracy.places 12) (Schedule.value s 30L) 0.25 "Schedule.value s 30L"
            Expect.equal (Schedule.value s 40L) 0.0 "Schedule.value s 40L"
            Expect.equal (Schedule.value s 1000L) 0.0 "Schedule.value s 1000L"

        testCase "a single-knot piecewise-linear schedule is constant" <| fun () ->
            let s = Schedule.piecewiseLinear [ (100L, 0.3) ]
            Expect.equal (Schedule.value s 0L) 0.3 "Schedule.value s 0L"
            Expect.equal (Schedule.value s 100L) 0.3 "Schedule.value s 100L"
            Expect.equal (Schedule.value s 5000L) 0.3 "Schedule.value s 5000L"

        testPropertyWithConfig fsCheck "a piecewise-linear schedule hits every knot and is monotone and bounded between neighbours" (
            let gen = gen {
                let! knots = knotLists
                let! i = Gen.choose (0, List.length knots - 2)
                let (s0, v0), (s1, v1) = knots[i], knots[i + 1]
                let! a = Gen.choose64 (s0, s1)
                let! b = Gen.choose64 (s0, s1)
                return knots, (s0, v0), (s1, v1), min a b, max a b
            }
            Prop.forAll (Arb.fromGen gen) (fun (knots, (_, v0), (_, v1), t1, t2) ->
                let s = Schedule.piecewiseLinear knots
                let w1 = Schedule.value s t1
                let w2 = Schedule.value s t2
                List.forall (fun (k, v) -> Schedule.value s k = v) knots
                && towards v0 v1 w1 w2
                && within v0 v1 w1
                && within v0 v1 w2)
        )

        testPropertyWithConfig fsCheck "a piecewise-linear schedule agrees with a linear scan over its segments" (
            let gen = gen {
                let! knots = knotLists
                let! t = Gen.choose64 (0L, fst (List.last knots) + 100L)
                return knots, t
            }
            let reference (knots: (int64 * float) list) (t: int64) =
                let k = List.toArray knots
                if t <= fst k[0] then snd k[0]
                elif t >= fst k[k.Length - 1] then snd k[k.Length - 1]
                else
                    let i = Array.findIndexBack (fun (s, _) -> s <= t) k
                    let (s0, v0), (s1, v1) = k[i], k[i + 1]
                    v0 + (v1 - v0) * float (t - s0) / float (s1 - s0)
            Prop.forAll (Arb.fromGen gen) (fun (knots, t) ->
                abs (Schedule.value (Schedule.piecewiseLinear knots) t - reference knots t) <= 1e-9)
        )

        testCase "schedules reject non-positive durations and decays" <| fun () ->
            let e = Expect.wantThrows<ArgumentOutOfRangeException> (fun () -> Schedule.linear 1.0 0.0 0L |> ignore) "ArgumentOutOfRangeException"
            Expect.equal e.ParamName "duration" "e.ParamName"
            Expect.equal e.ActualValue (box 0L) "e.ActualValue"
            Expect.throwsT<ArgumentOutOfRangeException> (fun () -> Schedule.linear 1.0 0.0 -5L |> ignore) "ArgumentOutOfRangeException"
            let e = Expect.wantThrows<ArgumentOutOfRangeException> (fun () -> Schedule.exponential 1.0 0.0 0.0 |> ignore) "ArgumentOutOfRangeException"
            Expect.equal e.ParamName "decay" "e.ParamName"
            Expect.throwsT<ArgumentOutOfRangeException> (fun () -> Schedule.exponential 1.0 0.0 -1.0 |> ignore) "ArgumentOutOfRangeException"

        testCase "schedules reject non-finite values and name them" <| fun () ->
            let e = Expect.wantThrows<ArgumentException> (fun () -> Schedule.constant nan |> ignore) "ArgumentException"
            Expect.equal e.ParamName "value" "e.ParamName"
            Expect.stringContains e.Message "NaN" "e.Message"
            let e = Expect.wantThrows<ArgumentException> (fun () -> Schedule.linear infinity 0.0 10L |> ignore) "ArgumentException"
            Expect.equal e.ParamName "start" "e.ParamName"
            let e = Expect.wantThrows<ArgumentException> (fun () -> Schedule.linear 1.0 -infinity 10L |> ignore) "ArgumentException"
            Expect.equal e.ParamName "finish" "e.ParamName"
            let e = Expect.wantThrows<ArgumentException> (fun () -> Schedule.exponential 1.0 0.0 nan |> ignore) "ArgumentException"
            Expect.equal e.ParamName "decay" "e.ParamName"
            let e = Expect.wantThrows<ArgumentException> (fun () -> Schedule.piecewiseLinear [ (0L, 1.0); (5L, nan) ] |> ignore) "ArgumentException"
            Expect.equal e.ParamName "knots" "e.ParamName"

        testCase "piecewise-linear schedules reject empty, unordered and negative knots" <| fun () ->
            let e = Expect.wantThrows<ArgumentException> (fun () -> Schedule.piecewiseLinear [] |> ignore) "ArgumentException"
            Expect.equal e.ParamName "knots" "e.ParamName"
            let e = Expect.wantThrows<ArgumentException> (fun () -> Schedule.piecewiseLinear [ (0L, 1.0); (10L, 0.5); (10L, 0.1) ] |> ignore) "ArgumentException"
            Expect.stringContains e.Message "strictly increasing" "e.Message"
            Expect.stringContains e.Message "index 2" "e.Message"
            Expect.throwsT<ArgumentException> (fun () -> Schedule.piecewiseLinear [ (10L, 1.0); (5L, 0.5) ] |> ignore) "ArgumentException"
            Expect.throwsT<ArgumentOutOfRangeException> (fun () -> Schedule.piecewiseLinear [ (-1L, 1.0) ] |> ignore) "ArgumentOutOfRangeException"

        testCase "a schedule rejects a negative step" <| fun () ->
            let e = Expect.wantThrows<ArgumentOutOfRangeException> (fun () -> Schedule.value (Schedule.constant 1.0) -1L |> ignore) "ArgumentOutOfRangeException"
            Expect.equal e.ParamName "step" "e.ParamName"
            Expect.equal e.ActualValue (box -1L) "e.ActualValue"

        testCase "schedules built from the same arguments are equal" <| fun () ->
            Expect.equal (Schedule.linear 1.0 0.1 100L) (Schedule.linear 1.0 0.1 100L) "Schedule.linear 1.0 0.1 100L"
            Expect.equal (Schedule.piecewiseLinear [ (0L, 1.0); (5L, 0.0) ]) (Schedule.piecewiseLinear [ (0L, 1.0); (5L, 0.0) ]) "Schedule.piecewiseLinear [ (0L, 1.0); (5L, 0.0) ]"
            Expect.notEqual (Schedule.linear 1.0 0.1 101L) (Schedule.linear 1.0 0.1 100L) "Schedule.linear 1.0 0.1 101L"

        testPropertyWithConfig fsCheck "the multiplicative schedule is max(finish, start * factor^t) against a scalar reference" (
            Prop.forAll
                (Arb.fromGen (
                    gen {
                        let! start = Gen.choose (0, 1000) |> Gen.map (fun i -> float i / 1000.0)
                        let! finish = Gen.choose (0, 1000) |> Gen.map (fun i -> start * float i / 1000.0)
                        let! factor = Gen.choose (1, 1000) |> Gen.map (fun i -> float i / 1000.0)
                        let! t = Gen.choose (0, 5000)
                        return start, finish, factor, int64 t
                    }
                ))
                (fun (start, finish, factor, t) ->
                    let expected = max finish (start * Math.Pow(factor, float t))
                    Schedule.value (Schedule.multiplicative start finish factor) t = expected)
        )

        testCase "the multiplicative schedule halves to its floor and describes itself as max(finish, start * factor^t)" <| fun () ->
            Expect.equal (Schedule.value (Schedule.multiplicative 1.0 0.05 0.5) 2L) 0.25 "after 2 steps"
            Expect.equal (Schedule.value (Schedule.multiplicative 1.0 0.05 0.5) 5L) 0.05 "after 5 steps"
            Expect.equal (Schedule.describe (Schedule.multiplicative 1.0 0.05 0.995)) "max(0.05, 1 * 0.995^t)" "description"

        testCase "the multiplicative schedule checks its arguments, naming them" <| fun () ->
            for factor in [ 0.0; -0.5; 1.5 ] do
                Expect.equal (Expect.wantThrows<ArgumentOutOfRangeException> (fun () -> Schedule.multiplicative 1.0 0.1 factor |> ignore) "ArgumentOutOfRangeException").ParamName "factor" "ParamName"
            Expect.equal (Expect.wantThrows<ArgumentOutOfRangeException> (fun () -> Schedule.multiplicative 0.1 0.5 0.9 |> ignore) "ArgumentOutOfRangeException").ParamName "finish" "ParamName"
            Expect.equal (Expect.wantThrows<ArgumentException> (fun () -> Schedule.multiplicative nan 0.1 0.9 |> ignore) "ArgumentException").ParamName "start" "ParamName"

        testCase "with ExplorationUnit = Episodes, the agent's ε follows the schedule in finished training episodes" <| fun () ->
            let config =
                { DqnConfig.defaults with
                    Exploration = Schedule.multiplicative 1.0 0.05 0.5
                    ExplorationUnit = ScheduleUnit.Episodes
                    LearningStarts = 100_000
                    EvalInterval = 0 }
            use agent = new Agent(config, 4, 2)
            let epsilons = Collections.Generic.List<int * float>()
            let record e = match e with EpisodeEnded m -> epsilons.Add((m.Episode, m.Epsilon)) | _ -> ()
            agent.Learn(CartPoleEnvironment(), 300L, observer = record) |> ignore
            // A second call continues the count: the unit is episodes over the agent's life.
            let first = epsilons.Count
            agent.Learn(CartPoleEnvironment(), 300L, observer = record) |> ignore
            Expect.isTrue (first >= 3 && epsilons.Count > first) $"episodes: {first} in the first call, {epsilons.Count} in all"
            epsilons
            |> Seq.iteri (fun i (_, eps) -> Expect.equal eps (max 0.05 (Math.Pow(0.5, float i))) "eps")
    ]
