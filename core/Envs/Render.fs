namespace Dqn.Fun

open System

[<RequireQualifiedAccess>]
module Render =

    type Rgb = { R: byte; G: byte; B: byte }

    /// A frame being drawn in pygame's surface coordinates before Gymnasium's vertical flip: x to the right, y up
    /// from the bottom edge; surface pixel (x, y) is image row height − 1 − y (`flip` true) or row y (false).
    [<Struct>]
    type private Canvas = { Frame: byte[]; Width: int; Height: int; Flip: bool }

    let private canvas (name: string) (width: int) (height: int) (flip: bool) (frame: byte[]) =
        Check.length name (width * height * 3) frame
        { Frame = frame; Width = width; Height = height; Flip = flip }

    /// A new width x height RGB frame ([height; width; 3] bytes) that `into` draws `state` into.
    let private drawn (width: int) (height: int) (into: 'S -> byte[] -> unit) (state: 'S) =
        let frame = Array.zeroCreate (width * height * 3)
        into state frame
        frame

    let private fill (c: Canvas) (colour: Rgb) =
        if colour.R = colour.G && colour.G = colour.B then
            Array.Fill(c.Frame, colour.R)
        else
            for i in 0 .. 3 .. c.Frame.Length - 3 do
                c.Frame[i] <- colour.R
                c.Frame[i + 1] <- colour.G
                c.Frame[i + 2] <- colour.B

    let private set (c: Canvas) (x: int) (y: int) (colour: Rgb) =
        if x >= 0 && x < c.Width && y >= 0 && y < c.Height then
            let row = if c.Flip then c.Height - 1 - y else y
            let i = (row * c.Width + x) * 3
            c.Frame[i] <- colour.R
            c.Frame[i + 1] <- colour.G
            c.Frame[i + 2] <- colour.B

    /// Pixels whose centre (x + 0.5, y + 0.5) lies inside or on the convex polygon `points` (either winding).
    let private polygon (c: Canvas) (points: struct (float * float)[]) (colour: Rgb) =
        let xs = points |> Array.map (fun struct (x, _) -> x)
        let ys = points |> Array.map (fun struct (_, y) -> y)
        let x0 = max 0 (int (floor (Array.min xs)))
        let x1 = min (c.Width - 1) (int (ceil (Array.max xs)))
        let y0 = max 0 (int (floor (Array.min ys)))
        let y1 = min (c.Height - 1) (int (ceil (Array.max ys)))
        let n = points.Length
        for y in y0..y1 do
            for x in x0..x1 do
                let px = float x + 0.5
                let py = float y + 0.5
                let mutable positive = false
                let mutable negative = false
                for k in 0 .. n - 1 do
                    let struct (ax, ay) = points[k]
                    let struct (bx, by) = points[(k + 1) % n]
                    let cross = (bx - ax) * (py - ay) - (by - ay) * (px - ax)
                    if cross > 0.0 then positive <- true
                    elif cross < 0.0 then negative <- true
                if not (positive && negative) then set c x y colour

    /// Whole pixels (cx + dx, cy + dy) with dx² + dy² ≤ r² (pygame's gfxdraw.filled_circle).
    let private disc (c: Canvas) (cx: int) (cy: int) (r: int) (colour: Rgb) =
        for dy in -r .. r do
            for dx in -r .. r do
                if dx * dx + dy * dy <= r * r then set c (cx + dx) (cy + dy) colour

    let private hline (c: Canvas) (x0: int) (x1: int) (y: int) (colour: Rgb) =
        for x in x0..x1 do
            set c x y colour

    /// A one-pixel line from (x0, y0) to (x1, y1): the pixels holding points spaced at most a pixel apart along it.
    let private line (c: Canvas) (x0: float) (y0: float) (x1: float) (y1: float) (colour: Rgb) =
        let n = max 1 (int (ceil (max (abs (x1 - x0)) (abs (y1 - y0)))))
        for k in 0..n do
            let t = float k / float n
            set c (int (floor (x0 + t * (x1 - x0)))) (int (floor (y0 + t * (y1 - y0)))) colour

    /// The rectangle [l, r] × [b, t] rotated by `angle` (counter-clockwise, pygame's Vector2.rotate_rad) and moved to
    /// (ox, oy).
    let private rotatedRectangle (l: float) (r: float) (t: float) (b: float) (angle: float) (ox: float) (oy: float) =
        let cosA = cos angle
        let sinA = sin angle
        [| struct (l, b); struct (l, t); struct (r, t); struct (r, b) |]
        |> Array.map (fun struct (x, y) -> struct (x * cosA - y * sinA + ox, x * sinA + y * cosA + oy))

    [<CompiledName("Background")>]
    let background = { R = 255uy; G = 255uy; B = 255uy }

    // CartPole (gymnasium/envs/classic_control/cartpole.py, render)

    [<CompiledName("CartPoleWidth")>]
    let cartPoleWidth = 600
    [<CompiledName("CartPoleHeight")>]
    let cartPoleHeight = 400
    [<CompiledName("CartPoleFramesPerSecond")>]
    let cartPoleFramesPerSecond = 50.0
    [<CompiledName("CartColour")>]
    let cartColour = { R = 0uy; G = 0uy; B = 0uy }
    [<CompiledName("PoleColour")>]
    let poleColour = { R = 202uy; G = 152uy; B = 101uy }
    [<CompiledName("AxleColour")>]
    let axleColour = { R = 129uy; G = 132uy; B = 203uy }

    [<CompiledName("CartPoleInto")>]
    let cartPoleInto (state: CartPole.State) (frame: byte[]) =
        let c = canvas "frame" cartPoleWidth cartPoleHeight true frame
        let worldWidth = 2.0 * CartPole.xThreshold
        let scale = float cartPoleWidth / worldWidth
        let poleWidth = 10.0
        let poleLength = scale * (2.0 * CartPole.length)
        let cartWidth = 50.0
        let cartHeight = 30.0
        let axleOffset = cartHeight / 4.0
        let cartX = state.X * scale + float cartPoleWidth / 2.0
        let cartY = 100.0
        fill c background
        polygon c (rotatedRectangle (-cartWidth / 2.0) (cartWidth / 2.0) (cartHeight / 2.0) (-cartHeight / 2.0) 0.0 cartX cartY) cartColour
        let pole =
            rotatedRectangle (-poleWidth / 2.0) (poleWidth / 2.0) (poleLength - poleWidth / 2.0) (-poleWidth / 2.0) -state.Theta cartX (cartY + axleOffset)
        polygon c pole poleColour
        disc c (int cartX) (int (cartY + axleOffset)) (int (poleWidth / 2.0)) axleColour
        hline c 0 cartPoleWidth (int cartY) cartColour

    [<CompiledName("CartPole")>]
    let cartPole (state: CartPole.State) = drawn cartPoleWidth cartPoleHeight cartPoleInto state

    // Acrobot (gymnasium/envs/classic_control/acrobot.py, render)

    [<CompiledName("AcrobotSize")>]
    let acrobotSize = 500
    [<CompiledName("AcrobotFramesPerSecond")>]
    let acrobotFramesPerSecond = 15.0
    [<CompiledName("LinkColour")>]
    let linkColour = { R = 0uy; G = 204uy; B = 204uy }
    [<CompiledName("JointColour")>]
    let jointColour = { R = 204uy; G = 204uy; B = 0uy }

    [<CompiledName("AcrobotInto")>]
    let acrobotInto (state: Acrobot.State) (frame: byte[]) =
        let c = canvas "frame" acrobotSize acrobotSize true frame
        let bound = Acrobot.linkLength1 + Acrobot.linkLength2 + 0.2
        let scale = float acrobotSize / (bound * 2.0)
        let offset = float acrobotSize / 2.0
        // Gymnasium's p1, p2 with their coordinates swapped (xys[:, ::-1]): x = l·sin θ, y = −l·cos θ.
        let x1 = Acrobot.linkLength1 * sin state.Theta1 * scale
        let y1 = -Acrobot.linkLength1 * cos state.Theta1 * scale
        let joints = [| struct (0.0, 0.0); struct (x1, y1) |]
        let angles = [| state.Theta1 - Math.PI / 2.0; state.Theta1 + state.Theta2 - Math.PI / 2.0 |]
        let lengths = [| Acrobot.linkLength1 * scale; Acrobot.linkLength2 * scale |]
        fill c background
        hline c (int (-bound * scale + offset)) (int (bound * scale + offset)) (int (1.0 * scale + offset)) cartColour
        for k in 0..1 do
            let struct (jx, jy) = joints[k]
            let x = jx + offset
            let y = jy + offset
            polygon c (rotatedRectangle 0.0 lengths[k] (0.1 * scale) (-0.1 * scale) angles[k] x y) linkColour
            disc c (int x) (int y) (int (0.1 * scale)) jointColour

    [<CompiledName("Acrobot")>]
    let acrobot (state: Acrobot.State) = drawn acrobotSize acrobotSize acrobotInto state

    // MountainCar (gymnasium/envs/classic_control/mountain_car.py, render)

    [<CompiledName("MountainCarWidth")>]
    let mountainCarWidth = 600
    [<CompiledName("MountainCarHeight")>]
    let mountainCarHeight = 400
    [<CompiledName("MountainCarFramesPerSecond")>]
    let mountainCarFramesPerSecond = 30.0
    [<CompiledName("WheelColour")>]
    let wheelColour = { R = 128uy; G = 128uy; B = 128uy }
    [<CompiledName("FlagColour")>]
    let flagColour = { R = 204uy; G = 204uy; B = 0uy }

    [<CompiledName("MountainCarInto")>]
    let mountainCarInto (state: MountainCar.State) (frame: byte[]) =
        let c = canvas "frame" mountainCarWidth mountainCarHeight true frame
        let lo = MountainCar.minPosition
        let scale = float mountainCarWidth / (MountainCar.maxPosition - lo)
        let height (x: float) = sin (3.0 * x) * 0.45 + 0.55
        let carWidth = 40.0
        let carHeight = 20.0
        let clearance = 10.0
        fill c background
        let xs = Array.init 100 (fun k -> lo + (MountainCar.maxPosition - lo) * float k / 99.0)
        for k in 0..98 do
            line c ((xs[k] - lo) * scale) (height xs[k] * scale) ((xs[k + 1] - lo) * scale) (height xs[k + 1] * scale) cartColour
        let pos = state.Position
        let angle = cos (3.0 * pos)
        let cx = (pos - lo) * scale
        let cy = clearance + height pos * scale
        polygon c (rotatedRectangle (-carWidth / 2.0) (carWidth / 2.0) carHeight 0.0 angle cx cy) cartColour
        for wx in [ carWidth / 4.0; -carWidth / 4.0 ] do
            let x = wx * cos angle + cx
            let y = wx * sin angle + cy
            disc c (int x) (int y) (int (carHeight / 2.5)) wheelColour
        let flagX = int ((MountainCar.goalPosition - lo) * scale)
        let flagY1 = int (height MountainCar.goalPosition * scale)
        let flagY2 = flagY1 + 50
        for y in flagY1..flagY2 do
            set c flagX y cartColour
        polygon
            c
            [| struct (float flagX, float flagY2); struct (float flagX, float (flagY2 - 10)); struct (float flagX + 25.0, float flagY2 - 5.0) |]
            flagColour

    [<CompiledName("MountainCar")>]
    let mountainCar (state: MountainCar.State) = drawn mountainCarWidth mountainCarHeight mountainCarInto state

    // GridWorld (our own picture)

    [<CompiledName("GridCellPixels")>]
    let gridCellPixels = 64
    [<CompiledName("GridWorldFramesPerSecond")>]
    let gridWorldFramesPerSecond = 4.0
    [<CompiledName("GridLineColour")>]
    let gridLineColour = { R = 200uy; G = 200uy; B = 200uy }
    [<CompiledName("GoalColour")>]
    let goalColour = { R = 44uy; G = 160uy; B = 44uy }
    [<CompiledName("AgentColour")>]
    let agentColour = { R = 31uy; G = 119uy; B = 180uy }

    [<CompiledName("GridWorldInto")>]
    let gridWorldInto (size: int) (cell: GridWorld.Cell) (frame: byte[]) =
        // GridWorld.observation checks the size and the cell.
        GridWorld.observation size cell |> ignore
        let side = size * gridCellPixels
        let c = canvas "frame" side side false frame
        let goal = GridWorld.goal size
        fill c background
        for k in 0..size do
            let line = min (side - 1) (k * gridCellPixels)
            hline c 0 (side - 1) line gridLineColour
            for y in 0 .. side - 1 do
                set c line y gridLineColour
        for y in goal.Row * gridCellPixels + 1 .. (goal.Row + 1) * gridCellPixels - 1 do
            for x in goal.Column * gridCellPixels + 1 .. (goal.Column + 1) * gridCellPixels - 1 do
                if x < side - 1 && y < side - 1 then set c x y goalColour
        let half = gridCellPixels / 2
        disc c (cell.Column * gridCellPixels + half) (cell.Row * gridCellPixels + half) 22 agentColour

    [<CompiledName("GridWorld")>]
    let gridWorld (size: int) (cell: GridWorld.Cell) =
        // Checked before the size makes a frame (a negative size would make a negative length).
        GridWorld.observation size cell |> ignore
        drawn (size * gridCellPixels) (size * gridCellPixels) (gridWorldInto size) cell
