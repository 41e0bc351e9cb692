namespace Dqn.Fun

open TorchSharp

/// <summary>
/// Quantile regression for distributional RL: QR-DQN (Dabney, Rowland, Bellemare and Munos 2018,
/// "Distributional Reinforcement Learning with Quantile Regression", section 4 and Algorithm 1).
/// </summary>
/// <remarks>
/// A return distribution is N quantile values θ_i at the quantile midpoints <c>tau_hat_i = (2i + 1) / (2N)</c>.
/// The loss is the quantile Huber loss (eq. 10):
/// <c>ρ^κ_τ(u) = |τ - 1{u &lt; 0}| · L_κ(u) / κ</c> with <c>L_κ(u) = u²/2</c> for <c>|u| &lt;= κ</c> and
/// <c>κ (|u| - κ/2)</c> otherwise, over the pairwise errors <c>u_ij = T θ_j - θ_i</c> between every target
/// quantile j and every predicted quantile i (predicted i at tau_hat_i). Reduction, as in Algorithm 1 and
/// DQN Zoo (rlax <c>quantile_regression_loss</c>): mean over the target quantiles j, sum over the predicted
/// quantiles i, then (in <c>huberLoss</c>) mean over the batch. With κ = 1 (the paper's choice) this is
/// exactly rlax's value; for other κ it differs from rlax by the factor 1/κ of the paper.
/// All tensors Float32 on one device; shapes are checked before any native call.
/// </remarks>
[<RequireQualifiedAccess>]
module Quantile =

    /// <summary>The quantile midpoints <c>tau_hat_i = (2i + 1) / (2N)</c>, i = 0 .. N-1 (Lemma 2): the
    /// quantile levels whose values minimise the 1-Wasserstein distance to a distribution.</summary>
    /// <param name="count">N, positive (200 in QR-DQN on Atari).</param>
    /// <param name="device">Where the tensor lives.</param>
    /// <returns>[count] Float32.</returns>
    /// <exception cref="T:System.ArgumentOutOfRangeException">count &lt;= 0.</exception>
    /// <example><c>midpoints 4 torch.CPU</c> evaluates to <c>[0.125; 0.375; 0.625; 0.875]</c>.</example>
    [<CompiledName("Midpoints")>]
    val midpoints: count: int -> device: Device -> Tensor

    /// <summary>The quantile Huber loss of each transition:
    /// <c>sum_i mean_j |tau_hat_i - 1{u_ij &lt; 0}| · L_κ(u_ij) / κ</c>, <c>u_ij = target_j - predicted_i</c>.</summary>
    /// <param name="kappa">κ, the Huber threshold; positive and finite (1 in the paper).</param>
    /// <param name="predicted">[batch; N] Float32 quantile values θ_i(s, a) of the online network at the taken
    /// actions, at the midpoints of N; keeps their autograd history.</param>
    /// <param name="target">[batch; N'] Float32 target quantile values <c>r + gamma^n (1 - terminated) θ_j(s', a*)</c>;
    /// treated as constants (detached).</param>
    /// <returns>[batch] Float32 losses (Rainbow-style priorities for prioritized replay, or
    /// <c>huberLoss</c>'s terms).</returns>
    /// <exception cref="T:System.ArgumentOutOfRangeException">kappa not positive or not finite.</exception>
    /// <exception cref="T:System.ArgumentException">A shape or dtype other than the above, or batch sizes that
    /// differ.</exception>
    /// <example>With one predicted quantile (tau_hat = 0.5) at 0 and one target at 3 (κ = 1):
    /// <c>huberLosses 1.0 [[0]] [[3]]</c> evaluates to <c>[0.5 * (3 - 0.5)] = [1.25]</c>.</example>
    [<CompiledName("HuberLosses")>]
    val huberLosses: kappa: float -> predicted: Tensor -> target: Tensor -> Tensor

    /// <summary>The quantile Huber loss of each transition at given quantile levels, as IQN trains it
    /// (Dabney, Ostrovski, Silver and Munos 2018b, "Implicit Quantile Networks for Distributional RL", eq. 3):
    /// <c>sum_i mean_j |tau_i - 1{u_ij &lt; 0}| · L_κ(u_ij) / κ</c>, <c>u_ij = target_j - predicted_i</c>, where
    /// predicted_i is the value at level <c>taus[b, i]</c> (sampled per transition; huberLosses is the case of
    /// the midpoints).</summary>
    /// <param name="kappa">κ, positive and finite (1 in the paper).</param>
    /// <param name="taus">[batch; N] Float32 levels τ_i in [0, 1] of the predicted values; treated as
    /// constants (detached).</param>
    /// <param name="predicted">[batch; N] Float32 values Z_τi(s, a); keeps its autograd history.</param>
    /// <param name="target">[batch; N'] Float32 target values <c>r + gamma^n (1 - terminated) Z_τ'j(s', a*)</c>,
    /// detached.</param>
    /// <returns>[batch] Float32 losses.</returns>
    /// <exception cref="T:System.ArgumentOutOfRangeException">kappa not positive or not finite.</exception>
    /// <exception cref="T:System.ArgumentException">A shape or dtype other than the above (the message names the
    /// argument and its shape).</exception>
    /// <example>One level τ = 0.25 at value 0, one target at -2 (κ = 1): u = -2 &lt; 0, weight |0.25 - 1| = 0.75,
    /// L = 1.5, so <c>huberLossesAt 1.0 [[0.25]] [[0]] [[-2]]</c> evaluates to <c>[1.125]</c>.</example>
    [<CompiledName("HuberLossesAt")>]
    val huberLossesAt: kappa: float -> taus: Tensor -> predicted: Tensor -> target: Tensor -> Tensor

    /// <summary>The mean of <c>huberLosses</c> over the batch: the QR-DQN loss to minimise.</summary>
    /// <returns>A one-element Float32 tensor (shape []).</returns>
    /// <exception cref="T:System.ArgumentOutOfRangeException">kappa not positive or not finite.</exception>
    /// <exception cref="T:System.ArgumentException">Mismatched shapes or dtypes.</exception>
    [<CompiledName("HuberLoss")>]
    val huberLoss: kappa: float -> predicted: Tensor -> target: Tensor -> Tensor
