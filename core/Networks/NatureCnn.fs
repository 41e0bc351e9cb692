namespace Dqn.Fun

open System
open TorchSharp
open TorchSharp.Modules

/// The layers of the convolutional network of Mnih et al. 2015 ("Human-level control through deep
/// reinforcement learning", Methods: model architecture), shared by NatureCnn and NatureCnnTorso.
module internal NatureCnnLayers =

    /// Features the torso hands to the head: the 512 units of the fully connected layer.
    [<Literal>]
    let Features = 512

    /// Features of the flattened convolutions: 64 maps of 7x7.
    [<Literal>]
    let ConvFeatures = 3136

    /// conv 32 8x8/4, ReLU, conv 64 4x4/2, ReLU, conv 64 3x3/1, ReLU, flatten.
    let conv (frames: int) (device: Device) : torch.nn.Module<Tensor, Tensor> list =
        let conv2d (input: int64) (output: int64) (kernel: int64) (stride: int64) =
            Layers.built (fun () -> torch.nn.Conv2d(input, output, kernel, stride = stride, device = device))
        [ conv2d (int64 frames) 32L 8L 4L
          torch.nn.ReLU()
          conv2d 32L 64L 4L 2L
          torch.nn.ReLU()
          conv2d 64L 64L 3L 1L
          torch.nn.ReLU()
          torch.nn.Flatten() ]

    /// The convolutions, then FC 512, ReLU.
    let torso (frames: int) (device: Device) : torch.nn.Module<Tensor, Tensor> list =
        conv frames device @ [ torch.nn.Linear(int64 ConvFeatures, int64 Features, device = device); torch.nn.ReLU() ]

    let checkFrames (frames: int) =
        if frames <= 0 then raise (ArgumentOutOfRangeException("frames", frames, "frames must be positive"))

    /// Checks a [batch; frames; 84; 84] input and runs `body` on it, UInt8 pixels divided by 255 first.
    let forward (frames: int) (body: torch.nn.Module<Tensor, Tensor>) (x: Tensor) =
        let s = x.shape
        if s.Length <> 4 || s[1] <> int64 frames || s[2] <> 84L || s[3] <> 84L then
            invalidArg "x" $"NatureCnn expects [batch; {frames}; 84; 84], got {Tensors.shapeText s}"
        match x.dtype with
        | ScalarType.Byte ->
            use scope = torch.NewDisposeScope()
            body.call(x.to_type(ScalarType.Float32).div_ (255.0.ToScalar())).MoveToOuterDisposeScope()
        | ScalarType.Float32 -> body.call x
        | d -> invalidArg "x" $"NatureCnn expects Byte (uint8) or Float32 frames, got {d}"

/// The convolutional Q-network of Mnih et al. 2015 ("Human-level control through deep reinforcement
/// learning", Methods: model architecture): input [batch; 4; 84; 84] UInt8 frame stacks, scaled to [0, 1] on
/// the network's device; conv 32 filters 8x8 stride 4, ReLU; conv 64 4x4 stride 2, ReLU; conv 64 3x3
/// stride 1, ReLU; fully connected 512, ReLU; linear output [batch; actionCount] Float32. Parameter names
/// follow the equivalent torch.nn.Sequential (Conv2d 0, 2, 4; Linear 7, 9 after a Flatten at 6), so a
/// checkpoint loads into PyTorch as CleanRL's QNetwork.network does.
[<Sealed>]
type NatureCnn(actionCount: int, ?frames: int, ?device: Device) as this =
    inherit torch.nn.Module<Tensor, Tensor>("NatureCnn")
    do
        if actionCount <= 0 then raise (ArgumentOutOfRangeException("actionCount", actionCount, "actionCount must be positive"))
    let frames = defaultArg frames 4
    do NatureCnnLayers.checkFrames frames
    let device = defaultArg device torch.CPU
    let body =
        torch.nn.Sequential(
            NatureCnnLayers.torso frames device
            @ [ torch.nn.Linear(int64 NatureCnnLayers.Features, int64 actionCount, device = device) ]
        )
    // The Sequential's children are this module's ("0.weight", ...), as in CleanRL's QNetwork.network.
    do
        for struct (n, m) in body.named_children () do
            this.register_module (n, m)

    /// Components are registered by name in the constructor.
    override _.RegisterComponents() = ()

    /// Frames per stack (input channels).
    member _.Frames = frames
    member _.ActionCount = actionCount

    /// [batch; frames; 84; 84] UInt8 (or Float32 already in [0, 1]) -> [batch; actionCount] Float32.
    /// Raises ArgumentException for another shape; a UInt8 input is converted and divided by 255 here.
    override _.forward x = NatureCnnLayers.forward frames body x

/// The torso of NatureCnn without its output layer, for the variant heads (dueling, noisy, C51, QR over the
/// Nature network, as in Wang et al. 2016, Bellemare et al. 2017 and Hessel et al. 2018): input
/// [batch; frames; 84; 84] UInt8 (scaled by 1/255 here) or Float32, output [batch; 512] Float32 features;
/// with fullyConnected = false only the convolutions, [batch; 3136] (IQN's ψ, Dabney et al. 2018b).
/// Parameter names "0.weight", "2.weight", "4.weight", "7.weight" (and biases), as NatureCnn's.
[<Sealed>]
type NatureCnnTorso(?frames: int, ?device: Device, ?fullyConnected: bool) as this =
    inherit torch.nn.Module<Tensor, Tensor>("NatureCnnTorso")
    let frames = defaultArg frames 4
    do NatureCnnLayers.checkFrames frames
    let fc = defaultArg fullyConnected true
    let device = defaultArg device torch.CPU
    let body = torch.nn.Sequential(if fc then NatureCnnLayers.torso frames device else NatureCnnLayers.conv frames device)
    do
        for struct (n, m) in body.named_children () do
            this.register_module (n, m)

    /// Components are registered by name in the constructor.
    override _.RegisterComponents() = ()

    /// Frames per stack (input channels).
    member _.Frames = frames
    /// Output features: 512, or 3136 without the fully connected layer.
    member _.Features = if fc then NatureCnnLayers.Features else NatureCnnLayers.ConvFeatures
    override _.forward x = NatureCnnLayers.forward frames body x
