// Descriptor structs (ptp_*_desc) grow only at their end, and a caller
// built against an older header passes its older struct_size. This reads
// such a struct as the current one, the fields it lacks at their defaults,
// so validation sees one layout.
#pragma once

#include <cstddef>
#include <cstring>

namespace ptychopatch::impl {

// `given` itself unless its struct_size is `older_size`; then `widened`,
// filled by `defaults` and overwritten with the older struct's bytes.
template <class Desc>
const Desc* widen_older_desc(const Desc* given, size_t older_size, Desc& widened,
                             void (*defaults)(Desc*)) {
  if (given->struct_size != older_size) return given;
  defaults(&widened);
  std::memcpy(&widened, given, older_size);
  widened.struct_size = sizeof widened;
  return &widened;
}

}  // namespace ptychopatch::impl
