namespace Dqn.Fun.Atari

open System

/// <summary>Reference scores of one game: a uniformly random policy and a professional human tester (Mnih et al.
/// 2015, Extended Data Table 2, under the Nature evaluation protocol: up to 30 no-op starts, 5-minute
/// episodes), and the Nature DQN's own score from the same table.</summary>
type ReferenceScores =
    { /// The ALE game id (ale_py's ROM name), e.g. "space_invaders".
      Game: string
      /// The game's name as the paper writes it.
      Name: string
      Random: float
      Human: float
      /// Nature DQN (Mnih et al. 2015), mean of 30 evaluation episodes.
      NatureDqn: float }

/// <summary>Human-normalized scores: 100 · (score − random) / (human − random) (Mnih et al. 2015, Methods;
/// van Hasselt et al. 2016 normalise the same way), from the random and human scores of Mnih et al. 2015,
/// Extended Data Table 2, for the games this project benchmarks. 0 is the random policy, 100 the human tester.</summary>
[<RequireQualifiedAccess>]
module AtariScores =

    let private row game name random human dqn =
        { Game = game; Name = name; Random = random; Human = human; NatureDqn = dqn }

    /// <summary>The table: Pong, Breakout, SpaceInvaders, Seaquest, Qbert, BeamRider, Enduro.</summary>
    [<CompiledName("Table")>]
    let table =
        [ row "pong" "Pong" -20.7 9.3 18.9
          row "breakout" "Breakout" 1.7 31.8 401.2
          row "space_invaders" "Space Invaders" 148.0 1652.0 1976.0
          row "seaquest" "Seaquest" 68.4 20182.0 5286.0
          row "qbert" "Q*bert" 163.9 13455.0 10596.0
          row "beam_rider" "Beam Rider" 363.9 5775.0 6846.0
          row "enduro" "Enduro" 0.0 309.6 301.8 ]

    /// <summary>The ALE game id for a name as users write it: "Pong", "SpaceInvaders", "space-invaders",
    /// "space_invaders" all give "space_invaders" (CamelCase split at capitals, lower case, '-' and ' ' to '_').</summary>
    /// <exception cref="T:System.ArgumentException">name is null, empty, or holds other characters than letters,
    /// digits, '_', '-' and ' '.</exception>
    [<CompiledName("GameId")>]
    let gameId (name: string) =
        if String.IsNullOrWhiteSpace name then invalidArg "name" "give a game name such as pong or SpaceInvaders"
        let b = Text.StringBuilder()
        let s = name.Trim()
        for i in 0 .. s.Length - 1 do
            let c = s[i]
            if Char.IsUpper c && i > 0 && Char.IsLower s[i - 1] then b.Append '_' |> ignore
            if c = '-' || c = ' ' then b.Append '_' |> ignore
            elif Char.IsAsciiLetterOrDigit c || c = '_' then b.Append(Char.ToLowerInvariant c) |> ignore
            else invalidArg "name" $"game name '{name}' has the character '{c}'; use letters, digits, '_' or '-'"
        b.ToString()

    /// <summary>The reference scores of a game (any spelling <c>gameId</c> accepts), or None when it is not in
    /// the table.</summary>
    [<CompiledName("TryFind")>]
    let tryFind (game: string) = table |> List.tryFind (fun r -> r.Game = gameId game)

    /// <summary>100 · (score − random) / (human − random) for a game of the table, or None for another game.</summary>
    [<CompiledName("HumanNormalized")>]
    let humanNormalized (game: string) (score: float) =
        tryFind game |> Option.map (fun r -> 100.0 * (score - r.Random) / (r.Human - r.Random))
