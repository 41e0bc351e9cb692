namespace Dqn.Fun

open System
open System.IO
open TorchSharp

/// The part of a training checkpoint's state that every agent has: its format version, (Agent, AtariAgent): the config it was written
/// with, the target network, the optimizer's state (TorchSharp's own state-dict format, Adam or RMSProp alike), the
/// agent's torch.Generator and its exploration generator.
module internal AgentState =

    /// The "format" of the state files written here; a version that reads them differently gets a new one.
    [<Literal>]
    let Format = "dqnfun.training-state.v1"

    /// Writes `fingerprint` (field -> text, e.g. DqnConfig.fingerprint) and the networks' and generators' state.
    let save (w: StateWriter) (fingerprint: Map<string, string>) (target: torch.nn.Module) (optimizer: torch.optim.Optimizer) (generator: torch.Generator) (exploration: SeededRandom) =
        w.Text("format", Format)
        for KeyValue(field, text) in fingerprint do
            w.Text("config." + field, text)
        for name, p in Checkpoint.namedParameters target do
            w.Tensor("target." + name, p)
        (use bytes = new MemoryStream()
         (use bw = new BinaryWriter(bytes, Text.Encoding.UTF8, true)
          (optimizer :?> Modules.OptimizerHelper).save_state_dict bw)
         w.Bytes("optimizer", bytes.ToArray()))
        (use g = generator.get_state ()
         w.Bytes("generator", g.data<byte>().ToArray()))
        RandomState.save w "exploration" exploration

    /// Checks that the state was written with `fingerprint` (ArgumentException naming the first field that differs and
    /// both values), reads the target network, the optimizer and the generator back in place, and returns the
    /// exploration generator (seeded with `seed`).
    let load (r: StateReader) (fingerprint: Map<string, string>) (target: torch.nn.Module) (optimizer: torch.optim.Optimizer) (generator: torch.Generator) (seed: int) : SeededRandom =
        let format = if r.Has "format" then r.Text "format" else "<none>"
        if format <> Format then
            raise (
                InvalidDataException(
                    $"{r.Path}: a training state of format '{format}', written by another version of Dqn.Fun; this version reads '{Format}'"
                )
            )
        for KeyValue(field, text) in fingerprint do
            let saved = if r.Has("config." + field) then r.Text("config." + field) else "<absent>"
            if saved <> text then
                raise (
                    ArgumentException(
                        $"the checkpoint {r.Path} was written with {field} = {saved}; the config given has {field} = {text} (resume with the run's config)",
                        "config"
                    )
                )
        (use _ = torch.no_grad ()
         for name, p in Checkpoint.namedParameters target do
             p.copy_ (r.Tensor("target." + name)) |> ignore)
        (use bytes = new MemoryStream(r.Bytes "optimizer")
         use br = new BinaryReader(bytes)
         (optimizer :?> Modules.OptimizerHelper).load_state_dict br)
        (use g = torch.tensor (r.Bytes "generator")
         generator.set_state g)
        RandomState.load r "exploration" seed
