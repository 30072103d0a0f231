#include "process_control.hpp"

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

namespace connkit::examples {
namespace {

/// memcached's vperror(): the message, ": ", and errno's text.
void report_errno(const std::string& message) {
  const int error = errno;
  std::fprintf(stderr, "%s: %s\n", message.c_str(), std::strerror(error));
}

/// The parent's side of start(): the child's word that it is ready, or its exit status.
[[noreturn]] void wait_for_child(pid_t child, int notify) {
  char byte = 0;
  ssize_t n = 0;
  do {
    n = ::read(notify, &byte, 1);
  } while (n < 0 && errno == EINTR);
  if (n == 1) ::_exit(0);
  int status = 0;  // the child closed the pipe without a word: it is exiting
  pid_t r = 0;
  do {
    r = ::waitpid(child, &status, 0);
  } while (r < 0 && errno == EINTR);
  ::_exit(r == child && WIFEXITED(status) ? WEXITSTATUS(status) : EXIT_FAILURE);
}

/// The pid a pid file holds, or 0.
long read_pid(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) return 0;
  long pid = 0;
  if (std::fscanf(f, "%ld", &pid) != 1) pid = 0;
  std::fclose(f);
  return pid;
}

}  // namespace

void close_inherited_descriptors(int keep) noexcept {
  const unsigned first = 3;
  const auto close_span = [](unsigned from, unsigned to) {  // [from, to]
    if (from > to) return;
    if (::close_range(from, to, 0) == 0) return;
    // Kernels before 5.9: each number up to the file limit.
    rlimit rl{};
    unsigned last = to < (1u << 20) ? to : (1u << 20);
    if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur - 1 < last) {
      last = static_cast<unsigned>(rl.rlim_cur - 1);
    }
    for (unsigned fd = from; fd <= last && fd >= from; ++fd) ::close(static_cast<int>(fd));
  };
  if (keep < static_cast<int>(first)) {
    close_span(first, ~0U);
    return;
  }
  close_span(first, static_cast<unsigned>(keep) - 1);
  close_span(static_cast<unsigned>(keep) + 1, ~0U);
}

std::optional<Daemon> Daemon::start(bool keep_directory) {
  // memcached ignores SIGHUP before it daemonizes: the terminal it leaves may hang up.
  std::signal(SIGHUP, SIG_IGN);
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return std::nullopt;
  std::fflush(nullptr);  // nothing buffered is written twice
  const pid_t child = ::fork();
  if (child < 0) {
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    return std::nullopt;
  }
  if (child > 0) {
    ::close(pipe_fds[1]);
    wait_for_child(child, pipe_fds[0]);
  }
  ::close(pipe_fds[0]);
  Daemon daemon(pipe_fds[1]);
  if (::setsid() == -1) return std::nullopt;
  if (!keep_directory && ::chdir("/") != 0) {
    std::perror("chdir");
    return std::nullopt;
  }
  close_inherited_descriptors(pipe_fds[1]);
  return daemon;
}

Daemon::Daemon(Daemon&& other) noexcept : notify_(std::exchange(other.notify_, -1)) {}

Daemon::~Daemon() {
  if (notify_ >= 0) ::close(notify_);  // never ready: the parent reads EOF and takes our exit status
}

void Daemon::ready(bool keep_stdio) noexcept {
  if (notify_ < 0) return;
  if (!keep_stdio) {
    const int null = ::open("/dev/null", O_RDWR);
    if (null >= 0) {
      for (const int fd : {STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO}) ::dup2(null, fd);
      if (null > STDERR_FILENO) ::close(null);
    }
  }
  const char byte = 'R';
  ssize_t n = 0;
  do {
    n = ::write(notify_, &byte, 1);
  } while (n < 0 && errno == EINTR);
  ::close(notify_);
  notify_ = -1;
}

PidFile::PidFile(std::string path) {
  if (const long running = read_pid(path); running > 0 && ::kill(static_cast<pid_t>(running), 0) == 0) {
    std::fprintf(stderr, "WARNING: The pid file contained the following (running) pid: %ld\n", running);
  }
  const std::string temporary = path + ".tmp";
  std::FILE* f = std::fopen(temporary.c_str(), "w");
  if (f == nullptr) {
    report_errno("Could not open the pid file " + temporary + " for writing");
    return;
  }
  std::fprintf(f, "%ld\n", static_cast<long>(::getpid()));
  if (std::fclose(f) != 0) report_errno("Could not close the pid file " + temporary);
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    report_errno("Could not rename the pid file from " + temporary + " to " + path);
    return;
  }
  path_ = std::move(path);
}

PidFile::~PidFile() {
  if (!path_.empty() && ::unlink(path_.c_str()) != 0) report_errno("Could not remove the pid file " + path_);
}

bool raise_core_limit() noexcept {
  rlimit rl{};
  if (::getrlimit(RLIMIT_CORE, &rl) == 0) {
    const rlimit unlimited{RLIM_INFINITY, RLIM_INFINITY};
    if (::setrlimit(RLIMIT_CORE, &unlimited) != 0) {
      const rlimit hard{rl.rlim_max, rl.rlim_max};
      (void)::setrlimit(RLIMIT_CORE, &hard);
    }
  }
  // Only a soft limit of 0 fails: no core would be written at all.
  if (::getrlimit(RLIMIT_CORE, &rl) != 0 || rl.rlim_cur == 0) {
    std::fprintf(stderr, "failed to ensure corefile creation\n");
    return false;
  }
  return true;
}

void lock_memory() noexcept {
  if (::mlockall(MCL_CURRENT | MCL_FUTURE) != 0) {
    const int error = errno;
    std::fprintf(stderr, "warning: -k invalid, mlockall() failed: %s\n", std::strerror(error));
  }
}

}  // namespace connkit::examples
