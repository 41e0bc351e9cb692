namespace Dqn.Fun

open System

/// <summary>A <c>System.Random(seed)</c> whose position can be saved and restored: it gives exactly the numbers of
/// <c>System.Random(seed)</c> for <c>Next(maxValue)</c>, <c>Next(minValue, maxValue)</c> (ranges up to
/// Int32.MaxValue) and <c>NextDouble()</c>, and counts the draws, each of those calls being one draw of .NET's
/// seeded generator (Knuth's subtractive generator). <c>SeededRandom.Restore(seed, draws)</c> rebuilds a generator
/// at the same position by drawing that many numbers (about 5 ns each). Replay sampling and ε-greedy exploration
/// draw from these, so a training checkpoint records each generator as (seed, draws). Not thread-safe.</summary>
[<Sealed>]
type SeededRandom(seed: int) =
    inherit Random(seed)
    let mutable draws = 0L

    /// The seed the generator started from.
    member _.Seed = seed
    /// Numbers drawn since it was seeded.
    member _.Draws = draws

    /// One draw in [0, 1): the source of every other method.
    override _.Sample() =
        draws <- draws + 1L
        base.Sample()

    /// One draw scaled to [0, Int32.MaxValue) (System.Random's Next() reads the generator directly instead).
    override this.Next() = int (this.Sample() * float Int32.MaxValue)

    /// <summary>Not supported: draws here are whole numbers of samples.</summary>
    /// <exception cref="T:System.NotSupportedException">Always.</exception>
    override _.NextBytes(_: byte[]) : unit = raise (NotSupportedException "SeededRandom draws numbers only (NextBytes is not counted)")

    /// <summary>Not supported: draws here are whole numbers of samples.</summary>
    /// <exception cref="T:System.NotSupportedException">Always.</exception>
    override _.NextBytes(_: Span<byte>) : unit = raise (NotSupportedException "SeededRandom draws numbers only (NextBytes is not counted)")

    /// <summary>A generator seeded with `seed` that has drawn `draws` numbers: the state of one that was saved as
    /// (Seed, Draws).</summary>
    /// <exception cref="T:System.ArgumentOutOfRangeException">draws is negative.</exception>
    static member Restore(seed: int, draws: int64) =
        Check.nonNegative64 "draws" draws
        let r = SeededRandom seed
        for _ in 1L .. draws do
            r.Sample() |> ignore
        r
