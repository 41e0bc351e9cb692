namespace Dqn.Fun.Atari

[<RequireQualifiedAccess>]
module RewardClip =

    [<CompiledName("Sign")>]
    let sign (reward: int) : int = Operators.sign reward

    [<CompiledName("SumOfSigns")>]
    let sumOfSigns (frameRewards: int[]) : int =
        Arg.notNull "frameRewards" frameRewards
        let mutable total = 0
        for r in frameRewards do
            total <- total + Operators.sign r
        total
