namespace Dqn.Fun

open TorchSharp

/// Bellman targets for Q-learning over batches of transitions. Pure: each function reads its tensors and
/// returns a new one; none records gradients (targets are computed under torch.no_grad by the caller or
/// by the function itself). Shapes are checked before any native call.
[<RequireQualifiedAccess>]
module Bellman =

    /// <summary>The DQN target of Mnih et al. 2015 ("Human-level control through deep reinforcement
    /// learning", Algorithm 1 and eq. 2): <c>y = r + gamma * (1 - terminated) * max_a' Q_target(s', a')</c>.</summary>
    /// <param name="gamma">Discount factor in [0, 1].</param>
    /// <param name="rewards">[batch] Float32 rewards r.</param>
    /// <param name="terminated">[batch] Float32, 1.0 where s' is terminal (no bootstrap) and 0.0 otherwise.
    /// Truncated transitions (time limits) carry 0.0 so that they bootstrap (Pardo et al. 2018).</param>
    /// <param name="nextQTarget">[batch; actions] Float32 target-network values Q_target(s', ·).</param>
    /// <returns>[batch] Float32 targets y, detached from any autograd graph.</returns>
    /// <exception cref="System.ArgumentOutOfRangeException">gamma outside [0, 1] or not finite.</exception>
    /// <exception cref="System.ArgumentException">A shape or dtype other than the above; the message gives
    /// expected and received shapes.</exception>
    /// <example><c>dqnTarget 0.9 [1; 1] [0; 1] [[2; 5]; [3; 4]]</c> evaluates to <c>[5.5; 1]</c>.</example>
    val dqnTarget: gamma: float -> rewards: Tensor -> terminated: Tensor -> nextQTarget: Tensor -> Tensor

    /// <summary>The Double DQN target of van Hasselt, Guez and Silver 2016 ("Deep Reinforcement Learning
    /// with Double Q-learning", eq. 4): the online network picks the action, the target network values it,
    /// <c>y = r + gamma * (1 - terminated) * Q_target(s', argmax_a' Q_online(s', a'))</c>.</summary>
    /// <param name="gamma">Discount factor in [0, 1].</param>
    /// <param name="rewards">[batch] Float32.</param>
    /// <param name="terminated">[batch] Float32, 1.0 terminal, 0.0 otherwise (truncation is 0.0).</param>
    /// <param name="nextQOnline">[batch; actions] Float32 online-network values Q_online(s', ·).</param>
    /// <param name="nextQTarget">[batch; actions] Float32 target-network values Q_target(s', ·).</param>
    /// <returns>[batch] Float32 targets, detached.</returns>
    /// <exception cref="System.ArgumentOutOfRangeException">gamma outside [0, 1] or not finite.</exception>
    /// <exception cref="System.ArgumentException">Mismatched shapes or dtypes.</exception>
    /// <example><c>doubleDqnTarget 0.9 [1] [0] [[9; 1]] [[2; 5]]</c> evaluates to <c>[2.8]</c> (online picks
    /// action 0, valued 2 by the target network).</example>
    val doubleDqnTarget:
        gamma: float -> rewards: Tensor -> terminated: Tensor -> nextQOnline: Tensor -> nextQTarget: Tensor -> Tensor

    /// <summary>The n-step form of the DQN target (Sutton 1988; Hessel et al. 2018, eq. 2):
    /// <c>y = R + discount * max_a' Q_target(s', a')</c> with a per-transition discount, gamma^m (1 - terminated)
    /// for an m-step return R. `dqnTarget gamma r terminated q` is `nStepTarget r (gamma (1 - terminated)) q`.</summary>
    /// <param name="rewards">[batch] Float32 (n-step) returns.</param>
    /// <param name="discounts">[batch] Float32 bootstrap discounts, 0 where s' is terminal.</param>
    /// <param name="nextQTarget">[batch; actions] Float32.</param>
    /// <returns>[batch] Float32, detached.</returns>
    /// <exception cref="System.ArgumentException">Mismatched shapes or dtypes.</exception>
    val nStepTarget: rewards: Tensor -> discounts: Tensor -> nextQTarget: Tensor -> Tensor

    /// <summary>The n-step form of the Double DQN target: <c>y = R + discount * Q_target(s', argmax_a' Q_online(s', a'))</c>.</summary>
    /// <param name="rewards">[batch] Float32.</param>
    /// <param name="discounts">[batch] Float32, gamma^m (1 - terminated).</param>
    /// <param name="nextQOnline">[batch; actions] Float32.</param>
    /// <param name="nextQTarget">[batch; actions] Float32.</param>
    /// <returns>[batch] Float32, detached.</returns>
    /// <exception cref="System.ArgumentException">Mismatched shapes or dtypes.</exception>
    val doubleNStepTarget: rewards: Tensor -> discounts: Tensor -> nextQOnline: Tensor -> nextQTarget: Tensor -> Tensor

    /// <summary>Q(s, a) for the actions taken: <c>q[i] = qValues[i, actions[i]]</c>.</summary>
    /// <param name="qValues">[batch; actions] Float32.</param>
    /// <param name="actions">[batch] Int64 action indices.</param>
    /// <returns>[batch] Float32, keeping qValues' autograd history (the prediction in the TD error).</returns>
    /// <exception cref="System.ArgumentException">Mismatched shapes or dtypes.</exception>
    val selectActions: qValues: Tensor -> actions: Tensor -> Tensor
