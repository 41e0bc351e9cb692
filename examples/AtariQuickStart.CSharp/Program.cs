using Dqn.Fun;

// DQN on Atari: the Nature preset on a game (first argument; default Pong) for N emulator frames (second argument;
// default 500 000). The ALE runs in a bridge server: python3 (or $DQNFUN_PYTHON) with ale-py, pyzmq and numpy.
string game = args.Length > 0 ? args[0] : "Pong";
long frames = args.Length > 1 ? long.Parse(args[1]) : 500_000;
var options = AtariOptions.Preset("nature")
    .WithSeed(0)
    .WithLearningStarts(5_000)      // agent steps (20 000 frames) before the first update
    .WithBufferSize(100_000)        // transitions, one per agent step (one 84x84 frame each: 0.7 GB)
    .WithEvaluation(AtariEvaluationProtocol.Nature, games: 5)
    .WithEvalIntervalFrames(250_000);

// One bridge server per environment: the training games, and the Nature protocol's evaluation games.
using var train = BridgedAtariEnvironment.Open(game, options);
using var eval = BridgedAtariEnvironment.Open(game, options, forEvaluation: true);
using var agent = new AtariDqnAgent(options, train.Environment);
using var stop = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) => { e.Cancel = true; stop.Cancel(); }; // Ctrl+C: stop, keep what was learned
Console.WriteLine($"{train.Game} ({train.Bridge.Server}): {agent.ActionCount} actions, {frames} frames (about {frames / options.FrameSkip} agent steps)");

try
{
    var result = agent.Learn(train.Environment, frames, eval.Environment, new ConsoleProgress(), stop.Token);
    Console.WriteLine($"{result.Frames} frames, {result.AgentSteps} agent steps, {result.Games} games in {result.WallTime.TotalMinutes:F1} min");
}
catch (OperationCanceledException)
{
    Console.WriteLine($"stopped after {agent.Frames} frames ({agent.AgentSteps} agent steps)");
}
agent.Save($"{train.Game}.safetensors", new Dictionary<string, string> { ["game"] = train.Game });
var score = agent.Evaluate(eval.Environment, games: 3);
Console.WriteLine($"score over 3 games (ε {options.Dqn.EvalEpsilon}): {score.MeanScore:F1} ± {score.StdScore:F1}");

sealed class ConsoleProgress : IProgress<AtariProgress>
{
    public void Report(AtariProgress p)
    {
        if (p is AtariGameProgress { Game: var n } g && n % 10 == 1)
            Console.WriteLine($"frames {g.Frames,9}  agent steps {g.AgentSteps,8}  game {n,4}  score {g.Score,6:F1}  ε {g.Epsilon:F3}  {g.FramesPerSecond:F0} frames/s");
        if (p is AtariEvaluationProgress e)
            Console.WriteLine($"frames {e.Frames,9}  agent steps {e.AgentSteps,8}  evaluation: {e.MeanScore:F1} ± {e.StdScore:F1} over {e.Games} games");
    }
}
