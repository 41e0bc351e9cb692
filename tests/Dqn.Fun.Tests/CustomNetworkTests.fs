/// Modules the library has never seen, written in F#: a torso of our own under the library's heads (Torso.Custom),
/// and a whole Q-network of our own in an Agent (QNetworkSource.Network).
module Dqn.Fun.Tests.CustomNetworkTests

open System
open System.IO
open Expecto
open TorchSharp
open Dqn.Fun
open Dqn.Fun.Tests.TorchTestSupport

/// A torso of our own: Linear-Tanh-LayerNorm-Linear-Tanh, [batch; inputs] -> [batch; features]. Its parameters are
/// named after its fields: fc1.*, norm.*, fc2.*.
type SmallTorso(inputs: int, features: int) as this =
    inherit torch.nn.Module<Tensor, Tensor>("SmallTorso")
    let fc1 = torch.nn.Linear(int64 inputs, 32L)
    let norm = torch.nn.LayerNorm([| 32L |])
    let fc2 = torch.nn.Linear(32L, int64 features)
    do this.RegisterComponents()

    override _.forward x =
        use scope = torch.NewDisposeScope()
        fc2.call(norm.call (fc1.call(x).tanh ())).tanh().MoveToOuterDisposeScope()

/// A whole Q-network of our own: a residual MLP with LayerNorm, [batch; inputs] -> [batch; actions].
type ResidualQNetwork(inputs: int, actions: int) as this =
    inherit torch.nn.Module<Tensor, Tensor>("ResidualQNetwork")
    let input = torch.nn.Linear(int64 inputs, 64L)
    let block = torch.nn.Linear(64L, 64L)
    let norm = torch.nn.LayerNorm([| 64L |])
    let output = torch.nn.Linear(64L, int64 actions)
    do this.RegisterComponents()

    override _.forward x =
        use scope = torch.NewDisposeScope()
        let h = input.call(x).relu ()
        output.call(norm.call (h + block.call(h).relu ())).MoveToOuterDisposeScope()

let private observationSize, actionCount, features = 4, 3, 16

let private smallTorso () =
    Torso.Custom(Func<torch.nn.Module<Tensor, Tensor>>(fun () -> new SmallTorso(observationSize, features)), features)

/// The library's heads over a torso of our own (classic-control settings, small sizes), and the output shape each
/// must give for a batch of 5.
let private heads =
    let d = { DqnConfig.defaults with Hidden = [ 16 ] }
    [ "dueling", { d with Dueling = true }, [| 5L; 3L |]
      "noisy", { d with Noisy = true; Exploration = Schedule.constant 0.0 }, [| 5L; 3L |]
      "c51", { d with Head = ValueHead.Categorical; Atoms = 11; VMin = -10.0; VMax = 10.0 }, [| 5L; 3L; 11L |]
      "qr", { d with Head = ValueHead.Quantile; Atoms = 8 }, [| 5L; 3L; 8L |]
      "iqn", { DqnConfig.preset "iqn" with Hidden = [ 16 ]; IqnEmbeddingDim = 8; IqnPolicyTauSamples = 5 }, [| 5L; 3L; 5L |] ]

// ---- a whole Q-network of our own in an Agent ----------------------------------------------------------------

let private residualNetwork (actions: int) =
    QNetworkSource.Network(Func<torch.nn.Module<Tensor, Tensor>>(fun () -> new ResidualQNetwork(25, actions)))

/// LearningTests' GridWorld settings, under which plain DQN walks the shortest path after 3000 agent steps.
let private gridConfig = gridWorldConfig

let private greedyActions (agent: Agent) =
    [ for row in 0..4 do
          for column in 0..4 -> agent.Act(GridWorld.observation 5 { Row = row; Column = column }) ]

[<Tests>]
let tests =
    testList "CustomNetwork" [
        testCase "a torso of our own sits under the dueling, noisy, C51, QR and IQN heads with its parameters named torso.*" <| fun () ->
            let torsoNames =
                use t = new SmallTorso(observationSize, features)
                namedParameters t |> List.map fst
            Expect.equal torsoNames [ "fc1.weight"; "fc1.bias"; "norm.weight"; "norm.bias"; "fc2.weight"; "fc2.bias" ] "torsoNames"
            for name, config, shape in heads do
                torch.manual_seed 0L |> ignore
                use network = QNetworks.createFor config (smallTorso ()) actionCount torch.CPU
                use _ = torch.NewDisposeScope()
                let output = network.call (torch.randn [| 5L; int64 observationSize |])
                Expect.isTrue (shape = output.shape) $"{name}: output {Tensors.shapeText output.shape}, expected {Tensors.shapeText shape}"
                let q = QNetworks.qValues config.Head (QNetworks.supportOf config torch.CPU) output
                Expect.isTrue ([| 5L; 3L |] = q.shape) $"{name}: Q-values {Tensors.shapeText q.shape}"
                let names = namedParameters network |> List.map fst
                let underTorso = names |> List.filter (fun n -> n.StartsWith "torso.")
                Expect.isTrue (torsoNames |> List.map (fun n -> "torso." + n) = underTorso) $"""{name}: torso parameters {String.Join(", ", underTorso)}"""
                Expect.isTrue (names.Length > underTorso.Length) $"{name}: no head parameters"

        testCase "a Learner.learn update trains a torso of our own under every head" <| fun () ->
            let batch = LearnerTests.fixedBatch ()
            let discounts = Learner.discounts 0.9 batch
            for name, config, _ in heads do
                torch.manual_seed 0L |> ignore
                let create () = QNetworks.createFor config (smallTorso ()) actionCount torch.CPU
                use online = create ()
                use target = QNetworks.targetOf create online
                use optimizer = torch.optim.Adam(online.parameters (), lr = 1e-2)
                use support = QNetworks.ownedSupportOf config torch.CPU
                let torsoValues () =
                    namedParameters online |> List.filter (fun (n, _) -> n.StartsWith "torso.") |> List.map (fun (n, p) -> n, floats p)
                let before = torsoValues ()
                let targetBefore = parameters target |> List.map floats
                let m = Learner.learn config online target optimizer torch.CPU support batch discounts null null
                Expect.isTrue (Double.IsFinite m.Loss) $"{name}: loss {m.Loss}"
                for (n, b), (_, a) in List.zip before (torsoValues ()) do
                    Expect.isTrue (Array.exists2 (<>) b a) $"{name}: {n} did not change"
                Expect.equal (parameters target |> List.map floats) targetBefore "parameters target |> List.map floats"

        testCase "a Q-network of our own learns GridWorld-v0 in an Agent, saves as a custom checkpoint and loads into a fresh agent" <| fun () ->
            let dir, cleanup = tempFolder ()
            use _ = cleanup
            let path = Path.Combine(dir, "residual.safetensors")
            use agent = new Agent(gridConfig, 25, 4, residualNetwork 4)
            Expect.equal (agent.Network.GetType()) typeof<ResidualQNetwork> "agent.Network"
            Expect.equal (agent.TargetNetwork.GetType()) typeof<ResidualQNetwork> "agent.TargetNetwork"
            agent.Learn(GridWorldEnvironment(), 3_000L) |> ignore
            // The threshold of plain DQN in LearningTests: the greedy policy walks the shortest path (8 steps) to the goal.
            let result = agent.Evaluate(GridWorldEnvironment(), 1)
            Expect.equal (result.Returns[0]) 1.0 "result.Returns[0]"
            Expect.equal (result.Lengths[0]) 8 "result.Lengths[0]"
            agent.Save path
            let file = Safetensors.load path torch.CPU
            for _, t in file.Tensors do
                t.Dispose()
            Expect.equal (file.Metadata.TryFind "format") (Some Checkpoint.FormatCustom) "file.Metadata.TryFind \"format\""
            Expect.equal (file.Tensors |> List.map fst) (namedParameters agent.Network |> List.map fst) "file.Tensors |> List.map fst"
            let e = Expect.wantThrows<InvalidDataException> (fun () -> Checkpoint.loadAny path torch.CPU |> ignore) "InvalidDataException"
            Expect.stringContains e.Message "loadInto" "e.Message"
            use fresh = new Agent({ gridConfig with Seed = 7 }, 25, 4, residualNetwork 4)
            Expect.notEqual (parameters fresh.Network |> List.map floats) (parameters agent.Network |> List.map floats) "parameters fresh.Network |> List.map floats"
            fresh.LoadParameters path |> ignore
            Expect.equal (greedyActions fresh) (greedyActions agent) "greedyActions fresh"
            Expect.equal (parameters fresh.TargetNetwork |> List.map floats) (parameters fresh.Network |> List.map floats) "parameters fresh.TargetNetwork |> List.map floats"

        testCase "a Q-network of our own with the wrong output shape is rejected with an ArgumentException naming both shapes" <| fun () ->
            let e = Expect.wantThrows<ArgumentException> (fun () -> new Agent(gridConfig, 25, 4, residualNetwork 3) |> ignore) "ArgumentException"
            Expect.equal e.ParamName "source" "e.ParamName"
            Expect.stringContains e.Message "[1; 3]" "e.Message"
            Expect.stringContains e.Message "[1; 4]" "e.Message"
            let c51 = { gridConfig with Head = ValueHead.Categorical; Atoms = 11 }
            let e = Expect.wantThrows<ArgumentException> (fun () -> new Agent(c51, 25, 4, residualNetwork 4) |> ignore) "ArgumentException"
            Expect.stringContains e.Message "[1; 4; 11]" "e.Message"
    ]
