module Dqn.Fun.Tests.GridWorldTests

open System
open Expecto
open FsCheck
open FsCheck.FSharp
open Dqn.Fun
open Dqn.Fun.Tests.TestConfig

let private cell row column : GridWorld.Cell = { Row = row; Column = column }

let private up, right, down, left = 0, 1, 2, 3

[<Tests>]
let tests =
    testList "GridWorld" [
        testCase "each action moves one cell in its direction from the centre" <| fun () ->
            let c = cell 2 2
            Expect.equal (GridWorld.move 5 c up) (cell 1 2) "GridWorld.move 5 c up"
            Expect.equal (GridWorld.move 5 c right) (cell 2 3) "GridWorld.move 5 c right"
            Expect.equal (GridWorld.move 5 c down) (cell 3 2) "GridWorld.move 5 c down"
            Expect.equal (GridWorld.move 5 c left) (cell 2 1) "GridWorld.move 5 c left"

        testCase "moves into a wall leave the agent in place" <| fun () ->
            Expect.equal (GridWorld.move 5 (cell 0 0) up) (cell 0 0) "GridWorld.move 5 (cell 0 0) up"
            Expect.equal (GridWorld.move 5 (cell 0 0) left) (cell 0 0) "GridWorld.move 5 (cell 0 0) left"
            Expect.equal (GridWorld.move 5 (cell 4 4) down) (cell 4 4) "GridWorld.move 5 (cell 4 4) down"
            Expect.equal (GridWorld.move 5 (cell 4 4) right) (cell 4 4) "GridWorld.move 5 (cell 4 4) right"
            Expect.equal (GridWorld.move 5 (cell 0 3) up) (cell 0 3) "GridWorld.move 5 (cell 0 3) up"
            Expect.equal (GridWorld.move 5 (cell 2 4) right) (cell 2 4) "GridWorld.move 5 (cell 2 4) right"

        testPropertyWithConfig fsCheck "a move stays in the grid and changes one coordinate by one unless blocked by a wall" (
            let gen = gen {
                let! size = Gen.choose (2, 12)
                let! row = Gen.choose (0, size - 1)
                let! column = Gen.choose (0, size - 1)
                let! action = Gen.choose (0, 3)
                return size, cell row column, action
            }
            Prop.forAll (Arb.fromGen gen) (fun (size, c, action) ->
                let n = GridWorld.move size c action
                let inside = 0 <= n.Row && n.Row < size && 0 <= n.Column && n.Column < size
                let distance = abs (n.Row - c.Row) + abs (n.Column - c.Column)
                let blocked =
                    (action = up && c.Row = 0) || (action = down && c.Row = size - 1)
                    || (action = left && c.Column = 0) || (action = right && c.Column = size - 1)
                inside && (if blocked then n = c else distance = 1))
        )

        testPropertyWithConfig fsCheck "the observation is one-hot at row times size plus column" (
            let gen = gen {
                let! size = Gen.choose (2, 12)
                let! row = Gen.choose (0, size - 1)
                let! column = Gen.choose (0, size - 1)
                return size, cell row column
            }
            Prop.forAll (Arb.fromGen gen) (fun (size, c) ->
                let obs = GridWorld.observation size c
                obs.Length = size * size
                && Array.sum obs = 1.0f
                && obs[c.Row * size + c.Column] = 1.0f)
        )

        testCase "the default grid is 5 by 5 with the goal bottom-right" <| fun () ->
            let env = GridWorldEnvironment()
            Expect.equal env.Size 5 "env.Size"
            Expect.equal env.MaxSteps 100 "env.MaxSteps"
            Expect.equal env.ObservationSize 25 "env.ObservationSize"
            Expect.equal env.ActionCount 4 "env.ActionCount"
            Expect.equal (GridWorld.goal 5) (cell 4 4) "GridWorld.goal 5"
            let obs = env.Reset(Nullable())
            Expect.equal (obs[0]) 1.0f "obs[0]"
            Expect.equal env.Cell (cell 0 0) "env.Cell"

        testCase "reaching the goal pays 1.0 and terminates, every earlier step pays 0.0" <| fun () ->
            let env = GridWorldEnvironment()
            env.Reset(Nullable()) |> ignore
            let path = [ right; right; right; right; down; down; down ]
            for a in path do
                let r = env.Step a
                Expect.equal r.Reward 0.0 "r.Reward"
                Expect.isFalse r.Terminated "r.Terminated"
                Expect.isFalse r.Truncated "r.Truncated"
            let r = env.Step down
            Expect.equal r.Reward 1.0 "r.Reward"
            Expect.isTrue r.Terminated "r.Terminated"
            Expect.isFalse r.Truncated "r.Truncated"
            Expect.equal (r.Observation[24]) 1.0f "r.Observation[24]"
            Expect.equal env.Cell (cell 4 4) "env.Cell"
            let e = Expect.wantThrows<InvalidOperationException> (fun () -> env.Step up |> ignore) "InvalidOperationException"
            Expect.stringContains e.Message "Reset" "e.Message"

        testPropertyWithConfig fsCheck "along any action sequence an episode terminates exactly when the agent enters the goal" (
            let gen = gen {
                let! size = Gen.choose (2, 6)
                let! actions = Gen.listOf (Gen.choose (0, 3))
                return size, actions
            }
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

        testCase "the bottom-left and top-right corners are not the goal" <| fun () ->
            let env = GridWorldEnvironment(3, 100)
            env.Reset(Nullable()) |> ignore
            Expect.isFalse ((env.Step down).Terminated) "(env.Step down).Terminated"
            Expect.isFalse ((env.Step down).Terminated) "(env.Step down).Terminated"
            Expect.equal env.Cell (cell 2 0) "env.Cell"
            env.Reset(Nullable()) |> ignore
            Expect.isFalse ((env.Step right).Terminated) "(env.Step right).Terminated"
            Expect.isFalse ((env.Step right).Terminated) "(env.Step right).Terminated"
            Expect.equal env.Cell (cell 0 2) "env.Cell"

        testCase "an episode is truncated at exactly maxSteps and not terminated" <| fun () ->
            let env = GridWorldEnvironment(4, 7)
            env.Reset(Nullable()) |> ignore
            for step in 1..7 do
                let r = env.Step up
                Expect.equal r.Truncated (step = 7) "r.Truncated"
                Expect.isFalse r.Terminated "r.Terminated"
                Expect.equal r.Reward 0.0 "r.Reward"
            Expect.throwsT<InvalidOperationException> (fun () -> env.Step up |> ignore) "InvalidOperationException"
            env.Reset(Nullable()) |> ignore
            Expect.equal env.ElapsedSteps 0 "env.ElapsedSteps"
            Expect.isFalse ((env.Step up).Truncated) "(env.Step up).Truncated"

        testCase "reaching the goal on the last allowed step is both terminated and truncated" <| fun () ->
            let env = GridWorldEnvironment(2, 2)
            env.Reset(Nullable()) |> ignore
            env.Step right |> ignore
            let r = env.Step down
            Expect.isTrue r.Terminated "r.Terminated"
            Expect.isTrue r.Truncated "r.Truncated"
            Expect.equal r.Reward 1.0 "r.Reward"

        testCase "reset ignores the seed and always starts top-left" <| fun () ->
            let env = GridWorldEnvironment()
            let a = env.Reset(Nullable 1)
            env.Step right |> ignore
            let b = env.Reset(Nullable 2)
            Expect.equal b a "b"
            Expect.equal env.Cell (cell 0 0) "env.Cell"

        testCase "stepping before reset asks for Reset" <| fun () ->
            let env = GridWorldEnvironment() :> IEnvironment
            let e = Expect.wantThrows<InvalidOperationException> (fun () -> env.Step 0 |> ignore) "InvalidOperationException"
            Expect.stringContains e.Message "Reset" "e.Message"

        testCase "invalid actions, sizes, step limits and cells are rejected with their names" <| fun () ->
            let env = GridWorldEnvironment()
            env.Reset(Nullable()) |> ignore
            for a in [ -1; 4 ] do
                let e = Expect.wantThrows<ArgumentOutOfRangeException> (fun () -> env.Step a |> ignore) "ArgumentOutOfRangeException"
                Expect.equal e.ParamName "action" "e.ParamName"
                Expect.equal e.ActualValue (box a) "e.ActualValue"
            Expect.equal env.ElapsedSteps 0 "env.ElapsedSteps"
            let e = Expect.wantThrows<ArgumentOutOfRangeException> (fun () -> GridWorldEnvironment(1, 10) |> ignore) "ArgumentOutOfRangeException"
            Expect.equal e.ParamName "size" "e.ParamName"
            let e = Expect.wantThrows<ArgumentOutOfRangeException> (fun () -> GridWorldEnvironment(5, 0) |> ignore) "ArgumentOutOfRangeException"
            Expect.equal e.ParamName "maxSteps" "e.ParamName"
            let e = Expect.wantThrows<ArgumentOutOfRangeException> (fun () -> GridWorld.move 5 (cell 5 0) up |> ignore) "ArgumentOutOfRangeException"
            Expect.equal e.ParamName "cell" "e.ParamName"
            Expect.throwsT<ArgumentOutOfRangeException> (fun () -> GridWorld.observation 3 (cell 0 -1) |> ignore) "ArgumentOutOfRangeException"
    ]
