#include "workload.hpp"

#include "echo_workload.hpp"
#include "memcache_workload.hpp"
#include "options.hpp"

namespace loadgen {

std::unique_ptr<Workload> make_workload(const Options& options) {
  if (options.mode == "echo") return std::make_unique<EchoWorkload>(options.size);
  if (options.mode == "memcache" || options.mode == "memcache-binary") {
    MemcacheSettings settings;
    settings.key_space = options.key_space;
    settings.value_size = options.value_size;
    settings.set_ratio = options.set_ratio;
    settings.mget = options.mget;
    settings.prefill = options.prefill;
    settings.depth = options.depth;
    settings.binary = options.mode == "memcache-binary";
    settings.binary_getk = options.binary_getk;
    return std::make_unique<MemcacheWorkload>(settings);
  }
  return nullptr;
}

std::string_view workload_names() { return "echo, memcache, memcache-binary"; }

}  // namespace loadgen
