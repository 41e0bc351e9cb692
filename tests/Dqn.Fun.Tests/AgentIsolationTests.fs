module Dqn.Fun.Tests.AgentIsolationTests

open System
open System.Threading.Tasks
open Expecto
open TorchSharp
open Dqn.Fun
open Dqn.Fun.Tests.TorchTestSupport

/// Trains one agent and returns its parameters and the returns of its training episodes.
let private trainAlone (preset: string) (seed: int) =
    let config = { DqnConfig.preset preset with Seed = seed; LearningStarts = 200; BatchSize = 32; EvalInterval = 0 }
    use agent = new Agent(config, 4, 2)
    let returns = Collections.Generic.List<float>()
    agent.Learn(CartPoleEnvironment(), 1_500L, observer = (function EpisodeEnded m -> returns.Add m.Return | _ -> ())) |> ignore
    let parameters = [ for struct (n, p) in agent.Network.named_parameters () -> n, floats p ]
    parameters, List.ofSeq returns

[<Tests>]
let tests =
    testList "AgentIsolation" [
        testCase "two agents built and trained at once, on two threads, equal each one trained alone" <| fun () ->
            let threads = torch.get_num_threads ()
            // One intra-op thread: the result of a LibTorch reduction then does not depend on what the other agent runs.
            torch.set_num_threads 1
            try
                for preset in [ "dqn"; "noisy"; "iqn" ] do
                    let alone1 = trainAlone preset 1
                    let alone2 = trainAlone preset 2
                    let together = Task.WhenAll(Task.Run(fun () -> trainAlone preset 1), Task.Run(fun () -> trainAlone preset 2)).Result
                    Expect.isTrue (alone1 = together[0]) $"{preset}: seed 1 trained beside another agent differs from seed 1 alone"
                    Expect.isTrue (alone2 = together[1]) $"{preset}: seed 2 trained beside another agent differs from seed 2 alone"
                    Expect.isFalse (alone1 = alone2) $"{preset}: seeds 1 and 2 gave the same agent"
            finally
                torch.set_num_threads threads

        testCase "an agent's numbers do not depend on torch's global generator, and building one leaves the thread count alone" <| fun () ->
            let threads = torch.get_num_threads ()
            let train (globalSeed: int64) =
                torch.manual_seed globalSeed |> ignore
                trainAlone "noisy" 9
            Expect.isTrue (train 1L = train 2L) "reseeding torch's global generator changed an agent's weights or returns"
            Expect.equal (torch.get_num_threads ()) threads "torch.get_num_threads ()"
    ]
