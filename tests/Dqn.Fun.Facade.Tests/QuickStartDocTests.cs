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

    /// <summary>The first csharp block of the README's "Atari from C#" section is the compiled Atari example.</summary>
    [Fact]
    public void The_README_Atari_from_CSharp_block_is_exactly_the_compiled_Atari_example()
    {
        var readme = Read("README.md");
        var section = readme.IndexOf("\n### Atari from C#\n", StringComparison.Ordinal);
        Assert.True(section >= 0, "README.md has no section \"Atari from C#\"");
        var block = Regex.Match(readme[section..], @"^```csharp\n(.*?)^```$", RegexOptions.Multiline | RegexOptions.Singleline);
        Assert.True(block.Success, "the section has no ```csharp block");
        Assert.Equal(Read("examples", "AtariQuickStart.CSharp", "Program.cs"), block.Groups[1].Value);
    }
}
