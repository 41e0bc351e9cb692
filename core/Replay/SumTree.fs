namespace Dqn.Fun

open System

module internal TreeLayout =

    /// The largest capacity: 2·L nodes must fit in one .NET array, L = 2^29 at most.
    [<Literal>]
    let MaxCapacity = 536_870_912

    /// L, the smallest power of two ≥ capacity (the index of leaf 0).
    let leafBase (capacity: int) =
        if capacity < 1 || capacity > MaxCapacity then
            raise (ArgumentOutOfRangeException("capacity", box capacity, $"capacity must be in 1..{MaxCapacity}"))
        let mutable size = 1
        while size < capacity do
            size <- size * 2
        size

    let index (capacity: int) (index: int) =
        if index < 0 || index >= capacity then
            raise (ArgumentOutOfRangeException("index", box index, $"index must be in 0..{capacity - 1}"))

    let priority (name: string) (value: float) =
        Check.finite name value
        if value < 0.0 then
            raise (ArgumentOutOfRangeException(name, box value, $"{name} must be non-negative, got {value}"))

[<Sealed>]
type SumTree(capacity: int) =
    let leafBase = TreeLayout.leafBase capacity
    let nodes = Array.zeroCreate<float> (2 * leafBase)

    member _.Capacity = capacity
    member _.Total = nodes[1]

    member _.Item
        with get (index: int) =
            TreeLayout.index capacity index
            nodes[leafBase + index]

    member _.Update(index: int, priority: float) =
        TreeLayout.index capacity index
        TreeLayout.priority "priority" priority
        let mutable node = leafBase + index
        nodes[node] <- priority
        node <- node >>> 1
        while node >= 1 do
            nodes[node] <- nodes[2 * node] + nodes[2 * node + 1]
            node <- node >>> 1

    member _.Find(mass: float) =
        let total = nodes[1]
        if total = 0.0 then
            Check.invalidOp "cannot search a sum tree whose priorities are all 0"
        if not (mass >= 0.0 && mass <= total) then
            raise (ArgumentOutOfRangeException("mass", box mass, $"mass must be in [0, {total}] (the total)"))
        let mutable mass = mass
        let mutable node = 1
        // Invariant: nodes[node] > 0. Go right only into a nonzero subtree, so rounding can never strand
        // the search in a zero subtree or past the last leaf.
        while node < leafBase do
            let left = nodes[2 * node]
            if mass < left || nodes[2 * node + 1] = 0.0 then
                node <- 2 * node
            else
                mass <- mass - left
                node <- 2 * node + 1
        node - leafBase

[<Sealed>]
type MinTree(capacity: int) =
    let leafBase = TreeLayout.leafBase capacity
    let nodes = Array.create (2 * leafBase) Double.PositiveInfinity

    member _.Capacity = capacity
    member _.Min = nodes[1]

    member _.Item
        with get (index: int) =
            TreeLayout.index capacity index
            nodes[leafBase + index]

    member _.Update(index: int, value: float) =
        TreeLayout.index capacity index
        TreeLayout.priority "value" value
        let mutable node = leafBase + index
        nodes[node] <- value
        node <- node >>> 1
        // Once a node's minimum is unchanged, so are its ancestors': most updates stop after a level or two.
        let mutable changed = true
        while changed && node >= 1 do
            let m = Math.Min(nodes[2 * node], nodes[2 * node + 1])
            if m = nodes[node] then changed <- false else nodes[node] <- m
            node <- node >>> 1
