namespace Dqn.Fun.Torch

open System

/// Raised for every error libtorch reports through the shim (shape or dtype mismatch, CUDA errors, ...);
/// the message is torch's own, without its C++ backtrace.
type TorchException(message: string) =
    inherit Exception(message)
