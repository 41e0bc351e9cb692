using System;

namespace Dqn.Fun;

/// <summary>Argument checks for the C# face; every message names the argument and its value.</summary>
internal static class Check
{
    internal static T NotNull<T>(T? value, string name) where T : class =>
        value ?? throw new ArgumentNullException(name, $"{name} must not be null.");

    internal static int Positive(int value, string name) =>
        value > 0 ? value : throw OutOfRange(name, value, "must be positive");

    internal static long Positive(long value, string name) =>
        value > 0 ? value : throw OutOfRange(name, value, "must be positive");

    internal static int NonNegative(int value, string name) =>
        value >= 0 ? value : throw OutOfRange(name, value, "must be non-negative");

    internal static long NonNegative(long value, string name) =>
        value >= 0 ? value : throw OutOfRange(name, value, "must be non-negative");

    /// <summary>value in [lo, hi]; NaN fails.</summary>
    internal static double InRange(double value, double lo, double hi, string name) =>
        value >= lo && value <= hi ? value : throw OutOfRange(name, value, $"must be in [{lo}, {hi}]");

    /// <summary>value &gt;= 0; NaN fails.</summary>
    internal static double NonNegative(double value, string name) =>
        value >= 0.0 ? value : throw OutOfRange(name, value, "must be non-negative");

    /// <summary>value &gt;= 0 and finite; NaN fails.</summary>
    internal static double NonNegativeFinite(double value, string name) =>
        value >= 0.0 && double.IsFinite(value) ? value : throw OutOfRange(name, value, "must be non-negative and finite");

    /// <summary>value in [lo, hi); NaN fails.</summary>
    internal static double InRangeBelowHigh(double value, double lo, double hi, string name) =>
        value >= lo && value < hi ? value : throw OutOfRange(name, value, $"must be in [{lo}, {hi})");

    /// <summary>value &gt; 0 (infinity allowed); NaN fails.</summary>
    internal static double Positive(double value, string name) =>
        value > 0.0 ? value : throw OutOfRange(name, value, "must be positive");

    /// <summary>value in (lo, hi]; NaN fails.</summary>
    internal static double InRangeAboveLow(double value, double lo, double hi, string name) =>
        value > lo && value <= hi ? value : throw OutOfRange(name, value, $"must be in ({lo}, {hi}]");

    /// <summary>value &gt; 0 and finite; NaN fails.</summary>
    internal static double PositiveFinite(double value, string name) =>
        value > 0.0 && double.IsFinite(value) ? value : throw OutOfRange(name, value, "must be positive and finite");

    internal static ArgumentOutOfRangeException OutOfRange(string name, object value, string rule) =>
        new(name, value, $"{name} {rule}; got {value}.");
}
