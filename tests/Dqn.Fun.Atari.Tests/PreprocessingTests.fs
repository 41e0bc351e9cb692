module Dqn.Fun.Atari.Tests.PreprocessingTests

open System
open Expecto
open FsCheck
open FsCheck.FSharp
open Dqn.Fun.Atari
open Dqn.Fun.Tests
open Dqn.Fun.Tests.TestConfig

let private bytes n = Gen.arrayOfLength n (Gen.choose (0, 255) |> Gen.map byte)

[<Tests>]
let tests =
    testList "Preprocessing" [
        testCase "luminance is OpenCV's 14-bit fixed-point BT.601 formula" <| fun () ->
            Expect.equal (Grayscale.luminance 255uy 255uy 255uy) 255uy "white"
            Expect.equal (Grayscale.luminance 255uy 0uy 0uy) 76uy "red"
            Expect.equal (Grayscale.luminance 0uy 255uy 0uy) 150uy "green"
            Expect.equal (Grayscale.luminance 0uy 0uy 255uy) 29uy "blue"
            Expect.equal (Grayscale.rgbToGray [| 0uy; 255uy; 0uy; 10uy; 10uy; 10uy |]) [| 150uy; 10uy |] "Grayscale.rgbToGray"

        testPropertyWithConfig fsCheck "gray of an equal-channel pixel is that value" (
            Prop.forAll (Arb.fromGen (Gen.choose (0, 255))) (fun v ->
                let b = byte v
                Grayscale.luminance b b b = b)
        )

        testCase "rgbToGray checks lengths and names the argument" <| fun () ->
            let e = Expect.wantThrows<ArgumentException> (fun () -> Grayscale.rgbToGray (Array.zeroCreate 4) |> ignore) "rgbToGray of 4 bytes"
            Expect.equal e.ParamName "rgb" "e.ParamName"
            Expect.stringContains e.Message "4" "e.Message"
            let e = Expect.wantThrows<ArgumentException> (fun () -> Grayscale.rgbToGrayInto (Array.zeroCreate 6) (Array.zeroCreate 3)) "rgbToGrayInto a 3-byte gray"
            Expect.equal e.ParamName "gray" "e.ParamName"
            Expect.throwsT<ArgumentNullException> (fun () -> Grayscale.rgbToGray null |> ignore) "rgbToGray null"

        testPropertyWithConfig fsCheck "max-pool is the elementwise max, commutative and idempotent" (
            let gen = Gen.choose (0, 100) |> Gen.bind (fun n -> Gen.zip (bytes n) (bytes n))
            Prop.forAll (Arb.fromGen gen) (fun (a, b) ->
                let m = MaxPool.max a b
                m = Array.map2 max a b && m = MaxPool.max b a && MaxPool.max a a = a)
        )

        testCase "max-pool rejects frames of different lengths" <| fun () ->
            let e = Expect.wantThrows<ArgumentException> (fun () -> MaxPool.max [| 1uy |] [| 1uy; 2uy |] |> ignore) "MaxPool.max of 1 and 2 bytes"
            Expect.equal e.ParamName "b" "e.ParamName"
            Expect.stringContains e.Message "2" "e.Message"

        testPropertyWithConfig fsCheck "area resize to the same size is the identity" (
            let resizer = AreaResize.create 7 5 7 5
            Prop.forAll (Arb.fromGen (bytes 35)) (fun src -> AreaResize.resize resizer src = src)
        )

        testPropertyWithConfig fsCheck "area resize keeps a constant image constant" (
            Prop.forAll (Arb.fromGen (Gen.choose (0, 255))) (fun v ->
                let out = AreaResize.resize AreaResize.atari84 (Array.create (210 * 160) (byte v))
                out.Length = 84 * 84 && out |> Array.forall ((=) (byte v)))
        )

        testCase "area resize of 2x2 to 1x1 rounds the mean half to even" <| fun () ->
            Expect.equal (AreaResize.resize (AreaResize.create 2 2 1 1) [| 1uy; 2uy; 3uy; 4uy |]) [| 2uy |] "mean 2.5"
            Expect.equal (AreaResize.resize (AreaResize.create 2 2 1 1) [| 3uy; 4uy; 5uy; 6uy |]) [| 4uy |] "mean 4.5"

        testCase "area resize checks sizes and lengths, naming the argument" <| fun () ->
            let e = Expect.wantThrows<ArgumentOutOfRangeException> (fun () -> AreaResize.create 10 10 5 11 |> ignore) "AreaResize.create 10 10 5 11"
            Expect.equal e.ParamName "targetWidth" "e.ParamName"
            let e = Expect.wantThrows<ArgumentOutOfRangeException> (fun () -> AreaResize.create 0 10 5 5 |> ignore) "AreaResize.create 0 10 5 5"
            Expect.equal e.ParamName "sourceHeight" "e.ParamName"
            let e = Expect.wantThrows<ArgumentException> (fun () -> AreaResize.resize AreaResize.atari84 (Array.zeroCreate 100) |> ignore) "resize of 100 bytes"
            Expect.equal e.ParamName "source" "e.ParamName"
            Expect.stringContains e.Message "[210; 160]" "e.Message"
            Expect.equal AreaResize.atari84.TargetHeight 84 "AreaResize.atari84.TargetHeight"

        testCase "a frame stack keeps the last 4 frames oldest to newest with either padding" <| fun () ->
            let frame (v: int) = Array.create 3 (byte v)
            let stack = FrameStack(4, 3)
            stack.Reset(Zeros, frame 9)
            Expect.equal (stack.ToArray()) (Array.concat [ frame 0; frame 0; frame 0; frame 9 ]) "after a zero-padded reset"
            stack.Push(frame 1)
            Expect.equal (stack.ToArray()) (Array.concat [ frame 0; frame 0; frame 9; frame 1 ]) "after a push"
            stack.Reset(RepeatFirst, frame 7)
            Expect.equal (stack.ToArray()) (Array.concat [ frame 7; frame 7; frame 7; frame 7 ]) "after a repeat-padded reset"
            for v in 1..6 do
                stack.Push(frame v)
            Expect.equal (stack.ToArray()) (Array.concat [ frame 3; frame 4; frame 5; frame 6 ]) "after 6 pushes"

        testCase "a frame stack copies what it is given" <| fun () ->
            let stack = FrameStack(2, 2)
            let first = [| 1uy; 2uy |]
            stack.Reset(RepeatFirst, first)
            first[0] <- 99uy
            Expect.equal (stack.ToArray()) [| 1uy; 2uy; 1uy; 2uy |] "stack.ToArray()"
            Expect.equal ((FrameStack.atari ()).ToArray().Length) (4 * 84 * 84) "(FrameStack.atari ()).ToArray().Length"

        testCase "a frame stack checks its arguments" <| fun () ->
            let e = Expect.wantThrows<ArgumentOutOfRangeException> (fun () -> FrameStack(0, 3) |> ignore) "FrameStack(0, 3)"
            Expect.equal e.ParamName "depth" "e.ParamName"
            let stack = FrameStack(4, 3)
            let e = Expect.wantThrows<ArgumentException> (fun () -> stack.Push(Array.zeroCreate 2)) "Push of 2 bytes"
            Expect.equal e.ParamName "frame" "e.ParamName"
            let e = Expect.wantThrows<ArgumentException> (fun () -> stack.CopyTo(Array.zeroCreate 2)) "CopyTo 2 bytes"
            Expect.equal e.ParamName "destination" "e.ParamName"

        testCase "reward clipping is the sign; the per-frame variant sums signs" <| fun () ->
            Expect.equal (RewardClip.sign -7) -1 "RewardClip.sign -7"
            Expect.equal (RewardClip.sign 0) 0 "RewardClip.sign 0"
            Expect.equal (RewardClip.sign 200) 1 "RewardClip.sign 200"
            Expect.equal (RewardClip.sumOfSigns [| 3; -1; 0; 2 |]) 1 "RewardClip.sumOfSigns [| 3; -1; 0; 2 |]"
            // The property beside the known values, as in one test case: FsCheck's own run, which throws on failure.
            Check.One(
                Config.QuickThrowOnFailure,
                Prop.forAll (Arb.fromGen (Gen.arrayOf (Gen.choose (-1000, 1000)))) (fun rs ->
                    let s = RewardClip.sumOfSigns rs
                    abs s <= rs.Length && abs (RewardClip.sign (Array.sum rs)) <= 1)
            )
    ]
