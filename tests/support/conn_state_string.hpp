#pragma once

#include <string>

#include <catch2/catch.hpp>

#include <connkit/conn_state.hpp>

// Catch2 prints a ConnState by memcached's name ("mwrite", not 8).
namespace Catch {
template <>
struct StringMaker<connkit::ConnState> {
  static std::string convert(connkit::ConnState s) { return std::string(connkit::to_string(s)); }
};
}  // namespace Catch
