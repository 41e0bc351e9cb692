module Dqn.Fun.Atari.Tests.PreprocessingTests

open System
open FsCheck
open FsCheck.FSharp
open Xunit
open Dqn.Fun.Atari

let private bytes n = Gen.arrayOfLength n (Gen.choose (0, 255) |> Gen.map byte)

[<Fact>]
let ``luminance is OpenCV's 14-bit fixed-point BT.601 formula`` () =
    Assert.Equal(255uy, Grayscale.luminance 255uy 255uy 255uy)
    Assert.Equal(76uy, Grayscale.luminance 255uy 0uy 0uy)
    Assert.Equal(150uy, Grayscale.luminance 0uy 255uy 0uy)
    Assert.Equal(29uy, Grayscale.luminance 0uy 0uy 255uy)
    Assert.Equal<byte[]>([| 150uy; 10uy |], Grayscale.rgbToGray [| 0uy; 255uy; 0uy; 10uy; 10uy; 10uy |])

[<Fact>]
let ``gray of an equal-channel pixel is that value`` () =
    Check.One(Config.QuickThrowOnFailure, Prop.forAll (Arb.fromGen (Gen.choose (0, 255))) (fun v ->
        let b = byte v
        Grayscale.luminance b b b = b))

[<Fact>]
let ``rgbToGray checks lengths and names the argument`` () =
    let e = Assert.Throws<ArgumentException>(fun () -> Grayscale.rgbToGray (Array.zeroCreate 4) |> ignore)
    Assert.Equal("rgb", e.ParamName)
    Assert.Contains("4", e.Message)
    let e = Assert.Throws<ArgumentException>(fun () -> Grayscale.rgbToGrayInto (Array.zeroCreate 6) (Array.zeroCreate 3))
    Assert.Equal("gray", e.ParamName)
    Assert.Throws<ArgumentNullException>(fun () -> Grayscale.rgbToGray null |> ignore) |> ignore

[<Fact>]
let ``max-pool is the elementwise max, commutative and idempotent`` () =
    let gen = Gen.choose (0, 100) |> Gen.bind (fun n -> Gen.zip (bytes n) (bytes n))
    Check.One(Config.QuickThrowOnFailure, Prop.forAll (Arb.fromGen gen) (fun (a, b) ->
        let m = MaxPool.max a b
        m = Array.map2 max a b && m = MaxPool.max b a && MaxPool.max a a = a))

[<Fact>]
let ``max-pool rejects frames of different lengths`` () =
    let e = Assert.Throws<ArgumentException>(fun () -> MaxPool.max [| 1uy |] [| 1uy; 2uy |] |> ignore)
    Assert.Equal("b", e.ParamName)
    Assert.Contains("2", e.Message)

[<Fact>]
let ``area resize to the same size is the identity`` () =
    let resizer = AreaResize.create 7 5 7 5
    Check.One(Config.QuickThrowOnFailure, Prop.forAll (Arb.fromGen (bytes 35)) (fun src -> AreaResize.resize resizer src = src))

[<Fact>]
let ``area resize keeps a constant image constant`` () =
    Check.One(Config.QuickThrowOnFailure, Prop.forAll (Arb.fromGen (Gen.choose (0, 255))) (fun v ->
        let out = AreaResize.resize AreaResize.atari84 (Array.create (210 * 160) (byte v))
        out.Length = 84 * 84 && out |> Array.forall ((=) (byte v))))

[<Fact>]
let ``area resize of 2x2 to 1x1 rounds the mean half to even`` () =
    Assert.Equal<byte[]>([| 2uy |], AreaResize.resize (AreaResize.create 2 2 1 1) [| 1uy; 2uy; 3uy; 4uy |])
    Assert.Equal<byte[]>([| 4uy |], AreaResize.resize (AreaResize.create 2 2 1 1) [| 3uy; 4uy; 5uy; 6uy |])

[<Fact>]
let ``area resize checks sizes and lengths, naming the argument`` () =
    Assert.Equal("targetWidth", Assert.Throws<ArgumentOutOfRangeException>(fun () -> AreaResize.create 10 10 5 11 |> ignore).ParamName)
    Assert.Equal("sourceHeight", Assert.Throws<ArgumentOutOfRangeException>(fun () -> AreaResize.create 0 10 5 5 |> ignore).ParamName)
    let e = Assert.Throws<ArgumentException>(fun () -> AreaResize.resize AreaResize.atari84 (Array.zeroCreate 100) |> ignore)
    Assert.Equal("source", e.ParamName)
    Assert.Contains("[210; 160]", e.Message)
    Assert.Equal(84, AreaResize.atari84.TargetHeight)

[<Fact>]
let ``a frame stack keeps the last 4 frames oldest to newest with either padding`` () =
    let frame (v: int) = Array.create 3 (byte v)
    let stack = FrameStack(4, 3)
    stack.Reset(Zeros, frame 9)
    Assert.Equal<byte[]>(Array.concat [ frame 0; frame 0; frame 0; frame 9 ], stack.ToArray())
    stack.Push(frame 1)
    Assert.Equal<byte[]>(Array.concat [ frame 0; frame 0; frame 9; frame 1 ], stack.ToArray())
    stack.Reset(RepeatFirst, frame 7)
    Assert.Equal<byte[]>(Array.concat [ frame 7; frame 7; frame 7; frame 7 ], stack.ToArray())
    for v in 1..6 do
        stack.Push(frame v)
    Assert.Equal<byte[]>(Array.concat [ frame 3; frame 4; frame 5; frame 6 ], stack.ToArray())

[<Fact>]
let ``a frame stack copies what it is given`` () =
    let stack = FrameStack(2, 2)
    let first = [| 1uy; 2uy |]
    stack.Reset(RepeatFirst, first)
    first[0] <- 99uy
    Assert.Equal<byte[]>([| 1uy; 2uy; 1uy; 2uy |], stack.ToArray())
    Assert.Equal(4 * 84 * 84, (FrameStack.atari ()).ToArray().Length)

[<Fact>]
let ``a frame stack checks its arguments`` () =
    Assert.Equal("depth", Assert.Throws<ArgumentOutOfRangeException>(fun () -> FrameStack(0, 3) |> ignore).ParamName)
    let stack = FrameStack(4, 3)
    Assert.Equal("frame", Assert.Throws<ArgumentException>(fun () -> stack.Push(Array.zeroCreate 2)).ParamName)
    Assert.Equal("destination", Assert.Throws<ArgumentException>(fun () -> stack.CopyTo(Array.zeroCreate 2)).ParamName)

[<Fact>]
let ``reward clipping is the sign; the per-frame variant sums signs`` () =
    Assert.Equal(-1, RewardClip.sign -7)
    Assert.Equal(0, RewardClip.sign 0)
    Assert.Equal(1, RewardClip.sign 200)
    Assert.Equal(1, RewardClip.sumOfSigns [| 3; -1; 0; 2 |])
    Check.One(Config.QuickThrowOnFailure, Prop.forAll (Arb.fromGen (Gen.arrayOf (Gen.choose (-1000, 1000)))) (fun rs ->
        let s = RewardClip.sumOfSigns rs
        abs s <= rs.Length && abs (RewardClip.sign (Array.sum rs)) <= 1))
