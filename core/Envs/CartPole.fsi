namespace Dqn.Fun

open System

/// <summary>
/// The cart-pole balancing task, <c>CartPole-v1</c>, with Gymnasium's exact dynamics
/// (<c>gymnasium/envs/classic_control/cartpole.py</c>, "euler" integrator) and its 500-step time limit.
/// </summary>
/// <remarks>
/// Source: Barto, Sutton and Anderson 1983, "Neuronlike adaptive elements that can solve difficult
/// learning control problems"; equations of motion from Florian 2007, "Correct equations for the
/// dynamics of the cart-pole system". The state is kept in float64, observations are float32, as in
/// Gymnasium. One step is one agent step of <c>CartPole.tau</c> = 0.02 s (no frame skip).
/// </remarks>
[<RequireQualifiedAccess>]
module CartPole =

    /// <summary>The physical state, in SI units (m, m/s, rad, rad/s), float64.</summary>
    type State =
        {
          /// Cart position (m); 0 is the track's centre.
          X: float
          /// Cart velocity (m/s).
          XDot: float
          /// Pole angle from upright (rad), positive clockwise.
          Theta: float
          /// Pole angular velocity (rad/s).
          ThetaDot: float }

    /// Gravitational acceleration, 9.8 m/s².
    [<CompiledName("Gravity")>]
    val gravity: float
    /// Cart mass, 1.0 kg.
    [<CompiledName("MassCart")>]
    val massCart: float
    /// Pole mass, 0.1 kg.
    [<CompiledName("MassPole")>]
    val massPole: float
    /// Half the pole's length, 0.5 m (Gymnasium's <c>length</c>).
    [<CompiledName("Length")>]
    val length: float
    /// Magnitude of the force applied to the cart, 10.0 N.
    [<CompiledName("ForceMag")>]
    val forceMag: float
    /// Seconds between state updates, 0.02 s.
    [<CompiledName("Tau")>]
    val tau: float
    /// The episode terminates when |x| exceeds 2.4 m.
    [<CompiledName("XThreshold")>]
    val xThreshold: float
    /// The episode terminates when |theta| exceeds 12° = 12·2·π/360 rad.
    [<CompiledName("ThetaThresholdRadians")>]
    val thetaThresholdRadians: float
    /// The time limit: an episode is truncated after 500 agent steps.
    [<CompiledName("MaxEpisodeSteps")>]
    val maxEpisodeSteps: int
    /// The number of actions: 0 pushes the cart left, 1 pushes it right.
    [<CompiledName("ActionCount")>]
    val actionCount: int
    /// The observation length, 4.
    [<CompiledName("ObservationSize")>]
    val observationSize: int

    /// <summary>
    /// One Euler step of the dynamics (pure): the accelerations are computed from the current state,
    /// then x += tau·ẋ; ẋ += tau·ẍ; θ += tau·θ̇; θ̇ += tau·θ̈, in Gymnasium's order.
    /// </summary>
    /// <param name="state">The state before the step.</param>
    /// <param name="action">0 pushes left (−10 N), 1 pushes right (+10 N).</param>
    /// <returns>The state one agent step (0.02 s) later.</returns>
    /// <exception cref="T:System.ArgumentOutOfRangeException">The action is neither 0 nor 1.</exception>
    /// <example>
    /// <code lang="fsharp">
    /// let s = CartPole.step { X = 0.0; XDot = 0.0; Theta = 0.0; ThetaDot = 0.0 } 1
    /// // s.X = 0.0, s.XDot ≈ 0.1951, s.Theta = 0.0, s.ThetaDot ≈ -0.2927
    /// </code>
    /// </example>
    [<CompiledName("Step")>]
    val step: state: State -> action: int -> State

    /// <summary>True when the state is terminal: x &lt; −2.4 or x &gt; 2.4 or θ &lt; −12° or θ &gt; 12°.</summary>
    /// <example><c>CartPole.isTerminated { X = 2.5; XDot = 0.0; Theta = 0.0; ThetaDot = 0.0 }</c> evaluates to <c>true</c>.</example>
    [<CompiledName("IsTerminated")>]
    val isTerminated: state: State -> bool

    /// <summary>The observation of a state: float32 [x; ẋ; θ; θ̇], length 4.</summary>
    /// <example><c>CartPole.observation { X = 1.0; XDot = 2.0; Theta = 3.0; ThetaDot = 4.0 }</c> evaluates to <c>[| 1.0f; 2.0f; 3.0f; 4.0f |]</c>.</example>
    [<CompiledName("Observation")>]
    val observation: state: State -> float32[]

    /// <summary>
    /// Draws an initial state, each component uniform in [−0.05, 0.05), in the order x, ẋ, θ, θ̇
    /// (Gymnasium draws the same distribution, from its own numpy generator).
    /// </summary>
    /// <param name="random">The generator to draw four doubles from; it advances.</param>
    /// <example><c>CartPole.initialState (System.Random 0)</c> gives the same state on every run.</example>
    [<CompiledName("InitialState")>]
    val initialState: random: Random -> State

/// <summary>
/// The stateful <c>CartPole-v1</c> environment: <c>CartPole.step</c> behind
/// <see cref="T:Dqn.Fun.IEnvironment"/>, with reward 1.0 on every step (the terminating one included),
/// termination from <c>CartPole.isTerminated</c> and truncation at exactly 500 steps.
/// </summary>
/// <remarks>
/// The random generator is <c>System.Random(seed)</c>, created by the first seeded <c>Reset</c>;
/// a <c>Reset(null)</c> before any seeded one draws an unpredictable seed, as Gymnasium does.
/// Initial states therefore differ from Gymnasium's numpy generator for the same seed. Not thread-safe.
/// </remarks>
/// <example>
/// <code lang="fsharp">
/// let env = CartPoleEnvironment()
/// let obs = env.Reset(Nullable 42)        // float32[4]
/// let r = env.Step 1                        // r.Reward = 1.0
/// </code>
/// </example>
[<Sealed>]
type CartPoleEnvironment =
    new: unit -> CartPoleEnvironment
    /// 4.
    member ObservationSize: int
    /// 2.
    member ActionCount: int
    /// <summary>The current physical state (float64).</summary>
    /// <exception cref="T:System.InvalidOperationException">Reset was never called.</exception>
    member State: CartPole.State
    /// The number of steps taken in the current episode.
    member ElapsedSteps: int
    /// <summary>Starts an episode; a non-null seed reseeds the generator first.</summary>
    member Reset: seed: Nullable<int> -> float32[]
    /// <summary>Applies an action (0 left, 1 right) for one agent step.</summary>
    /// <exception cref="T:System.ArgumentOutOfRangeException">The action is neither 0 nor 1.</exception>
    /// <exception cref="T:System.InvalidOperationException">No episode is running: call Reset first.</exception>
    member Step: action: int -> StepResult
    interface IEnvironment
