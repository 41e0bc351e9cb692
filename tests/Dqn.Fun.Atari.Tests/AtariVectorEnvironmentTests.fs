/// AtariVectorEnvironment against lone AtariEnvironments over the same emulators, step by step and byte for byte:
/// the vector runs the same episode logic (one state machine), batched into one emulator call per round.
module Dqn.Fun.Atari.Tests.AtariVectorEnvironmentTests

open System
open Expecto
open Dqn.Fun.Atari
open Dqn.Fun.Tests

let private rgbLength = 210 * 160 * 3

/// A deterministic emulator that differs per id: the screen after episode frame f is a pattern of (f, id); the
/// reward of frame f is (f + id) % 3 − 1; lives fall by one every 9 + id frames from 3; the game ends at
/// frame 40 + 7·id. Counts its calls.
type VectorFakeAle(id: int) =
    let mutable frame = 0
    let gameOverAt = 40 + 7 * id
    member val Calls = 0 with get, set
    interface IAle with
        member _.MinimalActionSet = [| 0; 1; 3; 4 |]
        member this.Act action =
            this.Calls <- this.Calls + 1
            frame <- frame + 1
            (frame + id + action) % 3 - 1
        member _.Lives() = max 0 (3 - frame / (9 + id))
        member _.IsGameOver() = frame >= gameOverAt
        member _.GetScreenRgb buffer =
            for i in 0 .. rgbLength - 1 do
                buffer[i] <- byte ((i / 97 * 31 + frame * 13 + id * 71) &&& 255)
        member _.ResetGame() = frame <- 0

/// Fails naming the first differing byte (Span comparison: these are 28 KB stacks, thousands of them).
let private sameBytes (actual: byte[]) (expected: byte[]) (what: string) =
    if not (ReadOnlySpan(actual).SequenceEqual(ReadOnlySpan expected)) then
        let at = Seq.zip actual expected |> Seq.tryFindIndex (fun (a, b) -> a <> b) |> Option.defaultValue (min actual.Length expected.Length)
        failtestf "%s: %d bytes against %d expected, first difference at byte %d" what actual.Length expected.Length at

let private settingsUnderTest =
    [ "nature (no-op starts, FIRE, life-loss terminals)", { AtariSettings.nature with MaxEpisodeFrames = 150 }
      "machado (game over only)", { AtariSettings.machado with MaxEpisodeFrames = 0 }
      "nature with long no-op starts crossing game overs", { AtariSettings.nature with NoopMaxFrames = 90; MaxEpisodeFrames = 0 } ]

/// Steps `n` envs `steps` times with seeded random actions through the vector and through lone environments,
/// comparing everything each step returns.
let private compare (settings: AtariSettings) (n: int) (steps: int) (maxFrames: int) =
    let vectorAles = Array.init n (fun i -> VectorFakeAle i)
    let loneAles = Array.init n (fun i -> VectorFakeAle i)
    let inner = AtariVectorEmulator.ofEmulators (vectorAles |> Array.map (fun a -> AtariEmulator.ofAle a))
    // An emulator whose ops may hold at most maxFrames frames (as the bridge's 64), so no-op starts are cut.
    let limited =
        { new IAtariVectorEmulator with
            member _.NumEnvs = inner.NumEnvs
            member _.MinimalActionSet = inner.MinimalActionSet
            member _.MaxFrames = maxFrames
            member _.Run(ops, results, secondLast, last) =
                for op in ops do
                    if op.Frames > maxFrames then failwith $"an op of {op.Frames} frames, above MaxFrames {maxFrames}"
                inner.Run(ops, results, secondLast, last) }
    let vector = AtariVectorEnvironment(limited, settings, 100)
    let lone = Array.init n (fun i -> AtariEnvironment(loneAles[i], settings, 100 + i))
    let count = 4 * 84 * 84
    let row (a: byte[]) i = a[i * count .. (i + 1) * count - 1]
    let first = vector.Reset()
    for i in 0 .. n - 1 do
        sameBytes (row first i) (lone[i].Reset()) $"env {i}'s first observation"
    let rng = Random 7
    let mutable ended = 0
    let mutable stepRounds = 0L
    for k in 1..steps do
        let actions = Array.init n (fun _ -> rng.Next 4)
        let callsBefore = vector.EmulatorCalls
        let s = vector.Step actions
        stepRounds <- stepRounds + 1L
        for i in 0 .. n - 1 do
            let l = lone[i].Step actions[i]
            let at = $"step {k}, env {i}"
            sameBytes (row s.FinalObservations i) l.Observation $"{at}: final observation"
            Expect.equal
                (s.Rewards[i], s.RawRewards[i], s.Terminated[i], s.Truncated[i], s.GameOver[i], s.LifeLost[i], s.Frames[i])
                (l.Reward, l.RawReward, l.Terminated, l.Truncated, l.GameOver, l.LifeLost, l.Frames)
                $"{at}: reward, raw reward, terminated, truncated, game over, life lost, frames"
            if l.Terminated || l.Truncated then
                ended <- ended + 1
                sameBytes (row s.Observations i) (lone[i].Reset()) $"{at}: the next episode's first observation"
            else sameBytes (row s.Observations i) l.Observation $"{at}: observation"
        if not (Array.exists2 (||) s.Terminated s.Truncated) then
            Expect.equal (vector.EmulatorCalls - callsBefore) 1L $"step {k}: one emulator call when no episode ends"
    Expect.equal vector.TotalFrames (lone |> Array.sumBy (fun e -> e.TotalFrames)) "TotalFrames"
    Expect.equal vector.AgentSteps (lone |> Array.sumBy (fun e -> e.AgentSteps)) "AgentSteps"
    Expect.equal (vectorAles |> Array.map (fun a -> a.Calls)) (loneAles |> Array.map (fun a -> a.Calls)) "every emulator ran the same frames"
    ended

[<Tests>]
let tests =
    testList "AtariVectorEnvironment" [
        for name, settings in settingsUnderTest do
            testCase $"each env steps, ends and resets exactly as a lone AtariEnvironment: {name}" <| fun () ->
                let ended = compare settings 3 400 Int32.MaxValue
                Expect.isGreaterThan ended 20 "episodes ended (the autoreset was exercised)"

        testCase "no-op starts longer than the emulator's MaxFrames are cut into ops and give the same bytes" <| fun () ->
            let ended = compare { AtariSettings.nature with NoopMaxFrames = 90; MaxEpisodeFrames = 0 } 2 300 8
            Expect.isGreaterThan ended 10 "episodes ended"

        testCase "Reset(seed) seeds env i with seed + i, as Gymnasium's vector reset" <| fun () ->
            let settings = { AtariSettings.nature with NoopMaxFrames = 30 }
            let vector = AtariVectorEnvironment(AtariVectorEmulator.ofEmulators (Array.init 3 (fun i -> AtariEmulator.ofAle (VectorFakeAle 0))), settings, 0)
            let lone = Array.init 3 (fun _ -> AtariEnvironment(VectorFakeAle 0, settings, 12345))
            let first = vector.Reset(Nullable 40)
            let count = 4 * 84 * 84
            let rows = Array.init 3 (fun i -> first[i * count .. (i + 1) * count - 1])
            for i in 0..2 do
                sameBytes rows[i] (lone[i].Reset(40 + i)) $"env {i} after Reset(40)"
            Expect.isFalse (rows[0] = rows[1] && rows[1] = rows[2]) "the same game with different no-op seeds starts apart"
            let again = vector.Reset(Nullable 40)
            sameBytes again first "a second Reset(40) gives the same first observations"

        testCase "bad arguments are refused with the value named" <| fun () ->
            let emulator = AtariVectorEmulator.ofEmulators [| AtariEmulator.ofAle (VectorFakeAle 0); AtariEmulator.ofAle (VectorFakeAle 1) |]
            let vector = AtariVectorEnvironment(emulator, AtariSettings.machado, 0)
            Expect.throwsT<InvalidOperationException> (fun () -> vector.Step [| 0; 0 |] |> ignore) "Step before Reset"
            vector.Reset() |> ignore
            let e = Expect.wantThrows<ArgumentOutOfRangeException> (fun () -> vector.Step [| 0; 4 |] |> ignore) "an action outside the set"
            Expect.stringContains e.Message "actions[1]" "the message names the action"
            Expect.throwsT<ArgumentException> (fun () -> vector.Step [| 0 |] |> ignore) "one action for two envs"
            let skip = Expect.wantThrows<ArgumentOutOfRangeException> (fun () -> AtariVectorEnvironment({ new IAtariVectorEmulator with
                                                                                                            member _.NumEnvs = 1
                                                                                                            member _.MinimalActionSet = [| 0; 1 |]
                                                                                                            member _.MaxFrames = 2
                                                                                                            member _.Run(_, _, _, _) = () }, AtariSettings.machado, 0) |> ignore) "FrameSkip 4 above MaxFrames 2"
            Expect.stringContains skip.Message "MaxFrames = 2" "the message names the limit"
            let mixed = Expect.wantThrows<ArgumentException> (fun () -> AtariVectorEmulator.ofEmulators [| AtariEmulator.ofAle (VectorFakeAle 0); AtariEmulator.ofAle (AtariWrappersTests.FakeAle([| 0; 1 |], (fun _ -> 0), (fun _ -> 0), 0)) |] |> ignore) "action sets that differ"
            Expect.stringContains mixed.Message "emulators[1]" "the message names the emulator"
    ]
