namespace Dqn.Fun

/// <summary>
/// Pictures of the built-in environments' states, for episode videos: pure functions from a state to an RGB
/// frame, <c>[height; width; 3]</c> bytes, row-major, row 0 at the top. CartPole, Acrobot and MountainCar follow
/// Gymnasium's <c>render()</c> geometry and colours (<c>gymnasium/envs/classic_control/cartpole.py</c>,
/// <c>acrobot.py</c>, <c>mountain_car.py</c>);
/// GridWorld has a picture of its own.
/// </summary>
/// <remarks>
/// Shapes are filled without anti-aliasing (Gymnasium's pygame draws anti-aliased outlines as well), so a frame
/// holds only the few colours named here. A pixel belongs to a polygon when its centre lies inside it; discs are
/// drawn on whole pixels as pygame's <c>gfxdraw.filled_circle</c> does. Parts of the picture that leave the canvas
/// are clipped; lines are one pixel wide, through the pixels that hold their points. The <c>...Into</c> forms draw into a caller's buffer (every byte is written), the others return a
/// fresh array.
/// </remarks>
[<RequireQualifiedAccess>]
module Render =

    /// <summary>An RGB colour.</summary>
    type Rgb = { R: byte; G: byte; B: byte }

    /// <summary>CartPole's canvas width, 600 pixels; the world is 4.8 m wide (2·XThreshold), 125 pixels a metre.</summary>
    [<CompiledName("CartPoleWidth")>]
    val cartPoleWidth: int
    /// <summary>CartPole's canvas height, 400 pixels.</summary>
    [<CompiledName("CartPoleHeight")>]
    val cartPoleHeight: int
    /// <summary>CartPole's frame rate, 50 frames a second: one frame an agent step of <c>CartPole.tau</c> = 0.02 s
    /// (Gymnasium's <c>render_fps</c>).</summary>
    [<CompiledName("CartPoleFramesPerSecond")>]
    val cartPoleFramesPerSecond: float
    /// <summary>The background, white (255, 255, 255), of every picture.</summary>
    [<CompiledName("Background")>]
    val background: Rgb
    /// <summary>CartPole's cart and track, Acrobot's target line, MountainCar's hill, car and flag pole: black (0, 0, 0).</summary>
    [<CompiledName("CartColour")>]
    val cartColour: Rgb
    /// <summary>CartPole's pole, (202, 152, 101).</summary>
    [<CompiledName("PoleColour")>]
    val poleColour: Rgb
    /// <summary>CartPole's axle, (129, 132, 203).</summary>
    [<CompiledName("AxleColour")>]
    val axleColour: Rgb

    /// <summary>
    /// Draws a CartPole state on the 600×400 canvas, as Gymnasium draws it: the track, a horizontal black line
    /// 100 pixels above the bottom edge (image row 299); the cart, a black 50×30 rectangle centred on the track at
    /// column 300 + 125·x; the pole, a 10-pixel-wide bar of 125 pixels (2·<c>CartPole.length</c> metres) from 5
    /// pixels below the axle, tilted by θ (positive to the right); the axle, a disc of radius 5 pixels 7.5 pixels
    /// above the track.
    /// </summary>
    /// <remarks>Only X and Theta are read.</remarks>
    /// <returns>A fresh [400; 600; 3] array.</returns>
    /// <example>
    /// <code lang="fsharp">
    /// let f = Render.cartPole { X = 0.0; XDot = 0.0; Theta = 0.0; ThetaDot = 0.0 }
    /// // f[(290 * 600 + 300) * 3] = 0uy: the cart's centre column; row 200, column 300 is the pole's colour.
    /// </code>
    /// </example>
    [<CompiledName("CartPole")>]
    val cartPole: state: CartPole.State -> byte[]

    /// <summary>As <c>cartPole</c>, into <c>frame</c>.</summary>
    /// <exception cref="T:System.ArgumentException">frame does not hold 400·600·3 bytes.</exception>
    [<CompiledName("CartPoleInto")>]
    val cartPoleInto: state: CartPole.State -> frame: byte[] -> unit

    /// <summary>Acrobot's canvas side, 500 pixels (square); the world spans ±2.2 m, 500/4.4 pixels a metre.</summary>
    [<CompiledName("AcrobotSize")>]
    val acrobotSize: int
    /// <summary>Acrobot's frame rate, 15 frames a second (Gymnasium's <c>render_fps</c>; an agent step is
    /// <c>Acrobot.dt</c> = 0.2 s, so the video runs 3 times faster than real time).</summary>
    [<CompiledName("AcrobotFramesPerSecond")>]
    val acrobotFramesPerSecond: float
    /// <summary>Acrobot's links, (0, 204, 204).</summary>
    [<CompiledName("LinkColour")>]
    val linkColour: Rgb
    /// <summary>Acrobot's joints, (204, 204, 0).</summary>
    [<CompiledName("JointColour")>]
    val jointColour: Rgb

    /// <summary>
    /// Draws an Acrobot state on the 500×500 canvas, as Gymnasium draws it: the target line (black, one pixel, a
    /// link length above the pivot, image row 136), then each link as a bar 0.2 m wide from its joint, link 1 at
    /// θ₁ from straight down (positive to the right), link 2 at θ₁ + θ₂, and a disc of radius 11 pixels (0.1 m) on
    /// the pivot and on the middle joint. The pivot is at the canvas centre (image row 249, column 250).
    /// </summary>
    /// <remarks>Only Theta1 and Theta2 are read.</remarks>
    /// <returns>A fresh [500; 500; 3] array.</returns>
    [<CompiledName("Acrobot")>]
    val acrobot: state: Acrobot.State -> byte[]

    /// <summary>As <c>acrobot</c>, into <c>frame</c>.</summary>
    /// <exception cref="T:System.ArgumentException">frame does not hold 500·500·3 bytes.</exception>
    [<CompiledName("AcrobotInto")>]
    val acrobotInto: state: Acrobot.State -> frame: byte[] -> unit

    /// <summary>MountainCar's canvas width, 600 pixels; the track's 1.8 units (-1.2 to 0.6) span it, 333.3 pixels a
    /// unit. Its height is 400 pixels.</summary>
    [<CompiledName("MountainCarWidth")>]
    val mountainCarWidth: int
    /// <summary>MountainCar's canvas height, 400 pixels.</summary>
    [<CompiledName("MountainCarHeight")>]
    val mountainCarHeight: int
    /// <summary>MountainCar's frame rate, 30 frames a second (Gymnasium's <c>render_fps</c>).</summary>
    [<CompiledName("MountainCarFramesPerSecond")>]
    val mountainCarFramesPerSecond: float
    /// <summary>MountainCar's wheels, (128, 128, 128).</summary>
    [<CompiledName("WheelColour")>]
    val wheelColour: Rgb
    /// <summary>MountainCar's flag, (204, 204, 0).</summary>
    [<CompiledName("FlagColour")>]
    val flagColour: Rgb

    /// <summary>
    /// Draws a MountainCar state on the 600×400 canvas, as Gymnasium draws it: the hill, sin(3·position)·0.45 + 0.55
    /// (in units, 333.3 pixels each, from the bottom edge), as one-pixel black segments through 100 points; the car,
    /// a black 40×20 rectangle 10 pixels above the hill at its position, turned by cos(3·position) radians; two grey
    /// wheels of radius 8 pixels 10 pixels either side of its centre; the flag at 0.5, a black pole of 50 pixels and a
    /// yellow triangle.
    /// </summary>
    /// <remarks>Only Position is read.</remarks>
    /// <returns>A fresh [400; 600; 3] array.</returns>
    [<CompiledName("MountainCar")>]
    val mountainCar: state: MountainCar.State -> byte[]

    /// <summary>As <c>mountainCar</c>, into <c>frame</c>.</summary>
    /// <exception cref="T:System.ArgumentException">frame does not hold 400·600·3 bytes.</exception>
    [<CompiledName("MountainCarInto")>]
    val mountainCarInto: state: MountainCar.State -> frame: byte[] -> unit

    /// <summary>GridWorld's cell side, 64 pixels: an N×N grid is drawn on a 64N×64N canvas.</summary>
    [<CompiledName("GridCellPixels")>]
    val gridCellPixels: int
    /// <summary>GridWorld's frame rate, 4 frames a second.</summary>
    [<CompiledName("GridWorldFramesPerSecond")>]
    val gridWorldFramesPerSecond: float
    /// <summary>GridWorld's cell borders, (200, 200, 200).</summary>
    [<CompiledName("GridLineColour")>]
    val gridLineColour: Rgb
    /// <summary>GridWorld's goal cell, (44, 160, 44).</summary>
    [<CompiledName("GoalColour")>]
    val goalColour: Rgb
    /// <summary>GridWorld's agent, (31, 119, 180).</summary>
    [<CompiledName("AgentColour")>]
    val agentColour: Rgb

    /// <summary>
    /// Draws a size×size grid with the agent in <c>cell</c>: cell (row, column) covers image rows 64·row ..
    /// 64·row + 63 and the same columns; its top row and left column of pixels are the grid line (and the canvas'
    /// last row and column close the grid); the goal cell (<c>GridWorld.goal size</c>) is filled green inside its
    /// lines; the agent is a blue disc of radius 22 pixels centred on pixel (64·row + 32, 64·column + 32), drawn
    /// over the goal.
    /// </summary>
    /// <returns>A fresh [64·size; 64·size; 3] array.</returns>
    /// <exception cref="T:System.ArgumentOutOfRangeException">size &lt; 2 or the cell is outside the grid.</exception>
    [<CompiledName("GridWorld")>]
    val gridWorld: size: int -> cell: GridWorld.Cell -> byte[]

    /// <summary>As <c>gridWorld</c>, into <c>frame</c>.</summary>
    /// <exception cref="T:System.ArgumentOutOfRangeException">size &lt; 2 or the cell is outside the grid.</exception>
    /// <exception cref="T:System.ArgumentException">frame does not hold (64·size)²·3 bytes.</exception>
    [<CompiledName("GridWorldInto")>]
    val gridWorldInto: size: int -> cell: GridWorld.Cell -> frame: byte[] -> unit
