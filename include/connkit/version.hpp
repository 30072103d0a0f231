#pragma once

namespace connkit {

/// The library's version, as in its CMake project().
inline constexpr const char* version_string = "0.1.0";
inline constexpr int version_major = 0;  ///< major
inline constexpr int version_minor = 1;  ///< minor
inline constexpr int version_patch = 0;  ///< patch

}  // namespace connkit
