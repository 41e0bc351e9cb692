module Dqn.Fun.Tests.PrioritizedReplayBufferTests

open System
open Expecto
open FsCheck
open FsCheck.FSharp
open Dqn.Fun
open Dqn.Fun.Tests.TestConfig

// The i-th transition of a test sequence: observation [i; i], next [i+0.5; i+0.5], action i, reward i.
let private addNumbered (buffer: PrioritizedReplayBuffer) i =
    let v = float32 i
    buffer.Add([| v; v |], i, v, [| v + 0.5f; v + 0.5f |], (i % 3 = 0))

let private filled capacity count alpha seed =
    let buffer = PrioritizedReplayBuffer(capacity, 2, alpha, seed)
    for i in 0 .. count - 1 do
        addNumbered buffer i
    buffer

// ---------------------------------------------------------------------------------------------
// The chi-square distribution's survival function, for the goodness-of-fit tests: Q(k/2, x/2), the
// regularized upper incomplete gamma function (series below a+1, Lentz's continued fraction above;
// Numerical Recipes §6.2), with Lanczos' log-gamma (g = 5, n = 6; relative error < 2e-10).
// ---------------------------------------------------------------------------------------------

let private logGamma (x: float) =
    let c = [| 76.18009172947146; -86.50532032941677; 24.01409824083091; -1.231739572450155; 0.1208650973866179e-2; -0.5395239384953e-5 |]
    let tmp = x + 5.5 - (x + 0.5) * log (x + 5.5)
    let mutable ser = 1.000000000190015
    for j in 0..5 do
        ser <- ser + c[j] / (x + float (j + 1))
    -tmp + log (2.5066282746310005 * ser / x)

let private upperGammaQ (a: float) (x: float) =
    if x < a + 1.0 then
        let mutable term = 1.0 / a
        let mutable sum = term
        let mutable n = 1.0
        while abs term > abs sum * 1e-15 do
            term <- term * x / (a + n)
            sum <- sum + term
            n <- n + 1.0
        1.0 - sum * exp (-x + a * log x - logGamma a)
    else
        let tiny = 1e-300
        let mutable b = x + 1.0 - a
        let mutable c = 1.0 / tiny
        let mutable d = 1.0 / b
        let mutable h = d
        let mutable i = 1.0
        let mutable delta = 0.0
        while abs (delta - 1.0) > 1e-15 do
            let an = -i * (i - a)
            b <- b + 2.0
            d <- an * d + b
            d <- if abs d < tiny then 1.0 / tiny else 1.0 / d
            c <- b + an / c
            if abs c < tiny then c <- tiny
            delta <- d * c
            h <- h * delta
            i <- i + 1.0
        exp (-x + a * log x - logGamma a) * h

/// P(χ²_df ≥ x).
let private chiSquareSurvival (df: int) (x: float) = upperGammaQ (float df / 2.0) (x / 2.0)

/// Pearson's statistic Σ (O − E)² / E.
let private chiSquare (observed: int[]) (expected: float[]) =
    Array.fold2 (fun s (o: int) e -> s + (float o - e) ** 2.0 / e) 0.0 observed expected

/// 20 transitions with priorities p_i = (|δ_i| + ε)^1 for δ_i = i + 1, i.e. about 1, 2, …, 20.
let private twentyRanked seed =
    let buffer = filled 20 20 1.0 seed
    buffer.UpdatePriorities(Array.init 20 id, Array.init 20 (fun i -> float32 (i + 1)))
    let p = Array.init 20 (fun i -> float (i + 1) + 1e-6)
    buffer, p

/// A buffer with random TD errors applied, and a reference copy of the priorities it should hold.
let private randomBuffer = gen {
    let! capacity = Gen.choose (1, 40)
    let! adds = Gen.choose (1, 2 * capacity)
    let! alpha = Gen.choose (0, 100) |> Gen.map (fun i -> float i / 100.0)
    let! seed = Gen.choose (0, 10_000)
    let count = min capacity adds
    let! updates = Gen.listOf (Gen.zip (Gen.choose (0, count - 1)) (Gen.choose (-5000, 5000)))
    return capacity, adds, alpha, seed, updates
}

let private buildRandom (capacity, adds, alpha, seed, updates: (int * int) list) =
    let buffer = filled capacity adds alpha seed
    let reference = Array.create (min capacity adds) 1.0
    let mutable maxPriority = 1.0
    for slot, e in updates do
        let delta = float32 e / 100.0f
        buffer.UpdatePriorities([| slot |], [| delta |])
        reference[slot] <- (float (abs delta) + 1e-6) ** alpha
        maxPriority <- max maxPriority reference[slot]
    buffer, reference, maxPriority

[<Tests>]
let tests =
    testList "PrioritizedReplayBuffer" [
        testCase "the chi-square survival function matches table values" <| fun () ->
            // χ²₀.₉₉₉(19) = 43.820 and χ²₀.₉₅(19) = 30.144 (e.g. NIST/SEMATECH e-Handbook, table 1.3.6.7.4).
            Expect.inRange (chiSquareSurvival 19 43.820) 0.00099 0.00101 "chiSquareSurvival 19 43.820"
            Expect.inRange (chiSquareSurvival 19 30.144) 0.0499 0.0501 "chiSquareSurvival 19 30.144"
            // For even df the survival function has a closed form: e^(−x/2) Σ_{k<df/2} (x/2)^k / k!.
            for x in [ 5.0; 19.0; 31.4; 60.0 ] do
                let closed = exp (-x / 2.0) * Seq.sum (Seq.init 10 (fun k -> (x / 2.0) ** float k / exp (logGamma (float k + 1.0))))
                Expect.floatClose (Accuracy.places 9) (chiSquareSurvival 20 x) closed "chiSquareSurvival 20 x"

        testCase "independent draws hit each transition in proportion to its priority" <| fun () ->
            // Batches of one are unstratified, so 200 000 of them are a multinomial sample: Pearson's statistic
            // with 19 degrees of freedom must not be significant at p = 0.001 (critical value 43.820).
            let buffer, p = twentyRanked 2016
            let draws = 200_000
            let counts = Array.zeroCreate<int> 20
            for _ in 1..draws do
                let slot = (buffer.Sample(1, 0.5)).Batch.Indices[0]
                counts[slot] <- counts[slot] + 1
            let expected = p |> Array.map (fun pi -> float draws * pi / Array.sum p)
            let statistic = chiSquare counts expected
            let pValue = chiSquareSurvival 19 statistic
            let shown = String.Join(", ", counts)
            Expect.isTrue (pValue > 0.001) $"χ² = {statistic:F2} (p = {pValue:G3}); counts {shown}"
            Expect.isTrue (statistic < 43.820) "statistic < 43.820"

        testCase "stratified batches keep each transition's share proportional to its priority" <| fun () ->
            // Stratification only lowers the variance of the counts, so the multinomial test stays valid (and
            // conservative) for 10 000 batches of 20.
            let buffer, p = twentyRanked 7
            let counts = Array.zeroCreate<int> 20
            for _ in 1..10_000 do
                for slot in (buffer.Sample(20, 0.5)).Batch.Indices do
                    counts[slot] <- counts[slot] + 1
            let expected = p |> Array.map (fun pi -> 200_000.0 * pi / Array.sum p)
            let statistic = chiSquare counts expected
            Expect.isTrue (chiSquareSurvival 19 statistic > 0.001) $"χ² = {statistic:F2}"

        testPropertyWithConfig fsCheck "stored priorities are the absolute TD error plus epsilon to the power alpha" (
            Prop.forAll (Arb.fromGen randomBuffer) (fun input ->
                let buffer, reference, maxPriority = buildRandom input
                buffer.MaxPriority = maxPriority
                && reference |> Array.mapi (fun i p -> buffer.Priority i = p) |> Array.forall id)
        )

        testPropertyWithConfig fsCheck "each sample falls in its own segment of the priority mass" (
            let gen = Gen.zip randomBuffer (Gen.choose (1, 40))
            Prop.forAll (Arb.fromGen gen) (fun (input, batchRequest) ->
                let buffer, reference, _ = buildRandom input
                let batchSize = min batchRequest buffer.Count
                let b = (buffer.Sample(batchSize, 0.4)).Batch
                let total = Array.sum reference
                let segment = total / float batchSize
                let before = Array.scan (+) 0.0 reference
                let slack = 1e-9 * total
                // Row k's slot covers [before_i, before_i + p_i), which must meet [k·segment, (k+1)·segment].
                b.Indices
                |> Array.mapi (fun k i ->
                    before[i] <= float (k + 1) * segment + slack && before[i + 1] >= float k * segment - slack)
                |> Array.forall id
                // So the slots come out in ascending order.
                && b.Indices = Array.sort b.Indices)
        )

        testPropertyWithConfig fsCheck "importance weights match the formula with the maximum over the whole buffer" (
            let gen = Gen.zip randomBuffer (Gen.choose (0, 100) |> Gen.map (fun i -> float i / 100.0))
            Prop.forAll (Arb.fromGen gen) (fun (input, beta) ->
                let buffer, reference, _ = buildRandom input
                let n = float reference.Length
                let total = Array.sum reference
                // w_j = (N·P(j))^−β for every stored j; each row's weight is w_i / max_j w_j.
                let w = reference |> Array.map (fun p -> (n * p / total) ** -beta)
                let maxW = Array.max w
                let sample = buffer.Sample(buffer.Count, beta)
                sample.Weights.Length = buffer.Count
                && Array.forall2
                    (fun (i: int) (weight: float32) ->
                        let expected = w[i] / maxW
                        abs (float weight - expected) <= 1e-6 * expected && weight <= 1.0f)
                    sample.Batch.Indices
                    sample.Weights)
        )

        testPropertyWithConfig fsCheck "importance weights normalised by the batch match the formula with the maximum over the batch" (
            let gen = Gen.zip randomBuffer (Gen.choose (0, 100) |> Gen.map (fun i -> float i / 100.0))
            Prop.forAll (Arb.fromGen gen) (fun (input, beta) ->
                let buffer, reference, _ = buildRandom input
                let n = float reference.Length
                let total = Array.sum reference
                let batch = max 1 (buffer.Count / 3)
                let sample = buffer.Sample(batch, beta, ImportanceWeightNormalization.BatchMax)
                // w_j = (N·P(j))^−β for the sampled j; each row's weight is w_i / max over the batch.
                let w = sample.Batch.Indices |> Array.map (fun i -> (n * reference[i] / total) ** -beta)
                let maxW = Array.max w
                Array.forall2 (fun expected (weight: float32) -> abs (float weight - expected / maxW) <= 1e-6 * (expected / maxW)) w sample.Weights
                && Array.max sample.Weights = 1.0f)
        )

        testCase "ImportanceWeights.fill gives the documented example for both normalisations" <| fun () ->
            let priorities = [| 1.0; 4.0 |]
            let weights = Array.zeroCreate<float32> 2
            ImportanceWeights.fill ImportanceWeightNormalization.BufferMax 0.5 0.25 (ReadOnlySpan priorities) (Span weights)
            Expect.equal weights [| 0.5f; 0.25f |] "weights"
            ImportanceWeights.fill ImportanceWeightNormalization.BatchMax 0.5 0.25 (ReadOnlySpan priorities) (Span weights)
            Expect.equal weights [| 1.0f; 0.5f |] "weights"
            let e =
                Expect.wantThrows<ArgumentOutOfRangeException> (fun () ->
                    ImportanceWeights.fill (enum<ImportanceWeightNormalization> 5) 0.5 0.25 (ReadOnlySpan priorities) (Span weights))
                    "an unknown normalization"
            Expect.equal e.ParamName "normalization" "e.ParamName"

        testCase "beta 0 gives every row weight 1" <| fun () ->
            let buffer, _ = twentyRanked 3
            for w in (buffer.Sample(20, 0.0)).Weights do Expect.equal w 1.0f "w"

        testCase "new transitions get the largest priority recorded so far" <| fun () ->
            let buffer = PrioritizedReplayBuffer(10, 2, 0.5, 1e-3, 0)
            Expect.equal buffer.MaxPriority 1.0 "buffer.MaxPriority"
            for i in 0..2 do
                addNumbered buffer i
            for i in [ 0..2 ] do Expect.equal (buffer.Priority i) 1.0 "buffer.Priority i"
            buffer.UpdatePriorities([| 1; 2 |], [| -8.0f; 0.0f |])
            let high = (8.0 + 1e-3) ** 0.5
            Expect.equal buffer.MaxPriority high "buffer.MaxPriority"
            addNumbered buffer 3
            Expect.equal (buffer.Priority 3) high "buffer.Priority 3"
            // Lowering the transition that held the maximum does not lower the maximum.
            buffer.UpdatePriorities([| 1 |], [| 0.5f |])
            addNumbered buffer 4
            Expect.equal (buffer.Priority 4) high "buffer.Priority 4"
            Expect.equal (buffer.Priority 2) (1e-3 ** 0.5) "buffer.Priority 2"

        testCase "after wrap-around an add overwrites the oldest slot's transition and priority" <| fun () ->
            // Capacity 3: slot 0 gets δ = 10, slot 2 gets δ = 0; two more adds overwrite slots 0 and 1.
            let buffer = filled 3 3 1.0 11
            buffer.UpdatePriorities([| 0; 1; 2 |], [| 10.0f; 0.0f; 0.0f |])
            addNumbered buffer 3
            addNumbered buffer 4
            Expect.equal buffer.Count 3 "buffer.Count"
            let high = 10.0 + 1e-6
            Expect.equal (buffer.Priority 0) high "buffer.Priority 0"
            Expect.equal (buffer.Priority 1) high "buffer.Priority 1"
            Expect.equal (buffer.Priority 2) 1e-6 "buffer.Priority 2"
            for _ in 1..50 do
                let b = (buffer.Sample(3, 1.0)).Batch
                for row in 0..2 do
                    let expected = [| 3; 4; 2 |][b.Indices[row]]
                    Expect.equal (b.Actions[row]) (int64 expected) "b.Actions[row]"
                    Expect.equal (b.Observations[row * 2]) (float32 expected) "b.Observations[row * 2]"
                    Expect.equal (b.NextObservations[row * 2 + 1]) (float32 expected + 0.5f) "b.NextObservations[row * 2 + 1]"

        testCase "before the buffer is full only filled slots are sampled and each row holds its slot's transition" <| fun () ->
            let buffer = filled 16 6 0.6 42
            buffer.UpdatePriorities([| 0; 5 |], [| 3.0f; 0.1f |])
            for _ in 1..50 do
                let b = (buffer.Sample(6, 0.4)).Batch
                for row in 0 .. b.Size - 1 do
                    let i = b.Indices[row]
                    Expect.inRange i 0 5 "i"
                    Expect.equal (b.Observations[row * 2]) (float32 i) "b.Observations[row * 2]"
                    Expect.equal (b.Rewards[row]) (float32 i) "b.Rewards[row]"
                    Expect.equal (b.Terminated[row]) (if i % 3 = 0 then 1.0f else 0.0f) "b.Terminated[row]"

        testCase "alpha 0 samples uniformly whatever the TD errors" <| fun () ->
            let buffer = filled 4 4 0.0 5
            buffer.UpdatePriorities([| 0; 1; 2; 3 |], [| 100.0f; 0.0f; 1.0f; 7.0f |])
            for i in [ 0..3 ] do Expect.equal (buffer.Priority i) 1.0 "buffer.Priority i"
            for w in (buffer.Sample(4, 1.0)).Weights do Expect.equal w 1.0f "w"

        testPropertyWithConfig fsCheck "the same seed, insertions and updates give the same batches and weights" (
            let gen = Gen.zip randomBuffer (Gen.choose (1, 8))
            Prop.forAll (Arb.fromGen gen) (fun (input, batchRequest) ->
                let run () =
                    let buffer, _, _ = buildRandom input
                    let batchSize = min batchRequest buffer.Count
                    List.init 3 (fun _ -> buffer.Sample(batchSize, 0.7))
                run () = run ())
        )

        testCase "different seeds give different batches and consecutive samples advance the generator" <| fun () ->
            let a = filled 100 100 0.6 1
            let b = filled 100 100 0.6 2
            Expect.notEqual ((b.Sample(32, 0.4)).Batch.Indices) ((a.Sample(32, 0.4)).Batch.Indices) "(b.Sample(32, 0.4)).Batch.Indices"
            Expect.notEqual ((a.Sample(32, 0.4)).Batch.Indices) ((a.Sample(32, 0.4)).Batch.Indices) "(a.Sample(32, 0.4)).Batch.Indices"

        testCase "the constructor rejects bad capacity, alpha and epsilon, naming the value" <| fun () ->
            let e = Expect.wantThrows<ArgumentOutOfRangeException> (fun () -> PrioritizedReplayBuffer(0, 4, 0.6, 0) |> ignore) "ArgumentOutOfRangeException"
            Expect.equal e.ParamName "capacity" "e.ParamName"
            Expect.equal e.ActualValue (box 0) "e.ActualValue"
            let e = Expect.wantThrows<ArgumentOutOfRangeException> (fun () -> PrioritizedReplayBuffer(10, 0, 0.6, 0) |> ignore) "ArgumentOutOfRangeException"
            Expect.equal e.ParamName "observationSize" "e.ParamName"
            let e = Expect.wantThrows<ArgumentOutOfRangeException> (fun () -> PrioritizedReplayBuffer(1_000_000_000, 4, 0.6, 0) |> ignore) "ArgumentOutOfRangeException"
            Expect.equal e.ParamName "capacity" "e.ParamName"
            for alpha in [ -0.1; 1.5 ] do
                let e = Expect.wantThrows<ArgumentOutOfRangeException> (fun () -> PrioritizedReplayBuffer(10, 4, alpha, 0) |> ignore) "ArgumentOutOfRangeException"
                Expect.equal e.ParamName "alpha" "e.ParamName"
                Expect.stringContains e.Message (string alpha) "e.Message"
            let e = Expect.wantThrows<ArgumentException> (fun () -> PrioritizedReplayBuffer(10, 4, nan, 0) |> ignore) "ArgumentException"
            Expect.equal e.ParamName "alpha" "e.ParamName"
            Expect.stringContains e.Message "NaN" "e.Message"
            for epsilon in [ 0.0; -1e-6 ] do
                let e = Expect.wantThrows<ArgumentOutOfRangeException> (fun () -> PrioritizedReplayBuffer(10, 4, 0.6, epsilon, 0) |> ignore) "ArgumentOutOfRangeException"
                Expect.equal e.ParamName "epsilon" "e.ParamName"
                Expect.equal e.ActualValue (box epsilon) "e.ActualValue"
            let e = Expect.wantThrows<ArgumentException> (fun () -> PrioritizedReplayBuffer(10, 4, 0.6, infinity, 0) |> ignore) "ArgumentException"
            Expect.equal e.ParamName "epsilon" "e.ParamName"

        testCase "sampling rejects a bad batch size or beta, naming the value" <| fun () ->
            let buffer = filled 4 4 0.6 0
            let e = Expect.wantThrows<ArgumentOutOfRangeException> (fun () -> buffer.Sample(0, 0.4) |> ignore) "ArgumentOutOfRangeException"
            Expect.equal e.ParamName "batchSize" "e.ParamName"
            for beta in [ -0.01; 1.01; infinity ] do
                let e = Expect.wantThrows<ArgumentOutOfRangeException> (fun () -> buffer.Sample(2, beta) |> ignore) "ArgumentOutOfRangeException"
                Expect.equal e.ParamName "beta" "e.ParamName"
                Expect.stringContains e.Message (string beta) "e.Message"
            let e = Expect.wantThrows<ArgumentException> (fun () -> buffer.Sample(2, nan) |> ignore) "ArgumentException"
            Expect.equal e.ParamName "beta" "e.ParamName"
            Expect.stringContains e.Message "NaN" "e.Message"

        testCase "sampling more than is stored says how many are stored and needed" <| fun () ->
            let buffer = filled 10 3 0.6 0
            let e = Expect.wantThrows<InvalidOperationException> (fun () -> buffer.Sample(5, 0.4) |> ignore) "InvalidOperationException"
            Expect.stringContains e.Message "stores 3" "e.Message"
            Expect.stringContains e.Message "at least 5" "e.Message"
            Expect.throwsT<InvalidOperationException> (fun () -> PrioritizedReplayBuffer(10, 2, 0.6, 0).Sample(1, 0.4) |> ignore) "InvalidOperationException"

        testCase "updating a slot that is not live names its position and value and changes nothing" <| fun () ->
            let buffer = filled 10 4 1.0 0
            for bad in [ -1; 4; 10 ] do
                let e = Expect.wantThrows<ArgumentOutOfRangeException> (fun () -> buffer.UpdatePriorities([| 0; bad |], [| 5.0f; 1.0f |])) "ArgumentOutOfRangeException"
                Expect.equal e.ParamName "indices" "e.ParamName"
                Expect.equal e.ActualValue (box bad) "e.ActualValue"
                Expect.stringContains e.Message $"indices[1]" "e.Message"
            Expect.equal (buffer.Priority 0) 1.0 "buffer.Priority 0"
            Expect.equal buffer.MaxPriority 1.0 "buffer.MaxPriority"
            let e = Expect.wantThrows<ArgumentOutOfRangeException> (fun () -> buffer.Priority 4 |> ignore) "ArgumentOutOfRangeException"
            Expect.equal e.ParamName "slot" "e.ParamName"

        testCase "a NaN or infinite TD error names its position and value and changes nothing" <| fun () ->
            let buffer = filled 10 4 1.0 0
            for bad in [ nanf; infinityf; -infinityf ] do
                let e = Expect.wantThrows<ArgumentException> (fun () -> buffer.UpdatePriorities([| 0; 1; 2 |], [| 5.0f; 1.0f; bad |])) "ArgumentException"
                Expect.equal e.ParamName "tdErrors" "e.ParamName"
                Expect.stringContains e.Message "tdErrors[2]" "e.Message"
                Expect.stringContains e.Message (string bad) "e.Message"
            Expect.equal (buffer.Priority 0) 1.0 "buffer.Priority 0"
            let e = Expect.wantThrows<ArgumentException> (fun () -> buffer.UpdatePriorities([| 0; 1 |], [| 5.0f |])) "ArgumentException"
            Expect.equal e.ParamName "tdErrors" "e.ParamName"
            Expect.stringContains e.Message "got length 1" "e.Message"

        testCase "adding a bad transition is rejected before anything is stored" <| fun () ->
            let buffer = PrioritizedReplayBuffer(4, 3, 0.6, 0)
            let e = Expect.wantThrows<ArgumentException> (fun () -> buffer.Add([| 1.0f; 2.0f |], 0, 0.0f, [| 1.0f; 2.0f; 3.0f |], false)) "ArgumentException"
            Expect.equal e.ParamName "observation" "e.ParamName"
            let e = Expect.wantThrows<ArgumentException> (fun () -> buffer.Add([| 1.0f; 2.0f; 3.0f |], 0, nanf, [| 1.0f; 2.0f; 3.0f |], false)) "ArgumentException"
            Expect.equal e.ParamName "reward" "e.ParamName"
            let e = Expect.wantThrows<ArgumentOutOfRangeException> (fun () -> buffer.Add([| 1.0f; 2.0f; 3.0f |], -2, 0.0f, [| 1.0f; 2.0f; 3.0f |], false)) "ArgumentOutOfRangeException"
            Expect.equal e.ParamName "action" "e.ParamName"
            Expect.equal buffer.Count 0 "buffer.Count"
            buffer.Add { Observation = [| 1.0f; 2.0f; 3.0f |]; Action = 1; Reward = 0.5f; NextObservation = [| 0.0f; 0.0f; 0.0f |]; Terminated = false; Truncated = true }
            Expect.equal buffer.Count 1 "buffer.Count"
            Expect.equal ((buffer.Sample(1, 0.4)).Batch.Terminated[0]) 0.0f "(buffer.Sample(1, 0.4)).Batch.Terminated[0]"
    ]
