// Fuzz target: patch extraction and its adjoint through the C ABI
// (ptp_extract_patches, ptp_extract_plan_create / _execute /
// _execute_legacy, ptp_reassemble_execute, ptp_extract_offsets_gradient). Descriptors of any
// values, valid or not; offsets of any bits (NaN, infinities, huge values) or ordinary positions;
// patch counts that do or do not fit the group size and the output. Oracles: the checks of
// fuzz_support.hpp, and for valid float32 offsets, bitwise equality with
// tests/cpp/legacy_oracle.hpp, a plain transcription of docs/semantics.md that shares no code with
// the library.
#include <fuzzer/FuzzedDataProvider.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "../cpp/legacy_oracle.hpp"
#include "fuzz_support.hpp"

namespace {

// An enum field: mostly its valid values, sometimes anything.
int32_t pick(FuzzedDataProvider& in, std::initializer_list<int32_t> valid) {
  if (in.ConsumeIntegralInRange<int>(0, 15) == 0) return in.ConsumeIntegral<int32_t>();
  const int index = in.ConsumeIntegralInRange<int>(0, static_cast<int>(valid.size()) - 1);
  return *(valid.begin() + index);
}

// A size: mostly small and valid, sometimes invalid or so large that its
// products overflow. Never a valid size larger than the arrays below: the
// library cannot know the caller's array sizes, and reading past them would
// be the harness's bug.
int64_t size_value(FuzzedDataProvider& in, int64_t low, int64_t high) {
  if (in.ConsumeIntegralInRange<int>(0, 31) == 0) {
    constexpr int64_t kBad[] = {0, -1, INT64_MIN, INT64_MAX, int64_t{1} << 62};
    return kBad[in.ConsumeIntegralInRange<int>(0, 4)];
  }
  return in.ConsumeIntegralInRange<int64_t>(low, high);
}

template <class T>
T offset_value(FuzzedDataProvider& in, int64_t extent) {
  switch (in.ConsumeIntegralInRange<int>(0, 7)) {
    case 0: {  // any bits
      T v;
      const auto bytes = in.ConsumeBytes<unsigned char>(sizeof v);
      std::memset(&v, 0, sizeof v);
      if (!bytes.empty()) std::memcpy(&v, bytes.data(), bytes.size());
      return v;
    }
    case 1:
      return static_cast<T>(in.ConsumeIntegralInRange<int64_t>(-extent, 2 * extent));
    default:
      return static_cast<T>(
          in.ConsumeFloatingPointInRange<double>(-double(extent), 2.0 * double(extent)));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  ptp_context* ctx = fuzz::cpu_context(in.ConsumeIntegralInRange<int>(1, 3));

  ptp_extract_desc desc;
  ptp_extract_desc_init(&desc, sizeof desc);
  desc.height = size_value(in, 1, 20);
  desc.width = size_value(in, 1, 20);
  desc.patch_size = size_value(in, 1, 9);
  desc.group_size = size_value(in, 1, 4);
  desc.object_dtype = pick(in, {PTP_DTYPE_COMPLEX64, PTP_DTYPE_FLOAT32});
  desc.offset_dtype = pick(in, {PTP_DTYPE_FLOAT64, PTP_DTYPE_FLOAT32});
  desc.layout = pick(in, {PTP_LAYOUT_CHANNEL, PTP_LAYOUT_FLAT});
  desc.memory = pick(in, {PTP_MEMORY_HOST, PTP_MEMORY_HOST, PTP_MEMORY_HOST, PTP_MEMORY_DEVICE});
  const bool valid_shape = desc.height >= 1 && desc.height <= 20 && desc.width >= 1 &&
                           desc.width <= 20 && desc.patch_size >= 1 && desc.patch_size <= 9 &&
                           desc.group_size >= 1 && desc.group_size <= 4;
  // Arrays are sized from the valid ranges; an invalid descriptor must be
  // refused before anything is read.
  const int64_t h = valid_shape ? desc.height : 4, w = valid_shape ? desc.width : 4;
  const int64_t n = valid_shape ? desc.patch_size : 2, c = valid_shape ? desc.group_size : 1;
  const int lanes = desc.object_dtype == PTP_DTYPE_COMPLEX64 ? 2 : 1;
  const int64_t num_patches = in.ConsumeIntegralInRange<int64_t>(-1, 3 * c + 1);
  const int64_t pairs = std::max<int64_t>(num_patches, 0);

  std::vector<float> object(static_cast<size_t>(h * w * lanes));
  for (float& v : object) v = in.ConsumeFloatingPointInRange<float>(-4.0f, 4.0f);
  const bool f32 = desc.offset_dtype == PTP_DTYPE_FLOAT32;
  std::vector<double> off64(static_cast<size_t>(2 * pairs));
  std::vector<float> off32(static_cast<size_t>(2 * pairs));
  for (int64_t i = 0; i < 2 * pairs; ++i) {
    if (f32)
      off32[i] = offset_value<float>(in, std::max(h, w));
    else
      off64[i] = offset_value<double>(in, std::max(h, w));
  }
  const void* offsets = f32 ? static_cast<const void*>(off32.data()) : off64.data();

  // The output: exactly the size, one element short, or a lying size.
  const size_t needed = static_cast<size_t>(pairs * n * n * lanes) * sizeof(float);
  const int size_choice = in.ConsumeIntegralInRange<int>(0, 5);
  fuzz::Output out(needed);
  size_t claimed = needed;
  if (size_choice == 0 && needed > 0) claimed = needed - sizeof(float);

  const ptp_status status =
      ptp_extract_patches(ctx, &desc, object.data(), offsets, num_patches, out.data(), claimed);
  fuzz::check_outputs(status, "ptp_extract_patches", {&out});

  if (status == PTP_SUCCESS) {
    fuzz::require(valid_shape, "an invalid descriptor was accepted");
    fuzz::require(num_patches >= 0 && num_patches % c == 0, "a bad patch count was accepted");
    if (f32 && num_patches > 0) {
      oracle::Image image{h, w, lanes, object};
      const std::vector<float> want =
          oracle::extract(image, n, off32, desc.layout == PTP_LAYOUT_CHANNEL, c);
      fuzz::require(std::memcmp(want.data(), out.data(), needed) == 0,
                    "extraction differs from the plain oracle");
    }
    // The adjoint on the same geometry must accept what extraction wrote.
    ptp_extract_plan* plan = nullptr;
    ptp_status made = ptp_extract_plan_create(ctx, &desc, &plan);
    fuzz::check_status(made, "ptp_extract_plan_create");
    fuzz::require(made == PTP_SUCCESS, "a plan for an accepted descriptor failed");
    fuzz::Output canvas(static_cast<size_t>(h * w * lanes) * sizeof(float));
    fuzz::Output weights(static_cast<size_t>(h * w) * sizeof(float));
    const ptp_status added = ptp_reassemble_execute(
        plan, out.data(), offsets, num_patches, canvas.data(), canvas.bytes(),
        in.ConsumeBool() ? weights.as<float>() : nullptr, weights.bytes());
    fuzz::check_outputs(added, "ptp_reassemble_execute", {&canvas});
    fuzz::require(added == PTP_SUCCESS, "reassembling accepted patches failed");
    // The offsets gradient, the patches standing in for the upstream gradient:
    // exactly the pairs' bytes, or one element short (refused, output untouched).
    const size_t pair_bytes = static_cast<size_t>(2 * pairs) * (f32 ? 4 : 8);
    const bool short_gradient = pair_bytes > 0 && in.ConsumeBool();
    fuzz::Output gradient(pair_bytes);
    const ptp_status graded = ptp_extract_offsets_gradient(
        plan, object.data(), offsets, num_patches, out.data(), needed, gradient.data(),
        short_gradient ? pair_bytes - (f32 ? 4 : 8) : pair_bytes);
    fuzz::check_outputs(graded, "ptp_extract_offsets_gradient", {&gradient});
    fuzz::require((graded == PTP_SUCCESS) == !short_gradient,
                  "the offsets gradient of accepted patches failed, or took a short output");
    ptp_extract_plan_destroy(plan);
  }
  return 0;
}
