using Dqn.Fun;

// Train a DQN agent on CartPole-v1 for N agent steps (first argument; default 30 000).
long steps = args.Length > 0 ? long.Parse(args[0]) : 30_000;
var env = Environments.Make("CartPole-v1");
using var agent = new DqnAgent(DqnOptions.Default.WithSeed(0), env);
var summary = agent.Learn(env, Environments.Make("CartPole-v1"), steps, new ConsoleProgress());
var eval = agent.Evaluate(Environments.Make("CartPole-v1"), episodes: 20);
Console.WriteLine($"{summary.Steps} steps in {summary.WallSeconds:F1} s; greedy return {eval.MeanReturn:F1} ± {eval.StdReturn:F1}");
agent.Save("cartpole.safetensors");

// Your own problem: implement IEnvironment (ChainWalk.cs) and train on it the same way.
var chain = new ChainWalk(length: 6);
using var walker = new DqnAgent(DqnOptions.Default.WithSeed(0).WithLearningStarts(200).WithExploration(1.0, 0.05, 1_000), chain);
walker.Learn(chain, 2_000);
Console.WriteLine($"ChainWalk: greedy return {walker.Evaluate(chain, episodes: 5).MeanReturn:F2} (best: 0.95)");

sealed class ConsoleProgress : IProgress<TrainingProgress>
{
    public void Report(TrainingProgress p)
    {
        if (p is EpisodeProgress { Episode: var n } e && n % 25 == 0) Console.WriteLine($"step {e.Step,6}  episode {n,4}  return {e.Return,5:F0}  ε {e.Epsilon:F2}");
        if (p is EvaluationProgress v) Console.WriteLine($"step {v.Step,6}  evaluation: {v.MeanReturn:F1} ± {v.StdReturn:F1}");
    }
}
