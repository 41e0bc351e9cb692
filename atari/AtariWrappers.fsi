namespace Dqn.Fun.Atari

open System

/// <summary>
/// The episode logic of the standard DQN Atari setup, in emulator frames and agent steps (one agent
/// step = <c>FrameSkip</c> frames). An immutable record; start from <c>AtariSettings.nature</c> or
/// <c>AtariSettings.machado</c> and change fields with <c>{ s with ... }</c>.
/// </summary>
type AtariSettings =
    {
        /// <summary>Emulator frames per agent step, the action repeated on each (k = 4, Mnih et al. 2015);
        /// at least 1. The observation is the max of the last two frames' screens.</summary>
        FrameSkip: int
        /// <summary>Most no-op frames at a game reset (30, Mnih et al. 2015 "no-op starts"); the count is
        /// drawn uniformly from 1..NoopMax by the environment's seeded generator; 0 turns them off.</summary>
        NoopMaxFrames: int
        /// <summary>Press FIRE (action index 1), then action index 2, each for one agent step after every
        /// reset, in games whose minimal action set has FIRE at index 1 and at least 3 actions
        /// (Stable-Baselines3 <c>FireResetEnv</c>).</summary>
        FireOnReset: bool
        /// <summary>A lost life ends the training episode (terminal) but not the game, which resumes at
        /// the next <c>Reset</c> (Mnih et al. 2015; Stable-Baselines3 <c>EpisodicLifeEnv</c>).</summary>
        TerminalOnLifeLoss: bool
        /// <summary>Frames since the game's reset after which an agent step is truncated (not terminal):
        /// 108000 frames = 30 minutes at 60 Hz = 27000 agent steps at a skip of 4 (Machado et al. 2018);
        /// 0 means no limit.</summary>
        MaxEpisodeFrames: int
        /// <summary>The step reward is <c>RewardClip.sign</c> of the summed frame rewards (Mnih et al. 2015);
        /// otherwise the raw sum.</summary>
        ClipRewards: bool
        /// <summary>How the frame stack is padded at reset.</summary>
        Padding: StackPadding
    }

/// <summary>Standard settings.</summary>
[<RequireQualifiedAccess>]
module AtariSettings =

    /// <summary>Mnih et al. 2015 as Stable-Baselines3's <c>AtariWrapper</c> writes it: skip 4, up to 30
    /// no-op frames, fire on reset, terminal on life loss, clipped rewards, 108000-frame limit, stacks
    /// padded by repeating the first observation.</summary>
    [<CompiledName("Nature")>]
    val nature: AtariSettings

    /// <summary>Machado et al. 2018's recommendations (section 5): as <c>nature</c> but no life-loss
    /// terminals and no no-op starts (their stochasticity comes from sticky actions, set in the ALE).</summary>
    [<CompiledName("Machado")>]
    val machado: AtariSettings

    /// <summary>Checks every field; returns the settings.</summary>
    /// <exception cref="T:System.ArgumentOutOfRangeException">FrameSkip &lt; 1, or NoopMaxFrames or
    /// MaxEpisodeFrames negative (the message names the field and its value).</exception>
    [<CompiledName("Validate")>]
    val validate: settings: AtariSettings -> AtariSettings

/// <summary>What one agent step of <see cref="T:Dqn.Fun.Atari.AtariEnvironment"/> returns.</summary>
type AtariStep =
    {
        /// <summary>The new frame stack, a fresh [4; 84; 84] byte array, oldest → newest.</summary>
        Observation: byte[]
        /// <summary>The learning reward: clipped (−1, 0, +1) when <c>ClipRewards</c>, else <c>RawReward</c>.</summary>
        Reward: int
        /// <summary>The sum of the ALE rewards of the step's frames.</summary>
        RawReward: int
        /// <summary>The episode ended inside the MDP: game over, or a life lost under <c>TerminalOnLifeLoss</c>.</summary>
        Terminated: bool
        /// <summary>The episode was cut by <c>MaxEpisodeFrames</c> without ending (bootstrap from it).</summary>
        Truncated: bool
        /// <summary>The game itself ended (the next <c>Reset</c> restarts it).</summary>
        GameOver: bool
        /// <summary>The lives counter went down during the step.</summary>
        LifeLost: bool
        /// <summary>Emulator frames this agent step took (FrameSkip, fewer if the game ended).</summary>
        Frames: int
    }

/// <summary>The rewards and frame count of one frame skip.</summary>
type FrameSkipResult =
    {
        /// <summary>Sum of the frames' rewards.</summary>
        RewardSum: int
        /// <summary>Frames emulated (the skip, or fewer when the game ended early).</summary>
        Frames: int
        /// <summary>The game ended on the last emulated frame.</summary>
        GameOver: bool
    }

/// <summary>
/// An emulator driven one agent step at a time: an action repeated for some frames inside it, the last two
/// screens handed back. <see cref="T:Dqn.Fun.Atari.AtariEnvironment"/> runs over it, so the frame loop can live
/// in another process (the ALE bridge repeats the action server-side, one round trip per agent step) or in
/// this one (<c>AtariEmulator.ofAle</c> over an <see cref="T:Dqn.Fun.Atari.IAle"/>).
/// </summary>
type IAtariEmulator =
    /// <summary>The minimal action set: ALE action ids, in ALE order; index 0 is NOOP.</summary>
    abstract MinimalActionSet: int[]
    /// <summary>Lives left after the last reset or repeat.</summary>
    abstract Lives: unit -> int
    /// <summary>Restarts the game and writes the screen after the reset into <c>screen</c>, [210; 160; 3]
    /// RGB bytes.</summary>
    abstract ResetGame: screen: byte[] -> unit
    /// <summary>Emulates up to <c>frames</c> frames of ALE action id <c>action</c>, stopping at game over, as
    /// <c>AtariWrappers.frameSkip</c> specifies: rewards summed, the screens after the second-to-last and
    /// last frames written into <c>secondLast</c> and <c>last</c> (both the final screen when only one frame
    /// ran).</summary>
    abstract Repeat: action: int * frames: int * secondLast: byte[] * last: byte[] -> FrameSkipResult

/// <summary>Emulators over an <see cref="T:Dqn.Fun.Atari.IAle"/>.</summary>
[<RequireQualifiedAccess>]
module AtariEmulator =
    /// <summary>Frame by frame over <c>ale</c> (its <c>Act</c> is one frame): <c>Repeat</c> is
    /// <c>AtariWrappers.frameSkip</c>.</summary>
    /// <exception cref="T:System.ArgumentNullException">ale is null.</exception>
    [<CompiledName("OfAle")>]
    val ofAle: ale: IAle -> IAtariEmulator

/// <summary>
/// The pieces of the episode logic as functions over an <see cref="T:Dqn.Fun.Atari.IAle"/>: they act
/// on the emulator they are given and touch nothing else.
/// </summary>
[<RequireQualifiedAccess>]
module AtariWrappers =

    /// <summary>One agent step of <c>frames</c> emulator frames with ALE action id <c>action</c>
    /// (Stable-Baselines3 <c>MaxAndSkipEnv</c>): rewards summed, the screens after the second-to-last and
    /// last frames written into <c>secondLast</c> and <c>last</c> (the only screens read), stopping early at
    /// game over. If the game ends before the k-th frame, or k = 1, both buffers hold the final screen (so
    /// their max is that screen).</summary>
    /// <param name="ale">The emulator.</param>
    /// <param name="action">An ALE action id.</param>
    /// <param name="frames">The skip k, at least 1.</param>
    /// <param name="secondLast">[210; 160; 3] bytes, overwritten.</param>
    /// <param name="last">[210; 160; 3] bytes, overwritten.</param>
    /// <exception cref="T:System.ArgumentNullException">ale, secondLast or last is null.</exception>
    /// <exception cref="T:System.ArgumentOutOfRangeException">frames &lt; 1.</exception>
    /// <exception cref="T:System.ArgumentException">A buffer does not hold 100800 bytes.</exception>
    [<CompiledName("FrameSkip")>]
    val frameSkip: ale: IAle -> action: int -> frames: int -> secondLast: byte[] -> last: byte[] -> FrameSkipResult

    /// <summary>The number of no-op frames at a reset: uniform on 1..noopMaxFrames (Stable-Baselines3
    /// <c>NoopResetEnv</c>: <c>integers(1, noop_max + 1)</c>), or 0 when noopMaxFrames is 0.</summary>
    /// <exception cref="T:System.ArgumentNullException">random is null.</exception>
    /// <exception cref="T:System.ArgumentOutOfRangeException">noopMaxFrames &lt; 0.</exception>
    [<CompiledName("NoopCount")>]
    val noopCount: random: Random -> noopMaxFrames: int -> int

    /// <summary>Emulates <c>frames</c> NOOP frames, restarting the game if it ends among them; returns the
    /// frames emulated since the last game reset (the episode frame count afterwards).</summary>
    /// <exception cref="T:System.ArgumentNullException">ale is null.</exception>
    /// <exception cref="T:System.ArgumentOutOfRangeException">frames &lt; 0.</exception>
    [<CompiledName("Noops")>]
    val noops: ale: IAle -> frames: int -> int

    /// <summary>Whether FIRE-on-reset applies: FIRE (id 1) at index 1 of an action set of at least 3.</summary>
    /// <exception cref="T:System.ArgumentNullException">minimalActionSet is null.</exception>
    [<CompiledName("HasFireReset")>]
    val hasFireReset: minimalActionSet: int[] -> bool

/// <summary>One op of an emulator advanced in a batch (<see cref="T:Dqn.Fun.Atari.IAtariVectorEmulator"/>): restart
/// the game first when <c>Reset</c>, then hold ALE action id <c>Action</c> for <c>Frames</c> emulator frames, stopping
/// at game over. <c>Reset = false</c> with <c>Frames = 0</c> leaves the emulator alone.</summary>
[<Struct>]
type EmulatorOp =
    {
        /// <summary>Restart the game (<c>IAtariEmulator.ResetGame</c>) before the frames.</summary>
        Reset: bool
        /// <summary>An ALE action id (not an index).</summary>
        Action: int
        /// <summary>Emulator frames to hold it, 0 .. the emulator's <c>MaxFrames</c>.</summary>
        Frames: int
    }

/// <summary>What an <see cref="T:Dqn.Fun.Atari.EmulatorOp"/> did.</summary>
[<Struct>]
type EmulatorResult =
    {
        /// <summary>Sum of the frames' ALE rewards (0 for a reset alone).</summary>
        RewardSum: int
        /// <summary>Frames emulated (fewer than asked when the game ended).</summary>
        Frames: int
        /// <summary>The game ended on the last frame emulated.</summary>
        GameOver: bool
        /// <summary>Lives after the op.</summary>
        Lives: int
    }

/// <summary>
/// <c>NumEnvs</c> emulators of one game advanced together, one op each per <c>Run</c>: the batch form of
/// <see cref="T:Dqn.Fun.Atari.IAtariEmulator"/> under <see cref="T:Dqn.Fun.Atari.AtariVectorEnvironment"/>. Over the
/// ALE bridge one <c>Run</c> is one STEP round trip per server (PROTOCOL.md version 3, an op per env), the servers
/// stepped in parallel (<c>AleVectorEmulator</c>); <c>AtariVectorEmulator.ofEmulators</c> runs emulators of this
/// process one after the other.
/// </summary>
type IAtariVectorEmulator =
    /// <summary>The number of emulators, at least 1.</summary>
    abstract NumEnvs: int
    /// <summary>The minimal action set of the game, the same for every emulator: ALE ids, index 0 NOOP.</summary>
    abstract MinimalActionSet: int[]
    /// <summary>The most frames one op may hold (64 over the bridge, the protocol's MAX_REPEAT).</summary>
    abstract MaxFrames: int
    /// <summary>Runs <c>ops[i]</c> on emulator i and writes <c>results[i]</c>, with the screens after the
    /// second-to-last and last frames in <c>secondLast[i]</c> and <c>last[i]</c> ([210; 160; 3] RGB; as
    /// <c>AtariWrappers.frameSkip</c> leaves them, and both the screen after the reset for a reset alone).
    /// Emulators whose op does nothing keep their results and buffers as they were.</summary>
    abstract Run: ops: EmulatorOp[] * results: EmulatorResult[] * secondLast: byte[][] * last: byte[][] -> unit

/// <summary>Vector emulators over emulators of this process.</summary>
[<RequireQualifiedAccess>]
module AtariVectorEmulator =
    /// <summary>The ops that do nothing.</summary>
    val internal idle: EmulatorOp
    /// <summary>An op on one emulator, as <c>IAtariVectorEmulator.Run</c> specifies.</summary>
    val internal runOne: emulator: IAtariEmulator -> op: EmulatorOp -> secondLast: byte[] -> last: byte[] -> EmulatorResult
    /// <summary>The emulators, each run in turn on the calling thread; they must share an action set. The
    /// vector does not own them.</summary>
    /// <exception cref="T:System.ArgumentException">No emulators, a null one, or action sets that differ (the message
    /// names the emulator and both sets).</exception>
    [<CompiledName("OfEmulators")>]
    val ofEmulators: emulators: IAtariEmulator[] -> IAtariVectorEmulator

/// <summary>
/// The DQN Atari environment over an <see cref="T:Dqn.Fun.Atari.IAle"/>: no-op starts, fire on reset,
/// frame skip with max-pooling of the last two RGB screens, grayscale (OpenCV RGB2GRAY), 84×84 area
/// resize (OpenCV INTER_AREA), 4-frame stack, reward clipping, episodic life and a frame time limit —
/// Mnih et al. 2015 (Methods) in Stable-Baselines3's order (max-pool RGB, then gray), with the episode
/// length of Machado et al. 2018. The mutating shell: <c>Reset</c> and <c>Step</c> act on the emulator.
/// </summary>
/// <remarks>
/// Every <c>Reset</c> restarts the game (then no-op start, then FIRE steps when they apply), except the one
/// right after a life-loss terminal: then the game goes on, and <c>Reset</c> takes one NOOP agent step
/// (Stable-Baselines3 <c>EpisodicLifeEnv</c>) and the FIRE steps, restarting the game only if it ends
/// among them. The reset observation is the screen after the last reset action (a raw
/// screen after no-ops, a max-pooled one after FIRE steps). Rewards of reset actions are not reported.
/// Not thread-safe.
/// </remarks>
[<Sealed>]
type AtariEnvironment =
    /// <summary>An environment over <c>ale</c> with validated <c>settings</c>; <c>seed</c> seeds the
    /// no-op generator (<c>System.Random(seed)</c>).</summary>
    /// <exception cref="T:System.ArgumentNullException">ale is null.</exception>
    /// <exception cref="T:System.ArgumentException">ale's minimal action set is empty.</exception>
    /// <exception cref="T:System.ArgumentOutOfRangeException">A settings field is out of range.</exception>
    new: ale: IAle * settings: AtariSettings * seed: int -> AtariEnvironment
    /// <summary>An environment over <c>emulator</c> (an agent step per call, e.g. the ALE bridge's
    /// <c>AleBridgeEmulator</c>); otherwise as the other constructor.</summary>
    /// <exception cref="T:System.ArgumentNullException">emulator is null.</exception>
    /// <exception cref="T:System.ArgumentException">The emulator's minimal action set is empty.</exception>
    /// <exception cref="T:System.ArgumentOutOfRangeException">A settings field is out of range.</exception>
    new: emulator: IAtariEmulator * settings: AtariSettings * seed: int -> AtariEnvironment
    /// <summary>The settings.</summary>
    member Settings: AtariSettings
    /// <summary>Agent actions: the size of the minimal action set.</summary>
    member ActionCount: int
    /// <summary>Frames since the game's last reset (the time limit's clock).</summary>
    member EpisodeFrames: int
    /// <summary>Frames emulated since construction, reset actions included.</summary>
    member TotalFrames: int64
    /// <summary>Agent steps taken through <c>Step</c> since construction.</summary>
    member AgentSteps: int64
    /// <summary>Starts a training episode; returns the first frame stack, [4; 84; 84].</summary>
    member Reset: unit -> byte[]
    /// <summary>Starts a new game (even after a life-loss terminal) with the no-op generator seeded with
    /// <c>seed</c>, as Gymnasium's <c>reset(seed=...)</c>; returns the first frame stack. The emulator's own
    /// generator (the ALE's sticky actions) is not reseeded.</summary>
    member Reset: seed: int -> byte[]
    /// <summary>One agent step with agent action <c>actionIndex</c> (an index into the minimal action set).</summary>
    /// <exception cref="T:System.ArgumentOutOfRangeException">actionIndex not in 0..ActionCount − 1.</exception>
    /// <exception cref="T:System.InvalidOperationException">Before the first <c>Reset</c>, or after a
    /// terminated or truncated step without a <c>Reset</c> since.</exception>
    member Step: actionIndex: int -> AtariStep

/// <summary>What one step of an <see cref="T:Dqn.Fun.Atari.AtariVectorEnvironment"/> returns: per env i in
/// 0 .. NumEnvs − 1, fresh arrays. Autoreset in the same step (Stable-Baselines3's <c>VecEnv</c>): where env i's
/// episode ended (terminated or truncated), row i of <c>Observations</c> is the first frame stack of its next
/// episode and row i of <c>FinalObservations</c> the stack the episode ended in; elsewhere both rows are equal.</summary>
type AtariVectorStep =
    {
        /// <summary>[numEnvs; 4; 84; 84] bytes: each env's frame stack to act on next, oldest → newest.</summary>
        Observations: byte[]
        /// <summary>[numEnvs; 4; 84; 84] bytes: the stack each env's step ended in, before any reset.</summary>
        FinalObservations: byte[]
        /// <summary>[numEnvs]: the learning reward (clipped when <c>ClipRewards</c>).</summary>
        Rewards: int[]
        /// <summary>[numEnvs]: the sum of the step's ALE rewards.</summary>
        RawRewards: int[]
        /// <summary>[numEnvs]: the episode ended inside the MDP (game over, or a lost life under
        /// <c>TerminalOnLifeLoss</c>).</summary>
        Terminated: bool[]
        /// <summary>[numEnvs]: the episode was cut by <c>MaxEpisodeFrames</c>.</summary>
        Truncated: bool[]
        /// <summary>[numEnvs]: the game itself ended.</summary>
        GameOver: bool[]
        /// <summary>[numEnvs]: the lives counter went down.</summary>
        LifeLost: bool[]
        /// <summary>[numEnvs]: emulator frames the step took (FrameSkip, fewer when the game ended); reset
        /// frames are not counted here (see <c>TotalFrames</c>).</summary>
        Frames: int[]
    }

/// <summary>
/// <c>NumEnvs</c> DQN Atari environments stepped together (Gymnasium's vector environments, SB3's <c>VecEnv</c>),
/// each with exactly <see cref="T:Dqn.Fun.Atari.AtariEnvironment"/>'s episode logic and preprocessing (the same
/// code: a step of env i gives the bytes a lone <c>AtariEnvironment</c> over the same emulator gives). Every agent
/// step of all envs is one <c>IAtariVectorEmulator.Run</c>, one round trip per bridge server; the resets of the envs
/// whose episode ended take further runs in the same <c>Step</c> (no-op starts and FIRE steps of several envs share
/// each run).
/// </summary>
/// <remarks>Env i's no-op generator is seeded with <c>seed + i</c>. Not thread-safe. It does not own the
/// emulator.</remarks>
[<Sealed>]
type AtariVectorEnvironment =
    /// <summary>A vector environment over <c>emulator</c> with validated <c>settings</c>.</summary>
    /// <exception cref="T:System.ArgumentNullException">emulator is null.</exception>
    /// <exception cref="T:System.ArgumentException">The emulator's action set is empty.</exception>
    /// <exception cref="T:System.ArgumentOutOfRangeException">A settings field is out of range, or FrameSkip exceeds
    /// the emulator's MaxFrames.</exception>
    new: emulator: IAtariVectorEmulator * settings: AtariSettings * seed: int -> AtariVectorEnvironment
    /// <summary>The number of environments.</summary>
    member NumEnvs: int
    /// <summary>Agent actions: the size of the minimal action set.</summary>
    member ActionCount: int
    /// <summary>The settings.</summary>
    member Settings: AtariSettings
    /// <summary>Frames emulated by all envs since construction, reset actions included.</summary>
    member TotalFrames: int64
    /// <summary>Agent steps of all envs since construction (NumEnvs per <c>Step</c>).</summary>
    member AgentSteps: int64
    /// <summary>Batched emulator calls (<c>IAtariVectorEmulator.Run</c>, bridge round trips) since construction.</summary>
    member EmulatorCalls: int64
    /// <summary>Starts a new training episode in every env (as <c>AtariEnvironment.Reset</c>: after a life-loss
    /// terminal the game goes on); returns [numEnvs; 4; 84; 84] first frame stacks.</summary>
    member Reset: unit -> byte[]
    /// <summary>As <c>Reset()</c>; a non-null seed starts a new game in env i with its no-op generator seeded with
    /// <c>seed + i</c> (Gymnasium's <c>reset(seed=s)</c> on a vector environment).</summary>
    member Reset: seed: Nullable<int> -> byte[]
    /// <summary>One agent step in every env, <c>actions[i]</c> (an index into the minimal action set) in env i;
    /// envs whose episode ended are reset in the same call.</summary>
    /// <exception cref="T:System.ArgumentNullException">actions is null.</exception>
    /// <exception cref="T:System.ArgumentException">actions does not hold NumEnvs actions.</exception>
    /// <exception cref="T:System.ArgumentOutOfRangeException">An action is outside 0 .. ActionCount − 1 (the message
    /// names its index).</exception>
    /// <exception cref="T:System.InvalidOperationException">Reset was never called.</exception>
    member Step: actions: int[] -> AtariVectorStep
