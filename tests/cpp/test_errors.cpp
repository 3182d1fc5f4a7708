// Every bad input: a clear status, a message naming the argument, and the
// output left untouched.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "ptychopatch.hpp"

namespace {

constexpr float kSentinel = 12345.0f;

class BadInput : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(ptp_context_create(nullptr, &ctx_), PTP_SUCCESS);
    ptp_extract_desc_init(&desc_, sizeof desc_);
    desc_.height = 8;
    desc_.width = 9;
    desc_.patch_size = 4;
    desc_.group_size = 2;
    object_.assign(8 * 9 * 2, 0.5f);
    offsets_ = {1, 1, 2, 2, 3, 3, 4, 4};  // 4 patches
    out_.assign(4 * 4 * 4 * 2, kSentinel);
  }
  void TearDown() override { ptp_context_destroy(ctx_); }

  ptp_status execute(const void* object, const void* offsets, int64_t count, void* out,
                     size_t bytes) {
    ptp_extract_plan* plan = nullptr;
    EXPECT_EQ(ptp_extract_plan_create(ctx_, &desc_, &plan), PTP_SUCCESS)
        << ptp_last_error_message();
    const ptp_status st = ptp_extract_execute(plan, object, offsets, count, out, bytes);
    const std::string message = ptp_last_error_message();
    ptp_extract_plan_destroy(plan);
    message_ = message;
    return st;
  }
  ptp_status execute_default() {
    return execute(object_.data(), offsets_.data(), 4, out_.data(), bytes());
  }
  size_t bytes() const { return out_.size() * sizeof(float); }

  void expect_untouched() const {
    for (float v : out_) ASSERT_EQ(v, kSentinel) << "output was written despite the error";
  }
  void expect_message_mentions(const std::string& word) const {
    EXPECT_NE(message_.find(word), std::string::npos)
        << "message '" << message_ << "' does not mention '" << word << "'";
  }
  ptp_status create_plan_expecting_failure() {
    ptp_extract_plan* plan = reinterpret_cast<ptp_extract_plan*>(0x1);
    const ptp_status st = ptp_extract_plan_create(ctx_, &desc_, &plan);
    message_ = ptp_last_error_message();
    EXPECT_EQ(plan, reinterpret_cast<ptp_extract_plan*>(0x1)) << "plan written on failure";
    return st;
  }

  ptp_context* ctx_ = nullptr;
  ptp_extract_desc desc_{};
  std::vector<float> object_;
  std::vector<double> offsets_;
  std::vector<float> out_;
  std::string message_;
};

TEST_F(BadInput, ValidCallSucceedsAndClearsTheMessage) {
  desc_.patch_size = -1;
  create_plan_expecting_failure();
  desc_.patch_size = 4;
  ASSERT_EQ(execute_default(), PTP_SUCCESS);
  EXPECT_EQ(message_, "");
}

TEST_F(BadInput, NonFiniteOffsetsAreRejected) {
  for (double bad : {std::nan(""), std::numeric_limits<double>::infinity(),
                     -std::numeric_limits<double>::infinity(), 1e300 /* inf in float32 */}) {
    offsets_[5] = bad;
    EXPECT_EQ(execute_default(), PTP_ERROR_NON_FINITE) << bad;
    expect_message_mentions("offsets");
    expect_message_mentions("patch 2");
    expect_untouched();
  }
}

TEST_F(BadInput, NonFiniteLegacyOffsetsAreRejected) {
  ptp_extract_plan* plan = nullptr;
  ASSERT_EQ(ptp_extract_plan_create(ctx_, &desc_, &plan), PTP_SUCCESS);
  const double global[4] = {1, 2, 3, 4};
  double local[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  local[6] = std::numeric_limits<double>::infinity();  // group 1, y, member 0
  EXPECT_EQ(
      ptp_extract_execute_legacy(plan, object_.data(), global, local, 2, out_.data(), bytes()),
      PTP_ERROR_NON_FINITE);
  message_ = ptp_last_error_message();
  expect_message_mentions("group 1 member 0");
  expect_untouched();
  EXPECT_EQ(
      ptp_extract_execute_legacy(plan, object_.data(), nullptr, local, 2, out_.data(), bytes()),
      PTP_ERROR_INVALID_ARGUMENT);
  message_ = ptp_last_error_message();
  expect_message_mentions("global_offsets");
  EXPECT_EQ(
      ptp_extract_execute_legacy(plan, object_.data(), global, local, -1, out_.data(), bytes()),
      PTP_ERROR_INVALID_SIZE);
  expect_untouched();
  ptp_extract_plan_destroy(plan);
}

TEST_F(BadInput, PatchSizeOutOfRange) {
  for (int64_t n : {int64_t{0}, int64_t{-5}, (int64_t{1} << 24) + 1}) {
    desc_.patch_size = n;
    EXPECT_EQ(create_plan_expecting_failure(), PTP_ERROR_INVALID_SIZE) << n;
    expect_message_mentions("patch_size");
  }
}

TEST_F(BadInput, LegacyNullLocalOffsetsAndFloat64Overflow) {
  ptp_extract_plan* plan = nullptr;
  ASSERT_EQ(ptp_extract_plan_create(ctx_, &desc_, &plan), PTP_SUCCESS);
  const double global[2] = {1e308, 2};
  const double local[4] = {1e308, 0, 0, 0};  // 1e308 + 1e308 overflows float64
  EXPECT_EQ(
      ptp_extract_execute_legacy(plan, object_.data(), global, nullptr, 1, out_.data(), bytes()),
      PTP_ERROR_INVALID_ARGUMENT);
  message_ = ptp_last_error_message();
  expect_message_mentions("local_offsets");
  EXPECT_EQ(
      ptp_extract_execute_legacy(plan, object_.data(), global, local, 1, out_.data(), bytes()),
      PTP_ERROR_NON_FINITE);
  expect_untouched();
  ptp_extract_plan_destroy(plan);
}

TEST_F(BadInput, EmptyObject) {
  desc_.height = 0;
  EXPECT_EQ(create_plan_expecting_failure(), PTP_ERROR_INVALID_SIZE);
  expect_message_mentions("height");
  desc_.height = 8;
  desc_.width = -3;
  EXPECT_EQ(create_plan_expecting_failure(), PTP_ERROR_INVALID_SIZE);
  expect_message_mentions("width");
}

TEST_F(BadInput, NullPointersWithNonZeroCount) {
  EXPECT_EQ(execute(nullptr, offsets_.data(), 4, out_.data(), bytes()), PTP_ERROR_INVALID_ARGUMENT);
  expect_message_mentions("'object'");
  EXPECT_EQ(execute(object_.data(), nullptr, 4, out_.data(), bytes()), PTP_ERROR_INVALID_ARGUMENT);
  expect_message_mentions("'offsets'");
  EXPECT_EQ(execute(object_.data(), offsets_.data(), 4, nullptr, bytes()),
            PTP_ERROR_INVALID_ARGUMENT);
  expect_message_mentions("'patches'");
  expect_untouched();
  EXPECT_EQ(ptp_extract_execute(nullptr, object_.data(), offsets_.data(), 4, out_.data(), bytes()),
            PTP_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(ptp_extract_plan_create(ctx_, nullptr, nullptr), PTP_ERROR_INVALID_ARGUMENT);
  ptp_extract_plan* plan = nullptr;
  EXPECT_EQ(ptp_extract_plan_create(nullptr, &desc_, &plan), PTP_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(plan, nullptr);
  expect_untouched();
}

TEST_F(BadInput, SizeProductsThatOverflow) {
  desc_.height = int64_t{1} << 40;
  desc_.width = int64_t{1} << 40;
  EXPECT_EQ(create_plan_expecting_failure(), PTP_ERROR_SIZE_OVERFLOW);
  desc_.height = 8;
  desc_.width = 9;
  desc_.patch_size = int64_t{1} << 24;
  desc_.group_size = int64_t{1} << 20;
  EXPECT_EQ(create_plan_expecting_failure(), PTP_ERROR_SIZE_OVERFLOW);
  desc_.group_size = 2;
  desc_.patch_size = 4;
  const int64_t huge = int64_t{1} << 60;
  EXPECT_EQ(execute(object_.data(), offsets_.data(), huge, out_.data(), bytes()),
            PTP_ERROR_SIZE_OVERFLOW);
  size_t size = 7;
  EXPECT_EQ(ptp_extract_output_bytes(&desc_, huge, &size), PTP_ERROR_SIZE_OVERFLOW);
  EXPECT_EQ(size, 7u);
  expect_untouched();
}

TEST_F(BadInput, OutputTooSmall) {
  EXPECT_EQ(execute(object_.data(), offsets_.data(), 4, out_.data(), bytes() - 1),
            PTP_ERROR_BUFFER_TOO_SMALL);
  expect_message_mentions("patches_bytes");
  expect_untouched();
}

TEST_F(BadInput, CountNotAMultipleOfGroupSizeOrNegative) {
  EXPECT_EQ(execute(object_.data(), offsets_.data(), 3, out_.data(), bytes()),
            PTP_ERROR_INVALID_SIZE);
  expect_message_mentions("group_size");
  EXPECT_EQ(execute(object_.data(), offsets_.data(), -2, out_.data(), bytes()),
            PTP_ERROR_INVALID_SIZE);
  expect_untouched();
}

TEST_F(BadInput, UnknownEnumValuesAndStructSizes) {
  const ptp_extract_desc good = desc_;
  desc_.object_dtype = PTP_DTYPE_FLOAT64;
  EXPECT_EQ(create_plan_expecting_failure(), PTP_ERROR_INVALID_ARGUMENT);
  expect_message_mentions("object_dtype");
  desc_ = good;
  desc_.offset_dtype = 42;
  EXPECT_EQ(create_plan_expecting_failure(), PTP_ERROR_INVALID_ARGUMENT);
  expect_message_mentions("offset_dtype");
  desc_ = good;
  desc_.layout = 7;
  EXPECT_EQ(create_plan_expecting_failure(), PTP_ERROR_INVALID_ARGUMENT);
  expect_message_mentions("layout");
  desc_ = good;
  desc_.memory = 3;
  EXPECT_EQ(create_plan_expecting_failure(), PTP_ERROR_INVALID_ARGUMENT);
  expect_message_mentions("memory");
  desc_ = good;
  desc_.struct_size = 8;
  EXPECT_EQ(create_plan_expecting_failure(), PTP_ERROR_INVALID_ARGUMENT);
  expect_message_mentions("struct_size");
  desc_ = good;
  desc_.group_size = 0;
  EXPECT_EQ(create_plan_expecting_failure(), PTP_ERROR_INVALID_SIZE);
  expect_message_mentions("group_size");
}

TEST_F(BadInput, DeviceArraysNeedAGpuContext) {
  desc_.memory = PTP_MEMORY_DEVICE;
  int32_t backend = PTP_BACKEND_CPU;
  ASSERT_EQ(ptp_context_get_backend(ctx_, &backend), PTP_SUCCESS);
  if (backend == PTP_BACKEND_GPU) {
    // Host vectors passed as device arrays: named, rejected, untouched.
    EXPECT_EQ(execute_default(), PTP_ERROR_INVALID_ARGUMENT);
    expect_message_mentions("is not CUDA device memory");
  } else {
    EXPECT_EQ(execute_default(), PTP_ERROR_UNSUPPORTED);
    expect_message_mentions("device arrays need a GPU context");
  }
  expect_untouched();
}

TEST(ErrorState, MessageIsThreadLocal) {
  ptp_extract_plan* plan = nullptr;
  ASSERT_EQ(ptp_extract_plan_create(nullptr, nullptr, &plan), PTP_ERROR_INVALID_ARGUMENT);
  const std::string here = ptp_last_error_message();
  EXPECT_NE(here.find("ptp_extract_plan_create"), std::string::npos) << here;
  std::string there = "unset";
  std::thread([&] { there = ptp_last_error_message(); }).join();
  EXPECT_EQ(there, "");
  EXPECT_EQ(here, ptp_last_error_message());
}

TEST(ErrorState, StatusNamesAreDistinctAndNeverNull) {
  EXPECT_STREQ(ptp_status_name(PTP_SUCCESS), "PTP_SUCCESS");
  EXPECT_STREQ(ptp_status_name(PTP_ERROR_NON_FINITE), "PTP_ERROR_NON_FINITE");
  EXPECT_STREQ(ptp_status_name(1234), "PTP_UNKNOWN_STATUS");
  EXPECT_STREQ(ptp_status_name(-1), "PTP_UNKNOWN_STATUS");
}

TEST(ErrorState, CppWrapperThrowsWithStatusAndMessage) {
  ptychopatch::Context ctx(PTP_BACKEND_CPU);
  try {
    ptychopatch::ExtractPlan<float> plan(ctx, 4, 4, 0);
    FAIL() << "no exception";
  } catch (const ptychopatch::Error& e) {
    EXPECT_EQ(e.status(), PTP_ERROR_INVALID_SIZE);
    EXPECT_NE(std::string(e.what()).find("patch_size"), std::string::npos) << e.what();
  }
}

}  // namespace
