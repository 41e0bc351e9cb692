/// The test executable: `dotnet run --project tests/Dqn.Fun.Atari.Tests -c Release -- [Expecto arguments]`.
module Dqn.Fun.Atari.Tests.Program

open Dqn.Fun.Tests

[<EntryPoint>]
let main argv = TestConfig.runTests argv
