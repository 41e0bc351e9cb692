module Dqn.Fun.Tests.SumTreeTests

open System
open Expecto
open FsCheck
open FsCheck.FSharp
open Dqn.Fun
open Dqn.Fun.Tests.TestConfig

// Small integers: every partial sum is exact in float64, so tree and reference must agree exactly.
let private integerPriorities = Gen.choose (0, 20) |> Gen.map float

// Priorities of very different magnitudes (and zeros), whose sums round.
let private roundingPriorities =
    Gen.frequency
        [ 1, Gen.constant 0.0
          3, Gen.choose (1, 1_000_000) |> Gen.map (fun i -> float i * 1e-7)
          1, Gen.choose (1, 1000) |> Gen.map (fun i -> float i * 1e10)
          1, Gen.choose (1, 1000) |> Gen.map (fun i -> float i * 1e-12) ]

/// A capacity and a sequence of (leaf, priority) updates.
let private updatesOf priorities = gen {
    let! capacity = Gen.choose (1, 70)
    let! updates = Gen.listOf (Gen.zip (Gen.choose (0, capacity - 1)) priorities)
    return capacity, updates
}

/// The tree after the updates, and the plain-array reference.
let private build (capacity, updates) =
    let tree = SumTree capacity
    let reference = Array.zeroCreate<float> capacity
    for i, p in updates do
        tree.Update(i, p)
        reference[i] <- p
    tree, reference

/// The reference search: a linear scan for the leaf whose prefix interval [c_i, c_i + p_i) holds the
/// mass, skipping zero leaves; for mass = total, the last nonzero leaf.
let private linearFind (leaves: float[]) (mass: float) =
    let mutable cumulative = 0.0
    let mutable found = -1
    let mutable lastNonzero = -1
    for i in 0 .. leaves.Length - 1 do
        if leaves[i] > 0.0 then
            lastNonzero <- i
            if found < 0 && mass < cumulative + leaves[i] then found <- i
        cumulative <- cumulative + leaves[i]
    if found >= 0 then found else lastNonzero

[<Tests>]
let tests =
    testList "SumTree" [
        testCase "a new sum tree has total 0 and zero leaves" <| fun () ->
            let tree = SumTree 5
            Expect.equal tree.Capacity 5 "tree.Capacity"
            Expect.equal tree.Total 0.0 "tree.Total"
            for i in 0..4 do
                Expect.equal (tree[i]) 0.0 "tree[i]"

        testPropertyWithConfig fsCheck "the total equals the sum of the leaves after any sequence of updates" (
            Prop.forAll (Arb.fromGen (updatesOf integerPriorities)) (fun input ->
                let tree, reference = build input
                tree.Total = Array.sum reference
                && Array.forall id (Array.init reference.Length (fun i -> tree[i] = reference[i])))
        )

        testPropertyWithConfig fsCheck "the total stays within rounding of the sum when priorities span many magnitudes" (
            Prop.forAll (Arb.fromGen (updatesOf roundingPriorities)) (fun input ->
                let tree, reference = build input
                let sum = Array.sum reference
                // Both sums round: the tree's ≤ 7 levels and the reference's ≤ 70 sequential additions each
                // lose at most about 1.1e-16 of the total, far below 1e-14.
                abs (tree.Total - sum) <= 1e-14 * sum)
        )

        testPropertyWithConfig fsCheck "find agrees with a linear prefix-sum scan on random masses" (
            let gen = gen {
                let! capacity, updates = updatesOf integerPriorities
                let! fractions = Gen.listOfLength 20 (Gen.choose (0, 1_000_000))
                let! boundaries = Gen.listOfLength 10 (Gen.choose (0, 1_400))
                return capacity, updates, fractions, boundaries
            }
            Prop.forAll (Arb.fromGen gen) (fun (capacity, updates, fractions, boundaries) ->
                let tree, reference = build (capacity, updates)
                let total = tree.Total
                total = 0.0
                || (
                    // Masses anywhere in [0, total], and integer masses that sit exactly on prefix boundaries.
                    let masses =
                        [ for f in fractions -> total * float f / 1_000_000.0
                          for b in boundaries -> float (b % (int total + 1))
                          yield total ]
                    masses |> List.forall (fun m -> tree.Find m = linearFind reference m)))
        )

        testPropertyWithConfig fsCheck "find returns a leaf with a nonzero priority for every mass up to and including the total" (
            let gen = gen {
                let! capacity, updates = updatesOf roundingPriorities
                let! fractions = Gen.listOfLength 20 (Gen.choose (0, 1_000_000))
                return capacity, updates, fractions
            }
            Prop.forAll (Arb.fromGen gen) (fun (capacity, updates, fractions) ->
                let tree, _ = build (capacity, updates)
                let total = tree.Total
                total = 0.0
                || ([ total; yield! fractions |> List.map (fun f -> total * float f / 1_000_000.0) ]
                    |> List.forall (fun m ->
                        let leaf = tree.Find m
                        0 <= leaf && leaf < capacity && tree[leaf] > 0.0)))
        )

        testCase "searching for the total skips trailing zero leaves and the padding" <| fun () ->
            // Capacity 3 pads to 4 leaves; a naive descent with mass = total = 3 would go right into zeros.
            let tree = SumTree 3
            tree.Update(0, 1.0)
            tree.Update(1, 2.0)
            Expect.equal (tree.Find 3.0) 1 "tree.Find 3.0"
            // Rounding: 1e16 + 1 rounds to 1e16, so the total hides the right leaf; both leaves stay reachable.
            let tree = SumTree 2
            tree.Update(0, 1e16)
            tree.Update(1, 1.0)
            Expect.equal tree.Total 1e16 "tree.Total"
            Expect.equal (tree.Find 0.0) 0 "tree.Find 0.0"
            Expect.equal (tree.Find tree.Total) 1 "tree.Find tree.Total"
            // 0.1 + 0.2 + 0.3 in tree order rounds above the decimal 0.6.
            let tree = SumTree 8
            [ 0.1; 0.2; 0.3 ] |> List.iteri (fun i p -> tree.Update(i, p))
            Expect.equal (tree.Find tree.Total) 2 "tree.Find tree.Total"

        testCase "a capacity of one is a single leaf" <| fun () ->
            let tree = SumTree 1
            tree.Update(0, 2.5)
            Expect.equal tree.Total 2.5 "tree.Total"
            Expect.equal (tree.Find 0.0) 0 "tree.Find 0.0"
            Expect.equal (tree.Find 2.5) 0 "tree.Find 2.5"

        testCase "the example in the signature evaluates as documented" <| fun () ->
            let tree = SumTree 4
            tree.Update(0, 1.0)
            tree.Update(1, 3.0)
            Expect.equal tree.Total 4.0 "tree.Total"
            Expect.equal (tree.Find 0.5, tree.Find 1.0, tree.Find 4.0) (0, 1, 1) "(tree.Find 0.5, tree.Find 1.0, tree.Find 4.0)"

        testPropertyWithConfig fsCheck "the min tree holds the minimum of the leaves set so far" (
            Prop.forAll (Arb.fromGen (updatesOf roundingPriorities)) (fun (capacity, updates) ->
                let tree = MinTree capacity
                let reference = Array.create capacity Double.PositiveInfinity
                for i, p in updates do
                    tree.Update(i, p)
                    reference[i] <- p
                tree.Min = Array.min reference
                && Array.forall id (Array.init capacity (fun i -> tree[i] = reference[i])))
        )

        testCase "raising the smallest leaf of the min tree exposes the next smallest" <| fun () ->
            let tree = MinTree 5
            [ 3.0; 1.0; 2.0; 4.0; 5.0 ] |> List.iteri (fun i v -> tree.Update(i, v))
            Expect.equal tree.Min 1.0 "tree.Min"
            tree.Update(1, 9.0)
            Expect.equal tree.Min 2.0 "tree.Min"
            tree.Update(3, 0.5)
            Expect.equal tree.Min 0.5 "tree.Min"
            tree.Update(3, 4.0)
            Expect.equal tree.Min 2.0 "tree.Min"
            tree.Update(4, 5.0)
            Expect.equal tree.Min 2.0 "tree.Min"

        testCase "a new min tree has minimum infinity" <| fun () ->
            Expect.equal ((MinTree 3).Min) Double.PositiveInfinity "(MinTree 3).Min"

        testCase "the constructors reject capacities outside 1 to 2^29" <| fun () ->
            for capacity in [ 0; -1; 536_870_913; Int32.MaxValue ] do
                let e = Expect.wantThrows<ArgumentOutOfRangeException> (fun () -> SumTree capacity |> ignore) "ArgumentOutOfRangeException"
                Expect.equal e.ParamName "capacity" "e.ParamName"
                Expect.equal e.ActualValue (box capacity) "e.ActualValue"
                let e = Expect.wantThrows<ArgumentOutOfRangeException> (fun () -> MinTree capacity |> ignore) "ArgumentOutOfRangeException"
                Expect.equal e.ParamName "capacity" "e.ParamName"

        testCase "updates reject indices outside the leaves, naming the index" <| fun () ->
            let tree = SumTree 4
            for index in [ -1; 4 ] do
                let e = Expect.wantThrows<ArgumentOutOfRangeException> (fun () -> tree.Update(index, 1.0)) "ArgumentOutOfRangeException"
                Expect.equal e.ParamName "index" "e.ParamName"
                Expect.equal e.ActualValue (box index) "e.ActualValue"
                Expect.throwsT<ArgumentOutOfRangeException> (fun () -> tree[index] |> ignore) "ArgumentOutOfRangeException"
                Expect.throwsT<ArgumentOutOfRangeException> (fun () -> MinTree(4).Update(index, 1.0)) "ArgumentOutOfRangeException"

        testCase "updates reject negative and non-finite priorities, naming the value" <| fun () ->
            let tree = SumTree 4
            let minTree = MinTree 4
            let e = Expect.wantThrows<ArgumentOutOfRangeException> (fun () -> tree.Update(0, -0.5)) "ArgumentOutOfRangeException"
            Expect.equal e.ParamName "priority" "e.ParamName"
            Expect.equal e.ActualValue (box -0.5) "e.ActualValue"
            Expect.stringContains e.Message "-0.5" "e.Message"
            let e = Expect.wantThrows<ArgumentOutOfRangeException> (fun () -> minTree.Update(0, -0.5)) "ArgumentOutOfRangeException"
            Expect.equal e.ParamName "value" "e.ParamName"
            for bad in [ nan; infinity; -infinity ] do
                let e = Expect.wantThrows<ArgumentException> (fun () -> tree.Update(1, bad)) "ArgumentException"
                Expect.equal e.ParamName "priority" "e.ParamName"
                Expect.stringContains e.Message (string bad) "e.Message"
                Expect.throwsT<ArgumentException> (fun () -> minTree.Update(1, bad)) "ArgumentException"
            Expect.equal tree.Total 0.0 "tree.Total"
            Expect.equal minTree.Min Double.PositiveInfinity "minTree.Min"

        testCase "find rejects masses outside 0 to the total and an all-zero tree" <| fun () ->
            let tree = SumTree 4
            let e = Expect.wantThrows<InvalidOperationException> (fun () -> tree.Find 0.0 |> ignore) "InvalidOperationException"
            Expect.stringContains e.Message "all 0" "e.Message"
            tree.Update(2, 3.0)
            for mass in [ -0.001; 3.001; nan; infinity ] do
                let e = Expect.wantThrows<ArgumentOutOfRangeException> (fun () -> tree.Find mass |> ignore) "ArgumentOutOfRangeException"
                Expect.equal e.ParamName "mass" "e.ParamName"
                // Object.Equals, as NaN's ActualValue must equal NaN (F#'s = on floats says it does not).
                Expect.isTrue (e.ActualValue.Equals(box mass)) $"ActualValue {e.ActualValue} is the mass {mass}"
    ]
