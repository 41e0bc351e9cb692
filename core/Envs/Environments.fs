namespace Dqn.Fun

open System

[<RequireQualifiedAccess>]
module Environments =

    [<CompiledName("Ids")>]
    let ids = [ "CartPole-v1"; "GridWorld-v0"; "Acrobot-v1"; "MaskedCartPole-v1"; "MountainCar-v0" ]

    [<CompiledName("Make")>]
    let make (id: string) : IEnvironment =
        match id with
        | "CartPole-v1" -> CartPoleEnvironment()
        | "GridWorld-v0" -> GridWorldEnvironment()
        | "Acrobot-v1" -> AcrobotEnvironment()
        | "MaskedCartPole-v1" -> MaskedCartPoleEnvironment()
        | "MountainCar-v0" -> MountainCarEnvironment()
        | _ ->
            let known = String.Join(", ", ids)
            raise (ArgumentException($"unknown environment id '{id}'; known ids: {known}", "id"))

    [<CompiledName("MakeVector")>]
    let makeVector (id: string) (numEnvs: int) : IVectorEnvironment =
        Check.positive "numEnvs" numEnvs
        SyncVectorEnvironment(Array.init numEnvs (fun _ -> make id))
