#include "workload.hpp"

#include "echo_workload.hpp"
#include "options.hpp"

namespace loadgen {

std::unique_ptr<Workload> make_workload(const Options& options) {
  if (options.mode == "echo") return std::make_unique<EchoWorkload>(options.size);
  return nullptr;
}

std::string_view workload_names() { return "echo"; }

}  // namespace loadgen
