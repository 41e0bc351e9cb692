module Dqn.Fun.Atari.Tests.FrameReplayTests

open System
open System.Collections.Generic
open FsCheck
open FsCheck.FSharp
open Xunit
open Dqn.Fun.Atari

/// Frames of 2 bytes carrying a 16-bit id (0 is reserved: it is what a zero-padded frame decodes to).
let private frame (id: int) = [| byte (id &&& 0xFF); byte (id >>> 8) |]
let private idOf (bytes: Span<byte>) = int bytes[0] ||| (int bytes[1] <<< 8)

/// What the buffer should return for one stored transition, computed by a plain reference.
type private Expected =
    { Obs: int[]
      Next: int[]
      Action: int
      Reward: float32
      Terminated: bool }

/// Plays `episodes` (lengths and endings) into a buffer and a reference keyed by the newest frame id of s.
let private play (buffer: FrameReplayBuffer) (episodes: (int * bool) list) (rng: Random) =
    let stack = buffer.Stack
    let expected = Dictionary<int, Expected>()
    let mutable nextId = 1
    for length, terminated in episodes do
        let ids = ResizeArray [ nextId ]
        nextId <- nextId + 1
        buffer.StartEpisode(ReadOnlySpan(frame ids[0]))
        let stackAt (t: int) =
            Array.init stack (fun j ->
                let k = t - (stack - 1 - j)
                if k >= 0 then ids[k]
                elif buffer.Padding = StackPadding.RepeatFirst then ids[0]
                else 0)
        for t in 0 .. length - 1 do
            let id = nextId
            nextId <- nextId + 1
            ids.Add id
            let action = rng.Next 6
            let reward = float32 (rng.Next 3 - 1)
            let last = t = length - 1
            buffer.Add(action, reward, ReadOnlySpan(frame id), last && terminated, last && not terminated)
            expected[ids[t]] <-
                { Obs = stackAt t
                  Next = stackAt (t + 1)
                  Action = action
                  Reward = reward
                  Terminated = last && terminated }
    expected

let private decode (buffer: FrameReplayBuffer) (slots: int[]) =
    let bytes = Array.zeroCreate<byte> (slots.Length * buffer.FrameBytes)
    buffer.Gather(slots, Span bytes)
    Array.init slots.Length (fun k -> idOf (Span(bytes, k * 2, 2)))

let private checkBatch (buffer: FrameReplayBuffer) (expected: Dictionary<int, Expected>) (newestId: int) (batch: FrameBatch) =
    let obs = decode buffer batch.ObservationSlots
    let next = decode buffer batch.NextObservationSlots
    for b in 0 .. batch.Size - 1 do
        let o = obs[b * buffer.Stack .. (b + 1) * buffer.Stack - 1]
        let n = next[b * buffer.Stack .. (b + 1) * buffer.Stack - 1]
        let e = expected[o[buffer.Stack - 1]]
        Assert.Equal<int[]>(e.Obs, o)
        Assert.Equal<int[]>(e.Next, n)
        Assert.Equal(int64 e.Action, batch.Actions[b])
        Assert.Equal(e.Reward, batch.Rewards[b])
        Assert.Equal((if e.Terminated then 1.0f else 0.0f), batch.Terminated[b])
        // Only transitions whose frames are all still stored: the next frame is among the last Capacity written.
        Assert.True(n[buffer.Stack - 1] > newestId - buffer.Capacity)

[<Fact>]
let ``sampled stacks, next stacks, actions, rewards and terminals equal a plain reference, across wrap-around and both paddings`` () =
    let episodesGen =
        Gen.listOfLength 12 (Gen.zip (Gen.choose (1, 9)) (Gen.elements [ true; false ]))
    let prop =
        Prop.forAll (Arb.fromGen (Gen.zip3 episodesGen (Gen.choose (6, 40)) (Gen.elements [ StackPadding.Zeros; StackPadding.RepeatFirst ]))) (fun (episodes, capacity, padding) ->
            let buffer = FrameReplayBuffer(capacity, 1, 4, 2, padding)
            let expected = play buffer episodes (Random 2)
            let newestId = 12 + (episodes |> List.sumBy fst)
            if buffer.Count >= 8 then
                for _ in 1..5 do
                    checkBatch buffer expected newestId (buffer.Sample 8)
            true)
    Check.One(Config.QuickThrowOnFailure.WithMaxTest 200, prop)

[<Fact>]
let ``stacks never reach across an episode boundary`` () =
    let buffer = FrameReplayBuffer(100, 3, frameBytes = 2)
    // Episode A: frames 1..4 (3 steps, terminated); episode B starts with frame 5.
    let expected = play buffer [ (3, true); (3, false) ] (Random 0)
    // Sampling needs as many stored transitions as the batch (6 here): draw many small batches.
    let obs = Array.concat [ for _ in 1..20 -> decode buffer (buffer.Sample 6).ObservationSlots ]
    for b in 0 .. obs.Length / 4 - 1 do
        let o = obs[b * 4 .. b * 4 + 3]
        let episodeOf id = if id = 0 then 0 elif id <= 4 then 1 else 2
        let newest = episodeOf o[3]
        Assert.All(o, fun id -> Assert.True(id = 0 || episodeOf id = newest, $"stack %A{o} mixes episodes"))
    ignore expected

[<Fact>]
let ``a truncated episode keeps its final frame for bootstrapping and a terminated one is flagged`` () =
    let buffer = FrameReplayBuffer(50, 0, frameBytes = 2)
    buffer.StartEpisode(ReadOnlySpan(frame 1))
    buffer.Add(0, 1.0f, ReadOnlySpan(frame 2), false, true) // truncated
    buffer.StartEpisode(ReadOnlySpan(frame 3))
    buffer.Add(1, 0.0f, ReadOnlySpan(frame 4), true, false) // terminated
    Assert.Equal(2, buffer.Count)
    let seen = HashSet<int>()
    for _ in 1..50 do
        let batch = buffer.Sample 2
        let next = decode buffer batch.NextObservationSlots
        for b in 0 .. batch.Size - 1 do
            seen.Add next[b * 4 + 3] |> ignore
            match next[b * 4 + 3] with
            | 2 -> Assert.Equal(0.0f, batch.Terminated[b])
            | 4 -> Assert.Equal(1.0f, batch.Terminated[b])
            | other -> failwith $"unexpected next frame {other}"
    Assert.Equal<int seq>([ 2; 4 ], seen |> Seq.sort)

[<Fact>]
let ``equal seeds and inputs give equal batches`` () =
    let run () =
        let buffer = FrameReplayBuffer(30, 7, frameBytes = 2)
        play buffer [ (10, true); (12, false); (9, true) ] (Random 4) |> ignore
        let b = buffer.Sample 16
        b.Indices, b.ObservationSlots
    Assert.Equal(run (), run ())

[<Fact>]
let ``overwritten transitions are no longer counted or sampled`` () =
    let buffer = FrameReplayBuffer(10, 0, stack = 2, frameBytes = 2)
    play buffer [ (30, false) ] (Random 0) |> ignore
    // 31 frames written into 10 slots: the 9 newest transitions have their frames; the oldest slot's is gone.
    Assert.Equal(9, buffer.Count)

[<Fact>]
let ``bad input names the problem`` () =
    let buffer = FrameReplayBuffer(20, 0, frameBytes = 2)
    Assert.Throws<InvalidOperationException>(fun () -> buffer.Add(0, 0.0f, ReadOnlySpan(frame 1), false, false)) |> ignore
    Assert.Equal("frame", Assert.Throws<ArgumentException>(fun () -> buffer.StartEpisode(ReadOnlySpan [| 1uy |])).ParamName)
    buffer.StartEpisode(ReadOnlySpan(frame 1))
    Assert.Equal("reward", Assert.Throws<ArgumentException>(fun () -> buffer.Add(0, nanf, ReadOnlySpan(frame 2), false, false)).ParamName)
    Assert.Equal("action", Assert.Throws<ArgumentOutOfRangeException>(fun () -> buffer.Add(-1, 0.0f, ReadOnlySpan(frame 2), false, false)).ParamName)
    let e = Assert.Throws<InvalidOperationException>(fun () -> buffer.Sample 4 |> ignore)
    Assert.Contains("0 are stored", e.Message)
    Assert.Equal("capacity", Assert.Throws<ArgumentOutOfRangeException>(fun () -> FrameReplayBuffer(5, 0) |> ignore).ParamName)

// ---------------------------------------------------------------------------------------------
// n-step and prioritized sampling, against a shadow list of every transition played.
// ---------------------------------------------------------------------------------------------

/// How an episode of the stream ends: Running means it is left running (abandoned by the next StartEpisode,
/// or still running at the end of the stream).
type private Ending =
    | Terminated
    | Truncated
    | Running

/// One played transition: the episode it belongs to and its index in it, the frame id of s.
type private Shadow =
    { Episode: int
      Index: int
      Frame: int
      Action: int
      Reward: float32 }

/// One played episode: the id of its first frame, its steps, its ending, and whether it is the one still running.
type private ShadowEpisode =
    { First: int
      Steps: ResizeArray<Shadow>
      Ending: Ending
      Last: bool }

/// Plays the episodes into the buffer (frame ids 1, 2, …, in write order) and returns the shadow list.
let private playShadow (buffer: FrameReplayBuffer) (episodes: (int * Ending) list) (rng: Random) =
    let shadows = ResizeArray<ShadowEpisode>()
    let mutable nextId = 1
    let count = List.length episodes
    episodes
    |> List.iteri (fun e (length, ending) ->
        let length = if ending = Running then length else max 1 length
        let episode = { First = nextId; Steps = ResizeArray(); Ending = ending; Last = (e = count - 1) }
        shadows.Add episode
        buffer.StartEpisode(ReadOnlySpan(frame nextId))
        nextId <- nextId + 1
        for t in 0 .. length - 1 do
            let action = rng.Next 6
            let reward = float32 (rng.Next 7 - 3) * 0.5f
            let last = t = length - 1
            episode.Steps.Add { Episode = e; Index = t; Frame = nextId - 1; Action = action; Reward = reward }
            buffer.Add(action, reward, ReadOnlySpan(frame nextId), last && ending = Terminated, last && ending = Truncated)
            nextId <- nextId + 1)
    shadows, nextId - 1

/// A reference n-step row: obs ids, next ids, action, reward sum, steps, discount, terminated.
type private Row =
    { RObs: int[]
      RNext: int[]
      RAction: int
      RReward: float32
      RSteps: int
      RDiscount: float32
      RTerminated: float32 }

/// The n-step row of a transition, or None when it cannot be sampled (a frame of its stack or window is
/// overwritten, or its window waits for steps the running episode has not taken yet).
let private reference (buffer: FrameReplayBuffer) (newest: int) (episode: ShadowEpisode) (t: int) (n: int) (gamma: float) =
    let stackAt (index: int) =
        Array.init buffer.Stack (fun j ->
            let k = index - (buffer.Stack - 1 - j)
            if k >= 0 then episode.First + k
            elif buffer.Padding = StackPadding.RepeatFirst then episode.First
            else 0)
    let remaining = episode.Steps.Count - t
    let ended = not (episode.Last && episode.Ending = Running)
    let oldest = episode.First + max 0 (t - (buffer.Stack - 1))
    if (not ended && remaining < n) || oldest <= newest - buffer.Capacity then
        None
    else
        let k = min n remaining
        let mutable ret = 0.0
        let mutable discount = 1.0
        for j in 0 .. k - 1 do
            ret <- ret + discount * float episode.Steps[t + j].Reward
            discount <- discount * gamma
        let terminated = episode.Ending = Terminated && k = remaining
        Some
            { RObs = stackAt t
              RNext = stackAt (t + k)
              RAction = episode.Steps[t].Action
              RReward = float32 ret
              RSteps = k
              RDiscount = (if terminated then 0.0f else float32 discount)
              RTerminated = (if terminated then 1.0f else 0.0f) }

/// Every transition of the shadow that can be sampled, keyed by the frame id of s.
let private sampleable (buffer: FrameReplayBuffer) (shadows: ResizeArray<ShadowEpisode>) (newest: int) n gamma =
    dict [ for episode in shadows do
               for step in episode.Steps do
                   match reference buffer newest episode step.Index n gamma with
                   | Some row -> step.Frame, row
                   | None -> () ]

/// Checks every row of a batch against the reference; returns the frame ids of the sampled s.
let private checkRows (buffer: FrameReplayBuffer) (expected: Collections.Generic.IDictionary<int, Row>) (batch: FrameBatch) =
    let obs = decode buffer batch.ObservationSlots
    let next = decode buffer batch.NextObservationSlots
    [ for b in 0 .. batch.Size - 1 do
          let o = obs[b * buffer.Stack .. (b + 1) * buffer.Stack - 1]
          let n = next[b * buffer.Stack .. (b + 1) * buffer.Stack - 1]
          let id = o[buffer.Stack - 1]
          // The slot holds frame id (ids are write numbers): (id - 1) mod Capacity.
          Assert.Equal((id - 1) % buffer.Capacity, batch.Indices[b])
          match expected.TryGetValue id with
          | false, _ -> failwith $"sampled transition {id} (obs %A{o}) should not be sampleable"
          | true, e ->
              Assert.Equal<int[]>(e.RObs, o)
              Assert.Equal<int[]>(e.RNext, n)
              Assert.Equal(int64 e.RAction, batch.Actions[b])
              Assert.Equal(e.RReward, batch.Rewards[b])
              Assert.Equal(e.RSteps, batch.Steps[b])
              Assert.Equal(e.RDiscount, batch.Discounts[b])
              Assert.Equal(e.RTerminated, batch.Terminated[b])
          id ]

let private streamGen =
    Gen.listOfLength 10 (Gen.zip (Gen.choose (0, 9)) (Gen.elements [ Terminated; Truncated; Running ]))

[<Fact>]
let ``n-step rows equal a scalar reference across terminals, truncations, abandoned episodes and wrap-around`` () =
    let cases =
        Gen.zip3 streamGen (Gen.zip (Gen.choose (6, 40)) (Gen.elements [ StackPadding.Zeros; StackPadding.RepeatFirst ])) (Gen.zip (Gen.choose (1, 4)) (Gen.elements [ 0.5; 0.9; 1.0 ]))
    let prop =
        Prop.forAll (Arb.fromGen cases) (fun (episodes, (capacity, padding), (n, gamma)) ->
            let buffer = FrameReplayBuffer(capacity, 1, 4, 2, padding)
            let shadows, newest = playShadow buffer episodes (Random 2)
            let expected = sampleable buffer shadows newest n gamma
            if n > capacity - 4 || buffer.Count < 4 then
                true
            elif expected.Count = 0 then
                Assert.Throws<InvalidOperationException>(fun () -> buffer.Sample(4, n, gamma) |> ignore) |> ignore
                true
            else
                // 1600 draws: every sampleable transition (at most 40) shows up, with overwhelming probability.
                let seen = HashSet<int>()
                for _ in 1..400 do
                    let batch = buffer.Sample(4, n, gamma)
                    Assert.All(batch.Weights, fun w -> Assert.Equal(1.0f, w))
                    for id in checkRows buffer expected batch do
                        seen.Add id |> ignore
                Assert.Equal<int seq>(Seq.sort expected.Keys, Seq.sort seen)
                true)
    Check.One(Config.QuickThrowOnFailure.WithMaxTest 200, prop)

[<Fact>]
let ``n = 1 gives the 1-step batch, with discount gamma times (1 - terminated)`` () =
    let make () =
        let buffer = FrameReplayBuffer(30, 7, frameBytes = 2)
        play buffer [ (10, true); (12, false); (9, true); (4, true) ] (Random 4) |> ignore
        buffer
    let old = (make ()).Sample 16
    let fresh = (make ()).Sample(16, 1, 0.9)
    Assert.Equal<int[]>(old.Indices, fresh.Indices)
    Assert.Equal<int[]>(old.ObservationSlots, fresh.ObservationSlots)
    Assert.Equal<int[]>(old.NextObservationSlots, fresh.NextObservationSlots)
    Assert.Equal<int64[]>(old.Actions, fresh.Actions)
    Assert.Equal<float32[]>(old.Rewards, fresh.Rewards)
    Assert.Equal<float32[]>(old.Terminated, fresh.Terminated)
    Assert.All(Array.append old.Steps fresh.Steps, fun k -> Assert.Equal(1, k))
    Assert.Equal<float32[]>(old.Terminated |> Array.map (fun t -> 1.0f - t), old.Discounts)
    Assert.Equal<float32[]>(old.Terminated |> Array.map (fun t -> float32 0.9 * (1.0f - t)), fresh.Discounts)
    Assert.All(Array.append old.Weights fresh.Weights, fun w -> Assert.Equal(1.0f, w))

[<Fact>]
let ``a truncated window bootstraps from the final frame and a running episode's last n - 1 steps wait`` () =
    let buffer = FrameReplayBuffer(50, 0, stack = 1, frameBytes = 2)
    buffer.StartEpisode(ReadOnlySpan(frame 1))
    buffer.Add(0, 1.0f, ReadOnlySpan(frame 2), false, false)
    buffer.Add(0, 2.0f, ReadOnlySpan(frame 3), false, true) // truncated after 2 steps
    buffer.StartEpisode(ReadOnlySpan(frame 4))
    buffer.Add(0, 4.0f, ReadOnlySpan(frame 5), false, false) // still running: 2 steps, n = 3
    buffer.Add(0, 8.0f, ReadOnlySpan(frame 6), false, false)
    let rows = Dictionary<int, int * float32 * float32 * float32>()
    for _ in 1..50 do
        let batch = buffer.Sample(2, 3, 0.5)
        let obs = decode buffer batch.ObservationSlots
        let next = decode buffer batch.NextObservationSlots
        for b in 0..1 do
            rows[obs[b]] <- (next[b], batch.Rewards[b], batch.Discounts[b], batch.Terminated[b])
    // Frame 1: 1 + 0.5·2 with 2 steps, bootstrapping from frame 3 with 0.25; frame 2: 2, from 3 with 0.5.
    Assert.Equal<int seq>([ 1; 2 ], rows.Keys |> Seq.sort)
    Assert.Equal((3, 2.0f, 0.25f, 0.0f), rows[1])
    Assert.Equal((3, 2.0f, 0.5f, 0.0f), rows[2])
    buffer.Add(0, 16.0f, ReadOnlySpan(frame 7), true, false) // now frame 4's window is complete and terminal
    let batch = buffer.Sample(5, 3, 0.5)
    let obs = decode buffer batch.ObservationSlots
    for b in 0..4 do
        if obs[b] = 4 then
            Assert.Equal(4.0f + 4.0f + 4.0f, batch.Rewards[b])
            Assert.Equal(0.0f, batch.Discounts[b])
            Assert.Equal(1.0f, batch.Terminated[b])
            Assert.Equal(3, batch.Steps[b])

/// A prioritized buffer (α = 1, ε = 1e-6) holding one terminated episode of `steps` transitions in slots
/// 0 .. steps − 1, with priorities |δ_i| + ε for δ_i = i + 1.
let private ranked steps seed =
    let buffer = FrameReplayBuffer(steps + 10, seed, frameBytes = 2, priorityAlpha = 1.0)
    play buffer [ (steps, true) ] (Random 0) |> ignore
    buffer.UpdatePriorities(Array.init steps id, Array.init steps (fun i -> float32 (i + 1)))
    buffer, Array.init steps (fun i -> float (i + 1) + 1e-6)

/// Pearson's statistic Σ (O − E)² / E of counts against probabilities p / Σp.
let private pearson (counts: int[]) (p: float[]) =
    let draws = float (Array.sum counts)
    Array.fold2 (fun s (o: int) pi -> let e = draws * pi / Array.sum p in s + (float o - e) ** 2.0 / e) 0.0 counts p

[<Fact>]
let ``prioritized draws hit each transition in proportion to its priority`` () =
    // Pearson's statistic over 10 transitions (9 degrees of freedom) must stay below χ²₀.₉₉₉(9) = 27.877
    // (NIST/SEMATECH e-Handbook, table 1.3.6.7.4), for single draws and for stratified batches of 8, n = 1 and 3.
    for batchSize, n in [ (1, 1); (8, 3) ] do
        let buffer, p = ranked 10 2016
        let counts = Array.zeroCreate<int> 10
        for _ in 1 .. 200_000 / batchSize do
            for slot in (buffer.SamplePrioritized(batchSize, n, 0.99, 0.5)).Indices do
                counts[slot] <- counts[slot] + 1
        let statistic = pearson counts p
        Assert.True(statistic < 27.877, $"batch {batchSize}, n {n}: χ² = {statistic:F2}, counts %A{counts}")

[<Fact>]
let ``importance weights are (p_min / p_i)^beta with the minimum over every stored transition`` () =
    let buffer, p = ranked 10 3
    for beta in [ 0.0; 0.4; 1.0 ] do
        let batch = buffer.SamplePrioritized(10, 3, 0.99, beta)
        for b in 0..9 do
            let slot = batch.Indices[b]
            Assert.Equal(p[slot], buffer.Priority slot, 9)
            Assert.Equal(Math.Pow(p[0] / p[slot], beta), float batch.Weights[b], 1e-6)

[<Fact>]
let ``importance weights normalised by the batch are (p_min,batch / p_i)^beta, the largest 1`` () =
    let buffer, p = ranked 10 3
    for beta in [ 0.0; 0.4; 1.0 ] do
        let batch = buffer.SamplePrioritized(4, 3, 0.99, beta, Dqn.Fun.ImportanceWeightNormalization.BatchMax)
        let least = batch.Indices |> Array.map (fun slot -> p[slot]) |> Array.min
        for b in 0..3 do
            let slot = batch.Indices[b]
            Assert.Equal(Math.Pow(least / p[slot], beta), float batch.Weights[b], 1e-6)
        Assert.Equal(1.0f, Array.max batch.Weights)

[<Fact>]
let ``new transitions get the largest priority ever recorded and UpdatePriorities sets (|delta| + eps)^alpha`` () =
    let buffer = FrameReplayBuffer(20, 0, frameBytes = 2, priorityAlpha = 0.5, priorityEpsilon = 0.01)
    Assert.True buffer.IsPrioritized
    Assert.Equal(1.0, buffer.MaxPriority)
    buffer.StartEpisode(ReadOnlySpan(frame 1))
    Assert.Equal(0.0, buffer.Priority 0) // a frame without a transition yet
    buffer.Add(0, 0.0f, ReadOnlySpan(frame 2), false, false)
    Assert.Equal(1.0, buffer.Priority 0)
    buffer.UpdatePriorities([| 0 |], [| -8.99f |])
    Assert.Equal(Math.Sqrt(float (abs -8.99f) + 0.01), buffer.Priority 0, 12)
    Assert.Equal(buffer.Priority 0, buffer.MaxPriority)
    buffer.UpdatePriorities([| 0 |], [| 0.0f |]) // lowering it keeps the maximum ever recorded
    Assert.Equal(0.1, buffer.Priority 0, 12)
    buffer.Add(0, 0.0f, ReadOnlySpan(frame 3), false, false)
    Assert.Equal(buffer.MaxPriority, buffer.Priority 1)
    Assert.True(buffer.MaxPriority > 2.99)
    // The slot with the large priority takes nearly all draws.
    let indices = Array.concat [ for _ in 1..500 -> (buffer.SamplePrioritized(2, 1, 0.99, 1.0)).Indices ]
    let share = (indices |> Array.filter ((=) 1)).Length
    Assert.InRange(share, 940, 1000) // expected 1000 · 3 / 3.1 ≈ 968

[<Fact>]
let ``prioritized rows equal the reference; overwritten and stack-broken slots leave the trees and are never drawn`` () =
    let cases = Gen.zip3 streamGen (Gen.choose (6, 40)) (Gen.zip (Gen.choose (1, 4)) (Gen.choose (0, 1000)))
    let prop =
        Prop.forAll (Arb.fromGen cases) (fun (episodes, capacity, (n, seed)) ->
            let buffer = FrameReplayBuffer(capacity, seed, 4, 2, priorityAlpha = 0.7)
            let rng = Random seed
            let shadows, newest = playShadow buffer episodes rng
            // Live slots (priority > 0): stored transitions whose stack is intact.
            let live = sampleable buffer shadows newest 1 1.0
            for slot in 0 .. capacity - 1 do
                let id = [ for k in live.Keys do if (k - 1) % capacity = slot then k ]
                Assert.True((buffer.Priority slot > 0.0) = not id.IsEmpty, $"slot {slot}: priority {buffer.Priority slot}, live {id}")
            let expected = sampleable buffer shadows newest n 0.9
            if n > capacity - 4 || buffer.Count < 4 || expected.Count = 0 then
                true
            else
                for _ in 1..100 do
                    let batch = buffer.SamplePrioritized(4, n, 0.9, 0.5)
                    checkRows buffer expected batch |> ignore
                    // The weights' normaliser is the smallest priority in the trees, kept through every update.
                    let least = Seq.init capacity buffer.Priority |> Seq.filter (fun p -> p > 0.0) |> Seq.min
                    for k in 0..3 do
                        Assert.Equal(Math.Pow(least / buffer.Priority batch.Indices[k], 0.5), float batch.Weights[k], 1e-6)
                    buffer.UpdatePriorities(batch.Indices, Array.init 4 (fun _ -> float32 (rng.NextDouble() * 10.0)))
                true)
    Check.One(Config.QuickThrowOnFailure.WithMaxTest 200, prop)

[<Fact>]
let ``UpdatePriorities ignores slots overwritten since they were sampled`` () =
    let buffer = FrameReplayBuffer(8, 0, stack = 1, frameBytes = 2, priorityAlpha = 1.0)
    buffer.StartEpisode(ReadOnlySpan(frame 1))
    for id in 2..8 do
        buffer.Add(0, 0.0f, ReadOnlySpan(frame id), false, false)
    let batch = buffer.SamplePrioritized(7, 1, 0.9, 0.5)
    Assert.Contains(0, batch.Indices)
    buffer.Add(0, 0.0f, ReadOnlySpan(frame 9), false, false) // overwrites slot 0 (frame 1), slot 7 gets a transition
    buffer.Add(0, 0.0f, ReadOnlySpan(frame 10), false, false) // slot 0 holds frame 9 with a new transition; slot 1's goes
    Assert.Equal(1.0, buffer.Priority 0)
    Assert.Equal(0.0, buffer.Priority 1)
    buffer.UpdatePriorities(batch.Indices, Array.create 7 5.0f)
    Assert.Equal(1.0, buffer.Priority 0)
    Assert.Equal(0.0, buffer.Priority 1)
    Assert.Equal(5.0 + 1e-6, buffer.Priority 2, 9)

[<Fact>]
let ``prioritized sampling redraws past incomplete windows and fails clearly when none is complete`` () =
    let buffer = FrameReplayBuffer(20, 0, frameBytes = 2, priorityAlpha = 1.0)
    buffer.StartEpisode(ReadOnlySpan(frame 1))
    buffer.Add(0, 0.0f, ReadOnlySpan(frame 2), false, false)
    buffer.Add(0, 0.0f, ReadOnlySpan(frame 3), false, false)
    let e = Assert.Throws<InvalidOperationException>(fun () -> buffer.SamplePrioritized(2, 3, 0.9, 0.5) |> ignore)
    Assert.Contains("n-step window", e.Message)
    buffer.Add(0, 0.0f, ReadOnlySpan(frame 4), false, false)
    buffer.Add(0, 0.0f, ReadOnlySpan(frame 5), false, false)
    // Slots 0 and 1 have complete windows; 2 and 3 still wait, at the maximal priority: nearly all the mass.
    buffer.UpdatePriorities([| 0; 1 |], [| 0.01f; 0.01f |])
    for _ in 1..20 do
        Assert.All((buffer.SamplePrioritized(4, 3, 0.9, 0.5)).Indices, fun i -> Assert.InRange(i, 0, 1))

[<Fact>]
let ``prioritized members name the problem`` () =
    let uniform = FrameReplayBuffer(20, 0, frameBytes = 2)
    Assert.False uniform.IsPrioritized
    Assert.Throws<InvalidOperationException>(fun () -> uniform.SamplePrioritized(1, 1, 0.9, 0.5) |> ignore) |> ignore
    Assert.Throws<InvalidOperationException>(fun () -> uniform.UpdatePriorities([| 0 |], [| 1.0f |])) |> ignore
    let buffer, _ = ranked 5 0
    Assert.Equal("tdErrors", Assert.Throws<ArgumentException>(fun () -> buffer.UpdatePriorities([| 0; 1 |], [| 1.0f |])).ParamName)
    Assert.Equal("tdErrors", Assert.Throws<ArgumentException>(fun () -> buffer.UpdatePriorities([| 0 |], [| nanf |])).ParamName)
    Assert.Equal("tdErrors", Assert.Throws<ArgumentException>(fun () -> buffer.UpdatePriorities([| 0 |], [| infinityf |])).ParamName)
    Assert.Equal("indices", Assert.Throws<ArgumentOutOfRangeException>(fun () -> buffer.UpdatePriorities([| 99 |], [| 1.0f |])).ParamName)
    Assert.Equal("beta", Assert.Throws<ArgumentOutOfRangeException>(fun () -> buffer.SamplePrioritized(1, 1, 0.9, 1.5) |> ignore).ParamName)
    Assert.Equal("nStep", Assert.Throws<ArgumentOutOfRangeException>(fun () -> buffer.Sample(1, 0, 0.9) |> ignore).ParamName)
    Assert.Equal("gamma", Assert.Throws<ArgumentOutOfRangeException>(fun () -> buffer.Sample(1, 1, nan) |> ignore).ParamName)
    Assert.Equal("priorityAlpha", Assert.Throws<ArgumentOutOfRangeException>(fun () -> FrameReplayBuffer(20, 0, priorityAlpha = 2.0) |> ignore).ParamName)
    Assert.Equal("priorityEpsilon", Assert.Throws<ArgumentException>(fun () -> FrameReplayBuffer(20, 0, priorityEpsilon = 0.1) |> ignore).ParamName)
