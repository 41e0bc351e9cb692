/// The test executable: `dotnet run --project tests/Dqn.Fun.Tests -c Release -- [Expecto arguments]`.
module Dqn.Fun.Tests.Program

[<EntryPoint>]
let main argv =
    match argv with
    // The child process of KilledSaveTests.
    | [| "--save-loop"; path |] -> KilledSaveTests.saveLoop path
    | [| "--checkpoint-loop"; dir |] -> KilledSaveTests.checkpointLoop dir
    | _ -> TestConfig.runTests argv
