open Dqn.Fun

/// Trains a DQN agent on CartPole-v1 for N agent steps (first argument; default 30 000).
[<EntryPoint>]
let main argv =
    let steps = if argv.Length > 0 then int64 argv[0] else 30_000L
    let env = Environments.make "CartPole-v1"
    use agent = new Agent({ DqnConfig.defaults with Seed = 0 }, env.ObservationSize, env.ActionCount)
    let report event =
        match event with
        | EpisodeEnded m when m.Episode % 25 = 0 ->
            printfn "step %6d  episode %4d  return %5.0f  ε %.2f" m.Step m.Episode m.Return m.Epsilon
        | Evaluated e -> printfn "step %6d  evaluation: %.1f ± %.1f" e.Step e.MeanReturn e.StdReturn
        | _ -> ()
    let summary = agent.Learn(env, steps, evalEnv = Environments.make "CartPole-v1", observer = report)
    let eval = agent.Evaluate(Environments.make "CartPole-v1", 20)
    printfn "%d steps in %.1f s; greedy return %.1f ± %.1f" summary.Steps summary.WallSeconds eval.MeanReturn eval.StdReturn
    agent.Save "cartpole.safetensors"
    0
