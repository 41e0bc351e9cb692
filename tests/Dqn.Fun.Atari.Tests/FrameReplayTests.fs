module Dqn.Fun.Atari.Tests.FrameReplayTests

open System
open System.Collections.Generic
open FsCheck
open FsCheck.FSharp
open Expecto
open Dqn.Fun.Atari
open Dqn.Fun.Tests
open Dqn.Fun.Tests.TestConfig

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
        Expect.equal o e.Obs "observation stack"
        Expect.equal n e.Next "next observation stack"
        Expect.equal (batch.Actions[b]) (int64 e.Action) "batch.Actions[b]"
        Expect.equal (batch.Rewards[b]) e.Reward "batch.Rewards[b]"
        Expect.equal (batch.Terminated[b]) (if e.Terminated then 1.0f else 0.0f) "batch.Terminated[b]"
        // Only transitions whose frames are all still stored: the next frame is among the last Capacity written.
        Expect.isTrue (n[buffer.Stack - 1] > newestId - buffer.Capacity) "the next frame is still stored"

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
          Expect.equal (batch.Indices[b]) ((id - 1) % buffer.Capacity) "batch.Indices[b]"
          match expected.TryGetValue id with
          | false, _ -> failtest $"sampled transition {id} (obs %A{o}) should not be sampleable"
          | true, e ->
              Expect.equal o e.RObs "observation stack"
              Expect.equal n e.RNext "next observation stack"
              Expect.equal (batch.Actions[b]) (int64 e.RAction) "batch.Actions[b]"
              Expect.equal (batch.Rewards[b]) e.RReward "batch.Rewards[b]"
              Expect.equal (batch.Steps[b]) e.RSteps "batch.Steps[b]"
              Expect.equal (batch.Discounts[b]) e.RDiscount "batch.Discounts[b]"
              Expect.equal (batch.Terminated[b]) e.RTerminated "batch.Terminated[b]"
          id ]

let private streamGen =
    Gen.listOfLength 10 (Gen.zip (Gen.choose (0, 9)) (Gen.elements [ Terminated; Truncated; Running ]))

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


[<Tests>]
let tests =
    testList "FrameReplay" [
        testPropertyWithConfig { fsCheck with maxTest = 100 } "streams written in turn (a vector env's envs) never mix: stacks and n-step windows stay in their stream's episode, across wrap-around" (
            Prop.forAll (Arb.fromGen (Gen.zip3 (Gen.choose (2, 4)) (Gen.choose (0, 100_000)) (Gen.elements [ StackPadding.Zeros; StackPadding.RepeatFirst ]))) (fun (streams, seed, padding) ->
                let rng = Random seed
                let capacity = streams * rng.Next(8, 60) + rng.Next streams
                let prioritized = rng.Next 2 = 0
                let buffer =
                    if prioritized then FrameReplayBuffer(capacity, seed, 4, 2, padding, 1.0, streams = streams)
                    else FrameReplayBuffer(capacity, seed, 4, 2, padding, streams = streams)
                let expected = Dictionary<int, Expected>()
                // Frame id -> (stream, episode, index in it); every stream's running episode's frame ids.
                let where = Dictionary<int, int * int * int>()
                let ids = Array.init streams (fun _ -> ResizeArray<int>())
                let lengths = Array.zeroCreate<int> streams
                let terminal = Array.zeroCreate<bool> streams
                let episode = Array.zeroCreate<int> streams
                let mutable nextId = 1
                let stackAt (s: int) (t: int) =
                    Array.init 4 (fun j ->
                        let k = t - (3 - j)
                        if k >= 0 then ids[s][k] elif padding = StackPadding.RepeatFirst then ids[s][0] else 0)
                let start (s: int) =
                    ids[s] <- ResizeArray [ nextId ]
                    episode[s] <- episode[s] + 1
                    where[nextId] <- (s, episode[s], 0)
                    buffer.StartEpisode(s, ReadOnlySpan(frame nextId))
                    nextId <- nextId + 1
                    lengths[s] <- rng.Next(1, 15)
                    terminal[s] <- rng.Next 2 = 0
                for s in 0 .. streams - 1 do
                    start s
                for _ in 1 .. rng.Next(10, 120) do
                    for s in 0 .. streams - 1 do
                        let t = ids[s].Count - 1
                        let id = nextId
                        nextId <- nextId + 1
                        ids[s].Add id
                        where[id] <- (s, episode[s], t + 1)
                        let action, reward = rng.Next 6, float32 (rng.Next 3 - 1)
                        let last = t = lengths[s] - 1
                        buffer.Add(s, action, reward, ReadOnlySpan(frame id), last && terminal[s], last && not terminal[s])
                        expected[ids[s][t]] <-
                            { Obs = stackAt s t; Next = stackAt s (t + 1); Action = action; Reward = reward; Terminated = last && terminal[s] }
                        if last then start s
                if buffer.Count >= 8 then
                    // One-step rows: exactly the reference's.
                    let batch = if prioritized then buffer.SamplePrioritized(8, 1, 1.0, 0.5) else buffer.Sample 8
                    let obs, next = decode buffer batch.ObservationSlots, decode buffer batch.NextObservationSlots
                    for b in 0 .. batch.Size - 1 do
                        let e = expected[obs[b * 4 + 3]]
                        Expect.equal obs[b * 4 .. b * 4 + 3] e.Obs "observation stack"
                        Expect.equal next[b * 4 .. b * 4 + 3] e.Next "next observation stack"
                        Expect.equal batch.Actions[b] (int64 e.Action) "action"
                        Expect.equal batch.Rewards[b] e.Reward "reward"
                    // 3-step windows: s' is Steps frames on in the same stream's episode.
                    let batch = if prioritized then buffer.SamplePrioritized(8, 3, 0.9, 0.5) else buffer.Sample(8, 3, 0.9)
                    let obs, next = decode buffer batch.ObservationSlots, decode buffer batch.NextObservationSlots
                    for b in 0 .. batch.Size - 1 do
                        let s, e, t = where[obs[b * 4 + 3]]
                        Expect.equal where[next[b * 4 + 3]] (s, e, t + batch.Steps[b]) "the window's last frame"
                true)
        )

        testPropertyWithConfig { fsCheck with maxTest = 200 } "sampled stacks, next stacks, actions, rewards and terminals equal a plain reference, across wrap-around and both paddings" (
            let episodesGen =
                Gen.listOfLength 12 (Gen.zip (Gen.choose (1, 9)) (Gen.elements [ true; false ]))
            Prop.forAll (Arb.fromGen (Gen.zip3 episodesGen (Gen.choose (6, 40)) (Gen.elements [ StackPadding.Zeros; StackPadding.RepeatFirst ]))) (fun (episodes, capacity, padding) ->
                let buffer = FrameReplayBuffer(capacity, 1, 4, 2, padding)
                let expected = play buffer episodes (Random 2)
                let newestId = 12 + (episodes |> List.sumBy fst)
                if buffer.Count >= 8 then
                    for _ in 1..5 do
                        checkBatch buffer expected newestId (buffer.Sample 8)
                true)
        )

        testCase "stacks never reach across an episode boundary" <| fun () ->
            let buffer = FrameReplayBuffer(100, 3, frameBytes = 2)
            // Episode A: frames 1..4 (3 steps, terminated); episode B starts with frame 5.
            let expected = play buffer [ (3, true); (3, false) ] (Random 0)
            // Sampling needs as many stored transitions as the batch (6 here): draw many small batches.
            let obs = Array.concat [ for _ in 1..20 -> decode buffer (buffer.Sample 6).ObservationSlots ]
            for b in 0 .. obs.Length / 4 - 1 do
                let o = obs[b * 4 .. b * 4 + 3]
                let episodeOf id = if id = 0 then 0 elif id <= 4 then 1 else 2
                let newest = episodeOf o[3]
                for id in o do
                    Expect.isTrue (id = 0 || episodeOf id = newest) $"stack %A{o} mixes episodes"
            ignore expected

        testCase "a truncated episode keeps its final frame for bootstrapping and a terminated one is flagged" <| fun () ->
            let buffer = FrameReplayBuffer(50, 0, frameBytes = 2)
            buffer.StartEpisode(ReadOnlySpan(frame 1))
            buffer.Add(0, 1.0f, ReadOnlySpan(frame 2), false, true) // truncated
            buffer.StartEpisode(ReadOnlySpan(frame 3))
            buffer.Add(1, 0.0f, ReadOnlySpan(frame 4), true, false) // terminated
            Expect.equal buffer.Count 2 "buffer.Count"
            let seen = HashSet<int>()
            for _ in 1..50 do
                let batch = buffer.Sample 2
                let next = decode buffer batch.NextObservationSlots
                for b in 0 .. batch.Size - 1 do
                    seen.Add next[b * 4 + 3] |> ignore
                    match next[b * 4 + 3] with
                    | 2 -> Expect.equal (batch.Terminated[b]) 0.0f "the truncated transition's terminal flag"
                    | 4 -> Expect.equal (batch.Terminated[b]) 1.0f "the terminated transition's terminal flag"
                    | other -> failtest $"unexpected next frame {other}"
            Expect.equal (seen |> Seq.sort |> List.ofSeq) [ 2; 4 ] "the next frames seen"

        testCase "equal seeds and inputs give equal batches" <| fun () ->
            let run () =
                let buffer = FrameReplayBuffer(30, 7, frameBytes = 2)
                play buffer [ (10, true); (12, false); (9, true) ] (Random 4) |> ignore
                let b = buffer.Sample 16
                b.Indices, b.ObservationSlots
            Expect.equal (run ()) (run ()) "the second run's indices and slots"

        testCase "overwritten transitions are no longer counted or sampled" <| fun () ->
            let buffer = FrameReplayBuffer(10, 0, stack = 2, frameBytes = 2)
            play buffer [ (30, false) ] (Random 0) |> ignore
            // 31 frames written into 10 slots: the 9 newest transitions have their frames; the oldest slot's is gone.
            Expect.equal buffer.Count 9 "buffer.Count"

        testCase "bad input names the problem" <| fun () ->
            let buffer = FrameReplayBuffer(20, 0, frameBytes = 2)
            Expect.throwsT<InvalidOperationException> (fun () -> buffer.Add(0, 0.0f, ReadOnlySpan(frame 1), false, false)) "Add before StartEpisode"
            let e = Expect.wantThrows<ArgumentException> (fun () -> buffer.StartEpisode(ReadOnlySpan [| 1uy |])) "StartEpisode with a 1-byte frame"
            Expect.equal e.ParamName "frame" "e.ParamName"
            buffer.StartEpisode(ReadOnlySpan(frame 1))
            let e = Expect.wantThrows<ArgumentException> (fun () -> buffer.Add(0, nanf, ReadOnlySpan(frame 2), false, false)) "Add with a NaN reward"
            Expect.equal e.ParamName "reward" "e.ParamName"
            let e = Expect.wantThrows<ArgumentOutOfRangeException> (fun () -> buffer.Add(-1, 0.0f, ReadOnlySpan(frame 2), false, false)) "Add with action -1"
            Expect.equal e.ParamName "action" "e.ParamName"
            let e = Expect.wantThrows<InvalidOperationException> (fun () -> buffer.Sample 4 |> ignore) "Sample 4 of an empty buffer"
            Expect.stringContains e.Message "0 are stored" "e.Message"
            let e = Expect.wantThrows<ArgumentOutOfRangeException> (fun () -> FrameReplayBuffer(5, 0) |> ignore) "FrameReplayBuffer(5, 0)"
            Expect.equal e.ParamName "capacity" "e.ParamName"

        testPropertyWithConfig { fsCheck with maxTest = 200 } "n-step rows equal a scalar reference across terminals, truncations, abandoned episodes and wrap-around" (
            let cases =
                Gen.zip3 streamGen (Gen.zip (Gen.choose (6, 40)) (Gen.elements [ StackPadding.Zeros; StackPadding.RepeatFirst ])) (Gen.zip (Gen.choose (1, 4)) (Gen.elements [ 0.5; 0.9; 1.0 ]))
            Prop.forAll (Arb.fromGen cases) (fun (episodes, (capacity, padding), (n, gamma)) ->
                let buffer = FrameReplayBuffer(capacity, 1, 4, 2, padding)
                let shadows, newest = playShadow buffer episodes (Random 2)
                let expected = sampleable buffer shadows newest n gamma
                if n > capacity - 4 || buffer.Count < 4 then
                    true
                elif expected.Count = 0 then
                    Expect.throwsT<InvalidOperationException> (fun () -> buffer.Sample(4, n, gamma) |> ignore) "Sample with no sampleable transition"
                    true
                else
                    // 1600 draws: every sampleable transition (at most 40) shows up, with overwhelming probability.
                    let seen = HashSet<int>()
                    for _ in 1..400 do
                        let batch = buffer.Sample(4, n, gamma)
                        for w in batch.Weights do Expect.equal w 1.0f "a uniform batch's weight"
                        for id in checkRows buffer expected batch do
                            seen.Add id |> ignore
                    Expect.equal (Seq.sort seen |> List.ofSeq) (Seq.sort expected.Keys |> List.ofSeq) "the transitions sampled"
                    true)
        )

        testCase "n = 1 gives the 1-step batch, with discount gamma times (1 - terminated)" <| fun () ->
            let make () =
                let buffer = FrameReplayBuffer(30, 7, frameBytes = 2)
                play buffer [ (10, true); (12, false); (9, true); (4, true) ] (Random 4) |> ignore
                buffer
            let old = (make ()).Sample 16
            let fresh = (make ()).Sample(16, 1, 0.9)
            Expect.equal fresh.Indices old.Indices "fresh.Indices"
            Expect.equal fresh.ObservationSlots old.ObservationSlots "fresh.ObservationSlots"
            Expect.equal fresh.NextObservationSlots old.NextObservationSlots "fresh.NextObservationSlots"
            Expect.equal fresh.Actions old.Actions "fresh.Actions"
            Expect.equal fresh.Rewards old.Rewards "fresh.Rewards"
            Expect.equal fresh.Terminated old.Terminated "fresh.Terminated"
            for k in Array.append old.Steps fresh.Steps do Expect.equal k 1 "a 1-step row's steps"
            Expect.equal old.Discounts (old.Terminated |> Array.map (fun t -> 1.0f - t)) "old.Discounts"
            Expect.equal fresh.Discounts (old.Terminated |> Array.map (fun t -> float32 0.9 * (1.0f - t))) "fresh.Discounts"
            for w in Array.append old.Weights fresh.Weights do Expect.equal w 1.0f "a uniform batch's weight"

        testCase "a truncated window bootstraps from the final frame and a running episode's last n - 1 steps wait" <| fun () ->
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
            Expect.equal (rows.Keys |> Seq.sort |> List.ofSeq) [ 1; 2 ] "the frames sampled"
            Expect.equal (rows[1]) (3, 2.0f, 0.25f, 0.0f) "rows[1]"
            Expect.equal (rows[2]) (3, 2.0f, 0.5f, 0.0f) "rows[2]"
            buffer.Add(0, 16.0f, ReadOnlySpan(frame 7), true, false) // now frame 4's window is complete and terminal
            let batch = buffer.Sample(5, 3, 0.5)
            let obs = decode buffer batch.ObservationSlots
            for b in 0..4 do
                if obs[b] = 4 then
                    Expect.equal (batch.Rewards[b]) (4.0f + 4.0f + 4.0f) "batch.Rewards[b]"
                    Expect.equal (batch.Discounts[b]) 0.0f "batch.Discounts[b]"
                    Expect.equal (batch.Terminated[b]) 1.0f "batch.Terminated[b]"
                    Expect.equal (batch.Steps[b]) 3 "batch.Steps[b]"

        testCase "prioritized draws hit each transition in proportion to its priority" <| fun () ->
            // Pearson's statistic over 10 transitions (9 degrees of freedom) must stay below χ²₀.₉₉₉(9) = 27.877
            // (NIST/SEMATECH e-Handbook, table 1.3.6.7.4), for single draws and for stratified batches of 8, n = 1 and 3.
            for batchSize, n in [ (1, 1); (8, 3) ] do
                let buffer, p = ranked 10 2016
                let counts = Array.zeroCreate<int> 10
                for _ in 1 .. 200_000 / batchSize do
                    for slot in (buffer.SamplePrioritized(batchSize, n, 0.99, 0.5)).Indices do
                        counts[slot] <- counts[slot] + 1
                let statistic = pearson counts p
                Expect.isTrue (statistic < 27.877) $"batch {batchSize}, n {n}: χ² = {statistic:F2}, counts %A{counts}"

        testCase "importance weights are (p_min / p_i)^beta with the minimum over every stored transition" <| fun () ->
            let buffer, p = ranked 10 3
            for beta in [ 0.0; 0.4; 1.0 ] do
                let batch = buffer.SamplePrioritized(10, 3, 0.99, beta)
                for b in 0..9 do
                    let slot = batch.Indices[b]
                    Expect.floatClose (Accuracy.places 9) (buffer.Priority slot) (p[slot]) $"buffer.Priority {slot}"
                    Expect.floatClose { absolute = 1e-6; relative = 0.0 } (float batch.Weights[b]) (Math.Pow(p[0] / p[slot], beta)) $"beta {beta}: batch.Weights[{b}]"

        testCase "importance weights normalised by the batch are (p_min,batch / p_i)^beta, the largest 1" <| fun () ->
            let buffer, p = ranked 10 3
            for beta in [ 0.0; 0.4; 1.0 ] do
                let batch = buffer.SamplePrioritized(4, 3, 0.99, beta, Dqn.Fun.ImportanceWeightNormalization.BatchMax)
                let least = batch.Indices |> Array.map (fun slot -> p[slot]) |> Array.min
                for b in 0..3 do
                    let slot = batch.Indices[b]
                    Expect.floatClose { absolute = 1e-6; relative = 0.0 } (float batch.Weights[b]) (Math.Pow(least / p[slot], beta)) $"beta {beta}: batch.Weights[{b}]"
                Expect.equal (Array.max batch.Weights) 1.0f "the largest weight"

        testCase "new transitions get the largest priority ever recorded and UpdatePriorities sets (|delta| + eps)^alpha" <| fun () ->
            let buffer = FrameReplayBuffer(20, 0, frameBytes = 2, priorityAlpha = 0.5, priorityEpsilon = 0.01)
            Expect.isTrue buffer.IsPrioritized "buffer.IsPrioritized"
            Expect.equal buffer.MaxPriority 1.0 "buffer.MaxPriority of a new buffer"
            buffer.StartEpisode(ReadOnlySpan(frame 1))
            Expect.equal (buffer.Priority 0) 0.0 "buffer.Priority 0 of a frame without a transition" // a frame without a transition yet
            buffer.Add(0, 0.0f, ReadOnlySpan(frame 2), false, false)
            Expect.equal (buffer.Priority 0) 1.0 "buffer.Priority 0 of a new transition"
            buffer.UpdatePriorities([| 0 |], [| -8.99f |])
            Expect.floatClose (Accuracy.places 12) (buffer.Priority 0) (Math.Sqrt(float (abs -8.99f) + 0.01)) "buffer.Priority 0 after an update"
            Expect.equal buffer.MaxPriority (buffer.Priority 0) "buffer.MaxPriority"
            buffer.UpdatePriorities([| 0 |], [| 0.0f |]) // lowering it keeps the maximum ever recorded
            Expect.floatClose (Accuracy.places 12) (buffer.Priority 0) 0.1 "buffer.Priority 0 after lowering it"
            buffer.Add(0, 0.0f, ReadOnlySpan(frame 3), false, false)
            Expect.equal (buffer.Priority 1) buffer.MaxPriority "buffer.Priority 1"
            Expect.isTrue (buffer.MaxPriority > 2.99) "buffer.MaxPriority > 2.99"
            // The slot with the large priority takes nearly all draws.
            let indices = Array.concat [ for _ in 1..500 -> (buffer.SamplePrioritized(2, 1, 0.99, 1.0)).Indices ]
            let share = (indices |> Array.filter ((=) 1)).Length
            Expect.inRange share 940 1000 "draws of slot 1" // expected 1000 · 3 / 3.1 ≈ 968

        testPropertyWithConfig { fsCheck with maxTest = 200 } "prioritized rows equal the reference; overwritten and stack-broken slots leave the trees and are never drawn" (
            let cases = Gen.zip3 streamGen (Gen.choose (6, 40)) (Gen.zip (Gen.choose (1, 4)) (Gen.choose (0, 1000)))
            Prop.forAll (Arb.fromGen cases) (fun (episodes, capacity, (n, seed)) ->
                let buffer = FrameReplayBuffer(capacity, seed, 4, 2, priorityAlpha = 0.7)
                let rng = Random seed
                let shadows, newest = playShadow buffer episodes rng
                // Live slots (priority > 0): stored transitions whose stack is intact.
                let live = sampleable buffer shadows newest 1 1.0
                for slot in 0 .. capacity - 1 do
                    let id = [ for k in live.Keys do if (k - 1) % capacity = slot then k ]
                    Expect.isTrue ((buffer.Priority slot > 0.0) = not id.IsEmpty) $"slot {slot}: priority {buffer.Priority slot}, live {id}"
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
                            Expect.floatClose
                                { absolute = 1e-6; relative = 0.0 }
                                (float batch.Weights[k])
                                (Math.Pow(least / buffer.Priority batch.Indices[k], 0.5))
                                $"batch.Weights[{k}]"
                        buffer.UpdatePriorities(batch.Indices, Array.init 4 (fun _ -> float32 (rng.NextDouble() * 10.0)))
                    true)
        )

        testCase "UpdatePriorities ignores slots overwritten since they were sampled" <| fun () ->
            let buffer = FrameReplayBuffer(8, 0, stack = 1, frameBytes = 2, priorityAlpha = 1.0)
            buffer.StartEpisode(ReadOnlySpan(frame 1))
            for id in 2..8 do
                buffer.Add(0, 0.0f, ReadOnlySpan(frame id), false, false)
            let batch = buffer.SamplePrioritized(7, 1, 0.9, 0.5)
            Expect.contains batch.Indices 0 "batch.Indices"
            buffer.Add(0, 0.0f, ReadOnlySpan(frame 9), false, false) // overwrites slot 0 (frame 1), slot 7 gets a transition
            buffer.Add(0, 0.0f, ReadOnlySpan(frame 10), false, false) // slot 0 holds frame 9 with a new transition; slot 1's goes
            Expect.equal (buffer.Priority 0) 1.0 "buffer.Priority 0 before the update"
            Expect.equal (buffer.Priority 1) 0.0 "buffer.Priority 1 before the update"
            buffer.UpdatePriorities(batch.Indices, Array.create 7 5.0f)
            Expect.equal (buffer.Priority 0) 1.0 "buffer.Priority 0 after the update"
            Expect.equal (buffer.Priority 1) 0.0 "buffer.Priority 1 after the update"
            Expect.floatClose (Accuracy.places 9) (buffer.Priority 2) (5.0 + 1e-6) "buffer.Priority 2 after the update"

        testCase "prioritized sampling redraws past incomplete windows and fails clearly when none is complete" <| fun () ->
            let buffer = FrameReplayBuffer(20, 0, frameBytes = 2, priorityAlpha = 1.0)
            buffer.StartEpisode(ReadOnlySpan(frame 1))
            buffer.Add(0, 0.0f, ReadOnlySpan(frame 2), false, false)
            buffer.Add(0, 0.0f, ReadOnlySpan(frame 3), false, false)
            let e = Expect.wantThrows<InvalidOperationException> (fun () -> buffer.SamplePrioritized(2, 3, 0.9, 0.5) |> ignore) "SamplePrioritized with no complete window"
            Expect.stringContains e.Message "n-step window" "e.Message"
            buffer.Add(0, 0.0f, ReadOnlySpan(frame 4), false, false)
            buffer.Add(0, 0.0f, ReadOnlySpan(frame 5), false, false)
            // Slots 0 and 1 have complete windows; 2 and 3 still wait, at the maximal priority: nearly all the mass.
            buffer.UpdatePriorities([| 0; 1 |], [| 0.01f; 0.01f |])
            for _ in 1..20 do
                for i in (buffer.SamplePrioritized(4, 3, 0.9, 0.5)).Indices do
                    Expect.inRange i 0 1 "a sampled slot"

        testCase "prioritized members name the problem" <| fun () ->
            let uniform = FrameReplayBuffer(20, 0, frameBytes = 2)
            Expect.isFalse uniform.IsPrioritized "uniform.IsPrioritized"
            Expect.throwsT<InvalidOperationException> (fun () -> uniform.SamplePrioritized(1, 1, 0.9, 0.5) |> ignore) "SamplePrioritized of a uniform buffer"
            Expect.throwsT<InvalidOperationException> (fun () -> uniform.UpdatePriorities([| 0 |], [| 1.0f |])) "UpdatePriorities of a uniform buffer"
            let buffer, _ = ranked 5 0
            let paramName (what: string) (f: unit -> unit) = (Expect.wantThrows<ArgumentException> f what).ParamName
            let paramNameOutOfRange (what: string) (f: unit -> unit) = (Expect.wantThrows<ArgumentOutOfRangeException> f what).ParamName
            Expect.equal (paramName "2 indices, 1 error" (fun () -> buffer.UpdatePriorities([| 0; 1 |], [| 1.0f |]))) "tdErrors" "ParamName"
            Expect.equal (paramName "a NaN error" (fun () -> buffer.UpdatePriorities([| 0 |], [| nanf |]))) "tdErrors" "ParamName"
            Expect.equal (paramName "an infinite error" (fun () -> buffer.UpdatePriorities([| 0 |], [| infinityf |]))) "tdErrors" "ParamName"
            Expect.equal (paramNameOutOfRange "index 99" (fun () -> buffer.UpdatePriorities([| 99 |], [| 1.0f |]))) "indices" "ParamName"
            Expect.equal (paramNameOutOfRange "beta 1.5" (fun () -> buffer.SamplePrioritized(1, 1, 0.9, 1.5) |> ignore)) "beta" "ParamName"
            Expect.equal (paramNameOutOfRange "n 0" (fun () -> buffer.Sample(1, 0, 0.9) |> ignore)) "nStep" "ParamName"
            Expect.equal (paramNameOutOfRange "gamma NaN" (fun () -> buffer.Sample(1, 1, nan) |> ignore)) "gamma" "ParamName"
            Expect.equal (paramNameOutOfRange "alpha 2" (fun () -> FrameReplayBuffer(20, 0, priorityAlpha = 2.0) |> ignore)) "priorityAlpha" "ParamName"
            Expect.equal (paramName "epsilon 0.1" (fun () -> FrameReplayBuffer(20, 0, priorityEpsilon = 0.1) |> ignore)) "priorityEpsilon" "ParamName"
    ]
