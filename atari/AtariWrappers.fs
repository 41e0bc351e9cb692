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

[<Sealed>]
type AtariEnvironment(emulator: IAtariEmulator, settings: AtariSettings, seed: int) =
    do Arg.notNull "emulator" emulator
    let settings = AtariSettings.validate settings
    let actions = Array.copy emulator.MinimalActionSet
    do
        if actions.Length = 0 then
            raise (ArgumentException("the minimal action set must not be empty, got length 0", "emulator"))
    let fire = settings.FireOnReset && AtariWrappers.hasFireReset actions
    let mutable random = Random(seed)
    let secondLast = Array.zeroCreate<byte> Screen.rgbLength
    let last = Array.zeroCreate<byte> Screen.rgbLength
    let pooled = Array.zeroCreate<byte> Screen.rgbLength
    let gray = Array.zeroCreate<byte> Screen.grayLength
    let observation = Array.zeroCreate<byte> Screen.observationLength
    let stack = FrameStack(4, Screen.observationLength)
    let mutable lives = 0
    let mutable episodeFrames = 0
    let mutable totalFrames = 0L
    let mutable agentSteps = 0L
    // The last step was a life-loss terminal with the game still running: Reset resumes the game.
    let mutable resumeAfterLifeLoss = false
    let mutable needsReset = true

    /// One agent step into `pooled` (max of the last two screens).
    let skipStep (action: int) =
        let result = emulator.Repeat(action, settings.FrameSkip, secondLast, last)
        MaxPool.maxInto secondLast last pooled
        episodeFrames <- episodeFrames + result.Frames
        totalFrames <- totalFrames + int64 result.Frames
        result

    /// Game reset and no-op start; the screen after it into `pooled`.
    let gameReset () =
        emulator.ResetGame pooled
        episodeFrames <- 0
        let mutable remaining = AtariWrappers.noopCount random settings.NoopMaxFrames
        // As AtariWrappers.noops: the game restarts if it ends among the no-ops, which go on.
        while remaining > 0 do
            let r = emulator.Repeat(AleAction.noop, remaining, secondLast, last)
            remaining <- remaining - r.Frames
            totalFrames <- totalFrames + int64 r.Frames
            if r.GameOver then
                emulator.ResetGame pooled
                episodeFrames <- 0
            else
                episodeFrames <- episodeFrames + r.Frames
                Array.Copy(last, pooled, pooled.Length)

    let observe () =
        Grayscale.rgbToGrayInto pooled gray
        AreaResize.resizeInto AreaResize.atari84 gray observation

    new(ale: IAle, settings: AtariSettings, seed: int) = AtariEnvironment(AtariEmulator.ofAle ale, settings, seed)

    member _.Settings = settings
    member _.ActionCount = actions.Length
    member _.EpisodeFrames = episodeFrames
    member _.TotalFrames = totalFrames
    member _.AgentSteps = agentSteps

    member _.Reset() : byte[] =
        if not resumeAfterLifeLoss then gameReset ()
        elif (skipStep actions[0]).GameOver then gameReset ()
        if fire then
            if (skipStep actions[1]).GameOver then gameReset ()
            if (skipStep actions[2]).GameOver then gameReset ()
        lives <- emulator.Lives()
        resumeAfterLifeLoss <- false
        needsReset <- false
        observe ()
        stack.Reset(settings.Padding, observation)
        stack.ToArray()

    member this.Reset(seed: int) : byte[] =
        random <- Random(seed)
        resumeAfterLifeLoss <- false
        this.Reset()

    member _.Step(actionIndex: int) : AtariStep =
        if needsReset then
            raise (InvalidOperationException("Step needs a Reset first: before the first Reset, or after a terminated or truncated step"))
        if actionIndex < 0 || actionIndex >= actions.Length then
            Arg.outOfRange "actionIndex" actionIndex $"in 0..{actions.Length - 1}"
        let result = skipStep actions[actionIndex]
        agentSteps <- agentSteps + 1L
        observe ()
        stack.Push observation
        let livesNow = emulator.Lives()
        let lifeLost = livesNow < lives
        lives <- livesNow
        let terminated = result.GameOver || (settings.TerminalOnLifeLoss && lifeLost)
        let truncated =
            not terminated && settings.MaxEpisodeFrames > 0 && episodeFrames >= settings.MaxEpisodeFrames
        resumeAfterLifeLoss <- terminated && not result.GameOver
        needsReset <- terminated || truncated
        { Observation = stack.ToArray()
          Reward = if settings.ClipRewards then RewardClip.sign result.RewardSum else result.RewardSum
          RawReward = result.RewardSum
          Terminated = terminated
          Truncated = truncated
          GameOver = result.GameOver
          LifeLost = lifeLost
          Frames = result.Frames }
