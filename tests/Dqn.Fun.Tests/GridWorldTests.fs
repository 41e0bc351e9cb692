module Dqn.Fun.Tests.GridWorldTests

open System
open Xunit
open FsCheck
open FsCheck.FSharp
open Dqn.Fun

let private check (property: Property) = Check.One(Config.QuickThrowOnFailure, property)

let private cell row column : GridWorld.Cell = { Row = row; Column = column }

let private up, right, down, left = 0, 1, 2, 3

[<Fact>]
let ``each action moves one cell in its direction from the centre`` () =
    let c = cell 2 2
    Assert.Equal(cell 1 2, GridWorld.move 5 c up)
    Assert.Equal(cell 2 3, GridWorld.move 5 c right)
    Assert.Equal(cell 3 2, GridWorld.move 5 c down)
    Assert.Equal(cell 2 1, GridWorld.move 5 c left)

[<Fact>]
let ``moves into a wall leave the agent in place`` () =
    Assert.Equal(cell 0 0, GridWorld.move 5 (cell 0 0) up)
    Assert.Equal(cell 0 0, GridWorld.move 5 (cell 0 0) left)
    Assert.Equal(cell 4 4, GridWorld.move 5 (cell 4 4) down)
    Assert.Equal(cell 4 4, GridWorld.move 5 (cell 4 4) right)
    Assert.Equal(cell 0 3, GridWorld.move 5 (cell 0 3) up)
    Assert.Equal(cell 2 4, GridWorld.move 5 (cell 2 4) right)

[<Fact>]
let ``a move stays in the grid and changes one coordinate by one unless blocked by a wall`` () =
    let gen = gen {
        let! size = Gen.choose (2, 12)
        let! row = Gen.choose (0, size - 1)
        let! column = Gen.choose (0, size - 1)
        let! action = Gen.choose (0, 3)
        return size, cell row column, action
    }
    check (
        Prop.forAll (Arb.fromGen gen) (fun (size, c, action) ->
            let n = GridWorld.move size c action
            let inside = 0 <= n.Row && n.Row < size && 0 <= n.Column && n.Column < size
            let distance = abs (n.Row - c.Row) + abs (n.Column - c.Column)
            let blocked =
                (action = up && c.Row = 0) || (action = down && c.Row = size - 1)
                || (action = left && c.Column = 0) || (action = right && c.Column = size - 1)
            inside && (if blocked then n = c else distance = 1))
    )

[<Fact>]
let ``the observation is one-hot at row times size plus column`` () =
    let gen = gen {
        let! size = Gen.choose (2, 12)
        let! row = Gen.choose (0, size - 1)
        let! column = Gen.choose (0, size - 1)
        return size, cell row column
    }
    check (
        Prop.forAll (Arb.fromGen gen) (fun (size, c) ->
            let obs = GridWorld.observation size c
            obs.Length = size * size
            && Array.sum obs = 1.0f
            && obs[c.Row * size + c.Column] = 1.0f)
    )

[<Fact>]
let ``the default grid is 5 by 5 with the goal bottom-right`` () =
    let env = GridWorldEnvironment()
    Assert.Equal(5, env.Size)
    Assert.Equal(100, env.MaxSteps)
    Assert.Equal(25, env.ObservationSize)
    Assert.Equal(4, env.ActionCount)
    Assert.Equal(cell 4 4, GridWorld.goal 5)
    let obs = env.Reset(Nullable())
    Assert.Equal(1.0f, obs[0])
    Assert.Equal(cell 0 0, env.Cell)

[<Fact>]
let ``reaching the goal pays 1.0 and terminates, every earlier step pays 0.0`` () =
    let env = GridWorldEnvironment()
    env.Reset(Nullable()) |> ignore
    let path = [ right; right; right; right; down; down; down ]
    for a in path do
        let r = env.Step a
        Assert.Equal(0.0, r.Reward)
        Assert.False(r.Terminated)
        Assert.False(r.Truncated)
    let r = env.Step down
    Assert.Equal(1.0, r.Reward)
    Assert.True(r.Terminated)
    Assert.False(r.Truncated)
    Assert.Equal(1.0f, r.Observation[24])
    Assert.Equal(cell 4 4, env.Cell)
    let e = Assert.Throws<InvalidOperationException>(fun () -> env.Step up |> ignore)
    Assert.Contains("Reset", e.Message)

[<Fact>]
let ``along any action sequence an episode terminates exactly when the agent enters the goal`` () =
    let gen = gen {
        let! size = Gen.choose (2, 6)
        let! actions = Gen.listOf (Gen.choose (0, 3))
        return size, actions
    }
    check (
        Prop.forAll (Arb.fromGen gen) (fun (size, actions) ->
            let env = GridWorldEnvironment(size, 1000)
            env.Reset(Nullable()) |> ignore
            let rec walk actions =
                match actions with
                | [] -> true
                | a :: rest ->
                    let r = env.Step a
                    let atGoal = (env.Cell = GridWorld.goal size)
                    r.Terminated = atGoal && r.Reward = (if atGoal then 1.0 else 0.0) && (atGoal || walk rest)
            walk actions)
    )

[<Fact>]
let ``the bottom-left and top-right corners are not the goal`` () =
    let env = GridWorldEnvironment(3, 100)
    env.Reset(Nullable()) |> ignore
    Assert.False((env.Step down).Terminated)
    Assert.False((env.Step down).Terminated)
    Assert.Equal(cell 2 0, env.Cell)
    env.Reset(Nullable()) |> ignore
    Assert.False((env.Step right).Terminated)
    Assert.False((env.Step right).Terminated)
    Assert.Equal(cell 0 2, env.Cell)

[<Fact>]
let ``an episode is truncated at exactly maxSteps and not terminated`` () =
    let env = GridWorldEnvironment(4, 7)
    env.Reset(Nullable()) |> ignore
    for step in 1..7 do
        let r = env.Step up
        Assert.Equal((step = 7), r.Truncated)
        Assert.False(r.Terminated)
        Assert.Equal(0.0, r.Reward)
    Assert.Throws<InvalidOperationException>(fun () -> env.Step up |> ignore) |> ignore
    env.Reset(Nullable()) |> ignore
    Assert.Equal(0, env.ElapsedSteps)
    Assert.False((env.Step up).Truncated)

[<Fact>]
let ``reaching the goal on the last allowed step is both terminated and truncated`` () =
    let env = GridWorldEnvironment(2, 2)
    env.Reset(Nullable()) |> ignore
    env.Step right |> ignore
    let r = env.Step down
    Assert.True(r.Terminated)
    Assert.True(r.Truncated)
    Assert.Equal(1.0, r.Reward)

[<Fact>]
let ``reset ignores the seed and always starts top-left`` () =
    let env = GridWorldEnvironment()
    let a = env.Reset(Nullable 1)
    env.Step right |> ignore
    let b = env.Reset(Nullable 2)
    Assert.Equal<float32[]>(a, b)
    Assert.Equal(cell 0 0, env.Cell)

[<Fact>]
let ``stepping before reset asks for Reset`` () =
    let env = GridWorldEnvironment() :> IEnvironment
    let e = Assert.Throws<InvalidOperationException>(fun () -> env.Step 0 |> ignore)
    Assert.Contains("Reset", e.Message)

[<Fact>]
let ``invalid actions, sizes, step limits and cells are rejected with their names`` () =
    let env = GridWorldEnvironment()
    env.Reset(Nullable()) |> ignore
    for a in [ -1; 4 ] do
        let e = Assert.Throws<ArgumentOutOfRangeException>(fun () -> env.Step a |> ignore)
        Assert.Equal("action", e.ParamName)
        Assert.Equal(box a, e.ActualValue)
    Assert.Equal(0, env.ElapsedSteps)
    let e = Assert.Throws<ArgumentOutOfRangeException>(fun () -> GridWorldEnvironment(1, 10) |> ignore)
    Assert.Equal("size", e.ParamName)
    let e = Assert.Throws<ArgumentOutOfRangeException>(fun () -> GridWorldEnvironment(5, 0) |> ignore)
    Assert.Equal("maxSteps", e.ParamName)
    let e = Assert.Throws<ArgumentOutOfRangeException>(fun () -> GridWorld.move 5 (cell 5 0) up |> ignore)
    Assert.Equal("cell", e.ParamName)
    Assert.Throws<ArgumentOutOfRangeException>(fun () -> GridWorld.observation 3 (cell 0 -1) |> ignore) |> ignore
