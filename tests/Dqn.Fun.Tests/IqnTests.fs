/// IQN (Dabney, Ostrovski, Silver and Munos 2018b): the cosine embedding, the network's layout, the loss against
/// scalar references, the learner, checkpoints and a seeded learning run on CartPole-v1.
module Dqn.Fun.Tests.IqnTests

open System
open System.Threading
open Expecto
open FsCheck
open FsCheck.FSharp
open Dqn.Fun
open TorchSharp
open Dqn.Fun.Tests.TorchTestSupport
open Dqn.Fun.Tests.TestConfig

/// A level in [0, 1) on a 1/1000 grid, as float32.
let private level = Gen.choose (0, 999) |> Gen.map (fun i -> float32 i / 1000.0f)

let private value = Gen.choose (-500, 500) |> Gen.map (fun i -> float32 i / 100.0f)

let private spec = { ObservationSize = 4; Hidden = [ 16; 8 ]; ActionCount = 3 }

/// An IQN network of the "iqn" preset's kind over `spec`, seeded.
let private network (config: DqnConfig) (seed: int64) =
    torch.manual_seed seed |> ignore
    Iqn.mlp config spec torch.CPU

let private iqnConfig = { DqnConfig.preset "iqn" with IqnEmbeddingDim = 8; IqnPolicyTauSamples = 5 }

type private LossCase =
    { Batch: int
      N: int
      NTarget: int
      Taus: float32[]
      Predicted: float32[]
      Next: float32[]
      Rewards: float32[]
      Discounts: float32[]
      Weights: float32[] }

let private lossCase =
    gen {
        let! b = Gen.choose (1, 6)
        let! n = Gen.choose (1, 10)
        let! n' = Gen.choose (1, 10)
        let! taus = Gen.arrayOfLength (b * n) level
        let! predicted = Gen.arrayOfLength (b * n) value
        let! next = Gen.arrayOfLength (b * n') value
        let! rewards = Gen.arrayOfLength b value
        // gamma^n (1 - terminated): 0 for terminal transitions, else in (0, 1].
        let! discounts = Gen.arrayOfLength b (Gen.elements [ 0.0f; 0.5f; 0.9f; 0.970299f; 0.99f; 1.0f ])
        let! weights = Gen.arrayOfLength b (Gen.choose (1, 200) |> Gen.map (fun i -> float32 i / 100.0f))
        return
            { Batch = b
              N = n
              NTarget = n'
              Taus = taus
              Predicted = predicted
              Next = next
              Rewards = rewards
              Discounts = discounts
              Weights = weights }
    }

/// Eq. 3 of Dabney et al. 2018b with kappa 1, one pair at a time in float64: sum over i, mean over j.
let private lossReference (c: LossCase) =
    let huber (u: float) = if abs u <= 1.0 then 0.5 * u * u else abs u - 0.5
    Array.init c.Batch (fun b ->
        let mutable total = 0.0
        for i in 0 .. c.N - 1 do
            let tau = float c.Taus[b * c.N + i]
            for j in 0 .. c.NTarget - 1 do
                let target = float c.Rewards[b] + float c.Discounts[b] * float c.Next[b * c.NTarget + j]
                let delta = target - float c.Predicted[b * c.N + i]
                total <- total + abs (tau - (if delta < 0.0 then 1.0 else 0.0)) * huber delta / float c.NTarget
        total)

type private LearnerSetup =
    { Online: torch.nn.Module<Tensor, Tensor>
      Target: torch.nn.Module<Tensor, Tensor>
      Optimizer: Modules.Adam }

    interface IDisposable with
        member s.Dispose() =
            s.Optimizer.Dispose()
            s.Online.Dispose()
            s.Target.Dispose()

let private learnerSetup (config: DqnConfig) =
    torch.manual_seed 0L |> ignore
    let online = QNetworks.create config spec torch.CPU
    let target = QNetworks.create config spec torch.CPU
    QNetwork.updateTarget 1.0 target online
    { Online = online; Target = target; Optimizer = torch.optim.Adam(online.parameters (), lr = 1e-3) }

/// LearnerTests' fixed batch (3 actions, some terminal), with 1- to 3-step transitions.
let private fixedBatch () =
    let b = LearnerTests.fixedBatch ()
    { b with Steps = Array.init b.Size (fun i -> 1 + i % 3) }

/// The network of the embedding property, one for all its cases: made at the first, disposed when the property ends.
let private embeddingNetwork = lazy (network iqnConfig 3L)

[<Tests>]
let tests =
    testList "Iqn" [
        testPropertyWithConfig fsCheck "cosines equal cos(pi i tau) for i = 0 .. n-1 (scalar reference of eq. 4)" (
            Prop.forAll (Arb.fromGen (Gen.zip3 (Gen.choose (1, 80)) (Gen.choose (1, 4)) (Gen.choose (1, 6)))) (fun (n, b, m) ->
                use _ = torch.NewDisposeScope()
                let taus = Array.init (b * m) (fun i -> float32 ((i * 7919) % 1000) / 1000.0f)
                let c = Iqn.cosines n (tensor taus [| int64 b; int64 m |])
                let expected =
                    [| for t in taus do
                           for i in 0 .. n - 1 -> Math.Cos(Math.PI * float i * float t) |]
                c.shape = [| int64 b; int64 m; int64 n |]
                && Array.forall2 (fun e a -> abs (e - a) <= 5e-5) expected (floats c))
        )

        testPropertyWithConfig (disposingAfter embeddingNetwork fsCheck) "the embedding is ReLU(sum_i cos(pi i tau) w_ij + b_j) (eq. 4), element by element" (
            Prop.forAll (Arb.fromGen (Gen.arrayOfLength 5 level)) (fun taus ->
                let net = embeddingNetwork.Value
                use _ = torch.NewDisposeScope()
                let phi = net.embed (tensor taus [| 5L |])
                let w = floats net.embedding.weight // [features; n]
                let bias = floats net.embedding.bias
                let n, features = net.embedding_dim, net.features
                let expected =
                    [| for t in taus do
                           for j in 0 .. features - 1 ->
                               let s = Seq.sum (seq { for i in 0 .. n - 1 -> Math.Cos(Math.PI * float i * float t) * w[j * n + i] })
                               max 0.0 (s + bias[j]) |]
                phi.shape = [| 5L; int64 features |] && Array.forall2 (fun e a -> abs (e - a) <= 1e-4) expected (floats phi))
        )

        testCase "forward(x, taus) is [batch; actions; N] with element [b, a, i] = head(torso(x_b) * phi(taus[b, i]))_a" <| fun () ->
            use net = network iqnConfig 5L
            use _ = torch.NewDisposeScope()
            let rng = Random 5
            let b, n = 3, 4
            let x = tensor (Array.init (b * 4) (fun _ -> float32 (rng.NextDouble() * 2.0 - 1.0))) [| int64 b; 4L |]
            let taus = Array.init (b * n) (fun _ -> float32 (rng.NextDouble()))
            let z = net.forward (x, (tensor taus [| int64 b; int64 n |]))
            Expect.equal z.shape [| int64 b; 3L; int64 n |] "z.shape"
            let zs = floats z
            let psi = net.torso.forward x
            for row in 0 .. b - 1 do
                for i in 0 .. n - 1 do
                    // The same level alone, through the pieces by hand.
                    let phi = net.embed (tensor [| taus[row * n + i] |] [| 1L |])
                    let one = floats (net.head.forward (psi.index_select (0L, vector [| int64 row |]) * phi))
                    for a in 0 .. 2 do
                        Expect.isTrue (closeTo 1e-5 one[a] zs[(row * 3 + a) * n + i]) $"b {row}, a {a}, i {i}: {one[a]} vs {zs[(row * 3 + a) * n + i]}"

        testCase "forward x samples K levels per input; Deterministic uses the K midpoints and draws nothing from the generator" <| fun () ->
            use net = network iqnConfig 7L
            use _ = torch.NewDisposeScope()
            let x = f32 [ 2L; 4L ] [ 0.1f; -0.2f; 0.3f; 0.05f; -0.4f; 0.2f; 0.0f; 0.1f ]
            let sampled1 = floats (net.forward x)
            let sampled2 = floats (net.forward x)
            Expect.equal sampled1.Length (2 * 3 * 5) "sampled1.Length"
            Expect.notEqual sampled2 sampled1 "sampled2"
            net.Deterministic <- true
            torch.manual_seed 99L |> ignore
            let fixed1 = floats (net.forward x)
            let fixed2 = floats (net.forward x)
            let nextDraw = (torch.rand [| 1L |]).item<float32> ()
            torch.manual_seed 99L |> ignore
            Expect.equal ((torch.rand [| 1L |]).item<float32> ()) nextDraw "(torch.rand [| 1L |]).item<float32> ()"
            Expect.equal fixed2 fixed1 "fixed2"
            let midpoints = tensor [| 0.1f; 0.3f; 0.5f; 0.7f; 0.9f |] [| 1L; 5L |]
            let byHand = floats (net.forward (x, torch.cat ([| midpoints; midpoints |], 0L)))
            assertAllClose 1e-6 byHand fixed1
            net.Deterministic <- false
            Expect.notEqual (floats (net.forward x)) fixed1 "floats (net.forward x)"

        testPropertyWithConfig fsCheck "the IQN loss equals a scalar double-loop reference on random batches (taus, discounts, weights)" (
            Prop.forAll (Arb.fromGen lossCase) (fun c ->
                use _ = torch.NewDisposeScope()
                let b, n, n' = int64 c.Batch, int64 c.N, int64 c.NTarget
                let args () =
                    (tensor c.Taus [| b; n |]),
                    (tensor c.Predicted [| b; n |]),
                    (tensor c.Rewards [| b |]),
                    (tensor c.Discounts [| b |]),
                    (tensor c.Next [| b; n' |])
                let taus, predicted, rewards, discounts, next = args ()
                let losses = Iqn.losses taus predicted rewards discounts next
                let expected = lossReference c
                let weighted = Array.map2 (fun l w -> l * float w) expected c.Weights |> Array.average
                losses.shape = [| b |]
                && Array.forall2 (fun e a -> closeTo 1e-5 e a) expected (floats losses)
                && closeTo 1e-5 (Array.average expected) ((Iqn.loss taus predicted rewards discounts next null).ToDouble())
                && closeTo 1e-5 weighted ((Iqn.loss taus predicted rewards discounts next (tensor c.Weights [| b |])).ToDouble()))
        )

        testPropertyWithConfig fsCheck "huberLossesAt at the midpoints equals QR-DQN's huberLosses" (
            Prop.forAll (Arb.fromGen (Gen.zip3 (Gen.choose (1, 5)) (Gen.choose (1, 9)) (Gen.choose (1, 9)))) (fun (b, n, n') ->
                use _ = torch.NewDisposeScope()
                let rng = Random(b * 100 + n * 10 + n')
                let p = tensor (Array.init (b * n) (fun _ -> float32 (rng.NextDouble() * 6.0 - 3.0))) [| int64 b; int64 n |]
                let t = tensor (Array.init (b * n') (fun _ -> float32 (rng.NextDouble() * 6.0 - 3.0))) [| int64 b; int64 n' |]
                let taus = (Quantile.midpoints n torch.CPU).unsqueeze 0L + torch.zeros [| int64 b; int64 n |]
                Array.forall2 (closeTo 1e-6) (floats (Quantile.huberLosses 1.0 p t)) (floats (Quantile.huberLossesAt 1.0 taus p t)))
        )

        testCase "with one level at the median (N = N' = 1, tau = 0.5) the loss is half the Huber loss of the TD error" <| fun () ->
            use _ = torch.NewDisposeScope()
            // delta = r + d z' - z for (r, d, z', z) = (1, 0.9, 2, 0.5) -> 2.3; (0, 0.5, -1, 0.2) -> -0.7; terminal (3, 0, 9, 3.1) -> -0.1
            let losses =
                Iqn.losses (f32 [ 3L; 1L ] [ 0.5f; 0.5f; 0.5f ]) (f32 [ 3L; 1L ] [ 0.5f; 0.2f; 3.1f ]) (f32 [ 3L ] [ 1f; 0f; 3f ]) (f32 [ 3L ] [ 0.9f; 0.5f; 0f ]) (f32 [ 3L; 1L ] [ 2f; -1f; 9f ])
            let halfHuber (d: float) = 0.5 * (if abs d <= 1.0 then 0.5 * d * d else abs d - 0.5)
            assertAllClose 1e-6 [| halfHuber 2.3; halfHuber -0.7; halfHuber -0.1 |] (floats losses)
            // The documented example of huberLossesAt.
            assertAllClose 1e-6 [| 1.125 |] (floats (Quantile.huberLossesAt 1.0 (f32 [ 1L; 1L ] [ 0.25f ]) (f32 [ 1L; 1L ] [ 0f ]) (f32 [ 1L; 1L ] [ -2f ])))

        testCase "gradients of the IQN loss reach the torso, the embedding and the head, not the targets" <| fun () ->
            use net = network iqnConfig 11L
            use _ = torch.NewDisposeScope()
            let x = f32 [ 2L; 4L ] [ 0.1f; -0.2f; 0.3f; 0.05f; -0.4f; 0.2f; 0.0f; 0.1f ]
            let taus = f32 [ 2L; 2L ] [ 0.2f; 0.7f; 0.4f; 0.9f ]
            let z = net.forward (x, taus)
            let predicted = z.gather(1L, torch.zeros ([| 2L; 1L; 2L |], ScalarType.Int64)).squeeze 1L
            let next = f32 [ 2L; 3L ] [ 5f; 6f; 7f; -5f; -6f; -7f ]
            next.requires_grad <- true
            (Iqn.loss taus predicted (f32 [ 2L ] [ 1f; 1f ]) (f32 [ 2L ] [ 0.9f; 0.9f ]) next null).backward ()
            for name, p in namedParameters net do
                let g = p.grad
                Expect.isTrue (not (isNull g) && (floats g |> Array.exists (fun v -> v <> 0.0))) $"{name} got no gradient"
            Expect.isTrue (isNull next.grad) "isNull next.grad"
            Expect.contains (namedParameters net |> List.map fst) "embedding.weight" "namedParameters net |> List.map fst"

        testCase "learner updates with an IQN head (also Double, dueling, noisy, weighted) reduce the loss, fill priorities and free every tensor" <| fun () ->
            for config in
                [ iqnConfig
                  { iqnConfig with DoubleDqn = true; Dueling = true }
                  { iqnConfig with Noisy = true; IqnTauSamples = 3; IqnTargetTauSamples = 5 } ] do
                use s = learnerSetup config
                let batch = fixedBatch ()
                let discounts = Learner.discounts 0.9 batch
                let weights = Array.init batch.Size (fun i -> 0.5f + float32 (i % 4) / 4.0f)
                let priorities = Array.create batch.Size -1.0f
                settle ()
                let live = liveTensors ()
                let losses =
                    [ for _ in 1..300 -> (Learner.learn config s.Online s.Target s.Optimizer torch.CPU null batch discounts weights priorities).Loss ]
                Expect.equal (liveTensors ()) live "liveTensors ()"
                for p in priorities do Expect.isTrue (p >= 0.0f && Single.IsFinite p) "p >= 0.0f && Single.IsFinite p"
                let early = losses |> List.take 20 |> List.average
                let late = losses |> List.skip 280 |> List.average
                Expect.isTrue (late < 0.5 * early) $"%A{config.Dueling}/%A{config.Noisy}: loss {early} -> {late}"

        testCase "QNetworks.create builds an ImplicitQuantileNetwork whose Q-values are [batch; actions]" <| fun () ->
            use net = QNetworks.create iqnConfig spec torch.CPU
            use _ = torch.NewDisposeScope()
            Expect.equal (net.GetType()) typeof<ImplicitQuantileNetwork> "the IQN network's type"
            let iqn = net :?> ImplicitQuantileNetwork
            Expect.equal iqn.policy_samples 5 "iqn.policy_samples"
            Expect.equal (QNetworks.atomsOf iqnConfig) 5 "QNetworks.atomsOf iqnConfig"
            let x = f32 [ 2L; 4L ] [ 0.1f; -0.2f; 0.3f; 0.05f; -0.4f; 0.2f; 0.0f; 0.1f ]
            Expect.equal ((QNetworks.qValues ValueHead.Implicit null (net.forward x)).shape) [| 2L; 3L |] "(QNetworks.qValues ValueHead.Implicit null (net.forward x..."
            let names = namedParameters net |> List.map fst
            Expect.equal
                names
                [ "torso.0.weight"; "torso.0.bias"; "embedding.weight"; "embedding.bias"; "head.0.weight"; "head.0.bias"; "head.2.weight"; "head.2.bias" ]
                "names"

        testCase "an IQN agent saves and loads with the same deterministic Q-values" <| fun () ->
            let dir, cleanup = tempFolder ()
            use _ = cleanup
            let path = IO.Path.Combine(dir, "iqn.safetensors")
            let config = { iqnConfig with Hidden = [ 16; 8 ]; IqnEmbeddingDim = 12; IqnPolicyTauSamples = 7 }
            use agent = new Agent(config, 4, 3)
            agent.Save path
            use loaded = Agent.Load path
            Expect.equal loaded.Config.Head ValueHead.Implicit "loaded.Config.Head"
            Expect.equal loaded.Config.IqnEmbeddingDim 12 "loaded.Config.IqnEmbeddingDim"
            Expect.equal loaded.Config.IqnPolicyTauSamples 7 "loaded.Config.IqnPolicyTauSamples"
            use _ = torch.NewDisposeScope()
            let x = f32 [ 1L; 4L ] [ 0.1f; -0.2f; 0.3f; 0.05f ]
            let q (a: Agent) =
                QNetworks.setDeterministic a.Network true
                floats (a.Network.forward x)
            assertAllClose 1e-7 (q agent) (q loaded)

        testCase "IQN combined with dueling, noisy, Double, 3-step and prioritized replay learns, evaluates and disposes without leaking" <| fun () ->
            settle ()
            let start = liveTensors ()
            (let config =
                { iqnConfig with
                    Hidden = [ 16 ]
                    Dueling = true
                    Noisy = true
                    DoubleDqn = true
                    NStep = 3
                    Prioritized = true
                    LearningStarts = 50
                    BatchSize = 16
                    BufferSize = 500
                    EvalInterval = 100
                    EvalEpisodes = 1 }
             use agent = new Agent(config, 4, 2)
             let after = liveTensors ()
             let summary = agent.Learn(CartPoleEnvironment(), 150L, evalEnv = CartPoleEnvironment())
             Expect.isTrue (summary.Updates > 0L) "summary.Updates > 0L"
             Expect.equal (liveTensors ()) after "liveTensors ()")
            settle ()
            Expect.equal (liveTensors ()) start "liveTensors ()"

        testCase "evaluation is reproducible and does not change the course of training" <| fun () ->
            let run (evaluateBetween: bool) =
                use agent = new Agent({ iqnConfig with LearningStarts = 50; BatchSize = 16; EvalInterval = 0 }, 4, 2)
                let env = CartPoleEnvironment()
                agent.Learn(env, 120L) |> ignore
                let e1 = if evaluateBetween then Some(agent.Evaluate(CartPoleEnvironment(), 2)) else None
                let e2 = if evaluateBetween then Some(agent.Evaluate(CartPoleEnvironment(), 2)) else None
                agent.Learn(env, 120L) |> ignore
                e1, e2, parameters agent.Network |> List.map floats
            let e1, e2, withEval = run true
            let _, _, without = run false
            Expect.equal e2.Value.Returns e1.Value.Returns "e2.Value.Returns"
            Expect.equal withEval without "withEval"

        testCase "bad IQN arguments and configs are refused naming the value" <| fun () ->
            use net = network iqnConfig 1L
            use _ = torch.NewDisposeScope()
            let x = f32 [ 2L; 4L ] [ 0f; 0f; 0f; 0f; 0f; 0f; 0f; 0f ]
            let argError name f = Expect.equal (Expect.wantThrowsAny<ArgumentException> (fun () -> f () |> ignore) "ArgumentException").ParamName name "ParamName"
            argError "taus" (fun () -> net.forward (x, f32 [ 3L; 1L ] [ 0.5f; 0.5f; 0.5f ]))
            argError "taus" (fun () -> net.forward (x, f32 [ 2L ] [ 0.5f; 0.5f ]))
            argError "n" (fun () -> Iqn.cosines 0 (f32 [ 1L ] [ 0.5f ]))
            argError "online" (fun () -> Iqn.network "online" (QNetwork.mlp spec torch.CPU))
            let p = f32 [ 2L; 1L ] [ 0f; 0f ]
            argError "rewards" (fun () -> Iqn.losses p p (f32 [ 3L ] [ 0f; 0f; 0f ]) (f32 [ 2L ] [ 1f; 1f ]) p)
            argError "taus" (fun () -> Iqn.losses (f32 [ 2L; 2L ] [ 0f; 0f; 0f; 0f ]) p (f32 [ 2L ] [ 0f; 0f ]) (f32 [ 2L ] [ 1f; 1f ]) p)
            argError "weights" (fun () -> Iqn.loss p p (f32 [ 2L ] [ 0f; 0f ]) (f32 [ 2L ] [ 1f; 1f ]) p (f32 [ 3L ] [ 1f; 1f; 1f ]))
            for field, config in
                [ "IqnTauSamples", { iqnConfig with IqnTauSamples = 0 }
                  "IqnTargetTauSamples", { iqnConfig with IqnTargetTauSamples = -1 }
                  "IqnPolicyTauSamples", { iqnConfig with IqnPolicyTauSamples = 0 }
                  "IqnEmbeddingDim", { iqnConfig with IqnEmbeddingDim = 0 } ] do
                let e = Expect.wantThrows<ArgumentOutOfRangeException> (fun () -> DqnConfig.validate config |> ignore) "ArgumentOutOfRangeException"
                Expect.equal e.ParamName field "e.ParamName"
            let e = Expect.wantThrows<ArgumentException> (fun () -> DqnConfig.validate { iqnConfig with Hidden = [] } |> ignore) "ArgumentException"
            Expect.equal e.ParamName "Hidden" "e.ParamName"
            Expect.stringContains e.Message "Implicit" "e.Message"
            // Atoms does not matter to IQN.
            DqnConfig.validate { iqnConfig with Atoms = 1 } |> ignore

        /// IQN with the "iqn" preset (N = N' = 8, K = 32, 64 cosines on the CartPole defaults), seed 1 as the other
        /// variants' tests, reaches a greedy evaluation (20 episodes every 2500 agent steps) of 475 on CartPole-v1 within
        /// 30 000 agent steps. The run stops at the first evaluation that reaches it, so it costs only the steps needed.
        testCase "IQN learns CartPole-v1" <| fun () ->
            let config = { DqnConfig.preset "iqn" with Seed = 1 }
            use agent = new Agent(config, 4, 2)
            use cts = new CancellationTokenSource()
            let evaluations = Collections.Generic.List<int64 * float>()
            let observer =
                function
                | Evaluated e ->
                    evaluations.Add((e.Step, e.MeanReturn))
                    if e.MeanReturn >= 475.0 then cts.Cancel()
                | _ -> ()
            try
                agent.Learn(CartPoleEnvironment(), 30_000L, CartPoleEnvironment(), observer, cts.Token) |> ignore
            with :? OperationCanceledException ->
                ()
            printfn $"""iqn, seed 1: evaluations {String.Join(", ", evaluations |> Seq.map (fun (s, r) -> $"{s}: {r:F0}"))}"""
            let best = evaluations |> Seq.map snd |> Seq.max
            Expect.isTrue (best >= 475.0) $"iqn: best greedy evaluation {best:F1} < 475: %A{List.ofSeq evaluations}"
    ]
