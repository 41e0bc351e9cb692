module Dqn.Fun.Tests.CheckpointTests

open System
open System.IO
open Expecto
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

let private metadataFor (s: QNetworkSpec) =
    Map
        [ "format", Checkpoint.Format
          "observation_size", string s.ObservationSize
          "hidden", String.Join(",", s.Hidden)
          "action_count", string s.ActionCount ]

[<Tests>]
let tests =
    testList "Checkpoint" [
        testCase "a saved network loads with identical parameters and Q-values" <| fun () ->
            let dir, cleanup = tempFolder ()
            use _ = cleanup
            let path = Path.Combine(dir, "q.safetensors")
            torch.manual_seed 3L |> ignore
            use net = QNetwork.mlp spec torch.CPU
            Checkpoint.save path spec DqnConfig.defaults net Map.empty
            let loadedSpec, loaded, _ = Checkpoint.load path torch.CPU
            use _ = loaded
            Expect.equal loadedSpec spec "loadedSpec"
            Expect.equal (parameterValues loaded) (parameterValues net) "parameterValues loaded"
            Expect.equal (qValues loaded) (qValues net) "qValues loaded"
            for p in parameters loaded do Expect.isTrue p.requires_grad "p.requires_grad"

        testCase "the metadata records the format and the architecture beside extra keys" <| fun () ->
            let dir, cleanup = tempFolder ()
            use _ = cleanup
            let path = Path.Combine(dir, "q.safetensors")
            use net = QNetwork.mlp spec torch.CPU
            Checkpoint.save path spec DqnConfig.defaults net (Map [ "steps", "1234" ])
            let file = Safetensors.load path torch.CPU
            for _, t in file.Tensors do
                t.Dispose()
            let md = file.Metadata
            Expect.equal (md.TryFind "format") (Some Checkpoint.Format) "md.TryFind \"format\""
            Expect.equal (md.TryFind "observation_size") (Some "4") "md.TryFind \"observation_size\""
            Expect.equal (md.TryFind "hidden") (Some "16,8") "md.TryFind \"hidden\""
            Expect.equal (md.TryFind "action_count") (Some "3") "md.TryFind \"action_count\""
            Expect.equal (md.TryFind "steps") (Some "1234") "md.TryFind \"steps\""
            let _, loaded, loadedMd = Checkpoint.load path torch.CPU
            loaded.Dispose()
            Expect.equal loadedMd md "loadedMd"

        testCase "a Nature CNN checkpoint keeps its stack depth in stack_frames and a run's frame count in frames" <| fun () ->
            let dir, cleanup = tempFolder ()
            use _ = cleanup
            let path = Path.Combine(dir, "cnn.safetensors")
            use net = QNetworks.createFor DqnConfig.defaults (Torso.NatureCnn 3) 6 torch.CPU
            Checkpoint.saveFor path (Torso.NatureCnn 3) 6 DqnConfig.defaults net (Map [ "frames", "1234567"; "failed", "true" ])
            let file = Safetensors.load path torch.CPU
            for _, t in file.Tensors do
                t.Dispose()
            Expect.equal (file.Metadata.TryFind "format") (Some Checkpoint.FormatNatureCnn) "format"
            Expect.equal (file.Metadata.TryFind "stack_frames") (Some "3") "stack_frames"
            Expect.equal (file.Metadata.TryFind "frames") (Some "1234567") "frames, the run's count, not overwritten"
            Expect.equal (file.Metadata.TryFind "failed") (Some "true") "failed, kept"
            let torso, actionCount, loaded, _ = Checkpoint.loadAny path torch.CPU
            use _ = loaded
            Expect.equal torso (Torso.NatureCnn 3) "torso"
            Expect.equal actionCount 6 "actionCount"
            Expect.equal (parameterValues loaded) (parameterValues net) "parameters"

        testCase "a network without hidden layers round-trips" <| fun () ->
            let dir, cleanup = tempFolder ()
            use _ = cleanup
            let path = Path.Combine(dir, "q.safetensors")
            let linear = { spec with Hidden = [] }
            use net = QNetwork.mlp linear torch.CPU
            Checkpoint.save path linear DqnConfig.defaults net Map.empty
            let loadedSpec, loaded, _ = Checkpoint.load path torch.CPU
            use _ = loaded
            Expect.equal loadedSpec linear "loadedSpec"
            Expect.equal (qValues loaded) (qValues net) "qValues loaded"

        testCase "loading leaves only the new network's parameters alive" <| fun () ->
            let dir, cleanup = tempFolder ()
            use _ = cleanup
            let path = Path.Combine(dir, "q.safetensors")
            (use net = QNetwork.mlp spec torch.CPU
             Checkpoint.save path spec DqnConfig.defaults net Map.empty)
            settle ()
            let before = liveTensors ()
            let _, loaded, _ = Checkpoint.load path torch.CPU
            Expect.equal (liveTensors ()) (before + 6L) "liveTensors ()"
            loaded.Dispose()
            Expect.equal (liveTensors ()) before "liveTensors ()"

        testCase "a safetensors file that is not a Dqn.Fun checkpoint is InvalidDataException naming the format" <| fun () ->
            let dir, cleanup = tempFolder ()
            use _ = cleanup
            let path = Path.Combine(dir, "other.safetensors")
            (use _ = torch.NewDisposeScope()
             Safetensors.save path [ "weight", f32 [ 2L ] [ 1f; 2f ] ] (Map [ "format", "pt" ]))
            let e = Expect.wantThrows<InvalidDataException> (fun () -> Checkpoint.load path torch.CPU |> ignore) "InvalidDataException"
            Expect.stringContains e.Message path "e.Message"
            Expect.stringContains e.Message "not a Dqn.Fun Q-network checkpoint" "e.Message"
            Expect.stringContains e.Message Checkpoint.Format "e.Message"
            Expect.stringContains e.Message "pt" "e.Message"
            (use _ = torch.NewDisposeScope()
             Safetensors.save path [ "weight", f32 [ 2L ] [ 1f; 2f ] ] Map.empty)
            let e = Expect.wantThrows<InvalidDataException> (fun () -> Checkpoint.load path torch.CPU |> ignore) "InvalidDataException"
            Expect.stringContains e.Message "not a Dqn.Fun Q-network checkpoint" "e.Message"

        testCase "a file that is not safetensors at all is InvalidDataException" <| fun () ->
            let dir, cleanup = tempFolder ()
            use _ = cleanup
            let path = Path.Combine(dir, "junk.safetensors")
            File.WriteAllText(path, "this is not a checkpoint")
            Expect.throwsT<InvalidDataException> (fun () -> Checkpoint.load path torch.CPU |> ignore) "InvalidDataException"

        testCase "tensors that do not match the recorded architecture are rejected without leaking" <| fun () ->
            let dir, cleanup = tempFolder ()
            use _ = cleanup
            let path = Path.Combine(dir, "q.safetensors")
            (use net = QNetwork.mlp spec torch.CPU
             // The file claims hidden sizes [16; 4] but holds the tensors of [16; 8].
             Safetensors.save path (namedParameters net) (metadataFor { spec with Hidden = [ 16; 4 ] }))
            settle ()
            let before = liveTensors ()
            let e = Expect.wantThrows<InvalidDataException> (fun () -> Checkpoint.load path torch.CPU |> ignore) "InvalidDataException"
            Expect.stringContains e.Message "do not match the recorded architecture" "e.Message"
            Expect.stringContains e.Message "2.weight" "e.Message"
            Expect.equal (liveTensors ()) before "liveTensors ()"

        testCase "a file with a missing tensor or missing architecture keys is rejected" <| fun () ->
            let dir, cleanup = tempFolder ()
            use _ = cleanup
            let path = Path.Combine(dir, "q.safetensors")
            (use net = QNetwork.mlp spec torch.CPU
             Safetensors.save path (namedParameters net |> List.take 5) (metadataFor spec))
            let e = Expect.wantThrows<InvalidDataException> (fun () -> Checkpoint.load path torch.CPU |> ignore) "InvalidDataException"
            Expect.stringContains e.Message "do not match the recorded architecture" "e.Message"
            (use net = QNetwork.mlp spec torch.CPU
             Safetensors.save path (namedParameters net) (metadataFor spec |> Map.remove "action_count"))
            let e = Expect.wantThrows<InvalidDataException> (fun () -> Checkpoint.load path torch.CPU |> ignore) "InvalidDataException"
            Expect.stringContains e.Message "action_count" "e.Message"
            (use net = QNetwork.mlp spec torch.CPU
             Safetensors.save path (namedParameters net) (metadataFor spec |> Map.add "hidden" "16,x"))
            let e = Expect.wantThrows<InvalidDataException> (fun () -> Checkpoint.load path torch.CPU |> ignore) "InvalidDataException"
            Expect.stringContains e.Message "hidden" "e.Message"

        testCase "Agent.Save then Agent.Load acts identically" <| fun () ->
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
            Expect.equal loaded.Config.Hidden [ 32 ] "loaded.Config.Hidden"
            Expect.equal loaded.Spec agent.Spec "loaded.Spec"
            Expect.equal (qValues loaded.Network) (qValues agent.Network) "qValues loaded.Network"
            let actions (a: Agent) = [ for i in 0..49 -> a.Act(observations[i * 4 .. i * 4 + 3]) ]
            Expect.equal (actions loaded) (actions agent) "actions loaded"
    ]
