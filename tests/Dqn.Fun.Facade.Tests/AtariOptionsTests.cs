using System;
using System.Collections.Generic;
using System.Linq;
using Dqn.Fun;
using Dqn.Fun.Atari;
using Xunit;

namespace Dqn.Fun.Facade.Tests;

public class AtariOptionsTests
{
    public static TheoryData<string> Presets => [.. AtariOptions.PresetNames];

    [Theory]
    [MemberData(nameof(Presets))]
    public void Every_preset_round_trips_through_the_core_config_both_ways(string name)
    {
        var core = AtariConfigModule.Preset(name);
        var options = AtariOptions.Preset(name);

        Assert.Equal(core, options.ToConfig());
        Assert.Equal(options, AtariOptions.FromConfig(options.ToConfig()));
        Assert.Equal(options, AtariOptions.FromConfig(core));
        Assert.Equal(name, options.PresetName);
    }

    [Fact]
    public void The_preset_names_are_the_cores()
    {
        Assert.Equal(AtariConfigModule.PresetNames, AtariOptions.PresetNames);
        Assert.Equal(["nature", "dopamine", "c51", "qr", "iqn", "rainbow"], AtariOptions.PresetNames);
    }

    [Fact]
    public void Nature_mirrors_Mnih_et_al_and_its_units()
    {
        var o = AtariOptions.Preset("nature");
        Assert.Equal(AtariOptimizerKind.RmsProp, o.Optimizer);
        Assert.Equal((0.95, 0.01, true), (o.RmsPropAlpha, o.OptimizerEpsilon, o.RmsPropCentered));
        Assert.Equal((4, 30, true, true, 108_000, true), (o.FrameSkip, o.NoopMaxFrames, o.FireOnReset, o.TerminalOnLifeLoss, o.MaxEpisodeFrames, o.ClipRewards));
        Assert.Equal(StackPadding.RepeatFirst, o.Padding);
        Assert.Equal(0.0, o.RepeatActionProbability);
        Assert.Equal((AtariEvaluationProtocol.Nature, 30), (o.Evaluation, o.EvaluationGames));
        Assert.Equal((1_000_000L, 1_000_000L), (o.EvalIntervalFrames, o.CheckpointIntervalFrames));
        // ε anneals over 1M frames = 250k agent steps.
        Assert.Equal(0.1, ScheduleModule.Value(o.Dqn.Exploration, 250_000), 12);
        Assert.True(ScheduleModule.Value(o.Dqn.Exploration, 249_000) > 0.1);
    }

    [Fact]
    public void Dopamine_has_sticky_actions_Adam_and_Machado_scoring()
    {
        var o = AtariOptions.Preset("Dopamine");
        Assert.Equal(AtariOptimizerKind.Adam, o.Optimizer);
        Assert.Equal(1.5e-4, o.OptimizerEpsilon);
        Assert.Equal(0.25, o.RepeatActionProbability);
        Assert.Equal((AtariEvaluationProtocol.Machado, 100), (o.Evaluation, o.EvaluationGames));
        Assert.Equal((false, false, 0), (o.FireOnReset, o.TerminalOnLifeLoss, o.NoopMaxFrames));
    }

    [Fact]
    public void Every_property_round_trips_through_the_core_config()
    {
        var o = AtariOptions.Preset("rainbow")
            .WithLearningRate(1e-4).WithBatchSize(8).WithBufferSize(100).WithLearningStarts(10).WithTrainFrequency(2)
            .WithTargetUpdateInterval(7).WithExploration(0.5, 0.01, 1_000).WithGamma(0.9).WithEvalEpsilon(0.02).WithSeed(5)
            .WithDevice("cpu").WithDqn(d => d.WithDoubleDqn(false).WithMaxGradNorm(10.0))
            .WithRmsProp(0.9, 1e-3, false).WithFrameSkip(3).WithNoopMaxFrames(7).WithFireOnReset(false).WithTerminalOnLifeLoss()
            .WithMaxEpisodeFrames(5_000).WithClipRewards(false).WithPadding(StackPadding.Zeros).WithRepeatActionProbability(0.1)
            .WithEvaluation(AtariEvaluationProtocol.Nature, 3).WithEvalIntervalFrames(123).WithCheckpointIntervalFrames(456)
            with { PresetName = "mine" };
        var c = o.ToConfig();

        Assert.Equal(o, AtariOptions.FromConfig(c));
        Assert.Equal("mine", c.Preset);
        Assert.Equal(AtariOptimizer.NewRmsProp(0.9, 1e-3, false), c.Optimizer);
        Assert.Equal(new AtariSettings(3, 7, false, true, 5_000, false, StackPadding.Zeros), c.Environment);
        Assert.Equal(0.1, c.RepeatActionProbability);
        Assert.Equal(EvaluationProtocol.NewNature(3), c.Evaluation);
        Assert.Equal((123L, 456L), (c.EvalIntervalFrames, c.CheckpointIntervalFrames));
        Assert.Equal((8, 100, 10, 2, 7, 0.9, 0.02, 5), (c.Dqn.BatchSize, c.Dqn.BufferSize, c.Dqn.LearningStarts, c.Dqn.TrainFrequency,
            c.Dqn.TargetUpdateInterval, c.Dqn.Gamma, c.Dqn.EvalEpsilon, c.Dqn.Seed));
        Assert.Equal(1e-4, ScheduleModule.Value(c.Dqn.LearningRate, 0));
        Assert.False(c.Dqn.DoubleDqn);
        Assert.Equal(AtariOptimizer.NewAdam(2e-4), o.WithAdam(2e-4).ToConfig().Optimizer);
    }

    /// <summary>(property, change): each change sets one property to a value other than the preset's.</summary>
    public static TheoryData<string, Func<AtariOptions, AtariOptions>> Changes => new()
    {
        { nameof(AtariOptions.Dqn), o => o.WithLearningRate(1e-3) },
        { nameof(AtariOptions.Dqn), o => o.WithBatchSize(64) },
        { nameof(AtariOptions.Dqn), o => o.WithBufferSize(10_000) },
        { nameof(AtariOptions.Dqn), o => o.WithLearningStarts(1_000) },
        { nameof(AtariOptions.Dqn), o => o.WithTrainFrequency(1) },
        { nameof(AtariOptions.Dqn), o => o.WithTargetUpdateInterval(100) },
        { nameof(AtariOptions.Dqn), o => o.WithExploration(1.0, 0.1, 10_000) },
        { nameof(AtariOptions.Dqn), o => o.WithGamma(0.9) },
        { nameof(AtariOptions.Dqn), o => o.WithEvalEpsilon(0.1) },
        { nameof(AtariOptions.Dqn), o => o.WithSeed(9) },
        { nameof(AtariOptions.Dqn), o => o.WithDevice("cuda") },
        { nameof(AtariOptions.Dqn), o => o.WithDqn(d => d.WithDueling()) },
        { nameof(AtariOptions.OptimizerEpsilon), o => o.WithAdam(1e-8) },
        { nameof(AtariOptions.FrameSkip), o => o.WithFrameSkip(2) },
        { nameof(AtariOptions.NoopMaxFrames), o => o.WithNoopMaxFrames(30) },
        { nameof(AtariOptions.FireOnReset), o => o.WithFireOnReset() },
        { nameof(AtariOptions.TerminalOnLifeLoss), o => o.WithTerminalOnLifeLoss() },
        { nameof(AtariOptions.MaxEpisodeFrames), o => o.WithMaxEpisodeFrames(0) },
        { nameof(AtariOptions.ClipRewards), o => o.WithClipRewards(false) },
        { nameof(AtariOptions.Padding), o => o.WithPadding(StackPadding.Zeros) },
        { nameof(AtariOptions.RepeatActionProbability), o => o.WithRepeatActionProbability(0.0) },
        { nameof(AtariOptions.EvaluationGames), o => o.WithEvaluation(AtariEvaluationProtocol.Machado, 10) },
        { nameof(AtariOptions.Evaluation), o => o.WithEvaluation(AtariEvaluationProtocol.Nature, 100) },
        { nameof(AtariOptions.EvalIntervalFrames), o => o.WithEvalIntervalFrames(0) },
        { nameof(AtariOptions.CheckpointIntervalFrames), o => o.WithCheckpointIntervalFrames(0) },
        { nameof(AtariOptions.PresetName), o => o with { PresetName = "custom" } },
        { nameof(AtariOptions.RmsPropAlpha), o => o with { RmsPropAlpha = 0.5 } },
    };

    [Theory]
    [MemberData(nameof(Changes))]
    public void WithX_returns_a_new_value_differing_only_in_X_and_leaves_the_original_unchanged(
        string property, Func<AtariOptions, AtariOptions> change)
    {
        var original = AtariOptions.Preset("dopamine");
        var changed = change(original);

        Assert.Equal(AtariOptions.Preset("dopamine"), original);
        OptionsAssert.DiffersOnlyIn(original, changed, property);
    }

    [Fact]
    public void WithRmsProp_switches_the_optimizer_and_its_three_settings()
    {
        var o = AtariOptions.Preset("dopamine").WithRmsProp(0.9, 1e-5, false);
        Assert.Equal((AtariOptimizerKind.RmsProp, 0.9, 1e-5, false), (o.Optimizer, o.RmsPropAlpha, o.OptimizerEpsilon, o.RmsPropCentered));
        Assert.Equal(AtariOptions.Preset("dopamine"), o.WithAdam(1.5e-4));
    }

    /// <summary>(make, argument name, offending value).</summary>
    public static TheoryData<Func<AtariOptions>, string, object> OutOfRange => new()
    {
        { () => AtariOptions.Preset("nature").WithFrameSkip(0), "FrameSkip", 0 },
        { () => AtariOptions.Preset("nature").WithNoopMaxFrames(-1), "NoopMaxFrames", -1 },
        { () => AtariOptions.Preset("nature").WithMaxEpisodeFrames(-2), "MaxEpisodeFrames", -2 },
        { () => AtariOptions.Preset("nature").WithRepeatActionProbability(1.5), "RepeatActionProbability", 1.5 },
        { () => AtariOptions.Preset("nature").WithRepeatActionProbability(double.NaN), "RepeatActionProbability", double.NaN },
        { () => AtariOptions.Preset("nature").WithEvaluation(AtariEvaluationProtocol.Nature, 0), "games", 0 },
        { () => AtariOptions.Preset("nature").WithEvaluation((AtariEvaluationProtocol)5, 3), "Evaluation", (AtariEvaluationProtocol)5 },
        { () => AtariOptions.Preset("nature") with { EvaluationGames = -3 }, "EvaluationGames", -3 },
        { () => AtariOptions.Preset("nature").WithEvalIntervalFrames(-1), "EvalIntervalFrames", -1L },
        { () => AtariOptions.Preset("nature").WithCheckpointIntervalFrames(-5), "CheckpointIntervalFrames", -5L },
        { () => AtariOptions.Preset("nature").WithAdam(-1e-8), "epsilon", -1e-8 },
        { () => AtariOptions.Preset("nature").WithAdam(double.PositiveInfinity), "epsilon", double.PositiveInfinity },
        { () => AtariOptions.Preset("nature").WithRmsProp(alpha: 1.0), "alpha", 1.0 },
        { () => AtariOptions.Preset("nature").WithRmsProp(epsilon: -1.0), "epsilon", -1.0 },
        { () => AtariOptions.Preset("nature") with { OptimizerEpsilon = double.NaN }, "OptimizerEpsilon", double.NaN },
        { () => AtariOptions.Preset("nature") with { Optimizer = (AtariOptimizerKind)2 }, "Optimizer", (AtariOptimizerKind)2 },
        { () => AtariOptions.Preset("nature").WithBatchSize(0), "BatchSize", 0 },
        { () => AtariOptions.Preset("nature").WithBufferSize(-1), "BufferSize", -1 },
        { () => AtariOptions.Preset("nature").WithLearningStarts(-1), "LearningStarts", -1 },
        { () => AtariOptions.Preset("nature").WithTrainFrequency(0), "TrainFrequency", 0 },
        { () => AtariOptions.Preset("nature").WithTargetUpdateInterval(0), "TargetUpdateInterval", 0 },
        { () => AtariOptions.Preset("nature").WithLearningRate(-1.0), "LearningRate", -1.0 },
        { () => AtariOptions.Preset("nature").WithExploration(1.0, 0.1, 0), "agentSteps", 0L },
        { () => AtariOptions.Preset("nature").WithExploration(2.0, 0.1, 10), "start", 2.0 },
        { () => AtariOptions.Preset("nature").WithGamma(1.1), "Gamma", 1.1 },
        { () => AtariOptions.Preset("nature").WithEvalEpsilon(-0.5), "EvalEpsilon", -0.5 },
    };

    [Theory]
    [MemberData(nameof(OutOfRange))]
    public void An_out_of_range_value_fails_where_it_is_set_naming_the_argument_and_the_value(
        Func<AtariOptions> make, string argument, object value)
    {
        OptionsAssert.FailsNaming(make, argument, value);
    }

    [Fact]
    public void Null_values_fail_naming_the_property_or_argument()
    {
        var o = AtariOptions.Preset("nature");
        Assert.Equal("name", Assert.Throws<ArgumentNullException>(() => AtariOptions.Preset(null!)).ParamName);
        Assert.Equal("Dqn", Assert.Throws<ArgumentNullException>(() => o.WithDqn((DqnOptions)null!)).ParamName);
        Assert.Equal("change", Assert.Throws<ArgumentNullException>(() => o.WithDqn((Func<DqnOptions, DqnOptions>)null!)).ParamName);
        Assert.Equal("Dqn", Assert.Throws<ArgumentNullException>(() => o.WithDqn(_ => null!)).ParamName);
        Assert.Equal("Padding", Assert.Throws<ArgumentNullException>(() => o.WithPadding(null!)).ParamName);
        Assert.Equal("PresetName", Assert.Throws<ArgumentNullException>(() => o with { PresetName = null! }).ParamName);
        Assert.Equal("config", Assert.Throws<ArgumentNullException>(() => AtariOptions.FromConfig(null!)).ParamName);
    }

    [Fact]
    public void An_unknown_preset_lists_the_known_ones()
    {
        var e = Assert.Throws<ArgumentException>(() => AtariOptions.Preset("natur"));
        Assert.Contains("'natur'", e.Message);
        Assert.Contains("nature", e.Message);
    }

    [Fact]
    public void A_torso_or_Q_network_of_ones_own_is_refused_the_Atari_network_being_the_Nature_CNN()
    {
        var o = AtariOptions.Preset("nature");
        var e = Assert.Throws<ArgumentException>(() => o.WithDqn(d => d.WithTorso(() => TorchSharp.torch.nn.Identity(), 4)));
        Assert.Equal("Dqn", e.ParamName);
        Assert.Contains("Nature CNN", e.Message);
        Assert.Equal("Dqn", Assert.Throws<ArgumentException>(() => o.WithDqn(d => d.WithQNetwork(() => TorchSharp.torch.nn.Identity()))).ParamName);
    }

    [Fact]
    public void A_buffer_smaller_than_the_batch_is_rejected_when_the_config_is_made()
    {
        var o = AtariOptions.Preset("nature").WithBatchSize(64).WithBufferSize(10);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => o.ToConfig());
        Assert.Equal("BufferSize", e.ParamName);
        Assert.Equal(10, e.ActualValue);
        Assert.Equal("BufferSize", Assert.Throws<ArgumentOutOfRangeException>(() => new AtariDqnAgent(o, 4)).ParamName);
    }

    [Fact]
    public void Evaluation_settings_follow_the_protocol()
    {
        var nature = AtariOptions.Preset("nature");
        Assert.Equal(AtariConfigModule.NatureEvaluationSettings(nature.TrainingSettings()), nature.EvaluationSettings());
        Assert.Equal((false, 30, 18_000), (nature.EvaluationSettings().TerminalOnLifeLoss, nature.EvaluationSettings().NoopMaxFrames,
            nature.EvaluationSettings().MaxEpisodeFrames));
        var dopamine = AtariOptions.Preset("dopamine");
        Assert.Equal(dopamine.TrainingSettings(), dopamine.EvaluationSettings());
        Assert.Equal(dopamine.ToConfig().Environment, dopamine.TrainingSettings());
    }
}

public class AtariPublicSurfaceTests
{
    private static readonly Type[] NewTypes =
    [
        typeof(AtariOptions), typeof(AtariOptimizerKind), typeof(AtariEvaluationProtocol), typeof(AtariDqnAgent),
        typeof(AtariProgress), typeof(AtariGameProgress), typeof(AtariEvaluationProgress), typeof(AtariCheckpointProgress),
        typeof(AtariTrainingResult), typeof(AtariEvaluationResult), typeof(BridgedAtariEnvironment),
    ];

    /// <summary>F# collections, options, functions and tuples, which C# callers should not have to build or take apart.</summary>
    private static bool IsFSharpShaped(Type t)
    {
        if (t.HasElementType) return IsFSharpShaped(t.GetElementType()!);
        if (t.IsGenericType && t.GetGenericArguments().Any(IsFSharpShaped)) return true;
        var name = (t.IsGenericType ? t.GetGenericTypeDefinition() : t).FullName ?? t.Name;
        return name.StartsWith("Microsoft.FSharp.Collections.FSharpList", StringComparison.Ordinal)
            || name.StartsWith("Microsoft.FSharp.Collections.FSharpMap", StringComparison.Ordinal)
            || name.StartsWith("Microsoft.FSharp.Core.FSharpOption", StringComparison.Ordinal)
            || name.StartsWith("Microsoft.FSharp.Core.FSharpValueOption", StringComparison.Ordinal)
            || name.StartsWith("Microsoft.FSharp.Core.FSharpFunc", StringComparison.Ordinal)
            || name.StartsWith("System.Tuple", StringComparison.Ordinal)
            || name.StartsWith("System.ValueTuple", StringComparison.Ordinal);
    }

    private static IEnumerable<(string Member, Type Type)> SignatureTypes(Type owner)
    {
        const System.Reflection.BindingFlags Public =
            System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.Static
            | System.Reflection.BindingFlags.DeclaredOnly;
        foreach (var m in owner.GetMethods(Public))
        {
            yield return ($"{owner.Name}.{m.Name} returns", m.ReturnType);
            foreach (var p in m.GetParameters()) yield return ($"{owner.Name}.{m.Name}({p.Name})", p.ParameterType);
        }
        foreach (var c in owner.GetConstructors())
            foreach (var p in c.GetParameters()) yield return ($"{owner.Name}..ctor({p.Name})", p.ParameterType);
        foreach (var p in owner.GetProperties(Public)) yield return ($"{owner.Name}.{p.Name}", p.PropertyType);
        foreach (var f in owner.GetFields(Public)) yield return ($"{owner.Name}.{f.Name}", f.FieldType);
    }

    [Fact]
    public void The_public_signatures_of_the_Atari_types_hold_no_FSharp_list_map_option_function_or_tuple()
    {
        var offending = NewTypes.SelectMany(SignatureTypes).Where(s => IsFSharpShaped(s.Type)).Select(s => $"{s.Member}: {s.Type}");
        Assert.Empty(offending);
    }

    [Fact]
    public void The_check_itself_sees_FSharp_shapes()
    {
        Assert.True(IsFSharpShaped(typeof(Microsoft.FSharp.Core.FSharpOption<int>)));
        Assert.True(IsFSharpShaped(typeof(IReadOnlyList<Microsoft.FSharp.Collections.FSharpList<int>>)));
        Assert.True(IsFSharpShaped(typeof(Tuple<int, string>[])));
        Assert.Contains(SignatureTypes(typeof(AtariAgent)), s => IsFSharpShaped(s.Type)); // the F# agent's own surface
        Assert.False(IsFSharpShaped(typeof(IReadOnlyList<double>)));
    }
}
