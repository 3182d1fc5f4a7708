// Fuzz target: the cross-correlation of one pair through the C ABI
// (ptp_correlate_desc_init, ptp_correlate_plan_create, ptp_correlate_execute
// and _f64, ptp_correlate_plan_destroy). Descriptors of any values
// (struct_size and dtype included); images of any bits (NaN, infinities,
// values near the precision's largest), at addresses FFTW planned with or
// one value off; either output NULL; now and then the execute function of
// the other precision (refused, nothing written).
// Oracles: the checks of fuzz_support.hpp; on success every value written
// is finite, phase-normalised spectra have |X| <= 1 and their correlation
// |c| <= 1 (a mean of unit phasors), and a second call gives the same bits.
#include <fuzzer/FuzzedDataProvider.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "fuzz_support.hpp"

namespace {

template <class Real>
struct Bits;
template <>
struct Bits<float> {
  using type = uint32_t;
};
template <>
struct Bits<double> {
  using type = uint64_t;
};

// `count` values of any bits, `offset` values into a 64-byte aligned block.
template <class Real>
std::vector<Real> image_storage(FuzzedDataProvider& in, int64_t count, int64_t offset) {
  std::vector<Real> storage(static_cast<size_t>(count + offset + 16));
  for (int64_t i = 0; i < count; ++i) {
    const auto bits = in.ConsumeIntegral<typename Bits<Real>::type>();
    Real value;
    std::memcpy(&value, &bits, sizeof value);
    // Mostly ordinary values, so that successes are common too.
    if (in.ConsumeIntegralInRange<int>(0, 7) != 0) value = std::ldexp(Real(bits % 2001) - 1000, -6);
    storage[static_cast<size_t>(offset + i)] = value;
  }
  return storage;
}

ptp_status execute(const ptp_correlate_plan* plan, const float* reference, const float* moving,
                   void* spectrum, float* correlation) {
  return ptp_correlate_execute(plan, reference, moving, spectrum, correlation);
}
ptp_status execute(const ptp_correlate_plan* plan, const double* reference, const double* moving,
                   void* spectrum, double* correlation) {
  return ptp_correlate_execute_f64(plan, reference, moving, spectrum, correlation);
}

// Executes `plan` with images of Real (`matches`: the plan's precision;
// else the call must be refused, writing nothing) and checks the outcome.
template <class Real>
void execute_and_check(FuzzedDataProvider& in, ptp_correlate_plan* plan,
                       const ptp_correlate_desc& desc, bool matches) {
  const char* name = sizeof(Real) == 8 ? "ptp_correlate_execute_f64" : "ptp_correlate_execute";
  const int64_t n = desc.height * desc.width;
  const int64_t bins = desc.height * (desc.width / 2 + 1);
  const int64_t ref_offset = in.ConsumeBool() ? 1 : 0;
  const int64_t mov_offset = in.ConsumeBool() ? 1 : 0;
  const std::vector<Real> ref_storage = image_storage<Real>(in, n, ref_offset);
  const std::vector<Real> mov_storage =
      in.ConsumeBool() ? ref_storage : image_storage<Real>(in, n, mov_offset);
  const Real* ref = ref_storage.data() + ref_offset;
  const Real* mov =
      mov_storage.data() + (mov_storage.data() == ref_storage.data() ? ref_offset : mov_offset);
  const bool want_spectrum = in.ConsumeIntegralInRange<int>(0, 3) != 0;
  const bool want_correlation = in.ConsumeIntegralInRange<int>(0, 3) != 0;
  fuzz::Output spectrum(static_cast<size_t>(bins) * 2 * sizeof(Real)),
      correlation(static_cast<size_t>(n) * sizeof(Real));
  const ptp_status run = execute(plan, in.ConsumeIntegralInRange<int>(0, 31) == 0 ? nullptr : ref,
                                 mov, want_spectrum ? spectrum.data() : nullptr,
                                 want_correlation ? correlation.as<Real>() : nullptr);
  fuzz::check_outputs(run, name, {&spectrum, &correlation});
  if (!want_spectrum) fuzz::require(spectrum.untouched(), "an unwanted spectrum was written");
  if (!want_correlation)
    fuzz::require(correlation.untouched(), "an unwanted correlation was written");
  if (!matches) {
    fuzz::require(run == PTP_ERROR_INVALID_ARGUMENT, "a plan of the other precision was run");
    return;
  }
  if (run != PTP_SUCCESS) return;

  const bool phase = desc.normalization == PTP_NORMALIZATION_PHASE;
  if (want_spectrum) {
    const Real* x = spectrum.as<Real>();
    for (int64_t k = 0; k < bins; ++k) {
      fuzz::require(std::isfinite(x[2 * k]) && std::isfinite(x[2 * k + 1]),
                    "a non-finite spectrum bin was returned");
      if (phase)
        fuzz::require(std::hypot(x[2 * k], x[2 * k + 1]) <= Real(1) + Real(1e-5),
                      "a phase-normalised bin exceeds 1");
    }
  }
  if (want_correlation) {
    const Real* c = correlation.as<Real>();
    for (int64_t i = 0; i < n; ++i) {
      fuzz::require(std::isfinite(c[i]), "a non-finite correlation value was returned");
      if (phase) fuzz::require(std::fabs(c[i]) <= Real(1) + Real(1e-4), "|phase correlation| > 1");
    }
  }
  // The same call again gives the same bits.
  fuzz::Output again_spectrum(spectrum.bytes()), again_correlation(correlation.bytes());
  const ptp_status rerun = execute(plan, ref, mov, want_spectrum ? again_spectrum.data() : nullptr,
                                   want_correlation ? again_correlation.as<Real>() : nullptr);
  fuzz::check_outputs(rerun, name, {&again_spectrum, &again_correlation});
  fuzz::require(rerun == PTP_SUCCESS, "a second call failed");
  if (want_spectrum)
    fuzz::require(std::memcmp(spectrum.data(), again_spectrum.data(), spectrum.bytes()) == 0,
                  "a second call gave another spectrum");
  if (want_correlation)
    fuzz::require(
        std::memcmp(correlation.data(), again_correlation.data(), correlation.bytes()) == 0,
        "a second call gave another correlation");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  ptp_context* ctx = fuzz::cpu_context(in.ConsumeIntegralInRange<int>(1, 3));

  ptp_correlate_desc desc;
  const size_t init_size = in.ConsumeIntegralInRange<int>(0, 15) == 0
                               ? in.ConsumeIntegralInRange<size_t>(0, 64)
                               : sizeof desc;
  std::memset(&desc, 0, sizeof desc);
  const ptp_status init = ptp_correlate_desc_init(&desc, init_size);
  fuzz::check_status(init, "ptp_correlate_desc_init");
  if (init != PTP_SUCCESS) desc.struct_size = init_size;
  desc.height = in.ConsumeIntegralInRange<int64_t>(-1, 12);
  desc.width = in.ConsumeIntegralInRange<int64_t>(-1, 12);
  // Now and then a side of 37 or 41: Bluestein's algorithm, the images
  // packed in one transform (src/correlate/line_correlation.hpp).
  if (in.ConsumeIntegralInRange<int>(0, 7) == 0) desc.height = in.ConsumeBool() ? 37 : 41;
  if (in.ConsumeIntegralInRange<int>(0, 7) == 0) desc.width = in.ConsumeBool() ? 37 : 41;
  // Now and then a height whose sizes overflow (>= 2^61: 8-byte bins) or
  // is negative. (Not one in between: a plan allocates its planning arrays,
  // and beyond libFuzzer's 2 GiB malloc limit that is a finding here where
  // a normal build answers PTP_ERROR_OUT_OF_MEMORY.)
  if (in.ConsumeIntegralInRange<int>(0, 31) == 0)
    desc.height = in.ConsumeBool()
                      ? in.ConsumeIntegralInRange<int64_t>(INT64_MIN, -1)
                      : in.ConsumeIntegralInRange<int64_t>(int64_t{1} << 61, INT64_MAX);
  desc.normalization = in.ConsumeIntegralInRange<int32_t>(-1, 3);
  // MEASURE rarely: it times FFTW's candidates (milliseconds at these sizes).
  desc.fft_planning = in.ConsumeIntegralInRange<int>(0, 7) == 0
                          ? in.ConsumeIntegralInRange<int32_t>(-1, 3)
                          : PTP_FFT_PLANNING_ESTIMATE;
  // float32 or float64 plans, now and then any dtype.
  if (init_size == sizeof desc)
    desc.dtype = in.ConsumeIntegralInRange<int>(0, 15) == 0
                     ? in.ConsumeIntegralInRange<int32_t>(-1, 5)
                     : (in.ConsumeBool() ? PTP_DTYPE_FLOAT64 : PTP_DTYPE_FLOAT32);

  ptp_correlate_plan* plan = nullptr;
  const ptp_status made = ptp_correlate_plan_create(ctx, &desc, &plan);
  fuzz::check_status(made, "ptp_correlate_plan_create");
  fuzz::require((made == PTP_SUCCESS) == (plan != nullptr),
                "ptp_correlate_plan_create: a plan exactly on success");
  if (made != PTP_SUCCESS) return 0;

  // The plan's precision: dtype where the struct has it (0.4.0's shorter
  // one plans float32). Now and then the other precision's execute.
  const bool f64 = desc.struct_size == sizeof desc && desc.dtype == PTP_DTYPE_FLOAT64;
  const bool mismatch = in.ConsumeIntegralInRange<int>(0, 15) == 0;
  if (f64 != mismatch)
    execute_and_check<double>(in, plan, desc, !mismatch);
  else
    execute_and_check<float>(in, plan, desc, !mismatch);
  fuzz::check_status(ptp_correlate_plan_destroy(plan), "ptp_correlate_plan_destroy");
  return 0;
}
