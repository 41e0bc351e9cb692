namespace Dqn.Fun

open System
open System.Globalization
open Dqn.Fun.Torch

/// Q-network checkpoints as .safetensors files. Tensor names are the torch.nn.Sequential state-dict names
/// ("0.weight", "0.bias", ...), so Python reads them with `safetensors.torch.load_file` and
/// `nn.Sequential(...).load_state_dict(...)`; the architecture is kept in the header's metadata.
[<RequireQualifiedAccess>]
module Checkpoint =

    /// Metadata value of "format" in files written here.
    [<Literal>]
    let Format = "dqnfun.qnetwork.mlp.v1"

    let private inv (i: int) = i.ToString(CultureInfo.InvariantCulture)

    /// Writes the network's parameters and spec to `path` atomically (temporary file, then rename), with
    /// `extra` metadata (string pairs) beside the architecture keys.
    [<CompiledName("Save")>]
    let save (path: string) (spec: QNetworkSpec) (network: nn.Module) (extra: Map<string, string>) =
        let metadata =
            extra
            |> Map.add "format" Format
            |> Map.add "observation_size" (inv spec.ObservationSize)
            |> Map.add "hidden" (String.Join(",", spec.Hidden |> List.map inv))
            |> Map.add "action_count" (inv spec.ActionCount)
        Safetensors.save path (network.named_parameters ()) metadata

    /// Reads a checkpoint written by `save`: rebuilds the MLP on `device` and loads its parameters.
    /// Returns the spec, the network (caller owns it) and the file's metadata.
    /// Raises InvalidDataException when the file is not a safetensors file, is not a Dqn.Fun Q-network
    /// checkpoint, or its tensors do not match the recorded architecture; FileNotFoundException (or
    /// DirectoryNotFoundException) when absent.
    [<CompiledName("Load")>]
    let load (path: string) (device: Device) : QNetworkSpec * nn.Sequential * Map<string, string> =
        let file = Safetensors.load path Device.CPU
        try
            let md = file.Metadata
            let bad (msg: string) : 'a = raise (IO.InvalidDataException($"{path}: {msg}"))
            match md.TryFind "format" with
            | Some Format -> ()
            | other ->
                let found = Option.defaultValue "<none>" other
                bad $"not a Dqn.Fun Q-network checkpoint (format '{found}', expected '{Format}')"
            let int (key: string) =
                match md.TryFind key |> Option.map (fun s -> Int32.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture)) with
                | Some(true, v) -> v
                | _ -> bad $"metadata '{key}' is missing or not an integer"
            let hidden =
                match md.TryFind "hidden" with
                | Some "" -> []
                | Some s ->
                    s.Split ','
                    |> Array.map (fun x ->
                        match Int32.TryParse(x, NumberStyles.Integer, CultureInfo.InvariantCulture) with
                        | true, v -> v
                        | _ -> bad $"metadata 'hidden' = '{s}' is not a comma-separated list of integers")
                    |> List.ofArray
                | None -> bad "metadata 'hidden' is missing"
            let spec = { ObservationSize = int "observation_size"; Hidden = hidden; ActionCount = int "action_count" }
            let network = QNetwork.mlp spec device
            try
                use _ = torch.no_grad ()
                use scope = new DisposeScope()
                let onDevice = file.Tensors |> List.map (fun (n, t) -> n, t.``to`` device)
                network.load_parameters onDevice
            with :? ArgumentException as e ->
                network.Dispose()
                bad $"tensors do not match the recorded architecture: {e.Message}"
            spec, network, md
        finally
            for _, t in file.Tensors do
                t.Dispose()
