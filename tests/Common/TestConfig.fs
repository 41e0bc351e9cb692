/// The settings every F# test project runs with, in one place: the FsCheck configuration of the properties
/// (`testPropertyWithConfig TestConfig.fsCheck ...`) and the Expecto runner of each test executable.
module Dqn.Fun.Tests.TestConfig

open System
open Expecto

/// A replay of one FsCheck run: DQNFUN_FSCHECK_REPLAY holds the seed, gamma and (optionally) size that a failing
/// property prints, either as "seed,gamma,size" or as Expecto's `(1234UL, 5678UL, Some 42)`.
let private replay =
    match Environment.GetEnvironmentVariable "DQNFUN_FSCHECK_REPLAY" with
    | null
    | "" -> None
    | text ->
        let parts =
            text.Trim('(', ')', ' ').Split(',', StringSplitOptions.TrimEntries)
            |> Array.map (fun p -> p.Replace("Some", "").Replace("UL", "").Trim())
        match parts with
        | [| seed; gamma |] -> Some(UInt64.Parse seed, UInt64.Parse gamma, None)
        | [| seed; gamma; "None" |] -> Some(UInt64.Parse seed, UInt64.Parse gamma, None)
        | [| seed; gamma; size |] -> Some(UInt64.Parse seed, UInt64.Parse gamma, Some(Int32.Parse size))
        | _ -> failwith $"DQNFUN_FSCHECK_REPLAY: expected \"seed,gamma[,size]\", got \"{text}\""

/// The FsCheck configuration of every property: 100 cases (FsCheck's QuickThrowOnFailure, as the xunit facts had;
/// a property may ask for more with `{ fsCheck with maxTest = n }`), sizes 1 to 100, no registered arbitraries
/// (each property passes its generators to `Prop.forAll`), and a fresh random seed a run unless
/// DQNFUN_FSCHECK_REPLAY names one. A failing property prints its original seed, its shrunk counterexample and the
/// `(seed, gamma, Some size)` to replay it with.
let fsCheck =
    { FsCheckConfig.defaultConfig with
        maxTest = 100
        startSize = 1
        endSize = 100
        replay = replay }

/// `config` that disposes `resource`, if it was made, when the property's run ends (passed, failed or exhausted): for
/// a property whose cases share a network, made at its first case (the test's run, not the module's initialisation),
/// as a `use` around `Check.One` did.
let disposingAfter (resource: Lazy<#IDisposable>) (config: FsCheckConfig) =
    { config with
        finishedTest =
            fun c name data ->
                async {
                    if resource.IsValueCreated then resource.Value.Dispose()
                    return! config.finishedTest c name data
                } }

/// Runs the [<Tests>] of the calling test executable with its command-line arguments (Expecto's: --filter-test-case,
/// --filter-test-list, --list-tests, --nunit-summary, ...) and returns its exit code. One test at a time, whatever the
/// arguments say (--parallel included), as xunit's DisableTestParallelization did: torch's global generator
/// (torch.manual_seed) and thread count are process-wide and tests set them, and the leak tests compare TorchSharp's
/// per-thread DisposeScope statistics before and after.
///
/// LibTorch's intra-op thread count is set to 1 first: a process setting that agents leave alone, so without it the
/// learning runs would take LibTorch's default (the core count) and their floating-point sums, hence their curves,
/// would depend on the machine; one thread is also the fastest for these small networks, and does not spin OpenMP
/// workers against each other on a loaded machine.
let runTests (argv: string[]) =
    TorchSharp.torch.set_num_threads 1
    let tests = Impl.testFromThisAssembly () |> Option.defaultValue (TestList([], Normal))
    Tests.runTestsWithCLIArgs [ Sequenced ] argv (testSequenced tests)
