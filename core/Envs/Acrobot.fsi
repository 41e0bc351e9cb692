namespace Dqn.Fun

open System

/// <summary>
/// The acrobot swing-up task, <c>Acrobot-v1</c>, with Gymnasium's dynamics
/// (<c>gymnasium/envs/classic_control/acrobot.py</c>, default <c>book_or_nips = "book"</c>,
/// <c>torque_noise_max = 0</c>) and its 500-step time limit.
/// </summary>
/// <remarks>
/// Source: Sutton 1996, "Generalization in Reinforcement Learning: Successful Examples Using Sparse
/// Coarse Coding" (NIPS 8); the equations of motion as printed in Sutton and Barto 1998,
/// "Reinforcement Learning: An Introduction", section 11.3 (the "book" dynamics, which include the
/// −m₂·l₁·l_c2·θ̇₁²·sin θ₂ term missing from the paper). Two links hang from a fixed pivot; only the
/// joint between them is actuated. θ₁ is the angle of the first link from straight down, θ₂ the
/// angle of the second link relative to the first. The state is kept in float64, observations are
/// float32, as in Gymnasium. One agent step integrates the dynamics over <c>Acrobot.dt</c> = 0.2 s
/// with one classical Runge–Kutta (RK4) step, the torque held constant.
/// </remarks>
[<RequireQualifiedAccess>]
module Acrobot =

    /// <summary>The physical state, in radians and radians per second, float64.</summary>
    type State =
        {
          /// Angle of link 1 from pointing straight down (rad); kept in [−π, π] by <c>step</c>.
          Theta1: float
          /// Angle of link 2 relative to link 1 (rad); 0 means the links are aligned. Kept in [−π, π].
          Theta2: float
          /// Angular velocity of link 1 (rad/s); kept in [−4π, 4π] by <c>step</c>.
          Theta1Dot: float
          /// Angular velocity of joint 2 (rad/s); kept in [−9π, 9π] by <c>step</c>.
          Theta2Dot: float }

    /// Seconds integrated per agent step, 0.2 s.
    [<CompiledName("Dt")>]
    val dt: float
    /// Gravitational acceleration, 9.8 m/s².
    [<CompiledName("Gravity")>]
    val gravity: float
    /// Length of link 1, 1.0 m (link 2 is 1.0 m too; only link 1's length enters the dynamics).
    [<CompiledName("LinkLength1")>]
    val linkLength1: float
    /// Length of link 2, 1.0 m.
    [<CompiledName("LinkLength2")>]
    val linkLength2: float
    /// Mass of link 1, 1.0 kg.
    [<CompiledName("LinkMass1")>]
    val linkMass1: float
    /// Mass of link 2, 1.0 kg.
    [<CompiledName("LinkMass2")>]
    val linkMass2: float
    /// Distance from the pivot to link 1's centre of mass, 0.5 m.
    [<CompiledName("LinkComPosition1")>]
    val linkComPosition1: float
    /// Distance from the joint to link 2's centre of mass, 0.5 m.
    [<CompiledName("LinkComPosition2")>]
    val linkComPosition2: float
    /// Moment of inertia of each link, 1.0 kg·m² (Gymnasium's <c>LINK_MOI</c>).
    [<CompiledName("LinkMomentOfInertia")>]
    val linkMomentOfInertia: float
    /// Largest |θ̇₁|, 4π rad/s.
    [<CompiledName("MaxVelocity1")>]
    val maxVelocity1: float
    /// Largest |θ̇₂|, 9π rad/s.
    [<CompiledName("MaxVelocity2")>]
    val maxVelocity2: float
    /// The time limit: an episode is truncated after 500 agent steps.
    [<CompiledName("MaxEpisodeSteps")>]
    val maxEpisodeSteps: int
    /// The number of actions, 3: torques −1, 0 and +1 N·m.
    [<CompiledName("ActionCount")>]
    val actionCount: int
    /// The observation length, 6.
    [<CompiledName("ObservationSize")>]
    val observationSize: int

    /// <summary>The torque on the actuated joint for an action: 0 → −1.0, 1 → 0.0, 2 → +1.0 (N·m).</summary>
    /// <exception cref="T:System.ArgumentOutOfRangeException">The action is not 0, 1 or 2.</exception>
    [<CompiledName("Torque")>]
    val torque: action: int -> float

    /// <summary>
    /// The time derivative of the state under a constant torque (Gymnasium's <c>_dsdt</c>, book
    /// dynamics): returns (θ̇₁, θ̇₂, θ̈₁, θ̈₂) in the fields (Theta1, Theta2, Theta1Dot, Theta2Dot).
    /// </summary>
    /// <param name="torque">The torque on the actuated joint (N·m).</param>
    /// <param name="state">The state; angles need not be wrapped.</param>
    /// <returns>The rates: fields hold rad/s (angles) and rad/s² (velocities).</returns>
    [<CompiledName("Derivatives")>]
    val derivatives: torque: float -> state: State -> State

    /// <summary>
    /// One classical fourth-order Runge–Kutta step of <c>derivatives</c> over <c>duration</c> seconds,
    /// the torque constant, with no wrapping or clipping:
    /// y + duration/6·(k₁ + 2k₂ + 2k₃ + k₄), k₂ and k₃ taken at half steps.
    /// </summary>
    /// <param name="torque">The torque on the actuated joint (N·m).</param>
    /// <param name="duration">The step length (s); <c>step</c> uses <c>dt</c> = 0.2.</param>
    /// <param name="state">The state at the start of the step.</param>
    [<CompiledName("Rk4")>]
    val rk4: torque: float -> duration: float -> state: State -> State

    /// <summary>
    /// Wraps an angle into [−π, π] as Gymnasium's <c>wrap</c> does: subtracts 2π while it is above π,
    /// then adds 2π while it is below −π (so π and −π are both kept as they are).
    /// </summary>
    /// <remarks>Values beyond ±10⁶ are first reduced modulo 2π (Gymnasium's loop would take too long
    /// or never end); a non-finite value gives NaN.</remarks>
    /// <example><c>Acrobot.wrap 4.0</c> evaluates to <c>4.0 - 2.0 * Math.PI</c>.</example>
    [<CompiledName("Wrap")>]
    val wrap: angle: float -> float

    /// <summary>
    /// One agent step (pure), in Gymnasium's order: <c>rk4 (torque action) dt</c>, then wrap θ₁ and θ₂
    /// into [−π, π], then clip θ̇₁ to [−4π, 4π] and θ̇₂ to [−9π, 9π].
    /// </summary>
    /// <param name="state">The state before the step.</param>
    /// <param name="action">0 applies −1 N·m, 1 applies 0, 2 applies +1 N·m.</param>
    /// <returns>The state 0.2 s later.</returns>
    /// <exception cref="T:System.ArgumentOutOfRangeException">The action is not 0, 1 or 2.</exception>
    /// <example>
    /// <code lang="fsharp">
    /// let s = Acrobot.step { Theta1 = 0.0; Theta2 = 0.0; Theta1Dot = 0.0; Theta2Dot = 0.0 } 2
    /// // positive torque: s.Theta2Dot &gt; 0.0 and s.Theta1Dot &lt; 0.0
    /// </code>
    /// </example>
    [<CompiledName("Step")>]
    val step: state: State -> action: int -> State

    /// <summary>
    /// The height of the free end above the pivot, in link lengths: −cos θ₁ − cos(θ₂ + θ₁)
    /// (−2 hanging straight down, 2 pointing straight up).
    /// </summary>
    [<CompiledName("TipHeight")>]
    val tipHeight: state: State -> float

    /// <summary>True when the free end is above the target line: −cos θ₁ − cos(θ₂ + θ₁) &gt; 1.0 (strictly).</summary>
    /// <example><c>Acrobot.isTerminated { Theta1 = Math.PI; Theta2 = 0.0; Theta1Dot = 0.0; Theta2Dot = 0.0 }</c> evaluates to <c>true</c>.</example>
    [<CompiledName("IsTerminated")>]
    val isTerminated: state: State -> bool

    /// <summary>The observation of a state: float32 [cos θ₁; sin θ₁; cos θ₂; sin θ₂; θ̇₁; θ̇₂], length 6,
    /// computed in float64 and rounded.</summary>
    /// <example><c>Acrobot.observation { Theta1 = 0.0; Theta2 = 0.0; Theta1Dot = 1.0; Theta2Dot = -2.0 }</c>
    /// evaluates to <c>[| 1.0f; 0.0f; 1.0f; 0.0f; 1.0f; -2.0f |]</c>.</example>
    [<CompiledName("Observation")>]
    val observation: state: State -> float32[]

    /// <summary>
    /// Draws an initial state: each component uniform in [−0.1, 0.1), in the order θ₁, θ₂, θ̇₁, θ̇₂,
    /// then rounded to float32 as Gymnasium does (<c>.astype(np.float32)</c>), so a component can be
    /// ±0.1f = ±0.100000001490116.
    /// </summary>
    /// <param name="random">The generator to draw four doubles from; it advances.</param>
    /// <example><c>Acrobot.initialState (System.Random 0)</c> gives the same state on every run.</example>
    [<CompiledName("InitialState")>]
    val initialState: random: Random -> State

/// <summary>
/// The stateful <c>Acrobot-v1</c> environment: <c>Acrobot.step</c> behind
/// <see cref="T:Dqn.Fun.IEnvironment"/>, with reward −1.0 on every step and 0.0 on the terminating
/// one, termination from <c>Acrobot.isTerminated</c> and truncation at exactly 500 steps.
/// Observations are float32[6]; actions are 0, 1, 2 (torque −1, 0, +1 N·m).
/// </summary>
/// <remarks>
/// The random generator is <c>System.Random(seed)</c>, created by the first seeded <c>Reset</c>;
/// a <c>Reset(null)</c> before any seeded one draws an unpredictable seed, as Gymnasium does.
/// Initial states therefore differ from Gymnasium's numpy generator for the same seed. Not thread-safe.
/// </remarks>
/// <example>
/// <code lang="fsharp">
/// let env = AcrobotEnvironment()
/// let obs = env.Reset(Nullable 42)        // float32[6]
/// let r = env.Step 2                        // r.Reward = -1.0
/// </code>
/// </example>
[<Sealed>]
type AcrobotEnvironment =
    new: unit -> AcrobotEnvironment
    /// 6.
    member ObservationSize: int
    /// 3.
    member ActionCount: int
    /// <summary>The current physical state (float64).</summary>
    /// <exception cref="T:System.InvalidOperationException">Reset was never called.</exception>
    member State: Acrobot.State
    /// The number of steps taken in the current episode.
    member ElapsedSteps: int
    /// <summary>Starts an episode; a non-null seed reseeds the generator first.</summary>
    member Reset: seed: Nullable<int> -> float32[]
    /// <summary>Applies an action (0: −1 N·m, 1: 0, 2: +1 N·m) for one agent step of 0.2 s.</summary>
    /// <exception cref="T:System.ArgumentOutOfRangeException">The action is not 0, 1 or 2.</exception>
    /// <exception cref="T:System.InvalidOperationException">No episode is running: call Reset first.</exception>
    member Step: action: int -> StepResult
    interface IEnvironment
