module Dqn.Fun.Tests.NoisyLinearTests

open System
open Expecto
open Dqn.Fun
open TorchSharp
open Dqn.Fun.Tests.TorchTestSupport

let private f (x: float) = float (sign x) * sqrt (abs x)

[<Tests>]
let tests =
    testList "NoisyLinear" [
        testCase "parameters are registered for the optimizer with their names and shapes" <| fun () ->
            use layer = new NoisyLinear(5, 3)
            let named = namedParameters layer |> List.map (fun (n, p) -> n, List.ofArray p.shape)
            Expect.equal
                named
                [ "weight_mu", [ 3L; 5L ]; "weight_sigma", [ 3L; 5L ]; "bias_mu", [ 3L ]; "bias_sigma", [ 3L ] ]
                "named"
            for p in parameters layer do Expect.isTrue p.requires_grad "p.requires_grad"
            for buffer in [ layer.weight_epsilon; layer.bias_epsilon; layer.input_epsilon; layer.output_epsilon ] do
                Expect.isFalse buffer.requires_grad "buffer.requires_grad"
                Expect.isFalse (Seq.exists (fun p -> Object.ReferenceEquals(p, buffer)) (parameters layer)) "parameters layer"

        testCase "initialisation: mu within 1/sqrt p, sigma = sigma0/sqrt p" <| fun () ->
            use layer = new NoisyLinear(16, 4)
            let bound = 1.0 / sqrt 16.0
            for v in Array.append (floats layer.weight_mu) (floats layer.bias_mu) do Expect.inRange v (-bound) bound "v"
            for v in Array.append (floats layer.weight_sigma) (floats layer.bias_sigma) do Expect.floatClose (Accuracy.places 7) v (0.5 / 4.0) "v"
            use custom = new NoisyLinear(16, 4, sigma0 = 0.1)
            for v in floats custom.weight_sigma do Expect.floatClose (Accuracy.places 7) v (0.1 / 4.0) "v"

        testCase "the noise is factorised: eps_w = f(eps_out) outer f(eps_in), eps_b = f(eps_out), from the same draw" <| fun () ->
            use layer = new NoisyLinear(6, 4)
            for _ in 1..3 do
                layer.reset_noise ()
                let epsIn = floats layer.input_epsilon
                let epsOut = floats layer.output_epsilon
                let expected = Array.init 24 (fun k -> f epsOut[k / 6] * f epsIn[k % 6])
                assertAllClose 1e-6 expected (floats layer.weight_epsilon)
                assertAllClose 1e-6 (Array.map f epsOut) (floats layer.bias_epsilon)

        testCase "reset_noise draws fresh noise from torch's generator, the same for the same seed" <| fun () ->
            torch.manual_seed 11L |> ignore
            use a = new NoisyLinear(3, 2)
            let first = floats a.weight_epsilon
            a.reset_noise ()
            Expect.notEqual (floats a.weight_epsilon) first "floats a.weight_epsilon"
            torch.manual_seed 11L |> ignore
            use b = new NoisyLinear(3, 2)
            Expect.equal (floats b.weight_epsilon) first "floats b.weight_epsilon"
            Expect.equal (floats b.weight_mu) (floats a.weight_mu) "floats b.weight_mu"

        testCase "with a generator of its own, the initial weights and the noise come from it, whatever torch's global seed" <| fun () ->
            let layerFrom (globalSeed: int64) =
                torch.manual_seed globalSeed |> ignore
                use generator = new torch.Generator(5UL)
                use layer = new NoisyLinear(3, 2, generator = generator)
                let first = [ floats layer.weight_mu; floats layer.bias_mu; floats layer.weight_epsilon ]
                layer.reset_noise ()
                first @ [ floats layer.weight_epsilon ]
            Expect.equal (layerFrom 2L) (layerFrom 1L) "layerFrom 2L"

        testCase "forward is (mu_w + sigma_w eps_w) x + mu_b + sigma_b eps_b" <| fun () ->
            use _ = torch.NewDisposeScope()
            use layer = new NoisyLinear(3, 2)
            let x = torch.randn [| 4L; 3L |]
            let xs, mw, sw, ew = floats x, floats layer.weight_mu, floats layer.weight_sigma, floats layer.weight_epsilon
            let mb, sb, eb = floats layer.bias_mu, floats layer.bias_sigma, floats layer.bias_epsilon
            let expected =
                Array.init 8 (fun k ->
                    let row, o = k / 2, k % 2
                    mb[o] + sb[o] * eb[o] + Seq.sum (seq { for i in 0..2 -> (mw[o * 3 + i] + sw[o * 3 + i] * ew[o * 3 + i]) * xs[row * 3 + i] }))
            assertAllClose 1e-5 expected (floats (layer.forward x))

        testCase "with sigma = 0 it equals a Linear with the mu parameters" <| fun () ->
            use _ = torch.NewDisposeScope()
            use noisy = new NoisyLinear(5, 3)
            use linear = torch.nn.Linear(5L, 3L)
            (use _ = torch.no_grad ()
             noisy.weight_sigma.fill_ 0.0 |> ignore
             noisy.bias_sigma.fill_ 0.0 |> ignore
             linear.weight.copy_ noisy.weight_mu |> ignore
             linear.bias.copy_ noisy.bias_mu |> ignore)
            let x = torch.randn [| 7L; 5L |]
            assertAllClose 1e-6 (floats (linear.forward x)) (floats (noisy.forward x))

        testCase "deterministic mode uses mu only, whatever sigma and eps" <| fun () ->
            use _ = torch.NewDisposeScope()
            use noisy = new NoisyLinear(5, 3)
            let x = torch.randn [| 7L; 5L |]
            let noisyOut = floats (noisy.forward x)
            noisy.deterministic <- true
            let expected = floats (torch.nn.functional.linear (x, noisy.weight_mu, noisy.bias_mu))
            Expect.equal (floats (noisy.forward x)) expected "floats (noisy.forward x)"
            Expect.notEqual expected noisyOut "expected"
            noisy.deterministic <- false
            Expect.equal (floats (noisy.forward x)) noisyOut "floats (noisy.forward x)"

        testCase "gradients reach mu and sigma; sigma's is eps times mu's" <| fun () ->
            use _ = torch.NewDisposeScope()
            use layer = new NoisyLinear(3, 2)
            (layer.forward (torch.randn [| 4L; 3L |])).sum().backward ()
            let g (t: Tensor) = floats t.grad
            let expectedSigma = Array.map2 (*) (g layer.weight_mu) (floats layer.weight_epsilon)
            assertAllClose 1e-5 expectedSigma (g layer.weight_sigma)
            assertAllClose 1e-5 (Array.map2 (*) (g layer.bias_mu) (floats layer.bias_epsilon)) (g layer.bias_sigma)

        testCase "Dispose frees the parameters and the noise buffers" <| fun () ->
            settle ()
            let before = liveTensors ()
            let layer = new NoisyLinear(4, 2)
            (using (torch.NewDisposeScope()) (fun _ ->
                layer.reset_noise ()
                layer.forward (torch.zeros [| 1L; 4L |]) |> ignore))
            Expect.equal (liveTensors ()) (before + 8L) "liveTensors ()"
            layer.Dispose()
            Expect.equal (liveTensors ()) before "liveTensors ()"

        testCase "sizes and sigma0 are checked" <| fun () ->
            Expect.equal (Expect.wantThrows<ArgumentOutOfRangeException> (fun () -> new NoisyLinear(0, 2) |> ignore) "ArgumentOutOfRangeException").ParamName "inFeatures" "ParamName"
            Expect.equal (Expect.wantThrows<ArgumentOutOfRangeException> (fun () -> new NoisyLinear(2, 0) |> ignore) "ArgumentOutOfRangeException").ParamName "outFeatures" "ParamName"
            Expect.equal (Expect.wantThrows<ArgumentOutOfRangeException> (fun () -> new NoisyLinear(2, 2, sigma0 = -1.0) |> ignore) "ArgumentOutOfRangeException").ParamName "sigma0" "ParamName"
    ]
