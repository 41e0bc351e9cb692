module Dqn.Fun.Tests.NatureCnnTests

open System
open Expecto
open TorchSharp
open Dqn.Fun
open Dqn.Fun.Tests.TorchTestSupport

[<Tests>]
let tests =
    testList "NatureCnn" [
        testCase "the Nature CNN has Mnih et al.'s layers under torch.nn.Sequential's names" <| fun () ->
            torch.manual_seed 0L |> ignore
            use net = new NatureCnn(6)
            let shapes = namedParameters net |> List.map (fun (n, p) -> n, List.ofArray p.shape)
            Expect.equal
                shapes
                [ "0.weight", [ 32L; 4L; 8L; 8L ]
                  "0.bias", [ 32L ]
                  "2.weight", [ 64L; 32L; 4L; 4L ]
                  "2.bias", [ 64L ]
                  "4.weight", [ 64L; 64L; 3L; 3L ]
                  "4.bias", [ 64L ]
                  "7.weight", [ 512L; 3136L ]
                  "7.bias", [ 512L ]
                  "9.weight", [ 6L; 512L ]
                  "9.bias", [ 6L ] ]
                "shapes"
            // 1,687,206 parameters for 6 actions, the figure usually quoted for the Nature network.
            Expect.equal (parameters net |> List.sumBy (fun p -> p.numel ())) 1_687_206L "parameters net |> List.sumBy (fun p -> p.numel ())"

        testCase "uint8 frames are scaled by 1/255 on the way in" <| fun () ->
            torch.manual_seed 1L |> ignore
            use net = new NatureCnn(4)
            use _ = torch.no_grad ()
            use scope = torch.NewDisposeScope()
            let rng = Random 3
            let pixels = Array.init (2 * 4 * 84 * 84) (fun _ -> byte (rng.Next 256))
            let fromBytes = net.forward (tensor pixels [| 2L; 4L; 84L; 84L |])
            let scaled = tensor (pixels |> Array.map (fun b -> float32 b / 255.0f)) [| 2L; 4L; 84L; 84L |]
            let fromFloats = net.forward scaled
            Expect.equal fromBytes.shape [| 2L; 4L |] "fromBytes.shape"
            Array.iter2 (fun (a: float32) b -> Expect.isTrue (abs (a - b) < 1e-5f) $"{a} vs {b}") (values<float32> fromBytes) (values<float32> fromFloats)

        testCase "a wrong input shape or dtype names the expected shape" <| fun () ->
            use net = new NatureCnn(4)
            use scope = torch.NewDisposeScope()
            let e = Expect.wantThrows<ArgumentException> (fun () -> net.forward (torch.zeros ([| 1L; 4L; 80L; 80L |], ScalarType.Byte)) |> ignore) "ArgumentException"
            Expect.stringContains e.Message "[batch; 4; 84; 84]" "e.Message"
            Expect.throwsT<ArgumentException> (fun () -> net.forward (torch.zeros ([| 1L; 4L; 84L; 84L |], ScalarType.Int64)) |> ignore) "ArgumentException"
            Expect.equal (Expect.wantThrows<ArgumentOutOfRangeException> (fun () -> new NatureCnn(0) |> ignore) "ArgumentOutOfRangeException").ParamName "actionCount" "ParamName"
    ]
