// Lets TorchSharp's libLibTorchSharp.so load with a libstdc++ older than GCC 13's (Debian 12, Ubuntu 22.04).
//
// TorchSharp 0.107's libLibTorchSharp.so was built with GCC 15. Since GCC 13, <iostream> makes every object
// that includes it reference std::ios_base_library_init() at version GLIBCXX_3.4.32. The reference only pulls in
// a libstdc++ that initializes the standard streams itself: nothing relocates against the symbol, so nothing
// calls it. Older libstdc++ lacks that version, and the dynamic loader then refuses the whole library. The
// patch drops that one requirement: the version entry is pointed at GLIBCXX_3.4 (which every libstdc++ has)
// and the symbols that used it become weak and unversioned. It refuses to patch when a relocation uses one
// of those symbols, since then the library would call it. With an older libstdc++ the streams are set up
// as they always were, by the std::ios_base::Init objects of code built by older compilers (TorchSharp's
// libtorch_cpu.so, which loads first, has them).
//
// This file is compiled twice: by MSBuild's RoslynCodeTaskFactory (build/Dqn.Fun.TorchSharp.targets), with
// the task at the end, and by tests/Dqn.Fun.Facade.Tests with DQNFUN_GLIBCXX_TESTS defined, without it. The
// task factory compiles against netstandard 2.0: no spans, no records, no init-only properties.
#nullable enable
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using System.Text;
#if !DQNFUN_GLIBCXX_TESTS
using Microsoft.Build.Framework;
#endif

namespace Dqn.Fun.Build
{
    /// <summary>A file is not the ELF file the patch expects, or patching it would be unsafe.</summary>
    public sealed class GlibcxxPatchException : Exception
    {
        /// <summary>Creates the exception; the message is "<paramref name="fileName"/>: <paramref name="problem"/>".</summary>
        public GlibcxxPatchException(string fileName, string problem) : base(fileName + ": " + problem)
        {
            FileName = fileName;
            Problem = problem;
        }

        /// <summary>The file (or the name given for its bytes) that the problem is about.</summary>
        public string FileName { get; }

        /// <summary>What is wrong, without the file name.</summary>
        public string Problem { get; }
    }

    /// <summary>One section header of an ELF file.</summary>
    public sealed class ElfSection
    {
        internal ElfSection(int index, string name, uint type, long offset, long size, int link, uint info, long entrySize)
        {
            Index = index;
            Name = name;
            Type = type;
            Offset = offset;
            Size = size;
            Link = link;
            Info = info;
            EntrySize = entrySize;
        }

        /// <summary>Its index in the section header table.</summary>
        public int Index { get; }

        /// <summary>Its name from the section header string table, such as ".gnu.version_r".</summary>
        public string Name { get; }

        /// <summary>sh_type, such as <see cref="ElfFile.ShtGnuVerneed"/>.</summary>
        public uint Type { get; }

        /// <summary>sh_offset: where its contents start in the file.</summary>
        public long Offset { get; }

        /// <summary>sh_size: the length of its contents in bytes.</summary>
        public long Size { get; }

        /// <summary>sh_link: the index of the section it refers to (a string or symbol table).</summary>
        public int Link { get; }

        /// <summary>sh_info: for version sections, the number of entries.</summary>
        public uint Info { get; }

        /// <summary>sh_entsize: the size of one entry for tables of fixed-size entries.</summary>
        public long EntrySize { get; }
    }

    /// <summary>One symbol version that a file requires from a library: an Elf64_Vernaux of .gnu.version_r.</summary>
    public sealed class VersionNeed
    {
        internal VersionNeed(string library, string name, uint hash, ushort index, uint nameOffset, long entryOffset)
        {
            Library = library;
            Name = name;
            Hash = hash;
            Index = index;
            NameOffset = nameOffset;
            EntryOffset = entryOffset;
        }

        /// <summary>The library that must define the version, such as "libstdc++.so.6".</summary>
        public string Library { get; }

        /// <summary>The version's name, such as "GLIBCXX_3.4.32" (vna_name).</summary>
        public string Name { get; }

        /// <summary>vna_hash: the ELF hash of the name, which the dynamic loader compares.</summary>
        public uint Hash { get; }

        /// <summary>vna_other: the version index that .gnu.version entries use for this version.</summary>
        public ushort Index { get; }

        /// <summary>vna_name: the offset of the name in the dynamic string table.</summary>
        public uint NameOffset { get; }

        /// <summary>Where the Elf64_Vernaux entry starts in the file.</summary>
        public long EntryOffset { get; }
    }

    /// <summary>One entry of the dynamic symbol table (.dynsym) with its version index (.gnu.version).</summary>
    public sealed class DynamicSymbol
    {
        internal DynamicSymbol(int index, string name, byte binding, bool isUndefined, ushort versionIndex, long entryOffset, long versionEntryOffset)
        {
            Index = index;
            Name = name;
            Binding = binding;
            IsUndefined = isUndefined;
            VersionIndex = versionIndex;
            EntryOffset = entryOffset;
            VersionEntryOffset = versionEntryOffset;
        }

        /// <summary>Its index in .dynsym, which relocations use.</summary>
        public int Index { get; }

        /// <summary>Its (mangled) name.</summary>
        public string Name { get; }

        /// <summary>ELF64_ST_BIND of st_info: <see cref="ElfFile.StbGlobal"/>, <see cref="ElfFile.StbWeak"/>, ...</summary>
        public byte Binding { get; }

        /// <summary>Whether the file only references it (st_shndx is SHN_UNDEF).</summary>
        public bool IsUndefined { get; }

        /// <summary>Its .gnu.version entry without the hidden bit: 0 local, 1 global (unversioned; also without .gnu.version), else a version index.</summary>
        public ushort VersionIndex { get; }

        /// <summary>Where its Elf64_Sym entry starts in the file (st_info is the byte at offset 4).</summary>
        public long EntryOffset { get; }

        /// <summary>Where its 2-byte .gnu.version entry is in the file, or -1 when the file has no .gnu.version.</summary>
        public long VersionEntryOffset { get; }
    }

    /// <summary>One relocation (from a SHT_RELA or SHT_REL section over .dynsym) that refers to a dynamic symbol.</summary>
    public sealed class SymbolRelocation
    {
        internal SymbolRelocation(string section, int entry, int symbolIndex, uint type)
        {
            Section = section;
            Entry = entry;
            SymbolIndex = symbolIndex;
            Type = type;
        }

        /// <summary>The relocation section, such as ".rela.plt".</summary>
        public string Section { get; }

        /// <summary>The entry's index in that section.</summary>
        public int Entry { get; }

        /// <summary>The .dynsym index of the symbol it refers to.</summary>
        public int SymbolIndex { get; }

        /// <summary>The relocation type (ELF64_R_TYPE), which depends on the machine.</summary>
        public uint Type { get; }
    }

    /// <summary>
    /// A read-only view of a 64-bit little-endian ELF file: its sections, the symbol versions it requires and
    /// defines, its dynamic symbols and the relocations against them. The constructor checks every table it
    /// reads against the file's bounds and throws <see cref="GlibcxxPatchException"/> when something is off.
    /// </summary>
    public sealed class ElfFile
    {
        /// <summary>SHT_STRTAB: a string table.</summary>
        public const uint ShtStrtab = 3;
        /// <summary>SHT_RELA: relocations with addends.</summary>
        public const uint ShtRela = 4;
        /// <summary>SHT_NOBITS: a section that occupies no file space (.bss).</summary>
        public const uint ShtNobits = 8;
        /// <summary>SHT_REL: relocations without addends.</summary>
        public const uint ShtRel = 9;
        /// <summary>SHT_DYNSYM: the dynamic symbol table.</summary>
        public const uint ShtDynsym = 11;
        /// <summary>SHT_GNU_verdef: the symbol versions the file defines (.gnu.version_d).</summary>
        public const uint ShtGnuVerdef = 0x6ffffffd;
        /// <summary>SHT_GNU_verneed: the symbol versions the file requires (.gnu.version_r).</summary>
        public const uint ShtGnuVerneed = 0x6ffffffe;
        /// <summary>SHT_GNU_versym: one version index per dynamic symbol (.gnu.version).</summary>
        public const uint ShtGnuVersym = 0x6fffffff;
        /// <summary>STB_GLOBAL symbol binding.</summary>
        public const byte StbGlobal = 1;
        /// <summary>STB_WEAK symbol binding: an undefined weak symbol may stay unresolved.</summary>
        public const byte StbWeak = 2;

        const int HeaderSize = 64;
        const int SectionHeaderSize = 64;
        const int SymbolSize = 24;

        readonly byte[] bytes;

        /// <summary>Reads <paramref name="contents"/>; <paramref name="fileName"/> names it in error messages.</summary>
        public ElfFile(byte[] contents, string fileName)
        {
            bytes = contents;
            FileName = fileName;
            ReadHeader(out var sectionTable, out var sectionCount, out var namesIndex);
            Machine = ReadU16(bytes, 18);
            Sections = ReadSections(sectionTable, sectionCount, namesIndex);
            VersionNeeds = ReadVersionNeeds();
            VersionDefinitions = ReadVersionDefinitions();
            DynamicSymbols = ReadDynamicSymbols();
            SymbolRelocations = ReadSymbolRelocations();
        }

        /// <summary>The name given for the file, used in error messages.</summary>
        public string FileName { get; }

        /// <summary>e_machine: 62 for x86-64, 183 for AArch64.</summary>
        public ushort Machine { get; }

        /// <summary>The section headers, in table order.</summary>
        public IReadOnlyList<ElfSection> Sections { get; }

        /// <summary>The versions it requires, from .gnu.version_r (empty without one).</summary>
        public IReadOnlyList<VersionNeed> VersionNeeds { get; }

        /// <summary>The versions it defines, from .gnu.version_d (empty without one); the first is usually its soname.</summary>
        public IReadOnlyList<string> VersionDefinitions { get; }

        /// <summary>The dynamic symbols, in .dynsym order (empty without .dynsym).</summary>
        public IReadOnlyList<DynamicSymbol> DynamicSymbols { get; }

        /// <summary>The relocations that refer to a dynamic symbol (symbol index not 0).</summary>
        public IReadOnlyList<SymbolRelocation> SymbolRelocations { get; }

        internal static ushort ReadU16(byte[] b, long at) => (ushort)(b[at] | b[at + 1] << 8);

        internal static uint ReadU32(byte[] b, long at) => (uint)(b[at] | b[at + 1] << 8 | b[at + 2] << 16 | b[at + 3] << 24);

        internal static ulong ReadU64(byte[] b, long at) => ReadU32(b, at) | (ulong)ReadU32(b, at + 4) << 32;

        internal static void WriteU16(byte[] b, long at, ushort value)
        {
            b[at] = (byte)value;
            b[at + 1] = (byte)(value >> 8);
        }

        internal static void WriteU32(byte[] b, long at, uint value)
        {
            for (var i = 0; i < 4; i++)
                b[at + i] = (byte)(value >> (8 * i));
        }

        GlibcxxPatchException Problem(string problem) => new GlibcxxPatchException(FileName, problem);

        void ReadHeader(out long sectionTable, out int sectionCount, out int namesIndex)
        {
            if (bytes.Length < 4 || bytes[0] != 0x7f || bytes[1] != (byte)'E' || bytes[2] != (byte)'L' || bytes[3] != (byte)'F')
                throw Problem("not an ELF file (it does not start with 0x7F 'E' 'L' 'F')");
            if (bytes.Length < 6)
                throw Problem($"truncated: the file has {bytes.Length} bytes, less than an ELF header");
            if (bytes[4] != 2)
                throw Problem(bytes[4] == 1
                    ? "a 32-bit ELF file (ELFCLASS32); only 64-bit ELF files are supported"
                    : $"an ELF file of unknown class {bytes[4]}; only 64-bit ELF files (ELFCLASS64) are supported");
            if (bytes[5] != 1)
                throw Problem(bytes[5] == 2
                    ? "a big-endian ELF file (ELFDATA2MSB); only little-endian ELF files are supported"
                    : $"an ELF file of unknown byte order {bytes[5]}; only little-endian ELF files (ELFDATA2LSB) are supported");
            if (bytes.Length < HeaderSize)
                throw Problem($"truncated: the file has {bytes.Length} bytes, less than the {HeaderSize}-byte ELF header");
            var tableOffset = ReadU64(bytes, 0x28);
            var entrySize = ReadU16(bytes, 0x3A);
            sectionCount = ReadU16(bytes, 0x3C);
            namesIndex = ReadU16(bytes, 0x3E);
            if (sectionCount == 0 || tableOffset == 0)
                throw Problem("unexpected layout: the file has no section headers");
            if (entrySize != SectionHeaderSize)
                throw Problem($"unexpected layout: section headers of {entrySize} bytes instead of {SectionHeaderSize}");
            if (namesIndex == 0 || namesIndex >= sectionCount)
                throw Problem($"unexpected layout: section name table index {namesIndex} with {sectionCount} sections");
            RequireInFile(tableOffset, (ulong)sectionCount * SectionHeaderSize, "the section header table");
            sectionTable = (long)tableOffset;
        }

        void RequireInFile(ulong offset, ulong length, string what)
        {
            var fileLength = (ulong)bytes.Length;
            if (offset > fileLength || length > fileLength - offset)
                throw Problem($"truncated: {what} spans bytes {offset} to {offset + length}, but the file has {fileLength} bytes");
        }

        List<ElfSection> ReadSections(long table, int count, int namesIndex)
        {
            var raw = new List<(uint Name, uint Type, long Offset, long Size, int Link, uint Info, long EntrySize)>();
            for (var i = 0; i < count; i++)
            {
                var at = table + (long)i * SectionHeaderSize;
                var type = ReadU32(bytes, at + 4);
                var offset = ReadU64(bytes, at + 24);
                var size = ReadU64(bytes, at + 32);
                var link = ReadU32(bytes, at + 40);
                if (type != ShtNobits && type != 0)
                    RequireInFile(offset, size, $"section {i}");
                if (link >= count)
                    throw Problem($"unexpected layout: section {i} links to section {link}, but there are {count}");
                raw.Add((ReadU32(bytes, at), type, (long)offset, (long)size, (int)link, ReadU32(bytes, at + 44), (long)ReadU64(bytes, at + 56)));
            }
            var names = raw[namesIndex];
            if (names.Type != ShtStrtab)
                throw Problem($"unexpected layout: the section name table (section {namesIndex}) is not a string table");
            var sections = new List<ElfSection>();
            for (var i = 0; i < count; i++)
            {
                var s = raw[i];
                var name = ReadString(names.Offset, names.Size, s.Name, "the section name table");
                sections.Add(new ElfSection(i, name, s.Type, s.Offset, s.Size, s.Link, s.Info, s.EntrySize));
            }
            return sections;
        }

        string ReadString(long tableOffset, long tableSize, uint offset, string table)
        {
            if (offset >= tableSize)
                throw Problem($"unexpected layout: string offset {offset} is past the end of {table} ({tableSize} bytes)");
            var start = tableOffset + offset;
            var end = Array.IndexOf(bytes, (byte)0, (int)start, (int)(tableSize - offset));
            if (end < 0)
                throw Problem($"unexpected layout: the string at offset {offset} of {table} has no terminating NUL");
            return Encoding.UTF8.GetString(bytes, (int)start, (int)(end - start));
        }

        string ReadString(ElfSection table, uint offset) => ReadString(table.Offset, table.Size, offset, table.Name);

        ElfSection? SingleSection(uint type, string what)
        {
            var found = Sections.Where(s => s.Type == type).ToList();
            if (found.Count > 1)
                throw Problem($"unexpected layout: {found.Count} {what} sections");
            return found.Count == 1 ? found[0] : null;
        }

        ElfSection LinkedStringTable(ElfSection section)
        {
            var table = Sections[section.Link];
            if (table.Type != ShtStrtab)
                throw Problem($"unexpected layout: {section.Name} links to {table.Name}, which is not a string table");
            return table;
        }

        void RequireInSection(ElfSection section, long at, long length, string what)
        {
            if (at < section.Offset || at + length > section.Offset + section.Size)
                throw Problem($"unexpected layout: {what} at byte {at} lies outside {section.Name}");
        }

        List<VersionNeed> ReadVersionNeeds()
        {
            var needs = new List<VersionNeed>();
            var section = SingleSection(ShtGnuVerneed, "SHT_GNU_verneed");
            if (section == null)
                return needs;
            var strings = LinkedStringTable(section);
            var entry = section.Offset;
            for (var n = 0; n < section.Info; n++)
            {
                RequireInSection(section, entry, 16, "an Elf64_Verneed entry");
                var auxCount = ReadU16(bytes, entry + 2);
                var library = ReadString(strings, ReadU32(bytes, entry + 4));
                var aux = entry + ReadU32(bytes, entry + 8);
                for (var k = 0; k < auxCount; k++)
                {
                    RequireInSection(section, aux, 16, "an Elf64_Vernaux entry");
                    var nameOffset = ReadU32(bytes, aux + 8);
                    needs.Add(new VersionNeed(library, ReadString(strings, nameOffset), ReadU32(bytes, aux), ReadU16(bytes, aux + 6), nameOffset, aux));
                    var nextAux = ReadU32(bytes, aux + 12);
                    if (nextAux == 0 && k < auxCount - 1)
                        throw Problem($"unexpected layout: the versions needed from {library} end after {k + 1} of {auxCount}");
                    aux += nextAux;
                }
                var next = ReadU32(bytes, entry + 12);
                if (next == 0 && n < section.Info - 1)
                    throw Problem($"unexpected layout: {section.Name} ends after {n + 1} of {section.Info} libraries");
                entry += next;
            }
            return needs;
        }

        List<string> ReadVersionDefinitions()
        {
            var definitions = new List<string>();
            var section = SingleSection(ShtGnuVerdef, "SHT_GNU_verdef");
            if (section == null)
                return definitions;
            var strings = LinkedStringTable(section);
            var entry = section.Offset;
            for (var n = 0; n < section.Info; n++)
            {
                RequireInSection(section, entry, 20, "an Elf64_Verdef entry");
                var aux = entry + ReadU32(bytes, entry + 12);
                RequireInSection(section, aux, 8, "an Elf64_Verdaux entry");
                definitions.Add(ReadString(strings, ReadU32(bytes, aux)));
                var next = ReadU32(bytes, entry + 16);
                if (next == 0 && n < section.Info - 1)
                    throw Problem($"unexpected layout: {section.Name} ends after {n + 1} of {section.Info} definitions");
                entry += next;
            }
            return definitions;
        }

        List<DynamicSymbol> ReadDynamicSymbols()
        {
            var symbols = new List<DynamicSymbol>();
            var table = SingleSection(ShtDynsym, "SHT_DYNSYM");
            if (table == null)
                return symbols;
            if (table.EntrySize != SymbolSize || table.Size % SymbolSize != 0)
                throw Problem($"unexpected layout: {table.Name} has {table.Size} bytes in entries of {table.EntrySize}, not of {SymbolSize}");
            var strings = LinkedStringTable(table);
            var count = (int)(table.Size / SymbolSize);
            var versions = SingleSection(ShtGnuVersym, "SHT_GNU_versym");
            if (versions != null && (versions.Link != table.Index || versions.Size != 2L * count))
                throw Problem($"unexpected layout: {versions.Name} ({versions.Size} bytes, linked to section {versions.Link}) does not match {table.Name} ({count} symbols, section {table.Index})");
            for (var i = 0; i < count; i++)
            {
                var at = table.Offset + (long)i * SymbolSize;
                var versionAt = versions == null ? -1 : versions.Offset + 2L * i;
                var version = versions == null ? (ushort)1 : (ushort)(ReadU16(bytes, versionAt) & 0x7fff);
                symbols.Add(new DynamicSymbol(i, ReadString(strings, ReadU32(bytes, at)), (byte)(bytes[at + 4] >> 4), ReadU16(bytes, at + 6) == 0, version, at, versionAt));
            }
            return symbols;
        }

        List<SymbolRelocation> ReadSymbolRelocations()
        {
            var relocations = new List<SymbolRelocation>();
            var symbols = SingleSection(ShtDynsym, "SHT_DYNSYM");
            if (symbols == null)
                return relocations;
            foreach (var section in Sections.Where(s => (s.Type == ShtRela || s.Type == ShtRel) && s.Link == symbols.Index))
            {
                var entrySize = section.Type == ShtRela ? 24 : 16;
                if (section.EntrySize != entrySize || section.Size % entrySize != 0)
                    throw Problem($"unexpected layout: {section.Name} has {section.Size} bytes in entries of {section.EntrySize}, not of {entrySize}");
                for (var i = 0; i < section.Size / entrySize; i++)
                {
                    var info = ReadU64(bytes, section.Offset + (long)i * entrySize + 8);
                    var symbol = (uint)(info >> 32);
                    if (symbol != 0)
                        relocations.Add(new SymbolRelocation(section.Name, i, (int)symbol, (uint)info));
                }
            }
            return relocations;
        }
    }

    /// <summary>
    /// The GLIBCXX_3.4.32 patch of libLibTorchSharp.so (see the top of this file), and the check whether the
    /// system libstdc++ makes it unnecessary.
    /// </summary>
    public static class GlibcxxPatch
    {
        /// <summary>The version that GCC 13's libstdc++ introduced and older ones lack.</summary>
        public const string MissingVersion = "GLIBCXX_3.4.32";

        /// <summary>The version that the patched requirement names instead: every libstdc++.so.6 defines it.</summary>
        public const string ReplacementVersion = "GLIBCXX_3.4";

        const ushort VersionIndexGlobal = 1;

        static readonly string[] LibStdCxxFolders =
        {
            "/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu",
            "/lib64", "/usr/lib64", "/lib", "/usr/lib",
        };

        static readonly string[] LdconfigPaths = { "/sbin/ldconfig", "/usr/sbin/ldconfig", "ldconfig" };

        /// <summary>The System V ELF hash of a name, as stored in vna_hash and vd_hash.</summary>
        public static uint ElfHash(string name)
        {
            uint h = 0;
            foreach (var c in Encoding.UTF8.GetBytes(name))
            {
                h = (h << 4) + c;
                var g = h & 0xf0000000;
                if (g != 0)
                    h ^= g >> 24;
                h &= ~g;
            }
            return h;
        }

        /// <summary>Whether the ELF file in <paramref name="elf"/> requires <see cref="MissingVersion"/>, i.e. whether <see cref="Patch"/> would change it.</summary>
        public static bool NeedsPatch(byte[] elf, string fileName) =>
            new ElfFile(elf, fileName).VersionNeeds.Any(n => n.Name == MissingVersion);

        /// <summary>
        /// Returns a copy of <paramref name="elf"/> that no longer requires <see cref="MissingVersion"/>: its
        /// version entry names <see cref="ReplacementVersion"/> instead, and the symbols that used it are weak and
        /// unversioned. Every other byte is unchanged; a file that does not require the version comes back as is.
        /// Throws <see cref="GlibcxxPatchException"/>, naming <paramref name="fileName"/>, when the file is not a
        /// 64-bit little-endian ELF file, is truncated, or is laid out otherwise than the patch expects, for
        /// example when a relocation uses one of the symbols (then the library calls it and needs it).
        /// </summary>
        public static byte[] Patch(byte[] elf, string fileName)
        {
            var file = new ElfFile(elf, fileName);
            var patched = (byte[])elf.Clone();
            var missing = file.VersionNeeds.Where(n => n.Name == MissingVersion).ToList();
            if (missing.Count == 0)
                return patched;
            if (missing.Count > 1)
                throw new GlibcxxPatchException(fileName, $"unexpected layout: {missing.Count} requirements of {MissingVersion}");
            var need = missing[0];
            var replacement = file.VersionNeeds.FirstOrDefault(n => n.Library == need.Library && n.Name == ReplacementVersion)
                ?? throw new GlibcxxPatchException(fileName, $"unexpected layout: it requires {MissingVersion} from {need.Library} but not {ReplacementVersion}, whose name the patch reuses");
            var symbols = file.DynamicSymbols.Where(s => s.VersionIndex == need.Index).ToList();
            var defined = symbols.FirstOrDefault(s => !s.IsUndefined);
            if (defined != null)
                throw new GlibcxxPatchException(fileName, $"unexpected layout: it defines {defined.Name} with the version index ({need.Index}) of {MissingVersion}");
            var used = file.SymbolRelocations.FirstOrDefault(r => symbols.Any(s => s.Index == r.SymbolIndex));
            if (used != null)
                throw new GlibcxxPatchException(fileName,
                    $"relocation {used.Entry} of {used.Section} (type {used.Type}) uses {file.DynamicSymbols[used.SymbolIndex].Name}@{MissingVersion}, " +
                    $"so the library calls or reads it and dropping the {MissingVersion} requirement would break it");
            ElfFile.WriteU32(patched, need.EntryOffset, ElfHash(ReplacementVersion));
            ElfFile.WriteU32(patched, need.EntryOffset + 8, replacement.NameOffset);
            foreach (var symbol in symbols)
            {
                ElfFile.WriteU16(patched, symbol.VersionEntryOffset, VersionIndexGlobal);
                var info = symbol.EntryOffset + 4;
                patched[info] = (byte)(ElfFile.StbWeak << 4 | patched[info] & 0xf);
            }
            return patched;
        }

        /// <summary>
        /// The paths where libstdc++.so.6 may be, most likely first: those that <paramref name="ldconfigOutput"/>
        /// (the output of <c>ldconfig -p</c>, or null) lists, then the usual multiarch and lib64 folders.
        /// </summary>
        public static IReadOnlyList<string> LibStdCxxCandidates(string? ldconfigOutput)
        {
            // Lines look like "\tlibstdc++.so.6 (libc6,x86-64) => /lib/x86_64-linux-gnu/libstdc++.so.6".
            var fromCache = new List<string>();
            foreach (var line in (ldconfigOutput ?? "").Split('\n').Select(l => l.Trim()))
            {
                var arrow = line.IndexOf(" => ", StringComparison.Ordinal);
                if (line.StartsWith("libstdc++.so.6 ", StringComparison.Ordinal) && arrow >= 0)
                    fromCache.Add(line.Substring(arrow + 4).Trim());
            }
            return fromCache.Concat(LibStdCxxFolders.Select(folder => folder + "/libstdc++.so.6")).Distinct().ToList();
        }

        /// <summary>The ELF e_machine of the process's architecture (62 for x64, 183 for Arm64), or null for others.</summary>
        public static ushort? HostMachine()
        {
            switch (RuntimeInformation.ProcessArchitecture)
            {
                case Architecture.X64: return 62;
                case Architecture.Arm64: return 183;
                default: return null;
            }
        }

        /// <summary>
        /// This system's libstdc++.so.6 for <paramref name="machine"/> (an ELF e_machine, such as
        /// <see cref="HostMachine"/>), or null when none is found: the first of <see cref="LibStdCxxCandidates"/>
        /// (with the output of <c>ldconfig -p</c>, where there is an ldconfig) that is a 64-bit little-endian ELF file
        /// for that machine. LD_LIBRARY_PATH is not considered.
        /// </summary>
        public static ElfFile? FindSystemLibStdCxx(ushort machine)
        {
            foreach (var path in LibStdCxxCandidates(RunLdconfig()))
            {
                if (!File.Exists(path))
                    continue;
                try
                {
                    var library = new ElfFile(File.ReadAllBytes(path), path);
                    if (library.Machine == machine)
                        return library;
                }
                catch (Exception e) when (e is GlibcxxPatchException || e is IOException || e is UnauthorizedAccessException)
                {
                    // Not a readable 64-bit little-endian ELF file (e.g. a 32-bit /usr/lib one): not ours.
                }
            }
            return null;
        }

        /// <summary>Whether <paramref name="libStdCxx"/> (a libstdc++.so.6, or null for none) defines <see cref="MissingVersion"/>.</summary>
        public static bool ProvidesMissingVersion(ElfFile? libStdCxx) =>
            libStdCxx != null && libStdCxx.VersionDefinitions.Contains(MissingVersion);

        static string? RunLdconfig()
        {
            foreach (var ldconfig in LdconfigPaths)
            {
                try
                {
                    var start = new ProcessStartInfo(ldconfig, "-p")
                    {
                        UseShellExecute = false,
                        RedirectStandardOutput = true,
                        RedirectStandardError = true,
                    };
                    using (var process = Process.Start(start))
                    {
                        if (process == null)
                            continue;
                        process.ErrorDataReceived += (sender, line) => { };
                        process.BeginErrorReadLine();
                        var output = process.StandardOutput.ReadToEnd();
                        process.WaitForExit();
                        if (process.ExitCode == 0)
                            return output;
                    }
                }
                catch (Exception e) when (e is System.ComponentModel.Win32Exception || e is InvalidOperationException)
                {
                    // No such program: try the next path.
                }
            }
            return null;
        }
    }

#if !DQNFUN_GLIBCXX_TESTS
    /// <summary>
    /// MSBuild task: patches each copy of libLibTorchSharp.so in <see cref="Files"/> in place with
    /// <see cref="GlibcxxPatch.Patch"/>, unless it is already patched or this system's libstdc++ provides
    /// GLIBCXX_3.4.32 (and <see cref="EvenIfSystemProvides"/> is false). The new contents go to a temporary file
    /// that replaces the copy by a rename, so a copy hard-linked to the NuGet cache leaves the cache untouched.
    /// </summary>
    public sealed class PatchLibTorchSharpGlibcxx : Microsoft.Build.Utilities.Task
    {
        /// <summary>The copies of libLibTorchSharp.so in an output or publish folder.</summary>
        [Required]
        public ITaskItem[] Files { get; set; } = Array.Empty<ITaskItem>();

        /// <summary>Patch even when this machine's libstdc++ provides GLIBCXX_3.4.32 (for output that runs on older systems).</summary>
        public bool EvenIfSystemProvides { get; set; }

        /// <inheritdoc />
        public override bool Execute()
        {
            string lacking;
            if (EvenIfSystemProvides)
                lacking = "the target system (DqnFunGlibcxxPatch is always)";
            else
            {
                var machine = GlibcxxPatch.HostMachine();
                var libStdCxx = machine == null ? null : GlibcxxPatch.FindSystemLibStdCxx(machine.Value);
                if (GlibcxxPatch.ProvidesMissingVersion(libStdCxx))
                {
                    Log.LogMessage(MessageImportance.Low, "{0} provides {1}: TorchSharp's libLibTorchSharp.so is left as it is", libStdCxx!.FileName, GlibcxxPatch.MissingVersion);
                    return true;
                }
                lacking = libStdCxx?.FileName ?? "this system (no libstdc++.so.6 found)";
            }
            foreach (var item in Files)
            {
                var path = item.GetMetadata("FullPath");
                try
                {
                    var contents = File.ReadAllBytes(path);
                    if (!GlibcxxPatch.NeedsPatch(contents, path))
                    {
                        Log.LogMessage(MessageImportance.Low, "{0} does not require {1} (already patched)", path, GlibcxxPatch.MissingVersion);
                        continue;
                    }
                    ReplaceContents(path, GlibcxxPatch.Patch(contents, path));
                    Log.LogMessage(MessageImportance.Normal, "Patched {0} so that it loads without {1}, which {2} lacks", path, GlibcxxPatch.MissingVersion, lacking);
                }
                catch (GlibcxxPatchException e)
                {
                    Log.LogError(null, "DQNFUN0001", null, path, 0, 0, 0, 0,
                        "TorchSharp's libLibTorchSharp.so needs {0}, which {1} lacks, and Dqn.Fun cannot patch this copy to load without it: {2}. " +
                        "Install a libstdc++ from GCC 13 or newer (such as libstdc++6 of Debian 13 or Ubuntu 24.04), or report the TorchSharp version you use to Dqn.Fun.",
                        GlibcxxPatch.MissingVersion, lacking, e.Problem);
                }
                catch (Exception e) when (e is IOException || e is UnauthorizedAccessException)
                {
                    Log.LogError(null, "DQNFUN0002", null, path, 0, 0, 0, 0,
                        "Could not patch TorchSharp's libLibTorchSharp.so to load without {0}, which {1} lacks: {2}. Make the folder writable and build again.",
                        GlibcxxPatch.MissingVersion, lacking, e.Message);
                }
            }
            return !Log.HasLoggedErrors;
        }

        /// <summary>
        /// Writes a temporary file beside <paramref name="path"/> (a copy first, so it has the same permissions),
        /// gives it the copy's time stamp, so the next incremental build's copy step sees the same size and time as
        /// the NuGet cache file and skips it, and renames it over <paramref name="path"/>.
        /// </summary>
        static void ReplaceContents(string path, byte[] contents)
        {
            var temporary = path + "." + Guid.NewGuid().ToString("N") + ".tmp";
            try
            {
                File.Copy(path, temporary);
                File.WriteAllBytes(temporary, contents);
                File.SetLastWriteTimeUtc(temporary, File.GetLastWriteTimeUtc(path));
                File.Replace(temporary, path, null);
            }
            finally
            {
                if (File.Exists(temporary))
                    File.Delete(temporary);
            }
        }
    }
#endif
}
