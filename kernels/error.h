// Errors: every failure in ecgcnn is an ecg::Error whose message names the op
// or file and the offending values. The CLI prints what() on one line and
// exits non-zero; nothing below the CLI calls exit().
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace ecg {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& msg) : std::runtime_error(msg) {}
};

namespace detail {
inline void append(std::ostringstream&) {}
template <class T, class... Rest>
void append(std::ostringstream& os, const T& v, const Rest&... rest) {
  os << v;
  append(os, rest...);
}
}  // namespace detail

// Builds a message from any streamable pieces: ECG_FAIL("conv2d: bad shape ", s).
template <class... Parts>
[[noreturn]] void fail(const Parts&... parts) {
  std::ostringstream os;
  detail::append(os, parts...);
  throw Error(os.str());
}

}  // namespace ecg

#define ECG_CHECK(cond, ...)    \
  do {                          \
    if (!(cond)) {              \
      ::ecg::fail(__VA_ARGS__); \
    }                           \
  } while (0)
