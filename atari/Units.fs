namespace Dqn.Fun.Atari

open System

/// Frames (emulator frames, what the ALE counts) and agent steps (one action each, repeated `frameSkip`
/// frames) are distinct units: Atari budgets are quoted in frames (Mnih et al. 2015: 50M frames; Machado et
/// al. 2018: 200M frames), the learner counts agent steps.
[<RequireQualifiedAccess>]
module Units =

    /// Agent steps that `frames` emulator frames buy at `frameSkip` frames per step (rounded down).
    /// Raises ArgumentOutOfRangeException for negative frames or frameSkip below 1.
    [<CompiledName("AgentStepsOfFrames")>]
    let agentStepsOfFrames (frameSkip: int) (frames: int64) : int64 =
        if frameSkip < 1 then raise (ArgumentOutOfRangeException("frameSkip", frameSkip, "frameSkip must be at least 1"))
        if frames < 0L then raise (ArgumentOutOfRangeException("frames", frames, "frames must be non-negative"))
        frames / int64 frameSkip

    /// Emulator frames taken by `agentSteps` steps at `frameSkip` frames per step.
    /// Raises ArgumentOutOfRangeException for negative steps or frameSkip below 1.
    [<CompiledName("FramesOfAgentSteps")>]
    let framesOfAgentSteps (frameSkip: int) (agentSteps: int64) : int64 =
        if frameSkip < 1 then raise (ArgumentOutOfRangeException("frameSkip", frameSkip, "frameSkip must be at least 1"))
        if agentSteps < 0L then raise (ArgumentOutOfRangeException("agentSteps", agentSteps, "agentSteps must be non-negative"))
        Checked.(*) agentSteps (int64 frameSkip)
