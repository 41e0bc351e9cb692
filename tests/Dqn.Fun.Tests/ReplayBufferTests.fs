module Dqn.Fun.Tests.ReplayBufferTests

open System
open Xunit
open FsCheck
open FsCheck.FSharp
open Dqn.Fun

let private check (property: Property) = Check.One(Config.QuickThrowOnFailure, property)

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

[<Fact>]
let ``a new buffer is empty with the requested capacity`` () =
    let buffer = ReplayBuffer(10, 4, 0)
    Assert.Equal(10, buffer.Capacity)
    Assert.Equal(4, buffer.ObservationSize)
    Assert.Equal(0, buffer.Count)

[<Fact>]
let ``the count grows with each add until it reaches the capacity`` () =
    let gen = Gen.zip (Gen.choose (1, 50)) (Gen.choose (0, 150))
    check (
        Prop.forAll (Arb.fromGen gen) (fun (capacity, adds) ->
            (filled capacity adds 0).Count = min capacity adds)
    )

[<Fact>]
let ``before the buffer is full only filled slots are sampled`` () =
    let gen = gen {
        let! capacity = Gen.choose (2, 100)
        let! count = Gen.choose (1, capacity - 1)
        let! batch = Gen.choose (1, count)
        let! seed = Gen.choose (0, 1000)
        return capacity, count, batch, seed
    }
    check (
        Prop.forAll (Arb.fromGen gen) (fun (capacity, count, batch, seed) ->
            let buffer = filled capacity count seed
            let b = buffer.Sample batch
            b.Size = batch
            && b.Indices.Length = batch
            && b.Indices |> Array.forall (fun i -> 0 <= i && i < count))
    )

[<Fact>]
let ``each sampled row holds the transition stored in its slot`` () =
    let buffer = filled 8 6 42
    for b in sampleRows buffer 10 do
        Assert.Equal(2, b.ObservationSize)
        for row in 0 .. b.Size - 1 do
            let i = b.Indices[row]
            let v = float32 i
            Assert.Equal<float32[]>([| v; v |], b.Observations[row * 2 .. row * 2 + 1])
            Assert.Equal<float32[]>([| v + 0.5f; v + 0.5f |], b.NextObservations[row * 2 .. row * 2 + 1])
            Assert.Equal(int64 i, b.Actions[row])
            Assert.Equal(v, b.Rewards[row])
            Assert.Equal((if i % 3 = 0 then 1.0f else 0.0f), b.Terminated[row])

[<Fact>]
let ``after wrap-around the oldest transitions are overwritten in ring order`` () =
    // Capacity 3, five adds: slot 0 holds transition 3, slot 1 holds 4, slot 2 still holds 2.
    let buffer = filled 3 5 7
    Assert.Equal(3, buffer.Count)
    let seen = Array.zeroCreate<bool> 3
    for b in sampleRows buffer 100 do
        for row in 0 .. b.Size - 1 do
            let slot = b.Indices[row]
            seen[slot] <- true
            let expected = [| 3; 4; 2 |][slot]
            Assert.Equal(int64 expected, b.Actions[row])
            Assert.Equal(float32 expected, b.Observations[row * 2])
    Assert.All(seen, fun s -> Assert.True s)

[<Fact>]
let ``sampling is uniform over the stored slots`` () =
    let buffer = filled 4 4 123
    let counts = sampleRows buffer 10_000 |> Seq.collect _.Indices |> Seq.countBy id |> Map.ofSeq
    for slot in 0..3 do
        // 10_000 expected per slot; the standard deviation is about 87.
        Assert.InRange(counts[slot], 9_500, 10_500)

[<Fact>]
let ``the same seed and insertions give the same batches`` () =
    let gen = Gen.zip (Gen.choose (0, Int32.MaxValue)) (Gen.choose (1, 40))
    check (
        Prop.forAll (Arb.fromGen gen) (fun (seed, count) ->
            let a = filled 16 count seed
            let b = filled 16 count seed
            sampleRows a 3 = sampleRows b 3)
    )

[<Fact>]
let ``different seeds give different batches`` () =
    let a = (filled 100 100 1).Sample 32
    let b = (filled 100 100 2).Sample 32
    Assert.NotEqual<int[]>(a.Indices, b.Indices)

[<Fact>]
let ``consecutive samples advance the generator`` () =
    let buffer = filled 100 100 5
    Assert.NotEqual<int[]>((buffer.Sample 32).Indices, (buffer.Sample 32).Indices)

[<Fact>]
let ``a truncated transition is stored as not terminated and a terminated one as terminated`` () =
    let buffer = ReplayBuffer(2, 1, 0)
    buffer.Add { Observation = [| 1.0f |]; Action = 0; Reward = 1.0f; NextObservation = [| 2.0f |]; Terminated = false; Truncated = true }
    buffer.Add { Observation = [| 3.0f |]; Action = 1; Reward = 1.0f; NextObservation = [| 4.0f |]; Terminated = true; Truncated = false }
    let rows = sampleRows buffer 25
    for b in rows do
        for row in 0 .. b.Size - 1 do
            match b.Indices[row] with
            | 0 ->
                Assert.Equal(0.0f, b.Terminated[row])
                Assert.Equal(2.0f, b.NextObservations[row])
            | _ -> Assert.Equal(1.0f, b.Terminated[row])
    Assert.Equal(2, rows |> Seq.collect _.Indices |> Seq.distinct |> Seq.length)

[<Fact>]
let ``adding copies the arrays so later mutation of the caller's arrays has no effect`` () =
    let buffer = ReplayBuffer(1, 2, 0)
    let obs = [| 1.0f; 2.0f |]
    let next = [| 3.0f; 4.0f |]
    buffer.Add(obs, 0, 0.0f, next, false)
    obs[0] <- 99.0f
    next[1] <- 99.0f
    let b = buffer.Sample 1
    Assert.Equal<float32[]>([| 1.0f; 2.0f |], b.Observations)
    Assert.Equal<float32[]>([| 3.0f; 4.0f |], b.NextObservations)

[<Fact>]
let ``the constructor rejects non-positive capacity and observation size`` () =
    let e = Assert.Throws<ArgumentOutOfRangeException>(fun () -> ReplayBuffer(0, 4, 0) |> ignore)
    Assert.Equal("capacity", e.ParamName)
    Assert.Equal(box 0, e.ActualValue)
    let e = Assert.Throws<ArgumentOutOfRangeException>(fun () -> ReplayBuffer(10, -1, 0) |> ignore)
    Assert.Equal("observationSize", e.ParamName)
    Assert.Equal(box -1, e.ActualValue)
    let e = Assert.Throws<ArgumentOutOfRangeException>(fun () -> ReplayBuffer(Int32.MaxValue, 4, 0) |> ignore)
    Assert.Equal("capacity", e.ParamName)

[<Fact>]
let ``sampling rejects a non-positive batch size`` () =
    let buffer = filled 4 4 0
    let e = Assert.Throws<ArgumentOutOfRangeException>(fun () -> buffer.Sample 0 |> ignore)
    Assert.Equal("batchSize", e.ParamName)

[<Fact>]
let ``sampling more than is stored says how many are stored and needed`` () =
    let buffer = filled 10 3 0
    let e = Assert.Throws<InvalidOperationException>(fun () -> buffer.Sample 5 |> ignore)
    Assert.Contains("stores 3", e.Message)
    Assert.Contains("at least 5", e.Message)
    Assert.Throws<InvalidOperationException>(fun () -> ReplayBuffer(10, 2, 0).Sample 1 |> ignore) |> ignore

[<Fact>]
let ``adding an observation of the wrong length names expected and actual lengths`` () =
    let buffer = ReplayBuffer(4, 3, 0)
    let e = Assert.Throws<ArgumentException>(fun () -> buffer.Add([| 1.0f; 2.0f |], 0, 0.0f, [| 1.0f; 2.0f; 3.0f |], false))
    Assert.Equal("observation", e.ParamName)
    Assert.Contains("length 3", e.Message)
    Assert.Contains("got length 2", e.Message)
    let e = Assert.Throws<ArgumentException>(fun () -> buffer.Add([| 1.0f; 2.0f; 3.0f |], 0, 0.0f, [| 1.0f |], false))
    Assert.Equal("nextObservation", e.ParamName)
    Assert.Equal(0, buffer.Count)

[<Fact>]
let ``adding a non-finite reward names the value`` () =
    let buffer = ReplayBuffer(4, 1, 0)
    for r in [ nanf; infinityf; -infinityf ] do
        let e = Assert.Throws<ArgumentException>(fun () -> buffer.Add([| 0.0f |], 0, r, [| 0.0f |], false))
        Assert.Equal("reward", e.ParamName)
        Assert.Contains(string r, e.Message)
    Assert.Equal(0, buffer.Count)

[<Fact>]
let ``adding a negative action is rejected`` () =
    let buffer = ReplayBuffer(4, 1, 0)
    let e = Assert.Throws<ArgumentOutOfRangeException>(fun () -> buffer.Add([| 0.0f |], -1, 0.0f, [| 0.0f |], false))
    Assert.Equal("action", e.ParamName)
