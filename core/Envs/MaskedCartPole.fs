namespace Dqn.Fun

open System

/// <summary>
/// <c>MaskedCartPole-v1</c>: CartPole-v1 with its velocities masked, a partially observed task (POMDP). The
/// observation is float32 [x; θ] (cart position in m, pole angle in rad), length 2; ẋ and θ̇ are hidden, so a
/// memoryless policy cannot tell which way the pole is moving and an agent has to infer velocities from the
/// history (e.g. with the LSTM of DRQN, Hausknecht and Stone 2015).
/// </summary>
/// <remarks>
/// The usual velocity-masked CartPole benchmark of recurrent RL (e.g. "CartPole-P" in Meng, Gorbet and Kulić
/// 2021, "Memory-based Deep Reinforcement Learning for POMDPs"; StatelessCartPole in POPGym, Morad et al. 2023).
/// Dynamics, seeding, rewards (1.0 per step), termination and the 500-step truncation are exactly those of
/// <see cref="T:Dqn.Fun.CartPoleEnvironment"/>, which it wraps: equal seeds give equal episodes, observed
/// through <c>MaskedCartPoleEnvironment.Mask</c>. Not thread-safe.
/// </remarks>
[<Sealed>]
type MaskedCartPoleEnvironment() =
    let inner = CartPoleEnvironment()

    /// <summary>[x; θ] of a full CartPole observation [x; ẋ; θ; θ̇].</summary>
    /// <exception cref="T:System.ArgumentException">The observation's length is not 4.</exception>
    static member Mask(observation: float32[]) =
        Check.length "observation" CartPole.observationSize observation
        [| observation[0]; observation[2] |]

    /// 2.
    member _.ObservationSize = 2
    /// 2: 0 pushes the cart left, 1 right.
    member _.ActionCount = CartPole.actionCount
    /// <summary>The full physical state (velocities included), for tests and diagnostics.</summary>
    /// <exception cref="T:System.InvalidOperationException">Reset was never called.</exception>
    member _.State = inner.State
    /// The number of steps taken in the current episode.
    member _.ElapsedSteps = inner.ElapsedSteps
    /// <summary>Starts an episode; a non-null seed reseeds the generator first (as CartPole-v1).</summary>
    member _.Reset(seed: Nullable<int>) = MaskedCartPoleEnvironment.Mask(inner.Reset seed)

    /// <summary>Applies an action (0 left, 1 right) for one agent step.</summary>
    /// <exception cref="T:System.ArgumentOutOfRangeException">The action is neither 0 nor 1.</exception>
    /// <exception cref="T:System.InvalidOperationException">No episode is running: call Reset first.</exception>
    member _.Step(action: int) =
        let r = inner.Step action
        { r with Observation = MaskedCartPoleEnvironment.Mask r.Observation }

    interface IEnvironment with
        member this.ObservationSize = this.ObservationSize
        member this.ActionCount = this.ActionCount
        member this.Reset(seed) = this.Reset(seed)
        member this.Step(action) = this.Step(action)
