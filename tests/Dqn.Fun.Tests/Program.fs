/// The test executable: `dotnet run --project tests/Dqn.Fun.Tests -c Release -- [Expecto arguments]`.
module Dqn.Fun.Tests.Program

[<EntryPoint>]
let main argv = TestConfig.runTests argv
