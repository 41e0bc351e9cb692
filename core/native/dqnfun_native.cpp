// Dqn.Fun native shim: the only code that touches libtorch. See dqnfun_native.h for conventions.
#include "dqnfun_native.h"

#include <torch/torch.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace {

thread_local std::string last_error;

// Every entry point runs its body inside GUARD; errors become a NULL/-1 result plus a message.
#define GUARD(fail_value, ...)                                          \
  try {                                                                 \
    __VA_ARGS__                                                         \
  } catch (const c10::Error& e) {                                       \
    last_error = e.what_without_backtrace();                            \
    return fail_value;                                                  \
  } catch (const std::exception& e) {                                   \
    last_error = e.what();                                              \
    return fail_value;                                                  \
  } catch (...) {                                                       \
    last_error = "unknown C++ exception in the Dqn.Fun native shim";    \
    return fail_value;                                                  \
  }

inline at::Tensor& T(dqn_tensor t) {
  if (t == nullptr) throw std::invalid_argument("null tensor handle");
  return *static_cast<at::Tensor*>(t);
}

inline dqn_tensor wrap(at::Tensor t) { return new at::Tensor(std::move(t)); }

inline at::Device device_of(int32_t type, int32_t index) {
  switch (type) {
    case 0: return at::Device(at::kCPU);
    case 1: return at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(index < 0 ? 0 : index));
    default: throw std::invalid_argument("unknown device type code " + std::to_string(type));
  }
}

inline at::ScalarType dtype_of(int32_t code) {
  switch (code) {
    case 0: return at::kByte;
    case 3: return at::kInt;
    case 4: return at::kLong;
    case 6: return at::kFloat;
    case 7: return at::kDouble;
    case 11: return at::kBool;
    default: throw std::invalid_argument("unsupported dtype code " + std::to_string(code));
  }
}

inline at::TensorOptions options(int32_t dtype, int32_t device_type, int32_t device_index) {
  return at::TensorOptions().dtype(dtype_of(dtype)).device(device_of(device_type, device_index));
}

inline std::vector<int64_t> dims(const int64_t* shape, int32_t ndim) {
  if (ndim < 0) throw std::invalid_argument("negative ndim");
  return std::vector<int64_t>(shape, shape + ndim);
}

inline std::vector<at::Tensor> tensors(const dqn_tensor* ts, int32_t n) {
  std::vector<at::Tensor> v;
  v.reserve(n);
  for (int32_t i = 0; i < n; ++i) v.push_back(T(ts[i]));
  return v;
}

inline at::Reduction::Reduction reduction_of(int32_t r) {
  switch (r) {
    case 0: return at::Reduction::None;
    case 1: return at::Reduction::Mean;
    case 2: return at::Reduction::Sum;
    default: throw std::invalid_argument("unknown reduction code " + std::to_string(r));
  }
}

// The fused loops are compiled twice, for AVX2+FMA and for the baseline x86-64, and picked at load time.
#if defined(__x86_64__) && defined(__GNUC__)
#define DQN_VECTOR_CLONES __attribute__((target_clones("arch=haswell", "default")))
#else
#define DQN_VECTOR_CLONES
#endif

// One Adam step over n contiguous floats: torch.optim.Adam's update with the bias corrections folded into
// step_size = lr / (1 - beta1^t) and bc2_sqrt = sqrt(1 - beta2^t).
DQN_VECTOR_CLONES
void adam_kernel(int64_t n, float* __restrict p, const float* __restrict g, float* __restrict m, float* __restrict v,
                 float beta1, float beta2, float weight_decay, float eps, float step_size, float bc2_sqrt) {
  for (int64_t j = 0; j < n; ++j) {
    const float gj = g[j] + weight_decay * p[j];
    m[j] = m[j] * beta1 + gj * (1.0f - beta1);
    v[j] = v[j] * beta2 + gj * gj * (1.0f - beta2);
    p[j] -= step_size * m[j] / (std::sqrt(v[j]) / bc2_sqrt + eps);
  }
}

DQN_VECTOR_CLONES
double sum_of_squares(int64_t n, const float* __restrict x) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};  // eight float lanes, summed in double at the end
  int64_t j = 0;
  for (; j + 8 <= n; j += 8)
    for (int k = 0; k < 8; ++k) acc[k] += x[j + k] * x[j + k];
  double total = 0.0;
  for (int k = 0; k < 8; ++k) total += acc[k];
  for (; j < n; ++j) total += static_cast<double>(x[j]) * x[j];
  return total;
}

DQN_VECTOR_CLONES
void scale(int64_t n, float* __restrict x, float c) {
  for (int64_t j = 0; j < n; ++j) x[j] *= c;
}

inline bool fast_cpu_float(const at::Tensor& t) {
  return t.defined() && t.device().is_cpu() && t.scalar_type() == at::kFloat && t.is_contiguous();
}

}  // namespace

extern "C" {

int32_t dqn_abi_version(void) { return 1; }

const char* dqn_last_error(void) { return last_error.c_str(); }

const char* dqn_torch_version(void) {
  static const std::string v = std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) +
                               "." + std::to_string(TORCH_VERSION_PATCH);
  return v.c_str();
}

int32_t dqn_set_num_threads(int32_t n) { GUARD(-1, { at::set_num_threads(n); return 0; }) }
int32_t dqn_get_num_threads(void) { GUARD(-1, { return at::get_num_threads(); }) }
int32_t dqn_manual_seed(uint64_t seed) { GUARD(-1, { torch::manual_seed(seed); return 0; }) }
int32_t dqn_cuda_device_count(void) { GUARD(-1, { return static_cast<int32_t>(torch::cuda::device_count()); }) }
int32_t dqn_grad_enabled(void) { return at::GradMode::is_enabled() ? 1 : 0; }
int32_t dqn_set_grad_enabled(int32_t enabled) {
  const bool previous = at::GradMode::is_enabled();
  at::GradMode::set_enabled(enabled != 0);
  return previous ? 1 : 0;
}

// ---- lifecycle and metadata -------------------------------------------------------------------

void dqn_tensor_dispose(dqn_tensor t) { delete static_cast<at::Tensor*>(t); }

dqn_tensor dqn_tensor_from_data(const void* data, const int64_t* shape, int32_t ndim, int32_t dtype,
                                int32_t device_type, int32_t device_index) {
  GUARD(nullptr, {
    auto cpu = at::empty(dims(shape, ndim), at::TensorOptions().dtype(dtype_of(dtype)));
    const auto nbytes = static_cast<size_t>(cpu.numel()) * cpu.element_size();
    if (nbytes > 0) std::memcpy(cpu.data_ptr(), data, nbytes);
    if (device_type == 0) return wrap(std::move(cpu));
    return wrap(cpu.to(device_of(device_type, device_index)));
  })
}

int32_t dqn_tensor_copy_to(dqn_tensor t, void* dst, int64_t nbytes, int32_t dtype) {
  GUARD(-1, {
    auto& x = T(t);
    if (x.scalar_type() != dtype_of(dtype))
      throw std::invalid_argument(std::string("copy_to: tensor has dtype ") + c10::toString(x.scalar_type()) +
                                  " but the destination holds " + c10::toString(dtype_of(dtype)));
    const int64_t need = x.numel() * static_cast<int64_t>(x.element_size());
    if (need != nbytes)
      throw std::invalid_argument("copy_to: tensor holds " + std::to_string(need) + " bytes, destination has " +
                                  std::to_string(nbytes));
    auto c = x.detach().to(at::kCPU).contiguous();
    if (need > 0) std::memcpy(dst, c.data_ptr(), static_cast<size_t>(need));
    return 0;
  })
}

int32_t dqn_tensor_ndim(dqn_tensor t) { GUARD(-1, { return static_cast<int32_t>(T(t).dim()); }) }

int32_t dqn_tensor_shape(dqn_tensor t, int64_t* out) {
  GUARD(-1, {
    auto sizes = T(t).sizes();
    for (size_t i = 0; i < sizes.size(); ++i) out[i] = sizes[i];
    return 0;
  })
}

int32_t dqn_tensor_dtype(dqn_tensor t) { GUARD(-1, { return static_cast<int32_t>(T(t).scalar_type()); }) }

int32_t dqn_tensor_device(dqn_tensor t, int32_t* device_type, int32_t* device_index) {
  GUARD(-1, {
    auto d = T(t).device();
    *device_type = d.is_cuda() ? 1 : 0;
    *device_index = d.has_index() ? d.index() : 0;
    return 0;
  })
}

int32_t dqn_tensor_requires_grad(dqn_tensor t) { GUARD(-1, { return T(t).requires_grad() ? 1 : 0; }) }

int32_t dqn_tensor_set_requires_grad(dqn_tensor t, int32_t requires) {
  GUARD(-1, { T(t).set_requires_grad(requires != 0); return 0; })
}

int32_t dqn_tensor_item_double(dqn_tensor t, double* out) { GUARD(-1, { *out = T(t).item<double>(); return 0; }) }
int32_t dqn_tensor_item_int64(dqn_tensor t, int64_t* out) { GUARD(-1, { *out = T(t).item<int64_t>(); return 0; }) }

// ---- creation ----------------------------------------------------------------------------------

dqn_tensor dqn_full(const int64_t* shape, int32_t ndim, double value, int32_t dtype, int32_t device_type,
                    int32_t device_index) {
  GUARD(nullptr, { return wrap(at::full(dims(shape, ndim), value, options(dtype, device_type, device_index))); })
}

dqn_tensor dqn_arange(int64_t end, int32_t dtype, int32_t device_type, int32_t device_index) {
  GUARD(nullptr, { return wrap(at::arange(end, options(dtype, device_type, device_index))); })
}

dqn_tensor dqn_rand(const int64_t* shape, int32_t ndim, int32_t dtype, int32_t device_type, int32_t device_index) {
  GUARD(nullptr, { return wrap(at::rand(dims(shape, ndim), options(dtype, device_type, device_index))); })
}

dqn_tensor dqn_randn(const int64_t* shape, int32_t ndim, int32_t dtype, int32_t device_type, int32_t device_index) {
  GUARD(nullptr, { return wrap(at::randn(dims(shape, ndim), options(dtype, device_type, device_index))); })
}

// ---- unary and shape ops -------------------------------------------------------------------------

// Op codes shared with Native.fs (UnaryOp).
dqn_tensor dqn_unary(int32_t op, dqn_tensor t) {
  GUARD(nullptr, {
    auto& x = T(t);
    switch (op) {
      case 0: return wrap(at::neg(x));
      case 1: return wrap(at::relu(x));
      case 2: return wrap(at::abs(x));
      case 3: return wrap(at::sign(x));
      case 4: return wrap(at::exp(x));
      case 5: return wrap(at::log(x));
      case 6: return wrap(at::sqrt(x));
      case 7: return wrap(x.clone());
      case 8: return wrap(x.contiguous());
      case 9: return wrap(at::tanh(x));
      case 10: return wrap(at::sigmoid(x));
      case 11: return wrap(at::logical_not(x));
      case 12: return wrap(at::flatten(x, 1));
      case 13: return wrap(at::cos(x));
      default: throw std::invalid_argument("unknown unary op code " + std::to_string(op));
    }
  })
}

dqn_tensor dqn_reshape(dqn_tensor t, const int64_t* shape, int32_t ndim) {
  GUARD(nullptr, { return wrap(T(t).reshape(dims(shape, ndim))); })
}
dqn_tensor dqn_view(dqn_tensor t, const int64_t* shape, int32_t ndim) {
  GUARD(nullptr, { return wrap(T(t).view(dims(shape, ndim))); })
}
dqn_tensor dqn_squeeze(dqn_tensor t, int64_t dim) { GUARD(nullptr, { return wrap(T(t).squeeze(dim)); }) }
dqn_tensor dqn_unsqueeze(dqn_tensor t, int64_t dim) { GUARD(nullptr, { return wrap(T(t).unsqueeze(dim)); }) }
dqn_tensor dqn_transpose(dqn_tensor t, int64_t d0, int64_t d1) { GUARD(nullptr, { return wrap(T(t).transpose(d0, d1)); }) }
dqn_tensor dqn_narrow(dqn_tensor t, int64_t dim, int64_t start, int64_t length) {
  GUARD(nullptr, { return wrap(T(t).narrow(dim, start, length)); })
}

dqn_tensor dqn_to(dqn_tensor t, int32_t dtype, int32_t device_type, int32_t device_index) {
  GUARD(nullptr, { return wrap(T(t).to(device_of(device_type, device_index), dtype_of(dtype))); })
}

dqn_tensor dqn_clamp(dqn_tensor t, double min, double max, int32_t has_min, int32_t has_max) {
  GUARD(nullptr, {
    c10::optional<at::Scalar> lo, hi;
    if (has_min) lo = min;
    if (has_max) hi = max;
    return wrap(at::clamp(T(t), lo, hi));
  })
}

dqn_tensor dqn_pow_scalar(dqn_tensor t, double exponent) { GUARD(nullptr, { return wrap(at::pow(T(t), exponent)); }) }

// ---- binary ops ----------------------------------------------------------------------------------

// Op codes shared with Native.fs (BinaryOp).
dqn_tensor dqn_binary(int32_t op, dqn_tensor a, dqn_tensor b) {
  GUARD(nullptr, {
    auto& x = T(a);
    auto& y = T(b);
    switch (op) {
      case 0: return wrap(at::add(x, y));
      case 1: return wrap(at::sub(x, y));
      case 2: return wrap(at::mul(x, y));
      case 3: return wrap(at::div(x, y));
      case 4: return wrap(at::matmul(x, y));
      case 5: return wrap(at::maximum(x, y));
      case 6: return wrap(at::minimum(x, y));
      case 7: return wrap(at::eq(x, y));
      case 8: return wrap(at::ne(x, y));
      case 9: return wrap(at::lt(x, y));
      case 10: return wrap(at::le(x, y));
      case 11: return wrap(at::gt(x, y));
      case 12: return wrap(at::ge(x, y));
      case 13: return wrap(at::pow(x, y));
      default: throw std::invalid_argument("unknown binary op code " + std::to_string(op));
    }
  })
}

// Op codes shared with Native.fs (ScalarOp). `rsub`/`rdiv` put the scalar on the left.
dqn_tensor dqn_binary_scalar(int32_t op, dqn_tensor a, double s) {
  GUARD(nullptr, {
    auto& x = T(a);
    switch (op) {
      case 0: return wrap(at::add(x, s));
      case 1: return wrap(at::sub(x, s));
      case 2: return wrap(at::mul(x, s));
      case 3: return wrap(at::div(x, s));
      case 4: return wrap(at::rsub(x, s));
      case 5: return wrap(at::reciprocal(x).mul_(s));
      case 6: return wrap(at::eq(x, s));
      case 7: return wrap(at::lt(x, s));
      case 8: return wrap(at::gt(x, s));
      case 9: return wrap(at::le(x, s));
      case 10: return wrap(at::ge(x, s));
      default: throw std::invalid_argument("unknown scalar op code " + std::to_string(op));
    }
  })
}

dqn_tensor dqn_where(dqn_tensor cond, dqn_tensor a, dqn_tensor b) {
  GUARD(nullptr, { return wrap(at::where(T(cond), T(a), T(b))); })
}

// ---- neural-network ops --------------------------------------------------------------------------

dqn_tensor dqn_linear(dqn_tensor x, dqn_tensor w, dqn_tensor b) {
  GUARD(nullptr, {
    c10::optional<at::Tensor> bias;
    if (b != nullptr) bias = T(b);
    return wrap(at::linear(T(x), T(w), bias));
  })
}

dqn_tensor dqn_conv2d(dqn_tensor x, dqn_tensor w, dqn_tensor b, int64_t sh, int64_t sw, int64_t ph, int64_t pw) {
  GUARD(nullptr, {
    c10::optional<at::Tensor> bias;
    if (b != nullptr) bias = T(b);
    return wrap(at::conv2d(T(x), T(w), bias, {sh, sw}, {ph, pw}));
  })
}

// kind: 0 mse, 1 smooth-L1 (param = beta), 2 Huber (param = delta). reduction: 0 none, 1 mean, 2 sum.
dqn_tensor dqn_loss(int32_t kind, dqn_tensor input, dqn_tensor target, int32_t reduction, double param) {
  GUARD(nullptr, {
    const auto r = reduction_of(reduction);
    switch (kind) {
      case 0: return wrap(at::mse_loss(T(input), T(target), r));
      case 1: return wrap(at::smooth_l1_loss(T(input), T(target), r, param));
      case 2: return wrap(at::huber_loss(T(input), T(target), r, param));
      default: throw std::invalid_argument("unknown loss code " + std::to_string(kind));
    }
  })
}

// ---- reductions and indexing ---------------------------------------------------------------------

dqn_tensor dqn_reduce_all(int32_t op, dqn_tensor t) {
  GUARD(nullptr, {
    auto& x = T(t);
    switch (op) {
      case 0: return wrap(x.sum());
      case 1: return wrap(x.mean());
      case 2: return wrap(x.max());
      case 3: return wrap(x.min());
      case 4: return wrap(x.argmax());
      default: throw std::invalid_argument("unknown reduction op code " + std::to_string(op));
    }
  })
}

dqn_tensor dqn_reduce_dim(int32_t op, dqn_tensor t, int64_t dim, int32_t keepdim) {
  GUARD(nullptr, {
    auto& x = T(t);
    const bool k = keepdim != 0;
    switch (op) {
      case 0: return wrap(x.sum(dim, k));
      case 1: return wrap(x.mean(dim, k));
      case 2: return wrap(x.argmax(dim, k));
      case 3: return wrap(x.argmin(dim, k));
      case 4: return wrap(std::get<0>(x.max(dim, k)));
      case 5: return wrap(at::softmax(x, dim));
      case 6: return wrap(at::log_softmax(x, dim));
      case 7: return wrap(at::cumsum(x, dim));
      default: throw std::invalid_argument("unknown dim-op code " + std::to_string(op));
    }
  })
}

int32_t dqn_lstm(dqn_tensor x, dqn_tensor h0, dqn_tensor c0, dqn_tensor w_ih, dqn_tensor w_hh, dqn_tensor b_ih,
                 dqn_tensor b_hh, dqn_tensor* out, dqn_tensor* h_n, dqn_tensor* c_n) {
  GUARD(-1, {
    std::vector<at::Tensor> hx{T(h0).unsqueeze(0), T(c0).unsqueeze(0)};
    std::vector<at::Tensor> params{T(w_ih), T(w_hh), T(b_ih), T(b_hh)};
    auto r = at::lstm(T(x), hx, params, /*has_biases*/ true, /*num_layers*/ 1, /*dropout*/ 0.0, /*train*/ true,
                      /*bidirectional*/ false, /*batch_first*/ true);
    *out = wrap(std::move(std::get<0>(r)));
    *h_n = wrap(std::get<1>(r).squeeze(0));
    *c_n = wrap(std::get<2>(r).squeeze(0));
    return 0;
  })
}

int32_t dqn_max_dim(dqn_tensor t, int64_t dim, int32_t keepdim, dqn_tensor* values, dqn_tensor* indices) {
  GUARD(-1, {
    auto r = T(t).max(dim, keepdim != 0);
    *values = wrap(std::move(std::get<0>(r)));
    *indices = wrap(std::move(std::get<1>(r)));
    return 0;
  })
}

dqn_tensor dqn_gather(dqn_tensor t, int64_t dim, dqn_tensor index) {
  GUARD(nullptr, { return wrap(at::gather(T(t), dim, T(index))); })
}

dqn_tensor dqn_index_select(dqn_tensor t, int64_t dim, dqn_tensor index) {
  GUARD(nullptr, { return wrap(at::index_select(T(t), dim, T(index))); })
}

dqn_tensor dqn_cat(const dqn_tensor* ts, int32_t n, int64_t dim) {
  GUARD(nullptr, { return wrap(at::cat(tensors(ts, n), dim)); })
}

dqn_tensor dqn_stack(const dqn_tensor* ts, int32_t n, int64_t dim) {
  GUARD(nullptr, { return wrap(at::stack(tensors(ts, n), dim)); })
}

// ---- in-place --------------------------------------------------------------------------------------

int32_t dqn_copy_(dqn_tensor dst, dqn_tensor src) {
  GUARD(-1, { at::NoGradGuard g; T(dst).copy_(T(src)); return 0; })
}
int32_t dqn_uniform_(dqn_tensor t, double low, double high) {
  GUARD(-1, { at::NoGradGuard g; T(t).uniform_(low, high); return 0; })
}
int32_t dqn_normal_(dqn_tensor t, double mean, double std) {
  GUARD(-1, { at::NoGradGuard g; T(t).normal_(mean, std); return 0; })
}
int32_t dqn_fill_(dqn_tensor t, double value) {
  GUARD(-1, { at::NoGradGuard g; T(t).fill_(value); return 0; })
}
int32_t dqn_lerp_(dqn_tensor t, dqn_tensor end, double weight) {
  GUARD(-1, { at::NoGradGuard g; T(t).lerp_(T(end), weight); return 0; })
}

// ---- autograd ----------------------------------------------------------------------------------------

int32_t dqn_backward(dqn_tensor t) { GUARD(-1, { T(t).backward(); return 0; }) }

int32_t dqn_grad(dqn_tensor t, dqn_tensor* out) {
  GUARD(-1, {
    const auto& g = T(t).grad();
    *out = g.defined() ? wrap(at::Tensor(g)) : nullptr;
    return 0;
  })
}

dqn_tensor dqn_detach(dqn_tensor t) { GUARD(nullptr, { return wrap(T(t).detach()); }) }

// L2 clipping is one pass over CPU float32 gradients (as torch.nn.utils.clip_grad_norm_: coefficient
// max_norm / (norm + 1e-6), applied only when below 1); other cases call libtorch's implementation.
static double clip_grad_norm(const std::vector<at::Tensor>& ps, double max_norm, double norm_type) {
  bool fast = norm_type == 2.0;
  for (auto& p : ps) fast = fast && (!p.grad().defined() || fast_cpu_float(p.grad()));
  if (!fast) return torch::nn::utils::clip_grad_norm_(ps, max_norm, norm_type);
  double sum = 0.0;
  for (auto& p : ps)
    if (p.grad().defined()) sum += sum_of_squares(p.grad().numel(), p.grad().data_ptr<float>());
  const double norm = std::sqrt(sum);
  const double coef = max_norm / (norm + 1e-6);
  if (coef < 1.0)
    for (auto& p : ps)
      if (p.grad().defined()) scale(p.grad().numel(), p.grad().data_ptr<float>(), static_cast<float>(coef));
  return norm;
}

int32_t dqn_clip_grad_norm(const dqn_tensor* params, int32_t n, double max_norm, double norm_type, double* total_norm) {
  GUARD(-1, {
    *total_norm = clip_grad_norm(tensors(params, n), max_norm, norm_type);
    return 0;
  })
}

// ---- optimizers ----------------------------------------------------------------------------------------
// Every optimizer handle is an Opt. Adam is our own fused implementation (one pass over each CPU float32
// parameter, the formula of torch.optim.Adam); RMSprop wraps torch::optim::RMSprop.

struct Opt {
  virtual ~Opt() = default;
  virtual void step() = 0;
  virtual void set_lr(double lr) = 0;
  std::vector<at::Tensor> params;
  void zero_grad() {
    for (auto& p : params) p.mutable_grad().reset();  // set_to_none, as PyTorch 2 does by default
  }
};

// Adam (Kingma & Ba 2015, Algorithm 1) exactly as torch.optim.Adam computes it (weight decay added to the
// gradient; bias corrections folded into the step size and the denominator).
struct FusedAdam : Opt {
  double lr, beta1, beta2, eps, weight_decay;
  bool amsgrad;
  int64_t steps = 0;
  std::vector<at::Tensor> m, v, vmax;

  void step() override {
    at::NoGradGuard no_grad;
    ++steps;
    const double bc1 = 1.0 - std::pow(beta1, static_cast<double>(steps));
    const double bc2 = 1.0 - std::pow(beta2, static_cast<double>(steps));
    const double step_size = lr / bc1;
    const double bc2_sqrt = std::sqrt(bc2);
    for (size_t i = 0; i < params.size(); ++i) {
      auto& p = params[i];
      const auto& g = p.grad();
      if (!g.defined()) continue;
      if (!m[i].defined()) {
        m[i] = at::zeros_like(p, at::MemoryFormat::Contiguous);
        v[i] = at::zeros_like(p, at::MemoryFormat::Contiguous);
        if (amsgrad) vmax[i] = at::zeros_like(p, at::MemoryFormat::Contiguous);
      }
      if (fast_cpu_float(p) && fast_cpu_float(g) && !amsgrad) {
        adam_kernel(p.numel(), p.data_ptr<float>(), g.data_ptr<float>(), m[i].data_ptr<float>(), v[i].data_ptr<float>(),
                    static_cast<float>(beta1), static_cast<float>(beta2), static_cast<float>(weight_decay),
                    static_cast<float>(eps), static_cast<float>(step_size), static_cast<float>(bc2_sqrt));
      } else {
        auto grad = weight_decay != 0.0 ? g.add(p, weight_decay) : g;
        m[i].mul_(beta1).add_(grad, 1.0 - beta1);
        v[i].mul_(beta2).addcmul_(grad, grad, 1.0 - beta2);
        at::Tensor denom;
        if (amsgrad) {
          at::maximum_out(vmax[i], vmax[i], v[i]);
          denom = (vmax[i].sqrt() / bc2_sqrt).add_(eps);
        } else {
          denom = (v[i].sqrt() / bc2_sqrt).add_(eps);
        }
        p.addcdiv_(m[i], denom, -step_size);
      }
    }
  }
  void set_lr(double x) override { lr = x; }
};

struct TorchOpt : Opt {
  std::unique_ptr<torch::optim::Optimizer> inner;
  void step() override { inner->step(); }
  void set_lr(double lr) override {
    for (auto& group : inner->param_groups()) group.options().set_lr(lr);
  }
};

static Opt& O(dqn_optimizer o) {
  if (o == nullptr) throw std::invalid_argument("null optimizer handle");
  return *static_cast<Opt*>(o);
}

dqn_optimizer dqn_adam_new(const dqn_tensor* params, int32_t n, double lr, double beta1, double beta2, double eps,
                           double weight_decay, int32_t amsgrad) {
  GUARD(nullptr, {
    auto o = std::make_unique<FusedAdam>();
    o->params = tensors(params, n);
    o->lr = lr;
    o->beta1 = beta1;
    o->beta2 = beta2;
    o->eps = eps;
    o->weight_decay = weight_decay;
    o->amsgrad = amsgrad != 0;
    o->m.resize(n);
    o->v.resize(n);
    o->vmax.resize(n);
    return static_cast<Opt*>(o.release());
  })
}

dqn_optimizer dqn_rmsprop_new(const dqn_tensor* params, int32_t n, double lr, double alpha, double eps,
                              double weight_decay, double momentum, int32_t centered) {
  GUARD(nullptr, {
    auto opts = torch::optim::RMSpropOptions(lr)
                    .alpha(alpha)
                    .eps(eps)
                    .weight_decay(weight_decay)
                    .momentum(momentum)
                    .centered(centered != 0);
    auto o = std::make_unique<TorchOpt>();
    o->params = tensors(params, n);
    o->inner = std::make_unique<torch::optim::RMSprop>(o->params, opts);
    return static_cast<Opt*>(o.release());
  })
}

int32_t dqn_optimizer_step(dqn_optimizer o) { GUARD(-1, { O(o).step(); return 0; }) }
int32_t dqn_optimizer_zero_grad(dqn_optimizer o) { GUARD(-1, { O(o).zero_grad(); return 0; }) }
int32_t dqn_optimizer_set_lr(dqn_optimizer o, double lr) { GUARD(-1, { O(o).set_lr(lr); return 0; }) }
void dqn_optimizer_dispose(dqn_optimizer o) { delete static_cast<Opt*>(o); }

// ---- fused MLP DQN update ---------------------------------------------------------------------------------
// The update of Learner.update (Mnih et al. 2015, Algorithm 1; van Hasselt et al. 2016 when double_dqn) for
// the common case, with the backward pass written out: for a layer z = a W^T + b with upstream gradient g,
// dW = g^T a, db = sum_rows g, da = g W, and ReLU passes da where its output is positive. No autograd graph
// is built, and nothing is allocated beyond the activations and gradients themselves.

static at::Tensor mlp_forward(const std::vector<at::Tensor>& P, at::Tensor h, std::vector<at::Tensor>* inputs) {
  const size_t layers = P.size() / 2;
  for (size_t l = 0; l < layers; ++l) {
    if (inputs) inputs->push_back(h);
    h = at::addmm(P[2 * l + 1], h, P[2 * l].t());
    if (l + 1 < layers) h.relu_();
  }
  return h;
}

int32_t dqn_mlp_q_update(const dqn_tensor* online, const dqn_tensor* target, int32_t n_params, dqn_optimizer adam,
                         const float* obs, const float* next_obs, const int64_t* actions, const float* rewards,
                         const float* discounts, int64_t batch, int64_t obs_size, int32_t loss_kind,
                         int32_t double_dqn, double max_grad_norm, double* loss, double* mean_q) {
  GUARD(-1, {
    if (n_params < 2 || n_params % 2 != 0) throw std::invalid_argument("an MLP needs [W1, b1, ...] parameter pairs");
    auto W = tensors(online, n_params);
    auto Wt = tensors(target, n_params);
    for (auto& p : W)
      if (!fast_cpu_float(p)) throw std::invalid_argument("the fused update needs contiguous CPU float32 parameters");
    auto& opt = dynamic_cast<FusedAdam&>(O(adam));
    at::NoGradGuard no_grad;
    const auto f32 = at::TensorOptions().dtype(at::kFloat);
    // Views of the caller's (pinned) arrays: valid for the duration of this call only.
    auto x = at::from_blob(const_cast<float*>(obs), {batch, obs_size}, f32);
    auto x2 = at::from_blob(const_cast<float*>(next_obs), {batch, obs_size}, f32);
    auto a = at::from_blob(const_cast<int64_t*>(actions), {batch, 1}, at::TensorOptions().dtype(at::kLong));
    auto r = at::from_blob(const_cast<float*>(rewards), {batch}, f32);
    auto discount = at::from_blob(const_cast<float*>(discounts), {batch}, f32);

    // y = r + discount v(s'), v from the target network (its max, or its value at the online argmax).
    auto q_next = mlp_forward(Wt, x2, nullptr);
    auto v_next = double_dqn != 0 ? q_next.gather(1, mlp_forward(W, x2, nullptr).argmax(1, true)).squeeze(1)
                                  : std::get<0>(q_next.max(1));
    auto y = r + discount * v_next;

    std::vector<at::Tensor> inputs;
    auto q = mlp_forward(W, x, &inputs);
    auto q_sa = q.gather(1, a).squeeze(1);
    auto d = q_sa - y;
    at::Tensor dq;  // dLoss/dq_sa
    if (loss_kind == 1) {
      *loss = d.pow(2).mean().item<double>();
      dq = d * (2.0 / static_cast<double>(batch));
    } else if (loss_kind == 0) {
      *loss = at::huber_loss(q_sa, y, at::Reduction::Mean, 1.0).item<double>();
      dq = d.clamp(-1.0, 1.0) / static_cast<double>(batch);
    } else {
      throw std::invalid_argument("unknown loss code " + std::to_string(loss_kind));
    }
    *mean_q = q_sa.mean().item<double>();

    auto g = at::zeros_like(q).scatter_(1, a, dq.unsqueeze(1));
    const int64_t layers = n_params / 2;
    for (int64_t l = layers - 1; l >= 0; --l) {
      W[2 * l].mutable_grad() = at::mm(g.t(), inputs[l]);
      W[2 * l + 1].mutable_grad() = g.sum(0);
      if (l > 0) g = at::threshold_backward(at::mm(g, W[2 * l]), inputs[l], 0);
    }
    if (max_grad_norm > 0.0) clip_grad_norm(W, max_grad_norm, 2.0);
    opt.step();
    return 0;
  })
}

}  // extern "C"
