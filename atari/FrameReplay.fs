namespace Dqn.Fun.Atari

open System
open Dqn.Fun

type FrameBatch =
    { Size: int
      Stack: int
      ObservationSlots: int[]
      NextObservationSlots: int[]
      Actions: int64[]
      Rewards: float32[]
      Terminated: float32[]
      Indices: int[]
      Steps: int[]
      Discounts: float32[]
      Weights: float32[] }

/// Per-slot metadata.
[<Struct; NoEquality; NoComparison>]
type internal SlotInfo =
    /// 1 + the write number of the slot's frame; 0: never written.
    val mutable Written: int64
    /// Index of the slot's frame within its episode.
    val mutable Position: int
    val mutable Action: int
    val mutable Reward: float32
    /// HasTransition ||| Terminated ||| EpisodeEnd.
    val mutable Flags: byte

/// The priorities of a prioritized FrameReplayBuffer: a float64 sum tree over the slots and, for the smallest
/// live priority, a min tree over blocks of 32 slots (a block's minimum rescanned from the sum tree's leaves
/// when its holder rises or leaves). Live slots have priority > 0; 0 marks a slot that cannot be sampled.
[<Sealed>]
type internal SlotPriorities(capacity: int) =
    static let blockBits = 5
    static let empty = Double.MaxValue // MinTree rejects +∞; a block with no live slot holds MaxValue.
    let sums = SumTree capacity
    let blocks = MinTree((capacity + (1 <<< blockBits) - 1) >>> blockBits)

    member _.Item with get (slot: int) = sums[slot]
    member _.Total = sums.Total
    member _.Find(mass: float) = sums.Find mass

    /// The smallest nonzero priority; +∞ when none is.
    member _.Min = if blocks.Min >= empty then Double.PositiveInfinity else blocks.Min

    member _.Set(slot: int, priority: float) =
        let old = sums[slot]
        if old <> priority then
            sums.Update(slot, priority)
            let block = slot >>> blockBits
            let least = blocks[block]
            if priority > 0.0 && priority <= least then
                blocks.Update(block, priority)
            elif old = least then
                let first = block <<< blockBits
                let mutable m = empty
                for s in first .. min capacity (first + (1 <<< blockBits)) - 1 do
                    let p = sums[s]
                    if p > 0.0 && p < m then m <- p
                blocks.Update(block, m)

/// The frames of a frame replay in a training checkpoint: "DQNFUN-FRAMES-1", the frame size and count (int32 each,
/// little-endian), then blocks of up to 1,024 frames, each LZ4-compressed (K4os.Compression.LZ4, fast level) and
/// preceded by its raw and compressed byte counts (int32 each). Atari frames compress about tenfold.
module internal FrameFile =
    let private magic = Text.Encoding.ASCII.GetBytes "DQNFUN-FRAMES-1"

    /// Frames per compressed block (a divisor of the replay's 2^16-frame chunks, so a block is one run of memory).
    let framesPerBlock = 1024

    /// Writes frames 0 .. count-1 to `path`; `block first n` gives the bytes of frames first .. first+n-1 (n at most
    /// framesPerBlock, first a multiple of it), contiguous.
    let write (path: string) (frameBytes: int) (count: int) (block: int -> int -> ArraySegment<byte>) =
        use fs = new IO.FileStream(path, IO.FileMode.CreateNew, IO.FileAccess.Write, IO.FileShare.None, 1 <<< 20)
        use w = new IO.BinaryWriter(fs)
        w.Write magic
        w.Write frameBytes
        w.Write count
        let packed = Array.zeroCreate<byte> (K4os.Compression.LZ4.LZ4Codec.MaximumOutputSize(framesPerBlock * frameBytes))
        let mutable first = 0
        while first < count do
            let n = min framesPerBlock (count - first)
            let raw = block first n
            let length = K4os.Compression.LZ4.LZ4Codec.Encode(ReadOnlySpan(raw.Array, raw.Offset, raw.Count), Span packed)
            w.Write raw.Count
            w.Write length
            w.Write(packed, 0, length)
            first <- first + n
        w.Flush()
        fs.Flush true

    /// Reads `count` frames of `frameBytes` from `path`, each block decompressed straight into `block first n` (as for
    /// write). Raises InvalidDataException when the file is not such a file, holds another size or count, or a block
    /// does not decompress to its size.
    let read (path: string) (frameBytes: int) (count: int) (block: int -> int -> ArraySegment<byte>) =
        let bad (msg: string) : 'a = raise (IO.InvalidDataException($"{path}: {msg}"))
        use fs = new IO.FileStream(path, IO.FileMode.Open, IO.FileAccess.Read, IO.FileShare.Read, 1 <<< 20)
        use r = new IO.BinaryReader(fs)
        let read (n: int) =
            let b = r.ReadBytes n
            if b.Length <> n then bad "the file ends early"
            b
        if not ((read magic.Length).AsSpan().SequenceEqual(magic)) then bad "not a Dqn.Fun frame file"
        let size, n = r.ReadInt32(), r.ReadInt32()
        if (size, n) <> (frameBytes, count) then bad $"holds {n} frames of {size} bytes; expected {count} of {frameBytes}"
        let mutable first = 0
        while first < count do
            let m = min framesPerBlock (count - first)
            let rawLength, length = r.ReadInt32(), r.ReadInt32()
            if rawLength <> m * frameBytes || length < 0 then bad $"block at frame {first}: {rawLength} bytes, expected {m * frameBytes}"
            let packed = read length
            let into = block first m
            if K4os.Compression.LZ4.LZ4Codec.Decode(ReadOnlySpan packed, Span(into.Array, into.Offset, into.Count)) <> rawLength then
                bad $"block at frame {first} does not decompress to {rawLength} bytes"
            first <- first + m

[<Sealed>]
type FrameReplayBuffer
    (
        capacity: int,
        seed: int,
        ?stack: int,
        ?frameBytes: int,
        ?padding: StackPadding,
        ?priorityAlpha: float,
        ?priorityEpsilon: float,
        ?streams: int
    ) =
    let stack = defaultArg stack 4
    let streams = defaultArg streams 1
    let frameBytes = defaultArg frameBytes (84 * 84)
    let padding = defaultArg padding StackPadding.Zeros
    let alpha = defaultArg priorityAlpha 0.0
    let epsilon = defaultArg priorityEpsilon 1e-6
    do
        if stack < 1 then raise (ArgumentOutOfRangeException("stack", stack, "stack must be at least 1"))
        if frameBytes < 1 then raise (ArgumentOutOfRangeException("frameBytes", frameBytes, "frameBytes must be positive"))
        if capacity < stack + 2 then
            raise (ArgumentOutOfRangeException("capacity", capacity, $"capacity must be at least stack + 2 = {stack + 2}"))
        if streams < 1 then raise (ArgumentOutOfRangeException("streams", streams, "streams must be at least 1"))
        if capacity / streams < stack + 2 then
            raise (
                ArgumentOutOfRangeException(
                    "capacity",
                    capacity,
                    $"capacity must be at least streams * (stack + 2) = {streams * (stack + 2)}: each of the {streams} streams needs a region of stack + 2 slots"
                )
            )
        if Double.IsNaN alpha || alpha < 0.0 || alpha > 1.0 then
            raise (ArgumentOutOfRangeException("priorityAlpha", alpha, $"priorityAlpha must be in [0, 1], got {alpha}"))
        if not (epsilon > 0.0 && Double.IsFinite epsilon) then
            raise (ArgumentOutOfRangeException("priorityEpsilon", epsilon, $"priorityEpsilon must be positive and finite, got {epsilon}"))
        if priorityEpsilon.IsSome && priorityAlpha.IsNone then
            invalidArg "priorityEpsilon" "priorityEpsilon is used only with priorityAlpha (a prioritized buffer)"

    static let chunkBits = 16
    static let chunkMask = (1 <<< chunkBits) - 1
    static let HasTransition = 1uy
    static let TerminatedFlag = 2uy
    /// The transition ends its episode: terminated, truncated, or abandoned by StartEpisode.
    static let EndFlag = 4uy

    // Storage: frames in chunks of 2^16, and per-slot metadata. All mutation happens in StartEpisode and Add.
    let chunks =
        Array.init ((capacity + chunkMask) >>> chunkBits) (fun c ->
            Array.zeroCreate<byte> ((min (1 <<< chunkBits) (capacity - (c <<< chunkBits))) * frameBytes))
    // One 24-byte record per slot, so that checking a sampled slot touches one cache line, not five.
    let slots = Array.zeroCreate<SlotInfo> capacity
    let priorities = if priorityAlpha.IsSome then SlotPriorities capacity else Unchecked.defaultof<_>
    let prioritized = priorityAlpha.IsSome
    let mutable random = SeededRandom seed
    // Stream s writes its episodes into its own region of slots, base s .. base s + size s - 1, as a ring: a frame's
    // stack and n-step window are the slots around it in its region, and Written stamps count the stream's writes.
    let regionSize = capacity / streams
    let regionOf (slot: int) = min (slot / regionSize) (streams - 1)
    let baseOf (r: int) = r * regionSize
    let sizeOf (r: int) = if r = streams - 1 then capacity - baseOf r else regionSize
    let writes = Array.zeroCreate<int64> streams
    let mutable transitions = 0
    let current = Array.create streams -1 // slot of each stream's running episode's latest frame; -1 when none runs
    let mutable maxPriority = 1.0
    let mutable touched = 0L // see touch
    let writesAtSample = Array.create streams Int64.MaxValue // writes when SamplePrioritized last ran (none yet: MaxValue)
    /// Slots holding a frame in stream s's region: they fill from its base up.
    let filledIn (s: int) = int (min writes[s] (int64 (sizeOf s)))

    let span (slot: int) =
        Span<byte>(chunks[slot >>> chunkBits], (slot &&& chunkMask) * frameBytes, frameBytes)

    /// The frames of slots first .. first+n-1 as one array segment: they lie in one chunk when first is a multiple of
    /// n and n divides the chunk size (FrameFile's blocks).
    let frameRun (first: int) (n: int) =
        if (first &&& chunkMask) + n > (1 <<< chunkBits) then invalidOp $"frames {first} .. {first + n - 1} straddle two chunks"
        ArraySegment<byte>(chunks[first >>> chunkBits], (first &&& chunkMask) * frameBytes, n * frameBytes)

    let checkFrame (frame: ReadOnlySpan<byte>) (name: string) =
        if frame.Length <> frameBytes then
            invalidArg name $"{name} has {frame.Length} bytes, expected FrameBytes = {frameBytes}"

    /// The slot d slots after (d < 0: before) `slot` in its stream's ring (|d| < the region's size).
    let near (slot: int) (d: int) =
        if streams = 1 then
            let i = slot + d
            if i < 0 then i + capacity elif i >= capacity then i - capacity else i
        else
            let r = regionOf slot
            let b, size = baseOf r, sizeOf r
            let j = slot - b + d
            b + (if j < 0 then j + size elif j >= size then j - size else j)

    /// Writes a frame into the next slot (overwriting the oldest) and returns that slot. Prioritized: the
    /// overwritten transition leaves the trees, and so do the next stack - 1 ones whose stacks reached its frame.
    let writeFrame (stream: int) (frame: ReadOnlySpan<byte>) (pos: int) =
        let slot = baseOf stream + int (writes[stream] % int64 (sizeOf stream))
        let info = &slots[slot]
        if info.Flags &&& HasTransition <> 0uy then transitions <- transitions - 1
        if prioritized && info.Written > 0L then
            priorities.Set(slot, 0.0)
            for d in 1 .. stack - 1 do
                let later = near slot d
                if slots[later].Position >= d && priorities[later] > 0.0 then priorities.Set(later, 0.0)
        frame.CopyTo(span slot)
        writes[stream] <- writes[stream] + 1L
        info.Flags <- 0uy
        info.Written <- writes[stream]
        info.Position <- pos
        slot

    /// The stack of slot i's frame is intact: all its frames within the episode are still stored.
    let stackIntact (i: int) =
        let info = &slots[i]
        let k = min (stack - 1) info.Position
        k = 0 || slots[near i -k].Written = info.Written - int64 k

    let fillStack (slot: int) (position: int) (into: int[]) (offset: int) =
        for j in 0 .. stack - 1 do
            let back = stack - 1 - j // frames behind the newest
            into[offset + j] <-
                if back <= position then near slot -back
                elif padding = StackPadding.RepeatFirst then near slot -position // the episode's first frame
                else -1

    let checkSampleArgs (batchSize: int) (nStep: int) (gamma: float) =
        if batchSize <= 0 then raise (ArgumentOutOfRangeException("batchSize", batchSize, "batchSize must be positive"))
        if nStep < 1 || nStep > capacity - stack then
            raise (ArgumentOutOfRangeException("nStep", nStep, $"nStep must be in 1..capacity - stack = {capacity - stack}"))
        if Double.IsNaN gamma || gamma < 0.0 || gamma > 1.0 then
            raise (ArgumentOutOfRangeException("gamma", gamma, $"gamma must be in [0, 1], got {gamma}"))
        if transitions < batchSize then
            invalidOp $"cannot sample {batchSize} transitions: {transitions} are stored"

    /// Fresh arrays for a batch; Weights all 1.
    let newBatch (batchSize: int) =
        { Size = batchSize
          Stack = stack
          ObservationSlots = Array.zeroCreate (batchSize * stack)
          NextObservationSlots = Array.zeroCreate (batchSize * stack)
          Actions = Array.zeroCreate batchSize
          Rewards = Array.zeroCreate batchSize
          Terminated = Array.zeroCreate batchSize
          Indices = Array.zeroCreate batchSize
          Steps = Array.zeroCreate batchSize
          Discounts = Array.zeroCreate batchSize
          Weights = Array.create batchSize 1.0f }

    /// Writes row b of the batch from the n-step transition at slot i and returns true, or returns false when
    /// that transition cannot be sampled (not stored, stack overwritten, window not complete yet). The window
    /// walks forward through frames written one after another (Written stamps), summing rewards, and stops
    /// after n steps or at the transition that ends the episode. `gammaFree`: Discounts = 1 - terminated.
    let tryRow (i: int) (nStep: int) (gamma: float) (gammaFree: bool) (batch: FrameBatch) (b: int) =
        let info = &slots[i]
        if info.Flags &&& HasTransition = 0uy || not (stackIntact i) then
            false
        else
            let written = info.Written
            let mutable k = 0
            let mutable slot = i
            let mutable ret = 0.0
            let mutable discount = 1.0
            let mutable state = 0 // 0: walking, 1: complete, 2: terminated, 3: not sampleable
            while state = 0 do
                let s = &slots[slot]
                if s.Written <> written + int64 k || s.Flags &&& HasTransition = 0uy then
                    state <- 3
                else
                    ret <- ret + discount * float s.Reward
                    discount <- discount * gamma
                    k <- k + 1
                    slot <- near slot 1
                    if s.Flags &&& TerminatedFlag <> 0uy then state <- 2
                    elif s.Flags &&& EndFlag <> 0uy || k = nStep then state <- 1
            if state = 3 || slots[slot].Written <> written + int64 k then
                false
            else
                batch.Indices[b] <- i
                fillStack i info.Position batch.ObservationSlots (b * stack)
                fillStack slot (info.Position + k) batch.NextObservationSlots (b * stack)
                batch.Actions[b] <- int64 info.Action
                batch.Rewards[b] <- float32 ret
                batch.Steps[b] <- k
                batch.Terminated[b] <- if state = 2 then 1.0f else 0.0f
                batch.Discounts[b] <-
                    if state = 2 then 0.0f
                    elif gammaFree then 1.0f
                    else float32 discount
                true

    /// Reads the records around each drawn slot in one tight loop, so that the cache misses of all rows overlap:
    /// a row's checks are too long for the CPU to overlap them with the next rows' by itself (at 1M slots this
    /// halves the time of a batch).
    let touch (drawn: int[]) =
        let mutable sum = 0L
        for i in drawn do
            sum <- sum + slots[i].Written + slots[near i 1].Written + slots[near i (1 - stack)].Written
        touched <- sum

    let sampleUniform (batchSize: int) (nStep: int) (gamma: float) (gammaFree: bool) =
        checkSampleArgs batchSize nStep gamma
        let filled = Array.init streams filledIn
        let total = Array.sum filled
        /// A slot drawn uniformly from those holding a frame.
        let draw () =
            let mutable k = random.Next total
            let mutable r = 0
            while k >= filled[r] do
                k <- k - filled[r]
                r <- r + 1
            baseOf r + k
        let batch = newBatch batchSize
        // Rejection sampling over slots: most slots hold a sampleable transition (all but one per episode, the
        // few just ahead of the write cursor and the last n - 1 of the running episode), so a draw rarely repeats.
        let drawn = batch.Indices
        for b in 0 .. batchSize - 1 do
            drawn[b] <- draw ()
        touch drawn
        let mutable attempts = 0
        for b in 0 .. batchSize - 1 do
            while not (tryRow drawn[b] nStep gamma gammaFree batch b) do
                drawn[b] <- draw ()
                attempts <- attempts + 1
                if attempts > 1000 * batchSize then
                    invalidOp $"could not find {batchSize} sampleable transitions among {total} slots"
        batch

    let requirePrioritized (what: string) =
        if not prioritized then
            invalidOp $"{what} needs a prioritized buffer: construct it with priorityAlpha"

    member _.Capacity = capacity
    member _.Stack = stack
    member _.FrameBytes = frameBytes
    member _.Padding = padding
    member _.Streams = streams
    member _.Count = transitions
    member _.IsPrioritized = prioritized
    member _.MaxPriority = maxPriority

    member _.Priority(slot: int) =
        requirePrioritized "Priority"
        if slot < 0 || slot >= capacity then raise (ArgumentOutOfRangeException("slot", slot, $"slot outside [0, {capacity})"))
        priorities[slot]

    member this.StartEpisode(frame: ReadOnlySpan<byte>) = this.StartEpisode(0, frame)

    member _.StartEpisode(stream: int, frame: ReadOnlySpan<byte>) =
        if stream < 0 || stream >= streams then raise (ArgumentOutOfRangeException("stream", stream, $"stream must be in 0..{streams - 1}"))
        checkFrame frame "frame"
        // An episode left running ends here as if truncated: its last transition bootstraps from its last frame.
        let c = current[stream]
        if c >= 0 && slots[c].Position > 0 then
            let last = &slots[near c -1]
            last.Flags <- last.Flags ||| EndFlag
        current[stream] <- writeFrame stream frame 0

    member this.Add(action: int, reward: float32, nextFrame: ReadOnlySpan<byte>, terminated: bool, truncated: bool) =
        this.Add(0, action, reward, nextFrame, terminated, truncated)

    member this.Add(stream: int, action: int, reward: float32, nextFrame: ReadOnlySpan<byte>, terminated: bool, truncated: bool) =
        this.AddWith(stream, action, reward, nextFrame, terminated, truncated, Double.NaN)

    member this.Add(stream: int, action: int, reward: float32, nextFrame: ReadOnlySpan<byte>, terminated: bool, truncated: bool, tdError: float32) =
        requirePrioritized "Add with a TD error"
        if not (Single.IsFinite tdError) then invalidArg "tdError" $"tdError must be finite, got {tdError}"
        this.AddWith(stream, action, reward, nextFrame, terminated, truncated, Math.Pow(float (abs tdError) + epsilon, alpha))

    member _.IsRunning(stream: int) =
        if stream < 0 || stream >= streams then raise (ArgumentOutOfRangeException("stream", stream, $"stream must be in 0..{streams - 1}"))
        current[stream] >= 0

    /// Add at `priority` (NaN: MaxPriority), which raises MaxPriority when it exceeds it.
    member private _.AddWith(stream: int, action: int, reward: float32, nextFrame: ReadOnlySpan<byte>, terminated: bool, truncated: bool, priority: float) =
        if stream < 0 || stream >= streams then raise (ArgumentOutOfRangeException("stream", stream, $"stream must be in 0..{streams - 1}"))
        let running = current[stream]
        if running < 0 then invalidOp $"no episode is running in stream {stream}: call StartEpisode with the first frame"
        if action < 0 then raise (ArgumentOutOfRangeException("action", action, "action must be non-negative"))
        if not (Single.IsFinite reward) then invalidArg "reward" $"reward must be finite, got {reward}"
        checkFrame nextFrame "nextFrame"
        let slot = running
        let info = &slots[slot]
        info.Action <- action
        info.Reward <- reward
        info.Flags <-
            HasTransition
            ||| (if terminated then TerminatedFlag else 0uy)
            ||| (if terminated || truncated then EndFlag else 0uy)
        transitions <- transitions + 1
        if prioritized && stackIntact slot then
            if Double.IsNaN priority then priorities.Set(slot, maxPriority)
            else
                priorities.Set(slot, priority)
                if priority > maxPriority then maxPriority <- priority
        let next = writeFrame stream nextFrame (info.Position + 1)
        current[stream] <- if terminated || truncated then -1 else next

    member _.Sample(batchSize: int) : FrameBatch = sampleUniform batchSize 1 1.0 true

    member _.Sample(batchSize: int, nStep: int, gamma: float) : FrameBatch = sampleUniform batchSize nStep gamma false

    member this.SamplePrioritized(batchSize: int, nStep: int, gamma: float, beta: float) : FrameBatch =
        this.SamplePrioritized(batchSize, nStep, gamma, beta, ImportanceWeightNormalization.BufferMax)

    member _.SamplePrioritized(batchSize: int, nStep: int, gamma: float, beta: float, normalization: ImportanceWeightNormalization) : FrameBatch =
        requirePrioritized "SamplePrioritized"
        if Double.IsNaN beta || beta < 0.0 || beta > 1.0 then
            raise (ArgumentOutOfRangeException("beta", beta, $"beta must be in [0, 1], got {beta}"))
        checkSampleArgs batchSize nStep gamma
        let total = priorities.Total
        if total <= 0.0 then invalidOp "cannot sample: no stored transition has a priority"
        let segment = total / float batchSize
        let batch = newBatch batchSize
        let sampled = Array.zeroCreate<float> batchSize
        let maxAttempts = 1000 * batchSize
        let mutable attempts = 0
        // Stratum b (Schaul et al. 2016, App. B.2.1); a slot that cannot be sampled is replaced by a draw
        // from the whole mass (as Dopamine's prioritized buffer does), which keeps each slot's expected
        // count per batch proportional to its priority among the sampleable slots.
        let drawn = batch.Indices
        for b in 0 .. batchSize - 1 do
            drawn[b] <- priorities.Find(Math.Min((float b + random.NextDouble()) * segment, total))
        touch drawn
        for b in 0 .. batchSize - 1 do
            let mutable i = drawn[b]
            while not (tryRow i nStep gamma false batch b) do
                attempts <- attempts + 1
                if attempts > maxAttempts then
                    invalidOp (
                        $"could not draw {batchSize} sampleable transitions in {maxAttempts} redraws: most of the priority "
                        + "mass lies on transitions whose n-step window is not complete yet"
                    )
                i <- priorities.Find(Math.Min(random.NextDouble() * total, total))
            sampled[b] <- priorities[i]
        ImportanceWeights.fill normalization beta priorities.Min (ReadOnlySpan sampled) (Span batch.Weights)
        writes.CopyTo(writesAtSample, 0)
        batch

    member _.UpdatePriorities(indices: int[], tdErrors: float32[]) =
        requirePrioritized "UpdatePriorities"
        if isNull indices then nullArg "indices"
        if isNull tdErrors then nullArg "tdErrors"
        if indices.Length <> tdErrors.Length then
            invalidArg "tdErrors" $"tdErrors must have the length of indices, {indices.Length}, got length {tdErrors.Length}"
        for k in 0 .. indices.Length - 1 do
            let slot = indices[k]
            if slot < 0 || slot >= capacity then
                raise (ArgumentOutOfRangeException("indices", slot, $"indices[{k}] must be a slot in [0, {capacity}), got {slot}"))
            if not (Single.IsFinite tdErrors[k]) then
                invalidArg "tdErrors" $"tdErrors[{k}] must be finite, got {tdErrors[k]}"
        for k in 0 .. indices.Length - 1 do
            let slot = indices[k]
            // Skip slots overwritten since the last SamplePrioritized, and slots that are no longer sampleable.
            if slots[slot].Written <= writesAtSample[regionOf slot] && priorities[slot] > 0.0 then
                let priority = Math.Pow(float (abs tdErrors[k]) + epsilon, alpha)
                priorities.Set(slot, priority)
                if priority > maxPriority then maxPriority <- priority

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

    /// Writes the replay into a training checkpoint: the stored frames (slots 0 .. filled-1) LZ4-compressed into
    /// `framesPath` (FrameFile), and the per-slot records, priorities, counters and the sampling generator's position
    /// under `prefix` of `w`.
    member internal _.SaveState(w: StateWriter, prefix: string, framesPath: string) =
        // One stream fills its slots from 0 up; with several, every slot is written (unwritten ones hold zeros).
        let filled = if streams = 1 then filledIn 0 else capacity
        FrameFile.write framesPath frameBytes filled frameRun
        w.Int64(prefix + ".capacity", int64 capacity)
        w.Int64(prefix + ".stack", int64 stack)
        w.Int64(prefix + ".frame_bytes", int64 frameBytes)
        w.Longs(prefix + ".written", Array.init filled (fun i -> slots[i].Written))
        w.Ints(prefix + ".position", Array.init filled (fun i -> slots[i].Position))
        w.Ints(prefix + ".action", Array.init filled (fun i -> slots[i].Action))
        w.Floats(prefix + ".reward", Array.init filled (fun i -> slots[i].Reward))
        w.Bytes(prefix + ".flags", Array.init filled (fun i -> slots[i].Flags))
        if prioritized then
            w.Doubles(prefix + ".priorities", Array.init filled (fun i -> priorities[i]))
            w.Float(prefix + ".max_priority", maxPriority)
        w.Int64(prefix + ".transitions", int64 transitions)
        if streams = 1 then
            w.Int64(prefix + ".writes", writes[0])
            w.Int64(prefix + ".current", int64 current[0])
            w.Int64(prefix + ".writes_at_sample", writesAtSample[0])
        else
            w.Int64(prefix + ".streams", int64 streams)
            w.Longs(prefix + ".stream_writes", writes)
            w.Longs(prefix + ".stream_current", current |> Array.map int64)
            w.Longs(prefix + ".stream_writes_at_sample", writesAtSample)
        RandomState.save w (prefix + ".random") random

    /// Replaces the contents of this (fresh) buffer with those SaveState wrote. Raises InvalidDataException when they
    /// do not fit its capacity, stack or frame size.
    member internal _.LoadState(r: StateReader, prefix: string, framesPath: string) =
        let bad (msg: string) : 'a = raise (IO.InvalidDataException($"{r.Path}: {msg}"))
        let saved = r.Int64(prefix + ".capacity"), r.Int64(prefix + ".stack"), r.Int64(prefix + ".frame_bytes")
        if saved <> (int64 capacity, int64 stack, int64 frameBytes) then
            bad $"the frame replay was saved with (capacity, stack, frame bytes) = {saved}; this one has {(capacity, stack, frameBytes)}"
        let savedStreams = if r.Has(prefix + ".streams") then r.Int64(prefix + ".streams") else 1L
        if savedStreams <> int64 streams then
            bad $"the frame replay was saved with {savedStreams} streams; this one has {streams}"
        if streams = 1 then
            writes[0] <- r.Int64(prefix + ".writes")
        else
            let w = r.Longs(prefix + ".stream_writes")
            r.RequireLength(prefix + ".stream_writes", streams, w)
            w.CopyTo(writes, 0)
        let filled = if streams = 1 then filledIn 0 else capacity
        FrameFile.read framesPath frameBytes filled frameRun
        let written = r.Longs(prefix + ".written")
        let position = r.Ints(prefix + ".position")
        let action = r.Ints(prefix + ".action")
        let reward = r.Floats(prefix + ".reward")
        let flags = r.Bytes(prefix + ".flags")
        r.RequireLength(prefix + ".written", filled, written)
        r.RequireLength(prefix + ".position", filled, position)
        r.RequireLength(prefix + ".action", filled, action)
        r.RequireLength(prefix + ".reward", filled, reward)
        r.RequireLength(prefix + ".flags", filled, flags)
        for i in 0 .. filled - 1 do
            let info = &slots[i]
            info.Written <- written[i]
            info.Position <- position[i]
            info.Action <- action[i]
            info.Reward <- reward[i]
            info.Flags <- flags[i]
        if prioritized then
            let p = r.Doubles(prefix + ".priorities")
            r.RequireLength(prefix + ".priorities", filled, p)
            // The sum tree's inner nodes are sums of their children's current values, the blocks' minima minima of
            // theirs: setting the leaves rebuilds the saved trees bit for bit.
            for i in 0 .. filled - 1 do
                priorities.Set(i, p[i])
            maxPriority <- r.Float(prefix + ".max_priority")
        transitions <- r.Int(prefix + ".transitions", 0, capacity)
        if streams = 1 then
            current[0] <- r.Int(prefix + ".current", -1, capacity - 1)
            writesAtSample[0] <- r.Int64(prefix + ".writes_at_sample")
        else
            let c = r.Longs(prefix + ".stream_current")
            let at = r.Longs(prefix + ".stream_writes_at_sample")
            r.RequireLength(prefix + ".stream_current", streams, c)
            r.RequireLength(prefix + ".stream_writes_at_sample", streams, at)
            for s in 0 .. streams - 1 do
                if c[s] < -1L || c[s] >= int64 capacity then bad $"{prefix}.stream_current[{s}] = {c[s]} is not a slot or -1"
                current[s] <- int c[s]
            at.CopyTo(writesAtSample, 0)
        random <- RandomState.load r (prefix + ".random") seed
