// Dqn.Fun native shim: a flat C ABI over libtorch.
//
// Conventions (after TorchSharp's THS layer, without its leaked error strings):
//  * Handles are opaque owned pointers: `dqn_tensor` (an at::Tensor on the heap) and `dqn_optimizer`.
//    Each has exactly one dispose function; .NET owns every handle it receives and frees it once.
//  * No C++ exception crosses this boundary. Every function catches everything; a function that
//    returns a handle returns NULL on error, a function that returns int32_t returns non-zero.
//    The message is kept in a thread-local buffer read with dqn_last_error() (owned by the shim,
//    valid until the next failing call on the same thread; nothing to free).
//  * dtype codes are c10::ScalarType values (uint8 0, int64 4, float32 6, float64 7, bool 11);
//    device type codes: 0 cpu, 1 cuda.
//  * Only API present in libtorch 1.13 and in every later 2.x release is used.
#pragma once
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DQN_API __attribute__((visibility("default")))

typedef void* dqn_tensor;
typedef void* dqn_optimizer;

DQN_API int32_t dqn_abi_version(void);
DQN_API const char* dqn_last_error(void);
DQN_API const char* dqn_torch_version(void);

// Global settings
DQN_API int32_t dqn_set_num_threads(int32_t n);
DQN_API int32_t dqn_get_num_threads(void);
DQN_API int32_t dqn_manual_seed(uint64_t seed);
DQN_API int32_t dqn_cuda_device_count(void);
DQN_API int32_t dqn_grad_enabled(void);
DQN_API int32_t dqn_set_grad_enabled(int32_t enabled);   // returns the previous mode (0/1)

// Lifecycle and metadata
DQN_API void dqn_tensor_dispose(dqn_tensor t);
DQN_API dqn_tensor dqn_tensor_from_data(const void* data, const int64_t* shape, int32_t ndim,
                                        int32_t dtype, int32_t device_type, int32_t device_index);
DQN_API int32_t dqn_tensor_copy_to(dqn_tensor t, void* dst, int64_t nbytes, int32_t dtype);
DQN_API int32_t dqn_tensor_ndim(dqn_tensor t);
DQN_API int32_t dqn_tensor_shape(dqn_tensor t, int64_t* out);
DQN_API int32_t dqn_tensor_dtype(dqn_tensor t);
DQN_API int32_t dqn_tensor_device(dqn_tensor t, int32_t* device_type, int32_t* device_index);
DQN_API int32_t dqn_tensor_requires_grad(dqn_tensor t);
DQN_API int32_t dqn_tensor_set_requires_grad(dqn_tensor t, int32_t requires);
DQN_API int32_t dqn_tensor_item_double(dqn_tensor t, double* out);
DQN_API int32_t dqn_tensor_item_int64(dqn_tensor t, int64_t* out);

// Creation
DQN_API dqn_tensor dqn_full(const int64_t* shape, int32_t ndim, double value, int32_t dtype,
                            int32_t device_type, int32_t device_index);
DQN_API dqn_tensor dqn_arange(int64_t end, int32_t dtype, int32_t device_type, int32_t device_index);
DQN_API dqn_tensor dqn_rand(const int64_t* shape, int32_t ndim, int32_t dtype, int32_t device_type, int32_t device_index);
DQN_API dqn_tensor dqn_randn(const int64_t* shape, int32_t ndim, int32_t dtype, int32_t device_type, int32_t device_index);

// Unary and shape ops (op codes in dqnfun_native.cpp, kept in sync with Native.fs)
DQN_API dqn_tensor dqn_unary(int32_t op, dqn_tensor t);
DQN_API dqn_tensor dqn_reshape(dqn_tensor t, const int64_t* shape, int32_t ndim);
DQN_API dqn_tensor dqn_view(dqn_tensor t, const int64_t* shape, int32_t ndim);
DQN_API dqn_tensor dqn_squeeze(dqn_tensor t, int64_t dim);
DQN_API dqn_tensor dqn_unsqueeze(dqn_tensor t, int64_t dim);
DQN_API dqn_tensor dqn_transpose(dqn_tensor t, int64_t dim0, int64_t dim1);
DQN_API dqn_tensor dqn_to(dqn_tensor t, int32_t dtype, int32_t device_type, int32_t device_index);
DQN_API dqn_tensor dqn_clamp(dqn_tensor t, double min, double max, int32_t has_min, int32_t has_max);
DQN_API dqn_tensor dqn_pow_scalar(dqn_tensor t, double exponent);
// A view of `length` elements of dimension `dim` from `start` (torch.narrow; differentiable).
DQN_API dqn_tensor dqn_narrow(dqn_tensor t, int64_t dim, int64_t start, int64_t length);

// Binary ops (broadcasting) and scalar forms
DQN_API dqn_tensor dqn_binary(int32_t op, dqn_tensor a, dqn_tensor b);
DQN_API dqn_tensor dqn_binary_scalar(int32_t op, dqn_tensor a, double s);
DQN_API dqn_tensor dqn_where(dqn_tensor cond, dqn_tensor a, dqn_tensor b);

// Neural-network ops
DQN_API dqn_tensor dqn_linear(dqn_tensor x, dqn_tensor w, dqn_tensor b /* nullable */);
DQN_API dqn_tensor dqn_conv2d(dqn_tensor x, dqn_tensor w, dqn_tensor b /* nullable */,
                              int64_t stride_h, int64_t stride_w, int64_t pad_h, int64_t pad_w);
DQN_API dqn_tensor dqn_loss(int32_t kind, dqn_tensor input, dqn_tensor target, int32_t reduction, double param);
// A one-layer LSTM over a batch-first sequence (at::lstm; PyTorch's gate order i, f, g, o; differentiable):
// x [batch; seq; input], h0 and c0 [batch; hidden], w_ih [4 hidden; input], w_hh [4 hidden; hidden], b_ih and
// b_hh [4 hidden]. Outputs: *out [batch; seq; hidden] (h at every step), *h_n and *c_n [batch; hidden].
DQN_API int32_t dqn_lstm(dqn_tensor x, dqn_tensor h0, dqn_tensor c0, dqn_tensor w_ih, dqn_tensor w_hh, dqn_tensor b_ih,
                         dqn_tensor b_hh, dqn_tensor* out, dqn_tensor* h_n, dqn_tensor* c_n);

// Reductions and indexing
DQN_API dqn_tensor dqn_reduce_all(int32_t op, dqn_tensor t);
DQN_API dqn_tensor dqn_reduce_dim(int32_t op, dqn_tensor t, int64_t dim, int32_t keepdim);
DQN_API int32_t dqn_max_dim(dqn_tensor t, int64_t dim, int32_t keepdim, dqn_tensor* values, dqn_tensor* indices);
DQN_API dqn_tensor dqn_gather(dqn_tensor t, int64_t dim, dqn_tensor index);
DQN_API dqn_tensor dqn_index_select(dqn_tensor t, int64_t dim, dqn_tensor index);
DQN_API dqn_tensor dqn_cat(const dqn_tensor* ts, int32_t n, int64_t dim);
DQN_API dqn_tensor dqn_stack(const dqn_tensor* ts, int32_t n, int64_t dim);

// In-place (used by optimizers' callers, initialisation and target-network updates)
DQN_API int32_t dqn_copy_(dqn_tensor dst, dqn_tensor src);
DQN_API int32_t dqn_uniform_(dqn_tensor t, double low, double high);
DQN_API int32_t dqn_normal_(dqn_tensor t, double mean, double std);
DQN_API int32_t dqn_fill_(dqn_tensor t, double value);
DQN_API int32_t dqn_lerp_(dqn_tensor t, dqn_tensor end, double weight);

// Autograd
DQN_API int32_t dqn_backward(dqn_tensor t);
DQN_API int32_t dqn_grad(dqn_tensor t, dqn_tensor* out);   // *out = NULL when the gradient is undefined
DQN_API dqn_tensor dqn_detach(dqn_tensor t);
DQN_API int32_t dqn_clip_grad_norm(const dqn_tensor* params, int32_t n, double max_norm, double norm_type, double* total_norm);

// Optimizers (torch::optim)
DQN_API dqn_optimizer dqn_adam_new(const dqn_tensor* params, int32_t n, double lr, double beta1, double beta2,
                                   double eps, double weight_decay, int32_t amsgrad);
DQN_API dqn_optimizer dqn_rmsprop_new(const dqn_tensor* params, int32_t n, double lr, double alpha, double eps,
                                      double weight_decay, double momentum, int32_t centered);
DQN_API int32_t dqn_optimizer_step(dqn_optimizer o);
DQN_API int32_t dqn_optimizer_zero_grad(dqn_optimizer o);
DQN_API int32_t dqn_optimizer_set_lr(dqn_optimizer o, double lr);
DQN_API void dqn_optimizer_dispose(dqn_optimizer o);

// Fused DQN update for an MLP Q-network (Linear, ReLU, ..., Linear, every layer with bias) on the CPU with
// the Adam optimizer from dqn_adam_new: forward passes, Bellman target, loss, the backward pass written out
// (no autograd graph), gradient clipping (max_grad_norm <= 0: none) and one Adam step.
// online/target: [W1, b1, W2, b2, ...] (n_params = 2 * layers). Host arrays: obs and next_obs
// [batch * obs_size] float32, actions [batch] int64, rewards and discounts [batch] float32, where
// discounts[i] = gamma^m (1 - terminated) bootstraps y = r + discount * v(s') (m = 1, or n for n-step).
// loss_kind: 0 Huber (delta 1), 1 squared error. Returns non-zero on error (see dqn_last_error).
DQN_API int32_t dqn_mlp_q_update(const dqn_tensor* online, const dqn_tensor* target, int32_t n_params,
                                 dqn_optimizer adam, const float* obs, const float* next_obs,
                                 const int64_t* actions, const float* rewards, const float* discounts,
                                 int64_t batch, int64_t obs_size, int32_t loss_kind, int32_t double_dqn,
                                 double max_grad_norm, double* loss, double* mean_q);

#ifdef __cplusplus
}
#endif
