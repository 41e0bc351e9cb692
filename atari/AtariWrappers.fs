namespace Dqn.Fun.Atari

open System

type AtariSettings =
    { FrameSkip: int
      NoopMaxFrames: int
      FireOnReset: bool
      TerminalOnLifeLoss: bool
      MaxEpisodeFrames: int
      ClipRewards: bool
      Padding: StackPadding }

[<RequireQualifiedAccess>]
module AtariSettings =

    [<CompiledName("Nature")>]
    let nature =
        { FrameSkip = 4
          NoopMaxFrames = 30
          FireOnReset = true
          TerminalOnLifeLoss = true
          MaxEpisodeFrames = 108_000
          ClipRewards = true
          Padding = RepeatFirst }

    [<CompiledName("Machado")>]
    let machado = { nature with NoopMaxFrames = 0; TerminalOnLifeLoss = false }

    [<CompiledName("Validate")>]
    let validate (settings: AtariSettings) : AtariSettings =
        Arg.positive "settings.FrameSkip" settings.FrameSkip
        Arg.nonNegative "settings.NoopMaxFrames" settings.NoopMaxFrames
        Arg.nonNegative "settings.MaxEpisodeFrames" settings.MaxEpisodeFrames
        settings

type AtariStep =
    { Observation: byte[]
      Reward: int
      RawReward: int
      Terminated: bool
      Truncated: bool
      GameOver: bool
      LifeLost: bool
      Frames: int }

type FrameSkipResult = { RewardSum: int; Frames: int; GameOver: bool }

type IAtariEmulator =
    abstract MinimalActionSet: int[]
    abstract Lives: unit -> int
    abstract ResetGame: screen: byte[] -> unit
    abstract Repeat: action: int * frames: int * secondLast: byte[] * last: byte[] -> FrameSkipResult

[<RequireQualifiedAccess>]
module AtariWrappers =

    [<CompiledName("FrameSkip")>]
    let frameSkip (ale: IAle) (action: int) (frames: int) (secondLast: byte[]) (last: byte[]) : FrameSkipResult =
        Arg.notNull "ale" ale
        Arg.positive "frames" frames
        Arg.length "secondLast" "[210; 160; 3]" Screen.rgbLength secondLast
        Arg.length "last" "[210; 160; 3]" Screen.rgbLength last
        let mutable reward = 0
        let mutable emulated = 0
        let mutable gameOver = false
        while emulated < frames && not gameOver do
            reward <- reward + ale.Act action
            emulated <- emulated + 1
            gameOver <- ale.IsGameOver()
            if emulated = frames - 1 then ale.GetScreenRgb secondLast
            elif emulated = frames then ale.GetScreenRgb last
        if emulated < frames then
            // Ended early: the last screen is the current one; a missing second-to-last is its copy.
            if emulated <> frames - 1 then ale.GetScreenRgb secondLast
            Array.Copy(secondLast, last, last.Length)
        elif frames = 1 then
            Array.Copy(last, secondLast, last.Length)
        { RewardSum = reward; Frames = emulated; GameOver = gameOver }

    [<CompiledName("NoopCount")>]
    let noopCount (random: Random) (noopMaxFrames: int) : int =
        Arg.notNull "random" random
        Arg.nonNegative "noopMaxFrames" noopMaxFrames
        if noopMaxFrames = 0 then 0 else random.Next(1, noopMaxFrames + 1)

    [<CompiledName("Noops")>]
    let noops (ale: IAle) (frames: int) : int =
        Arg.notNull "ale" ale
        Arg.nonNegative "frames" frames
        let mutable episodeFrames = 0
        for _ in 1..frames do
            ale.Act AleAction.noop |> ignore
            episodeFrames <- episodeFrames + 1
            if ale.IsGameOver() then
                ale.ResetGame()
                episodeFrames <- 0
        episodeFrames

    [<CompiledName("HasFireReset")>]
    let hasFireReset (minimalActionSet: int[]) : bool =
        Arg.notNull "minimalActionSet" minimalActionSet
        minimalActionSet.Length >= 3 && minimalActionSet[1] = AleAction.fire

[<RequireQualifiedAccess>]
module AtariEmulator =
    [<CompiledName("OfAle")>]
    let ofAle (ale: IAle) : IAtariEmulator =
        Arg.notNull "ale" ale
        { new IAtariEmulator with
            member _.MinimalActionSet = ale.MinimalActionSet
            member _.Lives() = ale.Lives()
            member _.ResetGame screen =
                ale.ResetGame()
                ale.GetScreenRgb screen
            member _.Repeat(action, frames, secondLast, last) = AtariWrappers.frameSkip ale action frames secondLast last }

/// One op of an emulator in a batch: reset the game first (Reset), then hold ALE action id Action for Frames frames.
[<Struct>]
type EmulatorOp = { Reset: bool; Action: int; Frames: int }

/// What an op did: the rewards summed, frames emulated, game over, lives after it.
[<Struct>]
type EmulatorResult = { RewardSum: int; Frames: int; GameOver: bool; Lives: int }

type IAtariVectorEmulator =
    abstract NumEnvs: int
    abstract MinimalActionSet: int[]
    abstract MaxFrames: int
    abstract Run: ops: EmulatorOp[] * results: EmulatorResult[] * secondLast: byte[][] * last: byte[][] -> unit

[<RequireQualifiedAccess>]
module AtariVectorEmulator =
    let internal idle = { Reset = false; Action = 0; Frames = 0 }

    /// op on a single emulator, as IAtariVectorEmulator.Run specifies.
    let internal runOne (emulator: IAtariEmulator) (op: EmulatorOp) (secondLast: byte[]) (last: byte[]) : EmulatorResult =
        if op.Reset then
            emulator.ResetGame last
            Array.Copy(last, secondLast, last.Length)
        if op.Frames > 0 then
            let r = emulator.Repeat(op.Action, op.Frames, secondLast, last)
            { RewardSum = r.RewardSum; Frames = r.Frames; GameOver = r.GameOver; Lives = emulator.Lives() }
        else { RewardSum = 0; Frames = 0; GameOver = false; Lives = emulator.Lives() }

    [<CompiledName("OfEmulators")>]
    let ofEmulators (emulators: IAtariEmulator[]) : IAtariVectorEmulator =
        if isNull emulators || emulators.Length = 0 then invalidArg "emulators" "give at least one emulator"
        emulators |> Array.iteri (fun i e -> if isNull (box e) then invalidArg "emulators" $"emulators[{i}] is null")
        let emulators = Array.copy emulators
        let actions = emulators[0].MinimalActionSet
        emulators
        |> Array.iteri (fun i e ->
            if e.MinimalActionSet <> actions then
                invalidArg "emulators" $"""emulators[{i}]'s action set [{String.Join(", ", e.MinimalActionSet)}] differs from emulators[0]'s [{String.Join(", ", actions)}]""")
        { new IAtariVectorEmulator with
            member _.NumEnvs = emulators.Length
            member _.MinimalActionSet = Array.copy actions
            member _.MaxFrames = Int32.MaxValue
            member _.Run(ops, results, secondLast, last) =
                for i in 0 .. emulators.Length - 1 do
                    let op = ops[i]
                    if op.Reset || op.Frames > 0 then results[i] <- runOne emulators[i] op secondLast[i] last[i] }

/// Where an episode's reset goes after its game reset and no-op start.
type private AfterNoops =
    | ThenFire1
    | ThenFire2
    | ThenFinish

/// What the episode waits for: the result of its pending op, or nothing.
type private Stage =
    | Ready
    | Stepping
    | LifeNoop
    | Noops of reset: bool * remaining: int * after: AfterNoops
    | Fire1
    | Fire2

/// The episode logic of one Atari environment as a state machine over emulator ops, so that a vector of them can
/// be advanced with one batched emulator call (one bridge round trip) per op: BeginStep / BeginReset set a pending
/// op; Complete feeds it its result and moves on, setting the next op until the step or reset is done. The reset
/// sequence and accounting are AtariEnvironment's (see its remarks); the single environment drives one machine.
[<Sealed>]
type private AtariEpisode(actions: int[], settings: AtariSettings, seed: int, maxFrames: int) =
    let fire = settings.FireOnReset && AtariWrappers.hasFireReset actions
    let mutable random = Random(seed)
    let secondLast = Array.zeroCreate<byte> Screen.rgbLength
    let last = Array.zeroCreate<byte> Screen.rgbLength
    let pooled = Array.zeroCreate<byte> Screen.rgbLength
    let gray = Array.zeroCreate<byte> Screen.grayLength
    let observation = Array.zeroCreate<byte> Screen.observationLength
    let stack = FrameStack(4, Screen.observationLength)
    let mutable lives = 0
    let mutable emulatorLives = 0
    let mutable episodeFrames = 0
    let mutable totalFrames = 0L
    let mutable agentSteps = 0L
    // The last step was a life-loss terminal with the game still running: a reset resumes the game.
    let mutable resumeAfterLifeLoss = false
    let mutable needsReset = true
    let mutable stage = Ready
    let mutable op = AtariVectorEmulator.idle
    // The last completed step.
    let mutable result = Unchecked.defaultof<EmulatorResult>
    let mutable terminated = false
    let mutable truncated = false
    let mutable lifeLost = false

    let skip (action: int) = { Reset = false; Action = action; Frames = settings.FrameSkip }

    /// Enters `next`, setting its op.
    let rec enter (next: Stage) =
        stage <- next
        match next with
        | Ready -> op <- AtariVectorEmulator.idle
        | Stepping -> ()
        | LifeNoop -> op <- skip actions[0]
        | Noops(reset, remaining, _) -> op <- { Reset = reset; Action = AleAction.noop; Frames = min remaining maxFrames }
        | Fire1 -> op <- skip actions[1]
        | Fire2 -> op <- skip actions[2]

    /// A game reset and no-op start (AtariWrappers.noopCount draws the count), then `after`.
    let gameReset (after: AfterNoops) = enter (Noops(true, AtariWrappers.noopCount random settings.NoopMaxFrames, after))

    let observe () =
        Grayscale.rgbToGrayInto pooled gray
        AreaResize.resizeInto AreaResize.atari84 gray observation

    let finish () =
        lives <- emulatorLives
        resumeAfterLifeLoss <- false
        needsReset <- false
        observe ()
        stack.Reset(settings.Padding, observation)
        enter Ready

    let afterNoops (after: AfterNoops) =
        match after with
        | ThenFire1 -> enter Fire1
        | ThenFire2 -> enter Fire2
        | ThenFinish -> finish ()

    /// An agent step's screens into `pooled` (max of the last two) and its frames counted.
    let skipped (r: EmulatorResult) =
        MaxPool.maxInto secondLast last pooled
        episodeFrames <- episodeFrames + r.Frames
        totalFrames <- totalFrames + int64 r.Frames

    member _.SecondLast = secondLast
    member _.Last = last
    member _.Pending = match stage with Ready -> false | _ -> true
    member _.Op = op
    member _.NeedsReset = needsReset
    member _.EpisodeFrames = episodeFrames
    member _.TotalFrames = totalFrames
    member _.AgentSteps = agentSteps
    member _.Result = result
    member _.Terminated = terminated
    member _.Truncated = truncated
    member _.LifeLost = lifeLost
    member _.Stack = stack

    member _.BeginReset() =
        if not resumeAfterLifeLoss then gameReset (if fire then ThenFire1 else ThenFinish)
        else enter LifeNoop

    member this.BeginReset(seed: int) =
        random <- Random(seed)
        resumeAfterLifeLoss <- false
        this.BeginReset()

    member _.BeginStep(actionIndex: int) =
        if needsReset then
            raise (InvalidOperationException("Step needs a Reset first: before the first Reset, or after a terminated or truncated step"))
        if actionIndex < 0 || actionIndex >= actions.Length then
            Arg.outOfRange "actionIndex" actionIndex $"in 0..{actions.Length - 1}"
        op <- skip actions[actionIndex]
        stage <- Stepping

    member _.Complete(r: EmulatorResult) =
        emulatorLives <- r.Lives
        match stage with
        | Ready -> invalidOp "no op is pending"
        | Stepping ->
            skipped r
            agentSteps <- agentSteps + 1L
            observe ()
            stack.Push observation
            lifeLost <- r.Lives < lives
            lives <- r.Lives
            terminated <- r.GameOver || (settings.TerminalOnLifeLoss && lifeLost)
            truncated <- not terminated && settings.MaxEpisodeFrames > 0 && episodeFrames >= settings.MaxEpisodeFrames
            resumeAfterLifeLoss <- terminated && not r.GameOver
            needsReset <- terminated || truncated
            result <- r
            enter Ready
        | LifeNoop ->
            skipped r
            if r.GameOver then gameReset (if fire then ThenFire1 else ThenFinish)
            elif fire then enter Fire1
            else finish ()
        | Fire1 ->
            skipped r
            if r.GameOver then gameReset ThenFire2 else enter Fire2
        | Fire2 ->
            skipped r
            if r.GameOver then gameReset ThenFinish else finish ()
        | Noops(reset, remaining, after) ->
            if reset then episodeFrames <- 0
            if op.Frames = 0 then
                Array.Copy(last, pooled, pooled.Length) // the screen after the reset
                afterNoops after
            else
                let remaining = remaining - r.Frames
                totalFrames <- totalFrames + int64 r.Frames
                if r.GameOver then enter (Noops(true, remaining, after)) // the no-ops go on in a new game
                else
                    episodeFrames <- episodeFrames + r.Frames
                    Array.Copy(last, pooled, pooled.Length)
                    if remaining > 0 then enter (Noops(false, remaining, after)) else afterNoops after

    /// The step's reward as the agent sees it.
    member _.Reward = if settings.ClipRewards then RewardClip.sign result.RewardSum else result.RewardSum

[<Sealed>]
type AtariEnvironment(emulator: IAtariEmulator, settings: AtariSettings, seed: int) =
    do Arg.notNull "emulator" emulator
    let settings = AtariSettings.validate settings
    let actions = Array.copy emulator.MinimalActionSet
    do
        if actions.Length = 0 then
            raise (ArgumentException("the minimal action set must not be empty, got length 0", "emulator"))
    let episode = AtariEpisode(actions, settings, seed, Int32.MaxValue)

    let run () =
        while episode.Pending do
            episode.Complete(AtariVectorEmulator.runOne emulator episode.Op episode.SecondLast episode.Last)

    new(ale: IAle, settings: AtariSettings, seed: int) = AtariEnvironment(AtariEmulator.ofAle ale, settings, seed)

    member _.Settings = settings
    member _.ActionCount = actions.Length
    member _.EpisodeFrames = episode.EpisodeFrames
    member _.TotalFrames = episode.TotalFrames
    member _.AgentSteps = episode.AgentSteps

    member _.Reset() : byte[] =
        episode.BeginReset()
        run ()
        episode.Stack.ToArray()

    member _.Reset(seed: int) : byte[] =
        episode.BeginReset seed
        run ()
        episode.Stack.ToArray()

    member _.Step(actionIndex: int) : AtariStep =
        episode.BeginStep actionIndex
        run ()
        let r = episode.Result
        { Observation = episode.Stack.ToArray()
          Reward = episode.Reward
          RawReward = r.RewardSum
          Terminated = episode.Terminated
          Truncated = episode.Truncated
          GameOver = r.GameOver
          LifeLost = episode.LifeLost
          Frames = r.Frames }

type AtariVectorStep =
    { Observations: byte[]
      FinalObservations: byte[]
      Rewards: int[]
      RawRewards: int[]
      Terminated: bool[]
      Truncated: bool[]
      GameOver: bool[]
      LifeLost: bool[]
      Frames: int[] }

[<Sealed>]
type AtariVectorEnvironment(emulator: IAtariVectorEmulator, settings: AtariSettings, seed: int) =
    do Arg.notNull "emulator" emulator
    let settings = AtariSettings.validate settings
    let n = emulator.NumEnvs
    do
        Arg.positive "emulator.NumEnvs" n
        if settings.FrameSkip > emulator.MaxFrames then
            Arg.outOfRange "settings.FrameSkip" settings.FrameSkip $"at most the emulator's MaxFrames = {emulator.MaxFrames} (frames one op may hold)"
    let actions = Array.copy emulator.MinimalActionSet
    let actionCount = actions.Length
    do
        if actionCount = 0 then
            raise (ArgumentException("the minimal action set must not be empty, got length 0", "emulator"))
    let episodes = Array.init n (fun i -> AtariEpisode(actions, settings, seed + i, emulator.MaxFrames))
    /// Bytes of one env's frame stack, [4; 84; 84].
    let stackBytes = episodes[0].Stack.Depth * Screen.observationLength
    let secondLast = episodes |> Array.map (fun e -> e.SecondLast)
    let last = episodes |> Array.map (fun e -> e.Last)
    let ops = Array.zeroCreate<EmulatorOp> n
    let results = Array.zeroCreate<EmulatorResult> n
    let pending = Array.zeroCreate<bool> n
    let mutable started = false
    let mutable rounds = 0L

    /// Runs the pending ops of every episode, one batched emulator call per round, until none is pending.
    let runPending () =
        let mutable any = true
        while any do
            any <- false
            for i in 0 .. n - 1 do
                let p = episodes[i].Pending
                pending[i] <- p
                if p then
                    any <- true
                    ops[i] <- episodes[i].Op
                else ops[i] <- AtariVectorEmulator.idle
            if any then
                emulator.Run(ops, results, secondLast, last)
                rounds <- rounds + 1L
                for i in 0 .. n - 1 do
                    if pending[i] then episodes[i].Complete results[i]

    member _.NumEnvs = n
    member _.ActionCount = actionCount
    member _.Settings = settings
    member _.TotalFrames = episodes |> Array.sumBy (fun e -> e.TotalFrames)
    member _.AgentSteps = episodes |> Array.sumBy (fun e -> e.AgentSteps)
    member _.EmulatorCalls = rounds

    member _.Reset(seed: Nullable<int>) : byte[] =
        for i in 0 .. n - 1 do
            if seed.HasValue then episodes[i].BeginReset(seed.Value + i) else episodes[i].BeginReset()
        runPending ()
        started <- true
        let observations = Array.zeroCreate<byte> (n * stackBytes)
        for i in 0 .. n - 1 do
            episodes[i].Stack.CopyTo(observations, i * stackBytes)
        observations

    member this.Reset() = this.Reset(Nullable())

    member _.Step(actions: int[]) : AtariVectorStep =
        Arg.notNull "actions" actions
        if actions.Length <> n then invalidArg "actions" $"actions has {actions.Length} actions, expected NumEnvs = {n}"
        for i in 0 .. n - 1 do
            let a = actions[i]
            if a < 0 || a >= actionCount then Arg.outOfRange $"actions[{i}]" a $"in 0..{actionCount - 1}"
        if not started then invalidOp "the vector environment has not been reset: call Reset first"
        for i in 0 .. n - 1 do
            episodes[i].BeginStep actions[i]
        runPending ()
        let finals = Array.zeroCreate<byte> (n * stackBytes)
        let rewards = Array.zeroCreate<int> n
        let raw = Array.zeroCreate<int> n
        let terminated = Array.zeroCreate<bool> n
        let truncated = Array.zeroCreate<bool> n
        let gameOver = Array.zeroCreate<bool> n
        let lifeLost = Array.zeroCreate<bool> n
        let frames = Array.zeroCreate<int> n
        for i in 0 .. n - 1 do
            let e = episodes[i]
            e.Stack.CopyTo(finals, i * stackBytes)
            rewards[i] <- e.Reward
            raw[i] <- e.Result.RewardSum
            terminated[i] <- e.Terminated
            truncated[i] <- e.Truncated
            gameOver[i] <- e.Result.GameOver
            lifeLost[i] <- e.LifeLost
            frames[i] <- e.Result.Frames
            if e.NeedsReset then e.BeginReset()
        runPending ()
        let observations = Array.copy finals
        for i in 0 .. n - 1 do
            if terminated[i] || truncated[i] then episodes[i].Stack.CopyTo(observations, i * stackBytes)
        { Observations = observations
          FinalObservations = finals
          Rewards = rewards
          RawRewards = raw
          Terminated = terminated
          Truncated = truncated
          GameOver = gameOver
          LifeLost = lifeLost
          Frames = frames }
