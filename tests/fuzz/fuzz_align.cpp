// Fuzz target: scene alignment through the C ABI (ptp_align_plan_create,
// ptp_align_set_reference, ptp_align_execute, ptp_align_execute_frames,
// ptp_align_set_progress, and
// the plan's progress callback, which may cancel or try to change its own
// plan). Descriptors of any values; frames of any bits (NaN, infinities,
// values near FLT_MAX), uint16 or float32, planar, Bayer or X-Trans.
// Oracles: the checks of fuzz_support.hpp; on success a confidence in
// [0, 1] and finite shifts for every frame (NaN for both axes, confidence
// 0, when no plane carried information); a cancelled call writes the
// frames it finished and nothing for the others; calls from the callback on
// its own plan are refused. ptp_align_execute_frames on the same frames
// (NULL frames among them): every result has a known status, a NaN shift
// and crop 0 unless it succeeded, else a finite shift, a crop within a
// period of it and a confidence in [0, 1].
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
  int64_t last_done = 0;
};

int32_t progress(int64_t done, int64_t total, void* user) {
  auto* cb = static_cast<Callback*>(user);
  ++cb->calls;
  // Frames done so far, increasing (ptp_align_execute_frames skips the
  // frames it does not align, so it may step by more than one).
  fuzz::require(done > cb->last_done && done <= total, "progress out of order");
  cb->last_done = done;
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
  desc.normalization = in.ConsumeIntegralInRange<int32_t>(-1, 3);
  desc.window = in.ConsumeIntegralInRange<int32_t>(-1, 2);
  desc.combine = in.ConsumeIntegralInRange<int32_t>(-1, 3);
  desc.max_shift =
      in.ConsumeIntegralInRange<int>(0, 3) == 0 ? in.ConsumeIntegralInRange<int64_t>(-2, 20) : 0;
  desc.method = in.ConsumeIntegralInRange<int>(0, 7) == 0
                    ? in.ConsumeIntegralInRange<int32_t>(-1, 2)
                    : PTP_ALIGN_METHOD_CORRELATION;
  if (desc.method == PTP_ALIGN_METHOD_RAWNIND && in.ConsumeBool()) {
    ptp_align_desc defaults;
    ptp_align_desc_init(&defaults, sizeof defaults);
    desc.normalization = defaults.normalization;
    desc.window = defaults.window;
    desc.combine = defaults.combine;
    desc.max_shift = 0;
  }
  // verify: mostly off (each check is a second alignment), sometimes on,
  // rarely invalid.
  const int verify = in.ConsumeIntegralInRange<int>(0, 31);
  desc.verify = verify == 0 ? 3 : verify < 3 ? verify : 0;
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

  // Per-frame results: some frames NULL, the rest as above.
  std::vector<const void*> some = moving;
  for (auto& f : some)
    if (in.ConsumeIntegralInRange<int>(0, 5) == 0) f = nullptr;
  cb.calls = 0;
  cb.last_done = 0;
  cb.cancel_at = in.ConsumeIntegralInRange<int64_t>(0, count + 1);
  fuzz::Output results(static_cast<size_t>(count) * sizeof(ptp_align_result));
  const ptp_status per_frame = ptp_align_execute_frames(
      plan, some.data(), count, reinterpret_cast<ptp_align_result*>(results.as<double>()), nullptr);
  fuzz::check_status(per_frame, "ptp_align_execute_frames");
  if (per_frame == PTP_SUCCESS || per_frame == PTP_ERROR_CANCELLED) {
    results.check_guards("ptp_align_execute_frames");
    fuzz::require(per_frame == PTP_SUCCESS || referenced == PTP_SUCCESS,
                  "frames aligned without a reference");
    const auto* r = reinterpret_cast<const ptp_align_result*>(results.as<double>());
    const double period = desc.cfa == PTP_CFA_XTRANS ? 6.0 : desc.cfa == PTP_CFA_BAYER ? 2.0 : 1.0;
    for (int64_t i = 0; i < count && referenced == PTP_SUCCESS; ++i) {
      fuzz::require(std::string(ptp_status_name(r[i].status)) != "PTP_UNKNOWN_STATUS",
                    "a per-frame status that is not a status");
      fuzz::require(std::memchr(r[i].message, 0, sizeof r[i].message) != nullptr,
                    "a per-frame message without its NUL");
      // A message on every failure; on success none, or a note: one of
      // the confidence-0 notes (a peak at max_shift's bound, a frame whose
      // smoothed luminance does not correlate with the reference's, a
      // reference of another pattern family or a mosaic given none, a refined
      // shift past max_shift, a fit that gives the crop no chance, a peak
      // in the noise, a frame that does not move as a whole), or a frame
      // the polish could not fit (confidence above 0: the peak's margin).
      // With the fine stage every confidence of 0 has its note.
      const bool note = r[i].status == PTP_SUCCESS && r[i].message[0] != 0;
      fuzz::require(r[i].status == PTP_SUCCESS || r[i].message[0] != 0,
                    "a failed frame without a message");
      bool zero_note = false;
      for (const char* words :
           {"max_shift's bound", "may not show", "does not look like", "beyond max_shift",
            "no chance", "stands no higher", "does not move as a whole"})
        zero_note = zero_note || std::strstr(r[i].message, words) != nullptr;
      fuzz::require(r[i].status != PTP_SUCCESS || r[i].confidence != 0.0 || note ||
                        desc.verify == PTP_ALIGN_VERIFY_NONE ||
                        desc.method != PTP_ALIGN_METHOD_CORRELATION,
                    "a frame at confidence 0 without a note, with the fine stage");
      const bool fit_note = std::strstr(r[i].message, "no least-squares fit") != nullptr;
      fuzz::require(!note || (zero_note && r[i].confidence == 0.0) ||
                        (fit_note && !zero_note && r[i].confidence > 0.0),
                    "a per-frame message on success that is not one of the notes");
      if (some[i] == nullptr)
        fuzz::require(r[i].status == PTP_ERROR_INVALID_ARGUMENT, "a NULL frame was aligned");
      if (r[i].status != PTP_SUCCESS) {
        fuzz::require(std::isnan(r[i].shift[0]) && std::isnan(r[i].shift[1]) && r[i].crop[0] == 0 &&
                          r[i].crop[1] == 0 && r[i].confidence == 0.0,
                      "a frame without a result has a shift, crop or confidence");
        continue;
      }
      fuzz::require(std::isfinite(r[i].shift[0]) && std::isfinite(r[i].shift[1]),
                    "an aligned frame without a finite shift");
      fuzz::require(r[i].confidence >= 0.0 && r[i].confidence <= 1.0,
                    "a confidence outside [0, 1]");
      if (desc.method != PTP_ALIGN_METHOD_RAWNIND && desc.snap == 0)
        for (int k = 0; k < 2; ++k)
          fuzz::require(std::fabs(static_cast<double>(r[i].crop[k]) - r[i].shift[k]) <= period,
                        "a crop more than a period from its shift");
    }
  } else {
    fuzz::check_outputs(per_frame, "ptp_align_execute_frames", {&results});
  }
  fuzz::check_status(ptp_align_plan_destroy(plan), "ptp_align_plan_destroy");
  return 0;
}
