// The one mutex every FFTW planner call of the library holds (FFTW's
// planner is not thread-safe; fft/fftw_planner.hpp), and the export and
// import of the planner's wisdom. In a file of its own so that the internal tests, which
// compile a few of the library's sources, get it without the CPU backend.
#include <fftw3.h>

#include <cerrno>
#include <cstdio>
#include <mutex>
#include <new>
#include <string>

#include "align/align_plan.hpp"
#include "core/error.hpp"
#include "fft/fftw_planner.hpp"

namespace ptychopatch::impl {

namespace cpu {

std::mutex& fftw_planner_mutex() {
  static std::mutex mutex;
  return mutex;
}

}  // namespace cpu

namespace {

// fftwf_export_wisdom's sink: the text in memory. A failed allocation is
// noted, not thrown: an exception cannot pass through FFTW's C frames.
struct WisdomText {
  std::string text;
  bool out_of_memory = false;

  static void put(char c, void* self) {
    auto* wisdom = static_cast<WisdomText*>(self);
    if (wisdom->out_of_memory) return;
    try {
      wisdom->text.push_back(c);
    } catch (const std::bad_alloc&) {
      wisdom->out_of_memory = true;
    }
  }
};

// The status of a failed file operation: out of memory where the C library
// says so (fopen cannot allocate its FILE), else the path is at fault.
ptp_status file_status(int error) {
  return error == ENOMEM ? PTP_ERROR_OUT_OF_MEMORY : PTP_ERROR_INVALID_ARGUMENT;
}

}  // namespace

// The wisdom is made in memory before the file is opened, so a failed
// allocation leaves the file as it was (FFTW's export to a file opens, and
// so empties, it first); fopen's ENOMEM is out of memory too, not a path
// that cannot be written.
void write_fft_wisdom(const char* path) {
  require_non_null(path, "path");
  WisdomText wisdom;
  {
    std::lock_guard<std::mutex> lock(cpu::fftw_planner_mutex());
    fftwf_export_wisdom(&WisdomText::put, &wisdom);
  }
  if (wisdom.out_of_memory)
    fail(PTP_ERROR_OUT_OF_MEMORY, "out of memory for the text of FFTW's wisdom");
  const std::string failed =
      std::string("argument 'path': FFTW could not write its wisdom to '") + path + "'";
  errno = 0;
  std::FILE* file = std::fopen(path, "w");
  const int open_error = errno;
  if (file == nullptr) fail(file_status(open_error), failed);
  const bool written =
      std::fwrite(wisdom.text.data(), 1, wisdom.text.size(), file) == wisdom.text.size();
  const int write_error = errno;
  errno = 0;
  const bool closed = std::fclose(file) == 0;
  const int close_error = errno;
  if (!written) fail(file_status(write_error), failed);
  if (!closed) fail(file_status(close_error), failed);
}

// The file is read into memory first, so fopen's ENOMEM, or no memory for
// its text, is out of memory, not a file that is not wisdom.
void read_fft_wisdom(const char* path) {
  require_non_null(path, "path");
  const std::string unreadable = std::string("argument 'path': '") + path +
                                 "' cannot be read as FFTW (single precision) wisdom";
  errno = 0;
  std::FILE* file = std::fopen(path, "r");
  if (file == nullptr) fail(file_status(errno), unreadable);
  std::string text;
  char block[4096];
  int read_error = 0;
  try {
    for (size_t n; (n = std::fread(block, 1, sizeof block, file)) > 0;) text.append(block, n);
    if (std::ferror(file)) read_error = errno == 0 ? EIO : errno;
  } catch (...) {
    std::fclose(file);
    throw;
  }
  std::fclose(file);
  if (read_error != 0) fail(file_status(read_error), unreadable);
  std::lock_guard<std::mutex> lock(cpu::fftw_planner_mutex());
  if (fftwf_import_wisdom_from_string(text.c_str()) == 0)
    fail(PTP_ERROR_INVALID_ARGUMENT, unreadable);
}

}  // namespace ptychopatch::impl
