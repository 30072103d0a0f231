#pragma once

#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <connkit/log.hpp>

namespace connkit::test {

/// Collects log lines from any thread.
struct LogCapture {
  std::mutex mutex;
  std::vector<std::string> lines;

  LogSink sink() {
    return [this](int, std::string_view line) {
      std::lock_guard<std::mutex> lock(mutex);
      lines.emplace_back(line);
    };
  }
  bool contains(std::string_view text) {
    std::lock_guard<std::mutex> lock(mutex);
    for (const auto& l : lines) {
      if (l.find(text) != std::string::npos) return true;
    }
    return false;
  }
  /// A copy of the lines so far.
  std::vector<std::string> snapshot() {
    std::lock_guard<std::mutex> lock(mutex);
    return lines;
  }
};

}  // namespace connkit::test
