// Fuzz target: scene alignment through the C ABI (ptp_align_plan_create,
// ptp_align_set_reference, ptp_align_execute, ptp_align_set_progress, and
// the plan's progress callback, which may cancel or try to change its own
// plan). Descriptors of any values; frames of any bits (NaN, infinities,
// values near FLT_MAX), uint16 or float32, planar, Bayer or X-Trans.
// Oracles: the checks of fuzz_support.hpp; on success a confidence in
// [0, 1] and finite shifts for every frame (NaN for both axes, confidence
// 0, when no plane carried information); a cancelled call writes the
// frames it finished and nothing for the others; calls from the callback on
// its own plan are refused.
#include <fuzzer/FuzzedDataProvider.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "fuzz_support.hpp"

namespace {

struct Callback {
  ptp_align_plan* plan = nullptr;
  const void* frame = nullptr;
  int64_t cancel_at = -1;
  int64_t calls = 0;
};

int32_t progress(int64_t done, int64_t total, void* user) {
  auto* cb = static_cast<Callback*>(user);
  ++cb->calls;
  fuzz::require(done == cb->calls && done <= total, "progress out of order");
  fuzz::require(ptp_align_set_reference(cb->plan, cb->frame) == PTP_ERROR_INVALID_ARGUMENT,
                "a callback changed its own plan's reference");
  return done == cb->cancel_at ? 1 : 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  ptp_context* ctx = fuzz::cpu_context(in.ConsumeIntegralInRange<int>(1, 3));

  ptp_align_desc desc;
  ptp_align_desc_init(&desc, sizeof desc);
  desc.height = in.ConsumeIntegralInRange<int64_t>(-1, 14);
  desc.width = in.ConsumeIntegralInRange<int64_t>(-1, 14);
  desc.cfa = in.ConsumeIntegralInRange<int32_t>(-1, 3);
  desc.channels = desc.cfa == PTP_CFA_NONE ? in.ConsumeIntegralInRange<int64_t>(0, 3) : 1;
  desc.frame_dtype = in.ConsumeBool() ? PTP_DTYPE_FLOAT32 : PTP_DTYPE_UINT16;
  if (in.ConsumeIntegralInRange<int>(0, 15) == 0) desc.frame_dtype = in.ConsumeIntegral<int32_t>();
  const bool fuzz_pattern = in.ConsumeIntegralInRange<int>(0, 7) == 0;
  for (int k = 0; k < 36; ++k) {
    if (fuzz_pattern)
      desc.pattern[k] = in.ConsumeIntegralInRange<int32_t>(-1, 4);
    else if (desc.cfa == PTP_CFA_XTRANS)
      desc.pattern[k] = (k * 7 + k / 6) % 3;  // all three colours, not a real layout
  }
  desc.upsample_factor = in.ConsumeIntegralInRange<int>(0, 7) == 0
                             ? in.ConsumeIntegral<int32_t>()
                             : in.ConsumeIntegralInRange<int32_t>(1, 20);
  desc.normalization = in.ConsumeIntegralInRange<int32_t>(-1, 2);
  desc.window = in.ConsumeIntegralInRange<int32_t>(-1, 2);
  desc.combine = in.ConsumeIntegralInRange<int32_t>(-1, 2);
  desc.snap =
      in.ConsumeIntegralInRange<int32_t>(0, 2) == 2 ? 2 : in.ConsumeIntegralInRange<int32_t>(0, 1);

  ptp_align_plan* plan = nullptr;
  const ptp_status made = ptp_align_plan_create(ctx, &desc, &plan);
  fuzz::check_status(made, "ptp_align_plan_create");
  if (made != PTP_SUCCESS) {
    fuzz::require(plan == nullptr, "a failed plan_create wrote the handle");
    return 0;
  }
  int64_t planes = 0;
  fuzz::check_status(ptp_align_plan_num_planes(plan, &planes), "ptp_align_plan_num_planes");

  // Frames: reference plus up to three moving frames, of any bits.
  const size_t elements = static_cast<size_t>(desc.height * desc.width * desc.channels);
  const size_t element_bytes = desc.frame_dtype == PTP_DTYPE_FLOAT32 ? 4 : 2;
  const int64_t count = in.ConsumeIntegralInRange<int64_t>(0, 3);
  std::vector<std::vector<unsigned char>> frames(static_cast<size_t>(count + 1));
  const bool ordinary = in.ConsumeBool();
  for (auto& frame : frames) {
    frame.assign(elements * element_bytes, 0);
    if (ordinary && element_bytes == 4) {
      for (size_t i = 0; i < elements; ++i) {
        const float v = in.ConsumeFloatingPointInRange<float>(0.0f, 1000.0f);
        std::memcpy(frame.data() + 4 * i, &v, 4);
      }
    } else {
      const auto bytes = in.ConsumeBytes<unsigned char>(frame.size());
      if (!bytes.empty()) std::memcpy(frame.data(), bytes.data(), bytes.size());
    }
  }

  Callback cb;
  cb.plan = plan;
  cb.frame = frames[0].data();
  cb.cancel_at = in.ConsumeIntegralInRange<int64_t>(0, count + 1);
  if (in.ConsumeBool())
    fuzz::check_status(ptp_align_set_progress(plan, progress, &cb), "ptp_align_set_progress");

  const ptp_status referenced = ptp_align_set_reference(plan, frames[0].data());
  fuzz::check_status(referenced, "ptp_align_set_reference");

  std::vector<const void*> moving;
  for (int64_t i = 1; i <= count; ++i) moving.push_back(frames[i].data());
  fuzz::Output shifts(static_cast<size_t>(2 * count) * sizeof(double));
  fuzz::Output plane_shifts(static_cast<size_t>(2 * count * planes) * sizeof(double));
  fuzz::Output confidence(static_cast<size_t>(count) * sizeof(double));
  const ptp_status status = ptp_align_execute(plan, moving.data(), count, shifts.as<double>(),
                                              plane_shifts.as<double>(), confidence.as<double>());
  if (status == PTP_ERROR_CANCELLED) {
    fuzz::check_status(status, "ptp_align_execute");
    for (const fuzz::Output* out : {&shifts, &plane_shifts, &confidence})
      out->check_guards("ptp_align_execute (cancelled)");
    fuzz::require(cb.calls == cb.cancel_at, "cancelled at another frame than asked");
  } else {
    fuzz::check_outputs(status, "ptp_align_execute", {&shifts, &plane_shifts, &confidence});
    if (status == PTP_SUCCESS) {
      fuzz::require(referenced == PTP_SUCCESS, "frames aligned without a reference");
      for (int64_t i = 0; i < count; ++i) {
        const double c = confidence.as<double>()[i];
        const double dy = shifts.as<double>()[2 * i], dx = shifts.as<double>()[2 * i + 1];
        fuzz::require(c >= 0.0 && c <= 1.0, "a confidence outside [0, 1]");
        // Finite, or NaN for both axes exactly when no plane carried
        // information (confidence 0).
        const bool none = std::isnan(dy) && std::isnan(dx) && c == 0.0;
        fuzz::require(none || (std::isfinite(dy) && std::isfinite(dx)),
                      "a shift is neither finite nor the no-information NaN pair");
      }
    }
  }
  fuzz::check_status(ptp_align_plan_destroy(plan), "ptp_align_plan_destroy");
  return 0;
}
