// Emulated cuFFT (tests only): the entry points of include/cufft.h, on FFTW
// single precision. What is modelled, as cuFFT does it:
//  - handles: small integers from a table; an unknown (or destroyed) handle
//    is CUFFT_INVALID_PLAN everywhere;
//  - plans: cufftMakePlanMany64, rank 1 or 2, R2C and C2R, cuFFT's basic
//    layout when inembed or onembed is NULL (real rows padded to
//    2 * (n / 2 + 1) floats when executed in place, packed otherwise) and
//    its advanced layout otherwise (element (i0, i1) of transform b at
//    b * dist + (i0 * embed[1] + i1) * stride, FFTW's plan_many layout);
//    C2R unnormalised and destroying its input, as in place on a device;
//  - work areas: every plan reports a positive work size (one complex plane
//    per transform of the batch), allocated from the emulated device when
//    auto-allocation is on (CUFFT_ALLOC_FAILED when it does not fit), else
//    the caller's to provide with cufftSetWorkArea: an execution without
//    one, or with one that is not that many bytes of device memory, is
//    refused; each execution overwrites the work area (with NaN bytes), as
//    cuFFT may, so a work area shared with live data shows;
//  - executions: checked at the call (plan, type, work area, and that the
//    input and output arrays are device memory covering every element of
//    the batch; a refusal says why on stderr and queues nothing), then
//    queued on the plan's stream (cufftSetStream) to run in stream order.
// Each plan is planned with FFTW_ESTIMATE | FFTW_UNALIGNED on scratch
// memory, in place or out of place as its layouts suggest, and the other
// variant when an execution first needs it; the FFTW planner is made
// thread-safe first, since the library's CPU backend plans from other
// threads (hence libfftw3f_threads).
#include <cufft.h>
#include <fftw3.h>
#include <atomic>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "emulator.hpp"

namespace {

using i64 = long long;

// FFTW's planner is global state: serialise it against every other planner
// in the process (the library's CPU backend included). Done while the
// library loads, before any thread can plan, and again, harmlessly, on
// first use.
void make_fftw_thread_safe() {
  static const bool done = [] {
    fftwf_make_planner_thread_safe();
    return true;
  }();
  (void)done;
}
[[maybe_unused]] const bool fftw_thread_safe_at_load = (make_fftw_thread_safe(), true);

void complain(const std::string& what) {
  std::fprintf(stderr, "emulated cuFFT: %s\n", what.c_str());
}

bool mul_ok(i64 a, i64 b, i64* out) {
  return !__builtin_mul_overflow(a, b, out);
}

// The elements one side of a transform touches, in that side's elements
// (floats or complex values): dims[k] of them at stride[k], `batch`
// transforms `dist` apart.
struct Side {
  int rank = 0;
  i64 dims[2] = {1, 1};
  i64 stride[2] = {1, 1};
  i64 dist = 0;
  i64 batch = 1;
  size_t element = 0;
  // Bytes from the first element to the end of the last one touched; 0 when
  // that overflows.
  size_t extent_bytes() const {
    i64 last = 0;
    i64 term = 0;
    if (!mul_ok(batch - 1, dist, &last)) return 0;
    for (int k = 0; k < rank; ++k) {
      if (!mul_ok(dims[k] - 1, stride[k], &term) || __builtin_add_overflow(last, term, &last))
        return 0;
    }
    i64 bytes = 0;
    if (__builtin_add_overflow(last, 1, &last) || !mul_ok(last, static_cast<i64>(element), &bytes))
      return 0;
    return static_cast<size_t>(bytes);
  }
};

// What cufftMakePlanMany64 was given (its arrays copied).
struct Geometry {
  cufftType type = CUFFT_R2C;
  int rank = 0;
  i64 n[2] = {1, 1};
  i64 batch = 1;
  bool basic = true;  // inembed or onembed NULL: cuFFT's basic layout
  i64 inembed[2] = {0, 0};
  i64 onembed[2] = {0, 0};
  i64 istride = 1, idist = 0, ostride = 1, odist = 0;

  bool forward() const { return type == CUFFT_R2C; }
  i64 half() const { return n[rank - 1] / 2 + 1; }

  // The real and complex sides of an execution in place or out of place
  // (the basic layout's real rows are padded in place, packed otherwise).
  void sides(bool in_place, Side* real, Side* complex) const {
    const i64 real_last = basic && in_place ? 2 * half() : n[rank - 1];
    for (Side* s : {real, complex}) {
      s->rank = rank;
      s->batch = batch;
      for (int k = 0; k < rank; ++k) s->dims[k] = n[k];
    }
    real->dims[rank - 1] = n[rank - 1];
    complex->dims[rank - 1] = half();
    real->element = sizeof(cufftReal);
    complex->element = sizeof(cufftComplex);
    if (basic) {
      // Packed rows (the real ones padded in place), stride 1.
      const i64 planes = rank == 2 ? n[0] : 1;
      real->stride[rank - 1] = 1;
      complex->stride[rank - 1] = 1;
      real->stride[0] = rank == 2 ? real_last : 1;
      complex->stride[0] = rank == 2 ? half() : 1;
      real->dist = planes * real_last;
      complex->dist = planes * half();
      return;
    }
    const i64* real_embed = forward() ? inembed : onembed;
    const i64* complex_embed = forward() ? onembed : inembed;
    const i64 real_stride = forward() ? istride : ostride;
    const i64 complex_stride = forward() ? ostride : istride;
    real->stride[rank - 1] = real_stride;
    complex->stride[rank - 1] = complex_stride;
    if (rank == 2) {
      real->stride[0] = real_embed[1] * real_stride;
      complex->stride[0] = complex_embed[1] * complex_stride;
    }
    real->dist = forward() ? idist : odist;
    complex->dist = forward() ? odist : idist;
  }

  // Whether the layouts are those of an in-place transform: each complex
  // value in the bytes of the real pair it starts at (FFTW's padded
  // layout), rows and transforms starting at the same bytes on both sides.
  bool in_place_layout() const {
    if (basic) return true;
    Side real, complex;
    sides(true, &real, &complex);
    if (real.stride[rank - 1] != complex.stride[rank - 1]) return false;
    if (real.dist != 2 * complex.dist) return false;
    return rank == 1 || real.stride[0] == 2 * complex.stride[0];
  }

  // One complex plane per transform: what a transform that keeps its
  // intermediate out of place needs; 0 when that overflows.
  size_t work_bytes() const {
    i64 bytes = half() * static_cast<i64>(sizeof(cufftComplex));
    if (rank == 2 && !mul_ok(bytes, n[0], &bytes)) return 0;
    if (!mul_ok(bytes, batch, &bytes)) return 0;
    return static_cast<size_t>(bytes);
  }
};

struct FftwPlan {
  fftwf_plan plan = nullptr;
  explicit FftwPlan(fftwf_plan p) : plan(p) {}
  ~FftwPlan() {
    if (plan != nullptr) fftwf_destroy_plan(plan);
  }
  FftwPlan(const FftwPlan&) = delete;
  FftwPlan& operator=(const FftwPlan&) = delete;
};

// Plans `g` with FFTW on scratch memory, in place or not; null (and a
// reason on stderr) when FFTW cannot.
std::shared_ptr<FftwPlan> plan_fftw(const Geometry& g, bool in_place) {
  make_fftw_thread_safe();
  Side real, complex;
  g.sides(in_place, &real, &complex);
  const size_t real_bytes = real.extent_bytes();
  const size_t complex_bytes = complex.extent_bytes();
  if (real_bytes == 0 || complex_bytes == 0) {
    complain("the layout's extent overflows");
    return nullptr;
  }
  fftwf_iodim64 dims[2];
  for (int k = 0; k < g.rank; ++k) {
    dims[k].n = g.n[k];
    // The complex side's strides in complex values, as FFTW's new-array
    // interface takes them.
    dims[k].is = g.forward() ? real.stride[k] : complex.stride[k];
    dims[k].os = g.forward() ? complex.stride[k] : real.stride[k];
  }
  fftwf_iodim64 howmany;
  howmany.n = g.batch;
  howmany.is = g.forward() ? real.dist : complex.dist;
  howmany.os = g.forward() ? complex.dist : real.dist;

  // FFTW_ESTIMATE neither reads nor writes the arrays; they only have to
  // exist (and be distinct or not).
  const size_t scratch_bytes =
      in_place ? std::max(real_bytes, complex_bytes) : real_bytes + complex_bytes + 16;
  void* scratch = fftwf_malloc(scratch_bytes);
  if (scratch == nullptr) {
    complain("no host memory to plan the transform with FFTW");
    return nullptr;
  }
  float* r = static_cast<float*>(scratch);
  fftwf_complex* c = static_cast<fftwf_complex*>(scratch);
  if (!in_place) {
    const size_t offset = (real_bytes + 15) / 16 * 16;
    c = reinterpret_cast<fftwf_complex*>(static_cast<char*>(scratch) + offset);
  }
  const unsigned flags = FFTW_ESTIMATE | FFTW_UNALIGNED;
  fftwf_plan p = g.forward() ? fftwf_plan_guru64_dft_r2c(g.rank, dims, 1, &howmany, r, c, flags)
                             : fftwf_plan_guru64_dft_c2r(g.rank, dims, 1, &howmany, c, r, flags);
  fftwf_free(scratch);
  if (p == nullptr) {
    complain(std::string("FFTW cannot plan this layout ") +
             (in_place ? "in place" : "out of place"));
    return nullptr;
  }
  return std::make_shared<FftwPlan>(p);
}

struct Plan {
  std::mutex mutex;
  bool auto_allocate = true;  // what cufftSetAutoAllocation last said
  bool made = false;
  bool auto_allocated = false;  // `work` is this plan's own allocation
  Geometry geometry;
  size_t work_size = 0;
  void* work = nullptr;
  cudaStream_t stream = nullptr;
  std::shared_ptr<FftwPlan> in_place;
  std::shared_ptr<FftwPlan> out_of_place;
};

struct Table {
  std::mutex mutex;
  std::map<cufftHandle, std::shared_ptr<Plan>> plans;
  cufftHandle next = 1;
};

Table& table() {
  static Table* t = new Table;  // never destroyed: plans may outlive statics
  return *t;
}

std::shared_ptr<Plan> find(cufftHandle handle) {
  Table& t = table();
  std::lock_guard<std::mutex> lock(t.mutex);
  const auto it = t.plans.find(handle);
  return it == t.plans.end() ? nullptr : it->second;
}

const char* type_name(cufftType type) {
  return type == CUFFT_R2C ? "R2C" : type == CUFFT_C2R ? "C2R" : "?";
}

std::string range_text(const void* ptr, size_t bytes) {
  char text[96];
  std::snprintf(text, sizeof text, "[%p, +%zu bytes)", ptr, bytes);
  return text;
}

std::atomic<size_t> plans_made{0};

cufftResult make_plan(cufftHandle handle, int rank, const i64* n, const i64* inembed, i64 istride,
                      i64 idist, const i64* onembed, i64 ostride, i64 odist, cufftType type,
                      i64 batch, size_t* work_size) {
  const std::shared_ptr<Plan> plan = find(handle);
  if (!plan) return CUFFT_INVALID_PLAN;
  const std::string where = "cufftMakePlanMany64(plan " + std::to_string(handle) + "): ";
  if (n == nullptr || work_size == nullptr) return CUFFT_INVALID_VALUE;
  if (rank < 1 || rank > 3) {
    complain(where + "rank " + std::to_string(rank) + " is not 1, 2 or 3");
    return CUFFT_INVALID_VALUE;
  }
  switch (type) {
    case CUFFT_R2C:
    case CUFFT_C2R:
      break;
    case CUFFT_C2C:
    case CUFFT_D2Z:
    case CUFFT_Z2D:
    case CUFFT_Z2Z:
      complain(where + "only single-precision R2C and C2R are emulated");
      return CUFFT_NOT_SUPPORTED;
    default:
      return CUFFT_INVALID_TYPE;
  }
  if (rank == 3) {
    complain(where + "only ranks 1 and 2 are emulated");
    return CUFFT_NOT_SUPPORTED;
  }
  Geometry g;
  g.type = type;
  g.rank = rank;
  g.batch = batch;
  for (int k = 0; k < rank; ++k) g.n[k] = n[k];
  for (int k = 0; k < rank; ++k) {
    if (n[k] <= 0) return CUFFT_INVALID_SIZE;
  }
  if (batch <= 0) return CUFFT_INVALID_SIZE;
  // Sizes, embeddings and strides below 2^31 keep every product of two in
  // range; longer products are checked where they are formed.
  constexpr i64 kMaxExtent = i64{1} << 31;
  for (int k = 0; k < rank; ++k) {
    if (n[k] > kMaxExtent) return CUFFT_INVALID_SIZE;
  }
  g.basic = inembed == nullptr || onembed == nullptr;
  if (!g.basic) {
    for (int k = 0; k < rank; ++k) {
      g.inembed[k] = inembed[k];
      g.onembed[k] = onembed[k];
    }
    g.istride = istride;
    g.idist = idist;
    g.ostride = ostride;
    g.odist = odist;
    // The embeddings must hold the rows they describe (their first entry
    // only bounds the planes, which nothing reads).
    const i64 real_last = n[rank - 1];
    const i64 complex_last = g.half();
    const i64 in_last = g.forward() ? real_last : complex_last;
    const i64 out_last = g.forward() ? complex_last : real_last;
    if (rank == 2 && (inembed[1] < in_last || onembed[1] < out_last)) {
      complain(where + "an embedding's rows are shorter than the transform's");
      return CUFFT_INVALID_VALUE;
    }
    for (int k = 0; k < rank; ++k) {
      if (inembed[k] > kMaxExtent || onembed[k] > kMaxExtent) return CUFFT_INVALID_SIZE;
    }
    if (istride > kMaxExtent || ostride > kMaxExtent) return CUFFT_INVALID_SIZE;
    if (istride < 1 || ostride < 1 || idist < 0 || odist < 0 ||
        (batch > 1 && (idist < 1 || odist < 1))) {
      complain(where + "strides must be positive and distances non-negative");
      return CUFFT_INVALID_VALUE;
    }
  }

  std::lock_guard<std::mutex> lock(plan->mutex);
  if (plan->made) {
    complain(where + "the plan was already made");
    return CUFFT_INVALID_PLAN;
  }
  Side real, complex;
  g.sides(g.in_place_layout(), &real, &complex);
  if (real.extent_bytes() == 0 || complex.extent_bytes() == 0) {
    complain(where + "the layout's extent overflows");
    return CUFFT_INVALID_SIZE;
  }
  std::shared_ptr<FftwPlan> fftw = plan_fftw(g, g.in_place_layout());
  if (!fftw) return CUFFT_INTERNAL_ERROR;
  const size_t bytes = g.work_bytes();
  if (bytes == 0) {
    complain(where + "the work size overflows");
    return CUFFT_INVALID_SIZE;
  }
  if (plan->auto_allocate) {
    void* work = nullptr;
    if (cudaMalloc(&work, bytes) != cudaSuccess) return CUFFT_ALLOC_FAILED;
    plan->work = work;
    plan->auto_allocated = true;
  }
  (g.in_place_layout() ? plan->in_place : plan->out_of_place) = std::move(fftw);
  plan->geometry = g;
  plan->work_size = bytes;
  plan->made = true;
  *work_size = bytes;
  plans_made.fetch_add(1);
  return CUFFT_SUCCESS;
}

cufftResult exec(cufftHandle handle, cufftType type, void* idata, void* odata) {
  const std::shared_ptr<Plan> plan = find(handle);
  if (!plan) return CUFFT_INVALID_PLAN;
  const std::string where =
      std::string("cufftExec") + type_name(type) + "(plan " + std::to_string(handle) + "): ";
  std::unique_lock<std::mutex> lock(plan->mutex);
  if (!plan->made) {
    complain(where + "the plan was never made");
    return CUFFT_INVALID_PLAN;
  }
  const Geometry& g = plan->geometry;
  if (g.type != type) {
    complain(where + "the plan is " + type_name(g.type));
    return CUFFT_INVALID_VALUE;
  }
  if (!plan->auto_allocated) {
    if (plan->work == nullptr) {
      complain(where + "auto-allocation is off and no work area was set");
      return CUFFT_INVALID_VALUE;
    }
    if (!ptp_emu::is_device_range(plan->work, plan->work_size)) {
      complain(where + "the work area " + range_text(plan->work, plan->work_size) +
               " is not inside one device allocation");
      return CUFFT_INVALID_VALUE;
    }
  }
  const bool in_place = idata == odata;
  Side real, complex;
  g.sides(in_place, &real, &complex);
  const Side& in = g.forward() ? real : complex;
  const Side& out = g.forward() ? complex : real;
  const size_t in_bytes = in.extent_bytes();
  const size_t out_bytes = out.extent_bytes();
  if (idata == nullptr || !ptp_emu::is_device_range(idata, in_bytes)) {
    complain(where + "the input " + range_text(idata, in_bytes) +
             " is not inside one device allocation");
    return CUFFT_INVALID_VALUE;
  }
  if (odata == nullptr || !ptp_emu::is_device_range(odata, out_bytes)) {
    complain(where + "the output " + range_text(odata, out_bytes) +
             " is not inside one device allocation");
    return CUFFT_INVALID_VALUE;
  }
  std::shared_ptr<FftwPlan>& slot = in_place ? plan->in_place : plan->out_of_place;
  if (!slot) {
    if (in_place && !g.in_place_layout()) {
      complain(where + "the plan's layouts do not describe an in-place transform");
      return CUFFT_INVALID_VALUE;
    }
    slot = plan_fftw(g, in_place);
    if (!slot) return CUFFT_EXEC_FAILED;
  }
  std::shared_ptr<FftwPlan> fftw = slot;
  void* const work = plan->work;
  const size_t work_size = plan->work_size;
  const bool forward = g.forward();
  const cudaStream_t stream = plan->stream;
  lock.unlock();

  const cudaError_t queued =
      ptp_emu::enqueue(stream, [fftw, work, work_size, forward, idata, odata] {
        std::memset(work, 0xff, work_size);  // the work area's contents are cuFFT's
        if (forward) {
          fftwf_execute_dft_r2c(fftw->plan, static_cast<float*>(idata),
                                static_cast<fftwf_complex*>(odata));
        } else {
          fftwf_execute_dft_c2r(fftw->plan, static_cast<fftwf_complex*>(idata),
                                static_cast<float*>(odata));
        }
      });
  if (queued != cudaSuccess) {
    complain(where + "the stream refused the work");
    return CUFFT_EXEC_FAILED;
  }
  return CUFFT_SUCCESS;
}

}  // namespace

extern "C" {

__attribute__((visibility("default"))) size_t ptp_emu_cufft_plans_made(void) {
  return plans_made.load();
}

cufftResult cufftCreate(cufftHandle* handle) {
  if (handle == nullptr) return CUFFT_INVALID_VALUE;
  make_fftw_thread_safe();
  Table& t = table();
  std::lock_guard<std::mutex> lock(t.mutex);
  if (t.next == std::numeric_limits<cufftHandle>::max()) return CUFFT_INTERNAL_ERROR;
  const cufftHandle h = t.next++;
  t.plans.emplace(h, std::make_shared<Plan>());
  *handle = h;
  return CUFFT_SUCCESS;
}

cufftResult cufftDestroy(cufftHandle plan) {
  std::shared_ptr<Plan> p;
  {
    Table& t = table();
    std::lock_guard<std::mutex> lock(t.mutex);
    const auto it = t.plans.find(plan);
    if (it == t.plans.end()) return CUFFT_INVALID_PLAN;
    p = std::move(it->second);
    t.plans.erase(it);
  }
  // Queued executions keep their FFTW plan; cudaFree waits for them before
  // the work area goes.
  if (p->auto_allocated) cudaFree(p->work);
  return CUFFT_SUCCESS;
}

cufftResult cufftSetAutoAllocation(cufftHandle plan, int autoAllocate) {
  const std::shared_ptr<Plan> p = find(plan);
  if (!p) return CUFFT_INVALID_PLAN;
  std::lock_guard<std::mutex> lock(p->mutex);
  p->auto_allocate = autoAllocate != 0;  // read by cufftMakePlanMany64 only
  return CUFFT_SUCCESS;
}

cufftResult cufftMakePlanMany64(cufftHandle plan, int rank, long long int* n,
                                long long int* inembed, long long int istride, long long int idist,
                                long long int* onembed, long long int ostride, long long int odist,
                                cufftType type, long long int batch, size_t* workSize) {
  return make_plan(plan, rank, n, inembed, istride, idist, onembed, ostride, odist, type, batch,
                   workSize);
}

cufftResult cufftSetWorkArea(cufftHandle plan, void* workArea) {
  const std::shared_ptr<Plan> p = find(plan);
  if (!p) return CUFFT_INVALID_PLAN;
  void* own = nullptr;
  {
    std::lock_guard<std::mutex> lock(p->mutex);
    // An auto-allocated work area is freed for the caller's, as cuFFT does.
    if (p->auto_allocated) own = p->work;
    p->auto_allocated = false;
    p->work = workArea;
  }
  if (own != nullptr) cudaFree(own);
  return CUFFT_SUCCESS;
}

cufftResult cufftSetStream(cufftHandle plan, cudaStream_t stream) {
  const std::shared_ptr<Plan> p = find(plan);
  if (!p) return CUFFT_INVALID_PLAN;
  std::lock_guard<std::mutex> lock(p->mutex);
  p->stream = stream;
  return CUFFT_SUCCESS;
}

cufftResult cufftExecR2C(cufftHandle plan, cufftReal* idata, cufftComplex* odata) {
  return exec(plan, CUFFT_R2C, idata, odata);
}

cufftResult cufftExecC2R(cufftHandle plan, cufftComplex* idata, cufftReal* odata) {
  return exec(plan, CUFFT_C2R, idata, odata);
}

}  // extern "C"
