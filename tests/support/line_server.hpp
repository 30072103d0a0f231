#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <connkit/connkit.hpp>

#include "line_handler.hpp"

namespace connkit::test {

/// ServerOptions for one TCP listener on 127.0.0.1 (free port) speaking the line protocol.
inline ServerOptions line_options(unsigned threads = 1, examples::LineLimits limits = {}) {
  ServerOptions o;
  o.threads = threads;
  ListenerOptions l;
  l.host = "127.0.0.1";
  l.port = 0;
  l.handler = [limits] { return std::make_unique<examples::LineHandler>(limits); };
  o.listeners.push_back(std::move(l));
  return o;
}

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
};

}  // namespace connkit::test
