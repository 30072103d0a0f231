#pragma once

#include <memory>
#include <string>

#include <connkit/connkit.hpp>

#include "line_handler.hpp"
#include "support/log_capture.hpp"

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

}  // namespace connkit::test
