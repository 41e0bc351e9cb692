using System;
using System.IO;
using System.Text.RegularExpressions;
using Xunit;

namespace Dqn.Fun.Facade.Tests;

public class QuickStartDocTests
{
    private static string RepositoryRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "Dqn.Fun.sln"))) return d.FullName;
        throw new DirectoryNotFoundException("Dqn.Fun.sln not found above " + AppContext.BaseDirectory);
    }

    private static string Read(params string[] parts) =>
        File.ReadAllText(Path.Combine([RepositoryRoot(), .. parts])).ReplaceLineEndings("\n");

    /// <summary>The README's first csharp and fsharp blocks are the compiled example programs, so they cannot rot.</summary>
    [Fact]
    public void The_README_quick_starts_are_exactly_the_compiled_example_programs()
    {
        var blocks = Regex.Matches(Read("README.md"), @"^```(\w*)\n(.*?)^```$", RegexOptions.Multiline | RegexOptions.Singleline);
        string First(string language)
        {
            foreach (Match b in blocks)
                if (b.Groups[1].Value == language) return b.Groups[2].Value;
            throw new Xunit.Sdk.XunitException($"README.md has no ```{language} block");
        }
        Assert.Equal(Read("examples", "QuickStart.CSharp", "Program.cs"), First("csharp"));
        Assert.Equal(Read("examples", "QuickStart.FSharp", "Program.fs"), First("fsharp"));
    }
}
