module Dqn.Fun.Tests.ReplayBufferTests

open System
open Expecto
open FsCheck
open FsCheck.FSharp
open Dqn.Fun
open Dqn.Fun.Tests.TestConfig

// The i-th transition of a test sequence: observation [i; i], next [i+0.5; i+0.5], action i, reward i.
let private addNumbered (buffer: ReplayBuffer) i =
    let v = float32 i
    buffer.Add([| v; v |], i, v, [| v + 0.5f; v + 0.5f |], (i % 3 = 0))

let private filled capacity count seed =
    let buffer = ReplayBuffer(capacity, 2, seed)
    for i in 0 .. count - 1 do
        addNumbered buffer i
    buffer

// Many draws without breaking the rule that a batch may not exceed Count: concatenated batches of Count.
let private sampleRows (buffer: ReplayBuffer) times =
    List.init times (fun _ -> buffer.Sample buffer.Count)

[<Tests>]
let tests =
    testList "ReplayBuffer" [
        testCase "a new buffer is empty with the requested capacity" <| fun () ->
            let buffer = ReplayBuffer(10, 4, 0)
            Expect.equal buffer.Capacity 10 "buffer.Capacity"
            Expect.equal buffer.ObservationSize 4 "buffer.ObservationSize"
            Expect.equal buffer.Count 0 "buffer.Count"

        testPropertyWithConfig fsCheck "the count grows with each add until it reaches the capacity" (
            let gen = Gen.zip (Gen.choose (1, 50)) (Gen.choose (0, 150))
            Prop.forAll (Arb.fromGen gen) (fun (capacity, adds) ->
                (filled capacity adds 0).Count = min capacity adds)
        )

        testPropertyWithConfig fsCheck "before the buffer is full only filled slots are sampled" (
            let gen = gen {
                let! capacity = Gen.choose (2, 100)
                let! count = Gen.choose (1, capacity - 1)
                let! batch = Gen.choose (1, count)
                let! seed = Gen.choose (0, 1000)
                return capacity, count, batch, seed
            }
            Prop.forAll (Arb.fromGen gen) (fun (capacity, count, batch, seed) ->
                let buffer = filled capacity count seed
                let b = buffer.Sample batch
                b.Size = batch
                && b.Indices.Length = batch
                && b.Indices |> Array.forall (fun i -> 0 <= i && i < count))
        )

        testCase "each sampled row holds the transition stored in its slot" <| fun () ->
            let buffer = filled 8 6 42
            for b in sampleRows buffer 10 do
                Expect.equal b.ObservationSize 2 "b.ObservationSize"
                for row in 0 .. b.Size - 1 do
                    let i = b.Indices[row]
                    let v = float32 i
                    Expect.equal (b.Observations[row * 2 .. row * 2 + 1]) [| v; v |] "b.Observations[row * 2 .. row * 2 + 1]"
                    Expect.equal (b.NextObservations[row * 2 .. row * 2 + 1]) [| v + 0.5f; v + 0.5f |] "b.NextObservations[row * 2 .. row * 2 + 1]"
                    Expect.equal (b.Actions[row]) (int64 i) "b.Actions[row]"
                    Expect.equal (b.Rewards[row]) v "b.Rewards[row]"
                    Expect.equal (b.Terminated[row]) (if i % 3 = 0 then 1.0f else 0.0f) "b.Terminated[row]"

        testCase "after wrap-around the oldest transitions are overwritten in ring order" <| fun () ->
            // Capacity 3, five adds: slot 0 holds transition 3, slot 1 holds 4, slot 2 still holds 2.
            let buffer = filled 3 5 7
            Expect.equal buffer.Count 3 "buffer.Count"
            let seen = Array.zeroCreate<bool> 3
            for b in sampleRows buffer 100 do
                for row in 0 .. b.Size - 1 do
                    let slot = b.Indices[row]
                    seen[slot] <- true
                    let expected = [| 3; 4; 2 |][slot]
                    Expect.equal (b.Actions[row]) (int64 expected) "b.Actions[row]"
                    Expect.equal (b.Observations[row * 2]) (float32 expected) "b.Observations[row * 2]"
            for s in seen do Expect.isTrue s "s"

        testCase "sampling is uniform over the stored slots" <| fun () ->
            let buffer = filled 4 4 123
            let counts = sampleRows buffer 10_000 |> Seq.collect _.Indices |> Seq.countBy id |> Map.ofSeq
            for slot in 0..3 do
                // 10_000 expected per slot; the standard deviation is about 87.
                Expect.inRange (counts[slot]) 9_500 10_500 "counts[slot]"

        testPropertyWithConfig fsCheck "the same seed and insertions give the same batches" (
            let gen = Gen.zip (Gen.choose (0, Int32.MaxValue)) (Gen.choose (1, 40))
            Prop.forAll (Arb.fromGen gen) (fun (seed, count) ->
                let a = filled 16 count seed
                let b = filled 16 count seed
                sampleRows a 3 = sampleRows b 3)
        )

        testCase "different seeds give different batches" <| fun () ->
            let a = (filled 100 100 1).Sample 32
            let b = (filled 100 100 2).Sample 32
            Expect.notEqual b.Indices a.Indices "b.Indices"

        testCase "consecutive samples advance the generator" <| fun () ->
            let buffer = filled 100 100 5
            Expect.notEqual ((buffer.Sample 32).Indices) ((buffer.Sample 32).Indices) "(buffer.Sample 32).Indices"

        testCase "a truncated transition is stored as not terminated and a terminated one as terminated" <| fun () ->
            let buffer = ReplayBuffer(2, 1, 0)
            buffer.Add { Observation = [| 1.0f |]; Action = 0; Reward = 1.0f; NextObservation = [| 2.0f |]; Terminated = false; Truncated = true }
            buffer.Add { Observation = [| 3.0f |]; Action = 1; Reward = 1.0f; NextObservation = [| 4.0f |]; Terminated = true; Truncated = false }
            let rows = sampleRows buffer 25
            for b in rows do
                for row in 0 .. b.Size - 1 do
                    match b.Indices[row] with
                    | 0 ->
                        Expect.equal (b.Terminated[row]) 0.0f "b.Terminated[row]"
                        Expect.equal (b.NextObservations[row]) 2.0f "b.NextObservations[row]"
                    | _ -> Expect.equal (b.Terminated[row]) 1.0f "b.Terminated[row]"
            Expect.equal (rows |> Seq.collect _.Indices |> Seq.distinct |> Seq.length) 2 "rows |> Seq.collect _.Indices |> Seq.distinct |> Seq.length"

        testCase "adding copies the arrays so later mutation of the caller's arrays has no effect" <| fun () ->
            let buffer = ReplayBuffer(1, 2, 0)
            let obs = [| 1.0f; 2.0f |]
            let next = [| 3.0f; 4.0f |]
            buffer.Add(obs, 0, 0.0f, next, false)
            obs[0] <- 99.0f
            next[1] <- 99.0f
            let b = buffer.Sample 1
            Expect.equal b.Observations [| 1.0f; 2.0f |] "b.Observations"
            Expect.equal b.NextObservations [| 3.0f; 4.0f |] "b.NextObservations"

        testCase "the constructor rejects non-positive capacity and observation size" <| fun () ->
            let e = Expect.wantThrows<ArgumentOutOfRangeException> (fun () -> ReplayBuffer(0, 4, 0) |> ignore) "ArgumentOutOfRangeException"
            Expect.equal e.ParamName "capacity" "e.ParamName"
            Expect.equal e.ActualValue (box 0) "e.ActualValue"
            let e = Expect.wantThrows<ArgumentOutOfRangeException> (fun () -> ReplayBuffer(10, -1, 0) |> ignore) "ArgumentOutOfRangeException"
            Expect.equal e.ParamName "observationSize" "e.ParamName"
            Expect.equal e.ActualValue (box -1) "e.ActualValue"
            let e = Expect.wantThrows<ArgumentOutOfRangeException> (fun () -> ReplayBuffer(Int32.MaxValue, 4, 0) |> ignore) "ArgumentOutOfRangeException"
            Expect.equal e.ParamName "capacity" "e.ParamName"

        testCase "sampling rejects a non-positive batch size" <| fun () ->
            let buffer = filled 4 4 0
            let e = Expect.wantThrows<ArgumentOutOfRangeException> (fun () -> buffer.Sample 0 |> ignore) "ArgumentOutOfRangeException"
            Expect.equal e.ParamName "batchSize" "e.ParamName"

        testCase "sampling more than is stored says how many are stored and needed" <| fun () ->
            let buffer = filled 10 3 0
            let e = Expect.wantThrows<InvalidOperationException> (fun () -> buffer.Sample 5 |> ignore) "InvalidOperationException"
            Expect.stringContains e.Message "stores 3" "e.Message"
            Expect.stringContains e.Message "at least 5" "e.Message"
            Expect.throwsT<InvalidOperationException> (fun () -> ReplayBuffer(10, 2, 0).Sample 1 |> ignore) "InvalidOperationException"

        testCase "adding an observation of the wrong length names expected and actual lengths" <| fun () ->
            let buffer = ReplayBuffer(4, 3, 0)
            let e = Expect.wantThrows<ArgumentException> (fun () -> buffer.Add([| 1.0f; 2.0f |], 0, 0.0f, [| 1.0f; 2.0f; 3.0f |], false)) "ArgumentException"
            Expect.equal e.ParamName "observation" "e.ParamName"
            Expect.stringContains e.Message "length 3" "e.Message"
            Expect.stringContains e.Message "got length 2" "e.Message"
            let e = Expect.wantThrows<ArgumentException> (fun () -> buffer.Add([| 1.0f; 2.0f; 3.0f |], 0, 0.0f, [| 1.0f |], false)) "ArgumentException"
            Expect.equal e.ParamName "nextObservation" "e.ParamName"
            Expect.equal buffer.Count 0 "buffer.Count"

        testCase "adding a non-finite reward names the value" <| fun () ->
            let buffer = ReplayBuffer(4, 1, 0)
            for r in [ nanf; infinityf; -infinityf ] do
                let e = Expect.wantThrows<ArgumentException> (fun () -> buffer.Add([| 0.0f |], 0, r, [| 0.0f |], false)) "ArgumentException"
                Expect.equal e.ParamName "reward" "e.ParamName"
                Expect.stringContains e.Message (string r) "e.Message"
            Expect.equal buffer.Count 0 "buffer.Count"

        testCase "adding a negative action is rejected" <| fun () ->
            let buffer = ReplayBuffer(4, 1, 0)
            let e = Expect.wantThrows<ArgumentOutOfRangeException> (fun () -> buffer.Add([| 0.0f |], -1, 0.0f, [| 0.0f |], false)) "ArgumentOutOfRangeException"
            Expect.equal e.ParamName "action" "e.ParamName"
    ]
