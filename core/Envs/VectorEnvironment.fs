namespace Dqn.Fun

open System

/// <summary>One step of a vector of environments, per environment i in 0 .. NumEnvs-1. Arrays are row-major:
/// observations are [numEnvs; observationSize] float32.</summary>
/// <remarks>Autoreset in the same step (Stable-Baselines3's <c>VecEnv</c>, Gymnasium's
/// <c>AutoresetMode.SAME_STEP</c>): where env i's episode ended (terminated or truncated), <c>Observations</c> holds the
/// first observation of its next episode and <c>FinalObservations</c> the observation the episode ended in (what a
/// replay stores as s' and bootstraps from after a truncation); elsewhere the two rows are equal.</remarks>
type VectorStep =
    { /// [numEnvs; observationSize]: each env's observation to act on next.
      Observations: float32[]
      /// [numEnvs]: each env's reward for this step.
      Rewards: float[]
      /// [numEnvs]: the step reached a terminal state of env i's MDP.
      Terminated: bool[]
      /// [numEnvs]: env i's episode was cut (time limit), whatever its state.
      Truncated: bool[]
      /// [numEnvs; observationSize]: the observation each env's step ended in, before any autoreset.
      FinalObservations: float32[] }

/// <summary>NumEnvs environments of one observation size and action count stepped together, each with its own
/// episode (Gymnasium's vector environments, SB3's <c>VecEnv</c>): one action per env in, one <c>VectorStep</c> out,
/// episodes reset automatically in the step that ends them.</summary>
type IVectorEnvironment =
    /// The number of environments.
    abstract NumEnvs: int
    /// The length of every observation vector.
    abstract ObservationSize: int
    /// The number of discrete actions of every environment.
    abstract ActionCount: int
    /// <summary>Starts an episode in every environment; returns [numEnvs; observationSize] first observations.</summary>
    /// <param name="seed">A non-null seed reseeds env i with seed + i (Gymnasium's <c>reset(seed=s)</c> on a vector
    /// environment); null keeps each env's generator.</param>
    abstract Reset: seed: Nullable<int> -> float32[]
    /// <summary>Applies actions[i] to env i and returns what every env did, resetting those whose episode ended.</summary>
    /// <exception cref="T:System.ArgumentException">actions does not hold NumEnvs actions.</exception>
    /// <exception cref="T:System.ArgumentOutOfRangeException">An action is outside 0 .. ActionCount-1.</exception>
    /// <exception cref="T:System.InvalidOperationException">Reset was never called.</exception>
    abstract Step: actions: int[] -> VectorStep

/// <summary>A vector environment over environments stepped one after the other on the calling thread (Gymnasium's
/// <c>SyncVectorEnv</c>, SB3's <c>DummyVecEnv</c>): for classic control, where a step costs far less than a thread
/// hop. It owns the environments' episodes: step them only through it.</summary>
/// <exception cref="T:System.ArgumentException">No environments, a null one, the same instance twice, or sizes that
/// differ from the first environment's (the message names the environment and its sizes).</exception>
[<Sealed>]
type SyncVectorEnvironment(envs: IEnvironment[]) =
    do
        if isNull envs || envs.Length = 0 then invalidArg "envs" "a vector environment needs at least one environment"
        let seen = Collections.Generic.HashSet<obj>(HashIdentity.Reference)
        envs
        |> Array.iteri (fun i e ->
            if isNull (box e) then invalidArg "envs" $"envs[{i}] is null"
            if not (seen.Add(box e)) then invalidArg "envs" $"envs[{i}] is an environment given before: each env needs its own episode")
    let envs = Array.copy envs
    let n = envs.Length
    let size = envs[0].ObservationSize
    let actionCount = envs[0].ActionCount
    do
        envs
        |> Array.iteri (fun i e ->
            if e.ObservationSize <> size || e.ActionCount <> actionCount then
                invalidArg
                    "envs"
                    $"envs[{i}] has ObservationSize = {e.ObservationSize}, ActionCount = {e.ActionCount}; envs[0] has {size} and {actionCount}")
    let mutable started = false

    let copyRow (o: float32[]) (into: float32[]) (i: int) (what: string) =
        if isNull o || o.Length <> size then
            invalidOp $"env {i} returned {what} of length {(if isNull o then 0 else o.Length)}, expected ObservationSize = {size}"
        o.AsSpan().CopyTo(into.AsSpan(i * size, size))

    /// A vector of `numEnvs` fresh environments made by `make` (called once per env).
    new(numEnvs: int, make: Func<IEnvironment>) =
        Check.positive "numEnvs" numEnvs
        if isNull make then nullArg "make"
        SyncVectorEnvironment(Array.init numEnvs (fun _ -> make.Invoke()))

    /// The environments, in order (env i is Environments[i]).
    member _.Environments: IEnvironment[] = Array.copy envs

    interface IVectorEnvironment with
        member _.NumEnvs = n
        member _.ObservationSize = size
        member _.ActionCount = actionCount

        member _.Reset(seed: Nullable<int>) =
            let observations = Array.zeroCreate<float32> (n * size)
            for i in 0 .. n - 1 do
                let s = if seed.HasValue then Nullable(seed.Value + i) else Nullable()
                copyRow (envs[i].Reset s) observations i "a first observation"
            started <- true
            observations

        member _.Step(actions: int[]) =
            if isNull actions then nullArg "actions"
            if actions.Length <> n then invalidArg "actions" $"actions has {actions.Length} actions, expected NumEnvs = {n}"
            actions |> Array.iteri (fun i a -> if a < 0 || a >= actionCount then raise (ArgumentOutOfRangeException($"actions[{i}]", a, $"actions[{i}] must be in 0..{actionCount - 1}")))
            if not started then invalidOp "the vector environment has not been reset: call Reset first"
            let observations = Array.zeroCreate<float32> (n * size)
            let finals = Array.zeroCreate<float32> (n * size)
            let rewards = Array.zeroCreate<float> n
            let terminated = Array.zeroCreate<bool> n
            let truncated = Array.zeroCreate<bool> n
            for i in 0 .. n - 1 do
                let r = envs[i].Step actions[i]
                copyRow r.Observation finals i "an observation"
                rewards[i] <- r.Reward
                terminated[i] <- r.Terminated
                truncated[i] <- r.Truncated
                if r.Terminated || r.Truncated then copyRow (envs[i].Reset(Nullable())) observations i "a first observation"
                else finals.AsSpan(i * size, size).CopyTo(observations.AsSpan(i * size, size))
            { Observations = observations
              Rewards = rewards
              Terminated = terminated
              Truncated = truncated
              FinalObservations = finals }

/// <summary>One environment as a vector of one, its arrays passed through (no copies, no checks: the caller checks),
/// with the same-step autoreset of the vector interface: Agent.Learn's single-environment form.</summary>
[<Sealed>]
type internal SingleVector(env: IEnvironment) =
    interface IVectorEnvironment with
        member _.NumEnvs = 1
        member _.ObservationSize = env.ObservationSize
        member _.ActionCount = env.ActionCount
        member _.Reset(seed: Nullable<int>) = env.Reset seed

        member _.Step(actions: int[]) =
            let r = env.Step actions[0]
            { Observations = (if r.Terminated || r.Truncated then env.Reset(Nullable()) else r.Observation)
              Rewards = [| r.Reward |]
              Terminated = [| r.Terminated |]
              Truncated = [| r.Truncated |]
              FinalObservations = r.Observation }
