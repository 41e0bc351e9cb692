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

    [Fact]
    public void QUICKSTART_md_holds_exactly_the_two_example_programs()
    {
        var blocks = Regex.Matches(Read("facade", "QUICKSTART.md"), @"^```(\w*)\n(.*?)^```$", RegexOptions.Multiline | RegexOptions.Singleline);
        Assert.Equal(2, blocks.Count);
        Assert.Equal(("csharp", Read("examples", "QuickStart.CSharp", "Program.cs")), (blocks[0].Groups[1].Value, blocks[0].Groups[2].Value));
        Assert.Equal(("fsharp", Read("examples", "QuickStart.FSharp", "Program.fs")), (blocks[1].Groups[1].Value, blocks[1].Groups[2].Value));
    }
}
