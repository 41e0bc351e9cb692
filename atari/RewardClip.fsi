namespace Dqn.Fun.Atari

/// <summary>
/// Reward clipping to {−1, 0, +1}: Mnih et al. 2015 (Methods, "Training details": "we clipped all
/// positive rewards at 1 and all negative rewards at −1, leaving 0 rewards unchanged"), as in Machado
/// et al. 2018's training setup.
/// </summary>
/// <remarks>ALE rewards are integers (<c>reward_t</c> = int); an agent step's reward is the sum over its
/// skipped frames. Stable-Baselines3's <c>ClipRewardEnv</c> clips that sum (<c>sign</c>);
/// <c>sumOfSigns</c> is the variant that clips each frame's reward before summing (range −k..k for a
/// skip of k frames).</remarks>
[<RequireQualifiedAccess>]
module RewardClip =

    /// <summary>The sign of a reward: −1, 0 or +1 (numpy <c>np.sign</c> on integers).</summary>
    /// <example><c>RewardClip.sign -7</c> evaluates to <c>-1</c>.</example>
    [<CompiledName("Sign")>]
    val sign: reward: int -> int

    /// <summary>The sum of the signs of per-frame rewards.</summary>
    /// <exception cref="T:System.ArgumentNullException">frameRewards is null.</exception>
    /// <example><c>RewardClip.sumOfSigns [| 3; -1; 0; 2 |]</c> evaluates to <c>1</c>.</example>
    [<CompiledName("SumOfSigns")>]
    val sumOfSigns: frameRewards: int[] -> int
