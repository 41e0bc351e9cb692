/// Checkpoints written by the old libtorch 1.13 binding (fixtures/oldbinding, see its README.md) load on TorchSharp
/// and compute what the old binding computed: the same Q-values within float32 rounding and the same greedy actions.
module Dqn.Fun.Tests.CheckpointCompatibilityTests

open System
open System.IO
open Expecto
open TorchSharp
open Dqn.Fun
open Dqn.Fun.Tests.TorchTestSupport

let private fixture (file: string) = Path.Combine(AppContext.BaseDirectory, "fixtures", "oldbinding", file)

[<Tests>]
let tests =
    testList "CheckpointCompatibility" [
        testList "a checkpoint of the old binding gives its Q-values and greedy actions" [
            for name in [ "mlp"; "dueling_c51"; "nature_cnn" ] ->
                testCase name <| fun () ->
                    let torso, actionCount, network, metadata = Checkpoint.loadAny (fixture $"{name}.safetensors") torch.CPU
                    use _ = network
                    let expected = Safetensors.load (fixture $"{name}.expected.safetensors") torch.CPU
                    let byName = Map expected.Tensors
                    try
                        let config = Checkpoint.withArchitecture metadata DqnConfig.defaults
                        use _ = torch.no_grad ()
                        use _ = torch.NewDisposeScope()
                        QNetworks.setDeterministic network true
                        let support = QNetworks.supportOf config torch.CPU
                        let q = QNetworks.qValues config.Head support (network.call byName["input"])
                        let expectedQ = byName["q"]
                        Expect.equal q.shape [| expectedQ.shape[0]; int64 actionCount |] "q.shape"
                        Expect.equal q.shape expectedQ.shape "q.shape"
                        // float32, 1e-5 relative: libtorch 2.10 may sum in another order than 1.13 did. Relative to the batch's largest
                        // |Q| at least, since a sum's rounding error scales with its terms, not with its (possibly cancelling) total.
                        let e, a = floats expectedQ, floats q
                        let scale = e |> Array.map abs |> Array.max
                        for i in 0 .. e.Length - 1 do
                            let tolerance = 1e-5 * max (abs e[i]) scale
                            Expect.isTrue (abs (a[i] - e[i]) <= tolerance) $"{name}: Q-value {i}: expected {e[i]:R}, got {a[i]:R} (tolerance {tolerance:E2})"
                        Expect.equal (values<int64> (q.argmax 1L)) (values<int64> byName["greedy"]) "values<int64> (q.argmax 1L)"
                        match name, torso with
                        | "nature_cnn", Torso.NatureCnn 4 -> ()
                        | "mlp", Torso.Mlp(4, [ 128; 128 ]) -> ()
                        | "dueling_c51", Torso.Mlp(4, [ 64; 64 ]) -> Expect.isTrue (config.Dueling && config.Head = ValueHead.Categorical) "config.Dueling && config.Head = ValueHead.Categorical"
                        | _ -> failtest $"{name}: unexpected torso {torso}"
                    finally
                        for _, t in expected.Tensors do
                            t.Dispose()
        ]
    ]
