// A C++17 program built against the INSTALLED libptychopatch through the
// header-only wrapper ptychopatch.hpp (tests/consumer).
#include <cstdio>
#include <vector>

#include <ptychopatch.hpp>

int main() {
  int failures = 0;
  auto expect = [&](bool ok, const char* what) {
    if (!ok) {
      ++failures;
      std::fprintf(stderr, "consumer.cpp: expected %s\n", what);
    }
  };
  try {
    const int64_t h = 4, w = 5, n = 2;
    std::vector<float> object(static_cast<size_t>(h * w));
    for (size_t i = 0; i < object.size(); ++i) object[i] = static_cast<float>(i) + 0.5f;
    ptychopatch::Context ctx(PTP_BACKEND_CPU, 1);
    expect(ctx.backend() == PTP_BACKEND_CPU, "a CPU context");
    ptychopatch::ExtractPlan<float, double> plan(ctx, h, w, n, 1, PTP_LAYOUT_FLAT);
    // Centre (x, y) = (3, 2), N = 2, h = 1: rows 1..2, columns 2..3.
    const std::vector<float> patch = plan.execute(object.data(), std::vector<double>{3.0, 2.0});
    expect(patch.size() == 4, "one 2 x 2 patch");
    expect(patch.size() == 4 && patch[0] == object[1 * w + 2] && patch[1] == object[1 * w + 3] &&
               patch[2] == object[2 * w + 2] && patch[3] == object[2 * w + 3],
           "the patch is the crop");
    const auto back = plan.reassemble(patch.data(), std::vector<double>{3.0, 2.0});
    expect(back.weights[1 * w + 2] == 1.0f && back.weights[0] == 0.0f, "reassembly weights");

    bool threw = false;
    try {
      ptychopatch::ExtractPlan<std::complex<float>> bad(ctx, h, w, 0);
    } catch (const ptychopatch::Error& e) {
      threw = e.status() == PTP_ERROR_INVALID_SIZE;
    }
    expect(threw, "patch_size 0 throws ptychopatch::Error(PTP_ERROR_INVALID_SIZE)");
    std::printf("consumer_cxx: libptychopatch %s, %s\n", ptychopatch::version().c_str(),
                failures == 0 ? "ok" : "FAILED");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "consumer.cpp: unexpected exception: %s\n", e.what());
    return 1;
  }
  return failures == 0 ? 0 : 1;
}
