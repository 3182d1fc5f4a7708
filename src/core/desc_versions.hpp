// Versioned structs (ptp_*_desc, ptp_context_options, ptp_extract_diagnostics)
// grow only at their end, and a caller built against an older header passes
// its older struct_size. The two helpers here are where every struct_size is
// read: _init fills a caller's struct of its size, and validation reads any
// accepted size as the current struct, so it sees one layout.
#pragma once

#include <cstddef>
#include <cstring>
#include <string>

#include "core/error.hpp"

namespace ptychopatch::impl {

// A ptp_*_init: fills *desc (argument `argument`) of `struct_size` bytes with
// `defaults`; where struct_size is the older struct's (`older_size`, 0: none),
// only its bytes, from `older_defaults` (what that release gave; default:
// `defaults`), struct_size older_size. Any other size fails.
template <class Desc>
void init_desc(Desc* desc, const char* argument, size_t struct_size, void (*defaults)(Desc*),
               size_t older_size = 0, void (*older_defaults)(Desc*) = nullptr) {
  require_non_null(desc, argument);
  if (older_size != 0 && struct_size == older_size) {
    Desc full;
    (older_defaults != nullptr ? older_defaults : defaults)(&full);
    full.struct_size = older_size;
    std::memcpy(desc, &full, older_size);
    return;
  }
  require_known_struct_size("struct_size", struct_size, sizeof(Desc));
  defaults(desc);
}

// `given` (argument `argument`), a struct of the current size: checked and
// returned. Any other size fails, naming `argument`->struct_size.
template <class Desc>
const Desc* current_desc(const Desc* given, const char* argument) {
  require_non_null(given, argument);
  require_known_struct_size((std::string(argument) + "->struct_size").c_str(), given->struct_size,
                            sizeof(Desc));
  return given;
}

// The same for a struct that had an older size: where `given`'s struct_size
// is `older_size`, `widened`: `later_defaults` overwritten by the older
// struct's bytes.
template <class Desc>
const Desc* current_desc(const Desc* given, const char* argument, Desc& widened, size_t older_size,
                         void (*later_defaults)(Desc*)) {
  require_non_null(given, argument);
  if (given->struct_size != older_size) return current_desc(given, argument);
  later_defaults(&widened);
  std::memcpy(&widened, given, older_size);
  widened.struct_size = sizeof widened;
  return &widened;
}

}  // namespace ptychopatch::impl
