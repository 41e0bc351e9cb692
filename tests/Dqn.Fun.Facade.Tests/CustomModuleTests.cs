using System;
using System.IO;
using System.Linq;
using Dqn.Fun;
using TorchSharp;
using TorchSharp.Modules;
using Xunit;
using static TorchSharp.torch;

namespace Dqn.Fun.Facade.Tests;

/// <summary>A torso a C# user writes: Linear, LayerNorm, Tanh, Linear, Tanh; [batch; inputs] to [batch; features].</summary>
internal sealed class NormalizedTanhTorso : nn.Module<Tensor, Tensor>
{
    private readonly Linear first;
    private readonly LayerNorm norm;
    private readonly Linear second;

    public NormalizedTanhTorso(int inputs, int features) : base(nameof(NormalizedTanhTorso))
    {
        first = nn.Linear(inputs, 48);
        norm = nn.LayerNorm(48);
        second = nn.Linear(48, features);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        return second.call(norm.call(first.call(x)).tanh()).tanh().MoveToOuterDisposeScope();
    }
}

/// <summary>A whole Q-network a C# user writes: two hidden layers with a skip connection.</summary>
internal sealed class SkipQNetwork : nn.Module<Tensor, Tensor>
{
    private readonly Linear input;
    private readonly Linear hidden;
    private readonly Linear output;

    public SkipQNetwork(int inputs, int actions) : base(nameof(SkipQNetwork))
    {
        input = nn.Linear(inputs, 32);
        hidden = nn.Linear(32, 32);
        output = nn.Linear(32, actions);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var h = nn.functional.relu(input.call(x));
        return output.call(h + nn.functional.relu(hidden.call(h))).MoveToOuterDisposeScope();
    }
}

public class CustomModuleTests
{
    private static readonly DqnOptions Fast = DqnOptions.Default
        .WithSeed(1).WithBufferSize(2_000).WithLearningStarts(100)
        .WithExploration(1.0, 0.1, 500).WithTargetUpdateInterval(50);

    private const int Contexts = 4;

    private static void LearnsEveryContext(DqnAgent agent)
    {
        var env = new ContextualBandit(Contexts);
        agent.Learn(env, 1_500);
        // A random policy picks all four best actions with probability 1/256.
        for (var k = 0; k < Contexts; k++) Assert.Equal(k, agent.Act(ContextualBandit.OneHot(k, Contexts)));
    }

    [Fact]
    public void A_torso_written_in_CSharp_sits_under_the_dueling_head_and_learns()
    {
        var options = Fast.WithDueling().WithTorso(() => new NormalizedTanhTorso(Contexts, 24), 24);
        using var agent = new DqnAgent(options, new ContextualBandit(Contexts));
        var names = agent.Network.named_parameters().Select(p => p.name).ToArray();
        Assert.Contains("torso.first.weight", names);
        Assert.Contains("torso.norm.weight", names);
        Assert.Contains("value.weight", names);
        Assert.Contains("advantage.weight", names);
        var before = agent.Network.named_parameters().Single(p => p.name == "torso.norm.weight").parameter.data<float>().ToArray();
        LearnsEveryContext(agent);
        var after = agent.Network.named_parameters().Single(p => p.name == "torso.norm.weight").parameter.data<float>().ToArray();
        Assert.NotEqual(before, after);
    }

    [Theory]
    [InlineData("noisy")]
    [InlineData("c51")]
    [InlineData("qr")]
    [InlineData("iqn")]
    public void A_torso_written_in_CSharp_sits_under_every_head_of_the_family(string preset)
    {
        var options = DqnOptions.Preset(preset).WithSeed(0).WithTorso(() => new NormalizedTanhTorso(Contexts, 16), 16)
            .WithLearningStarts(32).WithBatchSize(32).WithBufferSize(256);
        using var agent = new DqnAgent(options, new ContextualBandit(Contexts));
        Assert.Contains(agent.Network.named_parameters(), p => p.name.StartsWith("torso.first."));
        var summary = agent.Learn(new ContextualBandit(Contexts), 100);
        Assert.True(summary.Updates > 0);
        Assert.InRange(agent.Act(ContextualBandit.OneHot(0, Contexts)), 0, Contexts - 1);
    }

    [Fact]
    public void A_QNetwork_written_in_CSharp_trains_saves_and_loads_its_parameters_into_a_fresh_agent()
    {
        var options = Fast.WithQNetwork(() => new SkipQNetwork(Contexts, Contexts));
        var path = Path.Combine(Path.GetTempPath(), $"dqnfun-custom-{Guid.NewGuid():N}.safetensors");
        try
        {
            using var agent = new DqnAgent(options, new ContextualBandit(Contexts));
            LearnsEveryContext(agent);
            agent.Save(path);

            using var fresh = new DqnAgent(options.WithSeed(5), new ContextualBandit(Contexts));
            fresh.LoadParameters(path);
            var observations = Enumerable.Range(0, Contexts).Select(k => ContextualBandit.OneHot(k, Contexts)).ToArray();
            Assert.Equal(observations.Select(agent.Act), observations.Select(fresh.Act));
            // Only a network of the same make can read the file back.
            Assert.Throws<InvalidDataException>(() => DqnAgent.Load(path));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void A_QNetwork_with_the_wrong_output_is_refused_naming_both_shapes()
    {
        var options = Fast.WithQNetwork(() => new SkipQNetwork(Contexts, Contexts + 1));
        var e = Assert.Throws<ArgumentException>(() => new DqnAgent(options, new ContextualBandit(Contexts)));
        Assert.Contains("[1; 5]", e.Message);
        Assert.Contains("[1; 4]", e.Message);
    }

    [Fact]
    public void WithTorso_checks_its_arguments()
    {
        Assert.Throws<ArgumentNullException>(() => Fast.WithTorso(null!, 8));
        Assert.Equal("features", Assert.Throws<ArgumentOutOfRangeException>(() => Fast.WithTorso(() => new NormalizedTanhTorso(4, 8), 0)).ParamName);
        Assert.Throws<ArgumentNullException>(() => Fast.WithQNetwork(null!));
    }
}
