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
