namespace Dqn.Fun

open TorchSharp

/// <summary>
/// Distributional RL over a fixed categorical support: C51 (Bellemare, Dabney and Munos 2017, "A
/// Distributional Perspective on Reinforcement Learning", section 4 and Algorithm 1), the distributional
/// part of Rainbow (Hessel et al. 2018).
/// </summary>
/// <remarks>
/// A return distribution is a probability vector over N atoms <c>z_i = vMin + i * dz</c>,
/// <c>dz = (vMax - vMin) / (N - 1)</c>. The projection is written densely, as in DQN Zoo and rlax
/// (<c>categorical_l2_project</c>): atom i receives <c>sum_j p_j * max(0, 1 - |b_j - i|)</c> with
/// <c>b_j = (clamp(r + discount * z_j, vMin, vMax) - vMin) / dz</c>. That is Algorithm 1's split of p_j
/// between atoms floor(b_j) and ceil(b_j) in proportions (ceil(b_j) - b_j) and (b_j - floor(b_j)), and
/// it gives the whole of p_j to atom b_j when b_j is an integer (where Algorithm 1 as printed loses it).
/// It costs O(batch * N^2) (N = 51: 2601 products per row) and needs no scatter. All tensors Float32 on one
/// device; shapes are checked before any native call.
/// </remarks>
[<RequireQualifiedAccess>]
module Categorical =

    /// <summary>The support <c>z_i = vMin + i * (vMax - vMin) / (atoms - 1)</c>, i = 0 .. atoms-1, computed
    /// in float64 and rounded to Float32.</summary>
    /// <param name="vMin">The smallest atom; finite.</param>
    /// <param name="vMax">The largest atom; finite and greater than vMin.</param>
    /// <param name="atoms">N, at least 2 (51 in C51 and Rainbow, with vMin = -10, vMax = 10).</param>
    /// <param name="device">Where the tensor lives.</param>
    /// <returns>[atoms] Float32.</returns>
    /// <exception cref="T:System.ArgumentException">vMin or vMax not finite.</exception>
    /// <exception cref="T:System.ArgumentOutOfRangeException">atoms &lt; 2, or vMax &lt;= vMin.</exception>
    /// <example><c>support -1.0 1.0 5 torch.CPU</c> evaluates to <c>[-1; -0.5; 0; 0.5; 1]</c>.</example>
    [<CompiledName("Support")>]
    val support: vMin: float -> vMax: float -> atoms: int -> device: Device -> Tensor

    /// <summary>The categorical projection Φ(r + discount · Z) of the target distribution onto the support
    /// (Algorithm 1, lines 5-12): shifts and shrinks the atoms, clamps them to [vMin, vMax] and shares each
    /// atom's probability between its two neighbours on the support.</summary>
    /// <param name="rewards">[batch] Float32 (n-step) returns r.</param>
    /// <param name="discounts">[batch] Float32 discounts of the bootstrap term, <c>gamma^n * (1 - terminated)</c>
    /// (0 for terminal transitions, whose target is the point mass at r, split between its neighbours).</param>
    /// <param name="nextProbs">[batch; N] Float32 probabilities p_j(s', a*) of the target network at the
    /// greedy next action; rows summing to 1.</param>
    /// <param name="support">[N] Float32 evenly spaced atoms from <c>support</c>, N &gt;= 2.</param>
    /// <returns>[batch; N] Float32 target probabilities m, detached; each row sums to the row of nextProbs.</returns>
    /// <exception cref="T:System.ArgumentException">A shape or dtype other than the above, or a support whose
    /// last atom is not above its first; the message gives expected and received shapes.</exception>
    /// <example>With support [-1; 0; 1], <c>project [0.5] [1] [[0; 1; 0]] support</c> evaluates to
    /// <c>[[0; 0.5; 0.5]]</c>; with reward 0 and discount 1 every row of nextProbs is returned unchanged.</example>
    [<CompiledName("Project")>]
    val project: rewards: Tensor -> discounts: Tensor -> nextProbs: Tensor -> support: Tensor -> Tensor

    /// <summary>The cross-entropy <c>-sum_i m_i log softmax(logits)_i</c> per transition (Algorithm 1, line 13;
    /// the KL divergence up to the entropy of m, which does not depend on the network). Rainbow uses it as
    /// the priority of prioritized replay.</summary>
    /// <param name="logits">[batch; N] Float32 logits of the online network at the taken actions; keeps
    /// their autograd history.</param>
    /// <param name="targetProbs">[batch; N] Float32 target probabilities (from <c>project</c>); treated as
    /// constants (detached).</param>
    /// <returns>[batch] Float32 losses.</returns>
    /// <exception cref="T:System.ArgumentException">Mismatched shapes or dtypes.</exception>
    /// <example><c>crossEntropy [[0; 0]] [[1; 0]]</c> evaluates to <c>[log 2]</c>.</example>
    [<CompiledName("CrossEntropy")>]
    val crossEntropy: logits: Tensor -> targetProbs: Tensor -> Tensor

    /// <summary>The mean of <c>crossEntropy</c> over the batch: the C51 loss to minimise.</summary>
    /// <returns>A one-element Float32 tensor (shape []).</returns>
    /// <exception cref="T:System.ArgumentException">Mismatched shapes or dtypes.</exception>
    [<CompiledName("Loss")>]
    val loss: logits: Tensor -> targetProbs: Tensor -> Tensor

    /// <summary>Q-values as expectations of the distributions: <c>Q(s, a) = sum_i z_i p_i(s, a)</c>.</summary>
    /// <param name="probs">[batch; actions; N] Float32 probabilities.</param>
    /// <param name="support">[N] Float32 atoms.</param>
    /// <returns>[batch; actions] Float32, keeping probs' autograd history.</returns>
    /// <exception cref="T:System.ArgumentException">Mismatched shapes or dtypes.</exception>
    [<CompiledName("QValues")>]
    val qValues: probs: Tensor -> support: Tensor -> Tensor
