module Dqn.Fun.Tests.CheckpointTests

open System
open System.IO
open Xunit
open Dqn.Fun
open TorchSharp
open Dqn.Fun.Tests.TorchTestSupport

let private spec = { ObservationSize = 4; Hidden = [ 16; 8 ]; ActionCount = 3 }

let private observations =
    let rng = Random 21
    Array.init (50 * 4) (fun _ -> float32 (rng.NextDouble() * 4.0 - 2.0))

let private qValues (net: torch.nn.Module<Tensor, Tensor>) =
    use _ = torch.no_grad ()
    use _ = torch.NewDisposeScope()
    values<float32> (net.forward (tensor observations [| 50L; 4L |]))

let private parameterValues (net: torch.nn.Module) = namedParameters net |> List.map (fun (n, p) -> n, values<float32> p)

[<Fact>]
let ``a saved network loads with identical parameters and Q-values`` () =
    let dir, cleanup = tempFolder ()
    use _ = cleanup
    let path = Path.Combine(dir, "q.safetensors")
    torch.manual_seed 3L |> ignore
    use net = QNetwork.mlp spec torch.CPU
    Checkpoint.save path spec DqnConfig.defaults net Map.empty
    let loadedSpec, loaded, _ = Checkpoint.load path torch.CPU
    use _ = loaded
    Assert.Equal(spec, loadedSpec)
    Assert.Equal<(string * float32[]) list>(parameterValues net, parameterValues loaded)
    Assert.Equal<float32[]>(qValues net, qValues loaded)
    Assert.All(parameters loaded, fun p -> Assert.True(p.requires_grad))

[<Fact>]
let ``the metadata records the format and the architecture beside extra keys`` () =
    let dir, cleanup = tempFolder ()
    use _ = cleanup
    let path = Path.Combine(dir, "q.safetensors")
    use net = QNetwork.mlp spec torch.CPU
    Checkpoint.save path spec DqnConfig.defaults net (Map [ "steps", "1234" ])
    let file = Safetensors.load path torch.CPU
    for _, t in file.Tensors do
        t.Dispose()
    let md = file.Metadata
    Assert.Equal(Some Checkpoint.Format, md.TryFind "format")
    Assert.Equal(Some "4", md.TryFind "observation_size")
    Assert.Equal(Some "16,8", md.TryFind "hidden")
    Assert.Equal(Some "3", md.TryFind "action_count")
    Assert.Equal(Some "1234", md.TryFind "steps")
    let _, loaded, loadedMd = Checkpoint.load path torch.CPU
    loaded.Dispose()
    Assert.Equal<Map<string, string>>(md, loadedMd)

[<Fact>]
let ``a network without hidden layers round-trips`` () =
    let dir, cleanup = tempFolder ()
    use _ = cleanup
    let path = Path.Combine(dir, "q.safetensors")
    let linear = { spec with Hidden = [] }
    use net = QNetwork.mlp linear torch.CPU
    Checkpoint.save path linear DqnConfig.defaults net Map.empty
    let loadedSpec, loaded, _ = Checkpoint.load path torch.CPU
    use _ = loaded
    Assert.Equal(linear, loadedSpec)
    Assert.Equal<float32[]>(qValues net, qValues loaded)

[<Fact>]
let ``loading leaves only the new network's parameters alive`` () =
    let dir, cleanup = tempFolder ()
    use _ = cleanup
    let path = Path.Combine(dir, "q.safetensors")
    (use net = QNetwork.mlp spec torch.CPU
     Checkpoint.save path spec DqnConfig.defaults net Map.empty)
    settle ()
    let before = liveTensors ()
    let _, loaded, _ = Checkpoint.load path torch.CPU
    Assert.Equal(before + 6L, liveTensors ())
    loaded.Dispose()
    Assert.Equal(before, liveTensors ())

[<Fact>]
let ``a safetensors file that is not a Dqn.Fun checkpoint is InvalidDataException naming the format`` () =
    let dir, cleanup = tempFolder ()
    use _ = cleanup
    let path = Path.Combine(dir, "other.safetensors")
    (use _ = torch.NewDisposeScope()
     Safetensors.save path [ "weight", f32 [ 2L ] [ 1f; 2f ] ] (Map [ "format", "pt" ]))
    let e = Assert.Throws<InvalidDataException>(fun () -> Checkpoint.load path torch.CPU |> ignore)
    Assert.Contains(path, e.Message)
    Assert.Contains("not a Dqn.Fun Q-network checkpoint", e.Message)
    Assert.Contains(Checkpoint.Format, e.Message)
    Assert.Contains("pt", e.Message)
    (use _ = torch.NewDisposeScope()
     Safetensors.save path [ "weight", f32 [ 2L ] [ 1f; 2f ] ] Map.empty)
    let e = Assert.Throws<InvalidDataException>(fun () -> Checkpoint.load path torch.CPU |> ignore)
    Assert.Contains("not a Dqn.Fun Q-network checkpoint", e.Message)

[<Fact>]
let ``a file that is not safetensors at all is InvalidDataException`` () =
    let dir, cleanup = tempFolder ()
    use _ = cleanup
    let path = Path.Combine(dir, "junk.safetensors")
    File.WriteAllText(path, "this is not a checkpoint")
    Assert.Throws<InvalidDataException>(fun () -> Checkpoint.load path torch.CPU |> ignore) |> ignore

let private metadataFor (s: QNetworkSpec) =
    Map
        [ "format", Checkpoint.Format
          "observation_size", string s.ObservationSize
          "hidden", String.Join(",", s.Hidden)
          "action_count", string s.ActionCount ]

[<Fact>]
let ``tensors that do not match the recorded architecture are rejected without leaking`` () =
    let dir, cleanup = tempFolder ()
    use _ = cleanup
    let path = Path.Combine(dir, "q.safetensors")
    (use net = QNetwork.mlp spec torch.CPU
     // The file claims hidden sizes [16; 4] but holds the tensors of [16; 8].
     Safetensors.save path (namedParameters net) (metadataFor { spec with Hidden = [ 16; 4 ] }))
    settle ()
    let before = liveTensors ()
    let e = Assert.Throws<InvalidDataException>(fun () -> Checkpoint.load path torch.CPU |> ignore)
    Assert.Contains("do not match the recorded architecture", e.Message)
    Assert.Contains("2.weight", e.Message)
    Assert.Equal(before, liveTensors ())

[<Fact>]
let ``a file with a missing tensor or missing architecture keys is rejected`` () =
    let dir, cleanup = tempFolder ()
    use _ = cleanup
    let path = Path.Combine(dir, "q.safetensors")
    (use net = QNetwork.mlp spec torch.CPU
     Safetensors.save path (namedParameters net |> List.take 5) (metadataFor spec))
    let e = Assert.Throws<InvalidDataException>(fun () -> Checkpoint.load path torch.CPU |> ignore)
    Assert.Contains("do not match the recorded architecture", e.Message)
    (use net = QNetwork.mlp spec torch.CPU
     Safetensors.save path (namedParameters net) (metadataFor spec |> Map.remove "action_count"))
    let e = Assert.Throws<InvalidDataException>(fun () -> Checkpoint.load path torch.CPU |> ignore)
    Assert.Contains("action_count", e.Message)
    (use net = QNetwork.mlp spec torch.CPU
     Safetensors.save path (namedParameters net) (metadataFor spec |> Map.add "hidden" "16,x"))
    let e = Assert.Throws<InvalidDataException>(fun () -> Checkpoint.load path torch.CPU |> ignore)
    Assert.Contains("hidden", e.Message)

[<Fact>]
let ``Agent.Save then Agent.Load acts identically`` () =
    let dir, cleanup = tempFolder ()
    use _ = cleanup
    let path = Path.Combine(dir, "agent.safetensors")
    let config =
        { DqnConfig.defaults with
            Hidden = [ 32 ]
            LearningStarts = 100
            BatchSize = 32
            BufferSize = 1_000
            EvalInterval = 0 }
    use agent = new Agent(config, 4, 2)
    agent.Learn(CartPoleEnvironment(), 400L) |> ignore
    agent.Save path
    use loaded = Agent.Load(path)
    Assert.Equal<int list>([ 32 ], loaded.Config.Hidden)
    Assert.Equal(agent.Spec, loaded.Spec)
    Assert.Equal<float32[]>(qValues agent.Network, qValues loaded.Network)
    let actions (a: Agent) = [ for i in 0..49 -> a.Act(observations[i * 4 .. i * 4 + 3]) ]
    Assert.Equal<int list>(actions agent, actions loaded)
