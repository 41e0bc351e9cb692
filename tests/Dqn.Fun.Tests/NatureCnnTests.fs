module Dqn.Fun.Tests.NatureCnnTests

open System
open Xunit
open TorchSharp
open Dqn.Fun
open Dqn.Fun.Tests.TorchTestSupport

[<Fact>]
let ``the Nature CNN has Mnih et al.'s layers under torch.nn.Sequential's names`` () =
    torch.manual_seed 0L |> ignore
    use net = new NatureCnn(6)
    let shapes = namedParameters net |> List.map (fun (n, p) -> n, List.ofArray p.shape)
    Assert.Equal<(string * int64 list) list>(
        [ "0.weight", [ 32L; 4L; 8L; 8L ]
          "0.bias", [ 32L ]
          "2.weight", [ 64L; 32L; 4L; 4L ]
          "2.bias", [ 64L ]
          "4.weight", [ 64L; 64L; 3L; 3L ]
          "4.bias", [ 64L ]
          "7.weight", [ 512L; 3136L ]
          "7.bias", [ 512L ]
          "9.weight", [ 6L; 512L ]
          "9.bias", [ 6L ] ],
        shapes
    )
    // 1,687,206 parameters for 6 actions, the figure usually quoted for the Nature network.
    Assert.Equal(1_687_206L, parameters net |> List.sumBy (fun p -> p.numel ()))

[<Fact>]
let ``uint8 frames are scaled by 1/255 on the way in`` () =
    torch.manual_seed 1L |> ignore
    use net = new NatureCnn(4)
    use _ = torch.no_grad ()
    use scope = torch.NewDisposeScope()
    let rng = Random 3
    let pixels = Array.init (2 * 4 * 84 * 84) (fun _ -> byte (rng.Next 256))
    let fromBytes = net.forward (tensor pixels [| 2L; 4L; 84L; 84L |])
    let scaled = tensor (pixels |> Array.map (fun b -> float32 b / 255.0f)) [| 2L; 4L; 84L; 84L |]
    let fromFloats = net.forward scaled
    Assert.Equal<int64[]>([| 2L; 4L |], fromBytes.shape)
    Array.iter2 (fun (a: float32) b -> Assert.True(abs (a - b) < 1e-5f, $"{a} vs {b}")) (values<float32> fromBytes) (values<float32> fromFloats)

[<Fact>]
let ``a wrong input shape or dtype names the expected shape`` () =
    use net = new NatureCnn(4)
    use scope = torch.NewDisposeScope()
    let e = Assert.Throws<ArgumentException>(fun () -> net.forward (torch.zeros ([| 1L; 4L; 80L; 80L |], ScalarType.Byte)) |> ignore)
    Assert.Contains("[batch; 4; 84; 84]", e.Message)
    Assert.Throws<ArgumentException>(fun () -> net.forward (torch.zeros ([| 1L; 4L; 84L; 84L |], ScalarType.Int64)) |> ignore) |> ignore
    Assert.Equal("actionCount", Assert.Throws<ArgumentOutOfRangeException>(fun () -> new NatureCnn(0) |> ignore).ParamName)
