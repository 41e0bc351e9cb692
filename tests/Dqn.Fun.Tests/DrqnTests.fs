/// DRQN (Hausknecht and Stone 2015): the LSTM against scalar references, sequence replay, the recurrent network
/// and update, the agent's integration and the partially observed CartPole.
module Dqn.Fun.Tests.DrqnTests

open System
open Expecto
open FsCheck
open FsCheck.FSharp
open Dqn.Fun
open TorchSharp
open Dqn.Fun.Tests.TorchTestSupport
open Dqn.Fun.Tests.TestConfig

// ---- LSTM: a scalar float64 reference ------------------------------------------------------------------

/// LSTM weights as flat row-major arrays: wih [4H; I], whh [4H; H], bih and bhh [4H] (gates i, f, g, o).
type private Weights =
    { I: int
      H: int
      Wih: float32[]
      Whh: float32[]
      Bih: float32[]
      Bhh: float32[] }

let private sigmoid (z: float) = 1.0 / (1.0 + exp -z)

/// One step for one sample in float64 loops: (h', c').
let private referenceStep (w: Weights) (x: float[]) (h: float[]) (c: float[]) =
    let pre k j =
        let row = k * w.H + j
        let mutable z = float w.Bih[row] + float w.Bhh[row]
        for i in 0 .. w.I - 1 do
            z <- z + float w.Wih[row * w.I + i] * x[i]
        for m in 0 .. w.H - 1 do
            z <- z + float w.Whh[row * w.H + m] * h[m]
        z
    let c' = Array.init w.H (fun j -> sigmoid (pre 1 j) * c[j] + sigmoid (pre 0 j) * tanh (pre 2 j))
    let h' = Array.init w.H (fun j -> sigmoid (pre 3 j) * tanh c'[j])
    h', c'

/// Unrolls the reference over xs[t] for one sample: (h at every step, final h, final c).
let private referenceSequence (w: Weights) (xs: float[][]) (h0: float[]) (c0: float[]) =
    let mutable h = h0
    let mutable c = c0
    let outputs =
        [| for x in xs do
               let h', c' = referenceStep w x h c
               h <- h'
               c <- c'
               h' |]
    outputs, h, c

let private value = Gen.choose (-1000, 1000) |> Gen.map (fun i -> float32 i / 1000.0f)

type private LstmCase =
    { W: Weights
      Batch: int
      Seq: int
      /// [batch; seq; input]
      X: float32[]
      /// [batch; hidden]
      H0: float32[]
      C0: float32[]
      /// [batch; seq; hidden] coefficients of the scalar loss sum(out * coef)
      Coef: float32[] }

let private lstmCase =
    gen {
        let! i = Gen.choose (1, 4)
        let! h = Gen.choose (1, 5)
        let! b = Gen.choose (1, 3)
        let! l = Gen.choose (1, 4)
        let! wih = Gen.arrayOfLength (4 * h * i) value
        let! whh = Gen.arrayOfLength (4 * h * h) value
        let! bih = Gen.arrayOfLength (4 * h) value
        let! bhh = Gen.arrayOfLength (4 * h) value
        let! x = Gen.arrayOfLength (b * l * i) (value |> Gen.map ((*) 2.0f))
        let! h0 = Gen.arrayOfLength (b * h) value
        let! c0 = Gen.arrayOfLength (b * h) value
        let! coef = Gen.arrayOfLength (b * l * h) value
        return
            { W = { I = i; H = h; Wih = wih; Whh = whh; Bih = bih; Bhh = bhh }
              Batch = b
              Seq = l
              X = x
              H0 = h0
              C0 = c0
              Coef = coef }
    }

let private cellOf (w: Weights) =
    let cell = torch.nn.LSTMCell(int64 w.I, int64 w.H)
    use _ = torch.no_grad ()
    use _ = torch.NewDisposeScope()
    cell.weight_ih.copy_ (f32 [ int64 (4 * w.H); int64 w.I ] (List.ofArray w.Wih)) |> ignore
    cell.weight_hh.copy_ (f32 [ int64 (4 * w.H); int64 w.H ] (List.ofArray w.Whh)) |> ignore
    cell.bias_ih.copy_ (f32 [ int64 (4 * w.H) ] (List.ofArray w.Bih)) |> ignore
    cell.bias_hh.copy_ (f32 [ int64 (4 * w.H) ] (List.ofArray w.Bhh)) |> ignore
    cell

let private slice (a: float32[]) (offset: int) (n: int) = Array.init n (fun k -> float a[offset + k])

/// The reference's outputs for a case: [batch][seq][hidden] h, and [batch] final h and c.
let private referenceOf (c: LstmCase) (w: Weights) =
    Array.init c.Batch (fun b ->
        let xs = Array.init c.Seq (fun t -> slice c.X ((b * c.Seq + t) * w.I) w.I)
        referenceSequence w xs (slice c.H0 (b * w.H) w.H) (slice c.C0 (b * w.H) w.H))

/// The scalar loss sum(out * coef) of the reference.
let private referenceLoss (c: LstmCase) (w: Weights) =
    referenceOf c w
    |> Array.mapi (fun b (outs, _, _) ->
        outs |> Array.mapi (fun t h -> h |> Array.mapi (fun j v -> v * float c.Coef[(b * c.Seq + t) * w.H + j]) |> Array.sum) |> Array.sum)
    |> Array.sum

/// Runs torch.nn.LSTMCell on a case step by step, as DrqnNetwork does: ([batch; seq; hidden] outputs, final h,
/// final c, the grads of weight_ih, weight_hh, bias_ih, bias_hh of the loss).
let private runModule (c: LstmCase) =
    let w = c.W
    use cell = cellOf w
    use _ = torch.NewDisposeScope()
    let b, l, i, h = int64 c.Batch, int64 c.Seq, int64 w.I, int64 w.H
    let x = f32 [ b; l; i ] (List.ofArray c.X)
    let h0 = f32 [ b; h ] (List.ofArray c.H0)
    let c0 = f32 [ b; h ] (List.ofArray c.C0)
    let struct (out, hN, cN) =
        let mutable hs: Tensor = h0
        let mutable cs: Tensor = c0
        let outs =
            [ for t in 0L .. l - 1L do
                  let struct (h', c') = cell.call (x.narrow(1L, t, 1L).reshape (b, i), Nullable<struct (Tensor * Tensor)>(struct (hs, cs)))
                  hs <- h'
                  cs <- c'
                  h' ]
        struct (torch.stack (outs, 1L), hs, cs)
    let loss = (out * f32 [ b; l; h ] (List.ofArray c.Coef)).sum ()
    loss.backward ()
    let grad (p: Tensor) = floats p.grad
    floats out, floats hN, floats cN, [ grad cell.weight_ih; grad cell.weight_hh; grad cell.bias_ih; grad cell.bias_hh ]

let private agreesWithReference =
    Prop.forAll (Arb.fromGen lstmCase) (fun c ->
        let out, hN, cN, _ = runModule c
        let reference = referenceOf c c.W
        assertAllClose 1e-5 (reference |> Array.collect (fun (outs, _, _) -> Array.concat outs)) out
        assertAllClose 1e-5 (reference |> Array.collect (fun (_, h, _) -> h)) hN
        assertAllClose 1e-5 (reference |> Array.collect (fun (_, _, c) -> c)) cN)

/// Central differences of the float64 reference loss in each parameter entry against TorchSharp's autograd gradients.
let private gradientsAgree =
    Prop.forAll (Arb.fromGen lstmCase) (fun c ->
        let _, _, _, grads = runModule c
        let w = c.W
        let numeric (get: Weights -> float32[]) (set: Weights -> float32[] -> Weights) =
            let p = get w
            Array.init p.Length (fun k ->
                // Shifted float32 weights; the actual (rounded) step divides the difference.
                let shifted (delta: float32) =
                    let values = Array.copy p
                    values[k] <- p[k] + delta
                    values
                let up, down = shifted 1e-3f, shifted -1e-3f
                (referenceLoss c (set w up) - referenceLoss c (set w down)) / (float up[k] - float down[k]))
        let expected =
            [ numeric (fun w -> w.Wih) (fun w a -> { w with Wih = a })
              numeric (fun w -> w.Whh) (fun w a -> { w with Whh = a })
              numeric (fun w -> w.Bih) (fun w a -> { w with Bih = a })
              numeric (fun w -> w.Bhh) (fun w a -> { w with Bhh = a }) ]
        for e, g in List.zip expected grads do
            assertAllClose 1e-3 e g)

// ---- sequence replay -----------------------------------------------------------------------------------

/// A random history: episode lengths, the capacity and the sampling sizes.
type private ReplayCase =
    { Episodes: int list
      /// Whether each episode ends terminated (else truncated, or unfinished for the last one).
      Terminal: bool list
      Capacity: int
      Batch: int
      BurnIn: int
      Length: int
      Seed: int }

let private replayCase =
    gen {
        let! n = Gen.choose (1, 8)
        let! episodes = Gen.listOfLength n (Gen.choose (1, 12))
        let! terminal = Gen.listOfLength n (Gen.elements [ true; false ])
        let! capacity = Gen.choose (1, 50)
        let! batch = Gen.choose (1, 8)
        let! burnIn = Gen.choose (0, 4)
        let! length = Gen.choose (1, 6)
        let! seed = Gen.choose (0, 1000)
        return
            { Episodes = episodes
              Terminal = terminal
              Capacity = capacity
              Batch = batch
              BurnIn = burnIn
              Length = length
              Seed = seed }
    }

/// Step k (absolute) of episode e: observation [k; e; 1], next observation [k + 1; e; 2], action k % 3, reward k.
let private fill (c: ReplayCase) =
    let buffer = SequenceReplayBuffer(c.Capacity, 3, c.Seed)
    let episodeOf = ResizeArray<int>()
    let terminatedAt = ResizeArray<bool>()
    for e, (len, terminal) in List.indexed (List.zip c.Episodes c.Terminal) do
        for t in 0 .. len - 1 do
            let k = float32 episodeOf.Count
            let terminated = terminal && t = len - 1
            buffer.Add([| k; float32 e; 1.0f |], episodeOf.Count % 3, k, [| k + 1.0f; float32 e; 2.0f |], terminated, (t = 0))
            episodeOf.Add e
            terminatedAt.Add terminated
    buffer, episodeOf.ToArray(), terminatedAt.ToArray()

/// Episodes of the masked CartPole under random actions, in a sequence buffer.
let private randomHistory (steps: int) (seed: int) =
    let buffer = SequenceReplayBuffer(steps, 2, seed)
    let env = MaskedCartPoleEnvironment()
    let random = Random seed
    let mutable o = env.Reset(Nullable seed)
    let mutable start = true
    for _ in 1..steps do
        let a = random.Next 2
        let r = env.Step a
        buffer.Add(o, a, float32 r.Reward, r.Observation, r.Terminated, start)
        start <- false
        o <- r.Observation
        if r.Terminated || r.Truncated then
            o <- env.Reset(Nullable())
            start <- true
    buffer

/// The loss the update must report, from step-by-step float64 bookkeeping over each row: both networks from the
/// zero state, zeroed at the row's reset, Q from DrqnNetwork.Step.
let private referenceLoss' (config: DqnConfig) (online: DrqnNetwork) (target: DrqnNetwork) (sb: SequenceBatch) =
    use _ = torch.no_grad ()
    use _ = torch.NewDisposeScope()
    let l = sb.Length
    let qsOf (net: DrqnNetwork) (i: int) =
        let mutable h: Tensor = null
        let mutable c: Tensor = null
        [| for j in 0..l do
               if sb.Resets[i * (l + 1) + j] = 1.0f then
                   h <- null
                   c <- null
               let o = sb.Observations[(i * (l + 1) + j) * 2 .. (i * (l + 1) + j) * 2 + 1]
               let struct (q, h', c') = net.Step(f32 [ 1L; 2L ] (List.ofArray o), h, c)
               h <- h'
               c <- c'
               floats q |]
    let mutable sum = 0.0
    let mutable count = 0
    for i in 0 .. sb.Size - 1 do
        let qo, qt = qsOf online i, qsOf target i
        for j in sb.BurnIn .. l - 1 do
            let at = i * l + j
            if sb.Mask[at] = 1.0f then
                let next =
                    if config.DoubleDqn then qt[j + 1][Array.findIndex ((=) (Array.max qo[j + 1])) qo[j + 1]]
                    else Array.max qt[j + 1]
                let y = float sb.Rewards[at] + config.Gamma * (1.0 - float sb.Terminated[at]) * next
                sum <- sum + (qo[j][int sb.Actions[at]] - y) ** 2.0
                count <- count + 1
    sum / float count

// ---- config, agent, checkpoint, environment ----------------------------------------------------------------

let private small = { DqnConfig.preset "drqn" with Hidden = [ 8 ]; LstmHidden = 6; BufferSize = 1_000; EvalInterval = 0 }

/// Greedy actions for a sequence of observations from a fresh state, computed on the whole sequence at once.
let private greedyOfSequence (net: torch.nn.Module<Tensor, Tensor>) (observations: float32[] list) =
    use _ = torch.no_grad ()
    use _ = torch.NewDisposeScope()
    let l = int64 observations.Length
    let q = net.call (f32 [ 1L; l; 2L ] (List.concat (observations |> List.map List.ofArray)))
    [ for t in 0L .. l - 1L -> q.narrow(1L, t, 1L).argmax().item<int64> () |> int ]

let private observations =
    let r = Random 4
    [ for _ in 1..12 -> [| float32 (r.NextDouble() * 4.0 - 2.0); float32 (r.NextDouble() - 0.5) |] ]

/// The network of the Unroll property, one for all its cases: made at the first, disposed when the property ends.
let private unrollNetwork = lazy (new DrqnNetwork(2, [ 5 ], 4, 3))

[<Tests>]
let tests =
    testList "Drqn" [
        testCase "LSTMCell has PyTorch's parameter names, shapes and initial bound 1/sqrt hidden" <| fun () ->
            use cell = torch.nn.LSTMCell(3L, 5L)
            let named = namedParameters cell |> List.map (fun (n, p) -> n, List.ofArray p.shape)
            Expect.equal
                named
                [ "weight_ih", [ 20L; 3L ]; "weight_hh", [ 20L; 5L ]; "bias_ih", [ 20L ]; "bias_hh", [ 20L ] ]
                "named"
            let bound = 1.0 / sqrt 5.0
            for p in parameters cell do
                Expect.isTrue p.requires_grad "p.requires_grad"
                for v in floats p do Expect.inRange v (-bound) bound "v"
            Expect.isTrue ((parameters cell |> List.collect (floats >> List.ofArray) |> List.distinct |> List.length) > 70) "(parameters cell |> List.collect (floats >> List.ofArray)..."

        testPropertyWithConfig fsCheck "LSTMCell stepped step by step equals a scalar float64 reference on random inputs, states and weights" agreesWithReference

        testPropertyWithConfig fsCheck "LSTMCell's autograd gradients of all four parameters equal central differences of the reference" gradientsAgree

        testPropertyWithConfig fsCheck "sampled sequences hold exactly the stored steps of one episode, padded and masked where they end" (
            Prop.forAll (Arb.fromGen replayCase) (fun c ->
                let buffer, episodeOf, terminatedAt = fill c
                let total = episodeOf.Length
                let oldest = total - min total c.Capacity
                let sb = buffer.Sample(c.Batch, c.BurnIn, c.Length)
                let l = c.BurnIn + c.Length
                Expect.equal sb.Length l "sb.Length"
                Expect.equal sb.Observations.Length (c.Batch * (l + 1) * 3) "sb.Observations.Length"
                for i in 0 .. c.Batch - 1 do
                    let s = int sb.Starts[i]
                    Expect.inRange s oldest (total - 1) "s"
                    let ep = episodeOf[s]
                    let obs (j: int) = sb.Observations[(i * (l + 1) + j) * 3 .. (i * (l + 1) + j) * 3 + 2]
                    let mutable lastValid = -1
                    for j in 0 .. l - 1 do
                        let k = s - c.BurnIn + j
                        let stored = k >= oldest && k < total
                        // A step belongs to the window iff it is stored and no episode starts between it and the start.
                        let expected = stored && episodeOf[k] = ep
                        let at = i * l + j
                        Expect.equal (sb.Mask[at]) (if expected then 1.0f else 0.0f) "sb.Mask[at]"
                        if expected then
                            lastValid <- j
                            Expect.equal (obs j) [| float32 k; float32 ep; 1.0f |] "obs j"
                            Expect.equal (sb.Actions[at]) (int64 (k % 3)) "sb.Actions[at]"
                            Expect.equal (sb.Rewards[at]) (float32 k) "sb.Rewards[at]"
                            Expect.equal (sb.Terminated[at]) (if terminatedAt[k] then 1.0f else 0.0f) "sb.Terminated[at]"
                        else
                            Expect.equal (sb.Actions[at]) 0L "sb.Actions[at]"
                            Expect.equal (sb.Rewards[at] + sb.Terminated[at]) 0.0f "sb.Rewards[at] + sb.Terminated[at]"
                            if lastValid < 0 || j > lastValid + 1 then Expect.equal (obs j) [| 0f; 0f; 0f |] "obs j"
                    // The training start is always there; the position after the last step holds its next observation.
                    Expect.equal (sb.Mask[i * l + c.BurnIn]) 1.0f "sb.Mask[i * l + c.BurnIn]"
                    Expect.equal (obs (lastValid + 1)) [| float32 (s - c.BurnIn + lastValid + 1); float32 ep; 2.0f |] "obs (lastValid + 1)"
                    // One reset, at the first unpadded position.
                    let resets = sb.Resets[i * (l + 1) .. i * (l + 1) + l]
                    let first = Array.findIndex (fun m -> m = 1.0f) sb.Mask[i * l .. i * l + l - 1]
                    Expect.equal (Array.sum resets) 1.0f "Array.sum resets"
                    Expect.equal (resets[first]) 1.0f "resets[first]")
        )

        testCase "sequence sampling is uniform over stored steps and reproducible from the seed" <| fun () ->
            let c = { Episodes = [ 5; 7; 3 ]; Terminal = [ true; false; true ]; Capacity = 100; Batch = 8; BurnIn = 2; Length = 3; Seed = 7 }
            let a, _, _ = fill c
            let b, _, _ = fill c
            Expect.equal ((b.Sample(8, 2, 3)).Starts) ((a.Sample(8, 2, 3)).Starts) "(b.Sample(8, 2, 3)).Starts"
            let counts = Array.zeroCreate<int> 15
            for _ in 1..2000 do
                for s in (a.Sample(8, 2, 3)).Starts do
                    counts[int s] <- counts[int s] + 1
            // 16 000 draws over 15 steps: each about 1067.
            for n in counts do Expect.inRange n 900 1250 "n"

        testCase "sequence replay rejects bad arguments and sampling when empty" <| fun () ->
            let buffer = SequenceReplayBuffer(10, 2, 0)
            Expect.throwsT<InvalidOperationException> (fun () -> buffer.Sample(1, 0, 1) |> ignore) "InvalidOperationException"
            buffer.Add([| 0f; 0f |], 0, 1.0f, [| 0f; 0f |], false, true)
            Expect.equal (Expect.wantThrows<ArgumentOutOfRangeException> (fun () -> buffer.Sample(0, 0, 1) |> ignore) "ArgumentOutOfRangeException").ParamName "batchSize" "ParamName"
            Expect.equal (Expect.wantThrows<ArgumentOutOfRangeException> (fun () -> buffer.Sample(1, -1, 1) |> ignore) "ArgumentOutOfRangeException").ParamName "burnIn" "ParamName"
            Expect.equal (Expect.wantThrows<ArgumentOutOfRangeException> (fun () -> buffer.Sample(1, 0, 0) |> ignore) "ArgumentOutOfRangeException").ParamName "length" "ParamName"
            Expect.throwsT<ArgumentException> (fun () -> buffer.Add([| 0f |], 0, 1.0f, [| 0f; 0f |], false, true)) "ArgumentException"
            Expect.equal buffer.Count 1 "buffer.Count"
            Expect.throwsT<ArgumentOutOfRangeException> (fun () -> SequenceReplayBuffer(0, 2, 0) |> ignore) "ArgumentOutOfRangeException"

        // ---- the recurrent network and its update ------------------------------------------------------------------
        testCase "a DRQN network has torso, lstm and head parameters with PyTorch names" <| fun () ->
            use net = new DrqnNetwork(2, [ 8 ], 6, 3)
            let named = namedParameters net |> List.map (fun (n, p) -> n, List.ofArray p.shape)
            Expect.equal
                named
                [ "torso.0.weight", [ 8L; 2L ]
                  "torso.0.bias", [ 8L ]
                  "lstm.weight_ih", [ 24L; 8L ]
                  "lstm.weight_hh", [ 24L; 6L ]
                  "lstm.bias_ih", [ 24L ]
                  "lstm.bias_hh", [ 24L ]
                  "head.weight", [ 3L; 6L ]
                  "head.bias", [ 3L ] ]
                "named"

        testPropertyWithConfig (disposingAfter unrollNetwork fsCheck) "Unroll equals stepping with the carried state, zeroed where resets say" (
            let gen =
                gen {
                    let! b = Gen.choose (1, 4)
                    let! l = Gen.choose (1, 6)
                    let! x = Gen.arrayOfLength (b * l * 2) value
                    let! resets = Gen.arrayOfLength (b * l) (Gen.frequency [ 4, Gen.constant 0.0f; 1, Gen.constant 1.0f ])
                    let! withState = Gen.elements [ true; false ]
                    return b, l, x, resets, withState
                }
            Prop.forAll (Arb.fromGen gen) (fun (b, l, x, resets, withState) ->
                let net = unrollNetwork.Value
                use _ = torch.NewDisposeScope()
                let b64, l64 = int64 b, int64 l
                let xs = f32 [ b64; l64; 2L ] (List.ofArray x)
                let r = f32 [ b64; l64 ] (List.ofArray resets)
                let h0, c0 = (if withState then torch.randn [| b64; 4L |], torch.randn [| b64; 4L |] else null, null)
                let struct (q, hN, cN) = net.Unroll(xs, h0, c0, r)
                let mutable h = if isNull h0 then torch.zeros [| b64; 4L |] else h0
                let mutable c = if isNull c0 then torch.zeros [| b64; 4L |] else c0
                let qs =
                    [ for t in 0L .. l64 - 1L do
                          let keep = 1.0 - r.narrow (1L, t, 1L)
                          let struct (qt, h', c') = net.Step(xs.narrow(1L, t, 1L).reshape (b64, 2L), h * keep, c * keep)
                          h <- h'
                          c <- c'
                          qt ]
                Expect.equal q.shape [| b64; l64; 3L |] "q.shape"
                assertAllClose 1e-5 (floats (torch.stack (qs, 1L))) (floats q)
                assertAllClose 1e-5 (floats h) (floats hN)
                assertAllClose 1e-5 (floats c) (floats cN))
        )

        testList "the update's loss is the masked mean squared TD error after burn-in of a step-by-step reference" [
            for doubleDqn in [ false; true ] ->
                testCase (if doubleDqn then "Double DQN" else "DQN") <| fun () ->
                    let config = { DqnConfig.defaults with Recurrent = true; Loss = TdLoss.Mse; DoubleDqn = doubleDqn; Gamma = 0.9 }
                    let buffer = randomHistory 300 3
                    use online = new DrqnNetwork(2, [ 8 ], 5, 2)
                    use target = new DrqnNetwork(2, [ 8 ], 5, 2)
                    use optimizer = torch.optim.Adam(online.parameters (), lr = 1e-3)
                    for _ in 1..3 do
                        let sb = buffer.Sample(16, 3, 4)
                        Expect.isTrue (Array.exists ((=) 0.0f) sb.Mask) "the batches should include padding"
                        let expected = referenceLoss' config online target sb
                        let m = DrqnLearner.update config online target optimizer torch.CPU sb
                        Expect.isTrue (closeTo 1e-4 expected m.Loss) $"update's loss {m.Loss} vs reference {expected}"
        ]

        testCase "repeated updates on one batch fit it, and change only the online network" <| fun () ->
            let config = { DqnConfig.defaults with Recurrent = true; Loss = TdLoss.Huber }
            let sb = (randomHistory 300 5).Sample(8, 2, 6)
            use online = new DrqnNetwork(2, [ 8 ], 8, 2)
            use target = new DrqnNetwork(2, [ 8 ], 8, 2)
            let targetBefore = parameters target |> List.map floats
            use optimizer = torch.optim.Adam(online.parameters (), lr = 1e-2)
            let losses = [ for _ in 1..100 -> (DrqnLearner.update config online target optimizer torch.CPU sb).Loss ]
            Expect.isTrue (List.last losses < 0.1 * List.head losses) $"loss {List.head losses} -> {List.last losses}"
            Expect.equal (parameters target |> List.map floats) targetBefore "parameters target |> List.map floats"

        testCase "the update rejects a batch whose arrays disagree with its sizes" <| fun () ->
            let config = { DqnConfig.defaults with Recurrent = true }
            let sb = (randomHistory 50 1).Sample(4, 1, 2)
            use online = new DrqnNetwork(2, [], 4, 2)
            use target = new DrqnNetwork(2, [], 4, 2)
            use optimizer = torch.optim.Adam(online.parameters ())
            let e = Expect.wantThrows<ArgumentException> (fun () -> DrqnLearner.update config online target optimizer torch.CPU { sb with Mask = [| 1.0f |] } |> ignore) "ArgumentException"
            Expect.stringContains e.Message "batch.Mask" "e.Message"

        testCase "the drqn preset switches Recurrent on and validates" <| fun () ->
            Expect.contains DqnConfig.presetNames "drqn" "DqnConfig.presetNames"
            let c = DqnConfig.preset "drqn"
            Expect.isTrue c.Recurrent "c.Recurrent"
            Expect.equal (DqnConfig.validate c) c "DqnConfig.validate c"
            Expect.isFalse DqnConfig.defaults.Recurrent "DqnConfig.defaults.Recurrent"

        testCase "validate names recurrent fields out of range and the variants DRQN does not combine with" <| fun () ->
            let bad (c: DqnConfig) = (Expect.wantThrowsAny<ArgumentException> (fun () -> DqnConfig.validate c |> ignore) "ArgumentException").ParamName
            Expect.equal (bad { small with LstmHidden = 0 }) "LstmHidden" "bad { small with LstmHidden = 0 }"
            Expect.equal (bad { small with SequenceLength = 0 }) "SequenceLength" "bad { small with SequenceLength = 0 }"
            Expect.equal (bad { small with BurnIn = -1 }) "BurnIn" "bad { small with BurnIn = -1 }"
            Expect.equal (bad { small with Dueling = true }) "Dueling" "bad { small with Dueling = true }"
            Expect.equal (bad { small with Noisy = true }) "Noisy" "bad { small with Noisy = true }"
            Expect.equal (bad { small with Head = ValueHead.Quantile }) "Head" "bad { small with Head = ValueHead.Quantile }"
            Expect.equal (bad { small with NStep = 3 }) "NStep" "bad { small with NStep = 3 }"
            Expect.equal (bad { small with Prioritized = true }) "Prioritized" "bad { small with Prioritized = true }"
            let e = Expect.wantThrows<ArgumentException> (fun () -> new Agent({ small with NStep = 2 }, 2, 2) |> ignore) "ArgumentException"
            Expect.stringContains e.Message "Recurrent (DRQN) does not support NStep = 2" "e.Message"

        testCase "a recurrent agent's Act carries the LSTM state between calls and ResetState restarts it" <| fun () ->
            use agent = new Agent(small, 2, 2)
            Expect.equal (agent.Network.GetType()) typeof<DrqnNetwork> "agent.Network"
            let expected = greedyOfSequence agent.Network observations
            let first = [ for o in observations -> agent.Act o ]
            agent.ResetState()
            let second = [ for o in observations -> agent.Act o ]
            Expect.equal first expected "first"
            Expect.equal second expected "second"

        testCase "a DRQN checkpoint saves and loads with its architecture and acts the same" <| fun () ->
            let dir, cleanup = tempFolder ()
            use _ = cleanup
            let path = IO.Path.Combine(dir, "drqn.safetensors")
            use agent = new Agent({ small with Seed = 3 }, 2, 2)
            agent.Learn(MaskedCartPoleEnvironment(), 300L) |> ignore
            agent.Save path
            use loaded = Agent.Load path
            Expect.isTrue loaded.Config.Recurrent "loaded.Config.Recurrent"
            Expect.equal loaded.Config.LstmHidden 6 "loaded.Config.LstmHidden"
            Expect.equal (namedParameters loaded.Network |> List.map fst) (namedParameters agent.Network |> List.map fst) "namedParameters loaded.Network |> List.map fst"
            for (_, p), (_, q) in List.zip (namedParameters agent.Network) (namedParameters loaded.Network) do
                Expect.equal (floats q) (floats p) "floats q"
            agent.ResetState()
            Expect.equal [ for o in observations -> loaded.Act o ] [ for o in observations -> agent.Act o ] "[ for o in observations -> loaded.Act o ]"

        testCase "a recurrent agent learns from sequences, evaluates, and leaves no tensor behind" <| fun () ->
            settle ()
            let start = liveTensors ()
            (use agent = new Agent({ small with LearningStarts = 100; BatchSize = 4 }, 2, 2)
             let constructed = liveTensors ()
             let summary = agent.Learn(MaskedCartPoleEnvironment(), 400L)
             Expect.equal summary.Updates (300L / int64 small.TrainFrequency) "summary.Updates"
             Expect.equal agent.ReplayCount 400 "agent.ReplayCount"
             let e = agent.Evaluate(MaskedCartPoleEnvironment(), 2)
             for n in e.Lengths do Expect.inRange n 8 500 "n"
             Expect.equal (liveTensors ()) constructed "liveTensors ()")
            settle ()
            Expect.equal (liveTensors ()) start "liveTensors ()"

        testCase "MaskedCartPole-v1 is CartPole-v1 observed through [x; theta], seeded alike" <| fun () ->
            let masked = Environments.make "MaskedCartPole-v1"
            Expect.equal (masked.GetType()) typeof<MaskedCartPoleEnvironment> "masked"
            Expect.equal masked.ObservationSize 2 "masked.ObservationSize"
            Expect.equal masked.ActionCount 2 "masked.ActionCount"
            let full = CartPoleEnvironment()
            let o = full.Reset(Nullable 9)
            Expect.equal (masked.Reset(Nullable 9)) [| o[0]; o[2] |] "masked.Reset(Nullable 9)"
            let random = Random 2
            let mutable fin = false
            while not fin do
                let a = random.Next 2
                let r, m = full.Step a, masked.Step a
                Expect.equal m.Observation [| r.Observation[0]; r.Observation[2] |] "m.Observation"
                Expect.equal (m.Reward, m.Terminated, m.Truncated) (r.Reward, r.Terminated, r.Truncated) "(m.Reward, m.Terminated, m.Truncated)"
                fin <- r.Terminated || r.Truncated
            Expect.throwsT<ArgumentException> (fun () -> MaskedCartPoleEnvironment.Mask [| 1f |] |> ignore) "ArgumentException"

        /// The seeded learning test of DRQN on the partially observed MaskedCartPole-v1 (velocities hidden): the drqn
        /// preset, seed 0, reaches a greedy evaluation (10 episodes, every 1000 agent steps) of at least 300 within 9000
        /// agent steps (it reached 494 at step 9000 when written; plain DQN stays near 45, a random policy scores about 22).
        testCase "DRQN learns to balance MaskedCartPole-v1, whose observations hide the velocities" <| fun () ->
            let steps = 9_000L
            let config = { DqnConfig.preset "drqn" with Seed = 0; EvalInterval = 1_000; EvalEpisodes = 10 }
            use agent = new Agent(config, 2, 2)
            let summary = agent.Learn(MaskedCartPoleEnvironment(), steps, evalEnv = MaskedCartPoleEnvironment())
            let evaluations = summary.Evaluations |> List.map (fun e -> e.MeanReturn)
            printfn
                $"""drqn, MaskedCartPole-v1, seed 0: evaluations every 1000 steps: {String.Join(", ", evaluations |> List.map (sprintf "%.0f"))}; {summary.Updates} updates, {summary.WallSeconds:F0} s"""
            // For information only: plain DQN (the CartPole defaults) on the same task and budget.
            use dqn = new Agent({ DqnConfig.defaults with Seed = 0; EvalInterval = 1_000; EvalEpisodes = 10 }, 2, 2)
            let plain = dqn.Learn(MaskedCartPoleEnvironment(), steps, evalEnv = MaskedCartPoleEnvironment())
            printfn $"""dqn, same task and budget: {String.Join(", ", plain.Evaluations |> List.map (fun e -> sprintf "%.0f" e.MeanReturn))}"""
            let best = List.max evaluations
            Expect.isTrue (best >= 300.0) $"best greedy evaluation {best:F1} < 300: %A{evaluations}"
    ]
