using System;
using System.Linq;
using Xunit;

namespace Dqn.Fun.Facade.Tests;

/// <summary>The checks every immutable options record of the facade (DqnOptions, AtariOptions) must pass.</summary>
internal static class OptionsAssert
{
    /// <summary><paramref name="make"/> fails with an ArgumentOutOfRangeException whose ParamName, ActualValue and
    /// message name <paramref name="argument"/> and <paramref name="value"/>.</summary>
    public static void FailsNaming(Func<object> make, string argument, object value)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(make);
        Assert.Equal(argument, e.ParamName);
        Assert.Equal(value, e.ActualValue);
        Assert.Contains(argument, e.Message);
        Assert.Contains(value.ToString()!, e.Message);
    }

    /// <summary><paramref name="changed"/> is a new value that differs from <paramref name="original"/> in the public
    /// property <paramref name="property"/> alone.</summary>
    public static void DiffersOnlyIn<T>(T original, T changed, string property) where T : class
    {
        Assert.NotSame(original, changed);
        var differing = typeof(T).GetProperties()
            .Where(p => p.GetIndexParameters().Length == 0 && !Equals(p.GetValue(original), p.GetValue(changed)))
            .Select(p => p.Name);
        Assert.Equal([property], differing);
    }
}
