namespace Dqn.Fun

/// <summary>
/// A schedule: a value (an exploration rate ε, a learning rate, a β) as a pure function of a step
/// count. An immutable union with a hidden representation (so every value is valid); built with the functions of the <c>Schedule</c> module (<c>ScheduleModule</c> from C#),
/// which validate their arguments, and read with <c>Schedule.value</c>.
/// </summary>
/// <remarks>
/// The step unit is whatever the caller counts; Dqn.Fun's training loops pass agent steps (one
/// environment step each, not emulator frames, so with a frame skip of 4 one agent step is 4 frames).
/// </remarks>
type Schedule =
    private
    | Constant of value: float
    | Linear of start: float * finish: float * duration: int64
    | Exponential of start: float * finish: float * decay: float
    | Multiplicative of start: float * finish: float * factor: float
    | PiecewiseLinear of knots: (int64 * float)[]

/// <summary>Builders and evaluation for <see cref="T:Dqn.Fun.Schedule"/>.</summary>
/// <remarks>
/// The linear schedule is the ε-greedy annealing of Mnih et al. 2015, "Human-level control through
/// deep reinforcement learning" (ε from 1.0 to 0.1 over the first 1M frames), written as in CleanRL's
/// <c>linear_schedule</c> and Stable-Baselines3's <c>get_linear_fn</c>.
/// </remarks>
[<RequireQualifiedAccess>]
module Schedule =

    /// <summary>The same value at every step.</summary>
    /// <exception cref="T:System.ArgumentException">value is NaN or infinite.</exception>
    /// <example><c>Schedule.value (Schedule.constant 0.05) 1000L</c> evaluates to <c>0.05</c>.</example>
    [<CompiledName("Constant")>]
    val constant: value: float -> Schedule

    /// <summary>
    /// Linear annealing: start + (finish − start)·min(1, t / duration) at step t, so <c>finish</c> from
    /// step <c>duration</c> on.
    /// </summary>
    /// <param name="start">The value at step 0.</param>
    /// <param name="finish">The value from step <c>duration</c> on.</param>
    /// <param name="duration">The number of steps the annealing takes; positive.</param>
    /// <exception cref="T:System.ArgumentException">start or finish is NaN or infinite.</exception>
    /// <exception cref="T:System.ArgumentOutOfRangeException">duration &lt;= 0.</exception>
    /// <example><c>Schedule.value (Schedule.linear 1.0 0.1 100L) 50L</c> evaluates to <c>0.55</c>.</example>
    [<CompiledName("Linear")>]
    val linear: start: float -> finish: float -> duration: int64 -> Schedule

    /// <summary>Exponential decay: finish + (start − finish)·exp(−t / decay) at step t.</summary>
    /// <param name="start">The value at step 0.</param>
    /// <param name="finish">The limit as t grows.</param>
    /// <param name="decay">The time constant in steps (the gap to <c>finish</c> shrinks by e each <c>decay</c> steps); positive, finite.</param>
    /// <exception cref="T:System.ArgumentException">start, finish or decay is NaN or infinite.</exception>
    /// <exception cref="T:System.ArgumentOutOfRangeException">decay &lt;= 0.</exception>
    /// <example><c>Schedule.value (Schedule.exponential 1.0 0.0 10.0) 10L</c> evaluates to <c>exp -1.0</c> ≈ 0.3679.</example>
    [<CompiledName("Exponential")>]
    val exponential: start: float -> finish: float -> decay: float -> Schedule

    /// <summary>Multiplicative decay, the ε decay of tutorials: <c>max(finish, start · factor^t)</c> at step t (an agent
    /// step, or an episode with <c>ExplorationUnit = Episodes</c>).</summary>
    /// <param name="start">The value at step 0.</param>
    /// <param name="finish">The floor; at most start.</param>
    /// <param name="factor">The factor per step, in (0, 1] (e.g. 0.995 per episode).</param>
    /// <exception cref="T:System.ArgumentException">start, finish or factor is NaN or infinite.</exception>
    /// <exception cref="T:System.ArgumentOutOfRangeException">factor outside (0, 1], or finish above start.</exception>
    /// <example><c>Schedule.value (Schedule.multiplicative 1.0 0.05 0.5) 2L</c> evaluates to <c>0.25</c>, and
    /// to <c>0.05</c> from step 5 on.</example>
    [<CompiledName("Multiplicative")>]
    val multiplicative: start: float -> finish: float -> factor: float -> Schedule

    /// <summary>
    /// Piecewise-linear interpolation between knots (step, value): linear between neighbouring knots,
    /// the first knot's value before it and the last knot's value after it.
    /// </summary>
    /// <param name="knots">At least one knot; steps non-negative and strictly increasing; values finite.</param>
    /// <exception cref="T:System.ArgumentException">knots is empty, a value is NaN or infinite, or the
    /// steps are not strictly increasing (the message names the offending knot).</exception>
    /// <exception cref="T:System.ArgumentOutOfRangeException">A knot's step is negative.</exception>
    /// <example><c>Schedule.value (Schedule.piecewiseLinear [ (0L, 1.0); (10L, 0.5); (20L, 0.0) ]) 15L</c> evaluates to <c>0.25</c>.</example>
    [<CompiledName("PiecewiseLinear")>]
    val piecewiseLinear: knots: (int64 * float) list -> Schedule

    /// <summary>
    /// The schedule's value at a step (pure). Between its endpoints a schedule's value never leaves
    /// the interval spanned by them (results are clamped to absorb floating-point rounding).
    /// </summary>
    /// <param name="schedule">The schedule.</param>
    /// <param name="step">The step count t, non-negative (agent steps in Dqn.Fun's loops).</param>
    /// <exception cref="T:System.ArgumentOutOfRangeException">step &lt; 0.</exception>
    /// <example><c>Schedule.value (Schedule.linear 1.0 0.1 100L) 1000L</c> evaluates to <c>0.1</c>.</example>
    [<CompiledName("Value")>]
    val value: schedule: Schedule -> step: int64 -> float

    /// <summary>The schedule in words, numbers invariant: <c>"0.05"</c>, <c>"1 -> 0.1 linearly over 250000 steps"</c>,
    /// <c>"1 -> 0 exponentially, decay 10 steps"</c>, <c>"max(0.05, 1 * 0.995^t)"</c>, <c>"piecewise linear 0: 1; 10: 0.5"</c>
    /// (for logs and config files).</summary>
    [<CompiledName("Describe")>]
    val describe: schedule: Schedule -> string
