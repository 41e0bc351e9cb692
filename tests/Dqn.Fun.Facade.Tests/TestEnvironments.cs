using System;
using System.Collections.Generic;
using Dqn.Fun;

// One test at a time: agents share LibTorch's process settings, and the leak checks read
// TorchSharp's per-thread scope statistics.
[assembly: Xunit.CollectionBehavior(DisableTestParallelization = true)]

namespace Dqn.Fun.Facade.Tests;

/// <summary>Process settings of the test run, made when the test assembly loads.</summary>
internal static class TestProcess
{
    /// <summary>LibTorch's intra-op threads: 1, a process setting agents leave alone, so that training results do not
    /// depend on the machine's core count (LibTorch's default).</summary>
    [System.Runtime.CompilerServices.ModuleInitializer]
    internal static void SingleThread() => TorchSharp.torch.set_num_threads(1);
}

/// <summary>
/// A contextual bandit written by a user: the observation is a one-hot context k in 0 .. K−1; action k earns
/// reward 1, any other action 0; a new context is drawn every step; an episode lasts <c>length</c> steps
/// and then terminates. Greedy-optimal play earns 1 per step.
/// </summary>
internal sealed class ContextualBandit(int contexts, int length = 1) : IEnvironment
{
    private Random rng = new(12345);
    private int context;
    private int elapsed = -1;

    public int ObservationSize => contexts;
    public int ActionCount => contexts;

    public float[] Reset(int? seed)
    {
        if (seed is { } s) rng = new Random(s);
        elapsed = 0;
        return Draw();
    }

    public StepResult Step(int action)
    {
        if (action < 0 || action >= contexts) throw new ArgumentOutOfRangeException(nameof(action), action, "no such action");
        if (elapsed < 0) throw new InvalidOperationException("call Reset first");
        var reward = action == context ? 1.0 : 0.0;
        elapsed++;
        var done = elapsed == length;
        if (done) elapsed = -1;
        return new StepResult(Draw(), reward, done, false);
    }

    public static float[] OneHot(int k, int size)
    {
        var o = new float[size];
        o[k] = 1f;
        return o;
    }

    private float[] Draw()
    {
        context = rng.Next(contexts);
        return OneHot(context, contexts);
    }
}

/// <summary>A broken user environment whose Step returns an observation one value too short.</summary>
internal sealed class ShortObservationEnvironment : IEnvironment
{
    public int ObservationSize => 3;
    public int ActionCount => 2;
    public float[] Reset(int? seed) => new float[3];
    public StepResult Step(int action) => new(new float[2], 0.0, false, false);
}

/// <summary>Records every report synchronously (unlike <see cref="Progress{T}"/>, which posts them).</summary>
internal sealed class RecordingProgress<T>(Action<T>? onReport = null) : IProgress<T>
{
    public List<T> Reports { get; } = [];

    public void Report(T value)
    {
        Reports.Add(value);
        onReport?.Invoke(value);
    }
}
