namespace Dqn.Fun

/// <summary>
/// A sum tree over <c>capacity</c> non-negative leaf priorities: O(log n) updates, the total in O(1),
/// and the prefix-sum search that proportional prioritized replay samples with (Schaul, Quan,
/// Antonoglou, Silver 2016, "Prioritized Experience Replay", ICLR, §3.3 and Appendix B.2.1).
/// </summary>
/// <remarks>
/// <para>Layout: one flat float64 array of 2·L nodes, L the smallest power of two ≥ capacity; node 1 is
/// the root, node k has children 2k and 2k+1, leaf i is node L+i, and the leaves past capacity stay 0.
/// Siblings sit side by side, so a step down the tree reads one cache line.</para>
/// <para>Floating point: an update recomputes every ancestor as the sum of its two children (no running
/// deltas), so no error accumulates over updates; <c>Total</c> equals the leaves' sum up to rounding
/// (exactly when the priorities and their sums are representable, e.g. small integers). The search never
/// enters a subtree whose sum is 0, so every mass in [0, Total], <c>Total</c> itself included, finds a
/// leaf with a nonzero priority.</para>
/// <para>Mutable and not thread-safe.</para>
/// </remarks>
/// <example>
/// <code lang="fsharp">
/// let tree = SumTree 4
/// tree.Update(0, 1.0); tree.Update(1, 3.0)   // leaves 1, 3, 0, 0
/// tree.Total                                  // 4.0
/// tree.Find 0.5, tree.Find 1.0, tree.Find 4.0 // 0, 1, 1
/// </code>
/// </example>
[<Sealed>]
type SumTree =
    /// <summary>A tree whose leaves are all 0.</summary>
    /// <param name="capacity">The number of leaves, 1 .. 2^29.</param>
    /// <exception cref="T:System.ArgumentOutOfRangeException">capacity is outside 1 .. 2^29.</exception>
    new: capacity: int -> SumTree

    /// The number of leaves.
    member Capacity: int

    /// The sum of all leaf priorities (the root); 0 for a new tree.
    member Total: float

    /// <summary>Leaf i's priority.</summary>
    /// <exception cref="T:System.ArgumentOutOfRangeException">index is outside 0 .. Capacity−1.</exception>
    member Item: index: int -> float with get

    /// <summary>Sets leaf i's priority and refreshes its ancestors: O(log capacity).</summary>
    /// <exception cref="T:System.ArgumentOutOfRangeException">index is outside 0 .. Capacity−1, or the
    /// priority is negative (the message gives the value).</exception>
    /// <exception cref="T:System.ArgumentException">The priority is NaN or infinite.</exception>
    member Update: index: int * priority: float -> unit

    /// <summary>
    /// The prefix-sum search: the leaf i with p_0 + … + p_(i−1) ≤ mass &lt; p_0 + … + p_i and p_i &gt; 0
    /// (for mass = Total, the last leaf with a nonzero priority). A mass drawn uniformly from
    /// [0, Total) thus finds leaf i with probability p_i / Total. O(log capacity).
    /// </summary>
    /// <exception cref="T:System.ArgumentOutOfRangeException">mass is NaN, negative or above Total.</exception>
    /// <exception cref="T:System.InvalidOperationException">Total is 0 (every priority is 0).</exception>
    member Find: mass: float -> int

/// <summary>
/// The sum tree's companion: a min tree over <c>capacity</c> leaves with O(log n) updates and the minimum
/// in O(1). Prioritized replay reads the smallest live priority from it to normalize importance-sampling
/// weights by their maximum (Schaul et al. 2016, §3.4), as Dopamine and DQN Zoo do.
/// </summary>
/// <remarks>
/// Same flat layout as <see cref="T:Dqn.Fun.SumTree"/>; unset leaves (and the padding past capacity) hold
/// +∞, so <c>Min</c> is the minimum over the leaves set so far, +∞ when none is. Mutable, not thread-safe.
/// </remarks>
/// <example>
/// <code lang="fsharp">
/// let tree = MinTree 4
/// tree.Update(2, 0.5); tree.Update(3, 2.0)
/// tree.Min   // 0.5
/// </code>
/// </example>
[<Sealed>]
type MinTree =
    /// <summary>A tree whose leaves are all unset (+∞).</summary>
    /// <param name="capacity">The number of leaves, 1 .. 2^29.</param>
    /// <exception cref="T:System.ArgumentOutOfRangeException">capacity is outside 1 .. 2^29.</exception>
    new: capacity: int -> MinTree

    /// The number of leaves.
    member Capacity: int

    /// The smallest leaf value set so far; +∞ when none is.
    member Min: float

    /// <summary>Leaf i's value (+∞ when unset).</summary>
    /// <exception cref="T:System.ArgumentOutOfRangeException">index is outside 0 .. Capacity−1.</exception>
    member Item: index: int -> float with get

    /// <summary>Sets leaf i's value and refreshes its ancestors: O(log capacity).</summary>
    /// <exception cref="T:System.ArgumentOutOfRangeException">index is outside 0 .. Capacity−1, or the
    /// value is negative (the message gives the value).</exception>
    /// <exception cref="T:System.ArgumentException">The value is NaN or infinite.</exception>
    member Update: index: int * value: float -> unit
