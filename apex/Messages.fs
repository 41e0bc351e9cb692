namespace Dqn.Fun.ApeX

open System
open System.IO
open System.Runtime.InteropServices
open System.Text
open Akka.Actor
open Akka.Serialization
open Dqn.Fun.Atari

/// Marks the messages of an Ape-X cluster: each is bound to ApeXSerializer (explicit bytes), never to a
/// serializer that instantiates types named in the payload.
type IApeXMessage =
    interface
    end

/// Actor → learner when an actor node has joined: asks for its settings and the current parameters.
type Register =
    { ActorId: int }
    interface IApeXMessage

/// A snapshot of the learner's online network: its parameters as a safetensors file (state-dict names, Float32),
/// numbered by the learner's update count when taken.
type Parameters =
    { Version: int64
      Bytes: byte[] }
    interface IApeXMessage

/// Learner → actor in reply to Register: what the actor runs (its environment, εᵢ, its network's architecture, the
/// n-step settings, its intervals) and the current parameters.
type Welcome =
    { ActorId: int
      Actors: int
      EnvironmentId: string
      Envs: int
      Epsilon: float
      Hidden: int[]
      Dueling: bool
      NStep: int
      Gamma: float
      SendInterval: int
      ParameterInterval: int
      MaxInFlight: int
      Seed: int
      /// Some: the actor steps this Atari game through the bridge (ApeXConfig.Atari); None: EnvironmentId.
      Atari: ApeXAtari option
      Parameters: Parameters }
    interface IApeXMessage

/// What every experience message tells the learner beside its transitions.
type IExperience =
    inherit IApeXMessage
    /// The sending actor's id.
    abstract ActorId: int
    /// Agent steps taken since the actor's last message, summed over its envs.
    abstract Steps: int
    /// Training episodes (Atari: games, raw scores) finished since the last message.
    abstract EpisodeReturns: float[]

/// Actor → learner every SendInterval agent steps: the n-step transitions completed since the last message (rows of
/// [count; observationSize] Float32 observations), each with its TD error under the actor's network (the initial
/// priority, Horgan et al. 2018, Algorithm 1, line 10), the agent steps taken (summed over the actor's envs) and the
/// training episodes finished.
type Experience =
    { ActorId: int
      Steps: int
      ObservationSize: int
      Observations: float32[]
      Actions: int[]
      Returns: float32[]
      NextObservations: float32[]
      Terminated: bool[]
      NSteps: int[]
      TdErrors: float32[]
      EpisodeReturns: float[]
      EpisodeLengths: int[] }
    interface IExperience with
        member e.ActorId = e.ActorId
        member e.Steps = e.Steps
        member e.EpisodeReturns = e.EpisodeReturns

    /// The number of transitions.
    member e.Count = e.Actions.Length

/// <summary>Atari actor → learner every SendInterval agent steps: the records of its envs' episodes since the last
/// message, for the learner's frame replay (each 84x84 frame sent once, never a stack). Record j of env Streams[j]
/// (in the order the env wrote them) is an episode start (Starts[j]: its first frame) or an agent step (Actions[j],
/// Rewards[j] the clipped reward, the frame it led to, Terminated[j], Truncated[j]) with TdErrors[j], the TD error of
/// the n-step transition that starts at that step under the actor's network (its initial priority, Horgan et al.
/// 2018, Algorithm 1). An actor sends a step once its n-step window is complete (n later steps, or the episode's end),
/// so the learner can sample it at once. Frames: [records; 84·84] bytes.</summary>
type AtariExperience =
    { ActorId: int
      Steps: int
      /// Emulator frames the actor's envs ran since its last message (reset actions included).
      Frames: int64
      Streams: int[]
      Starts: bool[]
      Actions: int[]
      Rewards: float32[]
      Terminated: bool[]
      Truncated: bool[]
      TdErrors: float32[]
      Frames84: byte[]
      /// Raw scores of the games finished (GameOver or truncated).
      EpisodeReturns: float[]
      /// Agent steps of those games.
      EpisodeLengths: int[] }
    interface IExperience with
        member e.ActorId = e.ActorId
        member e.Steps = e.Steps
        member e.EpisodeReturns = e.EpisodeReturns

    /// The number of records.
    member e.Count = e.Streams.Length

/// Actor → learner every ParameterInterval agent steps: parameters newer than version Have, if any.
type ParametersRequest =
    { ActorId: int
      Have: int64 }
    interface IApeXMessage

/// Learner → actor: an Experience message is stored and the updates it granted are made. An actor keeps at most
/// MaxInFlight messages unacknowledged, so it never runs far ahead of the learner and the replay ratio (updates per
/// agent step) is the config's. Received: the agent steps the learner has stored, summed over actors.
type Ack =
    { Received: int64 }
    interface IApeXMessage

/// Learner → actor: the budget is spent (or the learner stops); the actor leaves the cluster.
type Stop =
    { Reason: string }
    interface IApeXMessage

/// Little-endian writers of ApeXSerializer's fields.
module internal Wire =
    let writeArray<'T when 'T: unmanaged and 'T: struct and 'T: (new: unit -> 'T) and 'T :> ValueType> (w: BinaryWriter) (a: 'T[]) =
        w.Write a.Length
        w.Write(MemoryMarshal.AsBytes(ReadOnlySpan<'T>(a)))

    let writeBools (w: BinaryWriter) (a: bool[]) =
        w.Write a.Length
        for b in a do
            w.Write b

    let writeString (w: BinaryWriter) (s: string) = writeArray w (Encoding.UTF8.GetBytes(if isNull s then "" else s))

    let bad (manifest: string) (what: string) : 'a =
        raise (Runtime.Serialization.SerializationException($"malformed Ape-X message '{manifest}': {what}"))

    /// Reads fields, checking every length against the bytes left.
    type Reader(bytes: byte[], manifest: string) =
        let ms = new MemoryStream(bytes, false)
        let r = new BinaryReader(ms)
        let left () = bytes.Length - int ms.Position
        let need (field: string) (n: int) =
            if n > left () then bad manifest $"{field} needs {n} bytes, {left ()} left"
        member _.Int32(field: string) =
            need field 4
            r.ReadInt32()
        member _.Int64(field: string) =
            need field 8
            r.ReadInt64()
        member _.Float(field: string) =
            need field 8
            r.ReadDouble()
        member _.Bool(field: string) =
            need field 1
            r.ReadBoolean()
        member this.Array<'T when 'T: unmanaged and 'T: struct and 'T: (new: unit -> 'T) and 'T :> ValueType>(field: string) : 'T[] =
            let n = this.Int32 field
            let size = Marshal.SizeOf<'T>()
            if n < 0 || int64 n * int64 size > int64 (left ()) then bad manifest $"{field} claims {n} elements, {left ()} bytes left"
            let a = Array.zeroCreate<'T> n
            r.Read(MemoryMarshal.AsBytes(Span<'T>(a))) |> ignore
            a
        member this.Bools(field: string) =
            let n = this.Int32 field
            if n < 0 || n > left () then bad manifest $"{field} claims {n} elements, {left ()} bytes left"
            Array.init n (fun _ -> r.ReadBoolean())
        member this.String(field: string) = Text.Encoding.UTF8.GetString(this.Array<byte> field)
        /// Raises unless every byte was read.
        member _.End() = if left () <> 0 then bad manifest $"{left ()} bytes left over"
        interface IDisposable with
            member _.Dispose() =
                r.Dispose()
                ms.Dispose()

/// <summary>The Ape-X messages as explicit little-endian bytes (a manifest string names the message type; no type
/// name in the payload is ever resolved). Reading checks every length against the bytes left and raises
/// SerializationException naming the field for a truncated or malformed message.</summary>
type ApeXSerializer(system: ExtendedActorSystem) =
    inherit SerializerWithStringManifest(system)

    /// Identifier of this serializer in Akka's registry (ids 0-100 are Akka's own).
    override _.Identifier = 5337

    override _.Manifest(o: obj) =
        match o with
        | :? Register -> "register"
        | :? Welcome -> "welcome"
        | :? Experience -> "experience"
        | :? AtariExperience -> "atari-experience"
        | :? ParametersRequest -> "parameters-request"
        | :? Parameters -> "parameters"
        | :? Stop -> "stop"
        | :? Ack -> "ack"
        | _ -> raise (ArgumentException($"ApeXSerializer cannot serialize {o.GetType().FullName}"))

    override _.ToBinary(o: obj) =
        use ms = new MemoryStream()
        use w = new BinaryWriter(ms)
        let parameters (p: Parameters) =
            w.Write p.Version
            Wire.writeArray w p.Bytes
        match o with
        | :? Register as r -> w.Write r.ActorId
        | :? Welcome as m ->
            w.Write m.ActorId
            w.Write m.Actors
            Wire.writeString w m.EnvironmentId
            w.Write m.Envs
            w.Write m.Epsilon
            Wire.writeArray w m.Hidden
            w.Write m.Dueling
            w.Write m.NStep
            w.Write m.Gamma
            w.Write m.SendInterval
            w.Write m.ParameterInterval
            w.Write m.MaxInFlight
            w.Write m.Seed
            match m.Atari with
            | None -> w.Write false
            | Some a ->
                w.Write true
                Wire.writeString w a.Game
                Wire.writeString w a.Rom
                let e = a.Settings
                w.Write e.FrameSkip
                w.Write e.NoopMaxFrames
                w.Write e.FireOnReset
                w.Write e.TerminalOnLifeLoss
                w.Write e.MaxEpisodeFrames
                w.Write e.ClipRewards
                w.Write(match e.Padding with StackPadding.Zeros -> 0 | StackPadding.RepeatFirst -> 1)
                w.Write a.RepeatActionProbability
                match a.Optimizer with
                | Adam eps ->
                    w.Write 0
                    w.Write eps
                | RmsProp(alpha, eps, centered) ->
                    w.Write 1
                    w.Write alpha
                    w.Write eps
                    w.Write centered
            parameters m.Parameters
        | :? Experience as e ->
            w.Write e.ActorId
            w.Write e.Steps
            w.Write e.ObservationSize
            Wire.writeArray w e.Observations
            Wire.writeArray w e.Actions
            Wire.writeArray w e.Returns
            Wire.writeArray w e.NextObservations
            Wire.writeBools w e.Terminated
            Wire.writeArray w e.NSteps
            Wire.writeArray w e.TdErrors
            Wire.writeArray w e.EpisodeReturns
            Wire.writeArray w e.EpisodeLengths
        | :? AtariExperience as e ->
            w.Write e.ActorId
            w.Write e.Steps
            w.Write e.Frames
            Wire.writeArray w e.Streams
            Wire.writeBools w e.Starts
            Wire.writeArray w e.Actions
            Wire.writeArray w e.Rewards
            Wire.writeBools w e.Terminated
            Wire.writeBools w e.Truncated
            Wire.writeArray w e.TdErrors
            Wire.writeArray w e.Frames84
            Wire.writeArray w e.EpisodeReturns
            Wire.writeArray w e.EpisodeLengths
        | :? ParametersRequest as r ->
            w.Write r.ActorId
            w.Write r.Have
        | :? Parameters as p -> parameters p
        | :? Stop as s -> Wire.writeString w s.Reason
        | :? Ack as a -> w.Write a.Received
        | _ -> raise (ArgumentException($"ApeXSerializer cannot serialize {o.GetType().FullName}"))
        w.Flush()
        ms.ToArray()

    override _.FromBinary(bytes: byte[], manifest: string) : obj =
        if isNull bytes then Wire.bad manifest "no bytes"
        use r = new Wire.Reader(bytes, manifest)
        let int32 (field: string) = r.Int32 field
        let int64 (field: string) = r.Int64 field
        let float (field: string) = r.Float field
        let bool (field: string) = r.Bool field
        let bools (field: string) = r.Bools field
        let string (field: string) = r.String field
        let bad (manifest: string) (what: string) : 'a = Wire.bad manifest what
        let parameters () =
            let version = int64 "Parameters.Version"
            { Version = version; Bytes = r.Array<byte> "Parameters.Bytes" }
        let message: obj =
            match manifest with
            | "register" -> box { Register.ActorId = int32 "ActorId" }
            | "welcome" ->
                let actorId = int32 "ActorId"
                let actors = int32 "Actors"
                let env = string "EnvironmentId"
                let envs = int32 "Envs"
                let epsilon = float "Epsilon"
                let hidden = r.Array<int> "Hidden"
                let dueling = bool "Dueling"
                let nstep = int32 "NStep"
                let gamma = float "Gamma"
                let send = int32 "SendInterval"
                let pull = int32 "ParameterInterval"
                let inFlight = int32 "MaxInFlight"
                let seed = int32 "Seed"
                let atari =
                    if not (bool "Atari") then None
                    else
                        let game = string "Atari.Game"
                        let rom = string "Atari.Rom"
                        let skip = int32 "Atari.FrameSkip"
                        let noops = int32 "Atari.NoopMaxFrames"
                        let fire = bool "Atari.FireOnReset"
                        let lifeLoss = bool "Atari.TerminalOnLifeLoss"
                        let maxFrames = int32 "Atari.MaxEpisodeFrames"
                        let clip = bool "Atari.ClipRewards"
                        let padding =
                            match int32 "Atari.Padding" with
                            | 0 -> StackPadding.Zeros
                            | 1 -> StackPadding.RepeatFirst
                            | p -> bad manifest $"Atari.Padding {p} is not 0 (Zeros) or 1 (RepeatFirst)"
                        let sticky = float "Atari.RepeatActionProbability"
                        let optimizer =
                            match int32 "Atari.Optimizer" with
                            | 0 -> Adam(float "Atari.Optimizer.Epsilon")
                            | 1 ->
                                let alpha = float "Atari.Optimizer.Alpha"
                                let eps = float "Atari.Optimizer.Epsilon"
                                RmsProp(alpha, eps, bool "Atari.Optimizer.Centered")
                            | o -> bad manifest $"Atari.Optimizer {o} is not 0 (Adam) or 1 (RmsProp)"
                        Some
                            { Game = game
                              Rom = rom
                              Settings =
                                { FrameSkip = skip
                                  NoopMaxFrames = noops
                                  FireOnReset = fire
                                  TerminalOnLifeLoss = lifeLoss
                                  MaxEpisodeFrames = maxFrames
                                  ClipRewards = clip
                                  Padding = padding }
                              RepeatActionProbability = sticky
                              Optimizer = optimizer }
                box
                    { ActorId = actorId
                      Actors = actors
                      EnvironmentId = env
                      Envs = envs
                      Epsilon = epsilon
                      Hidden = hidden
                      Dueling = dueling
                      NStep = nstep
                      Gamma = gamma
                      SendInterval = send
                      ParameterInterval = pull
                      MaxInFlight = inFlight
                      Seed = seed
                      Atari = atari
                      Parameters = parameters () }
            | "experience" ->
                let actorId = int32 "ActorId"
                let steps = int32 "Steps"
                let size = int32 "ObservationSize"
                let observations = r.Array<float32> "Observations"
                let actions = r.Array<int> "Actions"
                let returns = r.Array<float32> "Returns"
                let next = r.Array<float32> "NextObservations"
                let terminated = bools "Terminated"
                let nsteps = r.Array<int> "NSteps"
                let errors = r.Array<float32> "TdErrors"
                let episodeReturns = r.Array<float> "EpisodeReturns"
                let episodeLengths = r.Array<int> "EpisodeLengths"
                let k = actions.Length
                if size <= 0 then bad manifest $"ObservationSize {size} is not positive"
                if observations.Length <> k * size || next.Length <> k * size then
                    bad manifest $"{k} transitions of {size} values need {k * size} observation values, got {observations.Length} and {next.Length}"
                if returns.Length <> k || terminated.Length <> k || nsteps.Length <> k || errors.Length <> k then
                    bad manifest $"{k} actions but {returns.Length} returns, {terminated.Length} flags, {nsteps.Length} step counts, {errors.Length} TD errors"
                if episodeReturns.Length <> episodeLengths.Length then
                    bad manifest $"{episodeReturns.Length} episode returns but {episodeLengths.Length} lengths"
                box<Experience>
                    { ActorId = actorId
                      Steps = steps
                      ObservationSize = size
                      Observations = observations
                      Actions = actions
                      Returns = returns
                      NextObservations = next
                      Terminated = terminated
                      NSteps = nsteps
                      TdErrors = errors
                      EpisodeReturns = episodeReturns
                      EpisodeLengths = episodeLengths }
            | "atari-experience" ->
                let actorId = int32 "ActorId"
                let steps = int32 "Steps"
                let frames = int64 "Frames"
                let streams = r.Array<int> "Streams"
                let starts = bools "Starts"
                let actions = r.Array<int> "Actions"
                let rewards = r.Array<float32> "Rewards"
                let terminated = bools "Terminated"
                let truncated = bools "Truncated"
                let errors = r.Array<float32> "TdErrors"
                let pixels = r.Array<byte> "Frames84"
                let episodeReturns = r.Array<float> "EpisodeReturns"
                let episodeLengths = r.Array<int> "EpisodeLengths"
                let k = streams.Length
                if [ starts.Length; actions.Length; rewards.Length; terminated.Length; truncated.Length; errors.Length ] |> List.exists ((<>) k) then
                    bad manifest $"{k} records but {starts.Length} start flags, {actions.Length} actions, {rewards.Length} rewards, {terminated.Length} + {truncated.Length} end flags, {errors.Length} TD errors"
                if pixels.Length <> k * 84 * 84 then bad manifest $"{k} records need {k * 84 * 84} frame bytes, got {pixels.Length}"
                if episodeReturns.Length <> episodeLengths.Length then
                    bad manifest $"{episodeReturns.Length} episode returns but {episodeLengths.Length} lengths"
                box<AtariExperience>
                    { ActorId = actorId
                      Steps = steps
                      Frames = frames
                      Streams = streams
                      Starts = starts
                      Actions = actions
                      Rewards = rewards
                      Terminated = terminated
                      Truncated = truncated
                      TdErrors = errors
                      Frames84 = pixels
                      EpisodeReturns = episodeReturns
                      EpisodeLengths = episodeLengths }
            | "parameters-request" ->
                let actorId = int32 "ActorId"
                box { ActorId = actorId; Have = int64 "Have" }
            | "parameters" -> box (parameters ())
            | "stop" -> box { Reason = string "Reason" }
            | "ack" -> box { Received = int64 "Received" }
            | _ -> bad manifest "unknown manifest"
        r.End()
        message
