namespace Dqn.Fun.Atari

open System

type FrameBatch =
    { Size: int
      Stack: int
      ObservationSlots: int[]
      NextObservationSlots: int[]
      Actions: int64[]
      Rewards: float32[]
      Terminated: float32[]
      Indices: int[] }

/// Per-slot metadata.
[<Struct; NoEquality; NoComparison>]
type internal SlotInfo =
    /// 1 + the write number of the slot's frame; 0: never written.
    val mutable Written: int64
    /// Index of the slot's frame within its episode.
    val mutable Position: int
    val mutable Action: int
    val mutable Reward: float32
    /// HasTransition ||| Terminated.
    val mutable Flags: byte

[<Sealed>]
type FrameReplayBuffer(capacity: int, seed: int, ?stack: int, ?frameBytes: int, ?padding: StackPadding) =
    let stack = defaultArg stack 4
    let frameBytes = defaultArg frameBytes (84 * 84)
    let padding = defaultArg padding StackPadding.Zeros
    do
        if stack < 1 then raise (ArgumentOutOfRangeException("stack", stack, "stack must be at least 1"))
        if frameBytes < 1 then raise (ArgumentOutOfRangeException("frameBytes", frameBytes, "frameBytes must be positive"))
        if capacity < stack + 2 then
            raise (ArgumentOutOfRangeException("capacity", capacity, $"capacity must be at least stack + 2 = {stack + 2}"))

    static let chunkBits = 16
    static let chunkMask = (1 <<< chunkBits) - 1
    static let HasTransition = 1uy
    static let TerminatedFlag = 2uy

    // Storage: frames in chunks of 2^16, and per-slot metadata. All mutation happens in StartEpisode and Add.
    let chunks =
        Array.init ((capacity + chunkMask) >>> chunkBits) (fun c ->
            Array.zeroCreate<byte> ((min (1 <<< chunkBits) (capacity - (c <<< chunkBits))) * frameBytes))
    // One 24-byte record per slot, so that checking a sampled slot touches one cache line, not five.
    let slots = Array.zeroCreate<SlotInfo> capacity
    let random = Random(seed)
    let mutable writes = 0L
    let mutable transitions = 0
    let mutable current = -1 // slot of the running episode's latest frame; -1 when no episode runs

    let span (slot: int) =
        Span<byte>(chunks[slot >>> chunkBits], (slot &&& chunkMask) * frameBytes, frameBytes)

    let checkFrame (frame: ReadOnlySpan<byte>) (name: string) =
        if frame.Length <> frameBytes then
            invalidArg name $"{name} has {frame.Length} bytes, expected FrameBytes = {frameBytes}"

    /// Writes a frame into the next slot (overwriting the oldest) and returns that slot.
    let writeFrame (frame: ReadOnlySpan<byte>) (pos: int) =
        let slot = int (writes % int64 capacity)
        let info = &slots[slot]
        if info.Flags &&& HasTransition <> 0uy then transitions <- transitions - 1
        frame.CopyTo(span slot)
        writes <- writes + 1L
        info.Flags <- 0uy
        info.Written <- writes
        info.Position <- pos
        slot

    let wrap (i: int) = if i < 0 then i + capacity elif i >= capacity then i - capacity else i

    /// A transition is sampleable while its frame, its next frame and the frames of its stack are all intact.
    let sampleable (i: int) =
        let info = &slots[i]
        info.Flags &&& HasTransition <> 0uy
        && slots[wrap (i + 1)].Written = info.Written + 1L
        && (let k = min (stack - 1) info.Position
            k = 0 || slots[wrap (i - k)].Written = info.Written - int64 k)

    let fillStack (slot: int) (position: int) (into: int[]) (offset: int) =
        let first = wrap (slot - position)
        for j in 0 .. stack - 1 do
            let back = stack - 1 - j // frames behind the newest
            into[offset + j] <-
                if back <= position then wrap (slot - back)
                elif padding = StackPadding.RepeatFirst then first
                else -1

    member _.Capacity = capacity
    member _.Stack = stack
    member _.FrameBytes = frameBytes
    member _.Padding = padding
    member _.Count = transitions

    member _.StartEpisode(frame: ReadOnlySpan<byte>) =
        checkFrame frame "frame"
        current <- writeFrame frame 0

    member _.Add(action: int, reward: float32, nextFrame: ReadOnlySpan<byte>, terminated: bool, truncated: bool) =
        if current < 0 then invalidOp "no episode is running: call StartEpisode with the first frame"
        if action < 0 then raise (ArgumentOutOfRangeException("action", action, "action must be non-negative"))
        if not (Single.IsFinite reward) then invalidArg "reward" $"reward must be finite, got {reward}"
        checkFrame nextFrame "nextFrame"
        let slot = current
        let info = &slots[slot]
        info.Action <- action
        info.Reward <- reward
        info.Flags <- HasTransition ||| (if terminated then TerminatedFlag else 0uy)
        transitions <- transitions + 1
        let next = writeFrame nextFrame (info.Position + 1)
        current <- if terminated || truncated then -1 else next

    member _.Sample(batchSize: int) : FrameBatch =
        if batchSize <= 0 then raise (ArgumentOutOfRangeException("batchSize", batchSize, "batchSize must be positive"))
        if transitions < batchSize then
            invalidOp $"cannot sample {batchSize} transitions: {transitions} are stored"
        let filled = int (min writes (int64 capacity))
        let obs = Array.zeroCreate (batchSize * stack)
        let next = Array.zeroCreate (batchSize * stack)
        let acts = Array.zeroCreate batchSize
        let rews = Array.zeroCreate batchSize
        let terms = Array.zeroCreate batchSize
        let indices = Array.zeroCreate batchSize
        // Rejection sampling over slots: most slots hold a sampleable transition (all but one per episode and
        // the few just ahead of the write cursor), so a draw rarely repeats.
        let mutable attempts = 0
        for b in 0 .. batchSize - 1 do
            let mutable i = random.Next filled
            while not (sampleable i) do
                attempts <- attempts + 1
                if attempts > 1000 * batchSize then
                    invalidOp $"could not find {batchSize} sampleable transitions among {filled} slots"
                i <- random.Next filled
            let info = slots[i]
            indices[b] <- i
            fillStack i info.Position obs (b * stack)
            fillStack (wrap (i + 1)) (info.Position + 1) next (b * stack)
            acts[b] <- int64 info.Action
            rews[b] <- info.Reward
            terms[b] <- if info.Flags &&& TerminatedFlag <> 0uy then 1.0f else 0.0f
        { Size = batchSize
          Stack = stack
          ObservationSlots = obs
          NextObservationSlots = next
          Actions = acts
          Rewards = rews
          Terminated = terms
          Indices = indices }

    member _.Gather(slots: int[], destination: Span<byte>) =
        if isNull slots then nullArg "slots"
        if destination.Length <> slots.Length * frameBytes then
            invalidArg "destination" $"destination has {destination.Length} bytes, expected {slots.Length} * {frameBytes}"
        for k in 0 .. slots.Length - 1 do
            let target = destination.Slice(k * frameBytes, frameBytes)
            match slots[k] with
            | -1 -> target.Clear()
            | s when s < 0 || s >= capacity -> raise (ArgumentOutOfRangeException("slots", s, $"slot outside [0, {capacity})"))
            | s -> (span s).CopyTo target

    member _.Frame(slot: int) =
        if slot < 0 || slot >= capacity then raise (ArgumentOutOfRangeException("slot", slot, $"slot outside [0, {capacity})"))
        (span slot).ToArray()
