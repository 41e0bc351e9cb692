module Dqn.Fun.Tests.NStepTests

open System
open Expecto
open FsCheck
open FsCheck.FSharp
open Dqn.Fun
open Dqn.Fun.Tests.TestConfig
open Dqn.Fun.Tests.TorchTestSupport

/// Step t of a trajectory: observation [t], next observation [t + 0.5], action t mod 3.
let private step (t: int) (reward: float32) (terminated: bool) (truncated: bool) =
    { Observation = [| float32 t |]
      Action = t % 3
      Reward = reward
      NextObservation = [| float32 t + 0.5f |]
      Terminated = terminated
      Truncated = truncated }

/// A random stream: n, gamma and steps whose episodes end by termination, truncation (or both) at random.
type private Case = { N: int; Gamma: float; Steps: Transition[] }

let private caseGen =
    gen {
        let! n = Gen.choose (1, 5)
        let! gamma = Gen.oneof [ Gen.constant 0.0; Gen.constant 1.0; Gen.choose (0, 1000) |> Gen.map (fun i -> float i / 1000.0) ]
        let! length = Gen.choose (0, 40)
        let! rewards = Gen.arrayOfLength length (Gen.choose (-1000, 1000) |> Gen.map (fun i -> float32 i / 100.0f))
        let! ends =
            Gen.arrayOfLength length (Gen.frequency [ 6, Gen.constant (false, false); 2, Gen.constant (true, false); 2, Gen.constant (false, true); 1, Gen.constant (true, true) ])
        let steps = Array.init length (fun t -> step t rewards[t] (fst ends[t]) (snd ends[t]))
        return { N = n; Gamma = gamma; Steps = steps }
    }

let private ended (s: Transition) = s.Terminated || s.Truncated

/// The plain loop: for each t, walk forward until n rewards, the end of the episode or the end of the stream.
let private reference (c: Case) =
    [ for t in 0 .. c.Steps.Length - 1 do
          let mutable m = 1
          while m < c.N && not (ended c.Steps[t + m - 1]) && t + m < c.Steps.Length do
              m <- m + 1
          let mutable ret = 0.0
          for k in 0 .. m - 1 do
              ret <- ret + Math.Pow(c.Gamma, float k) * float c.Steps[t + k].Reward
          let last = c.Steps[t + m - 1]
          { Observation = c.Steps[t].Observation
            Action = c.Steps[t].Action
            Return = ret
            NextObservation = last.NextObservation
            Terminated = last.Terminated
            Discount = Math.Pow(c.Gamma, float m)
            Steps = m } ]

/// Pushes the whole stream; returns what the pushes emitted, the accumulator, and what the final flush emitted.
let private run (c: Case) =
    let acc, emitted =
        c.Steps
        |> Array.fold
            (fun (acc, out) s ->
                let acc', e = NStep.push acc s
                acc', out @ e)
            (NStep.create c.N c.Gamma, [])
    let flushed, rest = NStep.flush acc
    emitted, acc, flushed, rest

let private same (e: NStepTransition) (a: NStepTransition) =
    e.Observation = a.Observation
    && e.Action = a.Action
    && e.NextObservation = a.NextObservation
    && e.Terminated = a.Terminated
    && e.Steps = a.Steps
    && abs (e.Return - a.Return) <= 1e-9 * (1.0 + abs e.Return)
    && abs (e.Discount - a.Discount) <= 1e-12

[<Tests>]
let tests =
    testList "NStep" [
        testPropertyWithConfig fsCheck "push then flush emits the plain loop's n-step transitions, one per step, in order" (
            Prop.forAll (Arb.fromGen caseGen) (fun c ->
                let emitted, _, _, rest = run c
                let all = emitted @ rest
                let expected = reference c
                all.Length = expected.Length && List.forall2 same expected all)
        )

        testPropertyWithConfig fsCheck "only the unfinished tail of the last episode is left pending, fewer than n steps" (
            Prop.forAll (Arb.fromGen caseGen) (fun c ->
                let emitted, acc, flushed, rest = run c
                let pending = acc.Pending
                let tailOk =
                    pending
                    |> List.forall (fun s -> not (ended s))
                    && pending = (c.Steps |> Array.skip (c.Steps.Length - pending.Length) |> List.ofArray)
                pending.Length < c.N
                && emitted.Length + pending.Length = c.Steps.Length
                && tailOk
                && flushed.Pending.IsEmpty
                && rest.Length = pending.Length
                && rest |> List.forall (fun t -> not t.Terminated && t.Steps < c.N))
        )

        testPropertyWithConfig fsCheck "no return crosses the end of an episode" (
            Prop.forAll (Arb.fromGen caseGen) (fun c ->
                let emitted, _, _, rest = run c
                (emitted @ rest)
                |> List.forall (fun t ->
                    let first = int t.Observation[0]
                    // every step of the run but the last continues the episode
                    Seq.forall (fun k -> not (ended c.Steps[first + k])) (seq { 0 .. t.Steps - 2 })))
        )

        testCase "push leaves its input accumulator unchanged" <| fun () ->
            let acc0 = NStep.create 3 0.9
            let acc1, _ = NStep.push acc0 (step 0 1f false false)
            let a, ea = NStep.push acc1 (step 1 2f false false)
            let b, eb = NStep.push acc1 (step 1 2f false false)
            Expect.isEmpty acc0.Pending "acc0.Pending"
            Expect.equal acc1.Pending.Length 1 "acc1.Pending.Length"
            Expect.equal b.Pending a.Pending "b.Pending"
            Expect.equal eb ea "eb"

        testCase "a termination completes every pending step as terminal (the documented example)" <| fun () ->
            let acc, e1 = NStep.push (NStep.create 3 1.0) (step 0 1f false false)
            Expect.isEmpty e1 "e1"
            let acc, e2 = NStep.push acc (step 1 2f true false)
            Expect.isEmpty acc.Pending "acc.Pending"
            Expect.equal
                e2
                [ { Observation = [| 0f |]; Action = 0; Return = 3.0; NextObservation = [| 1.5f |]; Terminated = true; Discount = 1.0; Steps = 2 }
                  { Observation = [| 1f |]; Action = 1; Return = 2.0; NextObservation = [| 1.5f |]; Terminated = true; Discount = 1.0; Steps = 1 } ]
                "e2"

        testCase "a truncation completes every pending step bootstrapping from the state where the episode was cut" <| fun () ->
            let acc, _ = NStep.push (NStep.create 3 0.5) (step 0 1f false false)
            let acc, e = NStep.push acc (step 1 2f false true)
            Expect.isEmpty acc.Pending "acc.Pending"
            Expect.equal
                e
                [ { Observation = [| 0f |]; Action = 0; Return = 2.0; NextObservation = [| 1.5f |]; Terminated = false; Discount = 0.25; Steps = 2 }
                  { Observation = [| 1f |]; Action = 1; Return = 2.0; NextObservation = [| 1.5f |]; Terminated = false; Discount = 0.5; Steps = 1 } ]
                "e"

        testCase "with n steps pending the oldest is completed with gamma^n (the documented example)" <| fun () ->
            let acc, e1 = NStep.push (NStep.create 2 0.5) (step 0 1f false false)
            let acc, e2 = NStep.push acc (step 1 4f false false)
            Expect.isEmpty e1 "e1"
            Expect.equal
                e2
                [ { Observation = [| 0f |]; Action = 0; Return = 3.0; NextObservation = [| 1.5f |]; Terminated = false; Discount = 0.25; Steps = 2 } ]
                "e2"
            Expect.equal acc.Pending [ step 1 4f false false ] "acc.Pending"

        testPropertyWithConfig fsCheck "n = 1 passes every step through as a one-step transition" (
            Prop.forAll (Arb.fromGen caseGen) (fun c ->
                let c = { c with N = 1 }
                let emitted, acc, _, _ = run c
                acc.Pending.IsEmpty
                && emitted
                   |> List.forall2
                       (fun (s: Transition) t ->
                           t.Observation = s.Observation
                           && t.NextObservation = s.NextObservation
                           && t.Return = float s.Reward
                           && t.Terminated = s.Terminated
                           && t.Discount = c.Gamma
                           && t.Steps = 1)
                       (List.ofArray c.Steps))
        )

        testCase "create checks n and gamma" <| fun () ->
            Expect.equal (Expect.wantThrows<ArgumentOutOfRangeException> (fun () -> NStep.create 0 0.9 |> ignore) "ArgumentOutOfRangeException").ParamName "n" "ParamName"
            for gamma in [ -0.1; 1.5; nan ] do
                Expect.equal (Expect.wantThrows<ArgumentOutOfRangeException> (fun () -> NStep.create 3 gamma |> ignore) "ArgumentOutOfRangeException").ParamName "gamma" "ParamName"
            let acc = NStep.create 3 0.9
            Expect.equal acc.N 3 "acc.N"
            Expect.equal acc.Gamma 0.9 "acc.Gamma"

        testPropertyWithConfig fsCheck "no stored n-step transition crosses an episode start, whatever the split of training into Learn calls" (
            Prop.forAll (Arb.fromGen (Gen.listOfLength 6 (Gen.choose (1, 25)))) (fun chunks ->
                let config = { DqnConfig.defaults with NStep = 3; LearningStarts = 100_000; EvalInterval = 0; BufferSize = 1_000 }
                use agent = new Agent(config, 3, 2)
                let env = TaggedEpisodes(0, 5)
                for chunk in chunks do
                    agent.Learn(env, int64 chunk) |> ignore
                let stored = agent.StoredTransitions()
                let obs i = stored.Observations[3 * i + 1], stored.Observations[3 * i + 2]
                let next i = stored.NextObservations[3 * i + 1], stored.NextObservations[3 * i + 2]
                stored.Size = List.sum chunks
                && Seq.forall
                    (fun i ->
                        let episode, t = obs i
                        let episode', t' = next i
                        // Same episode, Steps later: a transition that joined two Learn calls would point into the next one.
                        episode' = episode && t' = t + float32 stored.Steps[i])
                    (seq { 0 .. stored.Size - 1 }))
        )
    ]
