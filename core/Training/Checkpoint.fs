namespace Dqn.Fun

open System
open System.Globalization
open TorchSharp

/// Q-network checkpoints as .safetensors files. Tensor names are the torch.nn.Sequential state-dict names
/// ("0.weight", "0.bias", ...), so Python reads them with `safetensors.torch.load_file` and
/// `nn.Sequential(...).load_state_dict(...)`; the architecture is kept in the header's metadata.
[<RequireQualifiedAccess>]
module Checkpoint =

    /// Metadata value of "format" in files written here.
    [<Literal>]
    let Format = "dqnfun.qnetwork.mlp.v1"

    /// Metadata value of "format" in checkpoints of networks over the Nature CNN torso (Torso.NatureCnn).
    [<Literal>]
    let FormatNatureCnn = "dqnfun.qnetwork.naturecnn.v1"

    /// Metadata value of "format" in checkpoints of networks over a torso of your own (Torso.Custom) or of a
    /// Q-network of your own: only that module can read them back (loadInto).
    [<Literal>]
    let FormatCustom = "dqnfun.qnetwork.custom.v1"

    let private inv (i: int) = i.ToString(CultureInfo.InvariantCulture)

    /// A module's parameters with their state-dict names, in registration order.
    let internal namedParameters (network: torch.nn.Module) : (string * Tensor) list =
        [ for struct (n, p) in network.named_parameters () -> n, (p :> Tensor) ]

    /// <summary>Copies every parameter of `source` into the parameter of `network` with the same name, in place and
    /// without recording gradients (values move to each parameter's device).</summary>
    /// <exception cref="T:System.ArgumentException">The name lists differ (a missing, extra or renamed parameter) or a
    /// shape differs; the message names the first such parameter.</exception>
    [<CompiledName("LoadParameters")>]
    let loadParameters (network: torch.nn.Module) (source: (string * Tensor) list) =
        let mine = namedParameters network
        if List.length mine <> List.length source then
            invalidArg "source" $"expected {List.length mine} parameters, got {List.length source}"
        use _ = torch.no_grad ()
        for (n, p), (n', q) in List.zip mine source do
            if n <> n' || p.shape <> q.shape then
                invalidArg "source" $"parameter '{n}' {Tensors.shapeText p.shape} does not match '{n'}' {Tensors.shapeText q.shape}"
            p.copy_ q |> ignore

    let private invf (x: float) = x.ToString("R", CultureInfo.InvariantCulture)

    let private architectureMetadata (config: DqnConfig) (metadata: Map<string, string>) =
        metadata
        |> Map.add "dueling" (string config.Dueling)
        |> Map.add "noisy" (string config.Noisy)
        |> Map.add "noisy_sigma0" (invf config.NoisySigma0)
        |> Map.add "head" (string config.Head)
        |> Map.add "atoms" (inv config.Atoms)
        |> Map.add "v_min" (invf config.VMin)
        |> Map.add "v_max" (invf config.VMax)
        |> Map.add "iqn_embedding_dim" (inv config.IqnEmbeddingDim)
        |> Map.add "iqn_policy_tau_samples" (inv config.IqnPolicyTauSamples)
        |> Map.add "recurrent" (string config.Recurrent)
        |> Map.add "lstm_hidden" (inv config.LstmHidden)

    /// Writes the network's parameters and spec to `path` atomically (temporary file, then rename), with the
    /// architecture switches of `config` (dueling, noisy, head, atoms, support, IQN's embedding and K, recurrent and LSTM units) and `extra` metadata (string
    /// pairs) beside the architecture keys.
    [<CompiledName("Save")>]
    let save (path: string) (spec: QNetworkSpec) (config: DqnConfig) (network: torch.nn.Module) (extra: Map<string, string>) =
        let metadata =
            extra
            |> Map.add "format" Format
            |> Map.add "observation_size" (inv spec.ObservationSize)
            |> Map.add "hidden" (String.Join(",", spec.Hidden |> List.map inv))
            |> Map.add "action_count" (inv spec.ActionCount)
            |> architectureMetadata config
        Safetensors.save path (namedParameters network) metadata

    /// Writes a network built by QNetworks.createFor over `torso` as `save` does: an MLP torso gives the
    /// format of `save`; a Nature CNN torso gives FormatNatureCnn with "stack_frames" (the frames per stack) and
    /// "action_count", beside `extra` (which may hold an Atari run's "frames" count).
    [<CompiledName("SaveFor")>]
    let saveFor (path: string) (torso: Torso) (actionCount: int) (config: DqnConfig) (network: torch.nn.Module) (extra: Map<string, string>) =
        match torso with
        | Torso.Mlp(observationSize, hidden) ->
            save path { ObservationSize = observationSize; Hidden = hidden; ActionCount = actionCount } config network extra
        | Torso.NatureCnn frames ->
            let metadata =
                extra
                |> Map.add "format" FormatNatureCnn
                |> Map.add "stack_frames" (inv frames)
                |> Map.add "action_count" (inv actionCount)
                |> architectureMetadata config
            Safetensors.save path (namedParameters network) metadata
        | Torso.Custom(_, features) ->
            let metadata =
                extra
                |> Map.add "format" FormatCustom
                |> Map.add "features" (inv features)
                |> Map.add "action_count" (inv actionCount)
                |> architectureMetadata config
            Safetensors.save path (namedParameters network) metadata

    /// Writes a Q-network of your own (QNetworkSource.Network) with format FormatCustom, "action_count" and the
    /// architecture keys of `config`: only that network can read it back (loadInto).
    [<CompiledName("SaveCustom")>]
    let saveCustom (path: string) (actionCount: int) (config: DqnConfig) (network: torch.nn.Module) (extra: Map<string, string>) =
        let metadata =
            extra
            |> Map.add "format" FormatCustom
            |> Map.add "action_count" (inv actionCount)
            |> architectureMetadata config
        Safetensors.save path (namedParameters network) metadata

    /// `config` with the architecture switches recorded in a checkpoint's metadata (absent keys: unchanged).
    [<CompiledName("WithArchitecture")>]
    let withArchitecture (metadata: Map<string, string>) (config: DqnConfig) =
        let get (key: string) (parse: string -> 'a) (fallback: 'a) =
            match metadata.TryFind key with
            | Some v -> parse v
            | None -> fallback
        let float (s: string) = Double.Parse(s, CultureInfo.InvariantCulture)
        { config with
            Dueling = get "dueling" Boolean.Parse config.Dueling
            Noisy = get "noisy" Boolean.Parse config.Noisy
            NoisySigma0 = get "noisy_sigma0" float config.NoisySigma0
            Head = get "head" (fun s -> Enum.Parse<ValueHead> s) config.Head
            Atoms = get "atoms" (fun s -> Int32.Parse(s, CultureInfo.InvariantCulture)) config.Atoms
            VMin = get "v_min" float config.VMin
            VMax = get "v_max" float config.VMax
            IqnEmbeddingDim = get "iqn_embedding_dim" (fun s -> Int32.Parse(s, CultureInfo.InvariantCulture)) config.IqnEmbeddingDim
            IqnPolicyTauSamples = get "iqn_policy_tau_samples" (fun s -> Int32.Parse(s, CultureInfo.InvariantCulture)) config.IqnPolicyTauSamples
            Recurrent = get "recurrent" Boolean.Parse config.Recurrent
            LstmHidden = get "lstm_hidden" (fun s -> Int32.Parse(s, CultureInfo.InvariantCulture)) config.LstmHidden }

    /// Reads a checkpoint written by `save` or `saveFor`: rebuilds the network (QNetworks.createFor with the
    /// recorded torso and architecture) on `device` and loads its parameters. Returns the torso, the action
    /// count, the network (caller owns it) and the file's metadata.
    /// Raises InvalidDataException when the file is not a safetensors file, is not a Dqn.Fun Q-network
    /// checkpoint, or its tensors do not match the recorded architecture; FileNotFoundException (or
    /// DirectoryNotFoundException) when absent.
    [<CompiledName("LoadAny")>]
    let loadAny (path: string) (device: Device) : Torso * int * torch.nn.Module<Tensor, Tensor> * Map<string, string> =
        let file = Safetensors.load path torch.CPU
        try
            let md = file.Metadata
            let bad (msg: string) : 'a = raise (IO.InvalidDataException($"{path}: {msg}"))
            let int (key: string) =
                match md.TryFind key |> Option.map (fun s -> Int32.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture)) with
                | Some(true, v) -> v
                | _ -> bad $"metadata '{key}' is missing or not an integer"
            let torso =
                match md.TryFind "format" with
                | Some Format ->
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
                    Torso.Mlp(int "observation_size", hidden)
                // The stack depth; files before "stack_frames" kept it in "frames" (which extra metadata such as an
                // Atari run's frame count overwrote, so read it only when it is a number).
                | Some FormatNatureCnn -> Torso.NatureCnn(if md.ContainsKey "stack_frames" then int "stack_frames" else int "frames")
                | Some FormatCustom ->
                    bad "a checkpoint of a network over a module of your own: read it into that network with Checkpoint.loadInto (or Agent.Load with the same torso or network)"
                | other ->
                    let found = Option.defaultValue "<none>" other
                    bad $"not a Dqn.Fun Q-network checkpoint (format '{found}', expected '{Format}' or '{FormatNatureCnn}')"
            let actionCount = int "action_count"
            let architecture =
                try
                    withArchitecture md DqnConfig.defaults
                with :? FormatException | :? ArgumentException as e ->
                    bad $"the architecture metadata is malformed: {e.Message}"
            let network =
                try
                    QNetworks.createFor architecture torso actionCount device
                with :? ArgumentException as e ->
                    bad $"the recorded architecture is invalid: {e.Message}"
            try
                loadParameters network file.Tensors
            with :? ArgumentException as e ->
                network.Dispose()
                bad $"tensors do not match the recorded architecture: {e.Message}"
            torso, actionCount, network, md
        finally
            for _, t in file.Tensors do
                t.Dispose()

    /// Reads an MLP checkpoint written by `save` (see loadAny): returns the spec, the network (caller owns it)
    /// and the file's metadata. Raises InvalidDataException for a Nature CNN checkpoint (use loadAny).
    [<CompiledName("Load")>]
    let load (path: string) (device: Device) : QNetworkSpec * torch.nn.Module<Tensor, Tensor> * Map<string, string> =
        match loadAny path device with
        | Torso.Mlp(observationSize, hidden), actionCount, network, md ->
            { ObservationSize = observationSize; Hidden = hidden; ActionCount = actionCount }, network, md
        | _, _, network, _ ->
            network.Dispose()
            raise (IO.InvalidDataException($"{path}: a Nature CNN checkpoint, not an MLP one (read it with Checkpoint.loadAny)"))

    /// <summary>Reads a checkpoint's parameters into an existing network (any module whose parameter names and shapes
    /// are the file's: a network over a torso of your own, or one built like the file's) and returns the file's
    /// metadata.</summary>
    /// <exception cref="T:System.IO.InvalidDataException">Not a safetensors file, or its tensors do not match the
    /// network's parameters (the message names the first that differs).</exception>
    [<CompiledName("LoadInto")>]
    let loadInto (path: string) (network: torch.nn.Module) : Map<string, string> =
        let file = Safetensors.load path torch.CPU
        try
            try
                loadParameters network file.Tensors
            with :? ArgumentException as e ->
                raise (IO.InvalidDataException($"{path}: tensors do not match the network: {e.Message}"))
            file.Metadata
        finally
            for _, t in file.Tensors do
                t.Dispose()
