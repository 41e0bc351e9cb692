using System;
using System.Collections.Generic;
using System.Linq;
using Dqn.Fun;
using Xunit;

namespace Dqn.Fun.Facade.Tests;

public class DqnOptionsTests
{
    private static readonly DqnConfig Core = DqnConfigModule.Default;

    [Fact]
    public void Default_mirrors_every_field_of_the_core_defaults()
    {
        var o = DqnOptions.Default;
        Assert.Equal(Core.Hidden, o.HiddenLayers);
        Assert.Equal(Core.Gamma, o.Gamma);
        Assert.Equal(Core.LearningRate, o.LearningRate);
        Assert.Equal(Core.AdamEpsilon, o.AdamEpsilon);
        Assert.Equal(Core.BatchSize, o.BatchSize);
        Assert.Equal(Core.BufferSize, o.BufferSize);
        Assert.Equal(Core.LearningStarts, o.LearningStarts);
        Assert.Equal(Core.TrainFrequency, o.TrainFrequency);
        Assert.Equal(Core.GradientSteps, o.GradientSteps);
        Assert.Equal(Core.TargetUpdateInterval, o.TargetUpdateInterval);
        Assert.Equal(Core.Tau, o.Tau);
        Assert.Equal(Core.Exploration, o.Exploration);
        Assert.Equal(Core.Loss, o.Loss);
        Assert.Equal(Core.MaxGradNorm.Value, o.MaxGradNorm);
        Assert.Equal(Core.DoubleDqn, o.DoubleDqn);
        Assert.Equal(Core.Seed, o.Seed);
        Assert.Equal("cpu", o.Device);
        Assert.Equal(Core.ExplorationUnit, o.ExplorationUnit);
        Assert.Equal(Core.EvalInterval, o.EvalInterval);
        Assert.Equal(Core.EvalEpisodes, o.EvalEpisodes);
        Assert.Equal(Core.EvalEpsilon, o.EvalEpsilon);
    }

    [Fact]
    public void Default_converts_back_to_exactly_the_core_defaults() =>
        Assert.Equal(Core, DqnOptions.Default.ToConfig());

    [Fact]
    public void Every_property_round_trips_through_the_core_config()
    {
        var o = DqnOptions.Default
            .WithHiddenLayers(8, 4).WithGamma(0.5).WithLearningRate(0.1).WithAdamEpsilon(0.0).WithBatchSize(3)
            .WithBufferSize(7).WithLearningStarts(0).WithTrainFrequency(2).WithGradientSteps(3).WithTargetUpdateInterval(9)
            .WithTau(0.25).WithExploration(0.5, 0.0, 10).WithLoss(TdLoss.Huber).WithMaxGradNorm(null).WithDoubleDqn()
            .WithSeed(-4).WithEvalInterval(0).WithEvalEpisodes(3).WithEvalEpsilon(0.05);
        Assert.Equal(o, DqnOptions.FromConfig(o.ToConfig()));
    }

    /// <summary>(property, change): each change sets one property to a value other than its default.</summary>
    public static TheoryData<string, Func<DqnOptions, DqnOptions>> Changes => new()
    {
        { nameof(DqnOptions.HiddenLayers), o => o.WithHiddenLayers(32) },
        { nameof(DqnOptions.Gamma), o => o.WithGamma(0.9) },
        { nameof(DqnOptions.LearningRate), o => o.WithLearningRate(1e-4) },
        { nameof(DqnOptions.AdamEpsilon), o => o.WithAdamEpsilon(1e-5) },
        { nameof(DqnOptions.BatchSize), o => o.WithBatchSize(32) },
        { nameof(DqnOptions.BufferSize), o => o.WithBufferSize(5_000) },
        { nameof(DqnOptions.LearningStarts), o => o.WithLearningStarts(10) },
        { nameof(DqnOptions.TrainFrequency), o => o.WithTrainFrequency(4) },
        { nameof(DqnOptions.GradientSteps), o => o.WithGradientSteps(2) },
        { nameof(DqnOptions.TargetUpdateInterval), o => o.WithTargetUpdateInterval(500) },
        { nameof(DqnOptions.Tau), o => o.WithTau(0.005) },
        { nameof(DqnOptions.Exploration), o => o.WithExploration(1.0, 0.1, 1_000) },
        { nameof(DqnOptions.Exploration), o => o.WithExploration(ScheduleModule.Constant(0.1)) },
        { nameof(DqnOptions.ExplorationUnit), o => o with { ExplorationUnit = ScheduleUnit.Episodes } },
        { nameof(DqnOptions.PriorityWeightNormalization), o => o with { PriorityWeightNormalization = ImportanceWeightNormalization.BatchMax } },
        { nameof(DqnOptions.Loss), o => o.WithLoss(TdLoss.Mse) },
        { nameof(DqnOptions.MaxGradNorm), o => o.WithMaxGradNorm(null) },
        { nameof(DqnOptions.DoubleDqn), o => o.WithDoubleDqn() },
        { nameof(DqnOptions.Seed), o => o.WithSeed(42) },
        { nameof(DqnOptions.Device), o => o.WithDevice("cuda") },
        { nameof(DqnOptions.EvalInterval), o => o.WithEvalInterval(0) },
        { nameof(DqnOptions.EvalEpisodes), o => o.WithEvalEpisodes(5) },
        { nameof(DqnOptions.EvalEpsilon), o => o.WithEvalEpsilon(0.05) },
        { nameof(DqnOptions.Gamma), o => o with { Gamma = 0.9 } },
        { nameof(DqnOptions.IqnTauSamples), o => o with { IqnTauSamples = 8 } },
        { nameof(DqnOptions.IqnTargetTauSamples), o => o with { IqnTargetTauSamples = 8 } },
        { nameof(DqnOptions.IqnPolicyTauSamples), o => o with { IqnPolicyTauSamples = 8 } },
        { nameof(DqnOptions.IqnEmbeddingDim), o => o with { IqnEmbeddingDim = 8 } },
        { nameof(DqnOptions.Recurrent), o => o.WithRecurrent() },
        { nameof(DqnOptions.LstmHidden), o => o.WithLstmHidden(16) },
        { nameof(DqnOptions.SequenceLength), o => o.WithSequenceLength(12) },
        { nameof(DqnOptions.BurnIn), o => o.WithBurnIn(0) },
    };

    [Theory]
    [MemberData(nameof(Changes))]
    public void WithX_returns_a_new_value_differing_only_in_X_and_leaves_the_original_unchanged(
        string property, Func<DqnOptions, DqnOptions> change)
    {
        var original = DqnOptions.FromConfig(Core);
        var changed = change(original);

        Assert.Equal(DqnOptions.Default, original);
        OptionsAssert.DiffersOnlyIn(original, changed, property);
    }

    [Fact]
    public void Equality_is_by_value_hidden_layers_included()
    {
        var a = DqnOptions.Default.WithHiddenLayers([.. DqnOptions.Default.HiddenLayers]).WithSeed(3);
        var b = DqnOptions.Default.WithSeed(3);
        Assert.Equal(a, b);
        Assert.Equal(a.GetHashCode(), b.GetHashCode());
        Assert.NotEqual(a, b.WithHiddenLayers(64, 32));
    }

    [Fact]
    public void HiddenLayers_are_copied_so_the_callers_array_cannot_change_the_options()
    {
        var widths = new[] { 8, 8 };
        var o = DqnOptions.Default.WithHiddenLayers(widths);
        widths[0] = 99;
        Assert.Equal([8, 8], o.HiddenLayers);
    }

    [Fact]
    public void Device_is_normalised()
    {
        Assert.Equal("cpu", DqnOptions.Default.WithDevice(" CPU ").Device);
        Assert.Equal("cuda:0", DqnOptions.Default.WithDevice("cuda").Device);
        Assert.Equal("cuda:1", DqnOptions.Default.WithDevice("CUDA:1").Device);
    }

    /// <summary>(make, argument name, offending value).</summary>
    public static TheoryData<Func<DqnOptions>, string, object> OutOfRange => new()
    {
        { () => DqnOptions.Default.WithBatchSize(-1), "BatchSize", -1 },
        { () => DqnOptions.Default.WithBatchSize(0), "BatchSize", 0 },
        { () => DqnOptions.Default.WithGamma(1.5), "Gamma", 1.5 },
        { () => DqnOptions.Default.WithGamma(double.NaN), "Gamma", double.NaN },
        { () => DqnOptions.Default with { Gamma = -0.1 }, "Gamma", -0.1 },
        { () => DqnOptions.Default.WithLearningRate(0.0), "LearningRate", 0.0 },
        { () => DqnOptions.Default.WithLearningRate(double.PositiveInfinity), "LearningRate", double.PositiveInfinity },
        { () => DqnOptions.Default.WithAdamEpsilon(-1e-8), "AdamEpsilon", -1e-8 },
        { () => DqnOptions.Default.WithBufferSize(0), "BufferSize", 0 },
        { () => DqnOptions.Default.WithLearningStarts(-1), "LearningStarts", -1 },
        { () => DqnOptions.Default.WithTrainFrequency(0), "TrainFrequency", 0 },
        { () => DqnOptions.Default.WithGradientSteps(0), "GradientSteps", 0 },
        { () => DqnOptions.Default.WithTargetUpdateInterval(-5), "TargetUpdateInterval", -5 },
        { () => DqnOptions.Default.WithTau(0.0), "Tau", 0.0 },
        { () => DqnOptions.Default.WithTau(1.01), "Tau", 1.01 },
        { () => DqnOptions.Default.WithExploration(1.2, 0.1, 100), "start", 1.2 },
        { () => DqnOptions.Default.WithExploration(1.0, -0.1, 100), "end", -0.1 },
        { () => DqnOptions.Default.WithExploration(1.0, 0.1, 0), "steps", 0L },
        { () => DqnOptions.Default.WithMultiplicativeExploration(1.0, 0.1, 1.5), "factor", 1.5 },
        { () => DqnOptions.Default.WithMultiplicativeExploration(0.1, 0.5, 0.9), "finish", 0.5 },
        { () => DqnOptions.Default with { ExplorationUnit = (ScheduleUnit)7 }, "ExplorationUnit", (ScheduleUnit)7 },
        { () => DqnOptions.Default.WithLoss((TdLoss)7), "Loss", (TdLoss)7 },
        { () => DqnOptions.Default.WithMaxGradNorm(0.0), "MaxGradNorm", 0.0 },
        { () => DqnOptions.Default.WithEvalInterval(-1), "EvalInterval", -1 },
        { () => DqnOptions.Default.WithEvalEpisodes(-1), "EvalEpisodes", -1 },
        { () => DqnOptions.Default.WithEvalEpsilon(2.0), "EvalEpsilon", 2.0 },
        { () => DqnOptions.Default.WithHiddenLayers(64, 0), "HiddenLayers", 0 },
    };

    [Theory]
    [MemberData(nameof(OutOfRange))]
    public void An_out_of_range_value_fails_where_it_is_set_naming_the_argument_and_the_value(
        Func<DqnOptions> make, string argument, object value)
    {
        OptionsAssert.FailsNaming(make, argument, value);
    }

    [Fact]
    public void Null_values_fail_naming_the_property()
    {
        Assert.Equal("HiddenLayers", Assert.Throws<ArgumentNullException>(() => DqnOptions.Default.WithHiddenLayers(null!)).ParamName);
        Assert.Equal("Exploration", Assert.Throws<ArgumentNullException>(() => DqnOptions.Default.WithExploration(null!)).ParamName);
        Assert.Equal("Device", Assert.Throws<ArgumentNullException>(() => DqnOptions.Default.WithDevice(null!)).ParamName);
    }

    [Fact]
    public void An_unknown_device_fails_naming_it()
    {
        var e = Assert.Throws<ArgumentException>(() => DqnOptions.Default.WithDevice("tpu"));
        Assert.Contains("tpu", e.Message);
    }

    [Fact]
    public void A_buffer_smaller_than_the_batch_is_rejected_by_the_core_when_an_agent_is_built()
    {
        var options = DqnOptions.Default.WithBatchSize(64).WithBufferSize(10);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new DqnAgent(options, 4, 2));
        Assert.Equal("BufferSize", e.ParamName);
        Assert.Equal(10, e.ActualValue);
    }
}

public class DqnOptionsPresetTests
{
    [Fact]
    public void Rainbow_switches_on_every_component_Hessel_et_al_combine()
    {
        var o = DqnOptions.Preset("rainbow");
        Assert.Equal(ValueHead.Categorical, o.Head);
        Assert.True(o.Dueling && o.Noisy && o.Prioritized && o.DoubleDqn);
        Assert.Equal(3, o.NStep);
        Assert.Equal(0.0, ScheduleModule.Value(o.Exploration, 0));
        Assert.Equal(DqnOptions.Default.HiddenLayers, o.HiddenLayers);
    }

    [Fact]
    public void Every_named_preset_builds_an_agent_with_its_architecture()
    {
        foreach (var name in DqnOptions.PresetNames)
        {
            using var agent = new DqnAgent(DqnOptions.Preset(name).WithHiddenLayers(8), 4, 2);
            Assert.Equal(DqnOptions.Preset(name).Head, agent.Options.Head);
            Assert.InRange(agent.Act([0.1f, 0.2f, 0.3f, 0.4f]), 0, 1);
        }
    }

    [Fact]
    public void An_unknown_preset_lists_the_known_ones()
    {
        var e = Assert.Throws<ArgumentException>(() => DqnOptions.Preset("rainbo"));
        Assert.Contains("rainbow", e.Message);
        Assert.Contains("'rainbo'", e.Message);
    }

    [Fact]
    public void WithImplicitQuantiles_selects_IQN_with_its_sample_counts_round_trips_and_builds_an_agent()
    {
        var o = DqnOptions.Default.WithImplicitQuantiles(tauSamples: 16, targetTauSamples: 24, policyTauSamples: 8, embeddingDim: 32);
        Assert.Equal(ValueHead.Implicit, o.Head);
        Assert.Equal((16, 24, 8, 32), (o.IqnTauSamples, o.IqnTargetTauSamples, o.IqnPolicyTauSamples, o.IqnEmbeddingDim));
        Assert.Equal((64, 64, 32, 64), (DqnOptions.Default.IqnTauSamples, DqnOptions.Default.IqnTargetTauSamples,
            DqnOptions.Default.IqnPolicyTauSamples, DqnOptions.Default.IqnEmbeddingDim));
        Assert.Equal(o, DqnOptions.FromConfig(o.ToConfig()));
        Assert.Equal(ValueHead.Implicit, DqnOptions.Preset("iqn").Head);
        Assert.Contains("iqn", DqnOptions.PresetNames);

        using var agent = new DqnAgent(o.WithHiddenLayers(8, 8).WithLearningStarts(20).WithBatchSize(8).WithEvalInterval(0), 4, 2);
        Assert.Equal(o.IqnTauSamples, agent.Options.IqnTauSamples);
        Assert.InRange(agent.Act([0.1f, 0.2f, 0.3f, 0.4f]), 0, 1);
    }

    [Fact]
    public void WithImplicitQuantiles_names_the_count_out_of_range_and_IQN_needs_a_hidden_layer()
    {
        Assert.Equal("tauSamples", Assert.Throws<ArgumentOutOfRangeException>(() => DqnOptions.Default.WithImplicitQuantiles(tauSamples: 0)).ParamName);
        Assert.Equal("targetTauSamples", Assert.Throws<ArgumentOutOfRangeException>(() => DqnOptions.Default.WithImplicitQuantiles(targetTauSamples: -1)).ParamName);
        Assert.Equal("policyTauSamples", Assert.Throws<ArgumentOutOfRangeException>(() => DqnOptions.Default.WithImplicitQuantiles(policyTauSamples: 0)).ParamName);
        Assert.Equal("embeddingDim", Assert.Throws<ArgumentOutOfRangeException>(() => DqnOptions.Default.WithImplicitQuantiles(embeddingDim: 0)).ParamName);
        Assert.Equal("IqnTauSamples", Assert.Throws<ArgumentOutOfRangeException>(() => DqnOptions.Default with { IqnTauSamples = 0 }).ParamName);
        var e = Assert.Throws<ArgumentException>(() => new DqnAgent(DqnOptions.Default.WithImplicitQuantiles().WithHiddenLayers(), 4, 2));
        Assert.Equal("Hidden", e.ParamName);
    }

    [Fact]
    public void The_distributional_and_n_step_options_check_their_arguments()
    {
        Assert.Equal("atoms", Assert.Throws<ArgumentOutOfRangeException>(() => DqnOptions.Default.WithCategorical(atoms: 1)).ParamName);
        Assert.Equal("vMax", Assert.Throws<ArgumentOutOfRangeException>(() => DqnOptions.Default.WithCategorical(51, 10, 0)).ParamName);
        Assert.Equal("quantiles", Assert.Throws<ArgumentOutOfRangeException>(() => DqnOptions.Default.WithQuantiles(0)).ParamName);
        Assert.Equal("NStep", Assert.Throws<ArgumentOutOfRangeException>(() => DqnOptions.Default.WithNStep(0)).ParamName);
        Assert.Equal(ValueHead.Quantile, DqnOptions.Default.WithQuantiles(20).Head);
    }
}

public class DqnOptionsExplorationTests
{
    [Fact]
    public void WithMultiplicativeExploration_sets_the_tutorial_decay_counted_in_episodes()
    {
        var o = DqnOptions.Default.WithMultiplicativeExploration(1.0, 0.05, 0.995);
        Assert.Equal(ScheduleUnit.Episodes, o.ExplorationUnit);
        Assert.Equal(Math.Max(0.05, Math.Pow(0.995, 100)), ScheduleModule.Value(o.Exploration, 100));
        Assert.Equal(0.05, ScheduleModule.Value(o.Exploration, 10_000));
        Assert.Equal(o, DqnOptions.FromConfig(o.ToConfig()));
        Assert.Equal(ScheduleUnit.AgentSteps, DqnOptions.Default.WithMultiplicativeExploration(1.0, 0.05, 0.999, ScheduleUnit.AgentSteps).ExplorationUnit);
    }
}
