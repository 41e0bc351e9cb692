module Dqn.Fun.Tests.VideoTests

open System
open System.IO
open System.Text
open Expecto
open Dqn.Fun
open Dqn.Fun.Bench

let private pixel (frame: byte[]) (width: int) (row: int) (column: int) =
    let i = (row * width + column) * 3
    { Render.R = frame[i]; Render.G = frame[i + 1]; Render.B = frame[i + 2] }

let private cartPoleState x theta : CartPole.State = { X = x; XDot = 0.0; Theta = theta; ThetaDot = 0.0 }

/// A sink keeping the frame count (and a copy of the first frame) of every episode it wants.
type CountingSink(wanted: int -> bool) =
    let episodes = Collections.Generic.List<int>()
    let mutable index = 0
    let mutable recording = false
    member _.Frames = List.ofSeq episodes
    member val Ends = 0 with get, set
    interface IVideoSink with
        member _.BeginEpisode(_, _, _) =
            recording <- wanted index
            index <- index + 1
            if recording then episodes.Add 0
            recording
        member _.AddFrame _ =
            Expect.isTrue recording "recording"
            episodes[episodes.Count - 1] <- episodes[episodes.Count - 1] + 1
        member this.EndEpisode() = this.Ends <- this.Ends + 1

let private smallConfig = { DqnConfig.defaults with Hidden = [ 16 ]; Seed = 5 }

/// The blocks of a GIF file, read by hand (GIF89a specification): logical screen size, loop count of the NETSCAPE2.0
/// extension, and the delay of every graphic control extension and the count of image descriptors.
type GifSummary =
    { Width: int
      Height: int
      Loop: int option
      Delays: int list
      Images: int }

let parseGif (bytes: byte[]) =
    Expect.equal (Encoding.ASCII.GetString(bytes, 0, 6)) "GIF89a" "Encoding.ASCII.GetString(bytes, 0, 6)"
    let u16 i = int bytes[i] ||| (int bytes[i + 1] <<< 8)
    let width, height = u16 6, u16 8
    let colourTable (packed: byte) = if packed &&& 0x80uy <> 0uy then 3 * (1 <<< (int (packed &&& 7uy) + 1)) else 0
    let rec skipSubBlocks i = if bytes[i] = 0uy then i + 1 else skipSubBlocks (i + 1 + int bytes[i])
    let mutable i = 13 + colourTable bytes[10]
    let mutable loop = None
    let delays = Collections.Generic.List<int>()
    let mutable images = 0
    let mutable fin = false
    while not fin do
        match bytes[i] with
        | 0x3Buy -> fin <- true
        | 0x21uy when bytes[i + 1] = 0xF9uy ->
            Expect.equal (bytes[i + 2]) 4uy "bytes[i + 2]"
            delays.Add(u16 (i + 4))
            i <- skipSubBlocks (i + 2)
        | 0x21uy when bytes[i + 1] = 0xFFuy ->
            let name = Encoding.ASCII.GetString(bytes, i + 3, 11)
            if name = "NETSCAPE2.0" then loop <- Some(u16 (i + 16))
            i <- skipSubBlocks (i + 2)
        | 0x21uy -> i <- skipSubBlocks (i + 2)
        | 0x2Cuy ->
            images <- images + 1
            Expect.isTrue (u16 (i + 5) <= width && u16 (i + 7) <= height) "u16 (i + 5) <= width && u16 (i + 7) <= height"
            // Descriptor (10 bytes), local colour table, LZW minimum code size, data sub-blocks.
            i <- skipSubBlocks (i + 10 + colourTable bytes[i + 9] + 1)
        | b -> failwith $"unexpected GIF block 0x{b:X2} at byte {i}"
    { Width = width; Height = height; Loop = loop; Delays = List.ofSeq delays; Images = images }

let private tempDir () =
    let d = Path.Combine(Path.GetTempPath(), "dqnfun-video-" + Guid.NewGuid().ToString("N"))
    Directory.CreateDirectory d |> ignore
    d

[<Tests>]
let tests =
    testList "Video" [
        // CartPole: 125 pixels a metre, cart centre at column 300 + 125·x, cart rows 285..314 (30 pixels centred 100 pixels
        // above the bottom edge), the track on row 299, the axle at row 292, the pole from the axle up.
        testCase "CartPole at x = 0 draws the cart's 50 columns centred on column 300" <| fun () ->
            let f = Render.cartPole (cartPoleState 0.0 0.0)
            let at = pixel f Render.cartPoleWidth
            Expect.equal (at 310 300) Render.cartColour "at 310 300"
            Expect.equal (at 310 275) Render.cartColour "at 310 275"
            Expect.equal (at 310 324) Render.cartColour "at 310 324"
            Expect.equal (at 310 274) Render.background "at 310 274"
            Expect.equal (at 310 325) Render.background "at 310 325"
            // Top and bottom rows of the cart.
            Expect.equal (at 285 280) Render.cartColour "at 285 280"
            Expect.equal (at 314 280) Render.cartColour "at 314 280"
            Expect.equal (at 284 280) Render.background "at 284 280"
            Expect.equal (at 315 280) Render.background "at 315 280"

        testCase "CartPole moves the cart 125 pixels a metre" <| fun () ->
            let f = Render.cartPole (cartPoleState 1.0 0.0)
            let at = pixel f Render.cartPoleWidth
            Expect.equal (at 310 400) Render.cartColour "at 310 400"
            Expect.equal (at 310 449) Render.cartColour "at 310 449"
            Expect.equal (at 310 399) Render.background "at 310 399"
            Expect.equal (at 310 450) Render.background "at 310 450"
            Expect.equal (at 310 300) Render.background "at 310 300"

        testCase "CartPole draws the track, the axle and the upright pole" <| fun () ->
            let f = Render.cartPole (cartPoleState 0.0 0.0)
            let at = pixel f Render.cartPoleWidth
            Expect.equal (at 299 0) Render.cartColour "at 299 0"
            Expect.equal (at 299 599) Render.cartColour "at 299 599"
            Expect.equal (at 298 0) Render.background "at 298 0"
            Expect.equal (at 292 300) Render.axleColour "at 292 300"
            // The pole: 10 columns (295..304) up to 120 pixels above the axle (y = 227, row 172).
            Expect.equal (at 199 295) Render.poleColour "at 199 295"
            Expect.equal (at 199 304) Render.poleColour "at 199 304"
            Expect.equal (at 199 294) Render.background "at 199 294"
            Expect.equal (at 199 305) Render.background "at 199 305"
            Expect.equal (at 173 300) Render.poleColour "at 173 300"
            Expect.equal (at 171 300) Render.background "at 171 300"

        testCase "CartPole tilts the pole by theta, to the right when positive" <| fun () ->
            let theta = 0.2
            let f = Render.cartPole (cartPoleState 0.0 theta)
            let at = pixel f Render.cartPoleWidth
            // 100 pixels along the pole from the axle (300, 107.5 above the bottom): (300 + 100 sin θ, 107.5 + 100 cos θ).
            let x = 300.0 + 100.0 * sin theta
            let y = 107.5 + 100.0 * cos theta
            Expect.equal (at (399 - int y) (int x)) Render.poleColour "at (399 - int y) (int x)"
            Expect.equal (at (399 - int y) 300) Render.background "at (399 - int y) 300"
            let mirrored = Render.cartPole (cartPoleState 0.0 -theta)
            Expect.equal (pixel mirrored Render.cartPoleWidth (399 - int y) (600 - 1 - int x)) Render.poleColour "pixel mirrored Render.cartPoleWidth (399 - int y) (600 -..."

        testCase "renderers are pure functions of the state and draw the same into a buffer" <| fun () ->
            let s = cartPoleState 0.3 -0.1
            Expect.equal (Render.cartPole s) (Render.cartPole s) "Render.cartPole s"
            let buffer = Array.create (600 * 400 * 3) 7uy
            Render.cartPoleInto s buffer
            Expect.equal buffer (Render.cartPole s) "buffer"
            let a: Acrobot.State = { Theta1 = 1.0; Theta2 = -0.5; Theta1Dot = 3.0; Theta2Dot = 1.0 }
            Expect.equal (Render.acrobot { a with Theta1Dot = 0.0; Theta2Dot = 0.0 }) (Render.acrobot a) "Render.acrobot { a with Theta1Dot = 0.0; Theta2Dot = 0.0 }"
            Expect.throwsT<ArgumentException> (fun () -> Render.cartPoleInto s (Array.zeroCreate 10)) "ArgumentException"

        testCase "Acrobot hangs both links straight down from the pivot at the centre" <| fun () ->
            let f = Render.acrobot { Theta1 = 0.0; Theta2 = 0.0; Theta1Dot = 0.0; Theta2Dot = 0.0 }
            let at = pixel f Render.acrobotSize
            Expect.equal (at 249 250) Render.jointColour "at 249 250"
            // Link 1 spans 250 down to 136.4 pixels above the bottom edge, link 2 down to 22.7.
            Expect.equal (at (499 - 200) 250) Render.linkColour "at (499 - 200) 250"
            Expect.equal (at (499 - 80) 250) Render.linkColour "at (499 - 80) 250"
            Expect.equal (at (499 - 136) 250) Render.jointColour "at (499 - 136) 250"
            Expect.equal (at (499 - 15) 250) Render.background "at (499 - 15) 250"
            // Links are 0.2 m = 22.7 pixels wide.
            Expect.equal (at (499 - 200) 240) Render.linkColour "at (499 - 200) 240"
            Expect.equal (at (499 - 200) 262) Render.background "at (499 - 200) 262"
            // The target line, one link length above the pivot.
            Expect.equal (at 136 5) Render.cartColour "at 136 5"
            Expect.equal (at 137 5) Render.background "at 137 5"
            Expect.equal (at 135 5) Render.background "at 135 5"

        testCase "Acrobot turns link 1 by theta1 and link 2 by theta1 plus theta2" <| fun () ->
            let f = Render.acrobot { Theta1 = Math.PI / 2.0; Theta2 = -Math.PI / 2.0; Theta1Dot = 0.0; Theta2Dot = 0.0 }
            let at = pixel f Render.acrobotSize
            // Link 1 points right (to x = 363.6), link 2 from there straight down.
            Expect.equal (at 249 307) Render.linkColour "at 249 307"
            Expect.equal (at (499 - 200) 250) Render.background "at (499 - 200) 250"
            Expect.equal (at (499 - 200) 363) Render.linkColour "at (499 - 200) 363"
            Expect.equal (at 249 363) Render.jointColour "at 249 363"

        testCase "MountainCar draws the hill, the car at its position and the flag" <| fun () ->
            // At the valley's bottom, -π/6: the hill at 0.1 units (33.3 pixels), the car level, centred on column 225.5.
            let f = Render.mountainCar { Position = -Math.PI / 6.0; Velocity = 0.0 }
            let at = pixel f Render.mountainCarWidth
            let carRow = 399 - 53
            Expect.equal (at carRow 206) Render.cartColour "at carRow 206"
            Expect.equal (at carRow 244) Render.cartColour "at carRow 244"
            Expect.equal (at carRow 204) Render.background "at carRow 204"
            Expect.equal (at carRow 246) Render.background "at carRow 246"
            Expect.equal (at (399 - 43) 235) Render.wheelColour "at (399 - 43) 235"
            Expect.equal (at (399 - 43) 215) Render.wheelColour "at (399 - 43) 215"
            // The flag at 0.5: a pole on column 566 from the hill (332 pixels up) 50 pixels high, the triangle at its top.
            Expect.equal (at 40 566) Render.cartColour "at 40 566"
            Expect.equal (at 22 570) Render.flagColour "at 22 570"
            // The hill crosses column 300 (position -0.3) at 65.8 pixels up; nothing else is drawn above it there.
            Expect.contains [ for row in 331..337 -> at row 300 ] Render.cartColour "[ for row in 331..337 -> at row 300 ]"
            for p in [ for row in 0..320 -> at row 300 ] do Expect.equal p Render.background "p"
            let env = MountainCarEnvironment()
            env.Reset(Nullable 1) |> ignore
            let r = (Renderer.tryOf env).Value
            Expect.equal r.FramesPerSecond 30.0 "r.FramesPerSecond"
            let frame = Array.zeroCreate (r.Width * r.Height * 3)
            r.Draw frame
            Expect.equal frame (Render.mountainCar env.State) "frame"

        testCase "GridWorld draws the grid, the goal and the agent" <| fun () ->
            let f = Render.gridWorld 5 { Row = 1; Column = 2 }
            Expect.equal f.Length (5 * 64 * 5 * 64 * 3) "f.Length"
            let at = pixel f (5 * 64)
            Expect.equal (at 96 160) Render.agentColour "at 96 160"
            Expect.equal (at 96 (160 + 23)) Render.background "at 96 (160 + 23)"
            Expect.equal (at (4 * 64 + 10) (4 * 64 + 10)) Render.goalColour "at (4 * 64 + 10) (4 * 64 + 10)"
            Expect.equal (at 64 10) Render.gridLineColour "at 64 10"
            Expect.equal (at 10 64) Render.gridLineColour "at 10 64"
            Expect.equal (at 319 10) Render.gridLineColour "at 319 10"
            Expect.equal (at 10 10) Render.background "at 10 10"
            let onGoal = Render.gridWorld 5 { Row = 4; Column = 4 }
            Expect.equal (pixel onGoal 320 (4 * 64 + 32) (4 * 64 + 32)) Render.agentColour "pixel onGoal 320 (4 * 64 + 32) (4 * 64 + 32)"
            Expect.throwsT<ArgumentOutOfRangeException> (fun () -> Render.gridWorld 5 { Row = 5; Column = 0 } |> ignore) "ArgumentOutOfRangeException"

        testCase "the renderer of MaskedCartPole draws the CartPole of its full state" <| fun () ->
            let masked = MaskedCartPoleEnvironment()
            let full = CartPoleEnvironment()
            masked.Reset(Nullable 3) |> ignore
            full.Reset(Nullable 3) |> ignore
            for a in [ 1; 1; 0; 1 ] do
                masked.Step a |> ignore
                full.Step a |> ignore
            let r = (Renderer.tryOf masked).Value
            Expect.equal r.FramesPerSecond 50.0 "r.FramesPerSecond"
            let frame = Array.zeroCreate (r.Width * r.Height * 3)
            r.Draw frame
            Expect.equal frame (Render.cartPole full.State) "frame"
            Expect.equal ((Renderer.tryOf (AcrobotEnvironment())).Value.FramesPerSecond) 15.0 "(Renderer.tryOf (AcrobotEnvironment())).Value.FramesPerSe..."
            Expect.isTrue ((Renderer.tryOf (GridWorldEnvironment(3, 10))).Value.Width = 192) "(Renderer.tryOf (GridWorldEnvironment(3, 10))).Value.Widt..."

        testList "evaluation returns are equal with and without video recording" [
            for id in [ "CartPole-v1"; "Acrobot-v1"; "GridWorld-v0"; "MaskedCartPole-v1"; "MountainCar-v0" ] ->
                testCase id <| fun () ->
                    let plain = Environments.make id
                    use agent = new Agent(smallConfig, plain.ObservationSize, plain.ActionCount)
                    let without = agent.Evaluate(plain, 3, 0.3, 11)
                    let inner = Environments.make id
                    let sink = CountingSink(fun i -> i <> 1)
                    let recorded = RecordingEnvironment(inner, (Renderer.tryOf inner).Value, sink)
                    let withVideo = agent.Evaluate(recorded, 3, 0.3, 11)
                    Expect.equal withVideo.Returns without.Returns "withVideo.Returns"
                    Expect.equal withVideo.Lengths without.Lengths "withVideo.Lengths"
                    // Episodes 0 and 2 recorded: the reset's frame and one a step.
                    Expect.equal sink.Frames [ without.Lengths[0] + 1; without.Lengths[2] + 1 ] "sink.Frames"
                    Expect.equal sink.Ends 3 "sink.Ends"
        ]

        testCase "GIF frame delays add up to the running time" <| fun () ->
            Expect.equal (List.init 6 (Video.frameDelay 15.0)) [ 7; 6; 7; 7; 6; 7 ] "List.init 6 (Video.frameDelay 15.0)"
            Expect.equal (List.init 15 (Video.frameDelay 15.0) |> List.sum) 100 "List.init 15 (Video.frameDelay 15.0) |> List.sum"
            Expect.equal (List.init 3 (Video.frameDelay 50.0)) [ 2; 2; 2 ] "List.init 3 (Video.frameDelay 50.0)"
            Expect.equal (Video.frameDelay 4.0 0) 25 "Video.frameDelay 4.0 0"

        testCase "a recorded CartPole episode is written as a looping 600x400 GIF, a frame a step at 50 fps" <| fun () ->
            let dir = tempDir ()
            try
                let gifs = Video.GifRecorder(dir, Some 1, "episode")
                let cartPole = CartPoleEnvironment()
                let env = RecordingEnvironment(cartPole, (Renderer.tryOf cartPole).Value, gifs) :> IEnvironment
                let play () =
                    env.Reset(Nullable 0) |> ignore
                    let mutable steps = 0
                    let mutable fin = false
                    while not fin do
                        let r = env.Step 1
                        steps <- steps + 1
                        fin <- r.Terminated || r.Truncated
                    steps
                let steps = play ()
                play () |> ignore // the second episode of the evaluation is not recorded
                let written = gifs.NextEvaluation "step0000100"
                Expect.equal written [ Path.Combine(gifs.Dir, "step0000100-episode00.gif") ] "written"
                Expect.equal (Directory.GetFiles dir |> Array.map Path.GetFileName) [| "step0000100-episode00.gif" |] "Directory.GetFiles dir |> Array.map Path.GetFileName"
                let gif = parseGif (File.ReadAllBytes written.Head)
                Expect.equal (gif.Width, gif.Height) (600, 400) "(gif.Width, gif.Height)"
                Expect.equal gif.Loop (Some 0) "gif.Loop"
                Expect.equal gif.Images (steps + 1) "gif.Images"
                Expect.equal gif.Delays (List.replicate (steps + 1) 2) "gif.Delays"
                // The next evaluation counts from episode 0 again.
                play () |> ignore
                Expect.equal (gifs.NextEvaluation "final-model") [ Path.Combine(gifs.Dir, "final-model-episode00.gif") ] "gifs.NextEvaluation \"final-model\""
            finally
                Directory.Delete(dir, true)

        testCase "a GIF recorder without a limit writes every episode, GridWorld at 4 fps" <| fun () ->
            let dir = tempDir ()
            try
                let gifs = Video.GifRecorder(dir, None, "game")
                let grid = GridWorldEnvironment(3, 10)
                let env = RecordingEnvironment(grid, (Renderer.tryOf grid).Value, gifs) :> IEnvironment
                for _ in 1..3 do
                    env.Reset(Nullable()) |> ignore
                    for a in [ 1; 1; 2; 2 ] do
                        env.Step a |> ignore
                let written = gifs.NextEvaluation ""
                Expect.equal (written |> List.map Path.GetFileName) [ "game00.gif"; "game01.gif"; "game02.gif" ] "written |> List.map Path.GetFileName"
                let gif = parseGif (File.ReadAllBytes written[2])
                Expect.equal (gif.Width, gif.Height, gif.Images) (192, 192, 5) "(gif.Width, gif.Height, gif.Images)"
                Expect.equal gif.Delays (List.replicate 5 25) "gif.Delays"
            finally
                Directory.Delete(dir, true)

        testCase "bench train evaluates the same with and without --video" <| fun () ->
            let dir = tempDir ()
            try
                let config =
                    { DqnConfig.defaults with
                        Hidden = [ 16 ]
                        Seed = 2
                        LearningStarts = 100
                        EvalInterval = 250
                        EvalEpisodes = 2 }
                let run (name: string) video =
                    Program.train "CartPole-v1" 500L config (Path.Combine(dir, name)) true video { Interval = 500L; Resume = false }
                let without = run "plain" None
                let videos = Path.Combine(dir, "video", "videos")
                let withVideo = run "video" (Some { Video.Dir = videos; Video.EpisodesPerEvaluation = Some 1 })
                let evaluations (r: Program.RunResult) = r.Summary.Evaluations |> List.map (fun e -> e.Step, e.Returns)
                Expect.equal (evaluations withVideo) (evaluations without) "evaluations withVideo"
                Expect.equal withVideo.Final.Returns without.Final.Returns "withVideo.Final.Returns"
                Expect.equal ((fst withVideo.Best).Returns) ((fst without.Best).Returns) "(fst withVideo.Best).Returns"
                let files = Directory.GetFiles videos |> Array.map Path.GetFileName |> Set.ofArray
                for f in [ "step0000250-episode00.gif"; "step0000500-episode00.gif"; "final-model-episode00.gif" ] do
                    Expect.contains files f "files"
                Expect.isFalse (Directory.Exists(Path.Combine(dir, "plain", "videos"))) "Directory.Exists(Path.Combine(dir, \"plain\", \"videos\"))"
            finally
                Directory.Delete(dir, true)
    ]
