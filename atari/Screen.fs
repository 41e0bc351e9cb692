namespace Dqn.Fun.Atari

[<RequireQualifiedAccess>]
module Screen =

    [<CompiledName("Height")>]
    let height = 210

    [<CompiledName("Width")>]
    let width = 160

    [<CompiledName("RgbLength")>]
    let rgbLength = 210 * 160 * 3

    [<CompiledName("GrayLength")>]
    let grayLength = 210 * 160

    [<CompiledName("ObservationSide")>]
    let observationSide = 84

    [<CompiledName("ObservationLength")>]
    let observationLength = 84 * 84
