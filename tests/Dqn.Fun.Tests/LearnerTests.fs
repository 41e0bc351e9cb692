module Dqn.Fun.Tests.LearnerTests

open System
open Expecto
open Dqn.Fun
open TorchSharp
open Dqn.Fun.Tests.TorchTestSupport

let private spec = { ObservationSize = 4; Hidden = [ 32; 32 ]; ActionCount = 3 }

/// A fixed batch of 32 transitions with rewards depending on the action, so there is something to fit (also
/// used by IqnTests).
let fixedBatch () : Batch =
    let rng = Random 11
    let size = 32
    let floats n = Array.init n (fun _ -> float32 (rng.NextDouble() * 2.0 - 1.0))
    let actions = Array.init size (fun _ -> int64 (rng.Next 3))
    { Size = size
      ObservationSize = 4
      Observations = floats (size * 4)
      Actions = actions
      Rewards = actions |> Array.map (fun a -> float32 a - 1.0f)
      NextObservations = floats (size * 4)
      Terminated = Array.init size (fun i -> if i % 5 = 0 then 1.0f else 0.0f)
      Steps = Array.create size 1
      Indices = Array.init size id }

type private Setup =
    { Online: Modules.Sequential
      Target: Modules.Sequential
      Optimizer: Modules.Adam }

    interface IDisposable with
        member s.Dispose() =
            s.Optimizer.Dispose()
            s.Online.Dispose()
            s.Target.Dispose()

let private setup (lr: float) =
    torch.manual_seed 0L |> ignore
    let online = QNetwork.mlp spec torch.CPU
    let target = QNetwork.mlp spec torch.CPU
    QNetwork.updateTarget 1.0 target online
    { Online = online; Target = target; Optimizer = torch.optim.Adam(online.parameters (), lr = lr) }

let private parameterValues (net: torch.nn.Module) = parameters net |> List.map floats

/// Q-values of a network on a row-major [batch; 4] array, as float rows.
let private qRows (net: torch.nn.Module<Tensor, Tensor>) (obs: float32[]) (batch: int) =
    use _ = torch.no_grad ()
    use _ = torch.NewDisposeScope()
    let q = values<float32> (net.forward (tensor obs [| int64 batch; 4L |])) |> Array.map float
    Array.init batch (fun i -> q[i * 3 .. i * 3 + 2])

/// Distinct batches drawn from a seeded replay buffer with terminals, for multi-step comparisons.
let private replayBatches (count: int) =
    let rb = ReplayBuffer(1_000, 4, 3)
    let rng = Random 5
    let floats () = Array.init 4 (fun _ -> float32 (rng.NextDouble() * 2.0 - 1.0))
    for _ in 1..500 do
        rb.Add(floats (), rng.Next 3, float32 (rng.NextDouble()), floats (), rng.Next 4 = 0)
    List.init count (fun _ -> rb.Sample 32)

[<Tests>]
let tests =
    testList "Learner" [
        testCase "repeated updates on a fixed batch reduce the loss" <| fun () ->
            for loss in [ TdLoss.Huber; TdLoss.Mse ] do
                use s = setup 1e-3
                let config = { DqnConfig.defaults with Loss = loss }
                let batch = fixedBatch ()
                let first = Learner.update config s.Online s.Target s.Optimizer torch.CPU batch
                let mutable last = first
                for _ in 1..300 do
                    last <- Learner.update config s.Online s.Target s.Optimizer torch.CPU batch
                Expect.isTrue (last.Loss < 0.2 * first.Loss) $"{loss}: loss went from {first.Loss} to {last.Loss}"

        testCase "the reported loss and mean Q match a hand computation of the DQN target and Huber loss" <| fun () ->
            use s = setup 1e-3
            let batch = fixedBatch ()
            let q = qRows s.Online batch.Observations batch.Size
            let next = qRows s.Target batch.NextObservations batch.Size
            let gamma = DqnConfig.defaults.Gamma
            let errors =
                Array.init batch.Size (fun i ->
                    let y = float batch.Rewards[i] + gamma * (1.0 - float batch.Terminated[i]) * Array.max next[i]
                    q[i][int batch.Actions[i]] - y)
            let huber d = if abs d <= 1.0 then 0.5 * d * d else abs d - 0.5
            let m = Learner.update { DqnConfig.defaults with Loss = TdLoss.Huber } s.Online s.Target s.Optimizer torch.CPU batch
            Expect.isTrue (closeTo 1e-5 (Array.averageBy huber errors) m.Loss) $"loss {m.Loss}"
            let meanQ = Array.init batch.Size (fun i -> q[i][int batch.Actions[i]]) |> Array.average
            Expect.isTrue (closeTo 1e-5 meanQ m.MeanQ) $"mean Q {m.MeanQ} vs {meanQ}"

        testCase "with DoubleDqn the loss uses the online network's choice valued by the target network" <| fun () ->
            use s = setup 1e-3
            // A target network that differs from the online one, so that the two targets differ.
            use _ = torch.NewDisposeScope()
            (use _ = torch.no_grad ()
             for p in parameters s.Target do
                 p.copy_ (p * 0.5 + 0.1) |> ignore)
            let batch = fixedBatch ()
            let q = qRows s.Online batch.Observations batch.Size
            let nextOnline = qRows s.Online batch.NextObservations batch.Size
            let nextTarget = qRows s.Target batch.NextObservations batch.Size
            let gamma = 0.9
            let errors =
                Array.init batch.Size (fun i ->
                    let pick = nextOnline[i] |> Array.indexed |> Array.maxBy snd |> fst
                    let y = float batch.Rewards[i] + gamma * (1.0 - float batch.Terminated[i]) * nextTarget[i][pick]
                    q[i][int batch.Actions[i]] - y)
            let config = { DqnConfig.defaults with DoubleDqn = true; Loss = TdLoss.Mse; Gamma = gamma }
            let m = Learner.update config s.Online s.Target s.Optimizer torch.CPU batch
            Expect.isTrue (closeTo 1e-5 (errors |> Array.averageBy (fun d -> d * d)) m.Loss) $"loss {m.Loss}"

        testCase "an update changes the online network and leaves the target network alone" <| fun () ->
            use s = setup 1e-3
            let onlineBefore = parameterValues s.Online
            let targetBefore = parameterValues s.Target
            Learner.update DqnConfig.defaults s.Online s.Target s.Optimizer torch.CPU (fixedBatch ()) |> ignore
            Expect.equal (parameterValues s.Target) targetBefore "parameterValues s.Target"
            for (b, a) in List.zip onlineBefore (parameterValues s.Online) do Expect.notEqual a b "a"
            for p in parameters s.Target do Expect.isTrue (isNull p.grad) "isNull p.grad"

        testCase "an update is deterministic for a given seed and batch" <| fun () ->
            let run () =
                use s = setup 1e-3
                for _ in 1..3 do
                    Learner.update DqnConfig.defaults s.Online s.Target s.Optimizer torch.CPU (fixedBatch ()) |> ignore
                parameterValues s.Online
            Expect.equal (run ()) (run ()) "run ()"

        testCase "the fused MLP update equals the autograd update for DQN and Double DQN targets, both losses, with clipping" <| fun () ->
            let batches = replayBatches 40
            for loss in [ TdLoss.Mse; TdLoss.Huber ] do
                for double in [ false; true ] do
                    // lr 1e-2 and a clip of 0.5 make every update large and clipped, so any mismatch compounds.
                    let config = { DqnConfig.defaults with Loss = loss; DoubleDqn = double; MaxGradNorm = Some 0.5 }
                    use fused = setup 1e-2
                    use reference = setup 1e-2
                    Expect.isTrue (Learner.fusable fused.Online fused.Target fused.Optimizer torch.CPU) "Learner.fusable fused.Online fused.Target fused.Optimizer..."
                    let start = parameterValues fused.Online
                    for b in batches do
                        let f = Learner.update config fused.Online fused.Target fused.Optimizer torch.CPU b
                        let r = Learner.updateAutograd config reference.Online reference.Target reference.Optimizer torch.CPU b
                        Expect.isTrue (closeTo 1e-5 r.Loss f.Loss) $"{loss} double={double}: loss {f.Loss} vs {r.Loss}"
                        Expect.isTrue (closeTo 1e-5 r.MeanQ f.MeanQ) $"{loss} double={double}: mean Q {f.MeanQ} vs {r.MeanQ}"
                    let moved = List.map2 (Array.map2 (fun a b -> abs (a - b))) start (parameterValues fused.Online) |> List.map Array.max |> List.max
                    Expect.isTrue (moved > 0.05) $"the parameters barely moved ({moved}): the comparison would prove nothing"
                    for a, b in List.zip (parameterValues fused.Online) (parameterValues reference.Online) do
                        Array.iter2 (fun (x: float) (y: float) -> Expect.isTrue (abs (x - y) <= 1e-5) $"{loss} double={double}: {x} vs {y}") a b

        testCase "only CPU MLPs trained with Adam take the fused path" <| fun () ->
            use s = setup 1e-3
            use rms = torch.optim.RMSProp(s.Online.parameters ())
            Expect.isTrue (Learner.fusable s.Online s.Target s.Optimizer torch.CPU) "Learner.fusable s.Online s.Target s.Optimizer torch.CPU"
            Expect.isFalse (Learner.fusable s.Online s.Target rms torch.CPU) "Learner.fusable s.Online s.Target rms torch.CPU"
            Expect.isFalse (Learner.fusable s.Online s.Target s.Optimizer (torch.Device(DeviceType.CUDA, 0))) "Learner.fusable s.Online s.Target s.Optimizer (torch.Devi..."
            use noBias = torch.nn.Sequential([ torch.nn.Linear(4L, 3L, hasBias = false) :> torch.nn.Module<Tensor, Tensor> ])
            Expect.isFalse (Learner.fusable noBias noBias s.Optimizer torch.CPU) "Learner.fusable noBias noBias s.Optimizer torch.CPU"
            use twoLinears = torch.nn.Sequential([ torch.nn.Linear(4L, 4L) :> torch.nn.Module<Tensor, Tensor>; torch.nn.Linear(4L, 3L) ])
            Expect.isFalse (Learner.fusable twoLinears twoLinears s.Optimizer torch.CPU) "Learner.fusable twoLinears twoLinears s.Optimizer torch.CPU"

        testCase "the fused update rejects a batch whose arrays disagree with its sizes" <| fun () ->
            use s = setup 1e-3
            let b = fixedBatch ()
            let short = { b with Observations = b.Observations[.. b.Observations.Length - 2] }
            let e = Expect.wantThrows<ArgumentException> (fun () -> Learner.update DqnConfig.defaults s.Online s.Target s.Optimizer torch.CPU short |> ignore) "ArgumentException"
            Expect.stringContains e.Message "Observations" "e.Message"

        testCase "an autograd update leaves no tensor behind" <| fun () ->
            use s = setup 1e-3
            use rms = torch.optim.RMSProp(s.Online.parameters ())
            Learner.update DqnConfig.defaults s.Online s.Target rms torch.CPU (fixedBatch ()) |> ignore
            let live = liveTensors ()
            for _ in 1..5 do
                Learner.update DqnConfig.defaults s.Online s.Target rms torch.CPU (fixedBatch ()) |> ignore
            Expect.equal (liveTensors ()) live "liveTensors ()"
    ]
