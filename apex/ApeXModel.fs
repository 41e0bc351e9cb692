namespace Dqn.Fun.ApeX

open System

/// <summary>The measured or assumed costs an Ape-X throughput model starts from. Agent steps are summed over actors;
/// bytes are what crosses the learner's network interface.</summary>
type ApeXCosts =
    { /// Agent steps one actor takes per second on its own core (acting, n-step returns, priorities, serialization).
      ActorStepsPerSecond: float
      /// Seconds of the learner's thread per stored agent step (deserialization and replay insertion).
      IngestSecondsPerStep: float
      /// Seconds of the learner's thread per gradient update (sampling, the update, the priority write-back).
      UpdateSeconds: float
      /// Agent steps per update the replay ratio holds (TrainFrequency / GradientSteps); 0: the learner is not tied to
      /// the actors (Ape-X's paper: it updates flat out and the actors never wait).
      StepsPerUpdate: float
      /// Bytes of experience per agent step into the learner (a message's bytes over the steps it carries).
      BytesInPerStep: float
      /// Bytes of one parameter snapshot.
      ParameterBytes: float
      /// Agent steps (per actor) between an actor's parameter pulls.
      ParameterInterval: float
      /// The learner's network bandwidth in bytes per second, each direction (full duplex).
      BandwidthBytesPerSecond: float }

/// One row of the model: N actors feeding one learner.
type ApeXModelRow =
    { Actors: int
      /// N · ActorStepsPerSecond: what the actors could produce.
      ActorBound: float
      /// What the learner's one thread can take: 1 / (ingest + update / StepsPerUpdate) steps/s (ingest alone when the
      /// learner is not tied to the actors).
      LearnerBound: float
      /// What the network carries: bandwidth / max(bytes in, parameter bytes out) per agent step.
      NetworkBound: float
      /// The smallest of the three: agent steps per second the cluster sustains.
      StepsPerSecond: float
      /// Updates per second at that rate (the ratio's, or the learner's free rate when not tied).
      UpdatesPerSecond: float
      /// "actors", "learner" or "network": the bound that sets the rate.
      Bottleneck: string }

/// <summary>A throughput model of Ape-X (Horgan et al. 2018, §3: many actors, one learner, one replay): each of N
/// actors on its own core produces ActorStepsPerSecond until the learner's thread or its network interface saturates.
/// A deterministic bound analysis, not an event simulation: queues, stragglers and the cost of Akka's gossip (a few
/// hundred bytes a second a node) are left out.</summary>
[<RequireQualifiedAccess>]
module ApeXModel =

    /// <summary>The model's row for N actors.</summary>
    /// <exception cref="T:System.ArgumentOutOfRangeException">N &lt; 1 or a cost that is negative, NaN, or (rates and
    /// bandwidth) not positive.</exception>
    [<CompiledName("Row")>]
    let row (c: ApeXCosts) (n: int) : ApeXModelRow =
        if n < 1 then raise (ArgumentOutOfRangeException("n", n, "the actor count must be positive"))
        let positive (name: string) (v: float) =
            if not (v > 0.0) || Double.IsInfinity v then raise (ArgumentOutOfRangeException(name, v, $"{name} must be positive and finite, got {v}"))
        let nonNegative (name: string) (v: float) =
            if not (v >= 0.0) || Double.IsInfinity v then raise (ArgumentOutOfRangeException(name, v, $"{name} must be finite and non-negative, got {v}"))
        positive "ActorStepsPerSecond" c.ActorStepsPerSecond
        positive "BandwidthBytesPerSecond" c.BandwidthBytesPerSecond
        positive "ParameterInterval" c.ParameterInterval
        nonNegative "IngestSecondsPerStep" c.IngestSecondsPerStep
        nonNegative "UpdateSeconds" c.UpdateSeconds
        nonNegative "StepsPerUpdate" c.StepsPerUpdate
        nonNegative "BytesInPerStep" c.BytesInPerStep
        nonNegative "ParameterBytes" c.ParameterBytes
        let actorBound = float n * c.ActorStepsPerSecond
        let tied = c.StepsPerUpdate > 0.0
        let perStep = c.IngestSecondsPerStep + (if tied then c.UpdateSeconds / c.StepsPerUpdate else 0.0)
        let learnerBound = if perStep > 0.0 then 1.0 / perStep else infinity
        let bytesPerStep = max c.BytesInPerStep (c.ParameterBytes / c.ParameterInterval)
        let networkBound = if bytesPerStep > 0.0 then c.BandwidthBytesPerSecond / bytesPerStep else infinity
        let rate = List.min [ actorBound; learnerBound; networkBound ]
        let bottleneck = if rate = actorBound then "actors" elif rate = learnerBound then "learner" else "network"
        let updates =
            if tied then rate / c.StepsPerUpdate
            elif c.UpdateSeconds > 0.0 then (1.0 - rate * c.IngestSecondsPerStep) / c.UpdateSeconds
            else infinity
        { Actors = n
          ActorBound = actorBound
          LearnerBound = learnerBound
          NetworkBound = networkBound
          StepsPerSecond = rate
          UpdatesPerSecond = max 0.0 updates
          Bottleneck = bottleneck }

    /// <summary>The rows for N = 1, 2, 4, ... up to `maxActors` (powers of two, and maxActors itself).</summary>
    [<CompiledName("Table")>]
    let table (c: ApeXCosts) (maxActors: int) =
        let ns = Seq.unfold (fun n -> if n <= maxActors then Some(n, n * 2) else None) 1 |> List.ofSeq
        let ns = if List.contains maxActors ns then ns else ns @ [ maxActors ]
        ns |> List.map (row c)
