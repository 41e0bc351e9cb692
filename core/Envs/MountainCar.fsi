namespace Dqn.Fun

open System

/// <summary>
/// The mountain-car task, <c>MountainCar-v0</c>, with Gymnasium's exact dynamics
/// (<c>gymnasium/envs/classic_control/mountain_car.py</c>) and its 200-step time limit.
/// </summary>
/// <remarks>
/// Source: Moore 1990, "Efficient Memory-based Learning for Robot Control" (PhD thesis, University of Cambridge),
/// in the form of Sutton and Barto 2018, section 10.1. An under-powered car in a valley must rock back and forth
/// to reach the flag at position 0.5 on the right hill. The state is kept in float64, observations are float32, as
/// in Gymnasium. One step is one agent step (no frame skip).
/// </remarks>
[<RequireQualifiedAccess>]
module MountainCar =

    /// <summary>The state: position (unitless, the car's horizontal coordinate) and velocity (position per step),
    /// float64.</summary>
    type State =
        {
          /// Position, in [minPosition, maxPosition] = [-1.2, 0.6].
          Position: float
          /// Velocity, in [-maxSpeed, maxSpeed] = [-0.07, 0.07].
          Velocity: float }

    /// The left wall, -1.2.
    [<CompiledName("MinPosition")>]
    val minPosition: float
    /// The right end of the track, 0.6.
    [<CompiledName("MaxPosition")>]
    val maxPosition: float
    /// The largest speed, 0.07 per step.
    [<CompiledName("MaxSpeed")>]
    val maxSpeed: float
    /// The flag: an episode terminates once the car is at or past 0.5 ...
    [<CompiledName("GoalPosition")>]
    val goalPosition: float
    /// ... with a velocity of at least 0.
    [<CompiledName("GoalVelocity")>]
    val goalVelocity: float
    /// The engine's force per step, 0.001.
    [<CompiledName("Force")>]
    val force: float
    /// Gravity's pull along the track scale, 0.0025.
    [<CompiledName("Gravity")>]
    val gravity: float
    /// The time limit of MountainCar-v0: 200 agent steps (then truncated).
    [<CompiledName("MaxEpisodeSteps")>]
    val maxEpisodeSteps: int
    /// 3 actions: 0 accelerate left, 1 coast, 2 accelerate right.
    [<CompiledName("ActionCount")>]
    val actionCount: int
    /// 2 observations: [position; velocity].
    [<CompiledName("ObservationSize")>]
    val observationSize: int

    /// <summary>One step: <c>velocity += (action - 1) force - cos(3 position) gravity</c>, clipped to ±maxSpeed;
    /// <c>position += velocity</c>, clipped to [minPosition, maxPosition]; hitting the left wall while moving left
    /// stops the car (velocity 0). Same operation order as Gymnasium.</summary>
    /// <exception cref="T:System.ArgumentOutOfRangeException">action is not 0, 1 or 2.</exception>
    /// <example><c>MountainCar.step { Position = -0.5; Velocity = 0.0 } 2</c> moves the car right by
    /// 0.001 - cos(-1.5) 0.0025 ≈ 0.000823.</example>
    [<CompiledName("Step")>]
    val step: state: State -> action: int -> State

    /// <summary>Whether the car reached the flag: position >= 0.5 and velocity >= 0.</summary>
    [<CompiledName("IsTerminated")>]
    val isTerminated: state: State -> bool

    /// <summary>The observation of a state: float32 [position; velocity], length 2.</summary>
    [<CompiledName("Observation")>]
    val observation: state: State -> float32[]

    /// <summary>Draws an initial state: position uniform in [-0.6, -0.4), velocity 0 (Gymnasium draws the same
    /// distribution, from its own numpy generator).</summary>
    /// <param name="random">The generator to draw one double from; it advances.</param>
    [<CompiledName("InitialState")>]
    val initialState: random: Random -> State

/// <summary>
/// The stateful <c>MountainCar-v0</c> environment: <c>MountainCar.step</c> behind
/// <see cref="T:Dqn.Fun.IEnvironment"/>, with reward -1.0 on every step (the terminating one included),
/// termination at the flag and truncation at exactly 200 steps, as Gymnasium's.
/// </summary>
/// <remarks>
/// The random generator is <c>System.Random(seed)</c>, created by the first seeded <c>Reset</c>; a
/// <c>Reset(null)</c> before any seeded one draws an unpredictable seed, as Gymnasium does. Initial states differ
/// from Gymnasium's numpy generator for the same seed. Not thread-safe.
/// </remarks>
[<Sealed>]
type MountainCarEnvironment =
    new: unit -> MountainCarEnvironment
    /// 2.
    member ObservationSize: int
    /// 3.
    member ActionCount: int
    /// <summary>The current state (float64).</summary>
    /// <exception cref="T:System.InvalidOperationException">Reset was never called.</exception>
    member State: MountainCar.State
    /// The number of steps taken in the current episode.
    member ElapsedSteps: int
    /// <summary>Starts an episode; a non-null seed reseeds the generator first.</summary>
    member Reset: seed: Nullable<int> -> float32[]
    /// <summary>Applies an action (0 left, 1 coast, 2 right) for one agent step; reward -1.0.</summary>
    /// <exception cref="T:System.ArgumentOutOfRangeException">The action is not 0, 1 or 2.</exception>
    /// <exception cref="T:System.InvalidOperationException">No episode is running: call Reset first.</exception>
    member Step: action: int -> StepResult
    interface IEnvironment
