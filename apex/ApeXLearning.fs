namespace Dqn.Fun.ApeX

open System
open TorchSharp
open Dqn.Fun

/// <summary>What differs between Ape-X learners (classic control, Atari): the networks' torso and optimizer (in the
/// Trainer), the prioritized replay and what an actor's message stores in it, the update on a batch of it, the
/// evaluation, and the replay's part of a training checkpoint. LearnerCore runs the rest (messages, the replay ratio,
/// acknowledgements, snapshots, schedules, checkpoints). Owns the trainer and the replay.</summary>
type internal ILearningSide =
    inherit IDisposable
    /// The online and target networks, the optimizer and the schedules.
    abstract Trainer: Trainer
    /// The online network's torso (what a model checkpoint records).
    abstract Torso: Torso
    abstract ActionCount: int
    /// Transitions in the replay.
    abstract ReplayCount: int
    /// Stores an actor's message in the replay at its initial priorities.
    abstract Store: experience: IExperience -> unit
    /// One update on a prioritized batch drawn with β at `received` stored agent steps (Double DQN n-step targets and
    /// importance weights per the config), the batch's new priorities written back.
    abstract Update: received: int64 -> unit
    /// The evaluation at `received` stored agent steps; `recent`: the returns of the last training episodes the actors
    /// reported (Atari: game scores).
    abstract Evaluate: received: int64 * recent: float[] -> EvaluationResult
    /// Writes the replay (and the sizes it was made for) under names of `w`; `folder`: the checkpoint's folder.
    abstract SaveState: w: StateWriter * folder: string -> unit
    /// Reads what SaveState wrote; raises InvalidDataException when it does not fit.
    abstract LoadState: r: StateReader * folder: string -> unit

/// <summary>The classic-control learner side: an MLP over the environment's observations (Adam with Dqn.AdamEpsilon),
/// core's PrioritizedReplayBuffer of n-step transitions (Experience messages), greedy evaluation episodes on an
/// environment of its own (Evaluation.run, Dqn.EvalEpisodes at Dqn.EvalEpsilon).</summary>
type internal ClassicLearning(config: ApeXConfig) =
    let dqn = config.Dqn
    let evalEnv = Environments.make config.EnvironmentId
    let d, actionCount = evalEnv.ObservationSize, evalEnv.ActionCount
    let device = dqn.Device
    let torso = Torso.Mlp(d, dqn.Hidden)
    let trainer =
        new Trainer(
            dqn,
            (fun () -> QNetworks.createFor dqn torso actionCount device),
            None,
            true,
            fun online lr -> torch.optim.Adam(online.parameters (), lr = lr, eps = dqn.AdamEpsilon)
        )
    let replay = PrioritizedReplayBuffer(dqn.BufferSize, d, dqn.PriorityAlpha, dqn.PriorityEpsilon, dqn.Seed)
    let priorities = Array.zeroCreate<float32> dqn.BatchSize

    interface ILearningSide with
        member _.Trainer = trainer
        member _.Torso = torso
        member _.ActionCount = actionCount
        member _.ReplayCount = replay.Count

        member _.Store(experience: IExperience) =
            match experience with
            | :? Experience as e ->
                if e.ObservationSize <> d then
                    invalidOp $"actor {e.ActorId} sent observations of {e.ObservationSize} values; the learner's environment has {d}"
                for j in 0 .. e.Count - 1 do
                    replay.Add(
                        Array.sub e.Observations (j * d) d,
                        e.Actions[j],
                        e.Returns[j],
                        Array.sub e.NextObservations (j * d) d,
                        e.Terminated[j],
                        e.NSteps[j],
                        e.TdErrors[j]
                    )
            | other -> invalidOp $"actor {other.ActorId} sent {other.GetType().Name}; a {config.EnvironmentId} learner takes Experience"

        member _.Update(received: int64) =
            let pb = replay.Sample(dqn.BatchSize, Schedule.value dqn.PriorityBeta received, dqn.PriorityWeightNormalization)
            Learner.learn dqn trainer.Online trainer.Target trainer.Optimizer device null pb.Batch (Learner.discounts dqn.Gamma pb.Batch) pb.Weights priorities
            |> ignore
            replay.UpdatePriorities(pb.Batch.Indices, priorities)

        member _.Evaluate(received: int64, _recent: float[]) =
            let act (random: Random) (o: float32[]) =
                Actor.epsilonGreedy random dqn.EvalEpsilon actionCount (fun () -> QNetwork.greedyAction trainer.Online device o)
            Evaluation.run dqn.EvalEpisodes (dqn.Seed + 1_000_000) received evalEnv.Reset evalEnv.Step ignore act

        member _.SaveState(w: StateWriter, _folder: string) =
            w.Int64("observation_size", int64 d)
            w.Int64("action_count", int64 actionCount)
            replay.SaveState(w, "replay")

        member _.LoadState(r: StateReader, folder: string) =
            let sizes = r.Int64 "observation_size", r.Int64 "action_count"
            if sizes <> (int64 d, int64 actionCount) then
                raise (IO.InvalidDataException($"{folder}: a checkpoint of {fst sizes} observations and {snd sizes} actions; {config.EnvironmentId} has {d} and {actionCount}"))
            replay.LoadState(r, "replay")

        member _.Dispose() = (trainer :> IDisposable).Dispose()
