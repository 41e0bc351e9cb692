using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Text;
using System.Text.Json;
using Dqn.Fun.Build;
using TorchSharp;
using Xunit;

namespace Dqn.Fun.Facade.Tests;

/// <summary>A fact that runs on Linux only and is skipped elsewhere.</summary>
public sealed class LinuxFactAttribute : FactAttribute
{
    /// <summary>Skips the test unless the OS is Linux.</summary>
    public LinuxFactAttribute()
    {
        if (!OperatingSystem.IsLinux()) Skip = "Linux only";
    }
}

/// <summary>
/// A fact that loads TorchSharp's libtorch into the test process. It is skipped while the old binding's
/// libdqnfun_native.so (Debian's libtorch 1.13) is deployed beside the tests: the two libtorch builds cannot
/// share a process (whichever loads second crashes it in its static initialization, in c10's dispatcher).
/// </summary>
public sealed class TorchSharpFactAttribute : FactAttribute
{
    /// <summary>Skips the test while libdqnfun_native.so is beside the test assembly.</summary>
    public TorchSharpFactAttribute()
    {
        if (File.Exists(Path.Combine(AppContext.BaseDirectory, "libdqnfun_native.so")))
            Skip = "the old binding's libtorch 1.13 (libdqnfun_native.so) cannot share the test process with TorchSharp's libtorch";
    }
}

/// <summary>The GLIBCXX_3.4.32 patch of TorchSharp's libLibTorchSharp.so (build/LibTorchSharpGlibcxx.cs) and the build step that applies it (build/Dqn.Fun.TorchSharp.targets).</summary>
public class LibTorchSharpGlibcxxTests
{
    private const string InitSymbol = "_ZSt21ios_base_library_initv";
    private const string Name = "damaged/libLibTorchSharp.so";

    private static readonly Lazy<string> PackagePath = new(FindPackageCopy);

    /// <summary>libLibTorchSharp.so in the NuGet cache: the package this test project restored, from its deps.json.</summary>
    private static string FindPackageCopy()
    {
        var root = typeof(LibTorchSharpGlibcxxTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .Single(a => a.Key == "NuGetPackageRoot").Value!;
        var depsFile = Path.Combine(AppContext.BaseDirectory, typeof(LibTorchSharpGlibcxxTests).Assembly.GetName().Name + ".deps.json");
        using var deps = JsonDocument.Parse(File.ReadAllText(depsFile));
        var torchSharp = deps.RootElement.GetProperty("libraries").EnumerateObject().Single(l => l.Name.StartsWith("TorchSharp/", StringComparison.Ordinal));
        return Path.Combine(root, torchSharp.Value.GetProperty("path").GetString()!, "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
    }

    /// <summary>The library as TorchSharp ships it.</summary>
    private static byte[] Original() => File.ReadAllBytes(PackagePath.Value);

    private static VersionNeed MissingNeed(ElfFile file) => file.VersionNeeds.Single(n => n.Name == GlibcxxPatch.MissingVersion);

    private static (string, string, uint, ushort) Describe(VersionNeed n) => (n.Library, n.Name, n.Hash, n.Index);

    [Fact]
    public void The_package_copy_needs_GLIBCXX_3_4_32_only_for_an_unrelocated_symbol()
    {
        var file = new ElfFile(Original(), PackagePath.Value);
        var need = MissingNeed(file);
        Assert.Equal("libstdc++.so.6", need.Library);
        Assert.Equal(GlibcxxPatch.ElfHash(GlibcxxPatch.MissingVersion), need.Hash);
        var symbols = file.DynamicSymbols.Where(s => s.VersionIndex == need.Index).ToList();
        Assert.Equal([InitSymbol], symbols.Select(s => s.Name));
        Assert.True(symbols[0].IsUndefined);
        Assert.Contains(file.SymbolRelocations, r => r.Section == ".rela.dyn");
        Assert.Contains(file.SymbolRelocations, r => r.Section == ".rela.plt");
        Assert.DoesNotContain(file.SymbolRelocations, r => r.SymbolIndex == symbols[0].Index);
        Assert.True(GlibcxxPatch.NeedsPatch(Original(), PackagePath.Value));
    }

    [Fact]
    public void The_patched_copy_needs_GLIBCXX_3_4_instead_and_the_symbol_is_weak_and_unversioned()
    {
        var original = Original();
        var before = new ElfFile(original, "before");
        var after = new ElfFile(GlibcxxPatch.Patch(original, PackagePath.Value), "after");
        var need = MissingNeed(before);

        Assert.DoesNotContain(after.VersionNeeds, n => n.Name == GlibcxxPatch.MissingVersion);
        var replaced = after.VersionNeeds.Single(n => n.EntryOffset == need.EntryOffset);
        var existing = before.VersionNeeds.Single(n => n.Name == GlibcxxPatch.ReplacementVersion);
        Assert.Equal(("libstdc++.so.6", "GLIBCXX_3.4", existing.Hash, need.Index), Describe(replaced));
        Assert.Equal(GlibcxxPatch.ElfHash("GLIBCXX_3.4"), existing.Hash);
        Assert.Equal(
            before.VersionNeeds.Where(n => n.EntryOffset != need.EntryOffset).Select(Describe),
            after.VersionNeeds.Where(n => n.EntryOffset != need.EntryOffset).Select(Describe));

        var symbol = after.DynamicSymbols.Single(s => s.Name == InitSymbol);
        Assert.Equal(ElfFile.StbGlobal, before.DynamicSymbols[symbol.Index].Binding);
        Assert.Equal(ElfFile.StbWeak, symbol.Binding);
        Assert.Equal(1, symbol.VersionIndex);
        Assert.True(symbol.IsUndefined);
        Assert.DoesNotContain(after.DynamicSymbols, s => s.VersionIndex == need.Index);
        Assert.Equal(
            before.DynamicSymbols.Where(s => s.Index != symbol.Index).Select(s => (s.Name, s.Binding, s.VersionIndex)),
            after.DynamicSymbols.Where(s => s.Index != symbol.Index).Select(s => (s.Name, s.Binding, s.VersionIndex)));
    }

    [Fact]
    public void Patching_changes_no_byte_but_the_version_entrys_hash_and_name_the_symbols_version_and_its_binding()
    {
        var original = Original();
        var patched = GlibcxxPatch.Patch(original, PackagePath.Value);
        var file = new ElfFile(original, PackagePath.Value);
        var need = MissingNeed(file);
        var allowed = new HashSet<long>();
        for (var i = 0; i < 4; i++)
        {
            allowed.Add(need.EntryOffset + i); // vna_hash
            allowed.Add(need.EntryOffset + 8 + i); // vna_name
        }
        foreach (var symbol in file.DynamicSymbols.Where(s => s.VersionIndex == need.Index))
        {
            allowed.Add(symbol.VersionEntryOffset);
            allowed.Add(symbol.VersionEntryOffset + 1);
            allowed.Add(symbol.EntryOffset + 4); // st_info
        }

        Assert.Equal(original.Length, patched.Length);
        var changed = Enumerable.Range(0, original.Length).Where(i => original[i] != patched[i]).Select(i => (long)i).ToList();
        Assert.NotEmpty(changed);
        Assert.All(changed, offset => Assert.Contains(offset, allowed));
    }

    [Fact]
    public void Patching_is_idempotent()
    {
        var once = GlibcxxPatch.Patch(Original(), PackagePath.Value);
        Assert.False(GlibcxxPatch.NeedsPatch(once, "once"));
        Assert.Equal(once, GlibcxxPatch.Patch(once, "once"));
    }

    [Theory]
    [InlineData("empty", "not an ELF file")]
    [InlineData("text", "not an ELF file")]
    [InlineData("ELF header only", "truncated: the section header table")]
    [InlineData("first 4 KiB", "truncated: the section header table")]
    [InlineData("section past the end", "truncated: section")]
    [InlineData("32-bit", "32-bit ELF file")]
    [InlineData("big-endian", "big-endian ELF file")]
    public void Bad_input_is_rejected_with_the_file_name_and_the_problem(string damage, string problem)
    {
        var original = Original();
        var bytes = damage switch
        {
            "empty" => [],
            "text" => Encoding.ASCII.GetBytes("#!/bin/sh\necho not a library\n"),
            "ELF header only" => original[..64],
            "first 4 KiB" => original[..4096],
            "section past the end" => WithDynstrSize(original, (uint)original.Length),
            "32-bit" => With(original, 4, 1),
            "big-endian" => With(original, 5, 2),
            _ => throw new ArgumentException(damage),
        };
        foreach (var read in new Action[] { () => GlibcxxPatch.NeedsPatch(bytes, Name), () => GlibcxxPatch.Patch(bytes, Name) })
        {
            var e = Assert.Throws<GlibcxxPatchException>(read);
            Assert.Equal(Name, e.FileName);
            Assert.StartsWith(Name + ": ", e.Message);
            Assert.Contains(problem, e.Message);
        }
    }

    private static byte[] With(byte[] bytes, long offset, byte value)
    {
        var copy = (byte[])bytes.Clone();
        copy[offset] = value;
        return copy;
    }

    /// <summary>A copy whose .dynstr section header claims <paramref name="size"/> bytes.</summary>
    private static byte[] WithDynstrSize(byte[] bytes, uint size)
    {
        var dynstr = new ElfFile(bytes, "original").Sections.Single(s => s.Name == ".dynstr");
        var copy = (byte[])bytes.Clone();
        ElfFile.WriteU32(copy, (long)ElfFile.ReadU64(bytes, 0x28) + 64L * dynstr.Index + 32, size); // sh_size
        return copy;
    }

    [Fact]
    public void Patching_refuses_when_a_relocation_uses_a_symbol_it_would_drop()
    {
        var original = Original();
        var file = new ElfFile(original, PackagePath.Value);
        var symbol = file.DynamicSymbols.Single(s => s.Name == InitSymbol);
        var plt = file.Sections.Single(s => s.Name == ".rela.plt");
        var damaged = (byte[])original.Clone();
        ElfFile.WriteU32(damaged, plt.Offset + 8 + 4, (uint)symbol.Index); // ELF64_R_SYM of r_info of entry 0

        Assert.True(GlibcxxPatch.NeedsPatch(damaged, Name));
        var e = Assert.Throws<GlibcxxPatchException>(() => GlibcxxPatch.Patch(damaged, Name));
        Assert.Contains("relocation 0 of .rela.plt", e.Message);
        Assert.Contains(InitSymbol + "@GLIBCXX_3.4.32", e.Message);
    }

    [Fact]
    public void Patching_refuses_when_there_is_no_GLIBCXX_3_4_requirement_whose_name_it_can_reuse()
    {
        var original = Original();
        var file = new ElfFile(original, PackagePath.Value);
        var glibcxx34 = file.VersionNeeds.Single(n => n.Name == "GLIBCXX_3.4");
        var glibcxx3421 = file.VersionNeeds.Single(n => n.Name == "GLIBCXX_3.4.21");
        var damaged = (byte[])original.Clone();
        ElfFile.WriteU32(damaged, glibcxx34.EntryOffset + 8, glibcxx3421.NameOffset); // vna_name

        var e = Assert.Throws<GlibcxxPatchException>(() => GlibcxxPatch.Patch(damaged, Name));
        Assert.Contains("requires GLIBCXX_3.4.32 from libstdc++.so.6 but not GLIBCXX_3.4", e.Message);
    }

    [Fact]
    public void Ldconfig_entries_for_libstdcxx_come_first_then_the_usual_folders()
    {
        const string ldconfig = "4 libs found in cache `/etc/ld.so.cache'\n" +
                                "\tlibstdc++fs.so (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libstdc++fs.so\n" +
                                "\tlibstdc++.so.6 (libc6,x86-64) => /opt/gcc-13/lib64/libstdc++.so.6\n" +
                                "\tlibstdc++.so.6 (libc6) => /usr/lib32/libstdc++.so.6\n" +
                                "\tlibstdc++.so (libc6,x86-64) => /usr/lib/gcc/x86_64-linux-gnu/12/libstdc++.so\n";
        var candidates = GlibcxxPatch.LibStdCxxCandidates(ldconfig);
        Assert.Equal(["/opt/gcc-13/lib64/libstdc++.so.6", "/usr/lib32/libstdc++.so.6", "/lib/x86_64-linux-gnu/libstdc++.so.6"], candidates.Take(3));
        Assert.Equal(GlibcxxPatch.LibStdCxxCandidates(null), candidates.Skip(2));
        Assert.Contains("/usr/lib64/libstdc++.so.6", candidates);
    }

    [LinuxFact]
    public void The_system_libstdcxx_is_found_and_its_version_definitions_are_read()
    {
        var libStdCxx = GlibcxxPatch.FindSystemLibStdCxx(GlibcxxPatch.HostMachine()!.Value);
        Assert.NotNull(libStdCxx);
        Assert.Equal("libstdc++.so.6", libStdCxx.VersionDefinitions[0]);
        Assert.Contains("GLIBCXX_3.4", libStdCxx.VersionDefinitions);
        Assert.Contains("CXXABI_1.3", libStdCxx.VersionDefinitions);
        var hasString = File.ReadAllText(libStdCxx.FileName, Encoding.Latin1).Contains(GlibcxxPatch.MissingVersion + "\0");
        Assert.Equal(hasString, GlibcxxPatch.ProvidesMissingVersion(libStdCxx));
    }

    [LinuxFact]
    public void A_libstdcxx_that_defines_GLIBCXX_3_4_32_provides_it()
    {
        var libStdCxx = GlibcxxPatch.FindSystemLibStdCxx(GlibcxxPatch.HostMachine()!.Value)!;
        var bytes = File.ReadAllBytes(libStdCxx.FileName);
        if (!GlibcxxPatch.ProvidesMissingVersion(libStdCxx))
        {
            // Rename its newest GLIBCXX_3.4.NN definition (GLIBCXX_3.4.30 on Debian 12) in place, as GCC 13's would be named.
            var newest = libStdCxx.VersionDefinitions
                .Where(v => v.StartsWith("GLIBCXX_3.4.", StringComparison.Ordinal) && v.Length == GlibcxxPatch.MissingVersion.Length).Max()!;
            var at = bytes.AsSpan().IndexOf(Encoding.ASCII.GetBytes(newest + "\0"));
            Encoding.ASCII.GetBytes(GlibcxxPatch.MissingVersion).CopyTo(bytes, at);
        }
        Assert.True(GlibcxxPatch.ProvidesMissingVersion(new ElfFile(bytes, "gcc-13/libstdc++.so.6")));
    }

    /// <summary>The build (Directory.Build.targets) patched this test's own copy if, and only if, the system needs it; the NuGet cache keeps the original.</summary>
    [LinuxFact]
    public void The_output_copy_is_patched_exactly_when_the_system_libstdcxx_lacks_GLIBCXX_3_4_32()
    {
        var original = Original();
        var output = File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", "libLibTorchSharp.so"));
        var systemProvides = GlibcxxPatch.ProvidesMissingVersion(GlibcxxPatch.FindSystemLibStdCxx(GlibcxxPatch.HostMachine()!.Value));
        Assert.Equal(systemProvides ? original : GlibcxxPatch.Patch(original, PackagePath.Value), output);
        Assert.True(GlibcxxPatch.NeedsPatch(original, PackagePath.Value));
    }

    [TorchSharpFact]
    public void TorchSharp_loads_and_computes_in_the_test_process()
    {
        using var ones = torch.ones(3);
        using var sum = ones.sum();
        Assert.Equal(3f, sum.item<float>());
    }
}
