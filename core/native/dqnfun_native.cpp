// Placeholder: the shim is written in the next commit.
#include <torch/torch.h>
extern "C" __attribute__((visibility("default"))) int dqn_abi_version() { return 1; }
